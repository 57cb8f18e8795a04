//! Redis's serialization of one value (`DUMP` / `RESTORE` payloads, Redis
//! 7.0): bytes to a [`Value`] and back, nothing else (no I/O, no storage).
//!
//! ```text
//! type byte | value (RDB encoding of that type) | RDB version u16 LE | CRC-64 u64 LE
//! ```
//!
//! The CRC is Redis's (Jones polynomial, reflected) over everything before
//! it. [`load`] reads every encoding redis-server 7.0 writes or still reads
//! for strings, lists, sets, sorted sets, hashes and streams (RDB types
//! 0-5 and 9-19), checking each structure as Redis's deep sanitization
//! does (a payload that fails is refused whole, never half read). [`dump`]
//! writes what redis-server 7.0 writes for the same contents with default
//! settings, so small values dump to Redis's very bytes:
//!
//! - strings: integer encodings, LZF above 20 bytes ([`io`]);
//! - lists: `QUICKLIST_2` of listpack nodes of up to 8 KB (`list-max-listpack-size -2`);
//! - sets: `SET_INTSET` for up to 512 integers, `SET` otherwise;
//! - sorted sets: `ZSET_LISTPACK` up to 128 members of up to 64 bytes, `ZSET_2` otherwise;
//! - hashes: `HASH_LISTPACK` up to 128 fields and values of up to 64 bytes, `HASH` otherwise;
//! - streams: `STREAM_LISTPACKS_2`.
//!
//! Where Redis's bytes depend on its memory layout (a hash table's order,
//! a hash's insertion order, where quicklist nodes were split by edits)
//! the contents are the same and the bytes may differ.
//!
//! Modules: [`io`] (lengths, strings, doubles), [`lzf`], [`listpack`],
//! [`ziplist`] (and zipmap), [`intset`], [`stream`]; [`error`].

mod error;
mod intset;
pub mod io;
pub mod listpack;
pub mod lzf;
pub mod stream;
mod ziplist;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use bytes::Bytes;
use crc::{Crc, CRC_64_REDIS};

pub use error::RdbError;
use io::{write_binary_double, write_len, write_string, Reader};
use listpack::Item;
pub use stream::{Consumer, Group, Nack, Stream, StreamEntry, StreamId, StreamNode};

/// The RDB version Redis 7.0 writes; payloads of a later one are refused.
pub const RDB_VERSION: u16 = 10;

const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// RDB object types (`rdb.h`).
mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// Redis 7.0's default encoding thresholds.
const SET_MAX_INTSET_ENTRIES: usize = 512;
const LISTPACK_MAX_ENTRIES: usize = 128;
const LISTPACK_MAX_VALUE: usize = 64;
/// `list-max-listpack-size -2`: a quicklist node's listpack stays within 8 KB.
const QUICKLIST_NODE_BYTES: usize = 8192;
/// `SIZE_ESTIMATE_OVERHEAD` of `quicklist.c`.
const QUICKLIST_ELEMENT_OVERHEAD: usize = 8;
/// An element this big gets a plain quicklist node of its own.
const QUICKLIST_PLAIN_THRESHOLD: usize = 1 << 30;
/// Quicklist node containers.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// One Redis value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(Bytes),
    /// Items, head first.
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    /// Field-value pairs.
    Hash(Vec<(Bytes, Bytes)>),
    /// Member-score pairs.
    ZSet(Vec<(Bytes, f64)>),
    Stream(Box<Stream>),
}

impl Value {
    /// The name `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
}

/// `body` followed by the RDB version and its CRC-64.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// What precedes the footer of `payload`, once its version and CRC check
/// out (`verifyDumpPayload`).
pub fn unseal(payload: &[u8]) -> Result<&[u8], RdbError> {
    if payload.len() < 10 {
        return Err(RdbError::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    if u16::from_le_bytes([footer[0], footer[1]]) > RDB_VERSION {
        return Err(RdbError::Footer);
    }
    let crc = CRC64.checksum(&payload[..payload.len() - 8]);
    if footer[2..] != crc.to_le_bytes() {
        return Err(RdbError::Footer);
    }
    Ok(body)
}

/// The payload `DUMP` answers for `value`.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::String(s) => {
            out.push(types::STRING);
            write_string(&mut out, s);
        }
        Value::List(items) => write_list(&mut out, items),
        Value::Set(members) => write_set(&mut out, members),
        Value::Hash(pairs) => write_hash(&mut out, pairs),
        Value::ZSet(members) => write_zset(&mut out, members),
        Value::Stream(s) => {
            out.push(types::STREAM_LISTPACKS_2);
            stream::write(&mut out, s);
        }
    }
    seal(out)
}

