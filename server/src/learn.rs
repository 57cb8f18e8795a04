//! Learning: a replica with no usable state copies the primary's storage.
//!
//! 1. The learner sends CHECKPOINT_PREPARE; the primary's [`CheckpointStore`]
//!    writes a RocksDB checkpoint of the replica and lists its files.
//! 2. [`download`] fetches every file in chunks (CHECKPOINT_FETCH) into a
//!    staging directory, checks lengths, fsyncs, and verifies the decree.
//! 3. The learner closes its engine and [`install`] swaps the staging
//!    directory in; the learner then catches up from the checkpoint's
//!    decree + 1 like any secondary.
//!
//! # Directories of one replica
//!
//! For a replica whose RocksDB lives in `<db>`: `<db>.learn` is the staging
//! directory ([`staging_dir`]) and `<db>.old` holds the previous database
//! while [`install`] swaps. Both are siblings of `<db>` so every rename stays
//! on one file system and is atomic.
//!
//! # Crash safety
//!
//! [`install`] renames `<db>` to `<db>.old`, renames `<db>.learn` to `<db>`,
//! fsyncs the parent after each step, then deletes `<db>.old`. Whatever
//! moment a crash hits, [`recover`] (run before every replica open) leaves
//! exactly one database in `<db>`:
//!
//! | found at start-up             | meaning                           | recover does           |
//! |-------------------------------|-----------------------------------|------------------------|
//! | `<db>.old`, no `<db>`         | crash between the two renames     | renames `.old` back    |
//! | `<db>.old` and `<db>`         | swap done, deletion cut short     | deletes `.old`         |
//! | `<db>.learn`                  | download or install unfinished    | deletes `.learn`       |
//!
//! So after a crash the replica holds either its old database or the
//! complete new one; its `applied_decree()` says which.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use petrel_common::ids::{Ballot, Decree, Gpid};
use petrel_common::msg::{
    method, CheckpointFetchRequest, CheckpointFetchResponse, CheckpointFileMsg,
    CheckpointPrepareRequest, CheckpointPrepareResponse,
};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::RpcError;
use petrel_common::sync::lock;
use tokio::io::AsyncWriteExt;
use tracing::{debug, error, info, warn};

use crate::storage::checkpoint::{self, CheckpointFile, CheckpointFileError};
use crate::storage::rocks::RocksEngine;
use crate::storage::StorageError;

/// Bytes asked for in one CHECKPOINT_FETCH.
pub const FETCH_CHUNK: u32 = 1 << 20;
/// Chunk requests in flight at once during a download.
const FETCH_WINDOW: usize = 4;
/// Deadline of one CHECKPOINT_FETCH.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of CHECKPOINT_PREPARE: it flushes memtables on the primary,
/// which a write stall can hold up for a while.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a checkpoint could not be prepared, served, downloaded or installed.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
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

// ---------------------------------------------------------------------------
// Primary side
// ---------------------------------------------------------------------------

/// The checkpoints a server has prepared for learners, under
/// `<data_dir>/checkpoints/<table>.<partition>-<nonce>-<seq>`.
///
/// Every method blocks (checkpoints flush, deletions walk directories);
/// call them from a blocking thread.
pub struct CheckpointStore {
    root: PathBuf,
    ttl: Duration,
    max_per_partition: usize,
    next_seq: AtomicU64,
    live: Mutex<HashMap<String, Prepared>>,
}

/// One prepared checkpoint.
struct Prepared {
    gpid: Gpid,
    dir: PathBuf,
    /// The listing taken at prepare time: the only files fetch serves.
    files: Arc<[CheckpointFile]>,
    last_used: Instant,
}

impl CheckpointStore {
    /// How long a checkpoint lives after its last prepare or fetch.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
    /// Checkpoints kept per partition; preparing one more drops the least
    /// recently used.
    pub const DEFAULT_MAX_PER_PARTITION: usize = 3;

