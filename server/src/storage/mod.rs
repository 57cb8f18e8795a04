//! The storage engine behind a small trait, and the on-disk layout of Redis types.
//!
//! - [`layout`]: how Redis keys, their metadata and their elements become
//!   RocksDB keys and values.
//! - [`rocks`]: the RocksDB engine (one instance per replica).
//! - [`memory`]: an in-memory engine for tests of command semantics.

pub mod layout;
pub mod memory;
pub mod rocks;

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
    pub fn is_empty(&self) -> bool {
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
}

/// A replica's storage: reads plus atomic application of mutations.
pub trait Engine: ReadView + Send + Sync {
    /// Applies `mutation` and records `decree` as applied, in one atomic batch.
    fn apply(&self, decree: Decree, mutation: &Mutation) -> Result<(), StorageError>;

    /// The last decree applied (0 for a new replica).
    fn applied_decree(&self) -> Result<Decree, StorageError>;

    /// Persists everything applied so far (memtables to disk) and returns the
    /// applied decree that is now durable without the log. Blocks.
    fn flush(&self) -> Result<Decree, StorageError>;
}

/// Helpers shared by the engines' tests.
#[cfg(test)]
pub(crate) mod test_util {
    use super::{ReadView, WriteOp};

    /// A put of `k` -> `v`.
    pub fn put(k: &[u8], v: &[u8]) -> WriteOp {
        WriteOp::Put(k.to_vec(), v.to_vec())
    }

    /// Every key in `[start, end)`, in order.
    pub fn keys(engine: &dyn ReadView, start: &[u8], end: &[u8]) -> Vec<Vec<u8>> {
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
