//! Tests of the mutation log against real files in a temporary directory.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, Gpid};

use super::format::{ENTRY_HEADER, FRAME_HEADER};
use super::*;
use crate::storage::{Mutation, WriteOp};

fn entry(gpid: Gpid, decree: u64, ballot: u64, size: usize) -> LogEntry {
    let mutation: Vec<u8> = (0..size).map(|i| (i as u64 + decree) as u8).collect();
    LogEntry {
        gpid,
        ballot: Ballot(ballot),
        decree: Decree(decree),
        last_committed: Decree(decree.saturating_sub(1)),
        mutation: Bytes::from(mutation),
    }
}

fn frame_len(size: usize) -> u64 {
    (FRAME_HEADER + ENTRY_HEADER + size) as u64
}

fn opts(segment_bytes: u64) -> LogOptions {
    LogOptions {
        segment_bytes,
        ..LogOptions::default()
    }
}

fn open(dir: &Path, options: LogOptions) -> (MutationLog, Replay) {
    MutationLog::open(dir, options).expect("open")
}

fn g(p: u32) -> Gpid {
    Gpid::new(1, p)
}

fn decrees_of(replay: &Replay, gpid: Gpid) -> Vec<u64> {
    replay
        .entries
        .iter()
        .filter(|e| e.gpid == gpid)
        .map(|e| e.decree.0)
        .collect()
}

#[derive(Default)]
struct Faults {
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
    sync_delay_ms: AtomicU64,
    sync_calls: AtomicU64,
}

impl SyncFault for Faults {
    fn before_write(&self) -> io::Result<()> {
        if self.fail_write.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected write error"));
        }
        Ok(())
    }

    fn before_sync(&self) -> io::Result<()> {
        self.sync_calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.sync_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        Ok(())
    }
}

fn with_faults(segment_bytes: u64, faults: &Arc<Faults>) -> LogOptions {
    LogOptions {
        fault: Some(faults.clone() as Arc<dyn SyncFault>),
        ..opts(segment_bytes)
    }
}

#[test]
fn empty_directory_opens_empty_and_creates_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (log, replay) = open(dir.path(), LogOptions::default());
    assert!(replay.entries.is_empty());
    assert_eq!(replay.segments, 0);
    assert_eq!(log.segment_paths().len(), 1);
    assert!(log.segment_paths()[0].ends_with("log.00000000000000000001.seg"));
    // Syncing with nothing written returns at once.
    log.sync_all().unwrap();
}

#[test]
fn round_trip_across_partitions_and_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    let mut tickets = Vec::new();
    {
        let (log, _) = open(dir.path(), opts(1024));
        for d in 1..=40u64 {
            for p in 0..3 {
                let e = entry(g(p), d, 1, (d as usize * 7 + p as usize) % 90);
                tickets.push(log.append(&e).unwrap());
                expected.push(e);
            }
        }
        log.sync(*tickets.last().unwrap()).unwrap();
        assert!(tickets.windows(2).all(|w| w[0] < w[1]));
        let stats = log.stats();
        assert_eq!(stats.appends, 120);
        assert!(stats.segments > 3, "expected several segments: {stats:?}");
        assert_eq!(stats.synced_seq, tickets.last().unwrap().seq());
        for path in log.segment_paths() {
            // Rolls happen before a segment would pass the limit (records are < 1024).
            assert!(fs::metadata(path).unwrap().len() <= 1024);
        }
    }
    let (log, replay) = open(dir.path(), opts(1024));
    assert_eq!(replay.entries, expected);
    assert_eq!(replay.torn_tail_bytes, 0);
    assert!(replay.segments > 3);
    // The log continues after the replayed records, in order.
    let t = log.append_and_wait(&entry(g(0), 41, 1, 10)).unwrap();
    assert_eq!(t.seq(), tickets.last().unwrap().seq() + 1);
    drop(log);
    let (_, replay) = open(dir.path(), opts(1024));
    assert_eq!(replay.entries.len(), 121);
    assert_eq!(replay.entries.last().unwrap().decree, Decree(41));
}