    /// Opens the store under `<data_dir>/checkpoints`, deleting whatever a
    /// previous run left there (no learner can name those checkpoints).
    pub fn open(
        data_dir: &Path,
        ttl: Duration,
        max_per_partition: usize,
    ) -> Result<Self, LearnError> {
        let root = data_dir.join("checkpoints");
        if root.try_exists().map_err(io_err("inspect", &root))? {
            std::fs::remove_dir_all(&root).map_err(io_err("clear", &root))?;
            info!(dir = %root.display(), "removed checkpoints left by a previous run");
        }
        std::fs::create_dir_all(&root).map_err(io_err("create", &root))?;
        Ok(CheckpointStore {
            root,
            ttl,
            max_per_partition: max_per_partition.max(1),
            next_seq: AtomicU64::new(1),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Where the checkpoints live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checkpoints `engine` (the replica of `gpid`) and lists its files. The
    /// caller checks first that this server is `gpid`'s primary at the
    /// ballot the learner named.
    pub fn prepare(
        &self,
        gpid: Gpid,
        engine: &RocksEngine,
    ) -> Result<CheckpointPrepareResponse, LearnError> {
        // A random nonce keeps ids unique across restarts: a learner holding
        // an id from before a restart must never read a newer checkpoint's
        // files under it.
        let id = format!(
            "{}.{}-{:016x}-{}",
            gpid.table.0,
            gpid.partition.0,
            rand::random::<u64>(),
            self.next_seq.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.root.join(&id);
        let (decree, files) = match make_checkpoint(engine, &dir) {
            Ok(made) => made,
            Err(e) => {
                // RocksDB builds the checkpoint in `<dir>.tmp` and renames it.
                let mut tmp = dir.clone().into_os_string();
                tmp.push(".tmp");
                remove_dirs(vec![dir, PathBuf::from(tmp)]);
                return Err(e);
            }
        };
        let bytes: u64 = files.iter().map(|f| f.len).sum();
        let response = CheckpointPrepareResponse {
            id: id.clone(),
            decree: decree.0,
            files: files
                .iter()
                .map(|f| CheckpointFileMsg {
                    name: f.name.clone(),
                    len: f.len,
                })
                .collect(),
        };
        let evicted = {
            let mut live = lock(&self.live);
            live.insert(
                id.clone(),
                Prepared {
                    gpid,
                    dir,
                    files: files.into(),
                    last_used: Instant::now(),
                },
            );
            let mut mine: Vec<(Instant, String)> = live
                .iter()
                .filter(|(_, p)| p.gpid == gpid)
                .map(|(id, p)| (p.last_used, id.clone()))
                .collect();
            mine.sort();
            let excess = mine.len().saturating_sub(self.max_per_partition);
            mine.into_iter()
                .take(excess)
                .filter_map(|(_, id)| live.remove(&id))
                .map(|p| p.dir)
                .collect::<Vec<_>>()
        };
        info!(%gpid, %id, %decree, files = response.files.len(), bytes, "checkpoint prepared");
        if !evicted.is_empty() {
            info!(%gpid, count = evicted.len(), "dropping older checkpoints over the per-partition limit");
            remove_dirs(evicted);
        }
        Ok(response)
    }

    /// Serves one chunk of one file of a prepared checkpoint.
    pub fn fetch(
        &self,
        req: &CheckpointFetchRequest,
    ) -> Result<CheckpointFetchResponse, LearnError> {
        let gpid = Gpid::new(req.table_id, req.partition_id);
        let (dir, files) = {
            let mut live = lock(&self.live);
            let prepared = live
                .get_mut(&req.id)
                .ok_or_else(|| LearnError::UnknownCheckpoint(req.id.clone()))?;
            if prepared.gpid != gpid {
                return Err(LearnError::WrongPartition {
                    id: req.id.clone(),
                    gpid,
                });
            }
            // A transfer in progress keeps its checkpoint alive.
            prepared.last_used = Instant::now();
            (prepared.dir.clone(), prepared.files.clone())
        };
        let data = checkpoint::read_chunk(&dir, &files, &req.name, req.offset, req.len)?;
        Ok(CheckpointFetchResponse {
            data: Bytes::from(data),
        })
    }

    /// Deletes checkpoints unused for longer than the TTL; returns how many.
    /// Call it periodically.
    pub fn gc(&self) -> usize {
        self.gc_at(Instant::now())
    }

    fn gc_at(&self, now: Instant) -> usize {
        let expired: Vec<PathBuf> = {
            let mut live = lock(&self.live);
            let ids: Vec<String> = live
                .iter()
                .filter(|(_, p)| now.saturating_duration_since(p.last_used) > self.ttl)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| live.remove(id))
                .map(|p| p.dir)
                .collect()
        };
        let count = expired.len();
        if count > 0 {
            info!(count, "dropping expired checkpoints");
            remove_dirs(expired);
        }
        count
    }
}

fn make_checkpoint(
    engine: &RocksEngine,
    dir: &Path,
) -> Result<(Decree, Vec<CheckpointFile>), LearnError> {
    let decree = engine.checkpoint(dir)?;
    Ok((decree, checkpoint::list_files(dir)?))
}

/// Best-effort deletion; a leftover is cleared at the next start-up.
fn remove_dirs(dirs: Vec<PathBuf>) {
    for dir in dirs {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => debug!(dir = %dir.display(), "checkpoint removed"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!(dir = %dir.display(), error = %e, "cannot remove checkpoint"),
        }
    }
}

// ---------------------------------------------------------------------------
// Learner side
// ---------------------------------------------------------------------------

/// Copies a checkpoint of `gpid` from `primary` into `staging` (replaced if
/// present) and returns the applied decree it holds. Every file is checked
/// against its listed length and fsynced, and the staged database is opened
/// read-only to confirm the decree. On error `staging` is removed.
pub async fn download(
    rpc: &RpcClient,
    primary: &str,
    gpid: Gpid,
    ballot: Ballot,
    staging: &Path,
) -> Result<Decree, LearnError> {
    let result = download_into(rpc, primary, gpid, ballot, staging).await;
    if let Err(e) = &result {
        warn!(%gpid, %primary, error = %e, "checkpoint download failed");
        let dir = staging.to_path_buf();
        let removed = blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &dir)(e)),
            _ => Ok(()),
        })
        .await;
        if let Err(e) = removed {
            warn!(staging = %staging.display(), error = %e, "cannot remove failed staging directory");
        }
    }
    result
}

