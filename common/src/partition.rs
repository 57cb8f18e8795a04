//! Partition configurations and the versioned table map.
//!
//! A partition's configuration is PacificA's `{ballot, primary, secondaries}`;
//! meta owns it and bumps the ballot on every change. A [`TableMap`] is what a
//! proxy caches: every partition of one table plus the map version, so a
//! newer map can replace an older one wholesale.

use serde::{Deserialize, Serialize};

use crate::hash::partition_of;
use crate::ids::{Ballot, Gpid, NodeAddr, PartitionId, TableId};

/// One partition's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionConfig {
    pub gpid: Gpid,
    pub ballot: Ballot,
    pub primary: Option<NodeAddr>,
    pub secondaries: Vec<NodeAddr>,
}

impl PartitionConfig {
    /// Every member: primary first, then secondaries.
    pub fn members(&self) -> impl Iterator<Item = &NodeAddr> {
        self.primary.iter().chain(self.secondaries.iter())
    }

    /// Whether `node` is a member of this configuration.
    pub fn has_member(&self, node: &NodeAddr) -> bool {
        self.members().any(|m| m == node)
    }
}

/// A table and the configuration of each of its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMap {
    pub id: TableId,
    pub name: String,
    pub partition_count: u32,
    pub replica_count: u32,
    /// Bumped by meta whenever any partition's configuration changes.
    pub version: u64,
    /// Indexed by partition id.
    pub partitions: Vec<PartitionConfig>,
}

impl TableMap {
    /// The partition a Redis key lives in.
    pub fn partition_of_key(&self, key: &[u8]) -> PartitionId {
        PartitionId(partition_of(key, self.partition_count))
    }

    /// The configuration of partition `pid`, if it exists.
    pub fn partition(&self, pid: PartitionId) -> Option<&PartitionConfig> {
        self.partitions.get(pid.0 as usize)
    }
}
