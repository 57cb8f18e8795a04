//! The RocksDB engine: one instance per replica.
//!
//! Every call may block (write stalls, flushes and fsyncs can take
//! seconds). Replicas apply small mutations on a tokio worker with
//! [`Engine::apply_without_stalling`] and move to a blocking section only
//! when RocksDB would stall the write; everything else runs off the workers.
//!
//! RocksDB's own WAL is off: the server's mutation log (`crate::log`) is the
//! write-ahead log. Data lives in memtables until a flush; the applied decree
//! rides in the same batch as the data, so after a crash a replica replays
//! the log from its applied decree + 1. [`Engine::flush`] persists memtables
//! so the log below that decree can be garbage-collected.

use petrel_common::ids::Decree;
use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, Options, ReadOptions, WriteBatch, WriteOptions, DB,
};
use std::path::Path;

use crate::storage::layout::{self, APPLIED_DECREE_KEY, LAYOUT_VERSION, LAYOUT_VERSION_KEY};
use crate::storage::{Digest, Digester, Engine, Mutation, ReadView, StorageError, WriteOp};

/// An LRU block cache; clone it into the options of several engines to share
/// one memory budget across the replicas of a server.
#[derive(Clone)]
pub(crate) struct BlockCache(Cache);

impl BlockCache {
    /// A cache holding up to `bytes` of uncompressed blocks.
    pub(crate) fn new(bytes: usize) -> Self {
        BlockCache(Cache::new_lru_cache(bytes))
    }
}

/// Tuning knobs for [`RocksEngine::open`].
#[derive(Clone)]
pub struct RocksOptions {
    /// Shared block cache; `None` gives the engine a private 32 MiB one.
    pub(crate) block_cache: Option<BlockCache>,
    /// Memtable size before a flush.
    pub(crate) write_buffer_size: usize,
    /// Background flush and compaction threads.
    pub(crate) max_background_jobs: i32,
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            block_cache: None,
            write_buffer_size: 64 << 20,
            max_background_jobs: 2,
        }
    }
}

/// A replica's RocksDB instance.
pub struct RocksEngine {
    db: DB,
}

impl RocksEngine {
    /// Opens (creating if missing) the database at `path`.
    ///
    /// A new database gets the layout-version record of this build; an
    /// existing one must hold a version this build reads
    /// ([`StorageError::UnsupportedLayout`] otherwise), or none (it
    /// predates the record: version 1). An older readable version is
    /// raised to this build's, so older servers refuse it from then on.
    pub fn open(path: &Path, opts: &RocksOptions) -> Result<Self, StorageError> {
        let options = db_options(opts);
        let existed = path.join("CURRENT").exists();
        // A read-write open must name every existing column family.
        let db = if existed {
            let families = DB::list_cf(&options, path).map_err(rocks)?;
            DB::open_cf(&options, path, families).map_err(rocks)?
        } else {
            DB::open(&options, path).map_err(rocks)?
        };
        let found = layout::layout_version(db.get(LAYOUT_VERSION_KEY).map_err(rocks)?.as_deref())?;
        let found = match (found, existed) {
            (Some(v), _) => Some(v),
            (None, true) => Some(layout::UNRECORDED_LAYOUT_VERSION),
            (None, false) => None,
        };
        if let Some(v) = found {
            check_layout(path, v)?;
        }
        if found != Some(LAYOUT_VERSION) {
            // A new database, or an older layout this build reads as is:
            // from now on it may hold this layout's records, so it says so.
            // Durable at once (the WAL is off, so flush): a database must
            // never hold data without saying how it is laid out.
            db.put(
                LAYOUT_VERSION_KEY,
                layout::encode_layout_version(LAYOUT_VERSION),
            )
            .map_err(rocks)?;
            db.flush().map_err(rocks)?;
        }
        let moved = move_legacy_metadata(&db)?;
        if moved > 0 {
            tracing::info!(
                path = %path.display(),
                moved,
                "metadata records moved to layout {LAYOUT_VERSION} (ordered by scan hash)"
            );
        }
        Ok(RocksEngine { db })
    }

    /// The layout version recorded in the database at `path` (`None` when
    /// it has no record), read without writing anything there. Blocks.
    pub fn layout_version_at(path: &Path) -> Result<Option<u32>, StorageError> {
        let record = read_only_record(path, LAYOUT_VERSION_KEY)?;
        layout::layout_version(record.as_deref())
    }

