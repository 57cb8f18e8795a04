//! Reconfiguration decisions: from a snapshot of one table to the
//! configuration changes meta should make.
//!
//! Everything here is pure and deterministic (no clock, no I/O, no
//! randomness; every choice breaks ties by address), so the same snapshot
//! always yields the same actions. The service builds a [`Snapshot`] from its
//! state, liveness and beacons, calls [`decide`] on every reconfiguration
//! tick, validates each new configuration with [`validate_config`], persists
//! it, and only then tells anyone.
//!
//! A member, learner or former member whose latest report says its replica
//! failed (`error`) counts as dead for its partition, and dead for good: it
//! is replaced at once, without a dropout delay, and not chosen to learn it.
//!
//! The rules, in the order they are tried for each partition (at most one
//! ballot change per partition per round, since every change makes the other
//! proposals for that ballot stale):
//!
//! 0. **Primary restarted** ([`restart`]): the configured primary is alive
//!    but reports itself `inactive` at the current ballot (a restarted
//!    primary's unsynced tail may differ from its secondaries', so it must
//!    not lead again under the same ballot). Once every alive member has
//!    reported at the current ballot (or [`ReconfigParams::restart_wait`]
//!    passed), a new ballot goes to the alive member with the longest log,
//!    the old primary included; dead members leave in the same change.
//! 1. **Primary dead** ([`failover`]): promote the alive secondary with the
//!    longest log (highest `last_prepared` reported at the current ballot,
//!    then `last_committed`, then the lowest address); dead secondaries leave
//!    in the same change. No alive secondary: nothing happens, the partition
//!    stays unavailable and every member keeps its place, because one of them
//!    may hold the only copy of the longest log.
//! 2. **Secondary dead** ([`failover`]): remove it (every dead secondary at
//!    once).
//! 3. **The primary asks to remove a secondary it cannot reach**
//!    ([`proposal`]), listed as `unreachable` in its report: accepted only
//!    for the current ballot and from the current primary; of conflicting
//!    proposals for one ballot the first wins. A learner it cannot reach is
//!    dropped instead (no ballot change).
//! 4. **A learner caught up** ([`learners`]): the primary lists it as ready
//!    (it counts for commit), so it becomes a secondary. A learner the
//!    primary counts for commit but meta does not know (any more) is
//!    cancelled with a new ballot first.
//! 5. **Under-replicated** ([`learners`]): start learners (no ballot change).
//!    Learners whose server died, or of a partition that is full, are
//!    dropped (no ballot change either, unless the primary already counts
//!    one for commit: then [`Change::CancelLearners`] bumps the ballot).
//!    A member dropped because its server died keeps its slot for
//!    [`ReconfigParams::dropout_delay`], since its return is far cheaper
//!    than a full copy; a dropped member that is back is preferred; any other
//!    missing slot, or an admin request, is filled at once on the least
//!    loaded alive server.
//! 6. **Moves in flight** ([`moves`]): a move whose learner caught up
//!    becomes one new ballot in which the learner replaces the leaving
//!    member (checked before rules 4 and 5, which would otherwise drop a
//!    learner of a full partition).
//! 7. **Replica moves** ([`moves`]): members of draining servers move away,
//!    then replicas move from fuller servers to emptier ones, at most
//!    [`ReconfigParams::max_moves`] in flight in the cluster.
//! 8. **Primary balancing** ([`balance`]): planned primary switches towards
//!    servers with fewer primaries, only to fully caught-up secondaries of
//!    healthy partitions, never to a draining server.
//!
//! [`validate_config`] guards whatever configuration is about to be
//! persisted, whoever proposed it.

use std::collections::BTreeSet;

use petrel_common::ids::NodeAddr;
use petrel_common::partition::PartitionConfig;

use crate::placement::Load;

pub(crate) mod balance;
pub(crate) mod failover;
pub(crate) mod learners;
pub(crate) mod model;
pub(crate) mod moves;
pub(crate) mod proposal;
pub(crate) mod restart;
pub(crate) mod validate;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use model::ReplicaMove;
#[cfg(test)]
pub(crate) use model::ReplicaRole;
pub(crate) use model::{
    Action, Change, DropWhy, Health, ReconfigParams, ReplicaReport, Reports, Snapshot,
    DEFAULT_MAX_MOVES, DEFAULT_MAX_PRIMARY_SWITCHES,
};
pub(crate) use validate::{switched_config, validate_config, Invalid};

