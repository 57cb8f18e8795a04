//! Rule 7: replica moves, which spread replicas evenly over the servers
//! (a new server receives its share) and empty the servers the admin
//! drains.
//!
//! A move never lowers a partition's member count: the replica's new home
//! first learns the partition as a learner (recorded as a [`ReplicaMove`],
//! so it is kept although the partition is full), and only once the primary
//! counts it for commit does one new ballot make it a secondary and remove
//! the old member. Only secondaries move; a primary on a draining server
//! hands its lead to a caught-up secondary first. At most
//! [`ReconfigParams::max_moves`] moves are in flight in the whole cluster.

use std::collections::BTreeSet;

use petrel_common::ids::{Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::balance::fully_caught_up;
use super::learners::learner_caught_up;
use super::model::{Action, Change, DropWhy, Health, ReconfigParams, ReplicaMove, Snapshot};
use crate::placement::Load;

/// Where a move in flight stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MoveStep {
    /// The move no longer applies (`from` left the configuration, or `to`
    /// joined it some other way): its learner is an ordinary one now.
    Over,
    /// The learner is still copying.
    Learning,
    /// What to do next (finish the move, hand the lead away first, or drop
    /// a dead learner).
    Act(Action),
}

/// The next step of the move `mv` of the partition `config`.
pub(crate) fn progress(
    config: &PartitionConfig,
    mv: &ReplicaMove,
    snapshot: &Snapshot,
    health: &Health,
) -> MoveStep {
    if !config.has_member(&mv.from) || config.has_member(&mv.to) {
        return MoveStep::Over;
    }
    if !health.is_alive(&mv.to) {
        return MoveStep::Act(Action::DropLearner {
            gpid: config.gpid,
            ballot: config.ballot,
            node: mv.to.clone(),
            why: DropWhy::Dead,
        });
    }
    if !learner_caught_up(config, &mv.to, &snapshot.reports) {
        return MoveStep::Learning;
    }
    if config.primary.as_ref() == Some(&mv.from) {
        // A failover made the leaving replica primary: it hands the lead
        // over first (the learner learns again from the new primary).
        return match best_new_primary(config, snapshot, health, &mv.from) {
            Some(to) => MoveStep::Act(Action::SwitchPrimary {
                gpid: config.gpid,
                ballot: config.ballot,
                to,
            }),
            None => MoveStep::Learning,
        };
    }
    MoveStep::Act(Action::Reconfigure {
        ballot: config.ballot,
        config: moved(config, &mv.from, &mv.to),
        change: Change::MoveReplica {
            from: mv.from.clone(),
            to: mv.to.clone(),
        },
    })
}

/// The caught-up secondary (alive, not draining, not `leaving`) that leads
/// the fewest partitions, then the lowest address.
fn best_new_primary(
    config: &PartitionConfig,
    snapshot: &Snapshot,
    health: &Health,
    leaving: &NodeAddr,
) -> Option<NodeAddr> {
    config
        .secondaries
        .iter()
        .filter(|s| *s != leaving && health.is_alive(s) && !snapshot.draining.contains(*s))
        .filter(|s| fully_caught_up(config, s, &snapshot.reports))
        .min_by_key(|s| {
            let leads = snapshot
                .partitions
                .iter()
                .filter(|p| p.primary.as_ref() == Some(*s))
                .count();
            (leads, (*s).clone())
        })
        .cloned()
}

/// Whether a partition may start a move: nothing else planned for it, a
/// primary, all its members alive, no learner, and all its members (a
/// partition short of members gets learners by rule 5 instead).
fn movable(config: &PartitionConfig, snapshot: &Snapshot, busy: &BTreeSet<Gpid>) -> bool {
    !busy.contains(&config.gpid)
        && config.primary.is_some()
        && config.members().count() >= snapshot.replica_count as usize
        && config.members().all(|m| snapshot.health.is_alive(m))
        && snapshot.learners_of(config.gpid).next().is_none()
        && !snapshot.moves.contains_key(&config.gpid)
}