async fn download_into(
    rpc: &RpcClient,
    primary: &str,
    gpid: Gpid,
    ballot: Ballot,
    staging: &Path,
) -> Result<Decree, LearnError> {
    let started = Instant::now();
    let req = CheckpointPrepareRequest {
        table_id: gpid.table.0,
        partition_id: gpid.partition.0,
        ballot: ballot.0,
    };
    let prepared: CheckpointPrepareResponse = rpc
        .call(primary, method::CHECKPOINT_PREPARE, &req, PREPARE_TIMEOUT)
        .await
        .map_err(|source| LearnError::Rpc {
            method: "prepare",
            peer: primary.to_string(),
            source,
        })?;
    check_listing(&prepared.files)?;
    let announced = Decree(prepared.decree);
    let bytes: u64 = prepared.files.iter().map(|f| f.len).sum();
    info!(%gpid, %primary, id = %prepared.id, decree = %announced, files = prepared.files.len(), bytes, "downloading checkpoint");

    let dir = staging.to_path_buf();
    blocking(move || fresh_dir(&dir)).await?;
    for file in &prepared.files {
        fetch_file(rpc, primary, gpid, &prepared.id, file, staging).await?;
    }
    let dir = staging.to_path_buf();
    let found = blocking(move || {
        sync_dir(&dir)?;
        Ok(checkpoint::applied_decree_of(&dir)?)
    })
    .await?;
    if found != announced {
        return Err(LearnError::DecreeMismatch { announced, found });
    }
    info!(%gpid, %primary, decree = %announced, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "checkpoint downloaded");
    Ok(announced)
}

/// Refuses a listing that could write outside the staging directory, names
/// a file twice, or is not a database.
fn check_listing(files: &[CheckpointFileMsg]) -> Result<(), LearnError> {
    let mut seen = std::collections::HashSet::new();
    for f in files {
        checkpoint::validate_name(&f.name)
            .map_err(|_| LearnError::BadListing(format!("unsafe file name {:?}", f.name)))?;
        if !seen.insert(f.name.as_str()) {
            return Err(LearnError::BadListing(format!("{:?} listed twice", f.name)));
        }
    }
    if !seen.contains("CURRENT") {
        return Err(LearnError::BadListing("no CURRENT file".into()));
    }
    Ok(())
}

