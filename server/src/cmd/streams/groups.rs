//! Consumer groups as records (see the layout in the [module doc](super)):
//! a group, its consumers, its pending entries list (PEL) and, per
//! consumer, the index of the entries it owns.
//!
//! One pending entry is one `p` record (delivery time, count, owner) plus
//! one `q` record under its owner; consumers and groups keep their PEL
//! counts, so XACK of one id, or delivering one entry, touches a fixed
//! number of records.

use std::ops::Bound;

use bytes::Bytes;

use super::codec::{ReadFields, Reader, WriteFields, Writer};
use super::id::StreamId;
use super::store::{Decode, Stream};
use crate::cmd::db::Db;
use crate::storage::StorageError;

const GROUP: u8 = b'g';
const CONSUMER: u8 = b'c';
const PENDING: u8 = b'p';
const OWNED: u8 = b'q';

/// Redis's `SCG_INVALID_ENTRIES_READ`: the group's read counter is unknown.
pub(crate) const INVALID_ENTRIES_READ: i64 = -1;

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) name: Bytes,
    /// The last id delivered to its consumers.
    pub(crate) last_id: StreamId,
    /// Entries read, or [`INVALID_ENTRIES_READ`].
    pub(crate) entries_read: i64,
    pub(crate) consumers: u64,
    /// Entries in its PEL.
    pub(crate) pending: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Consumer {
    pub(crate) name: Bytes,
    /// When it last read or claimed (unix ms).
    pub(crate) seen: u64,
    /// Entries it owns in the group's PEL.
    pub(crate) pending: u64,
}

/// A pending entry (Redis's `streamNACK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nack {
    /// When it was last delivered (unix ms).
    pub(crate) delivered: u64,
    /// How many times it was delivered.
    pub(crate) deliveries: u64,
    /// Its owner.
    pub(crate) consumer: Bytes,
}

impl Nack {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.delivered)
            .u64(self.deliveries)
            .raw(&self.consumer);
        w.0
    }

    fn decode(raw: &[u8]) -> Result<Nack, StorageError> {
        let mut r = Reader::new("stream pending entry", raw);
        Ok(Nack {
            delivered: r.u64()?,
            deliveries: r.u64()?,
            consumer: Bytes::copy_from_slice(r.rest()),
        })
    }
}

/// `tag`, the group's name with its length, then `rest`.
fn in_group(tag: u8, group: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + group.len() + rest.len());
    out.push(tag);
    out.extend_from_slice(&u32::try_from(group.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(group);
    out.extend_from_slice(rest);
    out
}

fn group_element(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + name.len());
    out.push(GROUP);
    out.extend_from_slice(name);
    out
}

fn pending_element(group: &[u8], id: StreamId) -> Vec<u8> {
    in_group(PENDING, group, &id.to_bytes())
}

