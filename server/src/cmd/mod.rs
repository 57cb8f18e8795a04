//! Redis command semantics, executed at a partition's primary.
//!
//! A command reads the replica's state and produces a typed [`Reply`] plus a
//! [`Mutation`] (empty for reads): the deterministic puts/deletes that the
//! replication log carries. INCR becomes "put 42"; relative expiry becomes an
//! absolute time. Nothing here does I/O beyond the [`ReadView`] it is given.

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::storage::{Mutation, ReadView};

/// The outcome of one command.
#[derive(Debug, Default)]
pub struct Execution {
    pub reply: Option<Reply>,
    pub mutation: Mutation,
}

/// Runs `args` (command name first) against `view` at wall-clock `now_ms`.
pub fn execute(view: &dyn ReadView, args: &[Bytes], now_ms: u64) -> Execution {
    let _ = (view, args, now_ms);
    unimplemented!("filled in by the command-semantics work")
}

/// Whether the command may write (and so must be serialized per partition).
pub fn is_write(name: &[u8]) -> bool {
    let _ = name;
    unimplemented!("filled in by the command-semantics work")
}
