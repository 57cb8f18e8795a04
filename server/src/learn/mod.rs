//! Learning: a replica with no usable state copies the primary's storage.
//!
//! 1. The learner sends CHECKPOINT_PREPARE; the primary's
//!    [`store::CheckpointStore`] writes a RocksDB checkpoint of the replica
//!    and lists its files ([`serve::prepare`]).
//! 2. [`download::download`] fetches every file in chunks (CHECKPOINT_FETCH,
//!    answered by [`serve::fetch`]) into a staging directory, checks
//!    lengths, fsyncs, and verifies the decree.
//! 3. The learner closes its engine and [`install::install_and_open`] swaps
//!    the staging directory in and reopens it; the learner then catches up
//!    from the checkpoint's decree + 1 like any secondary.
//!
//! When each step happens is the replica's business: the primary's machine
//! offers a checkpoint and the learner's task reacts
//! (`replica::shell::install`). This module is the mechanism, and knows
//! nothing of replicas beyond a partition id and a storage engine.
//!
//! - [`files`]: a checkpoint directory as a list of files, with the name
//!   checks that keep network requests inside it.
//! - [`store`]: the primary's prepared checkpoints (ids, expiry, caps).
//! - [`serve`]: the primary's answers to CHECKPOINT_PREPARE and
//!   CHECKPOINT_FETCH, off the async runtime.
//! - [`download`]: the learner's copy into its staging directory.
//! - [`install`]: the learner's crash-safe swap of the staged copy for its
//!   database, and the recovery run before every replica open.
//!
//! What a RocksDB checkpoint itself needs (making one, reading the decree it
//! holds) stays with the engine, in [`crate::storage::rocks`]. This file
//! holds what every side shares (the error type, file-system helpers) and
//! names no submodule's item, so the submodules form no import cycle.

pub(crate) mod download;
pub(crate) mod files;
pub(crate) mod install;
pub(crate) mod serve;
pub(crate) mod store;
#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

use petrel_common::ids::{Decree, Gpid};
use petrel_common::rpc::RpcError;

use crate::storage::StorageError;
use files::CheckpointFileError;

/// Why a checkpoint could not be prepared, served, downloaded or installed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LearnError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("checkpoint file: {0}")]
    File(#[from] CheckpointFileError),
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("checkpoint {method} to {peer}: {source}")]
    Rpc {
        method: &'static str,
        peer: String,
        #[source]
        source: RpcError,
    },
    /// The id was never handed out, or its checkpoint expired.
    #[error("no checkpoint {0:?} (expired or never made)")]
    UnknownCheckpoint(String),
    #[error("checkpoint {id:?} does not belong to partition {gpid}")]
    WrongPartition { id: String, gpid: Gpid },
    #[error("primary sent a bad file listing: {0}")]
    BadListing(String),
    /// A file arrived shorter than its listed length.
    #[error("{name:?} truncated: {got} of {expected} bytes")]
    Truncated {
        name: String,
        expected: u64,
        got: u64,
    },
    #[error("{name:?} at offset {offset}: asked {asked} bytes, got {got}")]
    OversizedChunk {
        name: String,
        offset: u64,
        asked: u64,
        got: u64,
    },
    #[error("downloaded checkpoint holds decree {found}, primary announced {announced}")]
    DecreeMismatch { announced: Decree, found: Decree },
    #[error("{} is not a checkpoint (no CURRENT file)", .0.display())]
    NotACheckpoint(PathBuf),
    #[error("{} needs a parent directory and a file name", .0.display())]
    BadPath(PathBuf),
    /// The replica's engine is not RocksDB (an in-memory engine in tests).
    #[error("this replica's storage cannot checkpoint")]
    NotCheckpointable,
    #[error("blocking task failed: {0}")]
    Task(String),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LearnError + 'a {
    move |source| LearnError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes the entries of `dir` (creations, renames, deletions) durable.
fn sync_dir(dir: &Path) -> Result<(), LearnError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LearnError> + Send + 'static,
) -> Result<T, LearnError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LearnError::Task(e.to_string()))?
}