#[test]
fn a_record_larger_than_a_segment_gets_its_own() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = open(dir.path(), opts(256));
        log.append(&entry(g(0), 1, 1, 10)).unwrap();
        log.append(&entry(g(0), 2, 1, 1000)).unwrap();
        log.append(&entry(g(0), 3, 1, 10)).unwrap();
        log.sync_all().unwrap();
        assert_eq!(log.segment_paths().len(), 3);
    }
    let (_, replay) = open(dir.path(), opts(256));
    assert_eq!(decrees_of(&replay, g(0)), vec![1, 2, 3]);
    assert_eq!(replay.entries[1].mutation.len(), 1000);
}

#[test]
fn a_hundred_megabyte_record_with_default_segments() {
    // A 100 MiB SET is one mutation: bigger than the default 64 MiB segment.
    let dir = tempfile::tempdir().unwrap();
    let big = entry(g(3), 2, 1, 100 << 20);
    let segments;
    {
        let (log, _) = open(dir.path(), LogOptions::default());
        log.append_and_wait(&entry(g(3), 1, 1, 10)).unwrap();
        log.append_and_wait(&big).unwrap();
        log.append_and_wait(&entry(g(3), 3, 1, 10)).unwrap();
        segments = log.segment_paths();
        assert_eq!(segments.len(), 3, "the big record rolls in and out");
    }
    let (log, replay) = open(dir.path(), LogOptions::default());
    assert_eq!(decrees_of(&replay, g(3)), vec![1, 2, 3]);
    assert!(
        replay.entries[1] == big,
        "the 100 MiB mutation comes back intact"
    );
    drop(replay);
    drop(log);

    // Torn inside the big record (a crash while writing it): cut, not corrupt.
    let (big_seg, newest) = (&segments[1], &segments[2]);
    fs::remove_file(newest).unwrap();
    let f = OpenOptions::new().write(true).open(big_seg).unwrap();
    f.set_len(frame_len(100 << 20) - 12345).unwrap();
    drop(f);
    let (_, replay) = open(dir.path(), LogOptions::default());
    assert_eq!(decrees_of(&replay, g(3)), vec![1]);
}

#[test]
fn an_oversized_entry_is_refused_and_the_log_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), opts(1 << 20));
    let too_big = LogEntry {
        // Zeroed (calloc'd) and never touched: costs no real memory.
        mutation: Bytes::from(vec![0u8; MAX_PAYLOAD - ENTRY_HEADER + 1]),
        ..entry(g(0), 1, 1, 0)
    };
    assert!(matches!(
        log.append(&too_big),
        Err(LogError::TooLarge { .. })
    ));
    log.append_and_wait(&entry(g(0), 1, 1, 10)).unwrap();
    assert!(!log.stats().failed);
}

/// Writes `n` entries of `size` bytes to a fresh log; returns the last segment's path.
fn write_entries(dir: &Path, segment_bytes: u64, n: u64, size: usize) -> std::path::PathBuf {
    let (log, _) = open(dir, opts(segment_bytes));
    for d in 1..=n {
        log.append(&entry(g(0), d, 1, size)).unwrap();
    }
    log.sync_all().unwrap();
    log.segment_paths().pop().unwrap()
}

fn assert_cut_and_continues(dir: &Path, last: &Path, good_len: u64, n_good: u64) {
    let (log, replay) = open(dir, LogOptions::default());
    assert_eq!(decrees_of(&replay, g(0)), (1..=n_good).collect::<Vec<_>>());
    assert!(replay.torn_tail_bytes > 0);
    assert_eq!(fs::metadata(last).unwrap().len(), good_len);
    log.append_and_wait(&entry(g(0), n_good + 1, 2, 20))
        .unwrap();
    drop(log);
    let (_, replay) = open(dir, LogOptions::default());
    assert_eq!(replay.torn_tail_bytes, 0);
    let mut want: Vec<u64> = (1..=n_good).collect();
    want.push(n_good + 1);
    assert_eq!(decrees_of(&replay, g(0)), want);
    assert_eq!(replay.entries.last().unwrap().ballot, Ballot(2));
}

#[test]
fn torn_tail_cut_short_is_cut_and_the_log_continues() {
    let dir = tempfile::tempdir().unwrap();
    let last = write_entries(dir.path(), 64 << 20, 10, 50);
    let full = fs::metadata(&last).unwrap().len();
    assert_eq!(full, 10 * frame_len(50));
    let good = full - frame_len(50);
    // Cut in the middle of the last record's payload.
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(good + 20)
        .unwrap();
    assert_cut_and_continues(dir.path(), &last, good, 9);
}

