//! Set commands, with Redis 7.0's replies, errors and option rules.
//!
//! A set is a metadata record (type `Set`, `size` = member count, empty
//! payload) plus one element record per member: the element bytes are the
//! member, the value is empty. SADD, SREM, SISMEMBER, SMISMEMBER and SMOVE
//! read and write only the members they name; whole-set commands scan the
//! elements in byte order. Multi-key commands run on one partition: the
//! proxy forwards them only when all their keys live there.
//!
//! Reply order: Redis 7.0 keeps a set of at most 512 integers as a sorted
//! intset and any other set in a hash table (arbitrary order). Petrel
//! replies in member byte order, except that a whole-set reply (SMEMBERS,
//! SUNION, SSCAN of a small set...) whose members are all integers, at most
//! 512 of them, is sorted numerically as an intset would be.
//!
//! SSCAN's cursor is an offset: the number of members, in byte order, that
//! earlier calls of the iteration visited (COUNT members per call, MATCH
//! filtering what is returned from them). A call skips that many members,
//! so it costs O(cursor + COUNT); members added or removed before the
//! cursor during an iteration shift it, so unlike Redis a member present
//! throughout may be returned twice or missed. A set Redis would keep as an
//! intset (at most 512 integers) is returned whole with cursor 0, as Redis
//! does whatever the cursor.
//!
//! Random picks (SPOP, SRANDMEMBER) draw uniform positions in byte order
//! and read up to the farthest one: O(N) reads for a set of N members, and
//! writes only for the members popped. The primary draws; the mutation
//! carries the concrete deletes, so replicas stay identical.

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::ops::Bound;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::cmd::db::{Db, Entry};
use crate::cmd::events::{GENERIC, SET};
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, parse_i64};
use crate::cmd::runner::{run, Runner};
use crate::storage::layout::{KeyType, MetaHeader};
use crate::storage::StorageError;

/// The set family, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("sadd", sadd),
    run("srem", srem),
    run("smembers", smembers),
    run("sismember", sismember),
    run("smismember", smismember),
    run("scard", scard),
    run("spop", spop),
    run("srandmember", srandmember),
    run("smove", smove),
    run("sinter", sinter),
    run("sintercard", sintercard),
    run("sunion", sunion),
    run("sdiff", sdiff),
    run("sinterstore", sinterstore),
    run("sunionstore", sunionstore),
    run("sdiffstore", sdiffstore),
    run("sscan", sscan),
];

/// Redis's `set-max-intset-entries` default.
const INTSET_MAX_ENTRIES: usize = 512;

/// The most members SRANDMEMBER with a negative count returns: Redis streams
/// any count, Petrel builds the reply in memory and ships it in one frame.
const MAX_RANDOM_REPEATS: u64 = 10_000_000;

/// SPOP's count: negative or not an integer.
const COUNT_NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
/// SRANDMEMBER's count: `i64::MIN` (its negation does not fit).
const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
const INVALID_CURSOR: &str = "ERR invalid cursor";

/// The live set at `key`; `WRONGTYPE` if it holds another type.
fn lookup_set(db: &Db<'_>, key: &[u8]) -> Result<Option<Entry>, CmdError> {
    db.lookup_typed(key, KeyType::Set)
}

fn is_member(db: &Db<'_>, key: &[u8], set: &Entry, member: &[u8]) -> Result<bool, CmdError> {
    Ok(db.element(key, set.header.version, member)?.is_some())
}

/// Visits the members of `set` in byte order until `visit` returns `false`.
/// `visit` runs inside the storage scan and must not read the store (the
/// memory engine holds its lock); see [`for_each_batch`].
fn scan_members(
    db: &Db<'_>,
    key: &[u8],
    set: &Entry,
    visit: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), StorageError> {
    db.each_element(key, set.header.version, &mut |member, _| visit(member))
}

