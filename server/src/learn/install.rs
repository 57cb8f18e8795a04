//! The learner's side, on disk: swapping a downloaded checkpoint in for the
//! replica's database, crash-safely.
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

use std::path::{Path, PathBuf};

use petrel_common::ids::Decree;
use tracing::{error, info, warn};

use super::{io_err, sync_dir, LearnError};
use crate::storage::rocks::{RocksEngine, RocksOptions};
use crate::storage::Engine;

/// What [`install_and_open`] left in place.
pub(crate) enum Installed {
    /// The checkpoint is the replica's database now, open.
    New(RocksEngine),
    /// The swap failed; the old database is back in place, open.
    Old(RocksEngine, LearnError),
}

/// Swaps the checkpoint in `staging` (copied by [`super::download`], said to
/// hold `announced`) in for the database at `db_dir`, then opens whatever is
/// in place and checks it holds `announced`.
///
/// The caller has CLOSED the replica's RocksDB at `db_dir`. Even when the
/// swap fails, the directory is settled (old or new database, never
/// neither) and reopened. `Err` leaves no database open. Blocks.
pub(crate) fn install_and_open(
    staging: &Path,
    db_dir: &Path,
    rocks: &RocksOptions,
    announced: Decree,
) -> Result<Installed, LearnError> {
    let installed = install(staging, db_dir);
    recover(db_dir)?;
    let engine = RocksEngine::open(db_dir, rocks)?;
    if let Err(e) = installed {
        return Ok(Installed::Old(engine, e));
    }
    let found = engine.applied_decree()?;
    if found != announced {
        return Err(LearnError::DecreeMismatch { announced, found });
    }
    Ok(Installed::New(engine))
}

/// The staging directory for the replica whose database is `db_dir`.
pub(crate) fn staging_dir(db_dir: &Path) -> Result<PathBuf, LearnError> {
    sibling(db_dir, "learn")
}

pub(super) fn old_dir(db_dir: &Path) -> Result<PathBuf, LearnError> {
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
pub(crate) fn install(staging: &Path, db_dir: &Path) -> Result<(), LearnError> {
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
pub(crate) fn recover(db_dir: &Path) -> Result<(), LearnError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rocks::{RocksEngine, RocksOptions};
    use crate::storage::{Engine, Mutation, ReadView, WriteOp};
    use petrel_common::ids::Decree;

    #[test]
    fn install_into_a_fresh_replica_dir() {
        let root = tempfile::tempdir().unwrap();
        let source = RocksEngine::open(&root.path().join("src"), &RocksOptions::default()).unwrap();
        let ops = vec![WriteOp::Put(b"\x02k".to_vec(), b"v".to_vec())];
        source.apply(Decree(12), &Mutation { ops }).unwrap();
        let db_dir = root.path().join("replicas").join("1.2");
        std::fs::create_dir_all(db_dir.parent().unwrap()).unwrap();
        let staging = staging_dir(&db_dir).unwrap();
        assert_eq!(source.checkpoint(&staging).unwrap(), Decree(12));
        install(&staging, &db_dir).unwrap();
        let engine = RocksEngine::open(&db_dir, &RocksOptions::default()).unwrap();
        assert_eq!(engine.applied_decree().unwrap(), Decree(12));
        assert_eq!(engine.get(b"\x02k").unwrap(), Some(b"v".to_vec()));
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
                b"\x02k".to_vec(),
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
