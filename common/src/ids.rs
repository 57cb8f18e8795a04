//! Newtypes for the identifiers PacificA reasons about.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A table's id, assigned by meta, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableId(pub u32);

/// A partition's index inside its table (`0..partition_count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionId(pub u32);

/// Version of a partition's configuration; every RPC about a partition carries it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Ballot(pub u64);

/// Position of a mutation in a partition's log.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Decree(pub u64);

/// A globally unique partition: table and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gpid {
    pub table: TableId,
    pub partition: PartitionId,
}

/// The `host:port` a server or meta listens on; it is also the node's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeAddr(pub String);

impl Ballot {
    pub fn next(self) -> Ballot {
        Ballot(self.0 + 1)
    }
}

impl Decree {
    pub fn next(self) -> Decree {
        Decree(self.0 + 1)
    }
}

impl Gpid {
    pub const fn new(table: u32, partition: u32) -> Self {
        Gpid {
            table: TableId(table),
            partition: PartitionId(partition),
        }
    }
}

impl NodeAddr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeAddr {
    fn from(s: &str) -> Self {
        NodeAddr(s.to_string())
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Decree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Gpid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table.0, self.partition.0)
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