/// Every member of `set`, in byte order.
fn all_members(db: &Db<'_>, key: &[u8], set: &Entry) -> Result<Vec<Bytes>, CmdError> {
    let mut out = Vec::with_capacity(usize::try_from(set.header.size).unwrap_or(0).min(1 << 20));
    scan_members(db, key, set, &mut |m| {
        out.push(Bytes::copy_from_slice(m));
        true
    })?;
    Ok(out)
}

/// Every member of the live set `set` at `key`, in the order Redis would
/// iterate it (see [`redis_order`]): SORT's unsorted order.
pub(crate) fn members_in_redis_order(
    db: &Db<'_>,
    key: &[u8],
    set: &Entry,
) -> Result<Vec<Bytes>, CmdError> {
    Ok(redis_order(all_members(db, key, set)?))
}

/// The members at `positions` (ascending, distinct) of `set`'s byte order.
/// Fewer members than the header counts means the record is corrupt.
fn members_at(
    db: &Db<'_>,
    key: &[u8],
    set: &Entry,
    positions: &[usize],
) -> Result<Vec<Bytes>, CmdError> {
    let mut out = Vec::with_capacity(positions.len());
    let mut index = 0usize;
    if !positions.is_empty() {
        scan_members(db, key, set, &mut |m| {
            if positions.get(out.len()) == Some(&index) {
                out.push(Bytes::copy_from_slice(m));
            }
            index += 1;
            out.len() < positions.len()
        })?;
    }
    if out.len() < positions.len() {
        return Err(CmdError::Storage(StorageError::Corrupt(format!(
            "set header counts {} members, {} found",
            set.header.size, index
        ))));
    }
    Ok(out)
}

/// Members in the order Redis would give them: numeric when an intset
/// would hold them (all integers, at most 512), byte order otherwise.
fn redis_order(members: Vec<Bytes>) -> Vec<Bytes> {
    if members.len() > INTSET_MAX_ENTRIES {
        return members;
    }
    let ints: Option<Vec<i64>> = members.iter().map(|m| parse_i64(m)).collect();
    match ints {
        Some(ints) => {
            let mut pairs: Vec<(i64, Bytes)> = ints.into_iter().zip(members).collect();
            pairs.sort_by_key(|(n, _)| *n);
            pairs.into_iter().map(|(_, m)| m).collect()
        }
        None => members,
    }
}

fn bulks(members: Vec<Bytes>) -> Vec<Reply> {
    members.into_iter().map(Reply::Bulk).collect()
}

/// A whole-set reply (a Set in RESP3).
fn set_reply(members: Vec<Bytes>) -> Reply {
    Reply::Set(bulks(redis_order(members)))
}

/// `SADD key member [member ...]`: how many were new.
pub(crate) fn sadd(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut set = db.collection_or_new(key, KeyType::Set)?;
    let version = set.header.version;
    let mut added = 0u64;
    for member in &args[2..] {
        // Reads through this command's own writes: a repeated member counts once.
        if db.element(key, version, member)?.is_none() {
            db.put_element(key, version, member, b"");
            added += 1;
        }
    }
    if added > 0 {
        set.header.size += added;
        db.save_collection(key, &set);
        db.notify(SET, "sadd", key);
    }
    Ok(Reply::Int(added as i64))
}

/// `SREM key member [member ...]`: how many were removed; an emptied set goes.
pub(crate) fn srem(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some(mut set) = lookup_set(db, key)? else {
        return Ok(Reply::Int(0));
    };
    let version = set.header.version;
    let mut removed = 0u64;
    for member in &args[2..] {
        if db.element(key, version, member)?.is_some() {
            db.delete_element(key, version, member);
            removed += 1;
        }
    }
    if removed > 0 {
        set.header.size = set.header.size.saturating_sub(removed);
        db.save_collection(key, &set);
        removed_from(db, key, "srem", &set);
    }
    Ok(Reply::Int(removed as i64))
}

/// `SMEMBERS key`
pub(crate) fn smembers(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    match lookup_set(db, key)? {
        None => Ok(Reply::Set(Vec::new())),
        Some(set) => Ok(set_reply(all_members(db, key, &set)?)),
    }
}

