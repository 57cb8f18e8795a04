//! The Raft log and vote on disk: an append-only file of checksummed
//! records and an atomically replaced vote file, both fsync'd before
//! openraft is told they are stored.
//!
//! `raft/log` holds records `[len u32][crc32c u32][JSON]`, each an entry or
//! the id of the last purged entry. Appending writes and fsyncs; a conflict
//! truncates the file at the first entry to drop; a purge (after a
//! snapshot covers the entries) rewrites the file with what remains, so it
//! does not grow forever. A torn record at the tail (a crash mid-append) is
//! cut off on open: it was never acknowledged. `raft/vote.json` holds the
//! vote. Entries are kept in memory too; the log is bounded by snapshots.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError};
use petrel_common::sync::lock;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
/// Length and checksum before each record.
const HEADER: usize = 8;
/// Larger records are corruption, not entries (a state is far smaller).
const MAX_RECORD: usize = 256 << 20;

/// One record of the log file.
#[derive(Serialize, Deserialize)]
enum Record {
    Entry(Box<Entry>),
    /// Every entry up to this one is gone (covered by a snapshot).
    Purged(LogId),
}

/// The log store openraft writes through; clones share one file.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogFile>>,
}

struct LogFile {
    dir: PathBuf,
    file: File,
    /// Each entry and where its record starts in the file.
    entries: BTreeMap<u64, (Entry, u64)>,
    /// Where the next record goes.
    end: u64,
    purged: Option<LogId>,
    vote: Option<Vote>,
}

fn frame(record: &Record) -> io::Result<Vec<u8>> {
    let body = serde_json::to_vec(record).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&CRC.checksum(&body).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The records of `bytes` in order, and where the last whole one ends.
fn parse(bytes: &[u8]) -> (Vec<(Record, u64)>, u64) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let mut len = [0u8; 4];
        len.copy_from_slice(&bytes[at..at + 4]);
        let len = u32::from_be_bytes(len) as usize;
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[at + 4..at + 8]);
        let crc = u32::from_be_bytes(crc);
        if len > MAX_RECORD || bytes.len() - at - HEADER < len {
            break;
        }
        let body = &bytes[at + HEADER..at + HEADER + len];
        if CRC.checksum(body) != crc {
            break;
        }
        let Ok(record) = serde_json::from_slice::<Record>(body) else {
            break;
        };
        out.push((record, at as u64));
        at += HEADER + len;
    }
    (out, at as u64)
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting off a torn tail.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let vote = match petrel_common::fsutil::read_if_exists(&dir.join("vote.json"))? {
            Some(b) => Some(serde_json::from_slice(&b).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", dir.join("vote.json").display()),
                )
            })?),
            None => None,
        };
        let path = dir.join("log");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, end) = parse(&bytes);
        if end < bytes.len() as u64 {
            warn!(path = %path.display(), at = end, size = bytes.len(), "raft log has a torn or corrupt tail; cutting it off");
            file.set_len(end)?;
            file.sync_all()?;
        }
        let mut entries = BTreeMap::new();
        let mut purged = None;
        for (record, at) in records {
            match record {
                Record::Entry(e) => {
                    let e = *e;
                    // A record after a truncation point replaces what followed it.
                    let index = e.log_id.index;
                    entries.retain(|i, _| *i < index);
                    entries.insert(index, (e, at));
                }
                Record::Purged(id) => {
                    entries.retain(|i, _| *i > id.index);
                    purged = Some(id);
                }
            }
        }
        file.seek(SeekFrom::Start(end))?;
        Ok(LogStore {
            inner: Arc::new(Mutex::new(LogFile {
                dir: dir.to_path_buf(),
                file,
                entries,
                end,
                purged,
                vote,
            })),
        })
    }

    /// Whether nothing was ever stored: no vote, no entry, nothing purged.
    pub fn is_pristine(&self) -> bool {
        let f = lock(&self.inner);
        f.vote.is_none() && f.entries.is_empty() && f.purged.is_none()
    }
}

/// The state of the last entry in the log file in `dir` that carries one,
/// read without changing anything (a running meta may own the file).
pub fn last_state_in(dir: &Path) -> io::Result<Option<crate::state::MetaState>> {
    let Some(bytes) = petrel_common::fsutil::read_if_exists(&dir.join("log"))? else {
        return Ok(None);
    };
    let (records, _) = parse(&bytes);
    Ok(records.into_iter().rev().find_map(|(r, _)| match r {
        Record::Entry(e) => match e.payload {
            openraft::EntryPayload::Normal(p) => Some(p.state),
            _ => None,
        },
        Record::Purged(_) => None,
    }))
}

impl LogFile {
    fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut placed = Vec::new();
        for e in entries {
            let at = self.end + buf.len() as u64;
            buf.extend(frame(&Record::Entry(Box::new(e.clone())))?);
            placed.push((e, at));
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.end += buf.len() as u64;
        for (e, at) in placed {
            let index = e.log_id.index;
            self.entries.insert(index, (e, at));
        }
        Ok(())
    }

    fn truncate(&mut self, from: u64) -> io::Result<()> {
        let Some(at) = self.entries.range(from..).next().map(|(_, (_, at))| *at) else {
            return Ok(());
        };
        self.file.set_len(at)?;
        self.file.sync_all()?;
        self.file.seek(SeekFrom::Start(at))?;
        self.end = at;
        self.entries.retain(|i, _| *i < from);
        Ok(())
    }

