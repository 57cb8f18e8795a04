//! The bank checker. Accounts in different partitions start with known
//! balances; clients move money between them with `MULTI / DECRBY / INCRBY /
//! EXEC` and read every balance at once. Money is neither made nor lost:
//!
//! - every complete read (all balances, in one `MGET` or one read-only
//!   `MULTI`) sums to the total;
//! - after healing the balances sum to the total, and equal the initial
//!   balances plus every acknowledged transfer plus some set of the
//!   transfers whose outcome is unknown, each applied whole: a transfer is
//!   applied at both accounts or at neither, never half. Refused transfers
//!   (`Failed`) are not applied at all.
//!
//! Each transfer also sets a marker key of its own in the same `MULTI`, so
//! after healing the markers say exactly which transfers applied: every
//! acknowledged one must have its marker, no refused one may, and the
//! balances must equal the initial ones plus every marked transfer. A
//! record without markers (made before them) falls back to a search:
//! which unknown transfers explain the difference. It explores at most
//! [`SEARCH_STATES`] states and reports "undecided" rather than passing
//! when it runs out.

use std::collections::HashSet;
use std::fmt;

use super::record::{Action, BankRun, MultiOp, Outcome};

/// How many (transfer, residual) states the search of unknown transfers
/// may visit before it gives up.
pub(crate) const SEARCH_STATES: usize = 2_000_000;

/// Money made or lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BankViolation {
    /// A complete read whose balances do not sum to the total.
    ReadNotConserved { read: MultiOp, sum: i64, total: i64 },
    /// A read with a missing or non-integer balance, or the wrong number.
    ReadMalformed { read: MultiOp },
    /// After healing, a balance is missing or not an integer.
    FinalMalformed { balances: Vec<Option<String>> },
    /// After healing, the balances do not sum to the total.
    FinalNotConserved { sum: i64, total: i64 },
    /// After healing, the balances differ from initial + acknowledged by
    /// `residual` (per account), which no set of unknown transfers applied
    /// whole accounts for.
    FinalUnexplained {
        residual: Vec<i64>,
        unknown_transfers: usize,
    },
    /// An acknowledged transfer whose marker is missing after healing: an
    /// acknowledged write lost.
    AckedNotApplied { transfer: MultiOp },
    /// A refused transfer whose marker exists: it applied.
    RefusedApplied { transfer: MultiOp },
}

/// Whether the final balances could be explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Explained {
    /// By applying these unknown transfers (ids), whole.
    By(Vec<u64>),
    /// By every marked transfer: the acknowledged ones and these unknown
    /// ones (ids).
    Marked(Vec<u64>),
    /// The search ran out of states: neither proven nor refuted.
    Undecided { unknown_transfers: usize },
}

/// What the bank checker found.
#[derive(Debug, Clone, Default)]
pub(crate) struct BankReport {
    /// Complete reads checked.
    pub(crate) reads: usize,
    pub(crate) violations: Vec<BankViolation>,
    /// `None` when there was no final read or it was already a violation.
    pub(crate) explained: Option<Explained>,
}

impl BankReport {
    /// No violation, and the final balances explained.
    pub(crate) fn is_ok(&self) -> bool {
        self.violations.is_empty() && !matches!(self.explained, Some(Explained::Undecided { .. }))
    }
}

/// Parses every balance; `None` if any is missing or not an integer.
fn balances(values: &[Option<String>], accounts: usize) -> Option<Vec<i64>> {
    if values.len() != accounts {
        return None;
    }
    values
        .iter()
        .map(|v| v.as_deref()?.parse::<i64>().ok())
        .collect()
}

/// A transfer's effect: (from, to, amount).
fn transfer(op: &MultiOp) -> Option<(usize, usize, i64)> {
    match op.action {
        Action::Transfer {
            from, to, amount, ..
        } => Some((from, to, amount)),
        _ => None,
    }
}

