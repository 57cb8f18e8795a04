//! The mutation log: one per server, shared by every replica it hosts.
//!
//! Every prepared mutation of every partition on this server is appended
//! here before it is acknowledged, so one fdatasync makes the pending writes
//! of all partitions durable at once (group commit). Records carry their
//! partition ([`Gpid`]); replay hands them back in log order.
//!
//! # On disk
//!
//! A directory of append-only segment files `log.<first_seq>.seg`
//! (`first_seq` zero-padded to 20 digits): the sequence number of the
//! segment's first record. Records are numbered 1, 2, 3... across segments;
//! GC may leave gaps, never overlaps. A segment rolls when the next record
//! would take it past [`LogOptions::segment_bytes`]; the old segment is
//! fdatasync'd and the directory fsync'd before anything is written to the
//! new one, so only the newest segment can ever have a torn tail.
//!
//! Each record is framed as `len: u32 LE | crc32c: u32 LE | payload`,
//! where the CRC-32C (Castagnoli) covers the payload, and the payload
//! starts with a format byte (1) and a kind byte (entry or truncate
//! marker). The exact layout is documented in `format.rs`.
//!
//! # Opening
//!
//! [`MutationLog::open`] reads every segment in order. A record that is
//! cut short, has an impossible length or a bad checksum is:
//! - in the newest segment, with no valid record anywhere after it: a torn
//!   tail. The file is truncated to the last good record (never applied),
//!   and the log appends after it.
//! - anywhere else: [`LogError::Corrupt`]. Acknowledged data may be behind
//!   it; the server must not start on this log (the replicas are relearned).
//!
//! # Group commit
//!
//! [`MutationLog::append`] writes the framed record to the active segment
//! (page cache, no sync) under the writer lock and returns a [`Ticket`], the
//! record's sequence number. Durability is tracked by two counters under a
//! second lock: `written` (highest sequence written) and `synced` (highest
//! sequence covered by a completed fdatasync), plus a `syncing` flag.
//!
//! [`MutationLog::sync`] waits until `synced >= ticket`. A caller that finds
//! no sync in flight becomes the syncer: it sets `syncing`, notes
//! `target = written` and the active file, releases the lock, fdatasyncs,
//! then sets `synced = target` and wakes everyone (Condvar). Callers that
//! find a sync in flight wait and re-check; appends made meanwhile are all
//! covered by the next sync, so batching happens naturally under load.
//!
//! A background syncer thread runs the same protocol whenever
//! `written > synced` (in [`Durability::Sync`] mode), which is what serves
//! [`MutationLog::wait_durable`]: an async caller registers a
//! `tokio::sync::oneshot` sender keyed by its ticket, and whoever completes
//! a covering sync sends the result. Async code thus never blocks a runtime
//! thread; blocking code may call [`MutationLog::sync`] or
//! [`MutationLog::append_and_wait`] (in `spawn_blocking`).
//!
//! With [`Durability::Async`] `sync`/`wait_durable` return at once (the
//! record is in the page cache: a machine crash can lose it) and the
//! background thread fdatasyncs every [`LogOptions::async_flush_interval`].
//!
//! # Failure
//!
//! A failed write or fdatasync is fatal: the log flips into a failed state,
//! every waiter and every later call gets [`LogError::Failed`]. An fsync is
//! never retried: after a failure Linux may have dropped the dirty pages and
//! a retry can "succeed" with the data gone (PostgreSQL's fsyncgate). The
//! replicas of this server must be stopped and rebuilt.
//!
//! # Truncation and GC
//!
//! [`MutationLog::truncate_after`] appends a truncate marker: replay drops
//! the entries of that partition above the marker's decree that precede it.
//! [`MutationLog::gc`] deletes whole old segments whose every entry is at or
//! below its partition's flushed decree.

pub(crate) mod codec;
mod entry;
mod error;
mod format;
mod replay;
mod segment;
#[cfg(test)]
mod tests;

use petrel_common::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use petrel_common::ids::{Ballot, Decree, Gpid};
use tokio::sync::oneshot;

pub(crate) use self::codec::{decode_mutation, encode_mutation, CodecError};
pub(crate) use self::entry::LogEntry;
pub(crate) use self::error::LogError;
pub(crate) use self::format::{Truncation, MAX_PAYLOAD};
pub(crate) use self::replay::Replay;
pub(crate) use crate::config::Durability;

use self::format::FRAME_HEADER;
use self::segment::{RecordSummary, SegmentMeta};

