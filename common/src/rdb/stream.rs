//! Streams in RDB (`RDB_TYPE_STREAM_LISTPACKS`, 15, and `_2`, 19, which
//! Redis 7.0 writes): the radix tree's nodes, each its master id and a
//! listpack of entries, then the stream's ids and counters, then the
//! consumer groups with their pending entries and consumers.
//!
//! A node's listpack (`t_stream.c`):
//!
//! ```text
//! master entry: count | deleted | field-count | field... | 0
//! entry:        flags | ms-delta | seq-delta | [field-count | field value...] or [value...] | lp-count
//! ```
//!
//! where `flags` has `DELETED` (1) and `SAMEFIELDS` (2: the fields are the
//! master entry's and only the values follow), the deltas are from the
//! master id, and `lp-count` is the number of elements before it.

use bytes::Bytes;

use super::error::RdbError;
use super::io::{write_len, write_millis, write_string, Reader};
use super::listpack::{self, Item};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// A stream entry id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// The 16 bytes Redis keys its radix trees with (big-endian).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    fn from_bytes(raw: &[u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&raw[..8]);
        seq.copy_from_slice(&raw[8..]);
        StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        }
    }
}

/// One live entry.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEntry {
    pub id: StreamId,
    /// Field, value, field, value...
    pub pairs: Vec<Bytes>,
}

/// One radix-tree node: a listpack of entries.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamNode {
    /// Its key: the id its entries' ids are deltas from.
    pub master: StreamId,
    /// The master entry's fields (entries with the same fields omit them).
    pub fields: Vec<Bytes>,
    /// Its live entries, in id order.
    pub entries: Vec<StreamEntry>,
    /// Entries deleted but still in the listpack (0 when written).
    pub deleted: u64,
    /// The id of its last entry, deleted or not (as read; unused when written).
    pub last: StreamId,
    /// The listpack's size as read (unused when written).
    pub bytes: u64,
}

/// A pending entry of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub id: StreamId,
    /// When it was last delivered (unix ms).
    pub delivery_time: u64,
    pub delivery_count: u64,
    /// The consumer that owns it.
    pub consumer: Bytes,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub name: Bytes,
    /// When it was last seen (unix ms).
    pub seen_time: u64,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: Bytes,
    pub last_id: StreamId,
    /// The group's read counter; -1 when unknown.
    pub entries_read: i64,
    /// Its pending entries, each with its owner.
    pub pending: Vec<Nack>,
    pub consumers: Vec<Consumer>,
}

/// A whole stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    pub nodes: Vec<StreamNode>,
    /// Live entries (XLEN).
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: Vec<Group>,
}

