//! Rule 6: after a recovery, primaries drift onto the servers that stayed
//! up; planned switches move them back.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use petrel_common::ids::{Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::model::{Action, Health, ReconfigParams, Reports, Snapshot};
use crate::placement::Load;

/// Whether secondary `node` may take the lead of `config` in a planned
/// switch: both it and the primary reported at the current ballot, and it
/// had prepared at least everything the primary had committed.
///
/// The two reports come from different beacons, so under writes their
/// decrees never match; they need not. A commit needs every member, so a
/// secondary at the current ballot holds every committed entry, and the old
/// primary can commit nothing more once `to` acts on the new ballot. What
/// the old primary prepared beyond `to`'s log was never committed: its
/// writers get "outcome unknown" (as in a failover) and the entries are
/// dropped by `to`'s reconciliation (rule 7 of the replica machine). The
/// check only keeps the lead away from a replica reporting from far behind.
pub(crate) fn fully_caught_up(
    config: &PartitionConfig,
    node: &NodeAddr,
    reports: &Reports,
) -> bool {
    let Some(primary) = &config.primary else {
        return false;
    };
    let (Some(p), Some(s)) = (
        reports.at(config.gpid, primary, config.ballot),
        reports.at(config.gpid, node, config.ballot),
    ) else {
        return false;
    };
    config.secondaries.contains(node) && s.last_prepared >= p.last_committed
}

/// Whether a partition may take part in balancing: nothing else planned for
/// it, no learner in progress, every member alive.
fn settled(
    config: &PartitionConfig,
    snapshot: &Snapshot,
    busy: &BTreeSet<Gpid>,
    health: &Health,
) -> bool {
    !busy.contains(&config.gpid)
        && config.primary.is_some()
        && config.members().all(|m| health.is_alive(m))
        && snapshot
            .learners
            .get(&config.gpid)
            .is_none_or(|l| l.iter().all(|n| config.has_member(n)))
}

/// Planned primary switches for the table, at most
/// `params.max_primary_switches`, never to a draining server.
///
/// Primary counts are the cluster's (`load.primaries`, alive servers only).
/// A partition whose primary leads at least `params.balance_threshold` more
/// partitions than one of its fully caught-up secondaries switches to that
/// secondary; the widest gap goes first, then partition order, then the
/// lowest address. Counts are updated after each pick (and in `load`), so a
/// round never overshoots. Partitions in `busy` (something else is planned
/// for them) are left alone.
pub(crate) fn plan_primary_switches(
    snapshot: &Snapshot,
    busy: &BTreeSet<Gpid>,
    load: &mut Load,
    params: &ReconfigParams,
) -> Vec<Action> {
    let health = &snapshot.health;
    let threshold = params.balance_threshold.max(2);
    let mut counts: BTreeMap<NodeAddr, u32> = health
        .alive()
        .map(|n| (n.clone(), load.primaries.get(n).copied().unwrap_or(0)))
        .collect();
    let mut switched: BTreeSet<Gpid> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < params.max_primary_switches {
        let mut best: Option<(u32, Reverse<usize>, Reverse<&NodeAddr>)> = None;
        for (i, config) in snapshot.partitions.iter().enumerate() {
            if switched.contains(&config.gpid) || !settled(config, snapshot, busy, health) {
                continue;
            }
            let Some(primary) = &config.primary else {
                continue;
            };
            let pc = counts.get(primary).copied().unwrap_or(0);
            for s in config
                .secondaries
                .iter()
                .filter(|s| !snapshot.draining.contains(*s))
            {
                let sc = counts.get(s).copied().unwrap_or(0);
                if pc < sc + threshold || !fully_caught_up(config, s, &snapshot.reports) {
                    continue;
                }
                let key = (pc - sc, Reverse(i), Reverse(s));
                if best.as_ref().is_none_or(|b| key > *b) {
                    best = Some(key);
                }
            }
        }
        let Some((_, Reverse(i), Reverse(to))) = best else {
            break;
        };
        let config = &snapshot.partitions[i];
        let from = config
            .primary
            .clone()
            .expect("settled partitions have a primary");
        for (node, delta) in [(&from, -1i64), (to, 1)] {
            for c in [
                counts.entry(node.clone()).or_default(),
                load.primaries.entry(node.clone()).or_default(),
            ] {
                *c = (*c as i64 + delta).max(0) as u32;
            }
        }
        switched.insert(config.gpid);
        out.push(Action::SwitchPrimary {
            gpid: config.gpid,
            ballot: config.ballot,
            to: to.clone(),
        });
    }
    out
}