#[test]
fn torn_tail_cut_inside_the_header_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let last = write_entries(dir.path(), 64 << 20, 5, 30);
    let good = 4 * frame_len(30);
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(good + 3)
        .unwrap();
    assert_cut_and_continues(dir.path(), &last, good, 4);
}

#[test]
fn flipped_byte_in_the_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let last = write_entries(dir.path(), 64 << 20, 10, 50);
    let mut bytes = fs::read(&last).unwrap();
    let good = 9 * frame_len(50);
    let victim = (good + frame_len(50) - 5) as usize;
    bytes[victim] ^= 0x01;
    fs::write(&last, &bytes).unwrap();
    assert_cut_and_continues(dir.path(), &last, good, 9);
}

#[test]
fn zeroed_garbage_after_the_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let last = write_entries(dir.path(), 64 << 20, 3, 10);
    let good = fs::metadata(&last).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    drop(f);
    assert_cut_and_continues(dir.path(), &last, good, 3);
}

#[test]
fn corruption_in_an_older_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), 512, 40, 50);
    let segs = segment::list_segments(dir.path()).unwrap();
    assert!(segs.len() >= 3);
    let first = &segs[0].1;
    let mut bytes = fs::read(first).unwrap();
    let offset = frame_len(50) as usize; // the second record
    bytes[offset + FRAME_HEADER + 10] ^= 0xff;
    fs::write(first, &bytes).unwrap();
    match MutationLog::open(dir.path(), LogOptions::default()) {
        Err(LogError::Corrupt {
            segment, offset: o, ..
        }) => {
            assert_eq!(&segment, first);
            assert_eq!(o, offset as u64);
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }
    // A torn tail in an older segment is corruption too (rolls sync before moving on).
    let mut bytes = fs::read(first).unwrap();
    bytes[offset + FRAME_HEADER + 10] ^= 0xff;
    let len = bytes.len();
    fs::write(first, &bytes[..len - 7]).unwrap();
    assert!(matches!(
        MutationLog::open(dir.path(), LogOptions::default()),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn damage_followed_by_valid_records_in_the_last_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let last = write_entries(dir.path(), 64 << 20, 10, 50);
    let mut bytes = fs::read(&last).unwrap();
    let offset = 4 * frame_len(50) as usize;
    bytes[offset + FRAME_HEADER + 3] ^= 0x10;
    fs::write(&last, &bytes).unwrap();
    match MutationLog::open(dir.path(), LogOptions::default()) {
        Err(LogError::Corrupt { offset: o, .. }) => assert_eq!(o, offset as u64),
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }
    // Nothing was cut.
    assert_eq!(fs::read(&last).unwrap(), bytes);
}

#[test]
fn overlapping_segments_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_entries(dir.path(), 64 << 20, 5, 10);
    let segs = segment::list_segments(dir.path()).unwrap();
    fs::copy(&segs[0].1, dir.path().join(segment::segment_name(3))).unwrap();
    assert!(matches!(
        MutationLog::open(dir.path(), LogOptions::default()),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn replay_keeps_the_highest_ballot_per_decree() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = open(dir.path(), opts(300));
        for (p, d, b, size) in [
            (0, 1, 1, 1),
            (0, 2, 1, 2),
            (1, 1, 1, 3),
            (0, 3, 1, 4),
            (0, 3, 3, 5), // re-prepared under a higher ballot
            (0, 2, 2, 6),
            (0, 3, 2, 7), // lower than the ballot already logged for decree 3
            (1, 1, 1, 8), // same ballot again: the later one wins
            (0, 4, 3, 9),
        ] {
            log.append(&entry(g(p), d, b, size)).unwrap();
        }
        log.sync_all().unwrap();
    }
    let (_, replay) = open(dir.path(), opts(300));
    assert_eq!(replay.entries.len(), 9);
    let latest = replay.latest_per_partition();
    assert_eq!(latest.len(), 2);
    let summary = |p: u32| -> Vec<(u64, u64, usize)> {
        latest[&g(p)]
            .iter()
            .map(|e| (e.decree.0, e.ballot.0, e.mutation.len()))
            .collect()
    };
    assert_eq!(summary(0), vec![(1, 1, 1), (2, 2, 6), (3, 3, 5), (4, 3, 9)]);
    assert_eq!(summary(1), vec![(1, 1, 8)]);
}

#[test]
fn truncate_marker_voids_the_earlier_tail_of_one_partition() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Small segments: the marker lands in a later segment than most entries it voids.
        let (log, _) = open(dir.path(), opts(400));
        for d in 1..=10 {
            log.append(&entry(g(1), d, 1, 30)).unwrap();
            if d <= 3 {
                log.append(&entry(g(2), d, 1, 30)).unwrap();
            }
        }
        let t = log.truncate_after(g(1), Decree(6), Ballot(2)).unwrap();
        log.sync(t).unwrap();
        // Entries after the marker are not affected by it.
        log.append(&entry(g(1), 7, 2, 5)).unwrap();
        log.append(&entry(g(1), 8, 2, 5)).unwrap();
        log.sync_all().unwrap();
        assert!(log.segment_paths().len() > 1);
    }
    let (_, replay) = open(dir.path(), opts(400));
    assert_eq!(decrees_of(&replay, g(1)), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(decrees_of(&replay, g(2)), vec![1, 2, 3]);
    assert_eq!(replay.dropped_by_truncation, 4);
    assert_eq!(
        replay.truncations,
        vec![Truncation {
            gpid: g(1),
            ballot: Ballot(2),
            decree: Decree(6),
        }]
    );
    let latest = replay.latest_per_partition();
    let tail: Vec<(u64, u64)> = latest[&g(1)][5..]
        .iter()
        .map(|e| (e.decree.0, e.ballot.0))
        .collect();
    assert_eq!(tail, vec![(6, 1), (7, 2), (8, 2)]);
}

#[test]
fn truncate_below_everything_empties_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = open(dir.path(), LogOptions::default());
        for d in 1..=3 {
            log.append(&entry(g(0), d, 1, 1)).unwrap();
        }
        log.truncate_after(g(0), Decree(0), Ballot(1)).unwrap();
        log.truncate_after(g(9), Decree(0), Ballot(1)).unwrap(); // unknown partition: no-op
        log.sync_all().unwrap();
    }
    let (_, replay) = open(dir.path(), LogOptions::default());
    assert!(replay.entries.is_empty());
    assert!(replay.latest_per_partition().is_empty());
    assert_eq!(replay.truncations.len(), 2);
}

