//! The MSET snapshot checker: writers `MSET` one fresh value to every key,
//! readers `MGET` them all. Standalone Redis runs each as one step, so:
//!
//! - every read sees one MSET whole: all keys hold the same value, or (before
//!   the first MSET) none holds any; a read mixing two MSETs, or a value and
//!   a nil, saw half of one;
//! - every value read was written by an MSET that was not refused
//!   (`Failed` proves it never ran) and that had been sent before the read
//!   completed;
//! - after healing, the keys hold one MSET whole, and it is one that can be
//!   the last: no acknowledged MSET began after it completed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::record::{Action, MsetRun, MultiOp, Outcome};

/// Something standalone Redis would never show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SnapshotViolation {
    /// A read saw keys from different MSETs (or some keys written, some not).
    Mixed {
        read: MultiOp,
        /// Each value seen (nil as `None`), the keys it was seen at, and the
        /// id of the MSET that wrote it.
        seen: Vec<(Option<String>, Vec<usize>, Option<u64>)>,
    },
    /// A value no MSET wrote.
    NeverWritten { read: MultiOp, value: String },
    /// A value of an MSET the client was told never ran.
    FailedWriteSeen { read: MultiOp, write: MultiOp },
    /// A value of an MSET sent only after the read had completed.
    FromTheFuture { read: MultiOp, write: MultiOp },
    /// After healing the keys do not hold one MSET whole.
    FinalMixed { values: Vec<Option<String>> },
    /// After healing the keys hold an MSET that an acknowledged later one
    /// should have replaced (or nothing, though an MSET was acknowledged).
    FinalLost {
        value: Option<String>,
        missed: Vec<MultiOp>,
    },
    /// A read returned a different number of values than there are keys.
    Malformed { read: MultiOp },
}

/// What the snapshot checker found.
#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotReport {
    /// Reads that completed (during the run).
    pub(crate) reads: usize,
    /// Of those, reads that saw a mixed snapshot.
    pub(crate) mixed: usize,
    pub(crate) violations: Vec<SnapshotViolation>,
}

impl SnapshotReport {
    /// No violation.
    pub(crate) fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks an MSET/MGET run.
pub(crate) fn check(run: &MsetRun) -> SnapshotReport {
    let mut report = SnapshotReport::default();
    let writers: HashMap<&str, &MultiOp> = run
        .ops
        .iter()
        .filter_map(|op| match &op.action {
            Action::Mset { value } => Some((value.as_str(), op)),
            _ => None,
        })
        .collect();
    for op in &run.ops {
        let (Action::Mget, Outcome::Ok(values)) = (&op.action, &op.outcome) else {
            continue;
        };
        report.reads += 1;
        if values.len() != run.keys.len() {
            report
                .violations
                .push(SnapshotViolation::Malformed { read: op.clone() });
            continue;
        }
        if let Some(v) = mixed(op, values, &writers) {
            report.mixed += 1;
            report.violations.push(v);
        }
        for value in distinct(values).into_keys().flatten() {
            report
                .violations
                .extend(provenance(op, value, &writers, Some(op.complete_ns)));
        }
    }
    if let Some(values) = &run.final_values {
        check_final(run, values, &writers, &mut report.violations);
    }
    report
}

/// Each distinct value of a read, with the keys it was seen at.
fn distinct(values: &[Option<String>]) -> BTreeMap<Option<&str>, Vec<usize>> {
    let mut seen: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        seen.entry(v.as_deref()).or_default().push(i);
    }
    seen
}

fn mixed(
    read: &MultiOp,
    values: &[Option<String>],
    writers: &HashMap<&str, &MultiOp>,
) -> Option<SnapshotViolation> {
    let seen = distinct(values);
    (seen.len() > 1).then(|| SnapshotViolation::Mixed {
        read: read.clone(),
        seen: seen
            .into_iter()
            .map(|(v, keys)| {
                let writer = v.and_then(|v| writers.get(v)).map(|w| w.id);
                (v.map(str::to_string), keys, writer)
            })
            .collect(),
    })
}