/// Moves to start this round for one table (and the primary switches that
/// let a draining server's partitions move), while the cluster has fewer
/// than [`ReconfigParams::max_moves`] in flight.
///
/// 1. **Draining**: a partition with a member on a draining server moves
///    it to the alive, non-draining server with the fewest replicas; if
///    that member leads, the lead goes to a caught-up secondary first.
/// 2. **Balance**: while some alive, non-draining server holds at least two
///    replicas more than another (counting moves in flight as done), a
///    secondary of the fuller one moves to the emptier one; the widest gap
///    goes first, then partition order, then addresses.
///
/// Servers in a partition's `avoid` set are not chosen for it. `load` is
/// updated with every move started, so the next table of the round sees it.
pub(crate) fn plan_moves(
    snapshot: &Snapshot,
    busy: &mut BTreeSet<Gpid>,
    load: &mut Load,
    params: &ReconfigParams,
) -> Vec<Action> {
    let mut out = Vec::new();
    let health = &snapshot.health;
    let targets: Vec<&NodeAddr> = health
        .alive()
        .filter(|n| !snapshot.draining.contains(*n))
        .collect();
    let eligible = |config: &PartitionConfig, n: &NodeAddr| {
        !config.has_member(n)
            && snapshot
                .avoid
                .get(&config.gpid)
                .is_none_or(|a| !a.contains(n))
    };
    for config in &snapshot.partitions {
        if load.moves >= params.max_moves {
            return out;
        }
        if !movable(config, snapshot, busy) {
            continue;
        }
        let Some(leaving) = config.members().find(|m| snapshot.draining.contains(*m)) else {
            continue;
        };
        if config.primary.as_ref() == Some(leaving) {
            if let Some(to) = best_new_primary(config, snapshot, health, leaving) {
                busy.insert(config.gpid);
                out.push(Action::SwitchPrimary {
                    gpid: config.gpid,
                    ballot: config.ballot,
                    to,
                });
            }
            continue;
        }
        let to = targets
            .iter()
            .filter(|n| eligible(config, n))
            .min_by_key(|n| (load.settled_replicas(n), (**n).clone()));
        if let Some(to) = to {
            out.push(start(config, leaving, to, busy, load));
        }
    }
    while params.balance_replicas && load.moves < params.max_moves {
        let mut best: Option<(u32, usize, &NodeAddr, &NodeAddr)> = None;
        for (i, config) in snapshot.partitions.iter().enumerate() {
            if !movable(config, snapshot, busy) {
                continue;
            }
            for from in config.secondaries.iter().filter(|s| targets.contains(s)) {
                let have = load.settled_replicas(from);
                for to in targets.iter().filter(|t| eligible(config, t)) {
                    let gap = have.saturating_sub(load.settled_replicas(to));
                    if gap < 2 {
                        continue;
                    }
                    let better = match best {
                        None => true,
                        Some((g, bi, bf, bt)) => {
                            gap > g || (gap == g && (i, from, *to) < (bi, bf, bt))
                        }
                    };
                    if better {
                        best = Some((gap, i, from, to));
                    }
                }
            }
        }
        let Some((_, i, from, to)) = best else {
            break;
        };
        let (from, to) = (from.clone(), to.clone());
        out.push(start(&snapshot.partitions[i], &from, &to, busy, load));
    }
    out
}

/// A [`Action::StartMove`], counted in `load` and `busy`.
fn start(
    config: &PartitionConfig,
    from: &NodeAddr,
    to: &NodeAddr,
    busy: &mut BTreeSet<Gpid>,
    load: &mut Load,
) -> Action {
    busy.insert(config.gpid);
    *load.replicas.entry(to.clone()).or_default() += 1;
    *load.moving_out.entry(from.clone()).or_default() += 1;
    load.moves += 1;
    Action::StartMove {
        gpid: config.gpid,
        ballot: config.ballot,
        from: from.clone(),
        to: to.clone(),
    }
}

/// One step of a balance plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PlannedStep {
    /// The replica of `gpid` on `from` moves to `to`.
    Move {
        gpid: Gpid,
        from: NodeAddr,
        to: NodeAddr,
    },
    /// The lead of `gpid` moves from `from` to its secondary `to`.
    SwitchPrimary {
        gpid: Gpid,
        from: NodeAddr,
        to: NodeAddr,
    },
}

