//! Operations as clients saw them: what was asked, when, and what came back.
//!
//! Times are nanoseconds on one monotonic clock shared by every worker of a
//! run. A history is saved as JSON lines (one [`Op`] per line) so a run can
//! be re-checked offline with a newer checker.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A command on one key (the key lives in [`Op::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Command {
    /// `GET key`
    Get,
    /// `SET key value`
    Set(String),
    /// `INCR key`
    Incr,
    /// `DEL key`
    Del,
}

/// What a completed command returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Reply {
    /// A nil bulk string (`GET` of a missing key).
    Nil,
    /// A bulk string.
    Str(String),
    /// An integer (`INCR`, `DEL`).
    Int(i64),
    /// `+OK`
    Ok,
}

/// How an operation ended, as far as the client can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The command completed with this reply.
    Ok(Reply),
    /// The command definitely did not take effect (e.g. `INCR` on a
    /// non-integer, or an error the server returns before doing anything);
    /// checkers drop it.
    Failed,
    /// Timeout, lost connection or an "outcome unknown" error: the command
    /// may take effect at any time after its invocation, or never.
    Unknown,
}

/// One operation by one client process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Op {
    /// Unique within a history.
    pub(crate) id: u64,
    /// The client issuing it; a process runs one operation at a time.
    pub(crate) process: u64,
    pub(crate) key: String,
    pub(crate) command: Command,
    /// When the client sent the command (ns, monotonic).
    pub(crate) invoke_ns: u64,
    /// When the client got the reply (ns, monotonic); meaningless for
    /// [`Outcome::Unknown`].
    pub(crate) complete_ns: u64,
    pub(crate) outcome: Outcome,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Get => write!(f, "GET"),
            Command::Set(v) => write!(f, "SET {v:?}"),
            Command::Incr => write!(f, "INCR"),
            Command::Del => write!(f, "DEL"),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Nil => write!(f, "nil"),
            Reply::Str(s) => write!(f, "{s:?}"),
            Reply::Int(i) => write!(f, "{i}"),
            Reply::Ok => write!(f, "OK"),
        }
    }
}

/// Formats a monotonic timestamp as seconds with microseconds.
pub(crate) fn fmt_ns(ns: u64) -> String {
    format!(
        "{}.{:06}s",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1_000
    )
}

impl fmt::Display for Op {
    /// `#12 p3 GET "k" -> "v" [1.000000s, 1.000200s]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} p{} ", self.id, self.process)?;
        match &self.command {
            Command::Set(v) => write!(f, "SET {:?} {v:?}", self.key)?,
            c => write!(f, "{c} {:?}", self.key)?,
        }
        match &self.outcome {
            Outcome::Ok(r) => write!(
                f,
                " -> {r} [{}, {}]",
                fmt_ns(self.invoke_ns),
                fmt_ns(self.complete_ns)
            ),
            Outcome::Failed => write!(
                f,
                " -> failed [{}, {}]",
                fmt_ns(self.invoke_ns),
                fmt_ns(self.complete_ns)
            ),
            Outcome::Unknown => write!(f, " -> unknown [{}, ...)", fmt_ns(self.invoke_ns)),
        }
    }
}

/// How many operations ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutcomeCounts {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) unknown: u64,
}

impl OutcomeCounts {
    pub(crate) fn total(&self) -> u64 {
        self.ok + self.failed + self.unknown
    }
}

impl fmt::Display for OutcomeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ops: {} ok, {} failed, {} unknown",
            self.total(),
            self.ok,
            self.failed,
            self.unknown
        )
    }
}

/// Reading or writing a history file failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HistoryError {
    #[error("history {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("history {path}, line {line}: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Every operation of a run, in the order they were recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct History {
    ops: Vec<Op>,
}

impl History {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    pub(crate) fn from_ops(ops: Vec<Op>) -> Self {
        Self { ops }
    }

    pub(crate) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// The operations of each key, each list in recorded order.
    pub(crate) fn by_key(&self) -> BTreeMap<String, Vec<Op>> {
        let mut keys: BTreeMap<String, Vec<Op>> = BTreeMap::new();
        for op in &self.ops {
            keys.entry(op.key.clone()).or_default().push(op.clone());
        }
        keys
    }

    /// How many operations ended each way.
    pub(crate) fn counts(&self) -> OutcomeCounts {
        let mut c = OutcomeCounts::default();
        for op in &self.ops {
            match op.outcome {
                Outcome::Ok(_) => c.ok += 1,
                Outcome::Failed => c.failed += 1,
                Outcome::Unknown => c.unknown += 1,
            }
        }
        c
    }

