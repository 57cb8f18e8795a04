//! Hash commands, with Redis 7.0's replies, errors and argument rules.
//!
//! A hash is a metadata record (type, expiry, version, size = field count)
//! plus one element record per field: element bytes = the field, value = the
//! field's value. A command reads and writes only the fields it names
//! (HGET, HSET, HDEL, HINCRBY... touch one element each, whatever the size
//! of the hash) and keeps `size` exact, so HLEN is O(1). Modifying a hash
//! keeps its expiry and version; a hash emptied by HDEL is deleted, as Redis
//! never keeps an empty collection.
//!
//! Fields come back in byte order (HGETALL, HKEYS, HVALS, HSCAN), where
//! Redis uses insertion order for small hashes and dict order for large
//! ones; Redis documents neither.
//!
//! HSCAN's cursor is an offset: the number of fields (in byte order)
//! already examined. It is simple, survives any number of calls, and on a
//! hash nobody changes meanwhile returns every field exactly once. While the
//! hash changes, fields added or removed before the cursor shift the later
//! ones: a field may then be returned twice, or (when an earlier field is
//! deleted) skipped, which Redis's reverse-binary cursor avoids. Resuming
//! costs O(offset) to skip the fields already seen. Hashes of at most
//! [`SMALL_HASH`] fields are returned whole with cursor 0, as Redis does for
//! its listpack-encoded small hashes, so small hashes answer exactly like Redis.
//!
//! HRANDFIELD draws positions uniformly and reads the fields there in one
//! ordered scan, which stops at the last position drawn (O(size) at worst).
//! With WITHVALUES it answers with Redis's RESP2 shape, a flat array (see
//! [`pairs`]).

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};
use rand::Rng;

use crate::cmd::db::{Db, Entry};
use crate::cmd::events::{GENERIC, HASH};
use crate::cmd::float::LongDouble;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, option, parse_i64};
use crate::cmd::runner::{run, Runner};
use crate::storage::layout::KeyType;
use crate::storage::StorageError;

/// The hash family, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("hset", hset),
    run("hsetnx", hsetnx),
    run("hget", hget),
    run("hmget", hmget),
    run("hmset", hmset),
    run("hdel", hdel),
    run("hlen", hlen),
    run("hstrlen", hstrlen),
    run("hexists", hexists),
    run("hgetall", hgetall),
    run("hkeys", hkeys),
    run("hvals", hvals),
    run("hincrby", hincrby),
    run("hincrbyfloat", hincrbyfloat),
    run("hrandfield", hrandfield),
    run("hscan", hscan),
];

/// HINCRBY on a field that does not hold an integer.
pub(crate) const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
/// HINCRBYFLOAT on a field that does not hold a float.
pub(crate) const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
/// HINCRBYFLOAT with an infinite increment.
pub(crate) const INCR_NAN_OR_INF: &str = "ERR value is NaN or Infinity";
/// HRANDFIELD with a count of `i64::MIN` (Redis allows -LONG_MAX..=LONG_MAX).
pub(crate) const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
/// HRANDFIELD WITHVALUES with a count beyond ±LONG_MAX/2; also Petrel's
/// answer to a repeating count whose reply would exceed [`MAX_RANDOM_REPLY`].
pub(crate) const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";
/// SCAN-family cursors that are not unsigned integers.
pub(crate) const INVALID_CURSOR: &str = "ERR invalid cursor";

/// Hashes this small are scanned in one call, like Redis's listpack hashes
/// (`hash-max-listpack-entries` defaults to 128).
pub(crate) const SMALL_HASH: u64 = 128;

/// The most entries (fields, plus values with WITHVALUES) a negative-count
/// HRANDFIELD may return. Redis has no cap and would build the reply
/// however large; here one request must not exhaust a replica's memory.
pub(crate) const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// SCAN's default COUNT.
const DEFAULT_SCAN_COUNT: u64 = 10;

