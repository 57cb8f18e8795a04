//! Checkers for a recorded [`History`].
//!
//! - Per-key linearizability ([`check_key_stats`], [`check`]) against
//!   [`model::apply`], the model of one Redis key, with unknown outcomes
//!   allowed to take effect late or never. Keys are independent, so each is
//!   searched on its own: first Wing & Gong's search with Lowe's
//!   memoization (depth-first, quick to find a linearization), then, if
//!   that runs out of its share of the budget, Lowe's just-in-time sweep
//!   (breadth-first over time, quick to find the first violation).
//! - Final-read checks ([`lost_acknowledged_writes`], [`counter_bounds`]):
//!   simpler, explainable checks for keys whose workload allows them.
//!
//! A key whose search ran out of budget is reported as unknown, never as
//! passing.

mod dfs;
pub(crate) mod model;
mod prepare;
mod search;
mod simple;
mod sweep;
pub(crate) mod verdict;

#[cfg(test)]
mod testgen;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[cfg(test)]
pub(crate) use search::check_key;
pub(crate) use search::check_key_stats;
pub(crate) use simple::{
    counter_bounds, lost_acknowledged_writes, CounterViolation, FinalReadCheck, LostWrite,
};
pub(crate) use verdict::{Budget, KeyVerdict, Limit, SearchStats, Violation};

use crate::chaos::history::{fmt_ns, History, Op, OutcomeCounts};

/// Keys are searched on at most this many threads: the runner has a
/// cluster to share the machine with, and memo caches are large.
const CHECK_THREADS: usize = 2;

/// One key's result.
#[derive(Debug, Clone)]
pub(crate) struct KeyReport {
    pub(crate) key: String,
    pub(crate) verdict: KeyVerdict,
    pub(crate) stats: SearchStats,
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every key linearizable and every final-read check passed.
    Valid,
    /// Some violation found.
    Invalid,
    /// No violation found, but some key's search ran out of budget.
    Unknown,
}

/// Everything the checkers found about a history.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub(crate) counts: OutcomeCounts,
    /// Per key, ordered by key.
    pub(crate) keys: Vec<KeyReport>,
    /// None when no final reads were given.
    pub(crate) lost_writes: Option<FinalReadCheck<LostWrite>>,
    pub(crate) counters: Option<FinalReadCheck<CounterViolation>>,
}

impl Report {
    pub(crate) fn verdict(&self) -> Verdict {
        let final_violations = self
            .lost_writes
            .as_ref()
            .is_some_and(|c| !c.violations.is_empty())
            || self
                .counters
                .as_ref()
                .is_some_and(|c| !c.violations.is_empty());
        if final_violations || self.not_linearizable().next().is_some() {
            Verdict::Invalid
        } else if self.unknown_keys().next().is_some() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        }
    }

    /// True only for [`Verdict::Valid`]: an unknown key is not a pass.
    pub(crate) fn is_ok(&self) -> bool {
        self.verdict() == Verdict::Valid
    }

    pub(crate) fn not_linearizable(&self) -> impl Iterator<Item = &KeyReport> {
        self.keys
            .iter()
            .filter(|k| matches!(k.verdict, KeyVerdict::NotLinearizable(_)))
    }

    pub(crate) fn unknown_keys(&self) -> impl Iterator<Item = &KeyReport> {
        self.keys
            .iter()
            .filter(|k| matches!(k.verdict, KeyVerdict::Unknown(_)))
    }
}

/// Checks every key of `history` for linearizability.
pub(crate) fn check(history: &History, budget: Budget) -> Report {
    let keys: Vec<(String, Vec<Op>)> = history.by_key().into_iter().collect();
    // Largest keys first so two threads finish together.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(keys[i].1.len()));
    let results: Mutex<Vec<Option<KeyReport>>> = Mutex::new(vec![None; keys.len()]);
    let next = AtomicUsize::new(0);
    let threads = CHECK_THREADS.min(keys.len()).max(1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (key, ops) = &keys[i];
                    let (verdict, stats) = check_key_stats(ops, budget);
                    let report = KeyReport {
                        key: key.clone(),
                        verdict,
                        stats,
                    };
                    let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                    results[i] = Some(report);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    Report {
        counts: history.counts(),
        keys: results.into_iter().flatten().collect(),
        lost_writes: None,
        counters: None,
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (true, Some(op)) = (self.impossible, &self.blocked) {
            return writeln!(
                f,
                "not linearizable: no write could produce the reply of {op}"
            );
        }
        writeln!(
            f,
            "not linearizable: the longest linearizable prefix found places {} of {} ops, leaving the key at {}",
            self.linearized.len(),
            self.searched,
            self.state.as_ref().map_or_else(|| "nil".to_string(), |v| format!("{v:?}"))
        )?;
        if let Some(op) = &self.blocked {
            match self.blocked_deadline_ns {
                Some(t) => writeln!(
                    f,
                    "  cannot place {op}, which a GET completed at {} had read",
                    fmt_ns(t)
                )?,
                None => writeln!(f, "  cannot place {op}")?,
            }
        }
        if !self.unplaced.is_empty() {
            writeln!(f, "  nor any op in flight with it:")?;
            for op in &self.unplaced {
                writeln!(f, "    {op}")?;
            }
            if self.more_unplaced > 0 {
                writeln!(f, "    ... and {} more", self.more_unplaced)?;
            }
        }
        if !self.last_linearized.is_empty() {
            writeln!(f, "  after, in this order:")?;
            if self.linearized.len() > self.last_linearized.len() {
                writeln!(
                    f,
                    "    ... {} earlier ops",
                    self.linearized.len() - self.last_linearized.len()
                )?;
            }
            for op in &self.last_linearized {
                writeln!(f, "    {op}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "history: {}", self.counts)?;
        let bad = self.not_linearizable().count();
        let unknown = self.unknown_keys().count();
        writeln!(
            f,
            "linearizability: {} keys, {} linearizable, {} NOT linearizable, {} unknown (budget exhausted)",
            self.keys.len(),
            self.keys.len() - bad - unknown,
            bad,
            unknown
        )?;
        for k in &self.keys {
            match &k.verdict {
                KeyVerdict::Linearizable => {}
                KeyVerdict::NotLinearizable(v) => write!(f, "key {:?}: {v}", k.key)?,
                KeyVerdict::Unknown(e) => writeln!(
                    f,
                    "key {:?}: unknown, gave up on {} after {} states in {:.1?} ({} ops, {} unknown outcome kept open)",
                    k.key,
                    match e.limit {
                        Limit::States => "the state limit",
                        Limit::Time => "the time limit",
                        Limit::Concurrency => "too many ops in flight at once",
                    },
                    e.states,
                    e.elapsed,
                    k.stats.ops,
                    k.stats.open_unknowns
                )?,
            }
        }
        if let Some(c) = &self.lost_writes {
            writeln!(
                f,
                "lost acknowledged writes: {} keys checked, {} with a lost write",
                c.keys_checked,
                c.violations.len()
            )?;
            for v in &c.violations {
                write!(f, "{v}")?;
            }
        }
        if let Some(c) = &self.counters {
            writeln!(
                f,
                "counters: {} keys checked, {} out of bounds",
                c.keys_checked,
                c.violations.len()
            )?;
            for v in &c.violations {
                writeln!(f, "{v}")?;
            }
        }
        let verdict = match self.verdict() {
            Verdict::Valid => "VALID",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "UNKNOWN (no violation found, some key not fully checked)",
        };
        writeln!(f, "verdict: {verdict}")
    }
}
