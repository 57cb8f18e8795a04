//! Meta's durable state: tables, their partition configurations, known
//! servers, learners in progress, recently dropped members, replica moves
//! in flight and servers being drained.
//!
//! Every method here is pure (no I/O) so it can be tested directly; the
//! service persists the state after each change and before it answers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use petrel_common::ids::{Ballot, Gpid, NodeAddr, PartitionId, TableId};
use petrel_common::partition::{PartitionConfig, TableMap};
use serde::{Deserialize, Serialize};

use crate::placement::{place, Load};
use crate::reconfig::balance::fully_caught_up;
use crate::reconfig::{
    switched_config, validate_config, Action, Change, DropWhy, Health, Invalid, ReplicaMove,
    Reports,
};

/// Largest partition count a table may have.
pub(crate) const MAX_PARTITIONS: u32 = 65536;

/// A request meta refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    #[error("table '{0}' already exists")]
    TableExists(String),
    #[error("no table named '{0}'")]
    NoSuchTable(String),
    #[error("invalid table name '{0}': use 1-128 characters from [A-Za-z0-9_.-]")]
    BadName(String),
    #[error("partition count {0} must be a power of two between 1 and {MAX_PARTITIONS}")]
    BadPartitionCount(u32),
    #[error("replica count must be at least 1")]
    BadReplicaCount,
    #[error("not enough live servers: {live} alive, replica count {needed} needs that many")]
    NotEnoughServers { live: usize, needed: u32 },
    #[error("no server {0} has registered with meta")]
    NoSuchNode(NodeAddr),
    #[error("table '{table}' is still splitting: {unbuilt} of its partitions are not built yet")]
    StillSplitting { table: String, unbuilt: usize },
}

impl From<MetaError> for petrel_common::rpc::ServiceError {
    fn from(e: MetaError) -> Self {
        use petrel_common::rpc::ServiceError as S;
        let text = e.to_string();
        match e {
            MetaError::TableExists(_) => S::AlreadyExists(text),
            MetaError::NoSuchTable(_) | MetaError::NoSuchNode(_) => S::NotFound(text),
            MetaError::BadName(_)
            | MetaError::BadPartitionCount(_)
            | MetaError::BadReplicaCount => S::Invalid(text),
            MetaError::NotEnoughServers { .. } | MetaError::StillSplitting { .. } => {
                S::Unavailable(text)
            }
        }
    }
}

/// Everything meta must not forget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    /// Table ids are never reused, so a recreated table never meets old replicas.
    pub(crate) next_table_id: u32,
    pub tables: BTreeMap<String, TableMap>,
    /// Every server that ever registered.
    pub(crate) nodes: BTreeSet<NodeAddr>,
    /// Learners in progress per partition (never members of it). Persisted,
    /// so a meta restart does not make the servers close a half-copied
    /// replica.
    #[serde(default, with = "gpid_map")]
    pub(crate) learners: BTreeMap<Gpid, BTreeSet<NodeAddr>>,
    /// Members removed from a partition's configuration, most recent last:
    /// preferred as learners when they return, and their slot is held for
    /// the dropout delay while they are dead.
    #[serde(default, with = "gpid_map")]
    pub dropped: BTreeMap<Gpid, Vec<NodeAddr>>,
    /// Replica moves in flight (balancing and draining); each move's `to`
    /// is also one of the partition's `learners`.
    #[serde(default, with = "gpid_map")]
    pub moves: BTreeMap<Gpid, ReplicaMove>,
    /// Servers being drained: every replica moves off them, none arrives.
    #[serde(default)]
    pub draining: BTreeSet<NodeAddr>,
    /// Scripts and function libraries, cluster-wide (absent from files
    /// written before meta kept them).
    #[serde(default)]
    pub(crate) scripting: crate::scripting::Scripting,
    /// Cluster settings (`CONFIG SET` of cluster parameters; absent from
    /// files written before meta kept them).
    #[serde(default)]
    pub(crate) settings: crate::settings::Settings,
    /// The partition count each table that has split was created with:
    /// its partitions from that index on were made by splits, and their
    /// members build them from the parent, never empty.
    #[serde(default)]
    pub(crate) created_with: BTreeMap<u32, u32>,
    /// Partitions made by a split that no member has reported hosting yet.
    /// Until one does, no rule changes them: they follow their parent's
    /// configuration, whose members are the servers that will build them.
    #[serde(default)]
    pub unbuilt: BTreeSet<Gpid>,
}

/// JSON object keys must be strings: maps keyed by [`Gpid`] are stored as a
/// list of `[gpid, value]` pairs.
mod gpid_map {
    use std::collections::BTreeMap;