/// Fetches one file in chunks, a few requests in flight, writing them in
/// order; then checks its length and fsyncs it.
async fn fetch_file(
    rpc: &RpcClient,
    primary: &str,
    gpid: Gpid,
    id: &str,
    file: &CheckpointFileMsg,
    staging: &Path,
) -> Result<(), LearnError> {
    let path = staging.join(&file.name);
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(io_err("create", &path))?;
    let chunk = u64::from(FETCH_CHUNK);
    let offsets = (0..file.len.div_ceil(chunk)).map(|i| i * chunk);
    let mut chunks = futures::stream::iter(offsets)
        .map(|offset| {
            let want = (file.len - offset).min(chunk);
            let req = CheckpointFetchRequest {
                table_id: gpid.table.0,
                partition_id: gpid.partition.0,
                id: id.to_string(),
                name: file.name.clone(),
                offset,
                // At most FETCH_CHUNK, so lossless.
                len: want as u32,
            };
            async move {
                let resp: CheckpointFetchResponse = rpc
                    .call(primary, method::CHECKPOINT_FETCH, &req, FETCH_TIMEOUT)
                    .await
                    .map_err(|source| LearnError::Rpc {
                        method: "fetch",
                        peer: primary.to_string(),
                        source,
                    })?;
                Ok::<_, LearnError>((offset, want, resp.data))
            }
        })
        .buffered(FETCH_WINDOW);
    let mut written = 0u64;
    while let Some((offset, want, data)) = chunks.try_next().await? {
        let got = data.len() as u64;
        // Every chunk lies inside the listed length, so the primary owes
        // exactly what was asked; less means its file is shorter than listed.
        if got < want {
            return Err(LearnError::Truncated {
                name: file.name.clone(),
                expected: file.len,
                got: offset + got,
            });
        }
        if got > want {
            return Err(LearnError::OversizedChunk {
                name: file.name.clone(),
                offset,
                asked: want,
                got,
            });
        }
        out.write_all(&data).await.map_err(io_err("write", &path))?;
        written += got;
    }
    out.flush().await.map_err(io_err("write", &path))?;
    out.sync_all().await.map_err(io_err("fsync", &path))?;
    let on_disk = out
        .metadata()
        .await
        .map_err(io_err("inspect", &path))?
        .len();
    if written != file.len || on_disk != file.len {
        return Err(LearnError::Truncated {
            name: file.name.clone(),
            expected: file.len,
            got: on_disk,
        });
    }
    debug!(%gpid, name = %file.name, bytes = file.len, "checkpoint file fetched");
    Ok(())
}

/// The staging directory for the replica whose database is `db_dir`.
pub fn staging_dir(db_dir: &Path) -> Result<PathBuf, LearnError> {
    sibling(db_dir, "learn")
}

fn old_dir(db_dir: &Path) -> Result<PathBuf, LearnError> {
    sibling(db_dir, "old")
}

/// `<db_dir>.<suffix>`, next to `db_dir`.
fn sibling(db_dir: &Path, suffix: &str) -> Result<PathBuf, LearnError> {
    let name = db_dir
        .file_name()
        .ok_or_else(|| LearnError::BadPath(db_dir.to_path_buf()))?;
    let mut sibling = name.to_os_string();
    sibling.push(".");
    sibling.push(suffix);
    Ok(db_dir.with_file_name(sibling))
}

fn parent_of(path: &Path) -> Result<&Path, LearnError> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p),
        Some(_) => Ok(Path::new(".")),
        None => Err(LearnError::BadPath(path.to_path_buf())),
    }
}

/// Replaces the database at `db_dir` with the checkpoint in `staging`.
///
/// The caller has CLOSED the replica's RocksDB at `db_dir` (and keeps it
/// closed until this returns). `staging` should be [`staging_dir`]`(db_dir)`:
/// a sibling, so the renames are atomic and [`recover`] knows to clean it.
/// On `Err`, run [`recover`] before reopening, and trust the reopened
/// engine's `applied_decree()` to tell which database is in place. Blocks.
pub fn install(staging: &Path, db_dir: &Path) -> Result<(), LearnError> {
    let parent = parent_of(db_dir)?;
    let old = old_dir(db_dir)?;
    if !staging.join("CURRENT").is_file() {
        return Err(LearnError::NotACheckpoint(staging.to_path_buf()));
    }
    // A previous install cut short must not leave two `.old`s to choose from.
    settle_old(db_dir, &old)?;
    let had_db = db_dir.try_exists().map_err(io_err("inspect", db_dir))?;
    if had_db {
        std::fs::rename(db_dir, &old).map_err(io_err("move aside", db_dir))?;
        sync_dir(parent)?;
    }
    if let Err(e) = std::fs::rename(staging, db_dir) {
        if had_db {
            // Put the old database back rather than leave the replica without one.
            match std::fs::rename(&old, db_dir).map_err(io_err("restore", &old)) {
                Ok(()) => sync_dir(parent)?,
                Err(back) => {
                    error!(db = %db_dir.display(), error = %back, "cannot restore the old database; recover() will")
                }
            }
        }
        return Err(io_err("move into place", staging)(e));
    }
    sync_dir(parent)?;
    if let Some(staging_parent) = staging.parent() {
        if staging_parent != parent && !staging_parent.as_os_str().is_empty() {
            sync_dir(staging_parent)?;
        }
    }
    if had_db {
        // The new database is durable in place; the old one is garbage, and a
        // crash during this deletion leaves a `.old` that recover() removes.
        std::fs::remove_dir_all(&old).map_err(io_err("remove", &old))?;
        sync_dir(parent)?;
    }
    info!(db = %db_dir.display(), "checkpoint installed");
    Ok(())
}