/// The live hash at `key`; WRONGTYPE if the key holds another type.
fn lookup_hash(db: &Db<'_>, key: &[u8]) -> Result<Option<Entry>, CmdError> {
    db.lookup_typed(key, KeyType::Hash)
}

/// The value of `field` in the hash at `key` (`entry`, its live record).
pub(crate) fn field_value(
    db: &Db<'_>,
    key: &[u8],
    entry: &Entry,
    field: &[u8],
) -> Result<Option<Bytes>, StorageError> {
    Ok(get_field(db, key, entry, field)?.map(Bytes::from))
}

/// One field's value.
fn get_field(
    db: &Db<'_>,
    key: &[u8],
    hash: &Entry,
    field: &[u8],
) -> Result<Option<Vec<u8>>, StorageError> {
    db.element(key, hash.header.version, field)
}

/// Sets one field and counts it in `hash`; returns whether it is new.
fn set_field(
    db: &mut Db<'_>,
    key: &[u8],
    hash: &mut Entry,
    field: &[u8],
    value: &[u8],
) -> Result<bool, StorageError> {
    let version = hash.header.version;
    let new = db.element(key, version, field)?.is_none();
    db.put_element(key, version, field, value);
    if new {
        hash.header.size += 1;
    }
    Ok(new)
}

/// Every (field, value) of `hash`, in field byte order.
fn all_fields(db: &Db<'_>, key: &[u8], hash: &Entry) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
    let mut out = Vec::with_capacity(usize::try_from(hash.header.size).unwrap_or(0).min(1 << 16));
    db.each_element(key, hash.header.version, &mut |f, v| {
        out.push((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)));
        true
    })?;
    Ok(out)
}

/// Field/value pairs as HRANDFIELD WITHVALUES answers them: a flat array
/// (Redis's RESP2 shape). RESP3 clients get the same flat array, where
/// Redis sends an array of two-element arrays: the reply type carries no
/// "pairs" shape for the proxy to encode per protocol (`Reply::Map` would
/// become a RESP3 map, and a negative count repeats fields).
fn pairs(items: Vec<(Bytes, Bytes)>) -> Reply {
    Reply::Pairs(
        items
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    )
}

/// HSET and HMSET: the pairs must come whole (checked before the key's type).
fn set_pairs(db: &mut Db<'_>, args: &[Bytes], name: &str) -> Result<i64, CmdError> {
    if args.len() % 2 == 1 {
        return Err(CmdError::reply(errors::wrong_arity(name)));
    }
    let key = &args[1];
    let mut hash = db.collection_or_new(key, KeyType::Hash)?;
    let mut created = 0;
    for pair in args[2..].chunks(2) {
        if set_field(db, key, &mut hash, &pair[0], &pair[1])? {
            created += 1;
        }
    }
    db.save_collection(key, &hash);
    // Even when every value was already there.
    db.notify(HASH, "hset", key);
    Ok(created)
}

/// `HSET key field value [field value ...]`: how many fields are new.
pub(crate) fn hset(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(set_pairs(db, args, "hset")?))
}

/// `HMSET key field value [field value ...]` (deprecated): `+OK`.
pub(crate) fn hmset(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    set_pairs(db, args, "hmset")?;
    Ok(Reply::ok())
}

/// `HSETNX key field value`: 1 when the field was new and is now set.
pub(crate) fn hsetnx(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let mut hash = db.collection_or_new(key, KeyType::Hash)?;
    if get_field(db, key, &hash, field)?.is_some() {
        return Ok(Reply::Int(0));
    }
    set_field(db, key, &mut hash, field, &args[3])?;
    db.save_collection(key, &hash);
    db.notify(HASH, "hset", key);
    Ok(Reply::Int(1))
}