/// What meta would do from here until the cluster is balanced and every
/// draining server empty, assuming every learner catches up and every
/// server stays alive: moves in flight count as done, then rules 7 and 8
/// run round after round (without the in-flight limit) on the configurations
/// the earlier steps leave. `tables` holds each table's replica count and
/// partitions. Stops after `limit` steps.
pub(crate) fn plan_to_balance(
    tables: &[(u32, Vec<PartitionConfig>)],
    in_flight: &std::collections::BTreeMap<Gpid, ReplicaMove>,
    health: &Health,
    draining: &BTreeSet<NodeAddr>,
    params: &ReconfigParams,
    limit: usize,
) -> Vec<PlannedStep> {
    let mut tables: Vec<(u32, Vec<PartitionConfig>)> = tables.to_vec();
    for (_, partitions) in &mut tables {
        for config in partitions.iter_mut() {
            if let Some(mv) = in_flight.get(&config.gpid) {
                if config.secondaries.contains(&mv.from) && !config.has_member(&mv.to) {
                    *config = moved(config, &mv.from, &mv.to);
                }
            }
        }
    }
    let params = ReconfigParams {
        max_moves: usize::MAX,
        max_primary_switches: if params.max_primary_switches == 0 {
            0
        } else {
            usize::MAX
        },
        ..params.clone()
    };
    let mut steps = Vec::new();
    while steps.len() < limit {
        let mut load = Load::of(tables.iter().flat_map(|(_, p)| p), []);
        let before = steps.len();
        for (replica_count, partitions) in &mut tables {
            let snapshot = Snapshot {
                replica_count: *replica_count,
                partitions: partitions.clone(),
                health: health.clone(),
                reports: everyone_caught_up(partitions),
                draining: draining.clone(),
                ..Snapshot::default()
            };
            let mut busy = BTreeSet::new();
            let mut actions = plan_moves(&snapshot, &mut busy, &mut load, &params);
            actions.extend(super::balance::plan_primary_switches(
                &snapshot, &busy, &mut load, &params,
            ));
            for action in actions {
                let Some(config) = partitions.iter_mut().find(|c| c.gpid == action.gpid()) else {
                    continue;
                };
                match action {
                    Action::StartMove { from, to, gpid, .. } => {
                        *config = moved(config, &from, &to);
                        steps.push(PlannedStep::Move { gpid, from, to });
                    }
                    Action::SwitchPrimary { to, gpid, .. } => {
                        let Some(from) = config.primary.clone() else {
                            continue;
                        };
                        *config = super::validate::switched_config(config, &to);
                        steps.push(PlannedStep::SwitchPrimary { gpid, from, to });
                    }
                    _ => {}
                }
            }
        }
        if steps.len() == before {
            break;
        }
    }
    steps.truncate(limit);
    steps
}

/// `config` after the move of `from`'s replica to `to` (next ballot).
fn moved(config: &PartitionConfig, from: &NodeAddr, to: &NodeAddr) -> PartitionConfig {
    let mut next = config.clone();
    next.ballot = config.ballot.next();
    next.secondaries.retain(|s| s != from);
    next.secondaries.push(to.clone());
    next
}

/// Reports in which every member of every partition stands at the same
/// decree of the current ballot (a dry run's assumption).
fn everyone_caught_up(partitions: &[PartitionConfig]) -> super::model::Reports {
    use petrel_common::ids::Decree;

    use super::model::{ReplicaReport, ReplicaRole};
    super::model::Reports::new(partitions.iter().flat_map(|c| {
        c.members().map(move |m| ReplicaReport {
            node: m.clone(),
            gpid: c.gpid,
            ballot: c.ballot,
            last_committed: Decree(0),
            last_prepared: Decree(0),
            role: if c.primary.as_ref() == Some(m) {
                ReplicaRole::Primary
            } else {
                ReplicaRole::Secondary
            },
            ready_learners: BTreeSet::new(),
            unreachable: Vec::new(),
        })
    }))
}