/// Every action meta should take for one table, in partition order.
///
/// `load` is the cluster's current load (every table); it is updated with
/// what the returned actions would add (learners, primaries moved) so the
/// caller can pass it on to the next table of the same round.
pub(crate) fn decide(snapshot: &Snapshot, load: &mut Load, params: &ReconfigParams) -> Vec<Action> {
    for (gpid, ls) in &snapshot.learners {
        let members = snapshot.partitions.iter().find(|p| p.gpid == *gpid);
        for l in ls {
            if members.is_none_or(|p| !p.has_member(l)) {
                *load.replicas.entry(l.clone()).or_default() += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut busy = BTreeSet::new();
    for config in &snapshot.partitions {
        if snapshot.unbuilt.contains(&config.gpid) {
            busy.insert(config.gpid);
            continue;
        }
        // A member, learner or former member whose replica failed counts as
        // dead for this partition: it is replaced like one whose server died,
        // and not chosen to learn it.
        let failed: Vec<&NodeAddr> = config
            .members()
            .chain(snapshot.learners_of(config.gpid))
            .chain(snapshot.dropped.get(&config.gpid).into_iter().flatten())
            .filter(|n| snapshot.reports.failed(config.gpid, n))
            .collect();
        let adjusted;
        let health = if failed.is_empty() {
            &snapshot.health
        } else {
            adjusted = snapshot.health.with_failed(failed);
            &adjusted
        };
        let waited = snapshot
            .restart_waited
            .get(&config.gpid)
            .copied()
            .unwrap_or_default();
        let restart = restart::decide_restart(
            config,
            health,
            &snapshot.reports,
            waited,
            params.restart_wait,
        );
        let reconfig = match restart {
            restart::Restart::Waiting => {
                busy.insert(config.gpid);
                continue;
            }
            restart::Restart::NewBallot(action) => Some(action),
            restart::Restart::NotNeeded => {
                failover::decide_failover(config, health, &snapshot.reports).or_else(|| {
                    proposal::decide_requested_removal(config, health, &snapshot.reports)
                })
            }
        };
        if let Some(action) = reconfig {
            note_primary_move(config, &action, load);
            out.push(action);
            busy.insert(config.gpid);
            continue;
        }
        let unreachable = proposal::drop_unreachable_learners(
            config,
            snapshot.learners_of(config.gpid),
            health,
            &snapshot.reports,
        );
        if !unreachable.is_empty() {
            out.extend(learners::cancel_ready_learners(
                config,
                unreachable,
                &snapshot.reports,
            ));
            busy.insert(config.gpid);
            continue;
        }
        if let Some(action) = learners::cancel_stray_learners(
            config,
            snapshot.learners_of(config.gpid),
            &snapshot.reports,
        ) {
            out.push(action);
            busy.insert(config.gpid);
            continue;
        }
        if let Some(mv) = snapshot.moves.get(&config.gpid) {
            match moves::progress(config, mv, snapshot, health) {
                moves::MoveStep::Over => {}
                moves::MoveStep::Learning => {
                    busy.insert(config.gpid);
                    continue;
                }
                moves::MoveStep::Act(action) => {
                    note_primary_move(config, &action, load);
                    out.extend(learners::cancel_ready_learners(
                        config,
                        vec![action],
                        &snapshot.reports,
                    ));
                    busy.insert(config.gpid);
                    continue;
                }
            }
        }
        let promotion = learners::decide_learner_promotion(
            config,
            snapshot.replica_count,
            snapshot.learners_of(config.gpid),
            health,
            &snapshot.reports,
        );
        if let Some(action) = promotion {
            out.push(action);
            busy.insert(config.gpid);
            continue;
        }
        let planned = learners::plan_learners(config, snapshot, health, params, load);
        if !planned.is_empty() {
            busy.insert(config.gpid);
        }
        out.extend(learners::cancel_ready_learners(
            config,
            planned,
            &snapshot.reports,
        ));
    }
    out.extend(moves::plan_moves(snapshot, &mut busy, load, params));
    out.extend(balance::plan_primary_switches(
        snapshot, &busy, load, params,
    ));
    out
}

/// Keeps `load.primaries` in step with a failover.
fn note_primary_move(old: &PartitionConfig, action: &Action, load: &mut Load) {
    let Some(new) = action.new_config() else {
        return;
    };
    if old.primary == new.primary {
        return;
    }
    if let Some(p) = &old.primary {
        if let Some(c) = load.primaries.get_mut(p) {
            *c = c.saturating_sub(1);
        }
    }
    if let Some(p) = &new.primary {
        *load.primaries.entry(p.clone()).or_default() += 1;
    }
}