    /// Saves the history as JSON lines, one operation per line.
    pub(crate) fn write_jsonl(&self, path: impl AsRef<Path>) -> Result<(), HistoryError> {
        let path = path.as_ref();
        let io = |source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(io)?;
        let mut w = BufWriter::new(file);
        self.write_jsonl_to(&mut w).map_err(io)?;
        w.into_inner()
            .map_err(|e| io(e.into_error()))?
            .sync_all()
            .map_err(io)
    }

    /// Writes the history as JSON lines to `w`.
    pub(crate) fn write_jsonl_to(&self, mut w: impl Write) -> std::io::Result<()> {
        for op in &self.ops {
            write_op_jsonl(&mut w, op)?;
        }
        w.flush()
    }

    /// Loads a history saved by [`History::write_jsonl`]; blank lines are
    /// skipped.
    pub(crate) fn read_jsonl(path: impl AsRef<Path>) -> Result<History, HistoryError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::read_jsonl_from(BufReader::new(file), path)
    }

    /// Reads JSON lines from `r`; `path` only names the source in errors.
    pub(crate) fn read_jsonl_from(r: impl BufRead, path: &Path) -> Result<History, HistoryError> {
        let mut ops = Vec::new();
        for (i, line) in r.lines().enumerate() {
            let line = line.map_err(|source| HistoryError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let op = serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
            ops.push(op);
        }
        Ok(History { ops })
    }
}

/// Appends one operation as a JSON line, for runners that stream a history
/// to disk as operations complete.
pub(crate) fn write_op_jsonl(mut w: impl Write, op: &Op) -> std::io::Result<()> {
    serde_json::to_writer(&mut w, op)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, key: &str, command: Command, outcome: Outcome) -> Op {
        Op {
            id,
            process: id % 3,
            key: key.to_string(),
            command,
            invoke_ns: id * 10,
            complete_ns: id * 10 + 5,
            outcome,
        }
    }

    fn sample() -> History {
        let mut h = History::new();
        h.push(op(
            1,
            "a",
            Command::Set("x\ny\"z".into()),
            Outcome::Ok(Reply::Ok),
        ));
        h.push(op(2, "b", Command::Incr, Outcome::Ok(Reply::Int(1))));
        h.push(op(
            3,
            "a",
            Command::Get,
            Outcome::Ok(Reply::Str("x\ny\"z".into())),
        ));
        h.push(op(4, "b", Command::Incr, Outcome::Unknown));
        h.push(op(5, "a", Command::Del, Outcome::Ok(Reply::Int(1))));
        h.push(op(6, "a", Command::Incr, Outcome::Failed));
        h.push(op(7, "a", Command::Get, Outcome::Ok(Reply::Nil)));
        h
    }

    #[test]
    fn counts_and_by_key() {
        let h = sample();
        assert_eq!(
            h.counts(),
            OutcomeCounts {
                ok: 5,
                failed: 1,
                unknown: 1
            }
        );
        let keys = h.by_key();
        assert_eq!(keys.len(), 2);
        let a: Vec<u64> = keys["a"].iter().map(|o| o.id).collect();
        assert_eq!(a, vec![1, 3, 5, 6, 7]);
        let b: Vec<u64> = keys["b"].iter().map(|o| o.id).collect();
        assert_eq!(b, vec![2, 4]);
    }

    #[test]
    fn jsonl_round_trip() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("history.jsonl");
        let h = sample();
        h.write_jsonl(&path)?;
        let text = std::fs::read_to_string(&path)?;
        assert_eq!(text.lines().count(), h.len());
        assert_eq!(History::read_jsonl(&path)?, h);
        Ok(())
    }

    #[test]
    fn jsonl_skips_blank_lines_and_names_bad_line() {
        let mut buf = Vec::new();
        let h = sample();
        assert!(h.write_jsonl_to(&mut buf).is_ok());
        let mut text = String::from_utf8(buf).unwrap_or_default();
        text.insert(0, '\n');
        let back = History::read_jsonl_from(text.as_bytes(), Path::new("mem"));
        assert_eq!(back.ok(), Some(h));

        text.push_str("{\"id\": 9, truncated\n");
        match History::read_jsonl_from(text.as_bytes(), Path::new("mem")) {
            Err(HistoryError::Parse { line, .. }) => assert_eq!(line, 9),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let r = History::read_jsonl("/nonexistent/petrel/history.jsonl");
        assert!(matches!(r, Err(HistoryError::Io { .. })));
    }

    #[test]
    fn display_is_readable() {
        let o = op(3, "k", Command::Get, Outcome::Ok(Reply::Str("v".into())));
        assert_eq!(
            o.to_string(),
            "#3 p0 GET \"k\" -> \"v\" [0.000000s, 0.000000s]"
        );
        let u = Op {
            invoke_ns: 1_500_000_000,
            ..op(4, "k", Command::Set("w".into()), Outcome::Unknown)
        };
        assert_eq!(
            u.to_string(),
            "#4 p1 SET \"k\" \"w\" -> unknown [1.500000s, ...)"
        );
    }
}