/// Checks a bank run.
pub(crate) fn check(run: &BankRun) -> BankReport {
    let mut report = BankReport::default();
    let n = run.accounts.len();
    let total = run.total();
    for op in &run.ops {
        let (Action::ReadBalances { .. }, Outcome::Ok(values)) = (&op.action, &op.outcome) else {
            continue;
        };
        report.reads += 1;
        match balances(values, n) {
            None => report
                .violations
                .push(BankViolation::ReadMalformed { read: op.clone() }),
            Some(b) => {
                let sum: i64 = b.iter().sum();
                if sum != total {
                    report.violations.push(BankViolation::ReadNotConserved {
                        read: op.clone(),
                        sum,
                        total,
                    });
                }
            }
        }
    }
    let Some(values) = &run.final_balances else {
        return report;
    };
    let Some(finals) = balances(values, n) else {
        report.violations.push(BankViolation::FinalMalformed {
            balances: values.clone(),
        });
        return report;
    };
    let sum: i64 = finals.iter().sum();
    if sum != total {
        report
            .violations
            .push(BankViolation::FinalNotConserved { sum, total });
        return report;
    }
    if let Some(marked) = &run.final_markers {
        check_marked(run, &finals, marked, &mut report);
        return report;
    }
    // What the acknowledged transfers leave unexplained.
    let mut residual: Vec<i64> = finals
        .iter()
        .zip(run.initial.iter().chain(std::iter::repeat(&0)))
        .map(|(f, i)| f - i)
        .collect();
    let mut unknown = Vec::new();
    for op in &run.ops {
        let Some((from, to, amount)) = transfer(op) else {
            continue;
        };
        if from >= n || to >= n {
            continue;
        }
        match op.outcome {
            Outcome::Ok(_) => {
                residual[from] += amount;
                residual[to] -= amount;
            }
            Outcome::Unknown(_) => unknown.push((op.id, from, to, amount)),
            Outcome::Failed(_) => {}
        }
    }
    match explain(&residual, &unknown, SEARCH_STATES) {
        Search::Found(ids) => report.explained = Some(Explained::By(ids)),
        Search::Impossible => report.violations.push(BankViolation::FinalUnexplained {
            residual,
            unknown_transfers: unknown.len(),
        }),
        Search::GaveUp => {
            report.explained = Some(Explained::Undecided {
                unknown_transfers: unknown.len(),
            })
        }
    }
    report
}

/// The final check by markers: each transfer applied exactly when its
/// marker exists, and the balances are the initial ones plus exactly the
/// marked transfers.
fn check_marked(run: &BankRun, finals: &[i64], marked: &[u64], report: &mut BankReport) {
    let n = finals.len();
    let marked: HashSet<u64> = marked.iter().copied().collect();
    let mut expected: Vec<i64> = (0..n)
        .map(|a| run.initial.get(a).copied().unwrap_or(0))
        .collect();
    let mut unknown = 0;
    let mut applied_unknown = Vec::new();
    for op in &run.ops {
        let Some((from, to, amount)) = transfer(op) else {
            continue;
        };
        if from >= n || to >= n {
            continue;
        }
        let applied = marked.contains(&op.id);
        match (&op.outcome, applied) {
            (Outcome::Ok(_), false) => report.violations.push(BankViolation::AckedNotApplied {
                transfer: op.clone(),
            }),
            (Outcome::Failed(_), true) => report.violations.push(BankViolation::RefusedApplied {
                transfer: op.clone(),
            }),
            (Outcome::Unknown(_), _) => {
                unknown += 1;
                if applied {
                    applied_unknown.push(op.id);
                }
            }
            _ => {}
        }
        if applied {
            expected[from] -= amount;
            expected[to] += amount;
        }
    }
    let residual: Vec<i64> = finals.iter().zip(&expected).map(|(f, e)| f - e).collect();
    if residual.iter().any(|r| *r != 0) {
        report.violations.push(BankViolation::FinalUnexplained {
            residual,
            unknown_transfers: unknown,
        });
    } else {
        report.explained = Some(Explained::Marked(applied_unknown));
    }
}

/// The answer of [`explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Search {
    /// These transfers (ids), applied whole, make up the residual.
    Found(Vec<u64>),
    /// No set of them does.
    Impossible,
    /// Ran out of states.
    GaveUp,
}

