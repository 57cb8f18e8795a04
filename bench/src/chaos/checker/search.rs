//! Linearizability of one key's ops: two searches over the same
//! configurations, tried in turn.
//!
//! - `dfs`: Wing & Gong's depth-first search with Lowe's memoization, as in
//!   Porcupine and Knossos' "wgl". It finds a linearization of a
//!   linearizable history quickly, but to refute one it must exhaust every
//!   configuration before the violation, which for a long history can blow
//!   any budget.
//! - `sweep`: Lowe's just-in-time linearization, breadth-first over time:
//!   the set of configurations after each completion. It costs more on
//!   linearizable histories, but its work per event depends on concurrency
//!   only, and it stops at the first completion nothing explains.
//!
//! The depth-first search gets a quarter of the budget; if it runs out,
//! the sweep gets the rest. Both use `prepare`'s treatment of unknown
//! outcomes and are checked against a brute-force oracle in the tests.

use std::time::Instant;

use super::dfs::Search;
use super::model::apply;
use super::prepare::{prepare, Prepared, Span};
use super::sweep::Sweep;
use super::verdict::{
    Answer, Budget, Exhausted, Failure, KeyVerdict, Limit, SearchStats, Violation,
};
use crate::chaos::history::{Command, Op};

/// How many ops of each kind a violation report lists.
const REPORT_OPS: usize = 12;

/// The searches, for tests that check each one alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    Dfs,
    Sweep,
    /// Depth-first, then the sweep if that ran out of budget.
    Both,
}

/// [`check_key_stats`] without the stats.
#[cfg(test)]
pub(crate) fn check_key(ops: &[Op], budget: Budget) -> KeyVerdict {
    check_key_stats(ops, budget).0
}

/// Checks that the ops of one key are linearizable against the model of
/// one Redis key ([`super::model::apply`]), and how much work it took.
pub(crate) fn check_key_stats(ops: &[Op], budget: Budget) -> (KeyVerdict, SearchStats) {
    check_key_with(ops, budget, Engine::Both)
}

pub(super) fn check_key_with(
    ops: &[Op],
    budget: Budget,
    engine: Engine,
) -> (KeyVerdict, SearchStats) {
    let started = Instant::now();
    let p = prepare(ops);
    let mut states = 0;
    let mut answer = Answer::Exhausted(Limit::States);
    if let Some(blocked) = p.impossible {
        answer = Answer::NotLinearizable(Failure {
            blocked,
            prefix: Vec::new(),
            in_flight: Vec::new(),
        });
    } else if engine != Engine::Sweep {
        let share: u32 = if engine == Engine::Both { 4 } else { 1 };
        let dfs_budget = Budget {
            max_states: budget.max_states / u64::from(share),
            max_time: budget.max_time / share,
        };
        let mut dfs = Search::new(&p);
        answer = match dfs.run(dfs_budget, started) {
            Ok(true) => Answer::Linearizable,
            Ok(false) => match dfs.failure() {
                Some(f) => Answer::NotLinearizable(f),
                None => Answer::Exhausted(Limit::States),
            },
            Err(limit) => Answer::Exhausted(limit),
        };
        states += dfs.states;
    }
    if engine != Engine::Dfs && matches!(answer, Answer::Exhausted(_)) {
        let rest = Budget {
            max_states: budget.max_states.saturating_sub(states),
            max_time: budget.max_time,
        };
        let mut sweep = Sweep::new(&p, rest, started);
        answer = sweep.run();
        states += sweep.states;
    }
    let stats = SearchStats {
        ops: ops.len(),
        searched: p.ops.len(),
        open_unknowns: p.ops.iter().filter(|o| o.is_open()).count(),
        states,
        elapsed: started.elapsed(),
    };
    let verdict = match answer {
        Answer::Linearizable => KeyVerdict::Linearizable,
        Answer::NotLinearizable(f) => KeyVerdict::NotLinearizable(Box::new(violation(ops, &p, &f))),
        Answer::Exhausted(limit) => KeyVerdict::Unknown(Exhausted {
            limit,
            states,
            elapsed: stats.elapsed,
        }),
    };
    (verdict, stats)
}

/// The report of a failure, in the caller's ops.
fn violation(ops: &[Op], p: &Prepared, f: &Failure) -> Violation {
    let src = |i: usize| ops[p.ops[i].src].clone();
    let unplaced: Vec<Op> = f
        .in_flight
        .iter()
        .take(REPORT_OPS)
        .map(|&i| src(i))
        .collect();
    let blocked = p.ops[f.blocked];
    Violation {
        linearized: f.prefix.iter().map(|&i| ops[p.ops[i].src].id).collect(),
        last_linearized: f.prefix[f.prefix.len().saturating_sub(REPORT_OPS)..]
            .iter()
            .map(|&i| src(i))
            .collect(),
        state: replay(f.prefix.iter().map(|&i| &ops[p.ops[i].src].command)),
        blocked: Some(src(f.blocked)),
        blocked_deadline_ns: match blocked.span {
            Span::Until(t) if blocked.forced_by_read => Some(t),
            _ => None,
        },
        impossible: p.impossible == Some(f.blocked),
        more_unplaced: f.in_flight.len() - unplaced.len(),
        unplaced,
        searched: p.ops.len(),
    }
}

/// The value after running `commands` in order on an empty key (the
/// searches' compiled state forgets values no GET returned).
fn replay<'c>(commands: impl Iterator<Item = &'c Command>) -> Option<String> {
    let mut state = None;
    for c in commands {
        if let Ok((next, _)) = apply(&state, c) {
            state = next;
        }
    }
    state
}
