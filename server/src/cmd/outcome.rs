//! What running a command produces: a reply and a mutation, or why it
//! stopped ([`CmdError`]).

use petrel_common::reply::Reply;

use crate::storage::{Mutation, StorageError};

/// The outcome of one command.
#[derive(Debug)]
pub(crate) struct Execution {
    /// What the client is told.
    pub(crate) reply: Reply,
    /// What the replicas must apply (empty for reads and no-op writes).
    pub(crate) mutation: Mutation,
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
