//! What running a command produces: a reply and a mutation, or why it
//! stopped ([`CmdError`]).

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::events::Events;
use crate::storage::{Mutation, StorageError};

/// The outcome of one command.
#[derive(Debug)]
pub(crate) struct Execution {
    /// What the client is told.
    pub(crate) reply: Reply,
    /// What the replicas must apply (empty for reads and no-op writes).
    pub(crate) mutation: Mutation,
    /// The keyspace events it raised (none with notifications off),
    /// published once the mutation has committed.
    pub(crate) events: Events,
    /// (A read with notifications on) keys it found expired but still
    /// stored, for the sweep to delete (and raise `expired` for).
    pub(crate) expired: Vec<Bytes>,
}

impl Execution {
    /// A reply with no writes and no events.
    pub(crate) fn only(reply: Reply) -> Self {
        Execution {
            reply,
            mutation: Mutation::default(),
            events: Events::default(),
            expired: Vec::new(),
        }
    }
}

/// Why a command stopped early: a Redis error reply, or a storage failure
/// (which the replica must treat as fatal, not answer and carry on).
#[derive(Debug)]
pub(crate) enum CmdError {
    /// A Redis error reply for the client; nothing is written.
    Reply(Reply),
    /// The replica's storage failed.
    Storage(StorageError),
}

impl CmdError {
    /// A Redis error reply with this text.
    pub(crate) fn reply(text: impl Into<String>) -> CmdError {
        CmdError::Reply(Reply::error(text))
    }
}

impl From<StorageError> for CmdError {
    fn from(e: StorageError) -> Self {
        CmdError::Storage(e)
    }
}

/// What a command function returns.
pub(crate) type CmdResult = Result<Reply, CmdError>;
