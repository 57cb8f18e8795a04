//! The meta group's state machine: meta's [`MetaState`], replaced by each
//! applied entry, and its snapshots.
//!
//! The state lives behind the same lock the service reads, so every answer
//! reflects applied (committed) state only. A snapshot is the state as JSON
//! with the log position it covers and the membership; it is written to
//! `raft/snapshot.json` (fsync, atomic rename) before openraft may purge
//! the entries it covers, and loaded on start, after which openraft
//! re-applies the committed entries that follow it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use petrel_common::sync::lock;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::state::MetaState;

/// The format of `raft/snapshot.json`; raise it with a conversion when an
/// older meta would misread a newer file.
const SNAPSHOT_FORMAT: u32 = 1;

/// The snapshot file: its format, the position and membership it covers,
/// and the state.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    format_version: u32,
    meta: SnapshotMeta,
    state: MetaState,
}

/// Just the format, read before anything else is trusted.
#[derive(Deserialize)]
struct FormatOnly {
    format_version: u32,
}

/// What the state machine knows besides the state itself.
#[derive(Default)]
struct Position {
    applied: Option<LogId>,
    membership: StoredMembership,
    /// How many snapshots this process built (part of their ids).
    built: u64,
}

/// The state machine openraft applies entries to; clones share it.
#[derive(Clone)]
pub struct StateMachine {
    state: Arc<Mutex<MetaState>>,
    position: Arc<Mutex<Position>>,
    dir: PathBuf,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read_snapshot(None, &e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_snapshot(None, &e).into()
}

/// The state in the snapshot file in `dir`, if there is one.
pub fn snapshot_state_in(dir: &Path) -> std::io::Result<Option<MetaState>> {
    let sm = StateMachine {
        state: Arc::default(),
        position: Arc::default(),
        dir: dir.to_path_buf(),
    };
    Ok(sm.read_snapshot_file()?.map(|f| f.state))
}

impl StateMachine {
    /// The state machine over `state`, starting from the snapshot in `dir`
    /// if there is one (which then replaces `state`).
    pub fn open(dir: &Path, state: Arc<Mutex<MetaState>>) -> std::io::Result<StateMachine> {
        std::fs::create_dir_all(dir)?;
        let sm = StateMachine {
            state,
            position: Arc::default(),
            dir: dir.to_path_buf(),
        };
        if let Some(file) = sm.read_snapshot_file()? {
            info!(
                applied = ?file.meta.last_log_id,
                tables = file.state.tables.len(),
                "meta state loaded from the raft snapshot"
            );
            *lock(&sm.state) = file.state;
            let mut p = lock(&sm.position);
            p.applied = file.meta.last_log_id;
            p.membership = file.meta.last_membership;
        }
        Ok(sm)
    }

    fn path(&self) -> PathBuf {
        self.dir.join("snapshot.json")
    }