/// `q` + group + the consumer's name with its length (+ id).
fn owned_prefix(group: &[u8], consumer: &[u8]) -> Vec<u8> {
    let mut rest = Vec::with_capacity(4 + consumer.len() + 16);
    rest.extend_from_slice(
        &u32::try_from(consumer.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    rest.extend_from_slice(consumer);
    in_group(OWNED, group, &rest)
}

fn owned_element(group: &[u8], consumer: &[u8], id: StreamId) -> Vec<u8> {
    let mut out = owned_prefix(group, consumer);
    out.extend_from_slice(&id.to_bytes());
    out
}

/// The id at the end of a `p` or `q` element.
fn trailing_id(element: &[u8]) -> Result<StreamId, StorageError> {
    element
        .len()
        .checked_sub(16)
        .and_then(|at| StreamId::from_bytes(&element[at..]))
        .ok_or_else(|| StorageError::Corrupt("stream pending entry key".into()))
}

impl Stream<'_> {
    /// The group named `name`.
    pub(crate) fn group(&self, db: &Db<'_>, name: &[u8]) -> Result<Option<Group>, StorageError> {
        self.record(db, &group_element(name), |raw| decode_group(name, raw))
    }

    /// Writes a group's record (new groups are counted by the caller).
    pub(crate) fn put_group(&self, db: &mut Db<'_>, group: &Group) {
        let mut w = Writer::default();
        w.id(group.last_id)
            .i64(group.entries_read)
            .u64(group.consumers)
            .u64(group.pending);
        db.put_element(self.key, self.version(), &group_element(&group.name), &w.0);
    }

    /// Deletes a group with its consumers and PEL: four range deletes.
    pub(crate) fn delete_group(&mut self, db: &mut Db<'_>, name: &[u8]) {
        db.delete_element(self.key, self.version(), &group_element(name));
        for tag in [CONSUMER, PENDING, OWNED] {
            db.delete_element_prefix(self.key, self.version(), &in_group(tag, name, b""));
        }
        self.groups = self.groups.saturating_sub(1);
    }

    /// Every group, by name.
    pub(crate) fn all_groups(&self, db: &Db<'_>) -> Result<Vec<Group>, StorageError> {
        let mut out = Vec::new();
        let prefix = [GROUP];
        self.scan_prefix(db, &prefix, &|e, v| decode_group(&e[1..], v), &mut |g| {
            out.push(g);
            true
        })?;
        Ok(out)
    }

    /// Visits the records whose element bytes start with `prefix`, in
    /// order, decoded.
    fn scan_prefix<T>(
        &self,
        db: &Db<'_>,
        prefix: &[u8],
        decode: &Decode<'_, T>,
        visit: &mut dyn FnMut(T) -> bool,
    ) -> Result<(), StorageError> {
        let end = crate::storage::layout::prefix_end(prefix);
        let range = (
            Bound::Included(prefix),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        );
        self.scan_records(db, range, false, decode, visit)
    }

    /// Consumer `name` of `group`.
    pub(crate) fn consumer(
        &self,
        db: &Db<'_>,
        group: &[u8],
        name: &[u8],
    ) -> Result<Option<Consumer>, StorageError> {
        let element = in_group(CONSUMER, group, name);
        self.record(db, &element, |raw| decode_consumer(name, raw))
    }

    /// Writes a consumer's record.
    pub(crate) fn put_consumer(&self, db: &mut Db<'_>, group: &[u8], consumer: &Consumer) {
        let mut w = Writer::default();
        w.u64(consumer.seen).u64(consumer.pending);
        db.put_element(
            self.key,
            self.version(),
            &in_group(CONSUMER, group, &consumer.name),
            &w.0,
        );
    }

    /// Every consumer of `group`, by name.
    pub(crate) fn all_consumers(
        &self,
        db: &Db<'_>,
        group: &[u8],
    ) -> Result<Vec<Consumer>, StorageError> {
        let prefix = in_group(CONSUMER, group, b"");
        let mut out = Vec::new();
        self.scan_prefix(
            db,
            &prefix,
            &|e, v| decode_consumer(&e[prefix.len()..], v),
            &mut |c| {
                out.push(c);
                true
            },
        )?;
        Ok(out)
    }

    /// Deletes consumer `name` of `group` and the entries it owned from the
    /// group's PEL; how many it owned.
    pub(crate) fn delete_consumer(
        &self,
        db: &mut Db<'_>,
        group: &mut Group,
        name: &[u8],
    ) -> Result<u64, StorageError> {
        let owned = self.owned(db, &group.name, name, StreamId::MIN, StreamId::MAX, 0)?;
        for id in &owned {
            db.delete_element(self.key, self.version(), &pending_element(&group.name, *id));
        }
        db.delete_element_prefix(self.key, self.version(), &owned_prefix(&group.name, name));
        db.delete_element(
            self.key,
            self.version(),
            &in_group(CONSUMER, &group.name, name),
        );
        group.pending = group.pending.saturating_sub(owned.len() as u64);
        group.consumers = group.consumers.saturating_sub(1);
        Ok(owned.len() as u64)
    }

    /// The pending entry `id` of `group`.
    pub(crate) fn nack(
        &self,
        db: &Db<'_>,
        group: &[u8],
        id: StreamId,
    ) -> Result<Option<Nack>, StorageError> {
        self.record(db, &pending_element(group, id), Nack::decode)
    }

    /// Writes pending entry `id` (its owner's index is the caller's).
    pub(crate) fn put_nack(&self, db: &mut Db<'_>, group: &[u8], id: StreamId, nack: &Nack) {
        db.put_element(
            self.key,
            self.version(),
            &pending_element(group, id),
            &nack.encode(),
        );
    }

    /// Records that `consumer` owns `id` (or no longer does).
    pub(crate) fn set_owned(
        &self,
        db: &mut Db<'_>,
        group: &[u8],
        consumer: &[u8],
        id: StreamId,
        owned: bool,
    ) {
        let element = owned_element(group, consumer, id);
        if owned {
            db.put_element(self.key, self.version(), &element, b"");
        } else {
            db.delete_element(self.key, self.version(), &element);
        }
    }

    /// Removes pending entry `id` (owned by `nack.consumer`) from `group`:
    /// its record, its owner's index record and the counts.
    pub(crate) fn drop_nack(
        &self,
        db: &mut Db<'_>,
        group: &mut Group,
        id: StreamId,
        nack: &Nack,
    ) -> Result<(), StorageError> {
        db.delete_element(self.key, self.version(), &pending_element(&group.name, id));
        self.set_owned(db, &group.name, &nack.consumer, id, false);
        if let Some(mut owner) = self.consumer(db, &group.name, &nack.consumer)? {
            owner.pending = owner.pending.saturating_sub(1);
            self.put_consumer(db, &group.name, &owner);
        }
        group.pending = group.pending.saturating_sub(1);
        Ok(())
    }

    /// Visits `group`'s pending entries with ids in `[start, end]`, in
    /// order, until `visit` returns `false`.
    pub(crate) fn scan_pending(
        &self,
        db: &Db<'_>,
        group: &[u8],
        start: StreamId,
        end: StreamId,
        visit: &mut dyn FnMut(StreamId, Nack) -> bool,
    ) -> Result<(), StorageError> {
        if start > end {
            return Ok(());
        }
        let (lo, hi) = (pending_element(group, start), pending_element(group, end));
        self.scan_records(
            db,
            (Bound::Included(&lo), Bound::Included(&hi)),
            false,
            &|e, v| Ok((trailing_id(e)?, Nack::decode(v)?)),
            &mut |(id, nack)| visit(id, nack),
        )
    }

    /// The first (or last) pending id of `group`.
    pub(crate) fn pending_edge(
        &self,
        db: &Db<'_>,
        group: &[u8],
        last: bool,
    ) -> Result<Option<StreamId>, StorageError> {
        let (lo, hi) = (
            pending_element(group, StreamId::MIN),
            pending_element(group, StreamId::MAX),
        );
        let mut found = None;
        self.scan_records(
            db,
            (Bound::Included(&lo), Bound::Included(&hi)),
            last,
            &|e, _| trailing_id(e),
            &mut |id| {
                found = Some(id);
                false
            },
        )?;
        Ok(found)
    }

    /// Up to `count` (0: all) ids in `[start, end]` that `consumer` of
    /// `group` owns, in order.
    pub(crate) fn owned(
        &self,
        db: &Db<'_>,
        group: &[u8],
        consumer: &[u8],
        start: StreamId,
        end: StreamId,
        count: u64,
    ) -> Result<Vec<StreamId>, StorageError> {
        if start > end {
            return Ok(Vec::new());
        }
        let lo = owned_element(group, consumer, start);
        let hi = owned_element(group, consumer, end);
        let mut out = Vec::new();
        self.scan_records(
            db,
            (Bound::Included(&lo), Bound::Included(&hi)),
            false,
            &|e, _| trailing_id(e),
            &mut |id| {
                out.push(id);
                count == 0 || (out.len() as u64) < count
            },
        )?;
        Ok(out)
    }
}

fn decode_group(name: &[u8], raw: &[u8]) -> Result<Group, StorageError> {
    let mut r = Reader::new("stream group", raw);
    let group = Group {
        name: Bytes::copy_from_slice(name),
        last_id: r.id()?,
        entries_read: r.i64()?,
        consumers: r.u64()?,
        pending: r.u64()?,
    };
    r.finish()?;
    Ok(group)
}

fn decode_consumer(name: &[u8], raw: &[u8]) -> Result<Consumer, StorageError> {
    let mut r = Reader::new("stream consumer", raw);
    let c = Consumer {
        name: Bytes::copy_from_slice(name),
        seen: r.u64()?,
        pending: r.u64()?,
    };
    r.finish()?;
    Ok(c)
}