#[test]
fn gc_deletes_only_segments_below_the_durable_decrees() {
    let dir = tempfile::tempdir().unwrap();
    let size = 50;
    // Three records per segment.
    let seg_bytes = 3 * frame_len(size);
    let (log, _) = open(dir.path(), opts(seg_bytes));
    // Segments: [a1 a2 a3] [a4 a5 b1] [a6 a7 a8] [a9 ...active]
    for d in 1..=5 {
        log.append(&entry(g(0), d, 1, size)).unwrap();
    }
    log.append(&entry(g(1), 1, 1, size)).unwrap();
    for d in 6..=9 {
        log.append(&entry(g(0), d, 1, size)).unwrap();
    }
    log.sync_all().unwrap();
    assert_eq!(log.segment_paths().len(), 4);
    let before = log.segment_paths();

    // Nothing durable yet: nothing goes.
    assert_eq!(log.gc(&HashMap::new()).unwrap(), GcReport::default());
    // g0 flushed to 5 but g1 unknown: only the first segment goes.
    let report = log.gc(&HashMap::from([(g(0), Decree(5))])).unwrap();
    assert_eq!(report.segments, 1);
    assert_eq!(report.bytes, seg_bytes);
    assert_eq!(log.segment_paths(), before[1..].to_vec());
    assert!(!before[0].exists());
    // g0 flushed to 7: segment 3 still holds a8; segment 2 holds b1 (g1 at 0).
    let report = log
        .gc(&HashMap::from([(g(0), Decree(7)), (g(1), Decree(0))]))
        .unwrap();
    assert_eq!(report.segments, 0);
    // g1 flushed: segment 2 goes, segment 3 (a8 > 7) stays.
    let report = log
        .gc(&HashMap::from([(g(0), Decree(7)), (g(1), Decree(1))]))
        .unwrap();
    assert_eq!(report.segments, 1);
    assert_eq!(log.segment_paths(), before[2..].to_vec());
    // Everything flushed: still never the active segment.
    let report = log
        .gc(&HashMap::from([
            (g(0), Decree(u64::MAX)),
            (g(1), Decree(u64::MAX)),
        ]))
        .unwrap();
    assert_eq!(report.segments, 1);
    assert_eq!(log.segment_paths(), before[3..].to_vec());
    assert_eq!(log.stats().segments, 1);
    // The log keeps working and reopens with a sequence gap.
    log.append_and_wait(&entry(g(0), 10, 1, size)).unwrap();
    drop(log);
    let (_, replay) = open(dir.path(), opts(seg_bytes));
    assert_eq!(decrees_of(&replay, g(0)), vec![9, 10]);
}

