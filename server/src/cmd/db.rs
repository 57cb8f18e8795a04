//! The keyspace as one command sees it: the replica's state plus the
//! command's own pending writes, which become its [`Mutation`].
//!
//! Commands that touch a key twice (`MSET a 1 a 2`, `DEL a a`) see their own
//! earlier writes, and the mutation holds one final op per key.
//!
//! Collections (hash, list, set, zset) are a metadata record plus one record
//! per element under the key's current version ([`layout::element_key`]).
//! A command reads and writes elements through [`Db::element`],
//! [`Db::put_element`], [`Db::delete_element`] and [`Db::scan_elements`],
//! keeps the element count in the header it saves with
//! [`Db::save_collection`], and never loads a whole collection to change one
//! element. Deleting or replacing a collection drops its elements with one
//! range delete over its version's prefix; [`Db::delete_element_range`]
//! and [`Db::delete_element_prefix`] drop a run of elements the same way
//! (a stream's whole nodes, a consumer group).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use bytes::Bytes;
use petrel_common::command::{Command, KeySpecFlags};
use petrel_common::reply::errors;

use crate::cmd::events::{self, Event, Events};
use crate::cmd::outcome::CmdError;
use crate::storage::layout::{self, KeyType, MetaHeader, META_HEADER_LEN};
use crate::storage::merge::Layer;
use crate::storage::{Mutation, ReadView, StorageError, WriteOp};

/// A key's metadata and payload (the value itself, for a string).
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Type, expiry, version and size.
    pub(crate) header: MetaHeader,
    /// The value of a string; type-specific bookkeeping otherwise.
    pub(crate) payload: Bytes,
}

impl Entry {
    /// The expiry as Redis reports it: `None` when the key has none.
    pub(crate) fn expire_at(&self) -> Option<u64> {
        (self.header.expire_at_ms != 0).then_some(self.header.expire_at_ms)
    }
}

/// A pending write to one metadata record.
#[derive(Clone)]
struct Pending {
    /// Whether a record was stored before this command ran.
    existed: bool,
    /// The version of the collection stored before this command ran, whose
    /// elements go when the key is deleted or gets a new version.
    stored_collection: Option<u64>,
    /// The final value, or `None` for a delete.
    value: Option<Vec<u8>>,
}

/// A command's pending writes at one moment, to return to with [`Db::rollback`].
pub(crate) struct Savepoint {
    pending: BTreeMap<Vec<u8>, Pending>,
    elements: Layer,
    flushed: bool,
    events: usize,
    expired_seen: usize,
}

/// The replica's keyspace plus one command's pending writes.
pub(crate) struct Db<'a> {
    view: &'a dyn ReadView,
    now_ms: u64,
    pending: BTreeMap<Vec<u8>, Pending>,
    /// Pending element writes by storage key (`None` deletes).
    elements: Layer,
    /// Set by FLUSHALL: everything stored before is gone.
    flushed: bool,
    /// Metadata records read from `view`, by storage key: the stored state
    /// does not change under a command, and a plain SET consults its key's
    /// record four times (lookup, new version, pending write).
    stored_metas: RefCell<HashMap<Vec<u8>, Option<Bytes>>>,
    /// The keyspace event classes this command raises (0: none; see
    /// [`events`]).
    notify: u32,
    /// The command runs as a read (its writes are dropped).
    reading: bool,
    /// The events raised so far, in order.
    events: Vec<Event>,
    /// (A read with events on) keys found expired but still stored.
    expired_seen: Vec<Bytes>,
}

/// Reads nothing: the stored state after a FLUSHALL in this command.
struct Nothing;

impl ReadView for Nothing {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }

    fn scan(
        &self,
        _start: &[u8],
        _end: &[u8],
        _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        Ok(())
    }

    fn scan_rev(
        &self,
        _start: &[u8],
        _end: &[u8],
        _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        Ok(())
    }
}

impl<'a> Db<'a> {
    /// A view of `view` at wall-clock `now_ms`.
    pub(crate) fn new(view: &'a dyn ReadView, now_ms: u64) -> Self {
        Db {
            view,
            now_ms,
            pending: BTreeMap::new(),
            elements: Layer::default(),
            flushed: false,
            stored_metas: RefCell::default(),
            notify: 0,
            reading: false,
            events: Vec::new(),
            expired_seen: Vec::new(),
        }
    }