    /// Fails unless the database at `path` (if there is one) holds a layout
    /// this build reads: the check a server makes on every replica before
    /// it starts serving. Blocks.
    pub(crate) fn check_layout_at(path: &Path) -> Result<(), StorageError> {
        if !path.join("CURRENT").exists() {
            return Ok(());
        }
        let found = Self::layout_version_at(path)?.unwrap_or(layout::UNRECORDED_LAYOUT_VERSION);
        check_layout(path, found)
    }

    /// Writes a consistent checkpoint of this database into `dir` (which must
    /// not exist; its parent must) and returns the applied decree it holds.
    ///
    /// SST files are hard links, so a checkpoint is cheap until compaction
    /// rewrites the originals. Blocks (it flushes).
    pub(crate) fn checkpoint(&self, dir: &Path) -> Result<Decree, StorageError> {
        // The WAL is off, so only flushed data can reach a checkpoint. RocksDB
        // flushes again inside (log_size_for_flush = 0); our flush first keeps
        // that one small.
        self.db.flush().map_err(rocks)?;
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(dir))
            .map_err(rocks)?;
        // Writes may land between the flush and the checkpoint's own cut, so
        // the decree is read from the checkpoint itself: exact, and no
        // assumption about who else writes to this replica.
        applied_decree_of(dir)
    }
}

/// The applied decree recorded in the database at `dir`, read by a
/// read-only open, which writes nothing into the directory (no LOG, no
/// LOCK): safe on a checkpoint that is being served or was just downloaded.
pub(crate) fn applied_decree_of(dir: &Path) -> Result<Decree, StorageError> {
    let record = read_only_record(dir, APPLIED_DECREE_KEY)?;
    layout::applied_decree(record.as_deref())
}

/// One record of the database at `dir`, by a read-only open (which writes
/// nothing there).
fn read_only_record(dir: &Path, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
    let mut options = Options::default();
    // A few table files open lazily instead of all of them (and their
    // indexes) at open time.
    options.set_max_open_files(16);
    let db = DB::open_for_read_only(&options, dir, false).map_err(rocks)?;
    db.get(key).map_err(rocks)
}

/// Metadata records moved per batch by [`move_legacy_metadata`].
const MOVE_BATCH: usize = 10_000;

/// Moves every metadata record of layouts 1 and 2 to its layout-3 key
/// (`layout::upgrade_op`), [`MOVE_BATCH`] at a time, each batch moving
/// whole records (put the new, delete the old), so an interrupted move
/// loses nothing and goes on at the next open; flushed at the end (the
/// WAL is off). Returns how many moved; 0 (one seek) once done.
fn move_legacy_metadata(db: &DB) -> Result<u64, StorageError> {
    let (start, end) = layout::legacy_meta_space();
    let mut moved = 0u64;
    loop {
        let mut batch = WriteBatch::default();
        let mut in_batch = 0;
        let mut iter = db.raw_iterator();
        iter.seek(&start);
        while iter.valid() && in_batch < MOVE_BATCH {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                break;
            };
            if key >= end.as_slice() {
                break;
            }
            if let Some(WriteOp::Put(new_key, value)) =
                layout::upgrade_op(&WriteOp::Put(key.to_vec(), value.to_vec()))
            {
                batch.put(new_key, value);
            }
            batch.delete(key);
            in_batch += 1;
            iter.next();
        }
        iter.status().map_err(rocks)?;
        drop(iter);
        if in_batch == 0 {
            break;
        }
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        db.write_opt(batch, &write).map_err(rocks)?;
        moved += in_batch as u64;
    }
    if moved > 0 {
        db.flush().map_err(rocks)?;
    }
    Ok(moved)
}

/// Refuses a database whose layout this build cannot read.
fn check_layout(path: &Path, found: u32) -> Result<(), StorageError> {
    if layout::READABLE_LAYOUT_VERSIONS.contains(&found) {
        return Ok(());
    }
    Err(StorageError::UnsupportedLayout {
        path: path.display().to_string(),
        found,
        supported: LAYOUT_VERSION,
    })
}