/// `HGET key field`
pub(crate) fn hget(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(hash) = lookup_hash(db, &args[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(get_field(db, &args[1], &hash, &args[2])?.map_or(Reply::Nil, Reply::bulk))
}

/// `HMGET key field [field ...]`: nil for each missing field.
pub(crate) fn hmget(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let hash = lookup_hash(db, key)?;
    let mut values = Vec::with_capacity(args.len() - 2);
    for field in &args[2..] {
        let value = match &hash {
            Some(hash) => get_field(db, key, hash, field)?,
            None => None,
        };
        values.push(value.map_or(Reply::Nil, Reply::bulk));
    }
    Ok(Reply::Array(values))
}

/// `HDEL key field [field ...]`: how many fields were removed.
pub(crate) fn hdel(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some(mut hash) = lookup_hash(db, key)? else {
        return Ok(Reply::Int(0));
    };
    let version = hash.header.version;
    let mut deleted = 0;
    for field in &args[2..] {
        // A field named twice is found (and counted) once: the second
        // lookup sees this command's own delete.
        if db.element(key, version, field)?.is_some() {
            db.delete_element(key, version, field);
            hash.header.size = hash.header.size.saturating_sub(1);
            deleted += 1;
        }
    }
    if deleted > 0 {
        db.save_collection(key, &hash);
        db.notify(HASH, "hdel", key);
        if hash.header.size == 0 {
            db.notify(GENERIC, "del", key);
        }
    }
    Ok(Reply::Int(deleted))
}

/// `HLEN key`
pub(crate) fn hlen(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let size = lookup_hash(db, &args[1])?.map_or(0, |h| h.header.size);
    Ok(Reply::Int(i64::try_from(size).unwrap_or(i64::MAX)))
}

/// `HSTRLEN key field`: the value's length, 0 when missing.
pub(crate) fn hstrlen(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(hash) = lookup_hash(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let len = get_field(db, &args[1], &hash, &args[2])?.map_or(0, |v| v.len());
    Ok(Reply::Int(len as i64))
}

/// `HEXISTS key field`
pub(crate) fn hexists(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(hash) = lookup_hash(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let found = get_field(db, &args[1], &hash, &args[2])?.is_some();
    Ok(Reply::Int(i64::from(found)))
}

/// `HGETALL key`: a map (flat array in RESP2).
pub(crate) fn hgetall(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(hash) = lookup_hash(db, &args[1])? else {
        return Ok(Reply::Map(Vec::new()));
    };
    let fields = all_fields(db, &args[1], &hash)?;
    Ok(Reply::Map(
        fields
            .into_iter()
            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
            .collect(),
    ))
}

/// `HKEYS key`
pub(crate) fn hkeys(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(hash) = lookup_hash(db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let fields = all_fields(db, &args[1], &hash)?;
    Ok(Reply::Array(
        fields.into_iter().map(|(f, _)| Reply::Bulk(f)).collect(),
    ))
}

/// `HVALS key`
pub(crate) fn hvals(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(hash) = lookup_hash(db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let fields = all_fields(db, &args[1], &hash)?;
    Ok(Reply::Array(
        fields.into_iter().map(|(_, v)| Reply::Bulk(v)).collect(),
    ))
}

/// `HINCRBY key field increment`: the increment is checked before the key's type.
pub(crate) fn hincrby(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let incr = int_arg(&args[3])?;
    let mut hash = db.collection_or_new(key, KeyType::Hash)?;
    let current = match get_field(db, key, &hash, field)? {
        Some(value) => parse_i64(&value).ok_or_else(|| CmdError::reply(HASH_NOT_INTEGER))?,
        None => 0,
    };
    let value = current
        .checked_add(incr)
        .ok_or_else(|| CmdError::reply(errors::OVERFLOW))?;
    set_field(db, key, &mut hash, field, value.to_string().as_bytes())?;
    db.save_collection(key, &hash);
    db.notify(HASH, "hincrby", key);
    Ok(Reply::Int(value))
}

/// `HINCRBYFLOAT key field increment`, in Redis's `long double` arithmetic.
pub(crate) fn hincrbyfloat(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (key, field) = (&args[1], &args[2]);
    let incr = LongDouble::parse(&args[3]).ok_or_else(|| CmdError::reply(errors::NOT_FLOAT))?;
    if !incr.is_finite() {
        return Err(CmdError::reply(INCR_NAN_OR_INF));
    }
    let mut hash = db.collection_or_new(key, KeyType::Hash)?;
    let current = match get_field(db, key, &hash, field)? {
        Some(value) => LongDouble::parse(&value).ok_or_else(|| CmdError::reply(HASH_NOT_FLOAT))?,
        None => LongDouble::ZERO,
    };
    let sum = current.plus(incr);
    if !sum.is_finite() {
        return Err(CmdError::reply(errors::NAN_OR_INF));
    }
    let text = sum.to_redis_string();
    set_field(db, key, &mut hash, field, text.as_bytes())?;
    db.save_collection(key, &hash);
    db.notify(HASH, "hincrbyfloat", key);
    Ok(Reply::Bulk(Bytes::from(text)))
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub(crate) fn hrandfield(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() >= 3 {
        let count = int_arg(&args[2])?;
        if count < -i64::MAX {
            return Err(CmdError::reply(COUNT_OUT_OF_RANGE));
        }
        let with_values = match args.len() {
            3 => false,
            4 if is_option(&args[3], "withvalues") => true,
            _ => return Err(CmdError::reply(errors::SYNTAX)),
        };
        if with_values && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::reply(VALUE_OUT_OF_RANGE));
        }
        return random_fields(db, &args[1], count, with_values);
    }
    let key = &args[1];
    let Some(hash) = lookup_hash(db, key)? else {
        return Ok(Reply::Nil);
    };
    let picked = pick_at(db, key, &hash, &[random_position(hash.header.size)])?;
    Ok(picked
        .into_iter()
        .next()
        .map_or(Reply::Nil, |(f, _)| Reply::Bulk(f)))
}

/// HRANDFIELD with a count: distinct fields when positive, repeats allowed
/// (and the order random) when negative.
fn random_fields(db: &Db<'_>, key: &[u8], count: i64, with_values: bool) -> CmdResult {
    let Some(hash) = lookup_hash(db, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let size = hash.header.size;
    let wanted = count.unsigned_abs();
    if wanted == 0 || size == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let entries = if count < 0 || wanted == 1 {
        let per_field = if with_values { 2 } else { 1 };
        if wanted.saturating_mul(per_field) > MAX_RANDOM_REPLY {
            return Err(CmdError::reply(VALUE_OUT_OF_RANGE));
        }
        let positions: Vec<u64> = (0..wanted).map(|_| random_position(size)).collect();
        pick_at(db, key, &hash, &positions)?
    } else if wanted >= size {
        all_fields(db, key, &hash)?
    } else {
        // Floyd's algorithm: `wanted` distinct positions out of `size`.
        let mut rng = rand::thread_rng();
        let mut chosen = BTreeSet::new();
        for j in size - wanted..size {
            let t = rng.gen_range(0..=j);
            if !chosen.insert(t) {
                chosen.insert(j);
            }
        }
        let positions: Vec<u64> = chosen.into_iter().collect();
        pick_at(db, key, &hash, &positions)?
    };
    if with_values {
        Ok(pairs(entries))
    } else {
        Ok(Reply::Array(
            entries.into_iter().map(|(f, _)| Reply::Bulk(f)).collect(),
        ))
    }
}

/// A uniformly random position in a hash of `size` fields.
fn random_position(size: u64) -> u64 {
    if size == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..size)
    }
}

/// The (field, value) at each of `positions` (in field byte order), in the
/// order of `positions`, read with one scan that stops at the last one.
/// Positions past the stored fields are left out.
fn pick_at(
    db: &Db<'_>,
    key: &[u8],
    hash: &Entry,
    positions: &[u64],
) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
    let Some(&last) = positions.iter().max() else {
        return Ok(Vec::new());
    };
    let wanted: BTreeSet<u64> = positions.iter().copied().collect();
    let mut found: HashMap<u64, (Bytes, Bytes)> = HashMap::with_capacity(wanted.len());
    let mut index = 0u64;
    db.each_element(key, hash.header.version, &mut |f, v| {
        if wanted.contains(&index) {
            found.insert(
                index,
                (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)),
            );
        }
        index += 1;
        index <= last
    })?;
    Ok(positions
        .iter()
        .filter_map(|p| found.get(p).cloned())
        .collect())
}

/// A SCAN-family cursor, parsed like Redis's `parseScanCursorOrReply`
/// (`strtoul`): the C string up to any NUL, no leading space, an optional
/// sign (a negative cursor wraps, as `strtoul` does), digits, nothing after;
/// an empty cursor is 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::reply(INVALID_CURSOR);
    let text = option(arg);
    let Some(&first) = text.first() else {
        return Ok(0);
    };
    // C's isspace: space, \t, \n, \v, \f, \r.
    if matches!(first, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return Err(invalid());
    }
    let (negative, digits) = match first {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// The options of a SCAN-family command (HSCAN has no TYPE).
pub(crate) struct ScanOptions {
    /// How many elements one call examines (a hint, as in Redis).
    pub(crate) count: u64,
    /// The MATCH pattern; `None` for none or `*`.
    pub(crate) pattern: Option<Bytes>,
}

impl ScanOptions {
    /// Whether `element` passes the MATCH filter.
    pub(crate) fn accepts(&self, element: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| petrel_common::glob::matches(p, element, false))
    }
}

/// Parses `[MATCH pattern] [COUNT count]` (repeatable, last one wins) from
/// `args`, as Redis's `scanGenericCommand` does.
pub(crate) fn parse_scan_options(args: &[Bytes]) -> Result<ScanOptions, CmdError> {
    let mut opts = ScanOptions {
        count: DEFAULT_SCAN_COUNT,
        pattern: None,
    };
    let mut i = 0;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        if has_value && is_option(&args[i], "count") {
            let count = int_arg(&args[i + 1])?;
            if count < 1 {
                return Err(CmdError::reply(errors::SYNTAX));
            }
            opts.count = count.unsigned_abs();
        } else if has_value && is_option(&args[i], "match") {
            let pattern = &args[i + 1];
            opts.pattern = (pattern.as_ref() != b"*").then(|| pattern.clone());
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        i += 2;
    }
    Ok(opts)
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`; the cursor is an
/// offset into the fields in byte order (see the module documentation).
pub(crate) fn hscan(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2])?;
    let key = &args[1];
    // Like Redis: a missing key answers before the options are read.
    let Some(hash) = lookup_hash(db, key)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = parse_scan_options(&args[3..])?;
    let mut items = Vec::new();
    let mut keep = |f: &[u8], v: &[u8]| {
        if opts.accepts(f) {
            items.push(Reply::Bulk(Bytes::copy_from_slice(f)));
            items.push(Reply::Bulk(Bytes::copy_from_slice(v)));
        }
    };
    let version = hash.header.version;
    let all = (Bound::Unbounded, Bound::Unbounded);
    if hash.header.size <= SMALL_HASH {
        db.scan_elements(key, version, all, false, &mut |f, v| {
            keep(f, v);
            true
        })?;
        return Ok(scan_reply(0, items));
    }
    let mut index = 0u64;
    let mut examined = 0u64;
    let mut more = false;
    db.scan_elements(key, version, all, false, &mut |f, v| {
        if index < cursor {
            index += 1;
            return true;
        }
        if examined == opts.count {
            more = true;
            return false;
        }
        keep(f, v);
        examined += 1;
        true
    })?;
    let next = if more { cursor + examined } else { 0 };
    Ok(scan_reply(next, items))
}

/// `[cursor, [elements...]]`
fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}
