//! The meta group's Raft types: what an entry carries, how a member is
//! named, and openraft's type configuration.
//!
//! A member's node id is derived from its address ([`node_id`]), so an
//! operator names members by address only and every process computes the
//! same id for the same address.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::state::MetaState;

/// A meta member's Raft id.
pub type NodeId = u64;

/// One Raft entry's payload: meta's whole durable state after one change.
///
/// The leader computes a change exactly as a single meta did and proposes
/// the result; applying it replaces the state. Replacing (rather than
/// replaying a command) keeps applying trivially deterministic: every
/// member ends at the same bytes whatever code computed them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub state: MetaState,
}

openraft::declare_raft_types!(
    /// openraft's type configuration for the meta group.
    pub TypeConfig:
        D = Proposal,
        R = (),
);

/// openraft's node record: the member's RPC address.
pub type Node = openraft::BasicNode;
/// One log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log position.
pub type LogId = openraft::LogId<NodeId>;
/// A term and who it voted for.
pub type Vote = openraft::Vote<NodeId>;
/// The membership as last stored.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// A snapshot's description.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// A storage failure as openraft takes it.
pub type StorageError = openraft::StorageError<NodeId>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;

/// The Raft id of the member at `addr`: the first 8 bytes of its SHA-1.
/// Stable across versions: changing it would orphan every stored vote.
pub fn node_id(addr: &str) -> NodeId {
    let digest = sha1_smol::Sha1::from(addr.as_bytes()).digest().bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_by_the_address() {
        assert_eq!(node_id("127.0.0.1:34601"), node_id("127.0.0.1:34601"));
        assert_ne!(node_id("127.0.0.1:34601"), node_id("127.0.0.1:34602"));
        // Fixed forever: a stored vote names this id.
        assert_eq!(node_id(""), 0xda39_a3ee_5e6b_4b0d);
    }
}