    /// Raises the keyspace events of `flags` (the `notify-keyspace-events`
    /// classes; none unless K or E is among them). A `reading` command's
    /// writes are dropped: the expired keys it meets are only noted.
    pub(crate) fn set_notify(&mut self, flags: u32, reading: bool) {
        self.notify = petrel_common::notify::effective(flags);
        self.reading = reading;
    }

    /// Whether events of `class` are raised.
    pub(crate) fn notifies(&self, class: u32) -> bool {
        self.notify & class != 0
    }

    /// Raises event `name` of `class` for `key`, if that class is on.
    pub(crate) fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        if self.notify & class != 0 {
            self.events.push(Event {
                class,
                name,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// `key` expired but is still stored: deleted now, raising `expired`
    /// (a read only notes it, for the sweep).
    pub(crate) fn expire_now(&mut self, key: &[u8]) {
        if self.reading {
            self.expired_seen.push(Bytes::copy_from_slice(key));
        } else {
            self.notify_expired(key);
            self.delete(key);
        }
    }

    /// `expired` for `key` (the sweep's, and a lookup's).
    pub(crate) fn notify_expired(&mut self, key: &[u8]) {
        self.notify(events::EXPIRED, "expired", key);
    }

    /// `keymiss` for `key` (a write command's own read of it).
    pub(crate) fn notify_keymiss(&mut self, key: &[u8]) {
        self.notify(events::KEY_MISS, "keymiss", key);
    }

    /// What Redis does when a command looks its keys up, done before the
    /// command runs (only with notifications on: otherwise the background
    /// sweep deletes expired keys, and nobody listens for `keymiss`):
    ///
    /// - a key whose time to live ran out but that is still stored is
    ///   deleted now, raising `expired`, in a write (a read cannot write:
    ///   the key is noted for the sweep, see [`Db::take_expired_seen`]);
    /// - a read-only command raises `keymiss` for each key it finds
    ///   missing, as does a write for each key it only reads (a key spec
    ///   flagged `RO`: SUNIONSTORE's sources, COPY's source..., and every key
    ///   of PFMERGE, which reads its destination too); the writes that read
    ///   the key they write (`SET ... GET`, GETDEL, GETEX) raise it
    ///   themselves. `OBJECT` and `MEMORY USAGE` raise none, as in Redis.
    ///
    /// Internal commands (MULTI blocks, scripts) are checked command by
    /// command inside them instead.
    pub(crate) fn before_command(
        &mut self,
        command: &Command,
        args: &[Bytes],
    ) -> Result<(), StorageError> {
        if self.notify == 0 || command.is_internal() {
            return Ok(());
        }
        let mut keys: Vec<(usize, KeySpecFlags)> = Vec::new();
        if command
            .for_each_key(args, |i, flags| keys.push((i, flags)))
            .is_err()
        {
            return Ok(());
        }
        let name = command.name();
        let misses = self.notifies(events::KEY_MISS)
            && !name.starts_with("object|")
            && name != "memory|usage";
        // PFMERGE reads its destination like its sources first.
        let reads_all = name == "pfmerge";
        for (i, flags) in keys {
            let Some(key) = args.get(i) else {
                continue;
            };
            let miss =
                misses && (!command.is_write() || reads_all || flags.contains(KeySpecFlags::RO));
            let expired = self
                .raw(key)?
                .is_some_and(|e| !e.header.is_live(self.now_ms));
            if expired {
                self.expire_now(key);
            }
            if miss && self.lookup(key)?.is_none() {
                self.notify_keymiss(key);
            }
        }
        Ok(())
    }

    /// The events raised so far (taken out).
    pub(crate) fn take_events(&mut self) -> Events {
        Events {
            flags: self.notify,
            list: std::mem::take(&mut self.events),
        }
    }

    /// (A read) the keys it found expired but still stored.
    pub(crate) fn take_expired_seen(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.expired_seen)
    }

    /// The metadata record stored under `meta_key` before this command (or
    /// nothing after its FLUSHALL), read from the view at most once.
    fn stored_meta(&self, meta_key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        if self.flushed {
            return Ok(None);
        }
        if let Some(found) = self.stored_metas.borrow().get(meta_key) {
            return Ok(found.clone());
        }
        let found = self.view.get(meta_key)?.map(Bytes::from);
        self.stored_metas
            .borrow_mut()
            .insert(meta_key.to_vec(), found.clone());
        Ok(found)
    }

    /// The pending writes as they are now (a copy).
    pub(crate) fn savepoint(&self) -> Savepoint {
        Savepoint {
            pending: self.pending.clone(),
            elements: self.elements.clone(),
            flushed: self.flushed,
            events: self.events.len(),
            expired_seen: self.expired_seen.len(),
        }
    }

    /// Forgets every write made since `savepoint`.
    pub(crate) fn rollback(&mut self, savepoint: Savepoint) {
        self.pending = savepoint.pending;
        self.elements = savepoint.elements;
        self.flushed = savepoint.flushed;
        self.events.truncate(savepoint.events);
        self.expired_seen.truncate(savepoint.expired_seen);
    }

    /// The command's clock (the primary's, fixed for the whole command).
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The clock as Redis's signed millisecond time.
    pub(crate) fn now_i64(&self) -> i64 {
        i64::try_from(self.now_ms).unwrap_or(i64::MAX)
    }

    /// The stored record of `key`, expired or not.
    pub(crate) fn raw(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        let meta_key = layout::meta_key(key);
        let raw = match self.pending.get(&meta_key) {
            Some(pending) => pending.value.clone().map(Bytes::from),
            None => self.stored_meta(&meta_key)?,
        };
        match raw {
            None => Ok(None),
            Some(raw) => {
                let (header, _) = layout::decode_meta(&raw)?;
                let payload = raw.slice(META_HEADER_LEN..);
                Ok(Some(Entry { header, payload }))
            }
        }
    }

    /// The live (non-expired) record of `key`.
    pub(crate) fn lookup(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        Ok(self
            .raw(key)?
            .filter(|entry| entry.header.is_live(self.now_ms)))
    }

    /// The live string at `key`; WRONGTYPE if the key holds another type.
    pub(crate) fn lookup_string(&self, key: &[u8]) -> Result<Option<Entry>, CmdError> {
        match self.lookup(key)? {
            Some(entry) if entry.header.key_type != KeyType::String => {
                Err(CmdError::reply(errors::WRONGTYPE))
            }
            found => Ok(found),
        }
    }

    /// The live key of type `key_type`; `WRONGTYPE` if it holds another.
    pub(crate) fn lookup_typed(
        &self,
        key: &[u8],
        key_type: KeyType,
    ) -> Result<Option<Entry>, CmdError> {
        match self.lookup(key)? {
            Some(entry) if entry.header.key_type != key_type => {
                Err(CmdError::reply(errors::WRONGTYPE))
            }
            found => Ok(found),
        }
    }

    /// The live collection at `key`, or a new empty incarnation of it (not
    /// stored until [`Db::save_collection`]); `WRONGTYPE` if it holds another type.
    pub(crate) fn collection_or_new(
        &self,
        key: &[u8],
        key_type: KeyType,
    ) -> Result<Entry, CmdError> {
        if let Some(entry) = self.lookup_typed(key, key_type)? {
            return Ok(entry);
        }
        Ok(Entry {
            header: MetaHeader {
                key_type,
                expire_at_ms: 0,
                version: self.fresh_version(key)?,
                size: 0,
            },
            payload: Bytes::new(),
        })
    }

    /// Stores a collection's header and payload, or deletes the key when its
    /// element count is zero (Redis never keeps an empty collection).
    pub(crate) fn save_collection(&mut self, key: &[u8], entry: &Entry) {
        if entry.header.size == 0 {
            self.delete(key);
        } else {
            self.put_meta(key, &entry.header, &entry.payload);
        }
    }

    /// One element of the incarnation `version` of `key`.
    pub(crate) fn element(
        &self,
        key: &[u8],
        version: u64,
        element: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let raw = layout::element_key(key, version, element);
        match self.elements.written.get(&raw) {
            Some(pending) => Ok(pending.clone()),
            None if self
                .elements
                .erased
                .iter()
                .any(|(s, e)| s.as_slice() <= raw.as_slice() && raw.as_slice() < e.as_slice()) =>
            {
                Ok(None)
            }
            None => self.base().get(&raw),
        }
    }

    /// Deletes every element of incarnation `version` of `key` from `first`
    /// to `last` (inclusive, element byte order) with one range delete,
    /// whatever their number (the count in the header is the caller's).
    pub(crate) fn delete_element_range(
        &mut self,
        key: &[u8],
        version: u64,
        first: &[u8],
        last: &[u8],
    ) {
        let start = layout::element_key(key, version, first);
        let mut end = layout::element_key(key, version, last);
        // The successor of `last` among byte strings.
        end.push(0);
        self.erase(start, end);
    }

    /// Deletes every element of incarnation `version` of `key` whose bytes
    /// start with `prefix`, with one range delete.
    pub(crate) fn delete_element_prefix(&mut self, key: &[u8], version: u64, prefix: &[u8]) {
        let start = layout::element_key(key, version, prefix);
        let end = layout::prefix_end(&start);
        if let Some(end) = end {
            self.erase(start, end);
        }
    }

    /// Erases the element keys in `[start, end)`, pending writes included.
    fn erase(&mut self, start: Vec<u8>, end: Vec<u8>) {
        if start >= end {
            return;
        }
        let doomed: Vec<Vec<u8>> = self
            .elements
            .written
            .range(start.clone()..end.clone())
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.elements.written.remove(&k);
        }
        self.elements.erased.push((start, end));
    }

    /// Writes one element (its count in the header is the caller's to keep).
    pub(crate) fn put_element(&mut self, key: &[u8], version: u64, element: &[u8], value: &[u8]) {
        let raw = layout::element_key(key, version, element);
        self.elements.written.insert(raw, Some(value.to_vec()));
    }

    /// Deletes one element (its count in the header is the caller's to keep).
    pub(crate) fn delete_element(&mut self, key: &[u8], version: u64, element: &[u8]) {
        let raw = layout::element_key(key, version, element);
        self.elements.written.insert(raw, None);
    }

    /// Visits the elements of incarnation `version` of `key` whose element
    /// bytes lie in `range`, in element byte order (descending when
    /// `reverse`), with this command's own writes, until `visit` returns
    /// `false`. `visit` gets (element, value).
    pub(crate) fn scan_elements(
        &self,
        key: &[u8],
        version: u64,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let prefix = layout::element_prefix(key, version);
        let with_prefix = |e: &[u8]| {
            let mut k = prefix.clone();
            k.extend_from_slice(e);
            k
        };
        let start = match range.0 {
            Bound::Included(e) => with_prefix(e),
            // The successor of e among byte strings is e + 0x00.
            Bound::Excluded(e) => {
                let mut k = with_prefix(e);
                k.push(0);
                k
            }
            Bound::Unbounded => prefix.clone(),
        };
        let end = match range.1 {
            Bound::Included(e) => {
                let mut k = with_prefix(e);
                k.push(0);
                k
            }
            Bound::Excluded(e) => with_prefix(e),
            Bound::Unbounded => match layout::prefix_end(&prefix) {
                Some(end) => end,
                None => return Ok(()),
            },
        };
        let skip = prefix.len();
        self.elements
            .scan(self.base(), &start, &end, reverse, &mut |k, v| {
                visit(&k[skip..], v)
            })
    }

    /// Visits every element of incarnation `version` of `key`, in element
    /// order, until `visit` returns `false` (see [`Db::scan_elements`]).
    pub(crate) fn each_element(
        &self,
        key: &[u8],
        version: u64,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.scan_elements(
            key,
            version,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            visit,
        )
    }

    /// The stored state, or nothing after a FLUSHALL in this command.
    fn base(&self) -> &dyn ReadView {
        if self.flushed {
            &Nothing
        } else {
            self.view
        }
    }

    /// A version for a new incarnation of `key` (see [`layout::new_version`]).
    pub(crate) fn fresh_version(&self, key: &[u8]) -> Result<u64, StorageError> {
        // Both what this command wrote and what was stored before it: a key
        // deleted earlier in the same command (or transaction) still has
        // elements stored under its old version.
        let pending = self.raw(key)?.map(|e| e.header);
        let stored = match self.stored_meta(&layout::meta_key(key))? {
            Some(raw) => Some(layout::decode_meta(&raw)?.0),
            None => None,
        };
        let previous = match (pending, stored) {
            (Some(a), Some(b)) => Some(if a.version >= b.version { a } else { b }),
            (a, b) => a.or(b),
        };
        Ok(layout::new_version(self.now_ms, previous.as_ref()))
    }

    /// Stores a string, replacing whatever `key` held.
    pub(crate) fn put_string(&mut self, key: &[u8], expire_at_ms: u64, version: u64, value: &[u8]) {
        let raw = layout::encode_string(expire_at_ms, version, value);
        self.write(key, Some(raw));
    }

    /// Rewrites a key's metadata, keeping its payload (e.g. a new expiry).
    pub(crate) fn put_meta(&mut self, key: &[u8], header: &MetaHeader, payload: &[u8]) {
        let raw = layout::encode_meta(header, payload);
        self.write(key, Some(raw));
    }

    /// Deletes `key`. A collection's elements become unreachable with its
    /// metadata; compaction drops them later.
    pub(crate) fn delete(&mut self, key: &[u8]) {
        self.write(key, None);
    }

    /// A `*STORE` with an empty result: deletes `dst`, raising `del` if it
    /// was there.
    pub(crate) fn delete_stored(&mut self, dst: &[u8]) -> Result<(), StorageError> {
        let existed = self.lookup(dst)?.is_some();
        self.delete(dst);
        if existed {
            self.notify(events::GENERIC, "del", dst);
        }
        Ok(())
    }

    /// Deletes every user key (metadata and elements), keeping internal records.
    pub(crate) fn flush(&mut self) {
        self.pending.clear();
        self.elements = Layer::default();
        self.flushed = true;
    }

    /// Whether the stored state (ignoring pending writes) holds any user record.
    pub(crate) fn has_user_records(&self) -> Result<bool, StorageError> {
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
    pub(crate) fn scan_headers(
        &self,
        visit: &mut dyn FnMut(&MetaHeader),
    ) -> Result<(), StorageError> {
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

    /// Calls `visit` with the user key, scan hash and header of every stored
    /// metadata record whose scan hash is `from` or more, in scan-hash order
    /// (`layout`), until it returns `false`. Expired keys are included;
    /// this command's own pending writes are not.
    pub(crate) fn scan_metas(
        &self,
        from: u64,
        visit: &mut dyn FnMut(&[u8], u64, &MetaHeader) -> bool,
    ) -> Result<(), StorageError> {
        let start = layout::meta_position(from);
        let (_, end) = layout::meta_space();
        let mut failure = None;
        self.base().scan(&start, &end, &mut |raw_key, value| {
            let decoded = layout::decode_meta_key(raw_key).and_then(|key| {
                let position = layout::meta_key_position(raw_key)?;
                Ok((key, position, layout::decode_meta(value)?.0))
            });
            match decoded {
                Ok((key, position, header)) => visit(key, position, &header),
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The writes this command made, as one deterministic mutation.
    pub(crate) fn into_mutation(self) -> Mutation {
        let mut ops = Vec::new();
        if self.flushed {
            for (start, end) in [layout::meta_space(), layout::element_space()] {
                ops.push(WriteOp::DeleteRange(start, end));
            }
        }
        // Elements of collections deleted or replaced by a new incarnation.
        for (key, pending) in &self.pending {
            let Some(old) = pending.stored_collection else {
                continue;
            };
            let kept = match &pending.value {
                Some(raw) => layout::decode_meta(raw)
                    .is_ok_and(|(h, _)| h.key_type != KeyType::String && h.version == old),
                None => false,
            };
            if kept {
                continue;
            }
            if let Ok(user_key) = layout::decode_meta_key(key) {
                let start = layout::element_prefix(user_key, old);
                if let Some(end) = layout::prefix_end(&start) {
                    ops.push(WriteOp::DeleteRange(start, end));
                }
            }
        }
        // Element ranges deleted by the command (writes after them win, so
        // they come first).
        for (start, end) in self.elements.erased {
            ops.push(WriteOp::DeleteRange(start, end));
        }
        for (key, value) in self.elements.written {
            match value {
                Some(value) => ops.push(WriteOp::Put(key, value)),
                None => ops.push(WriteOp::Delete(key)),
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
        // Redis raises `new` when a command adds a key that was not there.
        if self.notify & events::NEW != 0 && value.is_some() && matches!(self.lookup(key), Ok(None))
        {
            self.notify(events::NEW, "new", key);
        }
        let meta_key = layout::meta_key(key);
        if let Some(pending) = self.pending.get_mut(&meta_key) {
            pending.value = value;
            return;
        }
        // Only a stored record needs a Delete; a read error here just means
        // we emit a Delete that may be redundant, which is harmless.
        let stored = self.stored_meta(&meta_key);
        let existed = !matches!(stored, Ok(None));
        let stored_collection = match &stored {
            Ok(Some(raw)) => layout::decode_meta(raw)
                .ok()
                .filter(|(h, _)| h.key_type != KeyType::String)
                .map(|(h, _)| h.version),
            _ => None,
        };
        self.pending.insert(
            meta_key,
            Pending {
                existed,
                stored_collection,
                value,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemEngine;
    use crate::storage::Engine;
    use petrel_common::ids::Decree;

    fn elements(db: &Db<'_>, key: &[u8], version: u64, reverse: bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        db.scan_elements(
            key,
            version,
            (Bound::Unbounded, Bound::Unbounded),
            reverse,
            &mut |e, v| {
                out.push((
                    String::from_utf8_lossy(e).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ));
                true
            },
        )
        .expect("scan");
        out
    }

    /// Creates hash `h` with fields a=1, b=2, c=3 and applies it.
    fn stored_hash(engine: &MemEngine) -> u64 {
        let mut db = Db::new(engine, 1_000);
        let mut h = db.collection_or_new(b"h", KeyType::Hash).expect("new");
        let v = h.header.version;
        for (f, val) in [("a", "1"), ("b", "2"), ("c", "3")] {
            db.put_element(b"h", v, f.as_bytes(), val.as_bytes());
            h.header.size += 1;
        }
        db.save_collection(b"h", &h);
        engine.apply(Decree(1), &db.into_mutation()).expect("apply");
        v
    }

    /// Whether `m` range-deletes the elements of version `v` of `key`.
    fn drops_elements(m: &Mutation, key: &[u8], v: u64) -> bool {
        let prefix = layout::element_prefix(key, v);
        m.ops
            .iter()
            .any(|op| matches!(op, WriteOp::DeleteRange(s, _) if *s == prefix))
    }

    #[test]
    fn a_command_reads_each_stored_record_once_and_a_flushall_hides_it() {
        let engine = MemEngine::new();
        let v = stored_hash(&engine);
        let view = crate::cmd::testing::Counting::new(&engine);
        let mut db = Db::new(&view, 2_000);
        // What a plain SET over an existing hash does: look up, take a new
        // version, write (and, in the mutation, drop the old elements).
        assert!(db.lookup(b"h").expect("lookup").is_some());
        let version = db.fresh_version(b"h").expect("version");
        assert!(version > v);
        db.put_string(b"h", 0, version, b"str");
        assert_eq!(
            db.lookup_string(b"h").expect("string").map(|e| e.payload),
            Some(Bytes::from_static(b"str"))
        );
        assert_eq!(view.gets.get(), 1, "one read of h's record");
        assert!(drops_elements(&db.into_mutation(), b"h", v));

        let mut db = Db::new(&view, 2_000);
        assert!(db.lookup(b"h").expect("lookup").is_some());
        db.flush();
        assert!(
            db.lookup(b"h").expect("lookup").is_none(),
            "gone after FLUSHALL"
        );
    }

    #[test]
    fn elements_are_read_through_the_commands_own_writes() {
        let engine = MemEngine::new();
        let v = stored_hash(&engine);
        let mut db = Db::new(&engine, 2_000);
        let h = db
            .lookup_typed(b"h", KeyType::Hash)
            .expect("typed")
            .expect("live");
        assert_eq!(h.header.size, 3);
        assert_eq!(h.header.version, v);
        db.delete_element(b"h", v, b"b");
        db.put_element(b"h", v, b"bb", b"new");
        db.put_element(b"h", v, b"c", b"33");
        assert_eq!(db.element(b"h", v, b"a").expect("get"), Some(b"1".to_vec()));
        assert_eq!(db.element(b"h", v, b"b").expect("get"), None);
        let fwd = elements(&db, b"h", v, false);
        let names: Vec<_> = fwd.iter().map(|(e, v)| format!("{e}={v}")).collect();
        assert_eq!(names, ["a=1", "bb=new", "c=33"]);
        let rev = elements(&db, b"h", v, true);
        assert_eq!(rev.first().map(|(e, _)| e.as_str()), Some("c"));
        let mut after_a = Vec::new();
        db.scan_elements(
            b"h",
            v,
            (Bound::Excluded(b"a"), Bound::Included(b"bb")),
            false,
            &mut |e, _| {
                after_a.push(e.to_vec());
                true
            },
        )
        .expect("scan");
        assert_eq!(after_a, [b"bb".to_vec()]);
        assert!(matches!(
            db.lookup_typed(b"h", KeyType::Set),
            Err(CmdError::Reply(_))
        ));
    }

    #[test]
    fn deleting_or_replacing_a_collection_drops_its_elements() {
        let engine = MemEngine::new();
        let v = stored_hash(&engine);
        let mut db = Db::new(&engine, 2_000);
        db.put_string(b"h", 0, db.fresh_version(b"h").expect("version"), b"str");
        let m = db.into_mutation();
        assert!(drops_elements(&m, b"h", v));
        engine.apply(Decree(2), &m).expect("apply");
        let db = Db::new(&engine, 3_000);
        assert!(elements(&db, b"h", v, false).is_empty());
        // A collection that keeps its version keeps its elements.
        let engine = MemEngine::new();
        let v = stored_hash(&engine);
        let mut db = Db::new(&engine, 2_000);
        let mut h = db.collection_or_new(b"h", KeyType::Hash).expect("h");
        db.delete_element(b"h", v, b"a");
        h.header.size -= 1;
        db.save_collection(b"h", &h);
        let m = db.into_mutation();
        assert!(!m
            .ops
            .iter()
            .any(|op| matches!(op, WriteOp::DeleteRange(..))));
        engine.apply(Decree(2), &m).expect("apply");
        assert_eq!(elements(&Db::new(&engine, 3_000), b"h", v, false).len(), 2);
        // Emptying it deletes the key.
        let mut db = Db::new(&engine, 3_000);
        let mut h = db.collection_or_new(b"h", KeyType::Hash).expect("h");
        h.header.size = 0;
        db.save_collection(b"h", &h);
        engine.apply(Decree(3), &db.into_mutation()).expect("apply");
        let db = Db::new(&engine, 4_000);
        assert!(db.raw(b"h").expect("raw").is_none());
        assert!(elements(&db, b"h", v, false).is_empty());
    }

    #[test]
    fn element_ranges_are_deleted_whole_pending_writes_included() {
        let engine = MemEngine::new();
        let v = stored_hash(&engine);
        let mut db = Db::new(&engine, 2_000);
        db.put_element(b"h", v, b"bb", b"pending");
        db.put_element(b"h", v, b"d", b"kept");
        // a..=b holds the stored a and b, not the pending bb (after b).
        db.delete_element_range(b"h", v, b"a", b"b");
        assert_eq!(db.element(b"h", v, b"a").expect("get"), None);
        assert_eq!(db.element(b"h", v, b"b").expect("get"), None);
        assert_eq!(
            db.element(b"h", v, b"bb").expect("get"),
            Some(b"pending".to_vec())
        );
        db.delete_element_prefix(b"h", v, b"b");
        assert_eq!(db.element(b"h", v, b"bb").expect("get"), None);
        // A write after the range delete wins over it.
        db.put_element(b"h", v, b"a", b"again");
        let names: Vec<_> = elements(&db, b"h", v, false)
            .into_iter()
            .map(|(e, v)| format!("{e}={v}"))
            .collect();
        assert_eq!(names, ["a=again", "c=3", "d=kept"]);
        let m = db.into_mutation();
        engine.apply(Decree(2), &m).expect("apply");
        let db = Db::new(&engine, 3_000);
        let names: Vec<_> = elements(&db, b"h", v, false)
            .into_iter()
            .map(|(e, v)| format!("{e}={v}"))
            .collect();
        assert_eq!(names, ["a=again", "c=3", "d=kept"]);
    }
}