/// Fault injection for tests: hooks run before each record write and each fdatasync.
pub(crate) trait SyncFault: Send + Sync {
    /// Runs before a record is written; an error fails the write (and the log).
    fn before_write(&self) -> io::Result<()> {
        Ok(())
    }
    /// Runs before every fdatasync; an error counts as a failed fdatasync (and fails the log).
    fn before_sync(&self) -> io::Result<()> {
        Ok(())
    }
}

/// How the log behaves.
#[derive(Clone)]
pub(crate) struct LogOptions {
    /// Roll to a new segment when the next record would pass this size (default 64 MiB).
    pub(crate) segment_bytes: u64,
    /// Whether `sync`/`wait_durable` wait for fdatasync (default `Sync`).
    pub(crate) durability: Durability,
    /// With `Durability::Async`, how often the background thread fdatasyncs (default 1 s).
    pub(crate) async_flush_interval: Duration,
    /// Group commit under load: when the previous fdatasync covered more than
    /// one record (writers overlap), the background syncer waits this long
    /// before the next one, so more records share it (default 0: never waits).
    pub(crate) sync_linger: Duration,
    /// Test hook; `None` in production.
    pub(crate) fault: Option<Arc<dyn SyncFault>>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 << 20,
            durability: Durability::Sync,
            async_flush_interval: Duration::from_secs(1),
            sync_linger: Duration::ZERO,
            fault: None,
        }
    }
}

impl fmt::Debug for LogOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogOptions")
            .field("segment_bytes", &self.segment_bytes)
            .field("durability", &self.durability)
            .field("async_flush_interval", &self.async_flush_interval)
            .field("sync_linger", &self.sync_linger)
            .field("fault", &self.fault.is_some())
            .finish()
    }
}

/// Identifies an appended record (its sequence number) for [`MutationLog::sync`]; only valid for the log that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ticket(u64);

impl Ticket {
    /// The record's sequence number in the log.
    #[cfg(test)]
    pub(crate) fn seq(self) -> u64 {
        self.0
    }
}

/// Counters of one open log.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogStats {
    /// Records appended since open (entries and markers).
    pub(crate) appends: u64,
    /// Framed bytes appended since open.
    pub(crate) bytes: u64,
    /// fdatasyncs done since open (group commits and segment rolls).
    pub(crate) syncs: u64,
    /// Segment files in the directory.
    pub(crate) segments: usize,
    /// Sequence number of the last record written.
    pub(crate) written_seq: u64,
    /// Sequence number up to which every record is fdatasync'd.
    pub(crate) synced_seq: u64,
    /// Whether the log is in the failed state.
    pub(crate) failed: bool,
}

/// What one [`MutationLog::gc`] call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GcReport {
    /// Segment files deleted.
    pub(crate) segments: usize,
    /// Bytes they held.
    pub(crate) bytes: u64,
}

/// The server's mutation log (see the module docs).
pub(crate) struct MutationLog {
    inner: Arc<Inner>,
    syncer: Option<JoinHandle<()>>,
}

type Waiter = oneshot::Sender<Result<(), LogError>>;

struct Inner {
    dir: PathBuf,
    options: LogOptions,
    writer: Mutex<Writer>,
    state: Mutex<SyncState>,
    /// Wakes the background syncer.
    work: Condvar,
    /// Wakes callers waiting in `sync`.
    done: Condvar,
    failed: AtomicBool,
    appends: AtomicU64,
    bytes: AtomicU64,
    syncs: AtomicU64,
}

/// Guarded by the writer lock (taken before the state lock, never after).
struct Writer {
    file: Arc<File>,
    /// Every segment, oldest first; the last one is active.
    segments: Vec<SegmentMeta>,
    next_seq: u64,
}

struct SyncState {
    written: u64,
    synced: u64,
    syncing: bool,
    active: Arc<File>,
    failed: Option<String>,
    waiters: BTreeMap<u64, Vec<Waiter>>,
    /// The syncer waits for `work` and nobody has woken it yet.
    syncer_idle: bool,
    /// Threads blocked in [`MutationLog::sync`] on `done`.
    sync_waiters: usize,
    shutdown: bool,
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, e))
}