/// The value in a `RESTORE` payload: its footer checked, then its type and
/// contents. Collections are never empty and hold no duplicates.
///
/// As in Redis, the value is read from the whole payload: bytes left after
/// it are ignored, and a value whose last length runs into the footer takes
/// the footer's bytes (the CRC says the payload is as its writer made it).
pub fn load(payload: &[u8]) -> Result<Value, RdbError> {
    unseal(payload)?;
    let mut r = Reader::new(payload);
    let kind = r.byte("type")?;
    read_value(&mut r, kind)
}

fn read_value(r: &mut Reader<'_>, kind: u8) -> Result<Value, RdbError> {
    use types::*;
    let blob = |r: &mut Reader<'_>, what| r.string(what);
    let value = match kind {
        STRING => return Ok(Value::String(r.string("string")?)),
        LIST => Value::List(string_list(r, "list item")?),
        LIST_ZIPLIST => {
            let zl = blob(r, "list ziplist")?;
            Value::List(strings(&ziplist::parse(&zl)?))
        }
        LIST_QUICKLIST | LIST_QUICKLIST_2 => {
            let nodes = r.count(1, "quicklist node count")?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if kind == LIST_QUICKLIST_2 {
                    r.len("quicklist container")?
                } else {
                    CONTAINER_PACKED
                };
                let node = blob(r, "quicklist node")?;
                match container {
                    CONTAINER_PLAIN => items.push(node),
                    CONTAINER_PACKED if kind == LIST_QUICKLIST => {
                        items.extend(strings(&ziplist::parse(&node)?))
                    }
                    CONTAINER_PACKED => items.extend(strings(&listpack::parse(&node)?)),
                    _ => return Err(RdbError::Bad("quicklist container")),
                }
            }
            Value::List(items)
        }
        SET => Value::Set(string_list(r, "set member")?),
        SET_INTSET => {
            let is = blob(r, "intset")?;
            let members = intset::parse(&is)?;
            Value::Set(members.iter().map(|m| Bytes::from(m.to_string())).collect())
        }
        ZSET | ZSET_2 => {
            let n = r.count(2, "zset size")?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                let member = r.string("zset member")?;
                let score = if kind == ZSET_2 {
                    r.binary_double("zset score")?
                } else {
                    r.text_double("zset score")?
                };
                members.push((member, score));
            }
            Value::ZSet(members)
        }
        ZSET_ZIPLIST | ZSET_LISTPACK => {
            let raw = blob(r, "zset listpack")?;
            let items = compact(&raw, kind == ZSET_ZIPLIST)?;
            Value::ZSet(
                pairs(&items, "zset listpack")?
                    .into_iter()
                    .map(|(member, score)| Ok((member.to_bytes(), item_score(score)?)))
                    .collect::<Result<_, RdbError>>()?,
            )
        }
        HASH => {
            let n = r.count(2, "hash size")?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((r.string("hash field")?, r.string("hash value")?));
            }
            Value::Hash(fields)
        }
        HASH_ZIPMAP => Value::Hash(ziplist::parse_zipmap(&blob(r, "zipmap")?)?),
        HASH_ZIPLIST | HASH_LISTPACK => {
            let raw = blob(r, "hash listpack")?;
            let items = compact(&raw, kind == HASH_ZIPLIST)?;
            Value::Hash(
                pairs(&items, "hash listpack")?
                    .into_iter()
                    .map(|(f, v)| (f.to_bytes(), v.to_bytes()))
                    .collect(),
            )
        }
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 => {
            return Ok(Value::Stream(Box::new(stream::read(
                r,
                kind == STREAM_LISTPACKS_2,
            )?)))
        }
        other => return Err(RdbError::Type(other)),
    };
    check_collection(&value)?;
    Ok(value)
}

/// Redis refuses empty collections (`RDB_LOAD_ERR_EMPTY_KEY`) and
/// duplicate members or fields.
fn check_collection(value: &Value) -> Result<(), RdbError> {
    fn distinct<'a>(
        keys: impl ExactSizeIterator<Item = &'a Bytes>,
        what: &'static str,
    ) -> Result<(), RdbError> {
        let n = keys.len();
        if n == 0 {
            return Err(RdbError::Bad("empty collection"));
        }
        let unique: HashSet<&Bytes> = keys.collect();
        if unique.len() != n {
            return Err(RdbError::Bad(what));
        }
        Ok(())
    }
    match value {
        Value::List(items) if items.is_empty() => Err(RdbError::Bad("empty collection")),
        Value::Set(members) => distinct(members.iter(), "duplicate set member"),
        Value::Hash(pairs) => distinct(pairs.iter().map(|(f, _)| f), "duplicate hash field"),
        Value::ZSet(members) => {
            if members.iter().any(|(_, s)| s.is_nan()) {
                return Err(RdbError::Bad("zset score"));
            }
            distinct(members.iter().map(|(m, _)| m), "duplicate zset member")
        }
        _ => Ok(()),
    }
}

/// The elements of a ziplist (`ziplist`) or a listpack.
fn compact(raw: &[u8], ziplist: bool) -> Result<Vec<Item<'_>>, RdbError> {
    if ziplist {
        ziplist::parse(raw)
    } else {
        listpack::parse(raw)
    }
}

