//! Meta's durable state: tables, their partition configurations, known servers.
//!
//! Every method here is pure (no I/O) so it can be tested directly; the
//! service persists the state after each change and before it answers.

use std::collections::{BTreeMap, BTreeSet};

use petrel_common::ids::{Ballot, Gpid, NodeAddr, PartitionId, TableId};
use petrel_common::partition::{PartitionConfig, TableMap};
use serde::{Deserialize, Serialize};

use crate::placement::{place, Load};

/// Largest partition count a table may have.
pub const MAX_PARTITIONS: u32 = 65536;

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
}

/// Everything meta must not forget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    /// Table ids are never reused, so a recreated table never meets old replicas.
    pub next_table_id: u32,
    pub tables: BTreeMap<String, TableMap>,
    /// Every server that ever registered.
    pub nodes: BTreeSet<NodeAddr>,
}

/// One replica a server should host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub table_name: String,
    pub partition_count: u32,
    pub config: PartitionConfig,
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
    pub fn load(&self) -> Load {
        let mut load = Load::default();
        for t in self.tables.values() {
            for p in &t.partitions {
                if let Some(primary) = &p.primary {
                    *load.primaries.entry(primary.clone()).or_default() += 1;
                }
                for m in p.members() {
                    *load.replicas.entry(m.clone()).or_default() += 1;
                }
            }
        }
        load
    }

    /// Creates a table and places its partitions on `live` servers.
    ///
    /// Each partition gets one member, its primary, for now: replicating to
    /// `replica_count` members is the next step of the replication work, and
    /// meta must not list secondaries that receive nothing. `replica_count`
    /// is recorded and checked against the live servers already.
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
        if live.len() < replica_count as usize {
            return Err(MetaError::NotEnoughServers {
                live: live.len(),
                needed: replica_count,
            });
        }
        self.next_table_id += 1;
        let id = TableId(self.next_table_id);
        let mut load = self.load();
        let placed = place(partition_count, 1, live, &mut load);
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

    /// Drops a table; its replicas are closed and removed by their servers.
    pub fn drop_table(&mut self, name: &str) -> Result<TableMap, MetaError> {
        self.tables
            .remove(name)
            .ok_or_else(|| MetaError::NoSuchTable(name.to_string()))
    }

    /// Every replica `node` should host.
    pub fn assignments_for(&self, node: &NodeAddr) -> Vec<Assignment> {
        let mut out = Vec::new();
        for t in self.tables.values() {
            for p in &t.partitions {
                if p.has_member(node) {
                    out.push(Assignment {
                        table_name: t.name.clone(),
                        partition_count: t.partition_count,
                        config: p.clone(),
                    });
                }
            }
        }
        out
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
    fn assignments_cover_every_partition_once() {
        let mut st = MetaState::default();
        let l = live(3);
        let t = st.create_table("t", 8, 3, &l).expect("create");
        let total: usize = l.iter().map(|n| st.assignments_for(n).len()).sum();
        assert_eq!(total, 8);
        for p in &t.partitions {
            assert_eq!(p.ballot, Ballot(1));
            assert!(p.primary.is_some());
        }
    }
}