#[test]
fn gc_keeps_a_marker_while_older_entries_it_voids_remain() {
    let dir = tempfile::tempdir().unwrap();
    let size = 40;
    let seg_bytes = 2 * frame_len(size);
    let (log, _) = open(dir.path(), opts(seg_bytes));
    // Segment 1: [g1 d1, g1 d2]  segment 2: [g0 d1, marker(g1, 1)]  segment 3 (active): [g0 d2, g0 d3].
    log.append(&entry(g(1), 1, 1, size)).unwrap();
    log.append(&entry(g(1), 2, 1, size)).unwrap();
    log.append(&entry(g(0), 1, 1, size)).unwrap();
    log.truncate_after(g(1), Decree(1), Ballot(2)).unwrap();
    log.append(&entry(g(0), 2, 1, size)).unwrap();
    log.append(&entry(g(0), 3, 1, size)).unwrap();
    log.sync_all().unwrap();
    let before = log.segment_paths();
    assert_eq!(before.len(), 3);
    // g0 is flushed, g1 only to 1: segment 1 (g1 d2) stays, and so must the marker voiding it.
    let durable = HashMap::from([(g(0), Decree(10)), (g(1), Decree(1))]);
    assert_eq!(log.gc(&durable).unwrap().segments, 0);
    drop(log);
    let (log, replay) = open(dir.path(), opts(seg_bytes));
    assert_eq!(decrees_of(&replay, g(1)), vec![1]);
    // Once g1's decree 2 is flushed (re-prepared and applied), both go.
    let durable = HashMap::from([(g(0), Decree(10)), (g(1), Decree(2))]);
    assert_eq!(log.gc(&durable).unwrap().segments, 2);
    assert_eq!(log.segment_paths(), before[2..].to_vec());
}

#[test]
fn concurrent_appenders_share_fdatasyncs() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    // Every fdatasync takes at least 2 ms, like a real disk: batching must kick in.
    faults.sync_delay_ms.store(2, Ordering::SeqCst);
    let threads = 16u32;
    let per_thread = 40u64;
    {
        let (log, _) = open(dir.path(), with_faults(8 << 10, &faults));
        let log = Arc::new(log);
        let handles: Vec<_> = (0..threads)
            .map(|p| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut tickets = Vec::new();
                    for d in 1..=per_thread {
                        let t = log.append(&entry(g(p), d, 1, 64)).unwrap();
                        log.sync(t).unwrap();
                        // Durable means covered by a completed sync.
                        assert!(log.stats().synced_seq >= t.seq());
                        tickets.push(t);
                    }
                    tickets
                })
            })
            .collect();
        let mut all: Vec<Ticket> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let appends = u64::from(threads) * per_thread;
        all.sort();
        all.dedup();
        assert_eq!(all.len() as u64, appends);
        let stats = log.stats();
        assert_eq!(stats.appends, appends);
        assert_eq!(stats.synced_seq, appends);
        assert!(
            stats.syncs * 4 <= appends,
            "{} fdatasyncs for {appends} appends: no group commit",
            stats.syncs
        );
        assert_eq!(stats.syncs, faults.sync_calls.load(Ordering::SeqCst));
    }
    let (_, replay) = open(dir.path(), LogOptions::default());
    let latest = replay.latest_per_partition();
    assert_eq!(latest.len(), threads as usize);
    for p in 0..threads {
        let decrees: Vec<u64> = latest[&g(p)].iter().map(|e| e.decree.0).collect();
        assert_eq!(decrees, (1..=per_thread).collect::<Vec<_>>());
    }
}