/// Whether `value`, read by `read` (completed at `read_done`, `None` for
/// the final read), came from an MSET that may have run by then.
fn provenance(
    read: &MultiOp,
    value: &str,
    writers: &HashMap<&str, &MultiOp>,
    read_done: Option<u64>,
) -> Option<SnapshotViolation> {
    let Some(write) = writers.get(value) else {
        return Some(SnapshotViolation::NeverWritten {
            read: read.clone(),
            value: value.to_string(),
        });
    };
    if matches!(write.outcome, Outcome::Failed(_)) {
        return Some(SnapshotViolation::FailedWriteSeen {
            read: read.clone(),
            write: (*write).clone(),
        });
    }
    if read_done.is_some_and(|done| write.invoke_ns > done) {
        return Some(SnapshotViolation::FromTheFuture {
            read: read.clone(),
            write: (*write).clone(),
        });
    }
    None
}

fn check_final(
    run: &MsetRun,
    values: &[Option<String>],
    writers: &HashMap<&str, &MultiOp>,
    out: &mut Vec<SnapshotViolation>,
) {
    let seen = distinct(values);
    if values.len() != run.keys.len() || seen.len() != 1 {
        out.push(SnapshotViolation::FinalMixed {
            values: values.to_vec(),
        });
        return;
    }
    let value = values.first().cloned().flatten();
    let final_read = MultiOp {
        id: u64::MAX,
        process: u64::MAX,
        action: Action::Mget,
        invoke_ns: u64::MAX,
        complete_ns: u64::MAX,
        outcome: Outcome::Ok(values.to_vec()),
    };
    if let Some(v) = &value {
        if let Some(bad) = provenance(&final_read, v, writers, None) {
            out.push(bad);
            return;
        }
    }
    // The MSET the keys hold must be able to be the last one: no
    // acknowledged MSET began after it completed (an unknown one never
    // completed). Holding nothing is fine only if no MSET was acknowledged.
    let holder = value.as_deref().and_then(|v| writers.get(v)).copied();
    let missed: Vec<MultiOp> = run
        .ops
        .iter()
        .filter(|w| matches!(w.action, Action::Mset { .. }) && w.is_ok())
        .filter(|w| match holder {
            None => true,
            Some(h) => h.is_ok() && h.id != w.id && w.invoke_ns > h.complete_ns,
        })
        .cloned()
        .collect();
    if !missed.is_empty() {
        out.push(SnapshotViolation::FinalLost { value, missed });
    }
}

fn fmt_value(v: &Option<String>) -> String {
    v.as_ref()
        .map_or_else(|| "nil".to_string(), |s| format!("{s:?}"))
}

impl fmt::Display for SnapshotViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotViolation::Mixed { read, seen } => {
                writeln!(f, "mixed snapshot: {read}")?;
                for (value, keys, writer) in seen {
                    let by = writer.map_or_else(String::new, |id| format!(", written by #{id}"));
                    writeln!(f, "    {} at keys {keys:?}{by}", fmt_value(value))?;
                }
                Ok(())
            }
            SnapshotViolation::NeverWritten { read, value } => {
                writeln!(f, "{value:?} was never written by any MSET: {read}")
            }
            SnapshotViolation::FailedWriteSeen { read, write } => writeln!(
                f,
                "a refused MSET took effect: {read}\n    read the value of {write}"
            ),
            SnapshotViolation::FromTheFuture { read, write } => writeln!(
                f,
                "read a value written later: {read}\n    read the value of {write}"
            ),
            SnapshotViolation::FinalMixed { values } => {
                let shown: Vec<String> = values.iter().map(fmt_value).collect();
                writeln!(
                    f,
                    "after healing the keys hold parts of different MSETs: [{}]",
                    shown.join(", ")
                )
            }
            SnapshotViolation::FinalLost { value, missed } => {
                writeln!(
                    f,
                    "after healing the keys hold {}, missing acknowledged MSETs:",
                    fmt_value(value)
                )?;
                for w in missed.iter().take(5) {
                    writeln!(f, "    {w}")?;
                }
                if missed.len() > 5 {
                    writeln!(f, "    ... and {} more", missed.len() - 5)?;
                }
                Ok(())
            }
            SnapshotViolation::Malformed { read } => {
                writeln!(f, "a read of the wrong number of keys: {read}")
            }
        }
    }
}