fn db_options(opts: &RocksOptions) -> Options {
    let mut table = BlockBasedOptions::default();
    // Full (not block-based) bloom filters: most GETs of absent keys skip
    // the data blocks entirely.
    table.set_bloom_filter(10.0, false);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let cache = match &opts.block_cache {
        Some(shared) => shared.0.clone(),
        None => Cache::new_lru_cache(32 << 20),
    };
    table.set_block_cache(&cache);

    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_block_based_table_factory(&table);
    // Cheap compression where data is hot, dense compression at the bottom
    // level where most bytes live.
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_bottommost_compression_type(DBCompressionType::Zstd);
    options.set_level_compaction_dynamic_level_bytes(true);
    options.set_write_buffer_size(opts.write_buffer_size);
    options.set_max_background_jobs(opts.max_background_jobs);
    options.set_bytes_per_sync(1 << 20);
    options
}

impl ReadView for RocksEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db.get(key).map_err(rocks)
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        scan_range(|r| self.db.raw_iterator_opt(r), start, end, false, visit)
    }

    fn scan_rev(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        scan_range(|r| self.db.raw_iterator_opt(r), start, end, true, visit)
    }
}

impl RocksEngine {
    /// Writes `mutation` and the applied decree in one batch; with
    /// `no_slowdown`, fails with `Incomplete` (writing nothing) instead of
    /// waiting out a write stall.
    fn write(
        &self,
        decree: Decree,
        mutation: &Mutation,
        no_slowdown: bool,
    ) -> Result<(), rocksdb::Error> {
        let mut batch = WriteBatch::default();
        for op in &mutation.ops {
            match op {
                WriteOp::Put(key, value) => batch.put(key, value),
                WriteOp::Delete(key) => batch.delete(key),
                WriteOp::DeleteRange(start, end) => {
                    // RocksDB rejects a reversed range; an empty one is a no-op.
                    if start < end {
                        batch.delete_range(start, end)
                    }
                }
            }
        }
        // The applied decree rides in the same batch as the data, so a
        // restart never sees one without the other.
        batch.put(APPLIED_DECREE_KEY, layout::encode_decree(decree.0));
        let mut write = WriteOptions::default();
        // The mutation log already holds this batch durably (or will, before
        // anyone is told it happened).
        write.disable_wal(true);
        write.set_no_slowdown(no_slowdown);
        self.db.write_opt(batch, &write)
    }
}

impl Engine for RocksEngine {
    fn apply(&self, decree: Decree, mutation: &Mutation) -> Result<(), StorageError> {
        self.write(decree, mutation, false).map_err(rocks)
    }

    fn apply_without_stalling(
        &self,
        decree: Decree,
        mutation: &Mutation,
    ) -> Result<bool, StorageError> {
        match self.write(decree, mutation, true) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == rocksdb::ErrorKind::Incomplete => Ok(false),
            Err(e) => Err(rocks(e)),
        }
    }

    fn applied_decree(&self) -> Result<Decree, StorageError> {
        layout::applied_decree(self.db.get(APPLIED_DECREE_KEY).map_err(rocks)?.as_deref())
    }

    fn flush(&self) -> Result<Decree, StorageError> {
        // Read the decree first: everything applied up to it is in the
        // memtables this flush persists.
        let decree = self.applied_decree()?;
        self.db.flush().map_err(rocks)?;
        Ok(decree)
    }

    fn digest(&self) -> Result<Digest, StorageError> {
        let snapshot = self.db.snapshot();
        let applied =
            layout::applied_decree(snapshot.get(APPLIED_DECREE_KEY).map_err(rocks)?.as_deref())?;
        let mut digester = Digester::default();
        let mut iter = snapshot.raw_iterator();
        iter.seek_to_first();
        while let Some((key, value)) = iter.item() {
            digester.add(key, value);
            iter.next();
        }
        iter.status().map_err(rocks)?;
        Ok(digester.finish(applied))
    }

    fn as_rocks(&self) -> Option<&RocksEngine> {
        Some(self)
    }

    fn read_consistent(&self, read: &mut dyn FnMut(&dyn ReadView)) {
        let snapshot = self.db.snapshot();
        read(&SnapshotView { snapshot });
    }

    fn as_view(&self) -> &dyn ReadView {
        self
    }
}

