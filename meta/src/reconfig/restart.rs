//! Rule 0: a restarted primary needs a new ballot.
//!
//! A server recovers a replica that was primary as `inactive` at the same
//! ballot: the tail of its log that was never synced may be gone, or (after
//! a crash between writing and syncing) differ from what its secondaries
//! acknowledged under that ballot, so nobody may lead again under it. Meta
//! issues a new ballot whose primary is the alive member with the longest
//! log — the old primary is as eligible as any secondary: every committed
//! mutation is durable on every member, the longest log just keeps the most
//! of the uncommitted tail. The same rule covers a whole-cluster restart
//! (every secondary resumes as secondary, the primary as inactive).
//!
//! Choosing too early could miss the longest log (a server that is up but
//! still opening its replicas has not reported them yet), so meta waits
//! until every alive member reported at the current ballot, or
//! [`super::model::ReconfigParams::restart_wait`] passed since it first saw the
//! restarted primary.

use std::cmp::Reverse;
use std::time::Duration;

use petrel_common::ids::NodeAddr;
use petrel_common::partition::PartitionConfig;

use super::model::{Action, Change, Health, ReplicaRole, Reports};

/// Whether `config`'s primary is alive and reported itself `inactive` at the
/// current ballot: it restarted and waits for a new ballot.
pub(crate) fn primary_restarted(
    config: &PartitionConfig,
    health: &Health,
    reports: &Reports,
) -> bool {
    let Some(p) = &config.primary else {
        return false;
    };
    health.is_alive(p)
        && reports
            .at(config.gpid, p, config.ballot)
            .is_some_and(|r| r.role == ReplicaRole::Inactive)
}

/// What rule 0 says about one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Restart {
    /// The primary did not restart; the other rules apply.
    NotNeeded,
    /// The primary restarted, but some alive member has not reported at the
    /// current ballot yet: nothing changes this round (nor by any other rule).
    Waiting,
    /// Persist this new ballot.
    NewBallot(Action),
}

/// Rule 0 for one partition; `waited` is how long meta has seen the primary
/// restarted at this ballot, `wait` how long it waits for every alive
/// member's report at most.
///
/// The new primary is the alive member that reported at the current ballot
/// (as primary, secondary or inactive) with the highest `last_prepared`,
/// then `last_committed`, then the lowest address. The other alive members
/// stay (as secondaries, in their current order); dead ones are removed.
pub(crate) fn decide_restart(
    config: &PartitionConfig,
    health: &Health,
    reports: &Reports,
    waited: Duration,
    wait: Duration,
) -> Restart {
    if !primary_restarted(config, health, reports) {
        return Restart::NotNeeded;
    }
    let alive: Vec<&NodeAddr> = config.members().filter(|m| health.is_alive(m)).collect();
    let all_reported = alive
        .iter()
        .all(|m| reports.at(config.gpid, m, config.ballot).is_some());
    if !all_reported && waited < wait {
        return Restart::Waiting;
    }
    let best = alive
        .iter()
        .filter_map(|m| reports.at(config.gpid, m, config.ballot))
        .filter(|r| {
            matches!(
                r.role,
                ReplicaRole::Primary | ReplicaRole::Secondary | ReplicaRole::Inactive
            )
        })
        .max_by_key(|r| (r.last_prepared, r.last_committed, Reverse(&r.node)));
    let Some(best) = best else {
        // Unreachable: the primary itself reported at this ballot.
        return Restart::NotNeeded;
    };
    let new_primary = best.node.clone();
    let next = PartitionConfig {
        gpid: config.gpid,
        ballot: config.ballot.next(),
        primary: Some(new_primary.clone()),
        secondaries: alive
            .iter()
            .filter(|m| ***m != new_primary)
            .map(|m| (*m).clone())
            .collect(),
    };
    let removed = config
        .members()
        .filter(|m| !health.is_alive(m))
        .cloned()
        .collect();
    Restart::NewBallot(Action::Reconfigure {
        ballot: config.ballot,
        config: next,
        change: Change::NewBallotAfterRestart {
            new_primary,
            removed,
        },
    })
}
