//! Checks of the final reads taken after healing, for keys whose workload
//! makes them decidable without a search.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::model::parse_redis_int;
use crate::chaos::history::{Command, History, Op, Outcome};

/// A check run over the keys it applies to.
#[derive(Debug, Clone)]
pub(crate) struct FinalReadCheck<T> {
    /// Keys the check applied to and had a final read for.
    pub(crate) keys_checked: usize,
    pub(crate) violations: Vec<T>,
}

impl<T> Default for FinalReadCheck<T> {
    fn default() -> Self {
        Self {
            keys_checked: 0,
            violations: Vec::new(),
        }
    }
}

/// A final read that misses an acknowledged write.
#[derive(Debug, Clone)]
pub(crate) struct LostWrite {
    pub(crate) key: String,
    pub(crate) final_value: Option<String>,
    /// The SET that wrote the value read, if any did.
    pub(crate) read_from: Option<Op>,
    /// Acknowledged writes that must be ordered after the write the final
    /// read reflects, so one of them was lost.
    pub(crate) lost: Vec<Op>,
}

/// A counter whose final value is not between its acknowledged and its
/// attempted increments.
#[derive(Debug, Clone)]
pub(crate) struct CounterViolation {
    pub(crate) key: String,
    pub(crate) final_value: Option<String>,
    pub(crate) acknowledged: u64,
    pub(crate) unknown: u64,
}

fn is_write(op: &Op) -> bool {
    matches!(op.command, Command::Set(_) | Command::Del)
}

fn acked(op: &Op) -> bool {
    matches!(op.outcome, Outcome::Ok(_))
}

/// Whether `x` can be the last write: no acknowledged write began after
/// `x` completed (an unknown `x` never completed).
fn can_be_last(x: &Op, acked_writes: &[&Op]) -> bool {
    x.outcome == Outcome::Unknown
        || !acked_writes
            .iter()
            .any(|y| y.id != x.id && y.invoke_ns > x.complete_ns)
}

/// Acknowledged writes no other acknowledged write follows in real time:
/// in every linearization the last write is one of these or concurrent
/// with them.
fn maximal<'a>(acked_writes: &[&'a Op]) -> Vec<&'a Op> {
    acked_writes
        .iter()
        .copied()
        .filter(|x| can_be_last(x, acked_writes))
        .collect()
}

/// For keys written only by SET (unique values) and DEL, read by GET: the
/// final read must return the value of a SET that can be the last write,
/// i.e. no acknowledged SET or DEL was invoked after that SET completed (an
/// unknown SET can be last). Nil is allowed only if no write was
/// acknowledged or some DEL can be the last write. A value no SET wrote is
/// always a violation. Keys with INCR, with a repeated SET value, or
/// without a final read are skipped.
pub(crate) fn lost_acknowledged_writes(
    history: &History,
    final_reads: &BTreeMap<String, Option<String>>,
) -> Vec<LostWrite> {
    check_lost_writes(history, final_reads).violations
}

