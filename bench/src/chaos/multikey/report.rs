//! Every multi-key checker's verdict over one record, printable.

use std::collections::BTreeMap;
use std::fmt;

use super::bank::{self, BankReport, BankViolation, Explained};
use super::lists::{self, ListViolation, ListsReport};
use super::record::{MultiOp, MultiRecord, Outcome};
use super::snapshots::{self, SnapshotReport, SnapshotViolation};

/// Violations printed of each kind; the rest are counted.
const SHOWN: usize = 3;

/// What the multi-key checkers found.
#[derive(Debug, Clone, Default)]
pub(crate) struct MultiReport {
    pub(crate) bank: Option<(Counts, BankReport)>,
    pub(crate) mset: Option<(Counts, SnapshotReport)>,
    pub(crate) lmove: Option<(Counts, ListsReport)>,
}

/// Checks every workload of `record`.
pub(crate) fn check(record: &MultiRecord) -> MultiReport {
    MultiReport {
        bank: record
            .bank
            .as_ref()
            .map(|run| (Counts::of(&run.ops), bank::check(run))),
        mset: record
            .mset
            .as_ref()
            .map(|run| (Counts::of(&run.ops), snapshots::check(run))),
        lmove: record
            .lmove
            .as_ref()
            .map(|run| (Counts::of(&run.ops), lists::check(run))),
    }
}

impl MultiReport {
    /// No violation anywhere, and nothing left undecided.
    pub(crate) fn is_ok(&self) -> bool {
        self.bank.as_ref().is_none_or(|(_, r)| r.is_ok())
            && self.mset.as_ref().is_none_or(|(_, r)| r.is_ok())
            && self.lmove.as_ref().is_none_or(|(_, r)| r.is_ok())
    }
}

/// How a workload's requests ended, per kind of request, and why the
/// refused and unknown ones were (the most common reasons).
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    /// Per request kind: (ok, failed, unknown).
    pub(crate) by_kind: BTreeMap<&'static str, (u64, u64, u64)>,
    /// Failure and unknown reasons with how often each came.
    pub(crate) reasons: BTreeMap<String, u64>,
}

impl Counts {
    fn of(ops: &[MultiOp]) -> Counts {
        let mut c = Counts::default();
        for op in ops {
            let e = c.by_kind.entry(op.action.name()).or_default();
            let why = match &op.outcome {
                Outcome::Ok(_) => {
                    e.0 += 1;
                    continue;
                }
                Outcome::Failed(why) => {
                    e.1 += 1;
                    format!("failed: {}", reason(why))
                }
                Outcome::Unknown(why) => {
                    e.2 += 1;
                    format!("unknown: {}", reason(why))
                }
            };
            *c.reasons.entry(why).or_default() += 1;
        }
        c
    }
}

/// An error's text without what varies between occurrences (numbers,
/// addresses), so equal causes count together.
fn reason(why: &str) -> String {
    let cut: String = why.chars().take(80).collect();
    cut.split(|c: char| c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("N")
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, (ok, failed, unknown))| {
                format!("{k}: {ok} ok, {failed} failed, {unknown} unknown")
            })
            .collect();
        writeln!(f, "  requests: {}", kinds.join("; "))?;
        let mut reasons: Vec<(&String, &u64)> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (why, n) in reasons.iter().take(4) {
            writeln!(f, "    {n} x {why}")?;
        }
        Ok(())
    }
}

/// A violation's kind, so a report can count them by kind (a run today
/// has a thousand mixed snapshots and, maybe, one lost item).
trait Kind: fmt::Display {
    fn kind(&self) -> &'static str;
}

impl Kind for BankViolation {
    fn kind(&self) -> &'static str {
        match self {
            BankViolation::ReadNotConserved { .. } => "read not summing to the total",
            BankViolation::ReadMalformed { .. } => "malformed read",
            BankViolation::FinalMalformed { .. } => "malformed final balances",
            BankViolation::FinalNotConserved { .. } => "final balances not summing to the total",
            BankViolation::FinalUnexplained { .. } => "final balances not explained",
            BankViolation::AckedNotApplied { .. } => "acknowledged transfer not applied",
            BankViolation::RefusedApplied { .. } => "refused transfer applied",
        }
    }
}

impl Kind for SnapshotViolation {
    fn kind(&self) -> &'static str {
        match self {
            SnapshotViolation::Mixed { .. } => "mixed snapshot",
            SnapshotViolation::NeverWritten { .. } => "value never written",
            SnapshotViolation::FailedWriteSeen { .. } => "refused MSET seen",
            SnapshotViolation::FromTheFuture { .. } => "value written later",
            SnapshotViolation::FinalMixed { .. } => "final state mixed",
            SnapshotViolation::FinalLost { .. } => "final state missing an MSET",
            SnapshotViolation::Malformed { .. } => "malformed read",
        }
    }
}

impl Kind for ListViolation {
    fn kind(&self) -> &'static str {
        match self {
            ListViolation::Foreign { .. } => "foreign item moved",
            ListViolation::Lost { .. } => "lost item",
            ListViolation::Duplicated { .. } => "duplicated item",
            ListViolation::ForeignFinal { .. } => "foreign item in a list",
        }
    }
}

/// Prints how many violations of each kind there are, and the first
/// [`SHOWN`] of each.
fn violations<T: Kind>(f: &mut fmt::Formatter<'_>, all: &[T]) -> fmt::Result {
    let mut kinds: BTreeMap<&'static str, Vec<&T>> = BTreeMap::new();
    for v in all {
        kinds.entry(v.kind()).or_default().push(v);
    }
    for (kind, list) in kinds {
        writeln!(f, "  {} x {kind}", list.len())?;
        for v in list.iter().take(SHOWN) {
            write!(f, "  violation: {v}")?;
        }
        if list.len() > SHOWN {
            writeln!(f, "  ... and {} more", list.len() - SHOWN)?;
        }
    }
    Ok(())
}

impl fmt::Display for MultiReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((counts, r)) = &self.bank {
            writeln!(
                f,
                "bank: {} complete reads checked, {} violations",
                r.reads,
                r.violations.len()
            )?;
            write!(f, "{counts}")?;
            match &r.explained {
                Some(Explained::By(ids)) => writeln!(
                    f,
                    "  final balances = initial + acknowledged transfers + {} of the unknown ones, each whole",
                    ids.len()
                )?,
                Some(Explained::Marked(ids)) => writeln!(
                    f,
                    "  final balances = initial + every transfer whose marker exists (each acknowledged one, {} of the unknown ones, no refused one)",
                    ids.len()
                )?,
                Some(Explained::Undecided { unknown_transfers }) => writeln!(
                    f,
                    "  UNDECIDED: the search over {unknown_transfers} unknown transfers ran out of states"
                )?,
                None => {}
            }
            violations(f, &r.violations)?;
        }
        if let Some((counts, r)) = &self.mset {
            writeln!(
                f,
                "mset: {} MGET snapshots checked, {} mixed, {} violations",
                r.reads,
                r.mixed,
                r.violations.len()
            )?;
            write!(f, "{counts}")?;
            violations(f, &r.violations)?;
        }
        if let Some((counts, r)) = &self.lmove {
            writeln!(
                f,
                "lmove: {} items moved, final list lengths {:?}, {} violations",
                r.moved,
                r.final_lengths.as_deref().unwrap_or_default(),
                r.violations.len()
            )?;
            write!(f, "{counts}")?;
            violations(f, &r.violations)?;
        }
        writeln!(
            f,
            "multi-key verdict: {}",
            if self.is_ok() { "VALID" } else { "INVALID" }
        )
    }
}
