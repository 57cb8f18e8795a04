//! What a search of one key's history concludes, and what it may spend.

use std::time::Duration;

use crate::chaos::history::Op;

/// How much one key's search may explore before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Memoized configurations (each costs roughly 100-200 bytes).
    pub(crate) max_states: u64,
    pub(crate) max_time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            max_states: 2_000_000,
            max_time: Duration::from_secs(60),
        }
    }
}

/// Which part of the budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    States,
    Time,
    /// More ops in flight at once than the search supports.
    Concurrency,
}

/// The search gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    pub(crate) limit: Limit,
    pub(crate) states: u64,
    pub(crate) elapsed: Duration,
}

/// Whether the ops of one key are linearizable.
#[derive(Debug, Clone)]
pub(crate) enum KeyVerdict {
    Linearizable,
    NotLinearizable(Box<Violation>),
    /// Budget exhausted: neither proven nor refuted.
    Unknown(Exhausted),
}

impl KeyVerdict {
    #[cfg(test)]
    pub(crate) fn is_linearizable(&self) -> bool {
        matches!(self, KeyVerdict::Linearizable)
    }
}

/// Why a key is not linearizable: the longest linearization of a prefix the
/// search found, and the op it could not extend it with.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    /// Ids of the ops placed, in linearization order.
    pub(crate) linearized: Vec<u64>,
    /// The last few of them.
    pub(crate) last_linearized: Vec<Op>,
    /// The key's value after them.
    pub(crate) state: Option<String>,
    /// The op that had to take effect before its completion (the first
    /// such in time order) but could not be placed.
    pub(crate) blocked: Option<Op>,
    /// Set when no state could produce `blocked`'s reply (a GET of a value
    /// no SET wrote, a reply of the wrong type); no search was needed.
    pub(crate) impossible: bool,
    /// Set when `blocked` is an unknown SET whose value a GET completed at
    /// this time had returned, so it had to take effect by then.
    pub(crate) blocked_deadline_ns: Option<u64>,
    /// Other ops in flight at that point, none of which could be placed
    /// next either (at most a dozen; `more_unplaced` counts the rest).
    pub(crate) unplaced: Vec<Op>,
    pub(crate) more_unplaced: usize,
    /// Ops the search considered (failed and droppable unknowns removed).
    pub(crate) searched: usize,
}

/// What a key's search cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SearchStats {
    /// Ops of the key.
    pub(crate) ops: usize,
    /// Ops left after dropping failed ones and unknowns that cannot matter.
    pub(crate) searched: usize,
    /// Unknown ops searched as "any time or never".
    pub(crate) open_unknowns: usize,
    /// Configurations memoized.
    pub(crate) states: u64,
    pub(crate) elapsed: Duration,
}

/// Where no linearization could go on, in indices into `Prepared::ops`.
pub(crate) struct Failure {
    /// The op that had to take effect by its completion but could not.
    pub(crate) blocked: usize,
    /// A linearization of what came before (the longest one found).
    pub(crate) prefix: Vec<usize>,
    /// Other ops in flight (or open) then, none of which fit either.
    pub(crate) in_flight: Vec<usize>,
}

/// What one search concluded.
pub(crate) enum Answer {
    Linearizable,
    NotLinearizable(Failure),
    Exhausted(Limit),
}