    /// Drops entries up to `upto` and rewrites the file with the rest.
    fn purge(&mut self, upto: LogId) -> io::Result<()> {
        self.entries.retain(|i, _| *i > upto.index);
        self.purged = Some(upto);
        let mut buf = frame(&Record::Purged(upto))?;
        let mut placed = BTreeMap::new();
        for (i, (e, _)) in std::mem::take(&mut self.entries) {
            let at = buf.len() as u64;
            buf.extend(frame(&Record::Entry(Box::new(e.clone())))?);
            placed.insert(i, (e, at));
        }
        let path = self.dir.join("log");
        petrel_common::fsutil::write_atomic(&path, &buf)?;
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        file.seek(SeekFrom::End(0))?;
        self.file = file;
        self.end = buf.len() as u64;
        self.entries = placed;
        Ok(())
    }

    fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        let bytes = serde_json::to_vec(vote).map_err(io::Error::other)?;
        petrel_common::fsutil::write_atomic(&self.dir.join("vote.json"), &bytes)?;
        self.vote = Some(*vote);
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let f = lock(&self.inner);
        Ok(f.entries
            .range(range)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let f = lock(&self.inner);
        let last = f
            .entries
            .values()
            .next_back()
            .map(|(e, _)| e.log_id)
            .or(f.purged);
        Ok(LogState {
            last_purged_log_id: f.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        lock(&self.inner)
            .save_vote(vote)
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(lock(&self.inner).vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let done = lock(&self.inner).append(entries);
        match done {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let kind = e.kind();
                callback.log_io_completed(Err(io::Error::new(kind, e.to_string())));
                Err(io_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.inner).truncate(log_id.index).map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.inner).purge(log_id).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::Proposal;
    use crate::state::MetaState;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entry(term: u64, index: u64) -> Entry {
        let state = MetaState {
            next_table_id: index as u32,
            ..MetaState::default()
        };
        Entry {
            log_id: id(term, index),
            payload: EntryPayload::Normal(Proposal { state }),
        }
    }

    fn indexes(s: &LogStore) -> Vec<(u64, u64)> {
        lock(&s.inner)
            .entries
            .values()
            .map(|(e, _)| (e.log_id.leader_id.term, e.log_id.index))
            .collect()
    }

    fn append(s: &LogStore, es: Vec<Entry>) {
        lock(&s.inner).append(es).expect("append");
    }

    #[test]
    fn entries_and_vote_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LogStore::open(dir.path()).expect("open");
        assert!(s.is_pristine());
        append(&s, vec![entry(1, 1), entry(1, 2), entry(1, 3)]);
        lock(&s.inner).save_vote(&Vote::new(1, 7)).expect("vote");
        drop(s);
        let s = LogStore::open(dir.path()).expect("reopen");
        assert!(!s.is_pristine());
        assert_eq!(indexes(&s), vec![(1, 1), (1, 2), (1, 3)]);
        assert_eq!(lock(&s.inner).vote, Some(Vote::new(1, 7)));
        let back = lock(&s.inner).entries[&2].0.clone();
        let json = |e: &Entry| serde_json::to_string(e).expect("json");
        assert_eq!(json(&back), json(&entry(1, 2)));
    }

    #[test]
    fn a_truncation_drops_the_tail_on_disk_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LogStore::open(dir.path()).expect("open");
        append(&s, vec![entry(1, 1), entry(1, 2), entry(1, 3)]);
        lock(&s.inner).truncate(2).expect("truncate");
        append(&s, vec![entry(2, 2)]);
        assert_eq!(indexes(&s), vec![(1, 1), (2, 2)]);
        drop(s);
        let s = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&s), vec![(1, 1), (2, 2)]);
    }

    #[test]
    fn a_purge_rewrites_the_file_smaller_and_remembers_the_purged_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LogStore::open(dir.path()).expect("open");
        append(&s, (1..=50).map(|i| entry(1, i)).collect());
        let before = std::fs::metadata(dir.path().join("log"))
            .expect("stat")
            .len();
        lock(&s.inner).purge(id(1, 45)).expect("purge");
        append(&s, vec![entry(1, 51)]);
        let after = std::fs::metadata(dir.path().join("log"))
            .expect("stat")
            .len();
        assert!(after < before / 4, "{after} vs {before}");
        drop(s);
        let mut s = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&s), (46..=51).map(|i| (1, i)).collect::<Vec<_>>());
        let state = futures::executor::block_on(s.get_log_state()).expect("state");
        assert_eq!(state.last_purged_log_id, Some(id(1, 45)));
        assert_eq!(state.last_log_id, Some(id(1, 51)));
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_appends_continue_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LogStore::open(dir.path()).expect("open");
        append(&s, vec![entry(1, 1), entry(1, 2)]);
        drop(s);
        let path = dir.path().join("log");
        let len = std::fs::metadata(&path).expect("stat").len();
        // Half of a third record, as a crash mid-write leaves it.
        let third = frame(&Record::Entry(Box::new(entry(1, 3)))).expect("frame");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(&third[..third.len() / 2]).expect("write");
        drop(f);
        let s = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&s), vec![(1, 1), (1, 2)]);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), len);
        append(&s, vec![entry(1, 3)]);
        drop(s);
        let s = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&s), vec![(1, 1), (1, 2), (1, 3)]);
    }

    #[test]
    fn a_flipped_byte_ends_the_log_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LogStore::open(dir.path()).expect("open");
        append(&s, vec![entry(1, 1), entry(1, 2)]);
        let second = lock(&s.inner).entries[&2].1;
        drop(s);
        let path = dir.path().join("log");
        let mut bytes = std::fs::read(&path).expect("read");
        let at = second as usize + HEADER + 3;
        bytes[at] ^= 0xff;
        std::fs::write(&path, bytes).expect("write");
        let s = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(indexes(&s), vec![(1, 1)]);
    }
}