    fn read_snapshot_file(&self) -> std::io::Result<Option<SnapshotFile>> {
        let path = self.path();
        let Some(bytes) = petrel_common::fsutil::read_if_exists(&path)? else {
            return Ok(None);
        };
        let bad = |m: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {m}", path.display()),
            )
        };
        let format: FormatOnly = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if format.format_version != SNAPSHOT_FORMAT {
            return Err(bad(format!(
                "format version {} (this petrel-meta reads {SNAPSHOT_FORMAT})",
                format.format_version
            )));
        }
        let file: SnapshotFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Some(file))
    }

    fn write_snapshot_file(
        &self,
        meta: &SnapshotMeta,
        state: &MetaState,
    ) -> std::io::Result<Vec<u8>> {
        let data = serde_json::to_vec(state).map_err(std::io::Error::other)?;
        let file = serde_json::to_vec(&SnapshotFile {
            format_version: SNAPSHOT_FORMAT,
            meta: meta.clone(),
            state: state.clone(),
        })
        .map_err(std::io::Error::other)?;
        petrel_common::fsutil::write_atomic(&self.path(), &file)?;
        Ok(data)
    }

    /// The last applied log position.
    pub fn applied(&self) -> Option<LogId> {
        lock(&self.position).applied
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // One consistent view: the position is only changed with the state.
        let (state, meta) = {
            let state = lock(&self.state);
            let mut p = lock(&self.position);
            p.built += 1;
            let id = match p.applied {
                Some(l) => format!("{}-{}-{}", l.leader_id, l.index, p.built),
                None => format!("--{}", p.built),
            };
            (
                state.clone(),
                SnapshotMeta {
                    last_log_id: p.applied,
                    last_membership: p.membership.clone(),
                    snapshot_id: id,
                },
            )
        };
        let data = self.write_snapshot_file(&meta, &state).map_err(write_err)?;
        metrics::counter!("petrel_meta_raft_snapshots_total").increment(1);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let p = lock(&self.position);
        Ok((p.applied, p.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let mut state = lock(&self.state);
        let mut p = lock(&self.position);
        for entry in entries {
            p.applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(proposal) => *state = proposal.state,
                EntryPayload::Membership(m) => {
                    p.membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            out.push(());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let new: MetaState = serde_json::from_slice(snapshot.get_ref()).map_err(read_err)?;
        self.write_snapshot_file(meta, &new).map_err(write_err)?;
        info!(applied = ?meta.last_log_id, "raft snapshot installed from the leader");
        let mut state = lock(&self.state);
        let mut p = lock(&self.position);
        *state = new;
        p.applied = meta.last_log_id;
        p.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(file) = self.read_snapshot_file().map_err(read_err)? else {
            return Ok(None);
        };
        let data = serde_json::to_vec(&file.state).map_err(read_err)?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::Proposal;
    use openraft::{CommittedLeaderId, Membership};
    use petrel_common::ids::NodeAddr;
    use std::collections::BTreeSet;

    fn id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn with_node(n: &str) -> MetaState {
        let mut st = MetaState::default();
        st.register_node(&NodeAddr::from(n));
        st
    }

    fn normal(index: u64, state: MetaState) -> Entry {
        Entry {
            log_id: id(index),
            payload: EntryPayload::Normal(Proposal { state }),
        }
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn each_entry_replaces_the_state_and_advances_the_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = Arc::new(Mutex::new(MetaState::default()));
        let mut sm = StateMachine::open(dir.path(), shared.clone()).expect("open");
        let membership =
            Membership::<u64, openraft::BasicNode>::new(vec![BTreeSet::from([1])], None);
        let entries = vec![
            Entry {
                log_id: id(1),
                payload: EntryPayload::Membership(membership),
            },
            normal(2, with_node("a")),
            Entry {
                log_id: id(3),
                payload: EntryPayload::Blank,
            },
            normal(4, with_node("b")),
        ];
        let out = block(sm.apply(entries)).expect("apply");
        assert_eq!(out.len(), 4);
        assert_eq!(*lock(&shared), with_node("b"));
        let (applied, m) = block(sm.applied_state()).expect("applied");
        assert_eq!(applied, Some(id(4)));
        assert_eq!(m.log_id(), &Some(id(1)));
    }

    #[test]
    fn a_snapshot_survives_a_restart_and_installs_elsewhere() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = Arc::new(Mutex::new(MetaState::default()));
        let mut sm = StateMachine::open(dir.path(), shared.clone()).expect("open");
        block(sm.apply(vec![normal(1, with_node("a"))])).expect("apply");
        let snap = block(sm.build_snapshot()).expect("build");
        assert_eq!(snap.meta.last_log_id, Some(id(1)));
        // A restart starts from the snapshot.
        let fresh = Arc::new(Mutex::new(MetaState::default()));
        let mut again = StateMachine::open(dir.path(), fresh.clone()).expect("reopen");
        assert_eq!(*lock(&fresh), with_node("a"));
        assert_eq!(block(again.applied_state()).expect("state").0, Some(id(1)));
        let current = block(again.get_current_snapshot())
            .expect("current")
            .expect("some");
        // Another member installs it.
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other_state = Arc::new(Mutex::new(with_node("zzz")));
        let mut other = StateMachine::open(other_dir.path(), other_state.clone()).expect("open");
        block(other.install_snapshot(&current.meta, current.snapshot)).expect("install");
        assert_eq!(*lock(&other_state), with_node("a"));
        assert_eq!(other.applied(), Some(id(1)));
        let reopened = Arc::new(Mutex::new(MetaState::default()));
        StateMachine::open(other_dir.path(), reopened.clone()).expect("reopen");
        assert_eq!(*lock(&reopened), with_node("a"), "installed durably");
    }

    #[test]
    fn an_unknown_snapshot_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("snapshot.json"),
            br#"{"format_version": 9, "meta": {"last_log_id": null, "last_membership": {"log_id": null, "membership": {"configs": [], "nodes": {}}}, "snapshot_id": "x"}, "state": {}}"#,
        )
        .expect("write");
        let e = StateMachine::open(dir.path(), Arc::default())
            .err()
            .expect("refused");
        assert!(e.to_string().contains("format version 9"), "{e}");
    }
}