impl MutationLog {
    /// Opens (or creates) the log in `dir`, cutting a torn tail, and returns what it holds.
    pub(crate) fn open(
        dir: impl AsRef<Path>,
        options: LogOptions,
    ) -> Result<(MutationLog, Replay), LogError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| LogError::io(&dir, e))?;
        let listed = segment::list_segments(&dir)?;
        let mut builder = replay::ReplayBuilder::default();
        let mut segments: Vec<SegmentMeta> = Vec::with_capacity(listed.len() + 1);
        let mut torn = 0;
        for (i, (first_seq, path)) in listed.iter().enumerate() {
            let is_last = i + 1 == listed.len();
            if let Some(prev) = segments.last() {
                if prev
                    .first_seq
                    .checked_add(prev.records)
                    .is_none_or(|end| *first_seq < end)
                {
                    return Err(LogError::Corrupt {
                        segment: path.clone(),
                        offset: 0,
                        reason: "segment overlaps the sequence numbers of the previous one",
                    });
                }
            }
            let scan = segment::scan_segment(path, is_last)?;
            let mut meta = SegmentMeta::new(*first_seq, path.clone());
            for (record, size) in scan.records {
                meta.note(RecordSummary::from(&record), size);
                builder.push(record);
            }
            if scan.good_len < scan.file_len {
                torn = scan.file_len - scan.good_len;
                tracing::warn!(
                    segment = %path.display(),
                    offset = scan.good_len,
                    bytes = torn,
                    "mutation log: cutting a torn tail"
                );
                metrics::counter!("petrel_log_torn_tail_bytes_total").increment(torn);
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| {
                        f.set_len(scan.good_len)?;
                        f.sync_all()
                    })
                    .map_err(|e| LogError::io(path, e))?;
            }
            segments.push(meta);
        }
        let replay = builder.finish(torn, listed.len());

        let (next_seq, last_path) = match segments.last() {
            Some(last) => match last.first_seq.checked_add(last.records) {
                Some(next) => (next, last.path.clone()),
                None => {
                    return Err(LogError::Corrupt {
                        segment: last.path.clone(),
                        offset: 0,
                        reason: "sequence number overflow",
                    })
                }
            },
            None => {
                let path = dir.join(segment::segment_name(1));
                File::create_new(&path).map_err(|e| LogError::io(&path, e))?;
                segments.push(SegmentMeta::new(1, path.clone()));
                (1, path)
            }
        };
        let file = OpenOptions::new()
            .append(true)
            .open(&last_path)
            .map_err(|e| LogError::io(&last_path, e))?;
        // What we replayed may have been in the page cache only (kill -9): make it durable
        // before anyone acts on it.
        file.sync_data().map_err(|e| LogError::io(&last_path, e))?;
        sync_dir(&dir)?;
        let file = Arc::new(file);
        metrics::gauge!("petrel_log_segments").set(segments.len() as f64);
        metrics::gauge!("petrel_log_failed").set(0.0);

        let written = next_seq.saturating_sub(1);
        let inner = Arc::new(Inner {
            dir,
            options,
            writer: Mutex::new(Writer {
                file: file.clone(),
                segments,
                next_seq,
            }),
            state: Mutex::new(SyncState {
                written,
                synced: written,
                syncing: false,
                active: file,
                failed: None,
                waiters: BTreeMap::new(),
                syncer_idle: false,
                sync_waiters: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            failed: AtomicBool::new(false),
            appends: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
        });
        let bg = inner.clone();
        let syncer = std::thread::Builder::new()
            .name("petrel-log-sync".to_string())
            .spawn(move || bg.syncer_loop())
            .map_err(|e| LogError::io(&inner.dir, e))?;
        Ok((
            MutationLog {
                inner,
                syncer: Some(syncer),
            },
            replay,
        ))
    }

    /// Writes an entry to the log (page cache, no sync) and returns its ticket.
    pub(crate) fn append(&self, entry: &LogEntry) -> Result<Ticket, LogError> {
        let len = format::entry_payload_len(entry);
        if len > MAX_PAYLOAD {
            return Err(LogError::TooLarge {
                len,
                max: MAX_PAYLOAD,
            });
        }
        let head = format::entry_head(entry);
        self.inner.write_record(
            &[&head, &entry.mutation],
            RecordSummary::Entry(entry.gpid, entry.decree),
        )
    }

    /// Appends an entry and blocks until it is durable (per the durability option).
    #[cfg(test)]
    pub(crate) fn append_and_wait(&self, entry: &LogEntry) -> Result<Ticket, LogError> {
        let ticket = self.append(entry)?;
        self.sync(ticket)?;
        Ok(ticket)
    }

    /// Logs that `gpid`'s entries above `decree` written so far are void; sync the ticket before relying on it.
    pub(crate) fn truncate_after(
        &self,
        gpid: Gpid,
        decree: Decree,
        ballot: Ballot,
    ) -> Result<Ticket, LogError> {
        let mut frame = Vec::with_capacity(FRAME_HEADER + format::MARKER_PAYLOAD);
        format::encode_truncate(
            &mut frame,
            &Truncation {
                gpid,
                ballot,
                decree,
            },
        );
        self.inner
            .write_record(&[&frame], RecordSummary::Truncate(gpid, decree))
    }

    /// Blocks until a fdatasync covering `ticket` is done (at once with `Durability::Async`).
    pub(crate) fn sync(&self, ticket: Ticket) -> Result<(), LogError> {
        let inner = &*self.inner;
        let mut st = lock(&inner.state);
        loop {
            if let Some(cause) = &st.failed {
                return Err(LogError::Failed {
                    cause: cause.clone(),
                });
            }
            if inner.options.durability == Durability::Async
                || st.synced >= ticket.0.min(st.written)
            {
                return Ok(());
            }
            if !st.syncing {
                st = inner.sync_once(st);
                continue;
            }
            st.sync_waiters += 1;
            st = inner.done.wait(st).unwrap_or_else(PoisonError::into_inner);
            st.sync_waiters -= 1;
        }
    }

    /// Blocks until everything appended so far is durable.
    #[cfg(test)]
    pub(crate) fn sync_all(&self) -> Result<(), LogError> {
        let last = lock(&self.inner.state).written;
        self.sync(Ticket(last))
    }

    /// Resolves once `ticket` is durable; registers at call time, so the future is `'static` and never blocks.
    pub(crate) fn wait_durable(
        &self,
        ticket: Ticket,
    ) -> impl Future<Output = Result<(), LogError>> + Send + 'static {
        let inner = &*self.inner;
        let registered = {
            let mut st = lock(&inner.state);
            if let Some(cause) = &st.failed {
                Err(LogError::Failed {
                    cause: cause.clone(),
                })
            } else if inner.options.durability == Durability::Async
                || st.synced >= ticket.0.min(st.written)
            {
                Ok(None)
            } else {
                let (tx, rx) = oneshot::channel();
                let key = ticket.0.min(st.written);
                st.waiters.entry(key).or_default().push(tx);
                inner.wake_syncer(&mut st);
                Ok(Some(rx))
            }
        };
        async move {
            match registered? {
                None => Ok(()),
                Some(rx) => rx.await.unwrap_or(Err(LogError::Closed)),
            }
        }
    }

    /// Deletes old segments whose every entry is at or below its partition's durable decree.
    ///
    /// Partitions missing from `durable` keep their segments (pass `Decree(u64::MAX)` for a
    /// partition removed from this server). The active segment is never deleted. A segment
    /// holding a truncate marker is kept while an older kept segment holds an entry it voids.
    pub(crate) fn gc(&self, durable: &HashMap<Gpid, Decree>) -> Result<GcReport, LogError> {
        let inner = &*self.inner;
        let mut w = lock(&inner.writer);
        let n = w.segments.len();
        let mut kept_max: HashMap<Gpid, Decree> = HashMap::new();
        let mut doomed = Vec::new();
        for (i, seg) in w.segments.iter().enumerate() {
            let deletable = i + 1 < n
                && seg
                    .max_decree
                    .iter()
                    .all(|(g, d)| durable.get(g).is_some_and(|flushed| d <= flushed))
                && seg.markers.iter().all(|(g, d)| {
                    durable.contains_key(g) && kept_max.get(g).is_none_or(|k| k <= d)
                });
            if deletable {
                doomed.push(i);
            } else {
                for (g, d) in &seg.max_decree {
                    let m = kept_max.entry(*g).or_insert(*d);
                    *m = (*m).max(*d);
                }
            }
        }
        let mut report = GcReport::default();
        let mut result = Ok(());
        for &i in doomed.iter().rev() {
            let path = w.segments[i].path.clone();
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.segments += 1;
                    report.bytes += w.segments[i].bytes;
                    w.segments.remove(i);
                }
                Err(e) => {
                    result = Err(LogError::io(&path, e));
                    break;
                }
            }
        }
        metrics::gauge!("petrel_log_segments").set(w.segments.len() as f64);
        drop(w);
        if report.segments > 0 {
            metrics::counter!("petrel_log_gc_deleted_segments_total")
                .increment(report.segments as u64);
            tracing::info!(
                segments = report.segments,
                bytes = report.bytes,
                "mutation log: garbage-collected segments"
            );
            sync_dir(&inner.dir)?;
        }
        result.map(|()| report)
    }

    /// Current counters.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> LogStats {
        let inner = &*self.inner;
        let segments = lock(&inner.writer).segments.len();
        let st = lock(&inner.state);
        LogStats {
            appends: inner.appends.load(Ordering::Relaxed),
            bytes: inner.bytes.load(Ordering::Relaxed),
            syncs: inner.syncs.load(Ordering::Relaxed),
            segments,
            written_seq: st.written,
            synced_seq: st.synced,
            failed: st.failed.is_some(),
        }
    }

    /// Whether a write or fdatasync failed (the log refuses everything since).
    #[cfg(test)]
    pub(crate) fn is_failed(&self) -> bool {
        self.inner.failed.load(Ordering::Acquire)
    }

    /// Paths of the segment files, oldest first.
    #[cfg(test)]
    pub(crate) fn segment_paths(&self) -> Vec<PathBuf> {
        lock(&self.inner.writer)
            .segments
            .iter()
            .map(|s| s.path.clone())
            .collect()
    }
}