/// Leaves exactly one database at `db_dir` after a crash during [`download`]
/// or [`install`] (see the module doc). Run it before every
/// `RocksEngine::open` of a replica. Does nothing when there is nothing to
/// settle. Blocks.
pub fn recover(db_dir: &Path) -> Result<(), LearnError> {
    settle_old(db_dir, &old_dir(db_dir)?)?;
    let staging = staging_dir(db_dir)?;
    if staging.try_exists().map_err(io_err("inspect", &staging))? {
        std::fs::remove_dir_all(&staging).map_err(io_err("remove", &staging))?;
        info!(staging = %staging.display(), "removed an unfinished checkpoint download");
    }
    Ok(())
}

fn settle_old(db_dir: &Path, old: &Path) -> Result<(), LearnError> {
    if !old.try_exists().map_err(io_err("inspect", old))? {
        return Ok(());
    }
    let parent = parent_of(db_dir)?;
    if db_dir.try_exists().map_err(io_err("inspect", db_dir))? {
        // The swap finished; only deleting the old copy was cut short.
        std::fs::remove_dir_all(old).map_err(io_err("remove", old))?;
        info!(db = %db_dir.display(), "removed the database a finished install replaced");
    } else {
        // Cut short between the two renames: the old database is whole.
        std::fs::rename(old, db_dir).map_err(io_err("restore", old))?;
        warn!(db = %db_dir.display(), "install was interrupted; restored the previous database");
    }
    sync_dir(parent)
}

