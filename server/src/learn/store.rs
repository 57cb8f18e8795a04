//! The checkpoints a primary has prepared for its learners.
//!
//! A learner names a checkpoint by the id [`CheckpointStore::prepare`]
//! handed out, never by a path; each one lives until it has gone unused for
//! its TTL, and a partition keeps only its few most recently used.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::ids::{Decree, Gpid};
use petrel_common::msg::{
    CheckpointFetchRequest, CheckpointFetchResponse, CheckpointFileMsg, CheckpointPrepareResponse,
};
use petrel_common::sync::lock;
use tracing::{debug, info, warn};

use super::files::{self, CheckpointFile};
use super::{io_err, LearnError};
use crate::storage::rocks::RocksEngine;

/// The checkpoints a server has prepared for learners, under
/// `<data_dir>/checkpoints/<table>.<partition>-<nonce>-<seq>`.
///
/// Every method blocks (checkpoints flush, deletions walk directories);
/// call them from a blocking thread.
pub(crate) struct CheckpointStore {
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
    pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(600);
    /// Checkpoints kept per partition; preparing one more drops the least
    /// recently used.
    pub(crate) const DEFAULT_MAX_PER_PARTITION: usize = 3;

    /// Opens the store under `<data_dir>/checkpoints`, deleting whatever a
    /// previous run left there (no learner can name those checkpoints).
    pub(crate) fn open(
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
    #[cfg(test)]
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Checkpoints `engine` (the replica of `gpid`) and lists its files. The
    /// caller checks first that this server is `gpid`'s primary at the
    /// ballot the learner named.
    pub(crate) fn prepare(
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
    pub(crate) fn fetch(
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
        let data = files::read_chunk(&dir, &files, &req.name, req.offset, req.len)?;
        Ok(CheckpointFetchResponse {
            data: Bytes::from(data),
        })
    }

    /// Deletes checkpoints unused for longer than the TTL; returns how many.
    /// Call it periodically.
    pub(crate) fn gc(&self) -> usize {
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
    Ok((decree, files::list_files(dir)?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rocks::RocksOptions;
    use crate::storage::{Engine, Mutation, WriteOp};

    const GPID: Gpid = Gpid {
        table: petrel_common::ids::TableId(1),
        partition: petrel_common::ids::PartitionId(2),
    };

    #[test]
    fn store_expires_and_caps_checkpoints_and_clears_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(&root.path().join("db"), &RocksOptions::default()).unwrap();
        let ops = vec![WriteOp::Put(b"\x02k".to_vec(), b"v".to_vec())];
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
}
