//! One stream as records (see the layout in the [module doc](super)): its
//! metadata (ids and counters), its entries and the nodes that group them.
//!
//! Everything here reads or writes the records it is asked about: an entry
//! is one point lookup, a range one bounded scan, and appending or deleting
//! one entry touches the entry, its node and the metadata.

use std::ops::Bound;

use bytes::Bytes;

use super::codec::{ReadFields, Reader, WriteFields, Writer};
use super::id::StreamId;
use super::listpack;
use crate::cmd::db::{Db, Entry};
use crate::cmd::outcome::CmdError;
use crate::storage::layout::{KeyType, MetaHeader};
use crate::storage::StorageError;

/// First byte of an entry record: `e` + id.
pub(crate) const ENTRY: u8 = b'e';
/// First byte of a node record: `n` + master id.
pub(crate) const NODE: u8 = b'n';

/// The payload's format byte (the only one so far).
const FORMAT: u8 = 1;

/// A live stream: its metadata record and the stream's own fields.
#[derive(Clone, Debug)]
pub(crate) struct Stream<'k> {
    pub(crate) key: &'k [u8],
    /// Type, expiry, version; `size` is the number of entries (XLEN).
    pub(crate) entry: Entry,
    /// The last id XADD generated or XSETID set.
    pub(crate) last_id: StreamId,
    /// The first entry's id when it was last looked for (Redis's
    /// `first_id`; `0-0` when empty).
    pub(crate) first_id: StreamId,
    /// The greatest id deleted by XDEL (or set by XSETID).
    pub(crate) max_deleted: StreamId,
    /// Entries ever added.
    pub(crate) entries_added: u64,
    /// Node records (XINFO's `radix-tree-keys`).
    pub(crate) nodes: u64,
    /// The master id of the last node (meaningless without nodes).
    pub(crate) tail: StreamId,
    /// Consumer groups.
    pub(crate) groups: u64,
}

/// One node: Redis's listpack of entries, as counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// The id of its first entry ever (its radix-tree key).
    pub(crate) master: StreamId,
    /// Live entries.
    pub(crate) count: u64,
    /// Entries deleted but still counted by Redis (marked in the listpack).
    pub(crate) deleted: u64,
    /// Listpack bytes but the header, the end and the two counters.
    pub(crate) body: u64,
    /// The id of its last entry, deleted or not.
    pub(crate) last: StreamId,
    /// The master entry's fields (those of its first entry).
    pub(crate) fields: Vec<Bytes>,
}

impl Node {
    /// The node's listpack bytes.
    pub(crate) fn bytes(&self) -> u64 {
        listpack::node_bytes(self.count, self.deleted, self.body)
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.count)
            .u64(self.deleted)
            .u64(self.body)
            .id(self.last)
            .items(&self.fields);
        w.0
    }

    fn decode(master: StreamId, raw: &[u8]) -> Result<Node, StorageError> {
        let mut r = Reader::new("stream node", raw);
        let node = Node {
            master,
            count: r.u64()?,
            deleted: r.u64()?,
            body: r.u64()?,
            last: r.id()?,
            fields: r.items()?,
        };
        r.finish()?;
        Ok(node)
    }
}

/// The element bytes of entry `id`.
pub(crate) fn entry_element(id: StreamId) -> [u8; 17] {
    tagged(ENTRY, id)
}

/// The element bytes of the node whose master id is `id`.
fn node_element(id: StreamId) -> [u8; 17] {
    tagged(NODE, id)
}

fn tagged(tag: u8, id: StreamId) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[0] = tag;
    out[1..].copy_from_slice(&id.to_bytes());
    out
}

/// Decodes a record from its element bytes and value.
pub(crate) type Decode<'a, T> = dyn Fn(&[u8], &[u8]) -> Result<T, StorageError> + 'a;

/// A node record from its element bytes and value.
fn decode_node(element: &[u8], raw: &[u8]) -> Result<Node, StorageError> {
    let master =
        tagged_id(NODE, element).ok_or_else(|| StorageError::Corrupt("stream node key".into()))?;
    Node::decode(master, raw)
}

/// The id of an `e`/`n` element, checking its tag.
fn tagged_id(tag: u8, element: &[u8]) -> Option<StreamId> {
    match element.split_first() {
        Some((&t, rest)) if t == tag => StreamId::from_bytes(rest),
        _ => None,
    }
}