/// `SISMEMBER key member`
pub(crate) fn sismember(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let found = match lookup_set(db, key)? {
        None => false,
        Some(set) => is_member(db, key, &set, &args[2])?,
    };
    Ok(Reply::Int(i64::from(found)))
}

/// `SMISMEMBER key member [member ...]`: 1 or 0 per member.
pub(crate) fn smismember(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let set = lookup_set(db, key)?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        let found = match &set {
            None => false,
            Some(set) => is_member(db, key, set, member)?,
        };
        out.push(Reply::Int(i64::from(found)));
    }
    Ok(Reply::Array(out))
}

/// `SCARD key`
pub(crate) fn scard(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let size = lookup_set(db, &args[1])?.map_or(0, |set| set.header.size);
    Ok(Reply::Int(i64::try_from(size).unwrap_or(i64::MAX)))
}

fn set_len(set: &Entry) -> usize {
    usize::try_from(set.header.size).unwrap_or(usize::MAX)
}

/// `SPOP key [count]`: one random member (bulk), or up to `count` distinct
/// ones (a Set in RESP3, as Redis 7.0 replies).
pub(crate) fn spop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => spop_one(db, &args[1]),
        3 => spop_count(db, &args[1], &args[2]),
        _ => Err(CmdError::reply(errors::SYNTAX)),
    }
}

fn spop_one(db: &mut Db<'_>, key: &[u8]) -> CmdResult {
    let Some(mut set) = lookup_set(db, key)? else {
        return Ok(Reply::Nil);
    };
    let position = rand::thread_rng().gen_range(0..set_len(&set).max(1));
    let popped = members_at(db, key, &set, &[position])?;
    let version = set.header.version;
    for member in &popped {
        db.delete_element(key, version, member);
    }
    set.header.size = set.header.size.saturating_sub(popped.len() as u64);
    db.save_collection(key, &set);
    removed_from(db, key, "spop", &set);
    Ok(popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk))
}

