//! The keyspace as one command sees it: the replica's state plus the
//! command's own pending writes, which become its [`Mutation`].
//!
//! Commands that touch a key twice (`MSET a 1 a 2`, `DEL a a`) see their own
//! earlier writes, and the mutation holds one final op per key.

use std::collections::BTreeMap;

use bytes::Bytes;
use petrel_common::reply::errors;

use crate::cmd::CmdError;
use crate::storage::layout::{self, KeyType, MetaHeader, META_HEADER_LEN};
use crate::storage::{Mutation, ReadView, StorageError, WriteOp};

/// A key's metadata and payload (the value itself, for a string).
#[derive(Clone, Debug)]
pub struct Entry {
    /// Type, expiry, version and size.
    pub header: MetaHeader,
    /// The value of a string; type-specific bookkeeping otherwise.
    pub payload: Bytes,
}

impl Entry {
    /// The expiry as Redis reports it: `None` when the key has none.
    pub fn expire_at(&self) -> Option<u64> {
        (self.header.expire_at_ms != 0).then_some(self.header.expire_at_ms)
    }
}

/// A pending write to one metadata record.
struct Pending {
    /// Whether a record was stored before this command ran.
    existed: bool,
    /// The final value, or `None` for a delete.
    value: Option<Vec<u8>>,
}

/// The replica's keyspace plus one command's pending writes.
pub struct Db<'a> {
    view: &'a dyn ReadView,
    now_ms: u64,
    pending: BTreeMap<Vec<u8>, Pending>,
    /// Set by FLUSHALL: everything stored before is gone.
    flushed: bool,
}

impl<'a> Db<'a> {
    /// A view of `view` at wall-clock `now_ms`.
    pub fn new(view: &'a dyn ReadView, now_ms: u64) -> Self {
        Db {
            view,
            now_ms,
            pending: BTreeMap::new(),
            flushed: false,
        }
    }

    /// The command's clock (the primary's, fixed for the whole command).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The clock as Redis's signed millisecond time.
    pub fn now_i64(&self) -> i64 {
        i64::try_from(self.now_ms).unwrap_or(i64::MAX)
    }

    /// The stored record of `key`, expired or not.
    pub fn raw(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        let meta_key = layout::meta_key(key);
        let raw = match self.pending.get(&meta_key) {
            Some(pending) => pending.value.clone(),
            None if self.flushed => None,
            None => self.view.get(&meta_key)?,
        };
        match raw {
            None => Ok(None),
            Some(raw) => {
                let (header, _) = layout::decode_meta(&raw)?;
                let payload = Bytes::from(raw).slice(META_HEADER_LEN..);
                Ok(Some(Entry { header, payload }))
            }
        }
    }

    /// The live (non-expired) record of `key`.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        Ok(self
            .raw(key)?
            .filter(|entry| entry.header.is_live(self.now_ms)))
    }

    /// The live string at `key`; WRONGTYPE if the key holds another type.
    pub fn lookup_string(&self, key: &[u8]) -> Result<Option<Entry>, CmdError> {
        match self.lookup(key)? {
            Some(entry) if entry.header.key_type != KeyType::String => {
                Err(CmdError::reply(errors::WRONGTYPE))
            }
            found => Ok(found),
        }
    }

    /// A version for a new incarnation of `key` (see [`layout::new_version`]).
    pub fn fresh_version(&self, key: &[u8]) -> Result<u64, StorageError> {
        let previous = self.raw(key)?;
        Ok(layout::new_version(
            self.now_ms,
            previous.as_ref().map(|e| &e.header),
        ))
    }

    /// Stores a string, replacing whatever `key` held.
    pub fn put_string(&mut self, key: &[u8], expire_at_ms: u64, version: u64, value: &[u8]) {
        let raw = layout::encode_string(expire_at_ms, version, value);
        self.write(key, Some(raw));
    }

    /// Rewrites a key's metadata, keeping its payload (e.g. a new expiry).
    pub fn put_meta(&mut self, key: &[u8], header: &MetaHeader, payload: &[u8]) {
        let raw = layout::encode_meta(header, payload);
        self.write(key, Some(raw));
    }

    /// Deletes `key`. A collection's elements become unreachable with its
    /// metadata; compaction drops them later.
    pub fn delete(&mut self, key: &[u8]) {
        self.write(key, None);
    }

    /// Deletes every user key (metadata and elements), keeping internal records.
    pub fn flush(&mut self) {
        self.pending.clear();
        self.flushed = true;
    }

    /// Whether the stored state (ignoring pending writes) holds any user record.
    pub fn has_user_records(&self) -> Result<bool, StorageError> {
        let mut any = false;
        for (start, end) in [layout::meta_space(), layout::element_space()] {
            self.view.scan(&start, &end, &mut |_, _| {
                any = true;
                false
            })?;
            if any {
                break;
            }
        }
        Ok(any)
    }

    /// Calls `visit` with the header of every stored metadata record.
    pub fn scan_headers(&self, visit: &mut dyn FnMut(&MetaHeader)) -> Result<(), StorageError> {
        let (start, end) = layout::meta_space();
        let mut failure = None;
        self.view.scan(
            &start,
            &end,
            &mut |_, value| match layout::decode_meta(value) {
                Ok((header, _)) => {
                    visit(&header);
                    true
                }
                Err(e) => {
                    failure = Some(e);
                    false
                }
            },
        )?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The writes this command made, as one deterministic mutation.
    pub fn into_mutation(self) -> Mutation {
        let mut ops = Vec::new();
        if self.flushed {
            for (start, end) in [layout::meta_space(), layout::element_space()] {
                ops.push(WriteOp::DeleteRange(start, end));
            }
        }
        for (key, pending) in self.pending {
            match pending.value {
                Some(value) => ops.push(WriteOp::Put(key, value)),
                // Deleting what was never stored changes nothing.
                None if pending.existed => ops.push(WriteOp::Delete(key)),
                None => {}
            }
        }
        Mutation { ops }
    }

    fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        let meta_key = layout::meta_key(key);
        if let Some(pending) = self.pending.get_mut(&meta_key) {
            pending.value = value;
            return;
        }
        // Only a stored record needs a Delete; a read error here just means
        // we emit a Delete that may be redundant, which is harmless.
        let existed = !self.flushed && !matches!(self.view.get(&meta_key), Ok(None));
        self.pending.insert(meta_key, Pending { existed, value });
    }
}