/// An entry's field and value list (field, value, field, value...).
pub(crate) fn encode_pairs(pairs: &[Bytes]) -> Vec<u8> {
    let mut w = Writer::default();
    w.items(pairs);
    w.0
}

/// Decodes [`encode_pairs`].
pub(crate) fn decode_pairs(raw: &[u8]) -> Result<Vec<Bytes>, StorageError> {
    let mut r = Reader::new("stream entry", raw);
    let items = r.items()?;
    r.finish()?;
    if items.len() % 2 != 0 {
        return Err(StorageError::Corrupt(
            "stream entry with an unpaired field".into(),
        ));
    }
    Ok(items)
}

impl<'k> Stream<'k> {
    /// The live stream at `key`; `WRONGTYPE` if the key holds another type.
    pub(crate) fn load(db: &Db<'_>, key: &'k [u8]) -> Result<Option<Stream<'k>>, CmdError> {
        match db.lookup_typed(key, KeyType::Stream)? {
            Some(entry) => Ok(Some(Stream::decode(key, entry)?)),
            None => Ok(None),
        }
    }

    /// A new, empty stream at `key` (stored by [`Stream::save`]).
    pub(crate) fn create(db: &Db<'_>, key: &'k [u8]) -> Result<Stream<'k>, StorageError> {
        Ok(Stream {
            key,
            entry: Entry {
                header: MetaHeader {
                    key_type: KeyType::Stream,
                    expire_at_ms: 0,
                    version: db.fresh_version(key)?,
                    size: 0,
                },
                payload: Bytes::new(),
            },
            last_id: StreamId::MIN,
            first_id: StreamId::MIN,
            max_deleted: StreamId::MIN,
            entries_added: 0,
            nodes: 0,
            tail: StreamId::MIN,
            groups: 0,
        })
    }

    fn decode(key: &'k [u8], entry: Entry) -> Result<Stream<'k>, StorageError> {
        let mut r = Reader::new("stream metadata", &entry.payload);
        if r.u8()? != FORMAT {
            return Err(StorageError::Corrupt(
                "stream metadata of an unknown format".into(),
            ));
        }
        let stream = Stream {
            key,
            last_id: r.id()?,
            first_id: r.id()?,
            max_deleted: r.id()?,
            entries_added: r.u64()?,
            nodes: r.u64()?,
            tail: r.id()?,
            groups: r.u64()?,
            entry: entry.clone(),
        };
        r.finish()?;
        Ok(stream)
    }

    /// Stores the metadata. A stream stays even without entries (XDEL,
    /// XTRIM and XGROUP CREATE MKSTREAM leave or make empty ones).
    pub(crate) fn save(&mut self, db: &mut Db<'_>) {
        let mut w = Writer::default();
        w.u8(FORMAT)
            .id(self.last_id)
            .id(self.first_id)
            .id(self.max_deleted)
            .u64(self.entries_added)
            .u64(self.nodes)
            .id(self.tail)
            .u64(self.groups);
        self.entry.payload = Bytes::from(w.0);
        db.put_meta(self.key, &self.entry.header, &self.entry.payload);
    }

    /// The number of entries (XLEN).
    pub(crate) fn len(&self) -> u64 {
        self.entry.header.size
    }

    /// The version its element records belong to.
    pub(crate) fn version(&self) -> u64 {
        self.entry.header.version
    }

    /// The element record `element` of this stream, decoded.
    pub(crate) fn record<T>(
        &self,
        db: &Db<'_>,
        element: &[u8],
        decode: impl FnOnce(&[u8]) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError> {
        db.element(self.key, self.version(), element)?
            .map(|raw| decode(&raw))
            .transpose()
    }

    /// Visits this stream's element records with element bytes in `[lo,
    /// hi]`, in order (descending when `reverse`), each decoded from its
    /// element bytes and value, until `visit` returns `false`; a record
    /// that does not decode ends the scan with its error.
    pub(crate) fn scan_records<T>(
        &self,
        db: &Db<'_>,
        (lo, hi): (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        decode: &Decode<'_, T>,
        visit: &mut dyn FnMut(T) -> bool,
    ) -> Result<(), StorageError> {
        let mut failure = None;
        db.scan_elements(
            self.key,
            self.version(),
            (lo, hi),
            reverse,
            &mut |e, v| match decode(e, v) {
                Ok(item) => visit(item),
                Err(err) => {
                    failure = Some(err);
                    false
                }
            },
        )?;
        failure.map_or(Ok(()), Err)
    }

    /// The fields and values of entry `id`, if it exists.
    pub(crate) fn get(
        &self,
        db: &Db<'_>,
        id: StreamId,
    ) -> Result<Option<Vec<Bytes>>, StorageError> {
        self.record(db, &entry_element(id), decode_pairs)
    }

    /// Whether entry `id` exists.
    pub(crate) fn contains(&self, db: &Db<'_>, id: StreamId) -> Result<bool, StorageError> {
        Ok(db
            .element(self.key, self.version(), &entry_element(id))?
            .is_some())
    }

    /// Visits the entries with ids in `[start, end]` in id order (descending
    /// when `reverse`) until `visit` returns `false`; one bounded scan.
    pub(crate) fn scan(
        &self,
        db: &Db<'_>,
        start: StreamId,
        end: StreamId,
        reverse: bool,
        visit: &mut dyn FnMut(StreamId, Vec<Bytes>) -> bool,
    ) -> Result<(), StorageError> {
        if start > end {
            return Ok(());
        }
        let (lo, hi) = (entry_element(start), entry_element(end));
        self.scan_records(
            db,
            (Bound::Included(&lo), Bound::Included(&hi)),
            reverse,
            &|e, v| {
                let id = tagged_id(ENTRY, e)
                    .ok_or_else(|| StorageError::Corrupt("stream entry key".into()))?;
                Ok((id, decode_pairs(v)?))
            },
            &mut |(id, pairs)| visit(id, pairs),
        )
    }

    /// Up to `count` entries (0: all) of `[start, end]`, in order.
    pub(crate) fn range(
        &self,
        db: &Db<'_>,
        start: StreamId,
        end: StreamId,
        count: u64,
        reverse: bool,
    ) -> Result<Vec<(StreamId, Vec<Bytes>)>, StorageError> {
        let mut out = Vec::new();
        self.scan(db, start, end, reverse, &mut |id, pairs| {
            out.push((id, pairs));
            count == 0 || (out.len() as u64) < count
        })?;
        Ok(out)
    }

    /// The first (or last) entry's id, if any entry exists.
    pub(crate) fn edge_id(
        &self,
        db: &Db<'_>,
        last: bool,
    ) -> Result<Option<StreamId>, StorageError> {
        if self.len() == 0 {
            return Ok(None);
        }
        let mut found = None;
        self.scan(db, StreamId::MIN, StreamId::MAX, last, &mut |id, _| {
            found = Some(id);
            false
        })?;
        Ok(found)
    }

    /// Appends entry `id` (greater than every id so far) with `pairs`,
    /// starting a new node where Redis would.
    pub(crate) fn append(
        &mut self,
        db: &mut Db<'_>,
        id: StreamId,
        pairs: &[Bytes],
    ) -> Result<(), StorageError> {
        let new_bytes: u64 = pairs.iter().map(|p| p.len() as u64).sum();
        let tail = if self.nodes > 0 {
            self.node(db, self.tail)?
        } else {
            None
        };
        let node = match tail {
            Some(mut node)
                if !listpack::node_full(node.bytes(), node.count, node.deleted, new_bytes) =>
            {
                let same = pairs.len() / 2 == node.fields.len()
                    && node
                        .fields
                        .iter()
                        .zip(pairs.iter().step_by(2))
                        .all(|(a, b)| a == b);
                node.body += listpack::entry(node.master, id, pairs, same);
                node.count += 1;
                node.last = id;
                node
            }
            _ => {
                let fields: Vec<Bytes> = pairs.iter().step_by(2).cloned().collect();
                self.nodes += 1;
                self.tail = id;
                Node {
                    master: id,
                    count: 1,
                    deleted: 0,
                    body: listpack::master_body(&fields) + listpack::entry(id, id, pairs, true),
                    last: id,
                    fields,
                }
            }
        };
        self.put_node(db, &node);
        db.put_element(
            self.key,
            self.version(),
            &entry_element(id),
            &encode_pairs(pairs),
        );
        self.entry.header.size += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.len() == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// Deletes entry `id` as XDEL does (its node counts it as deleted, and
    /// goes when it held no other live entry); whether it existed.
    pub(crate) fn delete(&mut self, db: &mut Db<'_>, id: StreamId) -> Result<bool, StorageError> {
        if !self.contains(db, id)? {
            return Ok(false);
        }
        let Some(mut node) = self.node_at_or_before(db, id)? else {
            return Err(StorageError::Corrupt(
                "stream entry outside every node".into(),
            ));
        };
        db.delete_element(self.key, self.version(), &entry_element(id));
        self.entry.header.size -= 1;
        if node.count <= 1 {
            self.remove_node(db, &node)?;
        } else {
            node.count -= 1;
            node.deleted += 1;
            self.put_node(db, &node);
        }
        Ok(true)
    }

    /// The node whose master id is `master`.
    pub(crate) fn node(&self, db: &Db<'_>, master: StreamId) -> Result<Option<Node>, StorageError> {
        self.record(db, &node_element(master), |raw| Node::decode(master, raw))
    }

    /// The first node whose master id is greater than `after` (the first
    /// of all for `None`), or the last one before `before` when reversed.
    fn node_beside(
        &self,
        db: &Db<'_>,
        from: Bound<StreamId>,
        reverse: bool,
    ) -> Result<Option<Node>, StorageError> {
        let (lo, hi) = (node_element(StreamId::MIN), node_element(StreamId::MAX));
        // Only node records: an open end stops at the first or last one.
        let bound = match from {
            Bound::Unbounded if reverse => Bound::Included(hi),
            Bound::Unbounded => Bound::Included(lo),
            other => other.map(node_element),
        };
        let range = if reverse {
            (Bound::Included(&lo[..]), bound.as_ref().map(|b| &b[..]))
        } else {
            (bound.as_ref().map(|b| &b[..]), Bound::Included(&hi[..]))
        };
        let mut found = None;
        self.scan_records(db, range, reverse, &decode_node, &mut |node| {
            found = Some(node);
            false
        })?;
        Ok(found)
    }

    /// The first node after master id `after` (`None`: the first node).
    pub(crate) fn next_node(
        &self,
        db: &Db<'_>,
        after: Option<StreamId>,
    ) -> Result<Option<Node>, StorageError> {
        self.node_beside(db, after.map_or(Bound::Unbounded, Bound::Excluded), false)
    }

    /// The node holding id `id` (the last one whose master id is not after it).
    fn node_at_or_before(&self, db: &Db<'_>, id: StreamId) -> Result<Option<Node>, StorageError> {
        self.node_beside(db, Bound::Included(id), true)
    }

    /// Writes a node's record.
    pub(crate) fn put_node(&self, db: &mut Db<'_>, node: &Node) {
        db.put_element(
            self.key,
            self.version(),
            &node_element(node.master),
            &node.encode(),
        );
    }

    /// Removes a node record (its entries are the caller's), finding the
    /// new tail when it was the tail.
    pub(crate) fn remove_node(&mut self, db: &mut Db<'_>, node: &Node) -> Result<(), StorageError> {
        db.delete_element(self.key, self.version(), &node_element(node.master));
        self.nodes -= 1;
        if self.nodes == 0 {
            self.tail = StreamId::MIN;
        } else if node.master == self.tail {
            self.tail = self
                .node_beside(db, Bound::Excluded(node.master), true)?
                .map_or(StreamId::MIN, |n| n.master);
        }
        Ok(())
    }

    /// Deletes every entry record of `node` with one range delete.
    pub(crate) fn drop_entries_of(&self, db: &mut Db<'_>, node: &Node) {
        db.delete_element_range(
            self.key,
            self.version(),
            &entry_element(node.master),
            &entry_element(node.last),
        );
    }

    /// Every node's master id, in order (XINFO's radix-tree node count).
    pub(crate) fn node_keys(&self, db: &Db<'_>) -> Result<Vec<[u8; 16]>, StorageError> {
        let (lo, hi) = (node_element(StreamId::MIN), node_element(StreamId::MAX));
        let mut keys = Vec::new();
        self.scan_records(
            db,
            (Bound::Included(&lo), Bound::Included(&hi)),
            false,
            &|e, _| Ok(tagged_id(NODE, e).map(StreamId::to_bytes)),
            &mut |key| {
                keys.extend(key);
                true
            },
        )?;
        Ok(keys)
    }

    /// Re-reads the first entry's id after deletions (`0-0` when empty).
    pub(crate) fn refresh_first_id(&mut self, db: &Db<'_>) -> Result<(), StorageError> {
        self.first_id = self.edge_id(db, false)?.unwrap_or(StreamId::MIN);
        Ok(())
    }
}