/// Finds a set of `transfers` (id, from, to, amount), each applied whole
/// (`from` loses `amount`, `to` gains it), whose effect is exactly
/// `residual`. Depth-first, include-or-skip per transfer, pruned by the
/// range each account can still move by and memoized on (position,
/// residual); at most `max_states` states.
pub(crate) fn explain(
    residual: &[i64],
    transfers: &[(u64, usize, usize, i64)],
    max_states: usize,
) -> Search {
    let n = residual.len();
    if transfers.iter().any(|&(_, f, t, _)| f >= n || t >= n) {
        return Search::Impossible;
    }
    // reach[i][a]: the least and the most account a can still move by,
    // using transfers i.. only.
    let mut reach = vec![vec![(0i64, 0i64); n]; transfers.len() + 1];
    for (i, &(_, from, to, amount)) in transfers.iter().enumerate().rev() {
        let mut row = reach[i + 1].clone();
        if from != to {
            for (account, effect) in [(from, -amount), (to, amount)] {
                row[account].0 += effect.min(0);
                row[account].1 += effect.max(0);
            }
        }
        reach[i] = row;
    }
    let mut search = Explain {
        transfers,
        reach: &reach,
        failed: HashSet::new(),
        states: 0,
        max_states,
        chosen: Vec::new(),
    };
    match search.dfs(0, &mut residual.to_vec()) {
        Some(true) => Search::Found(search.chosen),
        Some(false) => Search::Impossible,
        None => Search::GaveUp,
    }
}

struct Explain<'a> {
    transfers: &'a [(u64, usize, usize, i64)],
    reach: &'a [Vec<(i64, i64)>],
    /// (position, residual) states known to lead nowhere.
    failed: HashSet<(usize, Vec<i64>)>,
    states: usize,
    max_states: usize,
    chosen: Vec<u64>,
}

impl Explain<'_> {
    /// `Some(true)` when transfers `i..` can make up `residual` (then
    /// `chosen` holds them), `Some(false)` when not, `None` out of budget.
    fn dfs(&mut self, i: usize, residual: &mut Vec<i64>) -> Option<bool> {
        let reachable = residual
            .iter()
            .zip(&self.reach[i])
            .all(|(r, (lo, hi))| lo <= r && r <= hi);
        if !reachable {
            return Some(false);
        }
        if i == self.transfers.len() {
            return Some(residual.iter().all(|&r| r == 0));
        }
        if self.failed.contains(&(i, residual.clone())) {
            return Some(false);
        }
        self.states += 1;
        if self.states > self.max_states {
            return None;
        }
        let (id, from, to, amount) = self.transfers[i];
        // Applied: from lost amount and to gained it, so the residual left
        // to explain moves the other way.
        residual[from] += amount;
        residual[to] -= amount;
        let with = self.dfs(i + 1, residual);
        residual[from] -= amount;
        residual[to] += amount;
        match with {
            Some(true) => {
                self.chosen.push(id);
                return Some(true);
            }
            None => return None,
            Some(false) => {}
        }
        match self.dfs(i + 1, residual) {
            Some(false) => {
                self.failed.insert((i, residual.clone()));
                Some(false)
            }
            other => other,
        }
    }
}

impl fmt::Display for BankViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankViolation::ReadNotConserved { read, sum, total } => {
                writeln!(f, "a read sums to {sum}, not {total}: {read}")
            }
            BankViolation::ReadMalformed { read } => {
                writeln!(f, "a read with a missing or non-integer balance: {read}")
            }
            BankViolation::FinalMalformed { balances } => writeln!(
                f,
                "after healing a balance is missing or not an integer: {balances:?}"
            ),
            BankViolation::FinalNotConserved { sum, total } => {
                writeln!(f, "after healing the balances sum to {sum}, not {total}")
            }
            BankViolation::FinalUnexplained {
                residual,
                unknown_transfers,
            } => {
                let off: Vec<String> = residual
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| **r != 0)
                    .map(|(a, r)| format!("account {a}: {r:+}"))
                    .collect();
                writeln!(
                    f,
                    "after healing the balances differ from the initial ones plus the acknowledged transfers by [{}], which no set of the {unknown_transfers} unknown transfers, each applied whole, accounts for",
                    off.join(", ")
                )
            }
            BankViolation::AckedNotApplied { transfer } => writeln!(
                f,
                "an acknowledged transfer's marker is missing after healing: {transfer}"
            ),
            BankViolation::RefusedApplied { transfer } => writeln!(
                f,
                "a refused transfer's marker exists after healing: {transfer}"
            ),
        }
    }
}
