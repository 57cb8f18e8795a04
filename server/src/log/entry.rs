//! One record of the mutation log, as callers hand it in and get it back.

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, Gpid};

/// One logged mutation of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The partition.
    pub gpid: Gpid,
    /// The ballot the mutation was prepared under.
    pub ballot: Ballot,
    /// The mutation's position in the partition's log.
    pub decree: Decree,
    /// The partition's committed decree when this was prepared.
    pub last_committed: Decree,
    /// The encoded mutation (see [`super::codec`]); opaque to the log.
    pub mutation: Bytes,
}