/// Reads a stream of RDB type 15 (`v2` false) or 19.
pub(crate) fn read(r: &mut Reader<'_>, v2: bool) -> Result<Stream, RdbError> {
    let bad = |what| RdbError::Bad(what);
    let node_count = r.count(2, "stream node count")?;
    let mut nodes: Vec<StreamNode> = Vec::with_capacity(node_count);
    for _ in 0..node_count {
        let key = r.string("stream node key")?;
        let key: [u8; 16] = key[..].try_into().map_err(|_| bad("stream node key"))?;
        let master = StreamId::from_bytes(&key);
        let lp = r.string("stream node")?;
        let node = read_node(master, &lp)?;
        if let Some(prev) = nodes.last() {
            if node.master <= prev.last {
                return Err(bad("stream nodes out of order"));
            }
        }
        nodes.push(node);
    }
    let length = r.len("stream length")?;
    let live: u64 = nodes.iter().map(|n| n.entries.len() as u64).sum();
    if live != length {
        return Err(bad("stream length"));
    }
    let id = |r: &mut Reader<'_>, what| -> Result<StreamId, RdbError> {
        Ok(StreamId {
            ms: r.len(what)?,
            seq: r.len(what)?,
        })
    };
    let last_id = id(r, "stream last id")?;
    let newest = nodes
        .iter()
        .flat_map(|n| n.entries.last())
        .map(|e| e.id)
        .max();
    if newest.is_some_and(|n| n > last_id) {
        return Err(bad("stream last id"));
    }
    let mut stream = Stream {
        nodes,
        length,
        last_id,
        first_id: StreamId::default(),
        max_deleted: StreamId::default(),
        entries_added: length,
        groups: Vec::new(),
    };
    if v2 {
        stream.first_id = id(r, "stream first id")?;
        stream.max_deleted = id(r, "stream max deleted id")?;
        stream.entries_added = r.len("stream entries added")?;
    } else if let Some(first) = stream.nodes.iter().flat_map(|n| n.entries.first()).next() {
        stream.first_id = first.id;
    }
    let group_count = r.count(4, "stream group count")?;
    for _ in 0..group_count {
        let name = r.string("stream group name")?;
        let last_id = id(r, "stream group id")?;
        let entries_read = if v2 {
            r.len("stream group read counter")? as i64
        } else {
            estimate_entries_read(&stream, last_id)
        };
        let pel_count = r.count(17, "stream group PEL size")?;
        let mut pending: Vec<Nack> = Vec::with_capacity(pel_count);
        for _ in 0..pel_count {
            let id = StreamId::from_bytes(&r.raw_id("stream PEL id")?);
            if pending.last().is_some_and(|p| p.id >= id) {
                return Err(bad("stream PEL out of order"));
            }
            pending.push(Nack {
                id,
                delivery_time: r.millis("stream PEL delivery time")?,
                delivery_count: r.len("stream PEL delivery count")?,
                consumer: Bytes::new(),
            });
        }
        let mut owned_by = vec![false; pending.len()];
        let consumer_count = r.count(10, "stream consumer count")?;
        let mut consumers: Vec<Consumer> = Vec::with_capacity(consumer_count);
        for _ in 0..consumer_count {
            let name = r.string("stream consumer name")?;
            if consumers.iter().any(|c| c.name == name) {
                return Err(bad("stream consumer twice"));
            }
            let seen_time = r.millis("stream consumer seen time")?;
            let owned = r.count(16, "stream consumer PEL size")?;
            for _ in 0..owned {
                let id = StreamId::from_bytes(&r.raw_id("stream consumer PEL id")?);
                let at = pending
                    .binary_search_by(|p| p.id.cmp(&id))
                    .map_err(|_| bad("stream consumer PEL entry outside the group's"))?;
                if std::mem::replace(&mut owned_by[at], true) {
                    return Err(bad("stream PEL entry owned twice"));
                }
                pending[at].consumer = name.clone();
            }
            consumers.push(Consumer { name, seen_time });
        }
        // Redis resolves every pending entry to a consumer; one nobody
        // owns cannot be stored (nor served) and is corrupt.
        if owned_by.contains(&false) {
            return Err(bad("stream PEL entry without a consumer"));
        }
        if stream.groups.iter().any(|g| g.name == name) {
            return Err(bad("stream group twice"));
        }
        stream.groups.push(Group {
            name,
            last_id,
            entries_read,
            pending,
            consumers,
        });
    }
    Ok(stream)
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry`: a group's read
/// counter, as far as a version-1 stream tells it.
fn estimate_entries_read(s: &Stream, id: StreamId) -> i64 {
    const UNKNOWN: i64 = -1;
    let added = s.entries_added as i64;
    if s.entries_added == 0 {
        return 0;
    }
    if s.length == 0 && id <= s.last_id {
        return added;
    }
    if id == s.last_id {
        return added;
    }
    if id > s.last_id {
        return UNKNOWN;
    }
    let zero = StreamId::default();
    if s.max_deleted == zero || s.max_deleted < s.first_id {
        if id < s.first_id {
            return 0;
        }
        if id == s.first_id {
            return 1;
        }
    }
    UNKNOWN
}

/// One node from its listpack.
fn read_node(master: StreamId, lp: &[u8]) -> Result<StreamNode, RdbError> {
    let bad = RdbError::Bad("stream node");
    let items = listpack::parse(lp)?;
    let mut it = items.iter();
    let mut int = || -> Result<i64, RdbError> { it.next().and_then(Item::as_int).ok_or(bad) };
    let count = int()?;
    let deleted = int()?;
    let field_count = usize::try_from(int()?).map_err(|_| bad)?;
    let mut it = items.iter().skip(3);
    let fields: Vec<Bytes> = it.by_ref().take(field_count).map(Item::to_bytes).collect();
    if fields.len() != field_count || it.next().and_then(Item::as_int) != Some(0) {
        return Err(bad);
    }
    let rest: Vec<&Item<'_>> = it.collect();
    let mut node = StreamNode {
        master,
        fields,
        entries: Vec::new(),
        deleted: 0,
        last: master,
        bytes: lp.len() as u64,
    };
    let mut p = 0usize;
    let mut seen_any = false;
    while p < rest.len() {
        let int_at = |i: usize| rest.get(i).and_then(|item| item.as_int()).ok_or(bad);
        let flags = int_at(p)?;
        let id = StreamId {
            ms: master.ms.wrapping_add(int_at(p + 1)? as u64),
            seq: master.seq.wrapping_add(int_at(p + 2)? as u64),
        };
        if (seen_any && id <= node.last) || id < master {
            return Err(bad);
        }
        let mut q = p + 3;
        let pairs: Vec<Bytes> = if flags & FLAG_SAMEFIELDS != 0 {
            let values = rest.get(q..q + node.fields.len()).ok_or(bad)?;
            q += node.fields.len();
            node.fields
                .iter()
                .zip(values)
                .flat_map(|(f, v)| [f.clone(), v.to_bytes()])
                .collect()
        } else {
            let n = usize::try_from(int_at(q)?).map_err(|_| bad)?;
            let end = n
                .checked_mul(2)
                .and_then(|n2| n2.checked_add(q + 1))
                .ok_or(bad)?;
            let pairs = rest.get(q + 1..end).ok_or(bad)?;
            q = end;
            pairs.iter().map(|i| i.to_bytes()).collect()
        };
        let lp_count = int_at(q)?;
        if usize::try_from(lp_count).ok() != Some(q - p) {
            return Err(bad);
        }
        if flags & FLAG_DELETED != 0 {
            node.deleted += 1;
        } else {
            node.entries.push(StreamEntry { id, pairs });
        }
        node.last = id;
        seen_any = true;
        p = q + 1;
    }
    if usize::try_from(count).ok() != Some(node.entries.len())
        || u64::try_from(deleted).ok() != Some(node.deleted)
        || !seen_any
    {
        return Err(bad);
    }
    Ok(node)
}

/// Writes `s` as RDB type 19 (the caller writes the type byte).
pub(crate) fn write(out: &mut Vec<u8>, s: &Stream) {
    write_len(out, s.nodes.len() as u64);
    for node in &s.nodes {
        write_string(out, &node.master.to_bytes());
        write_string(out, &node_listpack(node));
    }
    let write_id = |out: &mut Vec<u8>, id: StreamId| {
        write_len(out, id.ms);
        write_len(out, id.seq);
    };
    write_len(out, s.length);
    write_id(out, s.last_id);
    write_id(out, s.first_id);
    write_id(out, s.max_deleted);
    write_len(out, s.entries_added);
    let mut groups: Vec<&Group> = s.groups.iter().collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    write_len(out, groups.len() as u64);
    for g in groups {
        write_string(out, &g.name);
        write_id(out, g.last_id);
        write_len(out, g.entries_read as u64);
        let mut pending: Vec<&Nack> = g.pending.iter().collect();
        pending.sort_by_key(|p| p.id);
        write_len(out, pending.len() as u64);
        for p in &pending {
            out.extend_from_slice(&p.id.to_bytes());
            write_millis(out, p.delivery_time);
            write_len(out, p.delivery_count);
        }
        let mut consumers: Vec<&Consumer> = g.consumers.iter().collect();
        consumers.sort_by(|a, b| a.name.cmp(&b.name));
        write_len(out, consumers.len() as u64);
        for c in consumers {
            write_string(out, &c.name);
            write_millis(out, c.seen_time);
            let owned: Vec<&&Nack> = pending.iter().filter(|p| p.consumer == c.name).collect();
            write_len(out, owned.len() as u64);
            for p in owned {
                out.extend_from_slice(&p.id.to_bytes());
            }
        }
    }
}

/// Whether an entry's `pairs` (field, value...) have exactly a node's
/// master `fields`, in order: the entry is then written without them
/// (`SAMEFIELDS`).
pub fn same_fields(fields: &[Bytes], pairs: &[Bytes]) -> bool {
    pairs.len() == fields.len() * 2
        && fields
            .iter()
            .zip(pairs.iter().step_by(2))
            .all(|(a, b)| a == b)
}

/// A node's listpack as `streamAppendItem` builds it, live entries only.
fn node_listpack(node: &StreamNode) -> Vec<u8> {
    let mut lp = listpack::Builder::default();
    lp.int(node.entries.len() as i64).int(0);
    lp.int(node.fields.len() as i64);
    for f in &node.fields {
        lp.string(f);
    }
    lp.int(0);
    for e in &node.entries {
        let same = same_fields(&node.fields, &e.pairs);
        let n = (e.pairs.len() / 2) as i64;
        lp.int(if same { FLAG_SAMEFIELDS } else { 0 });
        lp.int(e.id.ms.wrapping_sub(node.master.ms) as i64);
        lp.int(e.id.seq.wrapping_sub(node.master.seq) as i64);
        if same {
            for v in e.pairs.iter().skip(1).step_by(2) {
                lp.string(v);
            }
            lp.int(n + 3);
        } else {
            lp.int(n);
            for p in &e.pairs {
                lp.string(p);
            }
            lp.int(2 * n + 4);
        }
    }
    lp.finish()
}
