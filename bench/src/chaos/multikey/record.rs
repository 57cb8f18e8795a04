//! What the multi-key workloads record: every request a client made (one
//! command or one `MULTI` block), when, and what came back; the state each
//! workload started from; and what was read once every fault had healed.
//! Saved as one JSON document (`multikey.json`) so a run can be checked
//! again offline (`petrel-chaos --check-multikey FILE`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which way `LMOVE` pops and pushes, or `RPOPLPUSH` (`LMOVE src dst RIGHT LEFT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MoveHow {
    /// `LMOVE src dst <LEFT|RIGHT> <LEFT|RIGHT>`
    Lmove { pop_left: bool, push_left: bool },
    /// `RPOPLPUSH src dst`
    Rpoplpush,
}

/// What one request asked; keys are indexes into the workload's key list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Action {
    /// `MULTI / DECRBY accounts[from] amount / INCRBY accounts[to] amount /
    /// SET marker 1 / EXEC`: the marker key, unique to the transfer and in
    /// `from`'s partition, exists exactly when the transfer applied, so the
    /// final check can tell which unknown transfers did (empty in records
    /// made before markers: then the final check searches).
    Transfer {
        from: usize,
        to: usize,
        amount: i64,
        #[serde(default)]
        marker: String,
        /// By one `EVAL` with `numkeys 0` instead of `MULTI`: the script
        /// builds its keys from its arguments, and the marker lies in a
        /// third partition.
        #[serde(default)]
        by_script: bool,
    },
    /// Every balance at once: one `MGET` (`mget`), or `MULTI / GET ... / EXEC`.
    ReadBalances { mget: bool },
    /// `MSET k0 value k1 value ...`: the same value, unique to this request,
    /// to every key.
    Mset { value: String },
    /// `MGET k0 k1 ...`
    Mget,
    /// One item from `lists[from]` to `lists[to]`.
    Move {
        from: usize,
        to: usize,
        how: MoveHow,
    },
}

impl Action {
    /// Whether the request may change data (so an unanswered one may have).
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self,
            Action::Transfer { .. } | Action::Mset { .. } | Action::Move { .. }
        )
    }

    /// A short name for counts in reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Action::Transfer {
                by_script: true, ..
            } => "transfer (EVAL)",
            Action::Transfer { .. } => "transfer",
            Action::ReadBalances { mget: true } => "read (MGET)",
            Action::ReadBalances { mget: false } => "read (MULTI)",
            Action::Mset { .. } => "MSET",
            Action::Mget => "MGET",
            Action::Move {
                how: MoveHow::Rpoplpush,
                ..
            } => "RPOPLPUSH",
            Action::Move { .. } => "LMOVE",
        }
    }
}

/// How a request ended, as far as the client can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// Completed. The values it returned, one per key read (nil as `None`):
    /// an `MGET`'s or a read-only `EXEC`'s values, the item a move returned,
    /// or the replies of a transfer's `EXEC`.
    Ok(Vec<Option<String>>),
    /// Certainly not applied (`EXECABORT`, `CROSSSLOT`, `TRYAGAIN`,
    /// `CLUSTERDOWN`; for a read, any error): the reply's text.
    Failed(String),
    /// Maybe applied, maybe not, maybe later (timeout, lost connection,
    /// any other error after the request was sent): why.
    Unknown(String),
}

/// One request by one client process (which runs one request at a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MultiOp {
    /// Unique within a run.
    pub(crate) id: u64,
    pub(crate) process: u64,
    pub(crate) action: Action,
    /// When the client sent it (ns on the run's monotonic clock).
    pub(crate) invoke_ns: u64,
    /// When the answer came (ns); meaningless for [`Outcome::Unknown`].
    pub(crate) complete_ns: u64,
    pub(crate) outcome: Outcome,
}

impl MultiOp {
    /// Completed with a reply.
    pub(crate) fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
}

impl fmt::Display for MultiOp {
    /// `#12 p3 MSET "3-12" -> OK [1.000000s, 1.000200s]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} p{} ", self.id, self.process)?;
        match &self.action {
            Action::Transfer {
                from, to, amount, ..
            } => write!(f, "transfer {amount} from account {from} to {to}")?,
            Action::Mset { value } => write!(f, "MSET {value:?}")?,
            Action::Move { from, to, .. } => {
                write!(f, "{} list {from} -> list {to}", self.action.name())?
            }
            other => write!(f, "{}", other.name())?,
        }
        let when = |f: &mut fmt::Formatter<'_>| {
            write!(
                f,
                " [{}, {}]",
                crate::chaos::history::fmt_ns(self.invoke_ns),
                crate::chaos::history::fmt_ns(self.complete_ns)
            )
        };
        match &self.outcome {
            Outcome::Ok(values) => {
                write!(f, " -> [")?;
                for (i, v) in values.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    match v {
                        Some(s) => write!(f, "{sep}{s:?}")?,
                        None => write!(f, "{sep}nil")?,
                    }
                }
                write!(f, "]")?;
                when(f)
            }
            Outcome::Failed(why) => {
                write!(f, " -> failed ({why})")?;
                when(f)
            }
            Outcome::Unknown(why) => write!(
                f,
                " -> unknown ({why}) [{}, ...)",
                crate::chaos::history::fmt_ns(self.invoke_ns)
            ),
        }
    }
}