/// A length, then that many strings (LIST, SET).
fn string_list(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<Bytes>, RdbError> {
    let n = r.count(1, what)?;
    (0..n).map(|_| r.string(what)).collect()
}

fn strings(items: &[Item<'_>]) -> Vec<Bytes> {
    items.iter().map(Item::to_bytes).collect()
}

/// Consecutive pairs of elements; an odd count is malformed.
fn pairs<'i, 'a>(
    items: &'i [Item<'a>],
    what: &'static str,
) -> Result<Vec<(&'i Item<'a>, &'i Item<'a>)>, RdbError> {
    if !items.len().is_multiple_of(2) {
        return Err(RdbError::Bad(what));
    }
    Ok(items.chunks_exact(2).map(|c| (&c[0], &c[1])).collect())
}

/// A score element of a ziplist or listpack sorted set.
fn item_score(item: &Item<'_>) -> Result<f64, RdbError> {
    match item {
        Item::Int(n) => Ok(*n as f64),
        Item::Str(s) => io::parse_double(s).ok_or(RdbError::Bad("zset score")),
    }
}

fn write_list(out: &mut Vec<u8>, items: &[Bytes]) {
    enum Node {
        Plain(Bytes),
        Packed(listpack::Builder),
    }
    let mut nodes: Vec<Node> = Vec::new();
    for item in items {
        if item.len() >= QUICKLIST_PLAIN_THRESHOLD {
            nodes.push(Node::Plain(item.clone()));
            continue;
        }
        let fits = matches!(nodes.last(), Some(Node::Packed(lp))
            if lp.bytes() + item.len() + QUICKLIST_ELEMENT_OVERHEAD <= QUICKLIST_NODE_BYTES
                && lp.count() < usize::from(u16::MAX));
        if !fits {
            nodes.push(Node::Packed(listpack::Builder::default()));
        }
        if let Some(Node::Packed(lp)) = nodes.last_mut() {
            lp.string(item);
        }
    }
    out.push(types::LIST_QUICKLIST_2);
    write_len(out, nodes.len() as u64);
    for node in nodes {
        match node {
            Node::Plain(item) => {
                write_len(out, CONTAINER_PLAIN);
                write_string(out, &item);
            }
            Node::Packed(lp) => {
                write_len(out, CONTAINER_PACKED);
                write_string(out, &lp.finish());
            }
        }
    }
}

fn write_set(out: &mut Vec<u8>, members: &[Bytes]) {
    if members.len() <= SET_MAX_INTSET_ENTRIES {
        let ints: Option<Vec<i64>> = members.iter().map(|m| crate::num::parse_i64(m)).collect();
        if let Some(mut ints) = ints {
            ints.sort_unstable();
            out.push(types::SET_INTSET);
            write_string(out, &intset::build(&ints));
            return;
        }
    }
    out.push(types::SET);
    write_len(out, members.len() as u64);
    for m in members {
        write_string(out, m);
    }
}

fn write_hash(out: &mut Vec<u8>, pairs: &[(Bytes, Bytes)]) {
    let small = pairs.len() <= LISTPACK_MAX_ENTRIES
        && pairs
            .iter()
            .all(|(f, v)| f.len() <= LISTPACK_MAX_VALUE && v.len() <= LISTPACK_MAX_VALUE);
    if small {
        let mut lp = listpack::Builder::default();
        for (f, v) in pairs {
            lp.string(f).string(v);
        }
        out.push(types::HASH_LISTPACK);
        write_string(out, &lp.finish());
        return;
    }
    out.push(types::HASH);
    write_len(out, pairs.len() as u64);
    for (f, v) in pairs {
        write_string(out, f);
        write_string(out, v);
    }
}

fn write_zset(out: &mut Vec<u8>, members: &[(Bytes, f64)]) {
    let mut sorted: Vec<&(Bytes, f64)> = members.iter().collect();
    sorted.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    let small = members.len() <= LISTPACK_MAX_ENTRIES
        && members.iter().all(|(m, _)| m.len() <= LISTPACK_MAX_VALUE);
    if small {
        let mut lp = listpack::Builder::default();
        for (m, score) in sorted {
            lp.string(m);
            // `zzlInsertAt`: an integral score as an integer, else `d2string`.
            match crate::num::double_as_i64(*score) {
                Some(n) => lp.int(n),
                None => lp.string(crate::num::format_g17(*score).as_bytes()),
            };
        }
        out.push(types::ZSET_LISTPACK);
        write_string(out, &lp.finish());
        return;
    }
    // Greatest first, as Redis walks its skiplist from the tail.
    out.push(types::ZSET_2);
    write_len(out, sorted.len() as u64);
    for (m, score) in sorted.into_iter().rev() {
        write_string(out, m);
        write_binary_double(out, *score);
    }
}