/// A RocksDB snapshot as a [`ReadView`]: reads see the database as it was
/// when the snapshot was taken, whatever is applied meanwhile.
struct SnapshotView<'a> {
    snapshot: rocksdb::Snapshot<'a>,
}

impl ReadView for SnapshotView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.snapshot.get(key).map_err(rocks)
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        scan_range(
            |r| self.snapshot.raw_iterator_opt(r),
            start,
            end,
            false,
            visit,
        )
    }

    fn scan_rev(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        scan_range(
            |r| self.snapshot.raw_iterator_opt(r),
            start,
            end,
            true,
            visit,
        )
    }
}

/// Visits `[start, end)` of the iterator `open` makes from read options
/// bounded to that range, in key order (descending when `reverse`), until
/// `visit` returns `false`.
fn scan_range<'a>(
    open: impl FnOnce(ReadOptions) -> rocksdb::DBRawIterator<'a>,
    start: &[u8],
    end: &[u8],
    reverse: bool,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), StorageError> {
    if start >= end {
        return Ok(());
    }
    // Explicit bounds, not prefix_iterator: without a prefix extractor
    // that one silently runs past the prefix.
    let mut read = ReadOptions::default();
    read.set_iterate_range(start.to_vec()..end.to_vec());
    let mut iter = open(read);
    if reverse {
        iter.seek_to_last();
    } else {
        iter.seek_to_first();
    }
    while let Some((key, value)) = iter.item() {
        if !visit(key, value) {
            return Ok(());
        }
        if reverse {
            iter.prev();
        } else {
            iter.next();
        }
    }
    // An invalid iterator means the end of the range or an error.
    iter.status().map_err(rocks)
}

