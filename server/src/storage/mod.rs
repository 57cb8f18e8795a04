//! The storage engine behind a small trait, and the on-disk layout of Redis types.
//!
//! - [`layout`]: how Redis keys, their metadata and their elements become
//!   RocksDB keys and values.
//! - [`rocks`]: the RocksDB engine (one instance per replica).
//! - [`memory`]: an in-memory engine for tests of command semantics.
//!
//! A learner copies a RocksDB checkpoint ([`rocks::RocksEngine::checkpoint`]);
//! how it is served, copied and installed is [`crate::learn`]'s.

pub mod layout;
pub(crate) mod memory;
pub(crate) mod merge;
pub mod rocks;
pub(crate) mod split;

use petrel_common::ids::Decree;

/// A storage failure. Disk errors are fatal for the replica that sees them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The database holds a layout this build cannot read.
    #[error(
        "database {path} has storage layout version {found}, but this petrel-server reads only \
         version {supported}: run the petrel-server that wrote it (or a newer one)"
    )]
    UnsupportedLayout {
        path: String,
        found: u32,
        supported: u32,
    },
}

impl From<petrel_common::codec::DecodeError> for StorageError {
    fn from(e: petrel_common::codec::DecodeError) -> Self {
        StorageError::Corrupt(e.to_string())
    }
}

/// One change inside a [`Mutation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Deletes every key in `[start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// A deterministic batch of puts and deletes: what a write command turns
/// into at the primary, and the unit the replication log carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mutation {
    pub ops: Vec<WriteOp>,
}

impl Mutation {
    /// Whether the mutation changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Read access to a replica's committed state.
pub trait ReadView {
    /// The value stored under a raw storage key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Calls `visit` for each `(key, value)` with `start <= key < end`, in key
    /// order, until it returns `false`.
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError>;

    /// Like [`ReadView::scan`], in descending key order.
    fn scan_rev(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError>;
}

/// A replica's storage: reads plus atomic application of mutations.
pub trait Engine: ReadView + Send + Sync {
    /// Applies `mutation` and records `decree` as applied, in one atomic batch.
    fn apply(&self, decree: Decree, mutation: &Mutation) -> Result<(), StorageError>;

    /// Like [`Engine::apply`], but when the engine would make the write wait
    /// (RocksDB stalls writes while flushes and compactions catch up) it
    /// applies nothing and returns `Ok(false)` at once, so the caller can
    /// wait where a blocked thread holds up nobody else.
    fn apply_without_stalling(
        &self,
        decree: Decree,
        mutation: &Mutation,
    ) -> Result<bool, StorageError> {
        self.apply(decree, mutation).map(|()| true)
    }

    /// The last decree applied (0 for a new replica).
    fn applied_decree(&self) -> Result<Decree, StorageError>;

    /// Calls `read` with a view of the engine frozen at one instant: every
    /// read through it sees the same applied decrees, so a command reading
    /// several records (MGET, HGETALL, a MULTI's reads) never sees half of
    /// a mutation that is being applied meanwhile.
    fn read_consistent(&self, read: &mut dyn FnMut(&dyn ReadView)) {
        // Engines whose applies are atomic to readers need nothing more.
        read(self.as_view());
    }

    /// This engine as a [`ReadView`].
    fn as_view(&self) -> &dyn ReadView;

    /// Persists everything applied so far (memtables to disk) and returns the
    /// applied decree that is now durable without the log. Blocks.
    fn flush(&self) -> Result<Decree, StorageError>;

    /// A digest of every user record together with the applied decree, both
    /// read from one consistent view. Replicas at the same decree must agree.
    fn digest(&self) -> Result<Digest, StorageError>;

    /// The RocksDB engine behind this one, when it is one (checkpoints).
    fn as_rocks(&self) -> Option<&rocks::RocksEngine> {
        None
    }
}

/// What [`Engine::digest`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    pub(crate) applied: Decree,
    /// User records (internal ones such as the applied decree excluded).
    pub(crate) records: u64,
    /// CRC-64 over every record's length-prefixed key and value, in key order.
    pub(crate) hash: u64,
}

/// Builds a [`Digest`] from records visited in key order.
pub(crate) struct Digester {
    crc: crc::Digest<'static, u64>,
    records: u64,
}

static DIGEST_CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182);

impl Default for Digester {
    fn default() -> Self {
        Digester {
            crc: DIGEST_CRC.digest(),
            records: 0,
        }
    }
}

impl Digester {
    /// Adds one record; internal records are skipped.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        if key.first() == Some(&layout::INTERNAL_PREFIX) {
            return;
        }
        self.records += 1;
        self.crc.update(&(key.len() as u64).to_be_bytes());
        self.crc.update(key);
        self.crc.update(&(value.len() as u64).to_be_bytes());
        self.crc.update(value);
    }

    pub(crate) fn finish(self, applied: Decree) -> Digest {
        Digest {
            applied,
            records: self.records,
            hash: self.crc.finalize(),
        }
    }
}

/// Helpers shared by the engines' tests.
#[cfg(test)]
pub(crate) mod test_util {
    use super::{ReadView, WriteOp};

    /// A put of `k` -> `v`.
    pub(crate) fn put(k: &[u8], v: &[u8]) -> WriteOp {
        WriteOp::Put(k.to_vec(), v.to_vec())
    }

    /// Every key in `[start, end)`, in order.
    pub(crate) fn keys(engine: &dyn ReadView, start: &[u8], end: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        engine
            .scan(start, end, &mut |k, _| {
                out.push(k.to_vec());
                true
            })
            .expect("scan");
        out
    }
}