fn spop_count(db: &mut Db<'_>, key: &[u8], count: &[u8]) -> CmdResult {
    let count = parse_i64(count)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| CmdError::reply(COUNT_NOT_POSITIVE))?;
    let Some(mut set) = lookup_set(db, key)? else {
        return Ok(Reply::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    if count >= set.header.size {
        let members = all_members(db, key, &set)?;
        db.delete(key);
        db.notify(SET, "spop", key);
        db.notify(GENERIC, "del", key);
        return Ok(set_reply(members));
    }
    let size = set_len(&set);
    let mut rng = rand::thread_rng();
    // count < size, so it fits a usize.
    let mut positions = rand::seq::index::sample(&mut rng, size, count as usize).into_vec();
    positions.sort_unstable();
    let mut popped = members_at(db, key, &set, &positions)?;
    let version = set.header.version;
    for member in &popped {
        db.delete_element(key, version, member);
    }
    set.header.size -= popped.len() as u64;
    db.save_collection(key, &set);
    removed_from(db, key, "spop", &set);
    popped.shuffle(&mut rng);
    Ok(Reply::Set(bulks(popped)))
}

/// `SRANDMEMBER key [count]`: one random member, `count` distinct ones, or
/// with a negative count `-count` members that may repeat (arrays).
pub(crate) fn srandmember(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    match args.len() {
        2 => {
            let Some(set) = lookup_set(db, key)? else {
                return Ok(Reply::Nil);
            };
            let position = rand::thread_rng().gen_range(0..set_len(&set).max(1));
            let picked = members_at(db, key, &set, &[position])?;
            Ok(picked.into_iter().next().map_or(Reply::Nil, Reply::Bulk))
        }
        3 => srandmember_count(db, key, &args[2]),
        _ => Err(CmdError::reply(errors::SYNTAX)),
    }
}

fn srandmember_count(db: &mut Db<'_>, key: &[u8], count: &Bytes) -> CmdResult {
    let count = int_arg(count)?;
    if count == i64::MIN {
        return Err(CmdError::reply(COUNT_OUT_OF_RANGE));
    }
    let Some(set) = lookup_set(db, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut rng = rand::thread_rng();
    let size = set_len(&set);
    if count < 0 {
        let n = count.unsigned_abs();
        if n > MAX_RANDOM_REPEATS {
            return Err(CmdError::reply(format!(
                "ERR value is out of range, value must between -{MAX_RANDOM_REPEATS} and {}",
                i64::MAX
            )));
        }
        // Draw with repeats, read each distinct position once.
        let draws: Vec<usize> = (0..n).map(|_| rng.gen_range(0..size.max(1))).collect();
        let mut positions = draws.clone();
        positions.sort_unstable();
        positions.dedup();
        let members = members_at(db, key, &set, &positions)?;
        let reply = draws
            .iter()
            .filter_map(|d| positions.binary_search(d).ok().map(|i| members[i].clone()))
            .map(Reply::Bulk)
            .collect();
        return Ok(Reply::Array(reply));
    }
    let count = count.unsigned_abs();
    if count >= set.header.size {
        let members = all_members(db, key, &set)?;
        return Ok(Reply::Array(bulks(redis_order(members))));
    }
    let mut positions = rand::seq::index::sample(&mut rng, size, count as usize).into_vec();
    positions.sort_unstable();
    let mut picked = members_at(db, key, &set, &positions)?;
    picked.shuffle(&mut rng);
    Ok(Reply::Array(bulks(picked)))
}

/// `SMOVE source destination member`: 1 if moved (or already there when
/// source and destination are one key), 0 if `member` is not in source.
pub(crate) fn smove(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (src_key, dst_key, member) = (&args[1], &args[2], &args[3]);
    // Redis: a missing source answers 0 before any type check.
    let Some(mut src) = lookup_set(db, src_key)? else {
        return Ok(Reply::Int(0));
    };
    let mut dst = db.collection_or_new(dst_key, KeyType::Set)?;
    if src_key == dst_key {
        return Ok(Reply::Int(i64::from(is_member(db, src_key, &src, member)?)));
    }
    if !is_member(db, src_key, &src, member)? {
        return Ok(Reply::Int(0));
    }
    db.delete_element(src_key, src.header.version, member);
    src.header.size = src.header.size.saturating_sub(1);
    db.save_collection(src_key, &src);
    removed_from(db, src_key, "srem", &src);
    if !is_member(db, dst_key, &dst, member)? {
        db.put_element(dst_key, dst.header.version, member, b"");
        dst.header.size += 1;
        db.save_collection(dst_key, &dst);
        db.notify(SET, "sadd", dst_key);
    }
    Ok(Reply::Int(1))
}

/// The events of members removed from the set at `key`, now `set`: the
/// command's, then `del` when it emptied the set.
fn removed_from(db: &mut Db<'_>, key: &[u8], event: &'static str, set: &Entry) {
    db.notify(SET, event, key);
    if set.header.size == 0 {
        db.notify(GENERIC, "del", key);
    }
}

/// The sets at `keys` (`None` where missing); `WRONGTYPE` if any key holds
/// another type, even after a missing one (as Redis checks them all).
fn load_sets(db: &Db<'_>, keys: &[Bytes]) -> Result<Vec<Option<Entry>>, CmdError> {
    keys.iter().map(|k| lookup_set(db, k)).collect()
}

/// How many members a batched walk reads per storage scan.
const BATCH: usize = 1024;

/// Calls `visit` with the members of `set` in byte order, [`BATCH`] at a
/// time, until it returns `false`. Unlike [`scan_members`], `visit` runs
/// outside the storage scan, so it may read the store.
fn for_each_batch(
    db: &Db<'_>,
    key: &[u8],
    set: &Entry,
    visit: &mut dyn FnMut(&[Bytes]) -> Result<bool, CmdError>,
) -> Result<(), CmdError> {
    let mut after: Option<Bytes> = None;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let lower = match &after {
            Some(last) => Bound::Excluded(&last[..]),
            None => Bound::Unbounded,
        };
        db.scan_elements(
            key,
            set.header.version,
            (lower, Bound::Unbounded),
            false,
            &mut |member, _| {
                batch.push(Bytes::copy_from_slice(member));
                batch.len() < BATCH
            },
        )?;
        if batch.is_empty() || !visit(&batch)? || batch.len() < BATCH {
            return Ok(());
        }
        after = batch.pop();
    }
}

/// The intersection of the sets at `keys`, stopping at `limit` members
/// (0: no limit). Walks the smallest set and looks each member up in the
/// others.
fn intersect(db: &Db<'_>, keys: &[Bytes], limit: usize) -> Result<Vec<Bytes>, CmdError> {
    let sets = load_sets(db, keys)?;
    let Some(sets) = sets.into_iter().collect::<Option<Vec<Entry>>>() else {
        return Ok(Vec::new());
    };
    let Some(smallest) = (0..sets.len()).min_by_key(|&i| sets[i].header.size) else {
        return Ok(Vec::new());
    };
    let others: Vec<(&Bytes, &Entry)> = keys
        .iter()
        .zip(&sets)
        .filter(|(k, _)| **k != keys[smallest])
        .collect();
    let mut out = Vec::new();
    for_each_batch(db, &keys[smallest], &sets[smallest], &mut |batch| {
        'members: for member in batch {
            for (key, set) in &others {
                if !is_member(db, key, set, member)? {
                    continue 'members;
                }
            }
            out.push(member.clone());
            if out.len() == limit {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    Ok(out)
}

/// The union of the sets at `keys`, in byte order.
fn union(db: &Db<'_>, keys: &[Bytes]) -> Result<Vec<Bytes>, CmdError> {
    let sets = load_sets(db, keys)?;
    let mut out = BTreeSet::new();
    for (key, set) in keys.iter().zip(&sets) {
        if let Some(set) = set {
            scan_members(db, key, set, &mut |m| {
                if !out.contains(m) {
                    out.insert(Bytes::copy_from_slice(m));
                }
                true
            })?;
        }
    }
    Ok(out.into_iter().collect())
}

/// The members of the first set at `keys` that are in none of the others.
fn difference(db: &Db<'_>, keys: &[Bytes]) -> Result<Vec<Bytes>, CmdError> {
    let sets = load_sets(db, keys)?;
    let Some(Some(first)) = sets.first() else {
        return Ok(Vec::new());
    };
    let others: Vec<(&Bytes, &Entry)> = keys
        .iter()
        .zip(&sets)
        .skip(1)
        .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
        .collect();
    if others.iter().any(|(k, _)| **k == keys[0]) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for_each_batch(db, &keys[0], first, &mut |batch| {
        'members: for member in batch {
            for (key, set) in &others {
                if is_member(db, key, set, member)? {
                    continue 'members;
                }
            }
            out.push(member.clone());
        }
        Ok(true)
    })?;
    Ok(out)
}

/// Replaces whatever `dst` holds with a new set of `members` (no expiry),
/// raising `event`, or deletes it when there are none (raising `del` if it
/// was there); replies with the member count.
fn store(db: &mut Db<'_>, dst: &[u8], members: &[Bytes], event: &'static str) -> CmdResult {
    if members.is_empty() {
        db.delete_stored(dst)?;
        return Ok(Reply::Int(0));
    }
    // A fresh version: the old incarnation's elements (even when `dst` was
    // one of the sources) are dropped whole, never mixed with these.
    let version = db.fresh_version(dst)?;
    for member in members {
        db.put_element(dst, version, member, b"");
    }
    let set = Entry {
        header: MetaHeader {
            key_type: KeyType::Set,
            expire_at_ms: 0,
            version,
            size: members.len() as u64,
        },
        payload: Bytes::new(),
    };
    db.save_collection(dst, &set);
    db.notify(SET, event, dst);
    Ok(Reply::Int(members.len() as i64))
}

/// `SINTER key [key ...]`
pub(crate) fn sinter(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(set_reply(intersect(db, &args[1..], 0)?))
}

/// `SUNION key [key ...]`
pub(crate) fn sunion(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(set_reply(union(db, &args[1..])?))
}

/// `SDIFF key [key ...]`
pub(crate) fn sdiff(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(set_reply(difference(db, &args[1..])?))
}

/// `SINTERSTORE destination key [key ...]`
pub(crate) fn sinterstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let members = intersect(db, &args[2..], 0)?;
    store(db, &args[1], &members, "sinterstore")
}

/// `SUNIONSTORE destination key [key ...]`
pub(crate) fn sunionstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let members = union(db, &args[2..])?;
    store(db, &args[1], &members, "sunionstore")
}

/// `SDIFFSTORE destination key [key ...]`
pub(crate) fn sdiffstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let members = difference(db, &args[2..])?;
    store(db, &args[1], &members, "sdiffstore")
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the intersection's
/// size, counting stopped at `limit` (0: no limit).
pub(crate) fn sintercard(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = parse_i64(&args[1])
        .filter(|&n| n >= 1)
        .ok_or_else(|| CmdError::reply(NUMKEYS_NOT_POSITIVE))?;
    let available = args.len() - 2;
    let numkeys = match usize::try_from(numkeys) {
        Ok(n) if n <= available => n,
        _ => return Err(CmdError::reply(NUMKEYS_TOO_MANY)),
    };
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is_option(&args[j], "limit") && more > 0 {
            j += 1;
            let n = parse_i64(&args[j])
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| CmdError::reply(LIMIT_NEGATIVE))?;
            limit = usize::try_from(n).unwrap_or(usize::MAX);
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    let members = intersect(db, &args[2..2 + numkeys], limit)?;
    Ok(Reply::Int(members.len() as i64))
}

/// A SCAN cursor as Redis reads it: C's `strtoul` over the argument up to
/// its first NUL, refusing a leading space, trailing junk and overflow. A
/// leading `-` wraps as `strtoul` does; an empty string is 0.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    let s = &arg[..end];
    let Some(&first) = s.first() else {
        return Some(0);
    };
    if matches!(first, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (negative, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for d in digits {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

fn scan_reply(cursor: u64, members: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(bulks(members)),
    ])
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]` (cursor: see the module
/// doc). Options are read only for an existing set, as in Redis.
pub(crate) fn sscan(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2]).ok_or_else(|| CmdError::reply(INVALID_CURSOR))?;
    let key = &args[1];
    let Some(set) = lookup_set(db, key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - i;
        if is_option(&args[i], "count") && more >= 2 {
            count = int_arg(&args[i + 1])?;
            if count < 1 {
                return Err(CmdError::reply(errors::SYNTAX));
            }
        } else if is_option(&args[i], "match") && more >= 2 {
            let p = &args[i + 1][..];
            pattern = (p != b"*").then_some(p);
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        i += 2;
    }
    let wanted = |m: &[u8]| pattern.is_none_or(|p| petrel_common::glob::matches(p, m, false));
    if set_len(&set) <= INTSET_MAX_ENTRIES {
        let members = all_members(db, key, &set)?;
        if members.iter().all(|m| parse_i64(m).is_some()) {
            let members = redis_order(members);
            return Ok(scan_reply(
                0,
                members.into_iter().filter(|m| wanted(m)).collect(),
            ));
        }
    }
    let count = u64::try_from(count).unwrap_or(u64::MAX);
    let mut index: u64 = 0;
    let mut visited: u64 = 0;
    let mut more = false;
    let mut out = Vec::new();
    scan_members(db, key, &set, &mut |m| {
        if index < cursor {
            index += 1;
            return true;
        }
        if visited == count {
            more = true;
            return false;
        }
        visited += 1;
        if wanted(m) {
            out.push(Bytes::copy_from_slice(m));
        }
        true
    })?;
    let next = if more { cursor + visited } else { 0 };
    Ok(scan_reply(next, out))
}
