//! Where partitions go.
//!
//! Each partition's members are distinct servers; members are chosen least
//! loaded first (primaries and replicas counted separately, primaries
//! weighing more), so primaries spread evenly across servers and across tables.

use std::collections::BTreeMap;

use petrel_common::ids::NodeAddr;
use petrel_common::partition::PartitionConfig;

/// Current load of each live server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Load {
    pub(crate) primaries: BTreeMap<NodeAddr, u32>,
    /// Members and learners (a move's learner included).
    pub(crate) replicas: BTreeMap<NodeAddr, u32>,
    /// Replicas moving away from each server (still counted in `replicas`).
    pub(crate) moving_out: BTreeMap<NodeAddr, u32>,
    /// Replica moves in flight in the whole cluster.
    pub(crate) moves: usize,
}

impl Load {
    /// The load of `partitions` (each primary, and each member as a
    /// replica) with a move in flight away from each server of `moving_from`.
    pub(crate) fn of<'a>(
        partitions: impl IntoIterator<Item = &'a PartitionConfig>,
        moving_from: impl IntoIterator<Item = &'a NodeAddr>,
    ) -> Load {
        let mut load = Load::default();
        for p in partitions {
            if let Some(primary) = &p.primary {
                *load.primaries.entry(primary.clone()).or_default() += 1;
            }
            for m in p.members() {
                *load.replicas.entry(m.clone()).or_default() += 1;
            }
        }
        for from in moving_from {
            *load.moving_out.entry(from.clone()).or_default() += 1;
            load.moves += 1;
        }
        load
    }

    /// Replicas `node` will hold once its moves in flight are done.
    pub(crate) fn settled_replicas(&self, node: &NodeAddr) -> u32 {
        let r = self.replicas.get(node).copied().unwrap_or(0);
        r.saturating_sub(self.moving_out.get(node).copied().unwrap_or(0))
    }
}

/// Chooses `members` distinct servers for each of `partitions` partitions;
/// the first of each list is the primary. Needs `members <= live.len()`.
pub(crate) fn place(
    partitions: u32,
    members: usize,
    live: &[NodeAddr],
    load: &mut Load,
) -> Vec<Vec<NodeAddr>> {
    let mut out = Vec::with_capacity(partitions as usize);
    for _ in 0..partitions {
        let mut chosen: Vec<NodeAddr> = Vec::with_capacity(members);
        for slot in 0..members {
            let pick = live
                .iter()
                .filter(|n| !chosen.contains(n))
                .min_by_key(|n| {
                    let p = load.primaries.get(*n).copied().unwrap_or(0);
                    let r = load.replicas.get(*n).copied().unwrap_or(0);
                    if slot == 0 {
                        (p, r)
                    } else {
                        (r, p)
                    }
                })
                .cloned();
            let Some(node) = pick else { break };
            if slot == 0 {
                *load.primaries.entry(node.clone()).or_default() += 1;
            }
            *load.replicas.entry(node.clone()).or_default() += 1;
            chosen.push(node);
        }
        out.push(chosen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<NodeAddr> {
        (0..n)
            .map(|i| NodeAddr(format!("127.0.0.1:{}", 100 + i)))
            .collect()
    }

    #[test]
    fn primaries_are_balanced_and_members_distinct() {
        let live = nodes(3);
        let mut load = Load::default();
        let placed = place(8, 3, &live, &mut load);
        assert_eq!(placed.len(), 8);
        for members in &placed {
            assert_eq!(members.len(), 3);
            let mut m = members.clone();
            m.sort();
            m.dedup();
            assert_eq!(m.len(), 3, "members must be distinct: {members:?}");
        }
        let counts: Vec<u32> = live.iter().map(|n| load.primaries[n]).collect();
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "{counts:?}"
        );
    }

    #[test]
    fn balance_carries_across_tables() {
        let live = nodes(3);
        let mut load = Load::default();
        place(4, 1, &live, &mut load);
        place(2, 1, &live, &mut load);
        let counts: Vec<u32> = live.iter().map(|n| load.primaries[n]).collect();
        assert_eq!(counts, vec![2, 2, 2]);
    }
}