impl Drop for MutationLog {
    fn drop(&mut self) {
        lock(&self.inner.state).shutdown = true;
        self.inner.work.notify_all();
        if let Some(h) = self.syncer.take() {
            let _ = h.join();
        }
    }
}

impl fmt::Debug for MutationLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutationLog")
            .field("dir", &self.inner.dir)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn failed_error(&self) -> LogError {
        let cause = lock(&self.state)
            .failed
            .clone()
            .unwrap_or_else(|| "unknown".to_string());
        LogError::Failed { cause }
    }

    /// Flips the log into the failed state (first cause wins) and fails every waiter.
    fn fail_locked(&self, st: &mut SyncState, cause: String) -> LogError {
        if st.failed.is_none() {
            tracing::error!(%cause, dir = %self.dir.display(), "mutation log failed; refusing all writes");
            metrics::gauge!("petrel_log_failed").set(1.0);
            st.failed = Some(cause);
            self.failed.store(true, Ordering::Release);
        }
        let cause = st.failed.clone().unwrap_or_default();
        for (_, waiters) in std::mem::take(&mut st.waiters) {
            for w in waiters {
                let _ = w.send(Err(LogError::Failed {
                    cause: cause.clone(),
                }));
            }
        }
        self.done.notify_all();
        self.work.notify_all();
        LogError::Failed { cause }
    }

    fn fail(&self, cause: String) -> LogError {
        let mut st = lock(&self.state);
        self.fail_locked(&mut st, cause)
    }

    /// fdatasync through the fault hook, with metrics.
    fn sync_file(&self, file: &File) -> io::Result<()> {
        let start = Instant::now();
        if let Some(fault) = &self.options.fault {
            fault.before_sync()?;
        }
        file.sync_data()?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("petrel_log_syncs_total").increment(1);
        metrics::histogram!("petrel_log_sync_seconds").record(start.elapsed().as_secs_f64());
        Ok(())
    }

    /// Records that everything up to `target` is durable and wakes whoever waits for it.
    fn mark_synced(&self, st: &mut SyncState, target: u64) {
        if target > st.synced {
            st.synced = target;
        }
        let pending = st.waiters.split_off(&(st.synced + 1));
        for (_, waiters) in std::mem::replace(&mut st.waiters, pending) {
            for w in waiters {
                let _ = w.send(Ok(()));
            }
        }
        // A futex call each time otherwise, and most syncs have no one here.
        if st.sync_waiters > 0 {
            self.done.notify_all();
        }
    }

    /// Wakes the syncer if it waits, once: until it runs, later calls cost
    /// nothing (each notify is a futex call, and a batch of writes used to
    /// make two or three per record).
    fn wake_syncer(&self, st: &mut SyncState) {
        if st.syncer_idle {
            st.syncer_idle = false;
            self.work.notify_one();
        }
    }

    /// One group commit: the caller must have seen `!st.syncing`.
    fn sync_once<'a>(&'a self, mut st: MutexGuard<'a, SyncState>) -> MutexGuard<'a, SyncState> {
        st.syncing = true;
        let target = st.written;
        let file = st.active.clone();
        drop(st);
        let result = self.sync_file(&file);
        let mut st = lock(&self.state);
        st.syncing = false;
        match result {
            Ok(()) => self.mark_synced(&mut st, target),
            Err(e) => {
                self.fail_locked(&mut st, format!("fdatasync failed: {e}"));
            }
        }
        if st.written > st.synced {
            self.wake_syncer(&mut st);
        }
        st
    }

    /// Writes one record given as consecutive parts (a big mutation is
    /// written from where it lies, not copied into a frame buffer first).
    fn write_record(&self, parts: &[&[u8]], summary: RecordSummary) -> Result<Ticket, LogError> {
        let mut w = lock(&self.writer);
        if self.failed.load(Ordering::Acquire) {
            return Err(self.failed_error());
        }
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let active_bytes = w.segments.last().map_or(0, |s| s.bytes);
        if active_bytes > 0 && active_bytes + size > self.options.segment_bytes {
            self.roll(&mut w)?;
        }
        let written = match &self.options.fault {
            Some(fault) => fault.before_write(),
            None => Ok(()),
        }
        .and_then(|()| write_all_parts(&w.file, parts));
        if let Err(e) = written {
            return Err(self.fail(format!("write to the mutation log failed: {e}")));
        }
        let seq = w.next_seq;
        w.next_seq += 1;
        if let Some(active) = w.segments.last_mut() {
            active.note(summary, size);
        }
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        let (appends, bytes) = APPEND_METRICS.get_or_init(|| {
            (
                metrics::counter!("petrel_log_appends_total"),
                metrics::counter!("petrel_log_append_bytes_total"),
            )
        });
        appends.increment(1);
        bytes.increment(size);
        let mut st = lock(&self.state);
        st.written = seq;
        if self.options.durability == Durability::Sync {
            self.wake_syncer(&mut st);
        }
        Ok(Ticket(seq))
    }

    /// Makes the active segment durable and starts a new one (writer lock held).
    fn roll(&self, w: &mut Writer) -> Result<(), LogError> {
        if let Err(e) = self.sync_file(&w.file) {
            return Err(self.fail(format!("fdatasync before segment roll failed: {e}")));
        }
        let path = self.dir.join(segment::segment_name(w.next_seq));
        let file = match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                return Err(self.fail(format!("creating {} failed: {e}", path.display())));
            }
        };
        if let Err(e) = sync_dir(&self.dir) {
            return Err(self.fail(format!("fsync of the log directory failed: {e}")));
        }
        w.file = file.clone();
        w.segments.push(SegmentMeta::new(w.next_seq, path));
        metrics::gauge!("petrel_log_segments").set(w.segments.len() as f64);
        let mut st = lock(&self.state);
        st.active = file;
        // Every record written so far is in an fdatasync'd segment now.
        let written = st.written;
        self.mark_synced(&mut st, written);
        Ok(())
    }

    fn syncer_loop(&self) {
        let mut st = lock(&self.state);
        let linger = self.options.sync_linger;
        // Records the previous sync covered: more than one means writers
        // overlap, and waiting a little gathers more of them.
        let mut last_covered = 0;
        let mut lingered = false;
        loop {
            if st.failed.is_some() {
                break;
            }
            let pending = st.written > st.synced && !st.syncing;
            if st.shutdown {
                if pending {
                    drop(self.sync_once(st));
                }
                break;
            }
            match self.options.durability {
                Durability::Sync if pending => {
                    if !linger.is_zero() && last_covered > 1 && !lingered {
                        // Let more writers join this sync, then look again.
                        drop(st);
                        std::thread::sleep(linger);
                        st = lock(&self.state);
                        lingered = true;
                        continue;
                    }
                    lingered = false;
                    let from = st.synced;
                    st = self.sync_once(st);
                    last_covered = st.synced.saturating_sub(from);
                }
                Durability::Sync => {
                    st.syncer_idle = true;
                    st = self.work.wait(st).unwrap_or_else(PoisonError::into_inner);
                    st.syncer_idle = false;
                }
                Durability::Async => {
                    st.syncer_idle = true;
                    st = self
                        .work
                        .wait_timeout(st, self.options.async_flush_interval)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    st.syncer_idle = false;
                    if !st.shutdown && st.written > st.synced && !st.syncing {
                        st = self.sync_once(st);
                    }
                }
            }
        }
    }
}

/// The append counters, looked up once (per record the lookups showed in
/// profiles); taken on the first append, after the recorder is installed.
static APPEND_METRICS: std::sync::OnceLock<(metrics::Counter, metrics::Counter)> =
    std::sync::OnceLock::new();

/// Writes `parts` back to back with as few system calls as the kernel
/// allows (one, normally): a record's head and body used to cost two.
fn write_all_parts(mut file: &File, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    io::IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