fn rocks(error: rocksdb::Error) -> StorageError {
    StorageError::Rocks(error.into_string())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use petrel_common::reply::Reply;

    use super::*;
    use crate::cmd;

    use crate::storage::test_util::{keys, put};

    #[test]
    fn apply_then_reopen_keeps_data_and_decree() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
            assert_eq!(engine.applied_decree().unwrap(), Decree(0));
            let mutation = Mutation {
                ops: vec![put(b"\x02a", b"1"), put(b"\x02b", b"2")],
            };
            engine.apply(Decree(7), &mutation).unwrap();
            engine
                .apply(
                    Decree(8),
                    &Mutation {
                        ops: vec![WriteOp::Delete(b"\x02b".to_vec())],
                    },
                )
                .unwrap();
            engine.flush().unwrap();
        }
        let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
        assert_eq!(engine.applied_decree().unwrap(), Decree(8));
        assert_eq!(engine.get(b"\x02a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(engine.get(b"\x02b").unwrap(), None);
    }

    #[test]
    fn a_consistent_read_does_not_see_what_is_applied_during_it() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
        let two = |a: &[u8], b: &[u8]| Mutation {
            ops: vec![put(b"\x01a", a), put(b"\x01b", b)],
        };
        engine.apply(Decree(1), &two(b"1", b"1")).unwrap();
        let mut seen = Vec::new();
        engine.read_consistent(&mut |view| {
            seen.push(view.get(b"\x01a").unwrap());
            // A mutation applied between two reads of one command.
            engine.apply(Decree(2), &two(b"2", b"2")).unwrap();
            seen.push(view.get(b"\x01b").unwrap());
            let mut scanned = Vec::new();
            view.scan(b"\x01", b"\x02", &mut |_, v| {
                scanned.push(v.to_vec());
                true
            })
            .unwrap();
            view.scan_rev(b"\x01", b"\x02", &mut |_, v| {
                scanned.push(v.to_vec());
                true
            })
            .unwrap();
            assert_eq!(scanned, vec![b"1".to_vec(); 4]);
        });
        assert_eq!(seen, vec![Some(b"1".to_vec()), Some(b"1".to_vec())]);
        assert_eq!(engine.get(b"\x01b").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn a_new_database_records_its_layout_version() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            RocksEngine::check_layout_at(dir.path()).is_ok(),
            "no database yet"
        );
        drop(RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap());
        assert_eq!(
            RocksEngine::layout_version_at(dir.path()).unwrap(),
            Some(LAYOUT_VERSION)
        );
        RocksEngine::check_layout_at(dir.path()).unwrap();
        drop(RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap());
    }

    #[test]
    fn a_version_1_database_is_raised_to_this_layout_and_its_metadata_moved() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
            let mutation = Mutation {
                ops: vec![put(b"\x01a", b"1")],
            };
            engine.apply(Decree(4), &mutation).unwrap();
            // As a server wrote it before the record existed.
            engine.db.delete(LAYOUT_VERSION_KEY).unwrap();
            engine.flush().unwrap();
        }
        assert_eq!(RocksEngine::layout_version_at(dir.path()).unwrap(), None);
        RocksEngine::check_layout_at(dir.path()).unwrap();
        let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
        // Its metadata record moved to where layout 3 keeps it.
        assert_eq!(engine.get(b"\x01a").unwrap(), None);
        assert_eq!(
            engine.get(&layout::meta_key(b"a")).unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(engine.applied_decree().unwrap(), Decree(4));
        drop(engine);
        assert_eq!(
            RocksEngine::layout_version_at(dir.path()).unwrap(),
            Some(LAYOUT_VERSION)
        );
        // Recorded as 1 (as a server of layout 1 wrote it): read as is too.
        {
            let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
            engine
                .db
                .put(LAYOUT_VERSION_KEY, layout::encode_layout_version(1))
                .unwrap();
            engine.flush().unwrap();
        }
        RocksEngine::check_layout_at(dir.path()).unwrap();
        let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
        assert_eq!(
            engine.get(&layout::meta_key(b"a")).unwrap(),
            Some(b"1".to_vec())
        );
        drop(engine);
        assert_eq!(
            RocksEngine::layout_version_at(dir.path()).unwrap(),
            Some(LAYOUT_VERSION)
        );
    }

    #[test]
    fn an_unknown_layout_version_is_refused_naming_the_database_and_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
            engine
                .db
                .put(LAYOUT_VERSION_KEY, layout::encode_layout_version(99))
                .unwrap();
            engine.flush().unwrap();
        }
        for err in [
            RocksEngine::open(dir.path(), &RocksOptions::default())
                .err()
                .expect("refused"),
            RocksEngine::check_layout_at(dir.path()).expect_err("refused"),
        ] {
            assert!(
                matches!(
                    &err,
                    StorageError::UnsupportedLayout {
                        found: 99,
                        supported: LAYOUT_VERSION,
                        ..
                    }
                ),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(text.contains(&dir.path().display().to_string()), "{text}");
            assert!(
                text.contains("version 99") && text.contains(&format!("version {LAYOUT_VERSION}")),
                "{text}"
            );
        }
        // Refusing changed nothing.
        assert_eq!(
            RocksEngine::layout_version_at(dir.path()).unwrap(),
            Some(99)
        );
    }

    #[test]
    fn a_write_without_stalling_applies_like_any_other_when_rocksdb_is_not_behind() {
        let dir = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
        let mutation = Mutation {
            ops: vec![put(b"\x01a", b"1")],
        };
        assert!(engine.apply_without_stalling(Decree(3), &mutation).unwrap());
        assert_eq!(engine.applied_decree().unwrap(), Decree(3));
        assert_eq!(engine.get(b"\x01a").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn delete_range_and_scan_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::new(1 << 20);
        let opts = RocksOptions {
            block_cache: Some(cache),
            ..RocksOptions::default()
        };
        let engine = RocksEngine::open(dir.path(), &opts).unwrap();
        let seed = Mutation {
            ops: vec![
                put(b"\x01a", b""),
                put(b"\x01b", b""),
                put(b"\x01c", b""),
                put(b"\x02x", b""),
            ],
        };
        engine.apply(Decree(1), &seed).unwrap();
        assert_eq!(
            keys(&engine, b"\x01a", b"\x01c"),
            vec![b"\x01a".to_vec(), b"\x01b".to_vec()]
        );
        // The internal records live below the user spaces.
        assert_eq!(
            keys(&engine, b"\x00", b"\x01"),
            vec![APPLIED_DECREE_KEY.to_vec(), LAYOUT_VERSION_KEY.to_vec()]
        );
        let flush = Mutation {
            ops: vec![
                WriteOp::DeleteRange(b"\x01".to_vec(), b"\x02".to_vec()),
                WriteOp::DeleteRange(b"\x05".to_vec(), b"\x04".to_vec()),
            ],
        };
        engine.apply(Decree(2), &flush).unwrap();
        assert!(keys(&engine, b"\x01", b"\x02").is_empty());
        assert_eq!(keys(&engine, b"\x02", b"\x03"), vec![b"\x02x".to_vec()]);
        assert_eq!(engine.applied_decree().unwrap(), Decree(2));
        let mut visited = 0;
        engine
            .scan(b"\x00", b"\xff", &mut |_, _| {
                visited += 1;
                false
            })
            .unwrap();
        assert_eq!(visited, 1);
    }

    /// Runs a command through the command layer and applies its mutation.
    fn run(engine: &RocksEngine, decree: u64, now_ms: u64, args: &[&str]) -> Reply {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let command = petrel_common::command::table()
            .find(&args[0])
            .expect("a command");
        let exec = cmd::try_execute(engine, command, &args, now_ms).unwrap();
        engine.apply(Decree(decree), &exec.mutation).unwrap();
        exec.reply
    }

    #[test]
    fn commands_on_rocks_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_700_000_000_000;
        {
            let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
            assert_eq!(
                run(&engine, 1, now, &["set", "a", "1", "px", "1000"]),
                Reply::ok()
            );
            assert_eq!(run(&engine, 2, now, &["incrby", "a", "41"]), Reply::Int(42));
            assert_eq!(
                run(&engine, 3, now, &["mset", "b", "x", "c", "y"]),
                Reply::ok()
            );
            assert_eq!(run(&engine, 4, now, &["del", "c"]), Reply::Int(1));
            assert_eq!(run(&engine, 5, now, &["append", "b", "yz"]), Reply::Int(3));
            engine.flush().unwrap();
        }
        let engine = RocksEngine::open(dir.path(), &RocksOptions::default()).unwrap();
        assert_eq!(engine.applied_decree().unwrap(), Decree(5));
        assert_eq!(run(&engine, 6, now, &["get", "a"]), Reply::bulk("42"));
        assert_eq!(run(&engine, 7, now, &["pttl", "a"]), Reply::Int(1000));
        assert_eq!(run(&engine, 8, now, &["get", "b"]), Reply::bulk("xyz"));
        assert_eq!(run(&engine, 9, now, &["exists", "c"]), Reply::Int(0));
        assert_eq!(run(&engine, 10, now, &["dbsize"]), Reply::Int(2));
        // Past a's expiry only b is left.
        assert_eq!(run(&engine, 11, now + 1001, &["dbsize"]), Reply::Int(1));
        assert_eq!(run(&engine, 12, now, &["flushdb"]), Reply::ok());
        assert_eq!(run(&engine, 13, now, &["dbsize"]), Reply::Int(0));
        assert_eq!(engine.applied_decree().unwrap(), Decree(13));
    }

    #[test]
    fn checkpoint_holds_unflushed_writes_and_their_decree() {
        let root = tempfile::tempdir().unwrap();
        let engine = RocksEngine::open(&root.path().join("db"), &RocksOptions::default()).unwrap();
        engine
            .apply(
                Decree(4),
                &Mutation {
                    ops: vec![put(b"\x02a", b"1")],
                },
            )
            .unwrap();
        let ckpt = root.path().join("ckpt");
        assert_eq!(engine.checkpoint(&ckpt).unwrap(), Decree(4));
        // Later writes stay out of it.
        engine
            .apply(
                Decree(5),
                &Mutation {
                    ops: vec![put(b"\x02b", b"2")],
                },
            )
            .unwrap();
        // Every file with its length, sorted by name.
        let listing = |dir: &Path| {
            let mut files: Vec<(std::ffi::OsString, u64)> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name(), e.metadata().unwrap().len())
                })
                .collect();
            files.sort();
            files
        };
        let before = listing(&ckpt);
        assert!(before.iter().any(|(name, _)| name == "CURRENT"));
        assert_eq!(applied_decree_of(&ckpt).unwrap(), Decree(4));
        // Reading the decree left the directory as it was.
        assert_eq!(listing(&ckpt), before);
        drop(engine);
        let copy = RocksEngine::open(&ckpt, &RocksOptions::default()).unwrap();
        assert_eq!(copy.applied_decree().unwrap(), Decree(4));
        assert_eq!(copy.get(b"\x02a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(copy.get(b"\x02b").unwrap(), None);
    }
}
