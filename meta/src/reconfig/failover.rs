//! Rules 1 and 2: a dead primary is replaced by the alive secondary with the
//! longest log; dead secondaries are removed.

use std::cmp::Reverse;

use petrel_common::ids::{Decree, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::model::{Action, Change, Health, Reports};

/// How long `node`'s log is, as far as meta knows at the partition's current
/// ballot: `(has a current report, last_prepared, last_committed)`. A
/// replica that has not reported at this ballot ranks below every one that
/// has (it is still a safe choice: every member holds every committed
/// mutation, but a reported long log keeps more of the uncommitted tail).
pub(crate) fn log_rank(
    config: &PartitionConfig,
    node: &NodeAddr,
    reports: &Reports,
) -> (bool, Decree, Decree) {
    match reports.at(config.gpid, node, config.ballot) {
        Some(r) => (true, r.last_prepared, r.last_committed),
        None => (false, Decree(0), Decree(0)),
    }
}

/// The alive secondary that should become primary: longest log first, then
/// the lowest address. `None` when no secondary is alive.
pub(crate) fn best_successor<'a>(
    config: &'a PartitionConfig,
    health: &Health,
    reports: &Reports,
) -> Option<&'a NodeAddr> {
    config
        .secondaries
        .iter()
        .filter(|s| health.is_alive(s))
        .max_by_key(|s| (log_rank(config, s, reports), Reverse(*s)))
}

/// The failover change `config` needs, if any.
///
/// - Primary dead (or absent) and some secondary alive: promote
///   [`best_successor`]; the other alive secondaries stay secondaries, the
///   old primary and dead secondaries are removed.
/// - Primary dead and no secondary alive: `None`. Nobody who might hold the
///   longest log loses its place; the partition waits for a member to return.
/// - Primary alive and some secondary dead: remove every dead secondary.
pub(crate) fn decide_failover(
    config: &PartitionConfig,
    health: &Health,
    reports: &Reports,
) -> Option<Action> {
    let primary_alive = config.primary.as_ref().is_some_and(|p| health.is_alive(p));
    let dead_secondaries: Vec<NodeAddr> = config
        .secondaries
        .iter()
        .filter(|s| !health.is_alive(s))
        .cloned()
        .collect();
    if primary_alive {
        if dead_secondaries.is_empty() {
            return None;
        }
        let mut next = config.clone();
        next.ballot = config.ballot.next();
        next.secondaries.retain(|s| health.is_alive(s));
        return Some(Action::Reconfigure {
            ballot: config.ballot,
            config: next,
            change: Change::RemoveDeadSecondaries {
                removed: dead_secondaries,
            },
        });
    }
    let new_primary = best_successor(config, health, reports)?.clone();
    let removed: Vec<NodeAddr> = config
        .primary
        .iter()
        .cloned()
        .chain(dead_secondaries)
        .collect();
    let next = PartitionConfig {
        gpid: config.gpid,
        ballot: config.ballot.next(),
        primary: Some(new_primary.clone()),
        secondaries: config
            .secondaries
            .iter()
            .filter(|s| **s != new_primary && health.is_alive(s))
            .cloned()
            .collect(),
    };
    Some(Action::Reconfigure {
        ballot: config.ballot,
        config: next,
        change: Change::PromoteSecondary {
            new_primary,
            removed,
        },
    })
}
