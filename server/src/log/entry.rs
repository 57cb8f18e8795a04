//! One record of the mutation log, as callers hand it in and get it back.

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, Gpid};

/// One logged mutation of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogEntry {
    /// The partition.
    pub(crate) gpid: Gpid,
    /// The ballot the mutation was prepared under.
    pub(crate) ballot: Ballot,
    /// The mutation's position in the partition's log.
    pub(crate) decree: Decree,
    /// The partition's committed decree when this was prepared.
    pub(crate) last_committed: Decree,
    /// The encoded mutation (see [`super::codec`]); opaque to the log.
    pub(crate) mutation: Bytes,
}