    use petrel_common::ids::Gpid;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer, V: Serialize>(
        map: &BTreeMap<Gpid, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        d: D,
    ) -> Result<BTreeMap<Gpid, V>, D::Error> {
        Ok(Vec::<(Gpid, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// One replica a server should host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) table_name: String,
    pub(crate) partition_count: u32,
    pub(crate) config: PartitionConfig,
    /// The server hosts it as a learner (it is not in `config`).
    pub(crate) learner: bool,
    /// (For the primary) the partition's learners, which it must invite.
    pub(crate) learners: Vec<NodeAddr>,
    /// The partition was made by a split (its members never create it empty).
    pub(crate) from_split: bool,
    /// The partition count the table was created with.
    pub(crate) created_with: u32,
}

/// Why a configuration changed, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A rule of [`crate::reconfig`].
    Change(Change),
    /// A planned primary switch (balancing).
    PlannedSwitch,
}

impl Cause {
    /// A short name for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Cause::Change(c) => c.kind(),
            Cause::PlannedSwitch => "switch_primary",
        }
    }
}

/// What carrying out an [`Action`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    Reconfigured {
        table: String,
        old: PartitionConfig,
        new: PartitionConfig,
        cause: Cause,
    },
    LearnerAdded {
        table: String,
        gpid: Gpid,
        node: NodeAddr,
    },
    LearnerDropped {
        table: String,
        gpid: Gpid,
        node: NodeAddr,
        why: DropWhy,
    },
    MoveStarted {
        table: String,
        gpid: Gpid,
        from: NodeAddr,
        to: NodeAddr,
    },
}

/// Why an [`Action`] was not carried out. None of these is an error of
/// meta: the action was decided on a view that is no longer current.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum NotApplied {
    #[error("partition {0} does not exist")]
    NoPartition(Gpid),
    #[error("decided at ballot {decided}, the ballot is now {current}")]
    StaleBallot { decided: Ballot, current: Ballot },
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Invalid),
    #[error("{to} is not a secondary whose log matches the primary's at this ballot")]
    NotCaughtUp { to: NodeAddr },
    #[error("{0} is a member")]
    AlreadyMember(NodeAddr),
    #[error("{0} is learning already")]
    AlreadyLearning(NodeAddr),
    #[error("{0} is not a learner")]
    NotALearner(NodeAddr),
    #[error("{0} is not a secondary")]
    NotASecondary(NodeAddr),
    #[error("partition {0} has a move in flight already")]
    AlreadyMoving(Gpid),
}

/// The partitions split from `parent` in a table of `count` partitions
/// (partition `p + n` of every doubling `n` above `p`).
fn split_children(parent: Gpid, count: u32) -> Vec<Gpid> {
    let mut out = Vec::new();
    let p = parent.partition.0;
    let mut n = (p + 1).next_power_of_two();
    while n < count {
        if p < n {
            out.push(Gpid {
                table: parent.table,
                partition: PartitionId(p + n),
            });
        }
        n *= 2;
    }
    out
}

