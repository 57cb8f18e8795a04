//! Rules 4 and 5: learners for under-replicated partitions, and their
//! promotion to secondary once caught up.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use petrel_common::ids::NodeAddr;
use petrel_common::partition::PartitionConfig;

use super::model::{Action, Change, DropWhy, Health, ReconfigParams, Reports, Snapshot};
use crate::placement::Load;

/// Whether the learner on `node` has caught up: the primary's report at the
/// current ballot lists it in `ready_learners` (the primary counts it for
/// commit from then on, so nothing can commit without it), and the learner
/// itself reported at the current ballot.
///
/// Decrees are not compared: the two reports are taken at different moments,
/// so under a steady write load a learner's reported commit point trails the
/// primary's by whatever committed in between, and would keep it a learner
/// forever. The primary's word is the one that knows.
pub(crate) fn learner_caught_up(
    config: &PartitionConfig,
    node: &NodeAddr,
    reports: &Reports,
) -> bool {
    let Some(primary) = &config.primary else {
        return false;
    };
    let Some(p) = reports.at(config.gpid, primary, config.ballot) else {
        return false;
    };
    p.ready_learners.contains(node) && reports.at(config.gpid, node, config.ballot).is_some()
}

/// Promotes one caught-up learner to secondary (ballot + 1), when the
/// partition is below `replica_count` and its primary is alive. Of several
/// caught-up learners the one with the longest log wins, then the lowest
/// address.
pub(crate) fn decide_learner_promotion<'a>(
    config: &PartitionConfig,
    replica_count: u32,
    learners: impl IntoIterator<Item = &'a NodeAddr>,
    health: &Health,
    reports: &Reports,
) -> Option<Action> {
    let primary = config.primary.as_ref()?;
    if !health.is_alive(primary) || config.members().count() >= replica_count as usize {
        return None;
    }
    let learner = learners
        .into_iter()
        .filter(|l| health.is_alive(l) && !config.has_member(l))
        .filter(|l| learner_caught_up(config, l, reports))
        .max_by_key(|l| {
            let r = reports.at(config.gpid, l, config.ballot);
            (r.map(|r| (r.last_committed, r.last_prepared)), Reverse(*l))
        })?
        .clone();
    let mut next = config.clone();
    next.ballot = config.ballot.next();
    next.secondaries.push(learner.clone());
    Some(Action::Reconfigure {
        ballot: config.ballot,
        config: next,
        change: Change::PromoteLearner { learner },
    })
}

/// Learners to start or drop for one partition whose configuration is not
/// changing this round.
///
/// Learners need a live primary to learn from and a configuration whose
/// members are all alive (otherwise a failover comes first). Dead learners
/// are dropped, and so is every learner of a partition that is already full.
/// Each missing member (below `replica_count`, counting learners in
/// progress) is then filled, in this order:
///
/// 1. the server the admin asked for, if it is eligible;
/// 2. dropped members that are alive again, most recently dropped first
///    (they hold most of the data; a returning member truncates its
///    uncommitted tail before it learns);
/// 3. any other alive server, least loaded first (fewest replicas, then
///    fewest primaries, then address) — except that each dropped member that
///    is dead but silent for no longer than `dropout_delay` keeps one slot
///    open for its return, unless the admin asked for a learner.
///
/// Eligible means alive, not draining, not a member, not already learning,
/// not in the partition's `avoid` set. `health` is the snapshot's, as seen for this
/// partition (a failed replica's server counts as dead here). `load` gains
/// one replica per chosen server.
pub(crate) fn plan_learners(
    config: &PartitionConfig,
    snapshot: &Snapshot,
    health: &Health,
    params: &ReconfigParams,
    load: &mut Load,
) -> Vec<Action> {
    let gpid = config.gpid;
    let mut out = Vec::new();
    let primary_alive = config.primary.as_ref().is_some_and(|p| health.is_alive(p));
    if !primary_alive || config.members().any(|m| !health.is_alive(m)) {
        return out;
    }
    let members = config.members().count();
    let full = members >= snapshot.replica_count as usize;
    let mut learning: BTreeSet<NodeAddr> = BTreeSet::new();
    for l in snapshot.learners_of(gpid) {
        if config.has_member(l) {
            continue;
        }
        if full || !health.is_alive(l) {
            out.push(Action::DropLearner {
                gpid,
                ballot: config.ballot,
                node: l.clone(),
                why: if full { DropWhy::Full } else { DropWhy::Dead },
            });
        } else {
            learning.insert(l.clone());
        }
    }
    if full {
        return out;
    }
    let mut missing = (snapshot.replica_count as usize - members).saturating_sub(learning.len());
    if missing == 0 {
        return out;
    }
    let avoid = snapshot.avoid.get(&gpid);
    let eligible = |n: &NodeAddr, chosen: &BTreeSet<NodeAddr>| {
        health.is_alive(n)
            && !snapshot.draining.contains(n)
            && !config.has_member(n)
            && !learning.contains(n)
            && !chosen.contains(n)
            && avoid.is_none_or(|a| !a.contains(n))
    };
    // `picked` keeps the order of preference, `chosen` answers "taken?".
    let mut picked: Vec<NodeAddr> = Vec::new();
    let mut chosen: BTreeSet<NodeAddr> = BTreeSet::new();
    let admin = snapshot.admin_add_learner.get(&gpid);
    if let Some(Some(n)) = admin {
        if eligible(n, &chosen) {
            chosen.insert(n.clone());
            picked.push(n.clone());
            missing -= 1;
        }
    }
    let dropped = snapshot
        .dropped
        .get(&gpid)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for n in dropped.iter().rev() {
        if missing == 0 {
            break;
        }
        if eligible(n, &chosen) {
            chosen.insert(n.clone());
            picked.push(n.clone());
            missing -= 1;
        }
    }
    let held = if admin.is_some() {
        0
    } else {
        dropped
            .iter()
            .filter(|n| {
                !health.is_alive(n)
                    && !config.has_member(n)
                    && !health.dead_longer_than(n, params.dropout_delay)
            })
            .collect::<BTreeSet<_>>()
            .len()
    };
    missing = missing.saturating_sub(held);
    for n in &picked {
        *load.replicas.entry(n.clone()).or_default() += 1;
    }
    for _ in 0..missing {
        let pick = health
            .alive()
            .filter(|n| eligible(n, &chosen))
            .min_by_key(|n| {
                (
                    load.replicas.get(*n).copied().unwrap_or(0),
                    load.primaries.get(*n).copied().unwrap_or(0),
                    (*n).clone(),
                )
            })
            .cloned();
        let Some(n) = pick else { break };
        *load.replicas.entry(n.clone()).or_default() += 1;
        chosen.insert(n.clone());
        picked.push(n);
    }
    out.extend(picked.into_iter().map(|node| Action::AddLearner {
        gpid,
        ballot: config.ballot,
        node,
    }));
    out
}