/// 32 writers at once, each appending 10 entries and waiting for each to
/// be durable (and seeing the log say so) before the next.
async fn overlapping_writers(log: &Arc<MutationLog>) {
    let tasks: Vec<_> = (0..32u32)
        .map(|p| {
            let log = log.clone();
            tokio::spawn(async move {
                for d in 1..=10 {
                    let t = log.append(&entry(g(p), d, 1, 16)).unwrap();
                    log.wait_durable(t).await.unwrap();
                    assert!(log.stats().synced_seq >= t.seq());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_durable_resolves_through_the_background_syncer() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    faults.sync_delay_ms.store(2, Ordering::SeqCst);
    let (log, _) = open(dir.path(), with_faults(64 << 20, &faults));
    let log = Arc::new(log);
    overlapping_writers(&log).await;
    let stats = log.stats();
    assert_eq!(stats.appends, 320);
    assert_eq!(stats.synced_seq, 320);
    assert!(stats.syncs * 4 <= 320, "{} syncs", stats.syncs);
    // An already durable ticket resolves at once.
    log.wait_durable(Ticket(1)).await.unwrap();
}

/// With a linger, overlapping writers share fewer fdatasyncs than without,
/// and a lone writer is not held up by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_linger_gathers_overlapping_writers_only() {
    fn lingering(dir: &Path, linger: Duration) -> Arc<MutationLog> {
        let options = LogOptions {
            sync_linger: linger,
            ..opts(64 << 20)
        };
        Arc::new(open(dir, options).0)
    }
    async fn overlapping(log: &Arc<MutationLog>) -> u64 {
        overlapping_writers(log).await;
        let stats = log.stats();
        assert_eq!(stats.synced_seq, 320);
        stats.syncs
    }
    // Without a linger, writers that happen to overlap share syncs too
    // (more so on a loaded machine): the linger must save syncs in at
    // least one of three rounds, not in each.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let eager = overlapping(&lingering(a.path(), Duration::ZERO)).await;
        let gathered = overlapping(&lingering(b.path(), Duration::from_millis(5))).await;
        rounds.push((gathered, eager));
        if gathered < eager {
            break;
        }
    }
    assert!(
        rounds.iter().any(|(gathered, eager)| gathered < eager),
        "(syncs with a linger, without) per round: {rounds:?}"
    );

    // One writer at a time: each sync covers one record, so no linger
    // (the first may still wait, after the overlapping ones).
    let c = tempfile::tempdir().unwrap();
    let linger = Duration::from_millis(50);
    let log = lingering(c.path(), linger);
    overlapping(&log).await;
    let mut waited = 0;
    for d in 11..=15 {
        let started = Instant::now();
        let t = log.append(&entry(g(0), d, 1, 16)).unwrap();
        log.wait_durable(t).await.unwrap();
        if started.elapsed() >= linger {
            waited += 1;
        }
    }
    assert!(waited <= 1, "{waited} of 5 lone writes waited a linger");
}

#[test]
fn a_failed_fdatasync_poisons_the_log_and_is_never_retried() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    {
        let (log, _) = open(dir.path(), with_faults(64 << 20, &faults));
        log.append_and_wait(&entry(g(0), 1, 1, 10)).unwrap();
        faults.fail_sync.store(true, Ordering::SeqCst);
        let t = log.append(&entry(g(0), 2, 1, 10)).unwrap();
        let err = log.sync(t).unwrap_err();
        assert!(err.is_failed(), "{err}");
        assert!(log.is_failed());
        let calls = faults.sync_calls.load(Ordering::SeqCst);
        // Even once the disk "recovers", nothing is retried and everything is refused.
        faults.fail_sync.store(false, Ordering::SeqCst);
        assert!(log.sync(t).unwrap_err().is_failed());
        assert!(log.append(&entry(g(0), 3, 1, 10)).unwrap_err().is_failed());
        assert!(log
            .truncate_after(g(0), Decree(1), Ballot(2))
            .unwrap_err()
            .is_failed());
        assert!(log.sync_all().unwrap_err().is_failed());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt
            .block_on(log.wait_durable(Ticket(1)))
            .unwrap_err()
            .is_failed());
        assert_eq!(faults.sync_calls.load(Ordering::SeqCst), calls);
        assert!(log.stats().failed);
        assert_eq!(log.stats().appends, 2);
    }
    // A new process (after the replica is rebuilt) can open the directory again.
    let (_, replay) = open(dir.path(), LogOptions::default());
    assert_eq!(replay.entries.len(), 2);
}

#[test]
fn a_failed_write_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let (log, _) = open(dir.path(), with_faults(64 << 20, &faults));
    log.append_and_wait(&entry(g(0), 1, 1, 10)).unwrap();
    faults.fail_write.store(true, Ordering::SeqCst);
    assert!(log.append(&entry(g(0), 2, 1, 10)).unwrap_err().is_failed());
    faults.fail_write.store(false, Ordering::SeqCst);
    assert!(log.append(&entry(g(0), 3, 1, 10)).unwrap_err().is_failed());
    assert!(log.sync(Ticket(1)).unwrap_err().is_failed());
}