/// Removes `dir` if present and creates it empty.
fn fresh_dir(dir: &Path) -> Result<(), LearnError> {
    if dir.try_exists().map_err(io_err("inspect", dir))? {
        std::fs::remove_dir_all(dir).map_err(io_err("remove", dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))
}

/// Makes the entries of `dir` (creations, renames, deletions) durable.
fn sync_dir(dir: &Path) -> Result<(), LearnError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LearnError> + Send + 'static,
) -> Result<T, LearnError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LearnError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::future::BoxFuture;
    use futures::FutureExt;
    use petrel_common::rpc::server::{decode, encode, serve, Handled, Service};
    use tokio::net::TcpListener;

    use super::*;
    use crate::storage::rocks::RocksOptions;
    use crate::storage::{Engine, Mutation, ReadView, WriteOp};

    const GPID: Gpid = Gpid {
        table: petrel_common::ids::TableId(1),
        partition: petrel_common::ids::PartitionId(2),
    };

    /// How the test primary lies about its checkpoint.
    #[derive(Clone, Copy, PartialEq)]
    enum Tamper {
        Honest,
        /// Lists the largest file 7 bytes longer than it is.
        LongerListing,
        /// Lists a file under a name that escapes the staging directory.
        EscapingName,
    }

    /// Routes the two checkpoint methods to a store, the way the server's
    /// service does.
    struct Primary {
        store: CheckpointStore,
        engine: RocksEngine,
        tamper: Tamper,
    }

    impl Service for Primary {
        fn call(self: Arc<Self>, method: u16, body: Bytes) -> BoxFuture<'static, Handled> {
            async move {
                match method {
                    method::CHECKPOINT_PREPARE => {
                        let req: CheckpointPrepareRequest = decode(body)?;
                        let gpid = Gpid::new(req.table_id, req.partition_id);
                        let this = self.clone();
                        let mut resp = tokio::task::spawn_blocking(move || {
                            this.store.prepare(gpid, &this.engine)
                        })
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())?;
                        match self.tamper {
                            Tamper::Honest => {}
                            Tamper::LongerListing => {
                                if let Some(f) = resp.files.iter_mut().max_by_key(|f| f.len) {
                                    f.len += 7;
                                }
                            }
                            Tamper::EscapingName => resp.files.push(CheckpointFileMsg {
                                name: "../escaped".into(),
                                len: 1,
                            }),
                        }
                        encode(&resp)
                    }
                    method::CHECKPOINT_FETCH => {
                        let req: CheckpointFetchRequest = decode(body)?;
                        let this = self.clone();
                        let resp = tokio::task::spawn_blocking(move || this.store.fetch(&req))
                            .await
                            .map_err(|e| e.to_string())?
                            .map_err(|e| e.to_string())?;
                        encode(&resp)
                    }
                    _ => Err(format!("no method {method}")),
                }
            }
            .boxed()
        }
    }

    /// Deterministic, incompressible bytes: big values make SST files span
    /// several fetch chunks even after LZ4.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Every record in the engine, the applied-decree record included.
    fn contents(engine: &RocksEngine) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        engine
            .scan(b"", &[0xff; 16], &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                true
            })
            .expect("scan");
        out
    }

    /// A primary replica holding flushed and unflushed data, ending at decree 40.
    fn primary_engine(dir: &Path) -> RocksEngine {
        let engine = RocksEngine::open(dir, &RocksOptions::default()).unwrap();
        for d in 1..=40u64 {
            let key = format!("\x01key{d:03}").into_bytes();
            let mut ops = vec![WriteOp::Put(key, noise(d, 100 << 10))];
            if d % 10 == 0 {
                ops.push(WriteOp::Delete(format!("\x01key{:03}", d - 1).into_bytes()));
            }
            engine.apply(Decree(d), &Mutation { ops }).unwrap();
            if d == 25 {
                engine.flush().unwrap();
            }
        }
        engine
    }

    /// A replica directory holding some other database at decree 3.
    fn stale_replica(dir: &Path) {
        let engine = RocksEngine::open(dir, &RocksOptions::default()).unwrap();
        let ops = vec![WriteOp::Put(b"\x01stale".to_vec(), b"old".to_vec())];
        engine.apply(Decree(3), &Mutation { ops }).unwrap();
        engine.flush().unwrap();
    }

    async fn start_primary(root: &Path, tamper: Tamper) -> (String, Arc<Primary>) {
        let data_dir = root.join("primary");
        let engine = primary_engine(&data_dir.join("replicas").join("1.2"));
        let store = CheckpointStore::open(
            &data_dir,
            CheckpointStore::DEFAULT_TTL,
            CheckpointStore::DEFAULT_MAX_PER_PARTITION,
        )
        .unwrap();
        let primary = Arc::new(Primary {
            store,
            engine,
            tamper,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(serve(listener, primary.clone()));
        (addr, primary)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn learner_copies_and_installs_the_primary_checkpoint() {
        let root = tempfile::tempdir().unwrap();
        let (addr, primary) = start_primary(root.path(), Tamper::Honest).await;
        let expected = contents(&primary.engine);

        let db_dir = root.path().join("learner").join("replicas").join("1.2");
        stale_replica(&db_dir);
        let staging = staging_dir(&db_dir).unwrap();
        let rpc = RpcClient::new();
        let decree = download(&rpc, &addr, GPID, Ballot(3), &staging)
            .await
            .unwrap();
        assert_eq!(decree, Decree(40));
        // The primary moves on; the copy is the state at prepare time.
        let later = vec![WriteOp::Put(b"\x01after".to_vec(), b"x".to_vec())];
        primary
            .engine
            .apply(Decree(41), &Mutation { ops: later })
            .unwrap();
        let sst_over_a_chunk = std::fs::read_dir(&staging)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.metadata().unwrap().len() > u64::from(FETCH_CHUNK));
        assert!(sst_over_a_chunk, "test data should span several chunks");

        let (s, d) = (staging.clone(), db_dir.clone());
        tokio::task::spawn_blocking(move || install(&s, &d))
            .await
            .unwrap()
            .unwrap();
        assert!(!staging.exists());
        assert!(!old_dir(&db_dir).unwrap().exists());
        recover(&db_dir).unwrap();

        let learner = RocksEngine::open(&db_dir, &RocksOptions::default()).unwrap();
        assert_eq!(learner.applied_decree().unwrap(), Decree(40));
        assert_eq!(contents(&learner), expected);
        assert_eq!(learner.get(b"\x01stale").unwrap(), None);
        assert_eq!(learner.get(b"\x01after").unwrap(), None);
    }

    #[tokio::test]
    async fn fetch_refuses_names_outside_the_checkpoint() {
        let root = tempfile::tempdir().unwrap();
        let (addr, _primary) = start_primary(root.path(), Tamper::Honest).await;
        std::fs::write(root.path().join("primary").join("secret"), b"secret").unwrap();
        let rpc = RpcClient::new();
        let prepared: CheckpointPrepareResponse = rpc
            .call(
                &addr,
                method::CHECKPOINT_PREPARE,
                &CheckpointPrepareRequest {
                    table_id: 1,
                    partition_id: 2,
                    ballot: 3,
                },
                PREPARE_TIMEOUT,
            )
            .await
            .unwrap();
        let fetch = |id: &str, table_id: u32, name: &str| {
            let req = CheckpointFetchRequest {
                table_id,
                partition_id: 2,
                id: id.to_string(),
                name: name.to_string(),
                offset: 0,
                len: 100,
            };
            let rpc = rpc.clone();
            let addr = addr.clone();
            async move {
                rpc.call::<_, CheckpointFetchResponse>(
                    &addr,
                    method::CHECKPOINT_FETCH,
                    &req,
                    FETCH_TIMEOUT,
                )
                .await
            }
        };
        let current = fetch(&prepared.id, 1, "CURRENT").await.unwrap();
        assert!(current.data.starts_with(b"MANIFEST-"));
        let escape = format!("../../{}/../secret", prepared.id);
        for name in [
            "../secret",
            "/etc/passwd",
            "..",
            "",
            "not-listed",
            escape.as_str(),
        ] {
            match fetch(&prepared.id, 1, name).await {
                Err(RpcError::Remote(_)) => {}
                other => panic!("{name:?} gave {other:?}"),
            }
        }
        // Ids are looked up, never used as paths.
        assert!(matches!(
            fetch("../primary", 1, "CURRENT").await,
            Err(RpcError::Remote(_))
        ));
        // A checkpoint only serves its own partition.
        assert!(matches!(
            fetch(&prepared.id, 9, "CURRENT").await,
            Err(RpcError::Remote(_))
        ));
    }

    #[tokio::test]
    async fn truncated_transfer_fails_and_leaves_the_replica_alone() {
        let root = tempfile::tempdir().unwrap();
        let (addr, _primary) = start_primary(root.path(), Tamper::LongerListing).await;
        let db_dir = root.path().join("learner").join("1.2");
        stale_replica(&db_dir);
        let staging = staging_dir(&db_dir).unwrap();
        let err = download(&RpcClient::new(), &addr, GPID, Ballot(3), &staging)
            .await
            .unwrap_err();
        assert!(matches!(err, LearnError::Truncated { .. }), "{err}");
        assert!(!staging.exists());
        // Nothing to install: the replica keeps its own database.
        assert!(matches!(
            install(&staging, &db_dir),
            Err(LearnError::NotACheckpoint(_))
        ));
        let engine = RocksEngine::open(&db_dir, &RocksOptions::default()).unwrap();
        assert_eq!(engine.applied_decree().unwrap(), Decree(3));
        assert_eq!(engine.get(b"\x01stale").unwrap(), Some(b"old".to_vec()));
    }

    #[tokio::test]
    async fn listing_that_escapes_staging_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let (addr, _primary) = start_primary(root.path(), Tamper::EscapingName).await;
        let learner = root.path().join("learner");
        let staging = staging_dir(&learner.join("1.2")).unwrap();
        let err = download(&RpcClient::new(), &addr, GPID, Ballot(3), &staging)
            .await
            .unwrap_err();
        assert!(matches!(err, LearnError::BadListing(_)), "{err}");
        assert!(!staging.exists());
        assert!(!learner.join("escaped").exists());
    }

    #[tokio::test]
    async fn unreachable_primary_is_an_rpc_error() {
        let root = tempfile::tempdir().unwrap();
        // Bind and drop to get a port nobody listens on.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let staging = root.path().join("1.2.learn");
        let err = download(&RpcClient::new(), &addr, GPID, Ballot(1), &staging)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                LearnError::Rpc {
                    method: "prepare",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn store_expires_and_caps_checkpoints_and_clears_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(&root.path().join("db"), &RocksOptions::default()).unwrap();
        let ops = vec![WriteOp::Put(b"\x01k".to_vec(), b"v".to_vec())];
        engine.apply(Decree(1), &Mutation { ops }).unwrap();
        let ttl = Duration::from_secs(60);
        let store = CheckpointStore::open(root.path(), ttl, 2).unwrap();
        let other = Gpid::new(1, 3);
        let kept_other = store.prepare(other, &engine).unwrap();
        let first = store.prepare(GPID, &engine).unwrap();
        let _second = store.prepare(GPID, &engine).unwrap();
        let third = store.prepare(GPID, &engine).unwrap();
        assert_eq!(third.decree, 1);
        let dirs = || std::fs::read_dir(store.root()).unwrap().count();
        // Two for GPID (the oldest evicted), one for the other partition.
        assert_eq!(dirs(), 3);
        let fetch = |id: &str, gpid: Gpid| {
            store.fetch(&CheckpointFetchRequest {
                table_id: gpid.table.0,
                partition_id: gpid.partition.0,
                id: id.to_string(),
                name: "CURRENT".into(),
                offset: 0,
                len: 64,
            })
        };
        assert!(matches!(
            fetch(&first.id, GPID),
            Err(LearnError::UnknownCheckpoint(_))
        ));
        assert!(fetch(&third.id, GPID).is_ok());
        assert!(matches!(
            fetch(&third.id, other),
            Err(LearnError::WrongPartition { .. })
        ));

        assert_eq!(store.gc(), 0);
        assert_eq!(
            store.gc_at(Instant::now() + ttl + Duration::from_secs(1)),
            3
        );
        assert_eq!(dirs(), 0);
        assert!(matches!(
            fetch(&kept_other.id, other),
            Err(LearnError::UnknownCheckpoint(_))
        ));

        // A restart removes whatever the last run left.
        store.prepare(GPID, &engine).unwrap();
        std::fs::create_dir(store.root().join("1.2-junk.tmp")).unwrap();
        drop(store);
        let reopened = CheckpointStore::open(root.path(), ttl, 2).unwrap();
        assert_eq!(std::fs::read_dir(reopened.root()).unwrap().count(), 0);
    }

    #[test]
    fn install_into_a_fresh_replica_dir() {
        let root = tempfile::tempdir().unwrap();
        let source = RocksEngine::open(&root.path().join("src"), &RocksOptions::default()).unwrap();
        let ops = vec![WriteOp::Put(b"\x01k".to_vec(), b"v".to_vec())];
        source.apply(Decree(12), &Mutation { ops }).unwrap();
        let db_dir = root.path().join("replicas").join("1.2");
        std::fs::create_dir_all(db_dir.parent().unwrap()).unwrap();
        let staging = staging_dir(&db_dir).unwrap();
        assert_eq!(source.checkpoint(&staging).unwrap(), Decree(12));
        install(&staging, &db_dir).unwrap();
        let engine = RocksEngine::open(&db_dir, &RocksOptions::default()).unwrap();
        assert_eq!(engine.applied_decree().unwrap(), Decree(12));
        assert_eq!(engine.get(b"\x01k").unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn recover_settles_every_crash_point() {
        let root = tempfile::tempdir().unwrap();
        let db_dir = root.path().join("1.2");
        let old = old_dir(&db_dir).unwrap();
        let staging = staging_dir(&db_dir).unwrap();
        assert_eq!(old, root.path().join("1.2.old"));
        assert_eq!(staging, root.path().join("1.2.learn"));
        let decree_at = |dir: &Path| {
            RocksEngine::open(dir, &RocksOptions::default())
                .unwrap()
                .applied_decree()
                .unwrap()
        };
        let make = |dir: &Path, decree: u64| {
            let engine = RocksEngine::open(dir, &RocksOptions::default()).unwrap();
            let ops = vec![WriteOp::Put(
                b"\x01k".to_vec(),
                decree.to_string().into_bytes(),
            )];
            engine.apply(Decree(decree), &Mutation { ops }).unwrap();
            engine.flush().unwrap();
        };

        // Nothing to do.
        recover(&db_dir).unwrap();
        assert!(!db_dir.exists());

        // Crash between the two renames: the old database comes back, the
        // staged one is dropped.
        make(&old, 5);
        make(&staging, 9);
        recover(&db_dir).unwrap();
        assert_eq!(decree_at(&db_dir), Decree(5));
        assert!(!old.exists() && !staging.exists());

        // Crash while deleting the old copy: the new database stays.
        std::fs::rename(&db_dir, &old).unwrap();
        make(&db_dir, 9);
        recover(&db_dir).unwrap();
        assert_eq!(decree_at(&db_dir), Decree(9));
        assert!(!old.exists());

        // An install after an interrupted one settles the leftover first.
        make(&old, 5);
        make(&staging, 11);
        install(&staging, &db_dir).unwrap();
        assert_eq!(decree_at(&db_dir), Decree(11));
        assert!(!old.exists() && !staging.exists());
    }

    #[test]
    fn paths_without_a_name_are_refused() {
        assert!(matches!(
            staging_dir(Path::new("/")),
            Err(LearnError::BadPath(_))
        ));
        assert!(matches!(
            recover(Path::new("..")),
            Err(LearnError::BadPath(_))
        ));
        assert_eq!(
            staging_dir(Path::new("data/replicas/1.2/")).unwrap(),
            PathBuf::from("data/replicas/1.2.learn")
        );
    }
}