/// The actions planned for one partition, unless one of them drops a
/// learner the primary lists as ready at the current ballot: the primary
/// counts such a learner for commit until a new ballot, so it cannot simply
/// be forgotten (every write would wait for it). Then the answer is a single
/// new ballot with the same members that drops every learner `planned`
/// drops ([`Change::CancelLearners`]); learners to add wait for the next
/// round.
pub(crate) fn cancel_ready_learners(
    config: &PartitionConfig,
    planned: Vec<Action>,
    reports: &Reports,
) -> Vec<Action> {
    let ready = config
        .primary
        .as_ref()
        .and_then(|p| reports.at(config.gpid, p, config.ballot))
        .map(|r| &r.ready_learners);
    let dropped: Vec<(NodeAddr, DropWhy)> = planned
        .iter()
        .filter_map(|a| match a {
            Action::DropLearner { node, why, .. } => Some((node.clone(), *why)),
            _ => None,
        })
        .collect();
    if !dropped
        .iter()
        .any(|(n, _)| ready.is_some_and(|r| r.contains(n)))
    {
        return planned;
    }
    let mut next = config.clone();
    next.ballot = config.ballot.next();
    vec![Action::Reconfigure {
        ballot: config.ballot,
        config: next,
        change: Change::CancelLearners { learners: dropped },
    }]
}

/// A new ballot with the same members when the primary's report at the
/// current ballot lists as ready a server that is neither a member nor one
/// of meta's `learners`: the primary counts it for commit, so if that server
/// died every write would wait for it, and meta would never promote nor
/// drop it. (A primary forgets learners meta no longer lists; this closes
/// the window in which it had already counted one.)
pub(crate) fn cancel_stray_learners<'a>(
    config: &PartitionConfig,
    learners: impl IntoIterator<Item = &'a NodeAddr>,
    reports: &Reports,
) -> Option<Action> {
    let report = reports.at(config.gpid, config.primary.as_ref()?, config.ballot)?;
    let known: BTreeSet<&NodeAddr> = learners.into_iter().collect();
    let strays: Vec<(NodeAddr, DropWhy)> = report
        .ready_learners
        .iter()
        .filter(|l| !config.has_member(l) && !known.contains(l))
        .map(|l| (l.clone(), DropWhy::Stray))
        .collect();
    if strays.is_empty() {
        return None;
    }
    let mut next = config.clone();
    next.ballot = config.ballot.next();
    Some(Action::Reconfigure {
        ballot: config.ballot,
        config: next,
        change: Change::CancelLearners { learners: strays },
    })
}