#[test]
fn a_failed_sync_during_a_roll_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let (log, _) = open(dir.path(), with_faults(2 * frame_len(10), &faults));
    log.append_and_wait(&entry(g(0), 1, 1, 10)).unwrap();
    log.append(&entry(g(0), 2, 1, 10)).unwrap();
    faults.fail_sync.store(true, Ordering::SeqCst);
    // The third record needs a new segment, which needs an fdatasync of the old one.
    assert!(log.append(&entry(g(0), 3, 1, 10)).unwrap_err().is_failed());
    assert_eq!(log.segment_paths().len(), 1);
    assert!(log.is_failed());
}

#[tokio::test]
async fn pending_async_waiters_get_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    faults.fail_sync.store(true, Ordering::SeqCst);
    faults.sync_delay_ms.store(20, Ordering::SeqCst);
    let (log, _) = open(dir.path(), with_faults(64 << 20, &faults));
    let t = log.append(&entry(g(0), 1, 1, 10)).unwrap();
    let waits: Vec<_> = (0..3).map(|_| log.wait_durable(t)).collect();
    for w in waits {
        assert!(w.await.unwrap_err().is_failed());
    }
}

#[test]
fn async_durability_acknowledges_without_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    {
        let options = LogOptions {
            durability: Durability::Async,
            async_flush_interval: Duration::from_secs(3600),
            ..with_faults(64 << 20, &faults)
        };
        let (log, _) = open(dir.path(), options);
        for d in 1..=20 {
            log.append_and_wait(&entry(g(0), d, 1, 10)).unwrap();
        }
        assert_eq!(log.stats().syncs, 0);
        assert_eq!(log.stats().synced_seq, 0);
        // Dropping the log makes it durable.
    }
    assert_eq!(faults.sync_calls.load(Ordering::SeqCst), 1);
    let (_, replay) = open(dir.path(), LogOptions::default());
    assert_eq!(replay.entries.len(), 20);
}

#[test]
fn async_durability_flushes_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        durability: Durability::Async,
        async_flush_interval: Duration::from_millis(5),
        ..LogOptions::default()
    };
    let (log, _) = open(dir.path(), options);
    let t = log.append_and_wait(&entry(g(0), 1, 1, 10)).unwrap();
    // No timing assertion: just wait until the background flush has happened.
    while log.stats().synced_seq < t.seq() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(log.stats().syncs >= 1);
}

#[test]
fn log_carries_encoded_mutations() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mutation {
        ops: vec![
            WriteOp::Put(b"key".to_vec(), b"value".to_vec()),
            WriteOp::Delete(b"old".to_vec()),
            WriteOp::DeleteRange(b"a".to_vec(), b"b".to_vec()),
        ],
    };
    {
        let (log, _) = open(dir.path(), LogOptions::default());
        let e = LogEntry {
            gpid: g(3),
            ballot: Ballot(4),
            decree: Decree(5),
            last_committed: Decree(4),
            mutation: encode_mutation(&m),
        };
        log.append_and_wait(&e).unwrap();
    }
    let (_, replay) = open(dir.path(), LogOptions::default());
    assert_eq!(decode_mutation(&replay.entries[0].mutation).unwrap(), m);
}

#[test]
fn stray_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("README"), b"not a segment").unwrap();
    fs::write(dir.path().join("log.x.seg"), b"not a segment either").unwrap();
    let (log, replay) = open(dir.path(), LogOptions::default());
    assert!(replay.entries.is_empty());
    log.append_and_wait(&entry(g(0), 1, 1, 1)).unwrap();
}
