//! What replicas of one partition say to each other.
//!
//! Every message carries a ballot (rule 1): either as a field or inside the
//! full [`PartitionConfig`] that primary-originated messages carry, so a
//! replica that is behind can adopt the new configuration from the message
//! itself instead of waiting for meta.

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree};
use petrel_common::partition::PartitionConfig;

/// One log entry: a mutation at a decree, prepared under a ballot.
///
/// Within one ballot a decree names exactly one mutation; across ballots an
/// entry is replaced only by one with a higher ballot (rule 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) ballot: Ballot,
    pub(crate) decree: Decree,
    /// Opaque to the machine: the shell encodes `storage::Mutation` into it.
    pub(crate) mutation: Bytes,
}

/// A peer message between replicas of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// Primary -> secondary/learner: log `entry`; everything up to
    /// `last_committed` is committed.
    Prepare {
        config: PartitionConfig,
        entry: Entry,
        last_committed: Decree,
    },
    /// Secondary/learner -> primary: `decree` prepared under `ballot` is
    /// durable in my log.
    PrepareAck { ballot: Ballot, decree: Decree },
    /// Primary -> secondary/learner, periodic: the configuration, the commit
    /// point, whether the recipient is a learner (how a learner is invited; a
    /// learner is not part of `config`), and the primary's last prepared
    /// decree (older-ballot entries beyond it are dropped, rule 7).
    GroupCheck {
        config: PartitionConfig,
        learner: bool,
        last_committed: Decree,
        last_prepared: Decree,
    },
    /// Answer to a group check.
    GroupCheckAck {
        ballot: Ballot,
        last_committed: Decree,
        last_prepared: Decree,
    },
    /// Learner -> primary: send me what follows `committed` (my applied
    /// state; my uncommitted tail has been truncated, rule 8).
    LearnRequest { ballot: Ballot, committed: Decree },
    /// Primary -> learner: the entries after the requested decree (committed
    /// ones and the uncommitted tail), and the primary's commit point.
    LearnReply {
        ballot: Ballot,
        last_committed: Decree,
        entries: Vec<Entry>,
    },
    /// Learner -> primary: my log is durable and matches yours through
    /// `through`; later decrees reach me as prepares.
    LearnCompleted { ballot: Ballot, through: Decree },
    /// Your ballot is stale: here is the configuration I hold.
    Reject { config: PartitionConfig },
}

impl Message {
    /// The ballot this message was sent under.
    pub(crate) fn ballot(&self) -> Ballot {
        match self {
            Message::Prepare { config, .. }
            | Message::GroupCheck { config, .. }
            | Message::Reject { config } => config.ballot,
            Message::PrepareAck { ballot, .. }
            | Message::GroupCheckAck { ballot, .. }
            | Message::LearnRequest { ballot, .. }
            | Message::LearnReply { ballot, .. }
            | Message::LearnCompleted { ballot, .. } => *ballot,
        }
    }
}
