//! Multi-key workloads and their checkers: what standalone Redis promises
//! for commands and `MULTI` blocks over keys in different partitions
//! (issue 15, docs/TRANSACTIONS.md), checked beside the per-key workload
//! under the same faults.
//!
//! - [`spec`]: which workloads run (`--multikey bank,mset,lmove`) and their shape.
//! - [`keys`]: key names spread over every partition; the first of each
//!   workload lies in [`keys::RECORD_PARTITION`], which holds transaction records.
//! - [`record`]: the requests clients made and what came back, the
//!   starting and final states; saved as `multikey.json`.
//! - [`client`]: sending one request (a `MULTI` block, `MSET`, `MGET`,
//!   `LMOVE`...) and classifying its answer as done, refused or unknown.
//! - [`workers`]: setup before the faults, the client workers, the final reads.
//! - [`bank`], [`snapshots`], [`lists`]: the checkers (money conserved and
//!   transfers applied whole; no MGET mixing two MSETs; no item lost or
//!   duplicated); pure functions of a record.
//! - [`report`]: the checkers' verdicts together, printable.

pub(crate) mod bank;
pub(crate) mod client;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod snapshots;
pub(crate) mod spec;
pub(crate) mod workers;

#[cfg(test)]
mod tests;

pub(crate) use record::MultiRecord;
pub(crate) use report::check;
pub(crate) use spec::{MultiKeyArgs, Spec};