impl MetaState {
    /// Forgets the unbuilt partitions that every alive member now reports
    /// hosting (one at least). Until then no rule touches them: a member
    /// still building its copy is not removed as unreachable by the
    /// primary that built first.
    pub(crate) fn note_built(
        &mut self,
        hosts: impl Fn(&NodeAddr, Gpid) -> bool,
        alive: impl Fn(&NodeAddr) -> bool,
    ) {
        let tables = &self.tables;
        self.unbuilt.retain(|g| {
            let config = tables
                .values()
                .find(|t| t.id == g.table)
                .and_then(|t| t.partition(g.partition));
            let built = config.is_some_and(|c| {
                c.members().any(|m| hosts(m, *g)) && c.members().all(|m| hosts(m, *g) || !alive(m))
            });
            config.is_some() && !built
        });
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl MetaState {
    /// Records a server; returns whether it was new (and so must be persisted).
    pub fn register_node(&mut self, node: &NodeAddr) -> bool {
        self.nodes.insert(node.clone())
    }

    /// How many primaries and replicas each server holds now.
    pub(crate) fn load(&self) -> Load {
        Load::of(
            self.tables.values().flat_map(|t| &t.partitions),
            self.moves.values().map(|mv| &mv.from),
        )
    }

    /// Creates a table and places its partitions on `live` servers (those
    /// not being drained): each
    /// partition gets `replica_count` members on distinct servers, primaries
    /// balanced across servers (the first member leads), at ballot 1.
    pub fn create_table(
        &mut self,
        name: &str,
        partition_count: u32,
        replica_count: u32,
        live: &[NodeAddr],
    ) -> Result<TableMap, MetaError> {
        if !valid_name(name) {
            return Err(MetaError::BadName(name.to_string()));
        }
        if self.tables.contains_key(name) {
            return Err(MetaError::TableExists(name.to_string()));
        }
        if partition_count == 0
            || !partition_count.is_power_of_two()
            || partition_count > MAX_PARTITIONS
        {
            return Err(MetaError::BadPartitionCount(partition_count));
        }
        if replica_count == 0 {
            return Err(MetaError::BadReplicaCount);
        }
        // Nothing new is placed on a server being drained.
        let live: Vec<NodeAddr> = live
            .iter()
            .filter(|n| !self.draining.contains(*n))
            .cloned()
            .collect();
        let live = live.as_slice();
        if live.len() < replica_count as usize {
            return Err(MetaError::NotEnoughServers {
                live: live.len(),
                needed: replica_count,
            });
        }
        self.next_table_id += 1;
        let id = TableId(self.next_table_id);
        let mut load = self.load();
        let placed = place(partition_count, replica_count as usize, live, &mut load);
        let partitions = placed
            .into_iter()
            .enumerate()
            .map(|(i, members)| PartitionConfig {
                gpid: Gpid {
                    table: id,
                    partition: PartitionId(i as u32),
                },
                ballot: Ballot(1),
                primary: members.first().cloned(),
                secondaries: members.into_iter().skip(1).collect(),
            })
            .collect();
        let table = TableMap {
            id,
            name: name.to_string(),
            partition_count,
            replica_count,
            version: 1,
            partitions,
        };
        self.tables.insert(name.to_string(), table.clone());
        Ok(table)
    }

    /// Doubles the partition count of table `name` (an online split):
    /// partition `p + n` of the new `2n` starts with the configuration of
    /// its parent `p` (same members, same primary and ballot), and each of
    /// the parent's replicas builds it when the split reaches it (the
    /// servers' `replica::shell::split`). `unbuilt` counts the table's
    /// partitions whose primary has not reported them yet: a table still
    /// splitting is not split again.
    pub(crate) fn split_table(
        &mut self,
        name: &str,
        unbuilt: usize,
    ) -> Result<TableMap, MetaError> {
        let table = self
            .tables
            .get_mut(name)
            .ok_or_else(|| MetaError::NoSuchTable(name.to_string()))?;
        if unbuilt > 0 {
            return Err(MetaError::StillSplitting {
                table: name.to_string(),
                unbuilt,
            });
        }
        let n = table.partition_count;
        let doubled = n.checked_mul(2).filter(|c| *c <= MAX_PARTITIONS);
        let Some(count) = doubled else {
            return Err(MetaError::BadPartitionCount(n.saturating_mul(2)));
        };
        self.created_with.entry(table.id.0).or_insert(n);
        self.unbuilt.extend((n..count).map(|p| Gpid {
            table: table.id,
            partition: PartitionId(p),
        }));
        let children: Vec<PartitionConfig> = table
            .partitions
            .iter()
            .map(|p| PartitionConfig {
                gpid: Gpid {
                    table: table.id,
                    partition: PartitionId(p.gpid.partition.0 + n),
                },
                ..p.clone()
            })
            .collect();
        table.partitions.extend(children);
        table.partition_count = count;
        table.version += 1;
        Ok(table.clone())
    }

    /// Drops a table; its replicas are closed and removed by their servers.
    pub(crate) fn drop_table(&mut self, name: &str) -> Result<TableMap, MetaError> {
        let table = self
            .tables
            .remove(name)
            .ok_or_else(|| MetaError::NoSuchTable(name.to_string()))?;
        self.learners.retain(|g, _| g.table != table.id);
        self.dropped.retain(|g, _| g.table != table.id);
        self.moves.retain(|g, _| g.table != table.id);
        self.created_with.remove(&table.id.0);
        self.unbuilt.retain(|g| g.table != table.id);
        Ok(table)
    }

    /// Every replica `node` should host: as a member (the primary's
    /// assignment lists the partition's learners) or as a learner.
    pub(crate) fn assignments_for(&self, node: &NodeAddr) -> Vec<Assignment> {
        let mut out = Vec::new();
        for t in self.tables.values() {
            for p in &t.partitions {
                let learners = self.learners.get(&p.gpid);
                let learner = !p.has_member(node) && learners.is_some_and(|l| l.contains(node));
                if !p.has_member(node) && !learner {
                    continue;
                }
                let is_primary = p.primary.as_ref() == Some(node);
                let created_with = self
                    .created_with
                    .get(&t.id.0)
                    .copied()
                    .unwrap_or(t.partition_count);
                out.push(Assignment {
                    table_name: t.name.clone(),
                    partition_count: t.partition_count,
                    from_split: p.gpid.partition.0 >= created_with,
                    created_with,
                    config: p.clone(),
                    learner,
                    learners: if is_primary {
                        learners
                            .into_iter()
                            .flatten()
                            .filter(|l| !p.has_member(l))
                            .cloned()
                            .collect()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        out
    }

    /// The table holding `gpid` and the partition's index in it.
    fn locate_mut(&mut self, gpid: Gpid) -> Result<(&mut TableMap, usize), NotApplied> {
        let table = self
            .tables
            .values_mut()
            .find(|t| t.id == gpid.table)
            .ok_or(NotApplied::NoPartition(gpid))?;
        let i = gpid.partition.0 as usize;
        match table.partitions.get(i) {
            Some(c) if c.gpid == gpid => Ok((table, i)),
            _ => Err(NotApplied::NoPartition(gpid)),
        }
    }

    /// The current configuration of `gpid`, if it exists.
    pub(crate) fn partition(&self, gpid: Gpid) -> Option<&PartitionConfig> {
        self.tables
            .values()
            .find(|t| t.id == gpid.table)
            .and_then(|t| t.partition(gpid.partition))
            .filter(|c| c.gpid == gpid)
    }

    /// Carries out `action` if the partition is still at the ballot it was
    /// decided at (and, for a new configuration, if [`validate_config`]
    /// accepts it). The caller persists the state before anyone sees it.
    ///
    /// - A new configuration bumps the table's version, remembers the
    ///   members it removes as dropped, and forgets as learners and as
    ///   dropped whoever is a member now.
    /// - A planned switch to `to` needs `health`-alive `to`, caught up as
    ///   [`fully_caught_up`] says.
    pub(crate) fn apply(
        &mut self,
        action: &Action,
        health: &Health,
        reports: &Reports,
    ) -> Result<Applied, NotApplied> {
        let gpid = action.gpid();
        let (table, i) = self.locate_mut(gpid)?;
        let current = table.partitions[i].clone();
        if current.ballot != action.ballot() {
            return Err(NotApplied::StaleBallot {
                decided: action.ballot(),
                current: current.ballot,
            });
        }
        let table_name = table.name.clone();
        match action {
            Action::Reconfigure { config, change, .. } => {
                validate_config(&current, config, health)?;
                self.set_config(
                    &table_name,
                    current,
                    config.clone(),
                    Cause::Change(change.clone()),
                )
            }
            Action::SwitchPrimary { to, .. } => {
                if !fully_caught_up(&current, to, reports) {
                    return Err(NotApplied::NotCaughtUp { to: to.clone() });
                }
                let next = switched_config(&current, to);
                validate_config(&current, &next, health)?;
                self.set_config(&table_name, current, next, Cause::PlannedSwitch)
            }
            Action::AddLearner { node, .. } => {
                if current.has_member(node) {
                    return Err(NotApplied::AlreadyMember(node.clone()));
                }
                if !self.learners.entry(gpid).or_default().insert(node.clone()) {
                    return Err(NotApplied::AlreadyLearning(node.clone()));
                }
                Ok(Applied::LearnerAdded {
                    table: table_name,
                    gpid,
                    node: node.clone(),
                })
            }
            Action::StartMove { from, to, .. } => {
                if !current.secondaries.contains(from) {
                    return Err(NotApplied::NotASecondary(from.clone()));
                }
                if current.has_member(to) {
                    return Err(NotApplied::AlreadyMember(to.clone()));
                }
                if self.moves.contains_key(&gpid) {
                    return Err(NotApplied::AlreadyMoving(gpid));
                }
                if !self.learners.entry(gpid).or_default().insert(to.clone()) {
                    return Err(NotApplied::AlreadyLearning(to.clone()));
                }
                self.moves.insert(
                    gpid,
                    ReplicaMove {
                        from: from.clone(),
                        to: to.clone(),
                    },
                );
                Ok(Applied::MoveStarted {
                    table: table_name,
                    gpid,
                    from: from.clone(),
                    to: to.clone(),
                })
            }
            Action::DropLearner { node, why, .. } => {
                let removed = self.learners.get_mut(&gpid).is_some_and(|l| l.remove(node));
                self.learners.retain(|_, l| !l.is_empty());
                self.forget_finished_moves();
                if !removed {
                    return Err(NotApplied::NotALearner(node.clone()));
                }
                Ok(Applied::LearnerDropped {
                    table: table_name,
                    gpid,
                    node: node.clone(),
                    why: *why,
                })
            }
        }
    }

    fn set_config(
        &mut self,
        table_name: &str,
        old: PartitionConfig,
        new: PartitionConfig,
        cause: Cause,
    ) -> Result<Applied, NotApplied> {
        let gpid = new.gpid;
        let unbuilt = self.unbuilt.clone();
        let (table, i) = self.locate_mut(gpid)?;
        table.partitions[i] = new.clone();
        table.version += 1;
        // Children not built yet take the parent's members: they are the
        // servers that will build them when the split reaches them.
        for child in split_children(gpid, table.partition_count) {
            if unbuilt.contains(&child) {
                if let Some(c) = table.partitions.get_mut(child.partition.0 as usize) {
                    *c = PartitionConfig {
                        gpid: child,
                        ballot: Ballot(c.ballot.0 + 1).max(new.ballot),
                        primary: new.primary.clone(),
                        secondaries: new.secondaries.clone(),
                    };
                }
            }
        }
        let cancelled: Vec<NodeAddr> = match &cause {
            Cause::Change(Change::CancelLearners { learners }) => {
                learners.iter().map(|(n, _)| n.clone()).collect()
            }
            _ => Vec::new(),
        };
        if let Some(l) = self.learners.get_mut(&gpid) {
            l.retain(|n| !new.has_member(n) && !cancelled.contains(n));
        }
        self.learners.retain(|_, l| !l.is_empty());
        self.forget_finished_moves();
        let removed = match &cause {
            Cause::Change(c) => c.removed(),
            Cause::PlannedSwitch => Vec::new(),
        };
        let dropped = self.dropped.entry(gpid).or_default();
        for r in removed {
            dropped.retain(|d| *d != r);
            dropped.push(r);
        }
        dropped.retain(|d| !new.has_member(d));
        self.dropped.retain(|_, d| !d.is_empty());
        Ok(Applied::Reconfigured {
            table: table_name.to_string(),
            old,
            new,
            cause,
        })
    }

    /// Forgets moves that are over: their learner joined the configuration
    /// or was dropped, or their partition is gone.
    fn forget_finished_moves(&mut self) {
        let learners = &self.learners;
        self.moves
            .retain(|g, mv| learners.get(g).is_some_and(|l| l.contains(&mv.to)));
    }

    /// Starts (or with `on == false` stops) draining `node`; returns whether
    /// anything changed.
    pub(crate) fn set_draining(&mut self, node: &NodeAddr, on: bool) -> Result<bool, MetaError> {
        if !self.nodes.contains(node) {
            return Err(MetaError::NoSuchNode(node.clone()));
        }
        Ok(if on {
            self.draining.insert(node.clone())
        } else {
            self.draining.remove(node)
        })
    }

    /// Forgets dropped members that are members again, dead for longer than
    /// `dropout_delay` (their slot is given away), or of partitions that no
    /// longer exist; forgets learners of partitions that no longer exist.
    pub(crate) fn forget_dropped(&mut self, health: &Health, dropout_delay: Duration) {
        let configs: BTreeMap<Gpid, PartitionConfig> = self
            .tables
            .values()
            .flat_map(|t| t.partitions.iter().map(|p| (p.gpid, p.clone())))
            .collect();
        for (gpid, nodes) in self.dropped.iter_mut() {
            match configs.get(gpid) {
                Some(c) => {
                    nodes.retain(|n| !c.has_member(n) && !health.dead_longer_than(n, dropout_delay))
                }
                None => nodes.clear(),
            }
        }
        self.dropped.retain(|_, d| !d.is_empty());
        self.learners.retain(|g, _| configs.contains_key(g));
        self.forget_finished_moves();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(n: usize) -> Vec<NodeAddr> {
        (0..n)
            .map(|i| NodeAddr(format!("127.0.0.1:{}", 200 + i)))
            .collect()
    }

    #[test]
    fn a_split_doubles_the_table_children_copying_their_parents_and_built_from_them() {
        let mut st = MetaState::default();
        let l = live(3);
        let before = st.create_table("t", 4, 3, &l).expect("create");
        assert_eq!(
            st.split_table("t", 1),
            Err(MetaError::StillSplitting {
                table: "t".into(),
                unbuilt: 1
            })
        );
        let after = st.split_table("t", 0).expect("split");
        assert_eq!(after.partition_count, 8);
        assert_eq!(after.version, before.version + 1);
        for (i, child) in after.partitions.iter().enumerate() {
            assert_eq!(child.gpid.partition.0, i as u32);
            let parent = &before.partitions[i % 4];
            assert_eq!(
                (&child.primary, &child.secondaries, child.ballot),
                (&parent.primary, &parent.secondaries, parent.ballot)
            );
        }
        // Members build the new partitions from their parents, never empty.
        let node = &l[0];
        let from_split: Vec<(u32, bool)> = st
            .assignments_for(node)
            .iter()
            .map(|a| (a.config.gpid.partition.0, a.from_split))
            .collect();
        assert_eq!(from_split.len(), 8);
        assert!(from_split.iter().all(|(p, f)| *f == (*p >= 4)));
        // An unbuilt child follows its parent's configuration changes, at
        // a new ballot of its own; once a member hosts it, it stops.
        assert_eq!(st.unbuilt.len(), 4);
        let parent = after.partitions[1].clone();
        let moved = PartitionConfig {
            ballot: Ballot(parent.ballot.0 + 1),
            primary: parent.secondaries.first().cloned(),
            secondaries: vec![parent.primary.clone().expect("primary")],
            ..parent.clone()
        };
        st.set_config("t", parent, moved.clone(), Cause::PlannedSwitch)
            .expect("set");
        let child = st
            .partition(Gpid::new(after.id.0, 5))
            .expect("child")
            .clone();
        assert_eq!(
            (&child.primary, &child.secondaries),
            (&moved.primary, &moved.secondaries)
        );
        assert!(child.ballot > after.partitions[5].ballot);
        let unchanged = st.partition(Gpid::new(after.id.0, 6)).expect("other child");
        assert_eq!(unchanged, &after.partitions[6]);
        let host = moved.primary.clone().expect("primary");
        let only = |n: &NodeAddr, g: Gpid| *n == host && g.partition.0 == 5;
        st.note_built(only, |_| true);
        assert_eq!(
            st.unbuilt.len(),
            4,
            "built once every alive member hosts it"
        );
        st.note_built(only, |n| *n == host);
        assert_eq!(st.unbuilt.len(), 3);
        assert!(!st.unbuilt.contains(&Gpid::new(after.id.0, 5)));
        st.note_built(|_, _| true, |_| true);
        assert!(st.unbuilt.is_empty());
        assert_eq!(
            split_children(Gpid::new(1, 2), 32),
            vec![Gpid::new(1, 6), Gpid::new(1, 10), Gpid::new(1, 18)]
        );
        assert_eq!(
            split_children(Gpid::new(1, 0), 8),
            vec![Gpid::new(1, 1), Gpid::new(1, 2), Gpid::new(1, 4)]
        );

        // The created count is kept through a second split.
        st.split_table("t", 0).expect("second split");
        assert_eq!(st.created_with.get(&after.id.0), Some(&4));
        assert_eq!(
            st.split_table("none", 0),
            Err(MetaError::NoSuchTable("none".into()))
        );
        st.drop_table("t").expect("drop");
        assert!(st.created_with.is_empty());
    }

    #[test]
    fn create_validates_its_arguments() {
        let mut st = MetaState::default();
        let l = live(3);
        assert_eq!(
            st.create_table("", 8, 1, &l),
            Err(MetaError::BadName(String::new()))
        );
        assert_eq!(
            st.create_table("t", 6, 1, &l),
            Err(MetaError::BadPartitionCount(6))
        );
        assert_eq!(
            st.create_table("t", 0, 1, &l),
            Err(MetaError::BadPartitionCount(0))
        );
        assert_eq!(
            st.create_table("t", 8, 0, &l),
            Err(MetaError::BadReplicaCount)
        );
        assert_eq!(
            st.create_table("t", 8, 4, &l),
            Err(MetaError::NotEnoughServers { live: 3, needed: 4 })
        );
        st.create_table("t", 8, 3, &l).expect("valid");
        assert_eq!(
            st.create_table("t", 8, 3, &l),
            Err(MetaError::TableExists("t".into()))
        );
    }

    #[test]
    fn table_ids_are_never_reused() {
        let mut st = MetaState::default();
        let l = live(1);
        let a = st.create_table("a", 1, 1, &l).expect("a");
        st.drop_table("a").expect("drop");
        let b = st.create_table("a", 1, 1, &l).expect("a again");
        assert_ne!(a.id, b.id);
        assert_eq!(
            st.drop_table("zz"),
            Err(MetaError::NoSuchTable("zz".into()))
        );
    }

    #[test]
    fn a_table_gets_replica_count_members_on_distinct_servers_with_balanced_primaries() {
        let mut st = MetaState::default();
        let l = live(4);
        let t = st.create_table("t", 8, 3, &l).expect("create");
        let mut primaries: BTreeMap<NodeAddr, u32> = BTreeMap::new();
        for p in &t.partitions {
            assert_eq!(p.ballot, Ballot(1));
            let members: BTreeSet<&NodeAddr> = p.members().collect();
            assert_eq!(members.len(), 3, "distinct members: {p:?}");
            *primaries
                .entry(p.primary.clone().expect("primary"))
                .or_default() += 1;
        }
        assert_eq!(primaries.len(), 4);
        assert!(primaries.values().all(|c| *c == 2), "{primaries:?}");
        let total: usize = l.iter().map(|n| st.assignments_for(n).len()).sum();
        assert_eq!(total, 24, "every member of every partition, once");
        for n in &l {
            for a in st.assignments_for(n) {
                assert!(a.config.has_member(n) && !a.learner && a.learners.is_empty());
            }
        }
    }

    fn one_partition(members: &[&str]) -> MetaState {
        let mut st = MetaState::default();
        let nodes: Vec<NodeAddr> = members.iter().map(|m| NodeAddr::from(*m)).collect();
        st.create_table("t", 1, members.len() as u32, &nodes)
            .expect("create");
        // Exactly the given order: primary first.
        let t = st.tables.get_mut("t").expect("t");
        t.partitions[0].primary = Some(nodes[0].clone());
        t.partitions[0].secondaries = nodes[1..].to_vec();
        st
    }

    fn g0() -> Gpid {
        Gpid::new(1, 0)
    }

    fn n(s: &str) -> NodeAddr {
        NodeAddr::from(s)
    }

    fn cfg(ballot: u64, primary: &str, secondaries: &[&str]) -> PartitionConfig {
        PartitionConfig {
            gpid: g0(),
            ballot: Ballot(ballot),
            primary: Some(n(primary)),
            secondaries: secondaries.iter().map(|s| n(s)).collect(),
        }
    }

    fn all_alive() -> Health {
        Health::with_alive(&[n("a"), n("b"), n("c"), n("d")])
    }

    fn report(node: &str, ballot: u64, prepared: u64) -> ReplicaReport {
        ReplicaReport::new(
            n(node),
            g0(),
            Ballot(ballot),
            ReplicaRole::Secondary,
            Decree(prepared),
            Decree(prepared),
        )
    }

    use crate::reconfig::{ReplicaReport, ReplicaRole};
    use petrel_common::ids::Decree;

    #[test]
    fn a_reconfiguration_bumps_the_version_and_remembers_who_was_removed() {
        let mut st = one_partition(&["a", "b", "c"]);
        let health = Health::with_alive(&[n("b"), n("c")]);
        let action = Action::Reconfigure {
            ballot: Ballot(1),
            config: cfg(2, "b", &["c"]),
            change: Change::PromoteSecondary {
                new_primary: n("b"),
                removed: vec![n("a")],
            },
        };
        let applied = st
            .apply(&action, &health, &Reports::default())
            .expect("applies");
        assert!(
            matches!(applied, Applied::Reconfigured { ref cause, .. } if cause.kind() == "promote_secondary")
        );
        let t = &st.tables["t"];
        assert_eq!((t.version, &t.partitions[0]), (2, &cfg(2, "b", &["c"])));
        assert_eq!(st.dropped[&g0()], vec![n("a")]);
        assert_eq!(
            st.apply(&action, &health, &Reports::default()),
            Err(NotApplied::StaleBallot {
                decided: Ballot(1),
                current: Ballot(2)
            }),
            "the same decision cannot be carried out twice"
        );
        assert_eq!(st.assignments_for(&n("a")), vec![], "a closes its replica");
    }

    #[test]
    fn an_invalid_configuration_is_not_applied() {
        let mut st = one_partition(&["a", "b"]);
        let before = st.clone();
        let action = Action::Reconfigure {
            ballot: Ballot(1),
            config: cfg(2, "d", &["a"]),
            change: Change::PromoteLearner { learner: n("d") },
        };
        assert_eq!(
            st.apply(&action, &all_alive(), &Reports::default()),
            Err(NotApplied::Invalid(Invalid::PrimaryNotMember(n("d"))))
        );
        assert_eq!(st, before);
    }

    #[test]
    fn learners_are_assigned_to_their_server_and_listed_to_the_primary() {
        let mut st = one_partition(&["a", "b"]);
        let add = Action::AddLearner {
            gpid: g0(),
            ballot: Ballot(1),
            node: n("d"),
        };
        st.apply(&add, &all_alive(), &Reports::default())
            .expect("added");
        assert_eq!(
            st.apply(&add, &all_alive(), &Reports::default()),
            Err(NotApplied::AlreadyLearning(n("d")))
        );
        let d = st.assignments_for(&n("d"));
        assert_eq!(d.len(), 1);
        assert!(d[0].learner && d[0].learners.is_empty());
        assert_eq!(d[0].config, cfg(1, "a", &["b"]));
        let a = st.assignments_for(&n("a"));
        assert_eq!((a[0].learner, a[0].learners.clone()), (false, vec![n("d")]));
        assert!(st.assignments_for(&n("b"))[0].learners.is_empty());

        // Promotion: d becomes a secondary and is no longer a learner.
        let promote = Action::Reconfigure {
            ballot: Ballot(1),
            config: cfg(2, "a", &["b", "d"]),
            change: Change::PromoteLearner { learner: n("d") },
        };
        st.apply(&promote, &all_alive(), &Reports::default())
            .expect("promoted");
        assert!(st.learners.is_empty());
        let d = st.assignments_for(&n("d"));
        assert!(!d[0].learner && d[0].config.has_member(&n("d")));
        assert!(st.assignments_for(&n("a"))[0].learners.is_empty());
    }

    #[test]
    fn a_move_is_a_learner_until_it_replaces_the_leaving_member_and_is_then_forgotten() {
        let mut st = one_partition(&["a", "b", "c"]);
        let start = |from: &str, to: &str| Action::StartMove {
            gpid: g0(),
            ballot: Ballot(1),
            from: n(from),
            to: n(to),
        };
        assert_eq!(
            st.apply(&start("a", "d"), &all_alive(), &Reports::default()),
            Err(NotApplied::NotASecondary(n("a"))),
            "a primary does not move"
        );
        st.apply(&start("b", "d"), &all_alive(), &Reports::default())
            .expect("started");
        assert_eq!(
            st.apply(&start("c", "e"), &all_alive(), &Reports::default()),
            Err(NotApplied::AlreadyMoving(g0()))
        );
        assert!(st.assignments_for(&n("d"))[0].learner);
        assert_eq!(st.assignments_for(&n("a"))[0].learners, vec![n("d")]);
        let load = st.load();
        assert_eq!((load.moves, load.settled_replicas(&n("b"))), (1, 0));
        let json = serde_json::to_string(&st).expect("json");
        let back: MetaState = serde_json::from_str(&json).expect("parsed");
        assert_eq!(back, st, "moves survive a restart of meta");

        let finish = Action::Reconfigure {
            ballot: Ballot(1),
            config: cfg(2, "a", &["c", "d"]),
            change: Change::MoveReplica {
                from: n("b"),
                to: n("d"),
            },
        };
        st.apply(&finish, &all_alive(), &Reports::default())
            .expect("finished");
        assert!(st.moves.is_empty() && st.learners.is_empty());
        assert!(
            st.assignments_for(&n("b")).is_empty(),
            "b closes its replica"
        );
        assert!(
            st.dropped.is_empty(),
            "b left on purpose: not held as dropped"
        );
    }

    #[test]
    fn a_move_whose_learner_is_dropped_is_forgotten() {
        let mut st = one_partition(&["a", "b"]);
        let start = Action::StartMove {
            gpid: g0(),
            ballot: Ballot(1),
            from: n("b"),
            to: n("d"),
        };
        st.apply(&start, &all_alive(), &Reports::default())
            .expect("started");
        let drop = Action::DropLearner {
            gpid: g0(),
            ballot: Ballot(1),
            node: n("d"),
            why: DropWhy::Dead,
        };
        st.apply(&drop, &all_alive(), &Reports::default())
            .expect("dropped");
        assert!(st.moves.is_empty());
    }

    #[test]
    fn a_draining_server_gets_no_new_table_and_unknown_servers_cannot_drain() {
        let mut st = MetaState::default();
        let servers = live(4);
        for s in &servers {
            st.register_node(s);
        }
        assert_eq!(st.set_draining(&servers[0], true), Ok(true));
        assert_eq!(st.set_draining(&servers[0], true), Ok(false));
        assert_eq!(
            st.set_draining(&n("nobody"), true),
            Err(MetaError::NoSuchNode(n("nobody")))
        );
        let t = st.create_table("t", 8, 3, &servers).expect("created");
        assert!(t.partitions.iter().all(|p| !p.has_member(&servers[0])));
        assert_eq!(
            st.create_table("u", 8, 4, &servers),
            Err(MetaError::NotEnoughServers { live: 3, needed: 4 })
        );
        assert_eq!(st.set_draining(&servers[0], false), Ok(true));
    }

    #[test]
    fn a_dropped_learner_loses_its_assignment() {
        let mut st = one_partition(&["a"]);
        st.learners.entry(g0()).or_default().insert(n("d"));
        let drop = Action::DropLearner {
            gpid: g0(),
            ballot: Ballot(1),
            node: n("d"),
            why: DropWhy::Unreachable,
        };
        assert!(matches!(
            st.apply(&drop, &all_alive(), &Reports::default()),
            Ok(Applied::LearnerDropped {
                why: DropWhy::Unreachable,
                ..
            })
        ));
        assert!(st.learners.is_empty());
        assert!(st.assignments_for(&n("d")).is_empty());
        assert_eq!(
            st.apply(&drop, &all_alive(), &Reports::default()),
            Err(NotApplied::NotALearner(n("d")))
        );
        let member = Action::AddLearner {
            gpid: g0(),
            ballot: Ballot(1),
            node: n("a"),
        };
        assert_eq!(
            st.apply(&member, &all_alive(), &Reports::default()),
            Err(NotApplied::AlreadyMember(n("a")))
        );
    }

    #[test]
    fn a_planned_switch_needs_a_secondary_holding_what_the_primary_committed() {
        let mut st = one_partition(&["a", "b", "c"]);
        let switch = Action::SwitchPrimary {
            gpid: g0(),
            ballot: Ballot(1),
            to: n("b"),
        };
        let lagging = Reports::new([report("a", 1, 10), report("b", 1, 9)]);
        assert_eq!(
            st.apply(&switch, &all_alive(), &lagging),
            Err(NotApplied::NotCaughtUp { to: n("b") })
        );
        let old_ballot = Reports::new([report("a", 1, 10), report("b", 0, 10)]);
        assert!(st.apply(&switch, &all_alive(), &old_ballot).is_err());
        let even = Reports::new([report("a", 1, 10), report("b", 1, 10)]);
        let applied = st.apply(&switch, &all_alive(), &even).expect("switched");
        assert!(matches!(
            applied,
            Applied::Reconfigured {
                cause: Cause::PlannedSwitch,
                ..
            }
        ));
        assert_eq!(st.tables["t"].partitions[0], cfg(2, "b", &["a", "c"]));
        assert!(st.dropped.is_empty(), "nobody left");
    }

    #[test]
    fn dropped_members_are_forgotten_when_back_or_dead_too_long() {
        let mut st = one_partition(&["a", "b"]);
        st.dropped.insert(g0(), vec![n("c"), n("d"), n("b")]);
        st.dropped.insert(Gpid::new(9, 0), vec![n("c")]);
        st.learners
            .entry(Gpid::new(9, 0))
            .or_default()
            .insert(n("c"));
        let mut health = Health::with_alive(&[n("a"), n("b")]);
        health.set_dead(&n("c"), Duration::from_secs(10));
        health.set_dead(&n("d"), Duration::from_secs(400));
        st.forget_dropped(&health, Duration::from_secs(300));
        assert_eq!(
            st.dropped,
            BTreeMap::from([(g0(), vec![n("c")])]),
            "b is a member, d dead too long, table 9 gone"
        );
        assert!(st.learners.is_empty());
    }

    #[test]
    fn dropping_a_table_forgets_its_learners_and_dropped_members() {
        let mut st = one_partition(&["a"]);
        st.learners.entry(g0()).or_default().insert(n("d"));
        st.dropped.insert(g0(), vec![n("c")]);
        st.drop_table("t").expect("dropped");
        assert!(st.learners.is_empty() && st.dropped.is_empty());
    }

    #[test]
    fn learners_and_dropped_members_survive_json_and_old_files_still_load() {
        let mut st = one_partition(&["a", "b"]);
        st.learners.entry(g0()).or_default().insert(n("d"));
        st.dropped.insert(g0(), vec![n("c")]);
        let text = serde_json::to_string(&st).expect("serializes");
        let back: MetaState = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, st);
        let old = r#"{"next_table_id": 3, "tables": {}, "nodes": ["a:1"]}"#;
        let back: MetaState = serde_json::from_str(old).expect("an old state file loads");
        assert_eq!(back.next_table_id, 3);
        assert!(back.learners.is_empty() && back.dropped.is_empty());
    }
}