/// [`lost_acknowledged_writes`], with how many keys it applied to.
pub(crate) fn check_lost_writes(
    history: &History,
    final_reads: &BTreeMap<String, Option<String>>,
) -> FinalReadCheck<LostWrite> {
    let mut check = FinalReadCheck::default();
    for (key, ops) in history.by_key() {
        let Some(final_value) = final_reads.get(&key) else {
            continue;
        };
        let live: Vec<&Op> = ops
            .iter()
            .filter(|o| o.outcome != Outcome::Failed)
            .collect();
        if live.iter().any(|o| o.command == Command::Incr) {
            continue;
        }
        let mut writers: HashMap<&str, &Op> = HashMap::new();
        let mut unique = true;
        for o in &live {
            if let Command::Set(v) = &o.command {
                unique &= writers.insert(v.as_str(), o).is_none();
            }
        }
        if !unique {
            continue;
        }
        check.keys_checked += 1;
        let acked_writes: Vec<&Op> = live
            .iter()
            .copied()
            .filter(|o| is_write(o) && acked(o))
            .collect();
        let (read_from, lost): (Option<&Op>, Vec<&Op>) = match final_value {
            None => {
                let explained = acked_writes.is_empty()
                    || live
                        .iter()
                        .any(|x| x.command == Command::Del && can_be_last(x, &acked_writes));
                if explained {
                    continue;
                }
                let lost = maximal(&acked_writes)
                    .into_iter()
                    .filter(|o| matches!(o.command, Command::Set(_)))
                    .collect();
                (None, lost)
            }
            Some(v) => match writers.get(v.as_str()) {
                None => (None, maximal(&acked_writes)),
                Some(x) if can_be_last(x, &acked_writes) => continue,
                Some(x) => {
                    let after = acked_writes
                        .iter()
                        .copied()
                        .filter(|y| y.invoke_ns > x.complete_ns)
                        .collect();
                    (Some(*x), after)
                }
            },
        };
        check.violations.push(LostWrite {
            key,
            final_value: final_value.clone(),
            read_from: read_from.cloned(),
            lost: lost.into_iter().cloned().collect(),
        });
    }
    check
}

/// For keys only touched by INCR and GET: the final value (nil = 0) must be
/// an integer at least the number of acknowledged INCRs and at most that
/// plus the INCRs of unknown outcome.
pub(crate) fn counter_bounds(
    history: &History,
    final_reads: &BTreeMap<String, Option<String>>,
) -> Vec<CounterViolation> {
    check_counters(history, final_reads).violations
}

/// [`counter_bounds`], with how many keys it applied to.
pub(crate) fn check_counters(
    history: &History,
    final_reads: &BTreeMap<String, Option<String>>,
) -> FinalReadCheck<CounterViolation> {
    let mut check = FinalReadCheck::default();
    for (key, ops) in history.by_key() {
        let Some(final_value) = final_reads.get(&key) else {
            continue;
        };
        let live: Vec<&Op> = ops
            .iter()
            .filter(|o| o.outcome != Outcome::Failed)
            .collect();
        let counter = live.iter().any(|o| o.command == Command::Incr)
            && live
                .iter()
                .all(|o| matches!(o.command, Command::Incr | Command::Get));
        if !counter {
            continue;
        }
        check.keys_checked += 1;
        let incrs = live.iter().filter(|o| o.command == Command::Incr);
        let acknowledged = incrs.clone().filter(|o| acked(o)).count() as u64;
        let unknown = incrs.filter(|o| o.outcome == Outcome::Unknown).count() as u64;
        let value = match final_value {
            None => Some(0),
            Some(s) => parse_redis_int(s),
        };
        let within = value.is_some_and(|v| {
            i128::from(v) >= i128::from(acknowledged)
                && i128::from(v) <= i128::from(acknowledged + unknown)
        });
        if !within {
            check.violations.push(CounterViolation {
                key,
                final_value: final_value.clone(),
                acknowledged,
                unknown,
            });
        }
    }
    check
}

fn show(v: &Option<String>) -> String {
    v.as_ref()
        .map_or_else(|| "nil".to_string(), |s| format!("{s:?}"))
}

impl fmt::Display for LostWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?}: final read {}",
            self.key,
            show(&self.final_value)
        )?;
        match (&self.final_value, &self.read_from) {
            (Some(_), None) => writeln!(f, ", a value no SET wrote")?,
            (Some(_), Some(x)) => writeln!(f, ", written by {x}")?,
            (None, _) => writeln!(f, ", and no DEL can be the last write")?,
        }
        writeln!(f, "  acknowledged writes it misses:")?;
        for op in &self.lost {
            writeln!(f, "    {op}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CounterViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?}: final value {}, expected an integer in [{}, {}] ({} acknowledged INCRs, {} unknown)",
            self.key,
            show(&self.final_value),
            self.acknowledged,
            self.acknowledged + self.unknown,
            self.acknowledged,
            self.unknown
        )
    }
}