/// The bank: accounts in different partitions and every request on them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BankRun {
    pub(crate) accounts: Vec<String>,
    /// Each account's balance, set (and acknowledged) before any transfer.
    pub(crate) initial: Vec<i64>,
    pub(crate) ops: Vec<MultiOp>,
    /// Each account's value read after healing (`None` when not read yet).
    pub(crate) final_balances: Option<Vec<Option<String>>>,
    /// The ids of the transfers whose marker key exists after healing
    /// (`None` when not read, or the record predates markers).
    #[serde(default)]
    pub(crate) final_markers: Option<Vec<u64>>,
}

impl BankRun {
    /// What every complete read must sum to.
    pub(crate) fn total(&self) -> i64 {
        self.initial.iter().sum()
    }
}

/// MSET snapshots: keys in different partitions, always written together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MsetRun {
    /// Absent before the run, never deleted.
    pub(crate) keys: Vec<String>,
    pub(crate) ops: Vec<MultiOp>,
    /// Each key's value read after healing.
    pub(crate) final_values: Option<Vec<Option<String>>>,
}

/// Items moved between lists in different partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LmoveRun {
    pub(crate) lists: Vec<String>,
    /// Unique items, all in `lists[0]` before the run, none anywhere else.
    pub(crate) items: Vec<String>,
    pub(crate) ops: Vec<MultiOp>,
    /// Each list's items read after healing.
    pub(crate) final_lists: Option<Vec<Vec<String>>>,
}

/// Everything the multi-key workloads of one run recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MultiRecord {
    pub(crate) bank: Option<BankRun>,
    pub(crate) mset: Option<MsetRun>,
    pub(crate) lmove: Option<LmoveRun>,
}

/// Reading or writing a saved record failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error("multi-key record {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("multi-key record {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl MultiRecord {
    /// Whether any multi-key workload ran.
    pub(crate) fn is_empty(&self) -> bool {
        self.bank.is_none() && self.mset.is_none() && self.lmove.is_none()
    }

    /// How many requests were recorded.
    pub(crate) fn len(&self) -> usize {
        self.bank.as_ref().map_or(0, |b| b.ops.len())
            + self.mset.as_ref().map_or(0, |m| m.ops.len())
            + self.lmove.as_ref().map_or(0, |l| l.ops.len())
    }

    /// Saves the record as JSON.
    pub(crate) fn save(&self, path: &Path) -> Result<(), RecordError> {
        let json = serde_json::to_vec(self).map_err(|source| RecordError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        std::fs::write(path, json).map_err(|source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Loads a record saved by [`MultiRecord::save`].
    pub(crate) fn load(path: &Path) -> Result<MultiRecord, RecordError> {
        let bytes = std::fs::read(path).map_err(|source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| RecordError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_a_save_and_load() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("multikey.json");
        let record = MultiRecord {
            mset: Some(MsetRun {
                keys: vec!["a".into(), "b".into()],
                ops: vec![MultiOp {
                    id: 1,
                    process: 2,
                    action: Action::Mset {
                        value: "2-1".into(),
                    },
                    invoke_ns: 10,
                    complete_ns: 20,
                    outcome: Outcome::Unknown("timed out".into()),
                }],
                final_values: Some(vec![Some("2-1".into()), None]),
            }),
            ..MultiRecord::default()
        };
        record.save(&path)?;
        assert_eq!(MultiRecord::load(&path)?, record);
        assert!(matches!(
            MultiRecord::load(&dir.path().join("missing.json")),
            Err(RecordError::Io { .. })
        ));
        Ok(())
    }

    #[test]
    fn display_is_readable() {
        let op = MultiOp {
            id: 7,
            process: 1,
            action: Action::Transfer {
                from: 2,
                to: 5,
                amount: 3,
                marker: String::new(),
                by_script: false,
            },
            invoke_ns: 1_000_000_000,
            complete_ns: 1_500_000_000,
            outcome: Outcome::Ok(vec![Some("97".into()), Some("103".into())]),
        };
        assert_eq!(
            op.to_string(),
            "#7 p1 transfer 3 from account 2 to 5 -> [\"97\", \"103\"] [1.000000s, 1.500000s]"
        );
        let read = MultiOp {
            action: Action::Mget,
            outcome: Outcome::Ok(vec![Some("1-1".into()), None]),
            ..op
        };
        assert!(read.to_string().contains("MGET -> [\"1-1\", nil]"));
    }
}
