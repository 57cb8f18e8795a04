//! String commands, with Redis 7.0's replies, errors and option rules.
//!
//! A string is one metadata record whose payload is the value. Commands that
//! modify a string in place (APPEND, SETRANGE, INCR...) keep its expiry and
//! version; commands that replace it (SET, GETSET, MSET...) start a new
//! incarnation with a fresh version and, unless told otherwise, no expiry.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::db::{Db, Entry};
use crate::cmd::errors::DECREMENT_OVERFLOW;
use crate::cmd::events::{GENERIC, NEW, STRING};
use crate::cmd::float::LongDouble;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, parse_i64};
use crate::storage::layout::{KeyType, MetaHeader};

/// Redis's default `proto-max-bulk-len`: the largest string a command may build.
pub(crate) const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// How an EX/PX/EXAT/PXAT argument is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireUnit {
    /// EX: seconds from now.
    Ex,
    /// PX: milliseconds from now.
    Px,
    /// EXAT: unix time in seconds.
    ExAt,
    /// PXAT: unix time in milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn is_seconds(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::ExAt)
    }

    fn is_relative(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::Px)
    }
}

/// Which command's options `parse_extended` reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extended {
    Set,
    GetEx,
}

/// The options of SET and GETEX.
#[derive(Default)]
struct ExtendedOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, Bytes)>,
}

/// Parses SET's / GETEX's options exactly as Redis's
/// `parseExtendedStringArgumentsOrReply`: any option that conflicts with an
/// earlier one, or that lacks its argument, is a syntax error.
fn parse_extended(args: &[Bytes], command: Extended) -> Result<ExtendedOptions, CmdError> {
    let mut opts = ExtendedOptions::default();
    let set = command == Extended::Set;
    let mut j = if set { 3 } else { 2 };
    while j < args.len() {
        let opt = &args[j];
        let next = args.get(j + 1);
        let unit = opts.expire.as_ref().map(|(unit, _)| *unit);
        let (keep_ttl, persist) = (opts.keep_ttl, opts.persist);
        // An expiry option conflicts with KEEPTTL, PERSIST and any other unit.
        let expire_ok = |wanted: ExpireUnit| {
            !keep_ttl && !persist && unit.is_none_or(|u| u == wanted) && next.is_some()
        };
        if set && is_option(opt, "nx") && !opts.xx {
            opts.nx = true;
        } else if set && is_option(opt, "xx") && !opts.nx {
            opts.xx = true;
        } else if set && is_option(opt, "get") {
            opts.get = true;
        } else if set && is_option(opt, "keepttl") && !opts.persist && unit.is_none() {
            opts.keep_ttl = true;
        } else if !set && is_option(opt, "persist") && unit.is_none() && !opts.keep_ttl {
            opts.persist = true;
        } else if let Some(wanted) = expire_unit(opt).filter(|&u| expire_ok(u)) {
            if let Some(arg) = next {
                opts.expire = Some((wanted, arg.clone()));
            }
            j += 1;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(opts)
}

fn expire_unit(opt: &[u8]) -> Option<ExpireUnit> {
    [
        ("ex", ExpireUnit::Ex),
        ("px", ExpireUnit::Px),
        ("exat", ExpireUnit::ExAt),
        ("pxat", ExpireUnit::PxAt),
    ]
    .into_iter()
    .find(|(name, _)| is_option(opt, name))
    .map(|(_, unit)| unit)
}

/// The absolute expiry in ms for an EX/PX/EXAT/PXAT argument, with Redis's
/// `getExpireMillisecondsOrReply` checks: positive, and no overflow.
fn expire_at_ms(unit: ExpireUnit, arg: &Bytes, now: i64, command: &str) -> Result<i64, CmdError> {
    let invalid = || CmdError::reply(errors::invalid_expire(command));
    let value = int_arg(arg)?;
    if value <= 0 || (unit.is_seconds() && value > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if unit.is_seconds() {
        value * 1000
    } else {
        value
    };
    if unit.is_relative() {
        ms.checked_add(now).ok_or_else(invalid)
    } else {
        Ok(ms)
    }
}

/// The error Redis gives when a string would outgrow `proto-max-bulk-len`.
fn check_length(len: Option<u64>) -> Result<u64, CmdError> {
    match len {
        Some(len) if len <= PROTO_MAX_BULK_LEN => Ok(len),
        _ => Err(CmdError::reply(errors::STRING_TOO_LONG)),
    }
}

fn bulk_or_nil(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

/// When a conditional SET applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

/// Redis's `setGenericCommand`: returns whether the value was stored and,
/// when `get` is set, the previous string (WRONGTYPE if it is not one).
fn set_generic(
    db: &mut Db<'_>,
    key: &[u8],
    value: &[u8],
    condition: Condition,
    get: bool,
    keep_ttl: bool,
    expire_at: Option<i64>,
) -> Result<(bool, Option<Bytes>), CmdError> {
    let old = if get {
        let old = db.lookup_string(key)?.map(|e| e.payload);
        if old.is_none() {
            db.notify_keymiss(key);
        }
        old
    } else {
        None
    };
    let found = db.lookup(key)?;
    let blocked = match condition {
        Condition::Always => false,
        Condition::IfAbsent => found.is_some(),
        Condition::IfPresent => found.is_none(),
    };
    if blocked {
        return Ok((false, old));
    }
    let expire = if keep_ttl {
        found.as_ref().map_or(0, |e| e.header.expire_at_ms)
    } else {
        // Only positive times reach here (checked by expire_at_ms).
        expire_at.map_or(0, |ms| u64::try_from(ms).unwrap_or(0))
    };
    if expire != 0 && expire < db.now_ms() {
        // EXAT/PXAT in the past: Redis stores a key that is already
        // expired; storing nothing is the same to every reader.
        if found.is_none() {
            db.notify(NEW, "new", key);
        }
        db.delete(key);
    } else {
        let version = db.fresh_version(key)?;
        db.put_string(key, expire, version, value);
    }
    db.notify(STRING, "set", key);
    if expire_at.is_some() {
        db.notify(GENERIC, "expire", key);
    }
    Ok((true, old))
}

/// `GET key`
pub(crate) fn get(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(bulk_or_nil(db.lookup_string(&args[1])?.map(|e| e.payload)))
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]`
pub(crate) fn set(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let opts = parse_extended(args, Extended::Set)?;
    let expire_at = match &opts.expire {
        Some((unit, arg)) => Some(expire_at_ms(*unit, arg, db.now_i64(), "set")?),
        None => None,
    };
    let condition = if opts.nx {
        Condition::IfAbsent
    } else if opts.xx {
        Condition::IfPresent
    } else {
        Condition::Always
    };
    let (done, old) = set_generic(
        db,
        &args[1],
        &args[2],
        condition,
        opts.get,
        opts.keep_ttl,
        expire_at,
    )?;
    Ok(if opts.get {
        bulk_or_nil(old)
    } else if done {
        Reply::ok()
    } else {
        Reply::Nil
    })
}

/// `SETNX key value`: 1 if set, 0 if the key exists.
pub(crate) fn setnx(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (done, _) = set_generic(
        db,
        &args[1],
        &args[2],
        Condition::IfAbsent,
        false,
        false,
        None,
    )?;
    Ok(Reply::Int(i64::from(done)))
}

/// `SETEX key seconds value`
pub(crate) fn setex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(db, args, ExpireUnit::Ex, "setex")
}

/// `PSETEX key milliseconds value`
pub(crate) fn psetex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(db, args, ExpireUnit::Px, "psetex")
}

fn set_with_ttl(db: &mut Db<'_>, args: &[Bytes], unit: ExpireUnit, command: &str) -> CmdResult {
    let expire_at = expire_at_ms(unit, &args[2], db.now_i64(), command)?;
    set_generic(
        db,
        &args[1],
        &args[3],
        Condition::Always,
        false,
        false,
        Some(expire_at),
    )?;
    Ok(Reply::ok())
}

/// `GETSET key value`: the old string (or nil); the new value has no TTL.
pub(crate) fn getset(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (_, old) = set_generic(db, &args[1], &args[2], Condition::Always, true, false, None)?;
    Ok(bulk_or_nil(old))
}

/// `GETDEL key`
pub(crate) fn getdel(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    match db.lookup_string(key)? {
        Some(entry) => {
            db.delete(key);
            db.notify(GENERIC, "del", key);
            Ok(Reply::Bulk(entry.payload))
        }
        None => {
            db.notify_keymiss(key);
            Ok(Reply::Nil)
        }
    }
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]`
pub(crate) fn getex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let opts = parse_extended(args, Extended::GetEx)?;
    let key = &args[1];
    // Redis checks existence and type before validating the expiry.
    let Some(entry) = db.lookup_string(key)? else {
        db.notify_keymiss(key);
        return Ok(Reply::Nil);
    };
    let now = db.now_i64();
    let expire = match &opts.expire {
        Some((unit, arg)) => Some((*unit, expire_at_ms(*unit, arg, now, "getex")?)),
        None => None,
    };
    let reply = Reply::Bulk(entry.payload.clone());
    match expire {
        Some((unit, at)) if !unit.is_relative() && at <= now => {
            db.delete(key);
            db.notify(GENERIC, "del", key);
        }
        Some((_, at)) => {
            let header = MetaHeader {
                expire_at_ms: u64::try_from(at).unwrap_or(0),
                ..entry.header
            };
            db.put_meta(key, &header, &entry.payload);
            db.notify(GENERIC, "expire", key);
        }
        None if opts.persist && entry.expire_at().is_some() => {
            let header = MetaHeader {
                expire_at_ms: 0,
                ..entry.header
            };
            db.put_meta(key, &header, &entry.payload);
            db.notify(GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(reply)
}

/// Rewrites a live string in place: same expiry, same version.
fn update_string(db: &mut Db<'_>, key: &[u8], entry: &Entry, value: &[u8]) {
    db.put_string(key, entry.header.expire_at_ms, entry.header.version, value);
}

/// Stores a brand-new string without expiry.
fn create_string(db: &mut Db<'_>, key: &[u8], value: &[u8]) -> Result<(), CmdError> {
    let version = db.fresh_version(key)?;
    db.put_string(key, 0, version, value);
    Ok(())
}

/// `APPEND key value`: the new length.
pub(crate) fn append(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (key, suffix) = (&args[1], &args[2]);
    match db.lookup_string(key)? {
        None => {
            create_string(db, key, suffix)?;
            db.notify(STRING, "append", key);
            Ok(Reply::Int(suffix.len() as i64))
        }
        Some(entry) => {
            let total =
                check_length((entry.payload.len() as u64).checked_add(suffix.len() as u64))?;
            let mut value = Vec::with_capacity(total as usize);
            value.extend_from_slice(&entry.payload);
            value.extend_from_slice(suffix);
            update_string(db, key, &entry, &value);
            db.notify(STRING, "append", key);
            Ok(Reply::Int(total as i64))
        }
    }
}

/// `STRLEN key`
pub(crate) fn strlen(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let len = db.lookup_string(&args[1])?.map_or(0, |e| e.payload.len());
    Ok(Reply::Int(len as i64))
}

/// `GETRANGE key start end` (also `SUBSTR`): inclusive, negative from the end.
pub(crate) fn getrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut start = int_arg(&args[2])?;
    let mut end = int_arg(&args[3])?;
    let empty = Reply::Bulk(Bytes::new());
    let Some(entry) = db.lookup_string(&args[1])? else {
        return Ok(empty);
    };
    let value = entry.payload;
    let len = value.len() as i64;
    // Redis's clamping, step by step.
    if start < 0 && end < 0 && start > end {
        return Ok(empty);
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(empty);
    }
    Ok(Reply::Bulk(value.slice(start as usize..=end as usize)))
}

/// `SETRANGE key offset value`: the new length.
pub(crate) fn setrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let offset = int_arg(&args[2])?;
    if offset < 0 {
        return Err(CmdError::reply(errors::OFFSET_OUT_OF_RANGE));
    }
    let (key, patch) = (&args[1], &args[3]);
    let existing = db.lookup_string(key)?;
    let old_len = existing.as_ref().map_or(0, |e| e.payload.len());
    if patch.is_empty() {
        // Nothing to write: no key is created and no size check is made.
        return Ok(Reply::Int(old_len as i64));
    }
    let end = check_length((offset as u64).checked_add(patch.len() as u64))? as usize;
    let offset = offset as usize;
    let mut value = existing
        .as_ref()
        .map_or_else(Vec::new, |e| e.payload.to_vec());
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(patch);
    match &existing {
        Some(entry) => update_string(db, key, entry, &value),
        None => create_string(db, key, &value)?,
    }
    db.notify(STRING, "setrange", key);
    Ok(Reply::Int(value.len() as i64))
}

/// INCR/DECR/INCRBY/DECRBY: adds `delta` to the integer at `key`.
fn incr_by(db: &mut Db<'_>, key: &[u8], delta: i64) -> CmdResult {
    let entry = db.lookup_string(key)?;
    let current = match &entry {
        None => 0,
        Some(e) => parse_i64(&e.payload).ok_or_else(|| CmdError::reply(errors::NOT_INTEGER))?,
    };
    let value = current
        .checked_add(delta)
        .ok_or_else(|| CmdError::reply(errors::OVERFLOW))?;
    let text = value.to_string();
    match &entry {
        Some(e) => update_string(db, key, e, text.as_bytes()),
        None => create_string(db, key, text.as_bytes())?,
    }
    db.notify(STRING, "incrby", key);
    Ok(Reply::Int(value))
}

/// `INCR key`
pub(crate) fn incr(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(db, &args[1], 1)
}

/// `DECR key`
pub(crate) fn decr(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(db, &args[1], -1)
}

/// `INCRBY key increment`
pub(crate) fn incrby(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let delta = int_arg(&args[2])?;
    incr_by(db, &args[1], delta)
}

/// `DECRBY key decrement`
pub(crate) fn decrby(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let delta = int_arg(&args[2])?;
    // Negating i64::MIN overflows before any addition.
    if delta == i64::MIN {
        return Err(CmdError::reply(DECREMENT_OVERFLOW));
    }
    incr_by(db, &args[1], -delta)
}

/// `INCRBYFLOAT key increment`: the new value as a bulk string, computed in
/// Redis's `long double` and printed as Redis prints it.
pub(crate) fn incrbyfloat(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let not_float = || CmdError::reply(errors::NOT_FLOAT);
    let entry = db.lookup_string(key)?;
    let current = match &entry {
        None => LongDouble::ZERO,
        Some(e) => LongDouble::parse(&e.payload).ok_or_else(not_float)?,
    };
    let increment = LongDouble::parse(&args[2]).ok_or_else(not_float)?;
    let sum = current.plus(increment);
    if !sum.is_finite() {
        return Err(CmdError::reply(errors::NAN_OR_INF));
    }
    let text = sum.to_redis_string();
    match &entry {
        Some(e) => update_string(db, key, e, text.as_bytes()),
        None => create_string(db, key, text.as_bytes())?,
    }
    db.notify(STRING, "incrbyfloat", key);
    Ok(Reply::Bulk(Bytes::from(text)))
}

/// `MGET key [key ...]`: nil for missing keys and for non-strings.
pub(crate) fn mget(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut values = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        let value = db
            .lookup(key)?
            .filter(|e| e.header.key_type == KeyType::String)
            .map(|e| e.payload);
        values.push(bulk_or_nil(value));
    }
    Ok(Reply::Array(values))
}

fn check_pairs(args: &[Bytes], command: &str) -> Result<(), CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::reply(errors::wrong_arity(command)));
    }
    Ok(())
}

/// `MSET key value [key value ...]`
pub(crate) fn mset(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    check_pairs(args, "mset")?;
    for pair in args[1..].chunks_exact(2) {
        create_string(db, &pair[0], &pair[1])?;
        db.notify(STRING, "set", &pair[0]);
    }
    Ok(Reply::ok())
}

/// `MSETNX key value [key value ...]`: 1 if all were set, 0 if any key existed.
pub(crate) fn msetnx(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    check_pairs(args, "msetnx")?;
    for pair in args[1..].chunks_exact(2) {
        if db.lookup(&pair[0])?.is_some() {
            return Ok(Reply::Int(0));
        }
    }
    for pair in args[1..].chunks_exact(2) {
        create_string(db, &pair[0], &pair[1])?;
        db.notify(STRING, "set", &pair[0]);
    }
    Ok(Reply::Int(1))
}

#[cfg(test)]
mod tests {
    use petrel_common::reply::errors::*;

    use crate::cmd::testing::*;
    use crate::storage::layout::KeyType;
    use crate::storage::WriteOp;

    const WRONG: &str = WRONGTYPE;

    #[test]
    fn get_and_set() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["get", "k"]), nil());
        assert_eq!(h.run(&["set", "k", "v"]), ok());
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        assert_eq!(h.run(&["set", "k", ""]), ok());
        assert_eq!(h.run(&["get", "k"]), bulk(""));
    }

    #[test]
    fn binary_values_round_trip() {
        let mut h = Harness::new();
        let value = b"\x00\xff\r\n\x01";
        assert_eq!(h.run_bytes(&[b"set", b"\x00k", value]), ok());
        assert_eq!(
            h.run_bytes(&[b"get", b"\x00k"]),
            petrel_common::reply::Reply::Bulk(bytes::Bytes::from_static(value))
        );
    }

    #[test]
    fn set_nx_xx() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["set", "k", "v", "xx"]), nil());
        assert_eq!(h.run(&["exists", "k"]), int(0));
        assert_eq!(h.run(&["set", "k", "v", "nx"]), ok());
        assert_eq!(h.run(&["set", "k", "w", "NX"]), nil());
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        assert_eq!(h.run(&["set", "k", "w", "xx"]), ok());
        assert_eq!(h.run(&["get", "k"]), bulk("w"));
    }

    #[test]
    fn set_that_changes_nothing_writes_nothing() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        let exec = h.exec(&["set", "k", "w", "nx"]);
        assert_eq!(exec.reply, nil());
        assert!(exec.mutation.is_empty());
        let exec = h.exec(&["set", "other", "w", "xx", "get"]);
        assert_eq!(exec.reply, nil());
        assert!(exec.mutation.is_empty());
    }

    #[test]
    fn set_get() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["set", "k", "v", "get"]), nil());
        assert_eq!(h.run(&["set", "k", "w", "get"]), bulk("v"));
        // NX with GET (allowed since 7.0): the old value, nothing stored.
        assert_eq!(h.run(&["set", "k", "x", "nx", "get"]), bulk("w"));
        assert_eq!(h.run(&["get", "k"]), bulk("w"));
        assert_eq!(h.run(&["set", "n", "v", "nx", "get"]), nil());
        assert_eq!(h.run(&["get", "n"]), bulk("v"));
        assert_eq!(h.run(&["set", "x", "v", "xx", "get"]), nil());
        assert_eq!(h.run(&["exists", "x"]), int(0));
        assert_eq!(h.run(&["set", "k", "v", "GET", "GET"]), bulk("w"));
    }

    #[test]
    fn set_over_other_type() {
        let mut h = Harness::new();
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["set", "h", "v", "get"]), err(WRONG));
        assert_eq!(h.run(&["type", "h"]), status("hash"));
        assert_eq!(h.run(&["set", "h", "v"]), ok());
        assert_eq!(h.run(&["type", "h"]), status("string"));
        // The new incarnation's version differs, so old elements are stale.
        assert_ne!(h.header("h").unwrap().version, 7);
    }

    #[test]
    fn set_expiry_options() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["set", "k", "v", "ex", "10"]), ok());
        assert_eq!(h.run(&["pttl", "k"]), int(10_000));
        assert_eq!(h.run(&["set", "k", "v", "px", "1500"]), ok());
        assert_eq!(h.run(&["pttl", "k"]), int(1500));
        let at = (START_MS / 1000 + 100).to_string();
        assert_eq!(h.run(&["set", "k", "v", "exat", &at]), ok());
        assert_eq!(
            h.run(&["expiretime", "k"]),
            int(START_MS as i64 / 1000 + 100)
        );
        let at = (START_MS + 2500).to_string();
        assert_eq!(h.run(&["set", "k", "v", "pxat", &at]), ok());
        assert_eq!(h.run(&["pexpiretime", "k"]), int(START_MS as i64 + 2500));
        // The last EX wins when repeated.
        assert_eq!(h.run(&["set", "k", "v", "ex", "10", "EX", "20"]), ok());
        assert_eq!(h.run(&["ttl", "k"]), int(20));
        // A plain SET clears the TTL, KEEPTTL keeps it.
        assert_eq!(h.run(&["set", "k", "w", "keepttl"]), ok());
        assert_eq!(h.run(&["ttl", "k"]), int(20));
        assert_eq!(h.run(&["set", "k", "w"]), ok());
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
    }

    #[test]
    fn set_expiry_is_absolute_in_the_mutation() {
        let mut h = Harness::new();
        let exec = h.exec(&["set", "k", "v", "ex", "10"]);
        let [WriteOp::Put(_, raw)] = exec.mutation.ops.as_slice() else {
            panic!("one put expected: {:?}", exec.mutation);
        };
        let (header, payload) = crate::storage::layout::decode_meta(raw).unwrap();
        assert_eq!(header.expire_at_ms, START_MS + 10_000);
        assert_eq!(payload, b"v");
    }

    #[test]
    fn set_keys_expire() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v", "px", "100"]);
        h.now += 100;
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        h.now += 1;
        assert_eq!(h.run(&["get", "k"]), nil());
        assert_eq!(h.run(&["set", "k", "w", "xx"]), nil());
        assert_eq!(h.run(&["set", "k", "w", "nx"]), ok());
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
    }

    #[test]
    fn set_in_the_past_leaves_no_key() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["set", "k", "v", "pxat", "1"]), ok());
        assert_eq!(h.run(&["exists", "k"]), int(0));
        assert!(h.header("k").is_none());
        // Nothing stored before: nothing to delete either.
        assert!(h.exec(&["set", "j", "v", "exat", "1"]).mutation.is_empty());
    }

    #[test]
    fn set_syntax_errors_match_redis() {
        let mut h = Harness::new();
        for args in [
            &["set", "k", "v", "nx", "xx"][..],
            &["set", "k", "v", "xx", "nx"],
            &["set", "k", "v", "ex", "10", "px", "10"],
            &["set", "k", "v", "ex"],
            &["set", "k", "v", "keepttl", "ex", "10"],
            &["set", "k", "v", "ex", "10", "keepttl"],
            &["set", "k", "v", "persist"],
            &["set", "k", "v", "foo"],
            &["set", "k", "v", "exat", "10", "pxat", "10"],
        ] {
            assert_eq!(h.run(args), err(SYNTAX), "{args:?}");
        }
        assert_eq!(h.run(&["exists", "k"]), int(0));
    }

    #[test]
    fn set_expire_value_errors_match_redis() {
        let mut h = Harness::new();
        let invalid = err("ERR invalid expire time in 'set' command");
        assert_eq!(h.run(&["set", "k", "v", "ex", "0"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "ex", "-1"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "ex", "9223372036854775"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "ex", "9223372036854776"]), invalid);
        assert_eq!(
            h.run(&["set", "k", "v", "px", "9223372036854775807"]),
            invalid
        );
        assert_eq!(h.run(&["set", "k", "v", "pxat", "0"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "ex", "abc"]), err(NOT_INTEGER));
        assert_eq!(h.run(&["set", "k", "v", "ex", "+1"]), err(NOT_INTEGER));
        assert_eq!(h.run(&["exists", "k"]), int(0));
        // Huge absolute times are fine.
        assert_eq!(
            h.run(&["set", "k", "v", "pxat", "9223372036854775807"]),
            ok()
        );
        assert_eq!(h.run(&["pexpiretime", "k"]), int(i64::MAX));
    }

    #[test]
    fn set_validates_expiry_before_type() {
        let mut h = Harness::new();
        h.seed_hash("h", 0);
        assert_eq!(
            h.run(&["set", "h", "v", "get", "ex", "0"]),
            err("ERR invalid expire time in 'set' command")
        );
    }

    #[test]
    fn options_compare_like_c_strings() {
        // Redis compares options as C strings: "ex\0x" is EX.
        let mut h = Harness::new();
        assert_eq!(h.run_bytes(&[b"set", b"k", b"v", b"ex\0x", b"10"]), ok());
        assert_eq!(h.run(&["ttl", "k"]), int(10));
    }

    #[test]
    fn setnx_setex_psetex() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["setnx", "k", "v"]), int(1));
        assert_eq!(h.run(&["setnx", "k", "w"]), int(0));
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["setnx", "h", "w"]), int(0));
        assert_eq!(h.run(&["setex", "k", "5", "x"]), ok());
        assert_eq!(h.run(&["get", "k"]), bulk("x"));
        assert_eq!(h.run(&["ttl", "k"]), int(5));
        assert_eq!(h.run(&["psetex", "k", "700", "y"]), ok());
        assert_eq!(h.run(&["pttl", "k"]), int(700));
        assert_eq!(
            h.run(&["setex", "k", "0", "x"]),
            err("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            h.run(&["psetex", "k", "-5", "x"]),
            err("ERR invalid expire time in 'psetex' command")
        );
        assert_eq!(h.run(&["setex", "k", "x", "x"]), err(NOT_INTEGER));
        assert_eq!(h.run(&["get", "k"]), bulk("y"));
    }

    #[test]
    fn getset_and_getdel() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["getset", "k", "v"]), nil());
        h.run(&["expire", "k", "100"]);
        assert_eq!(h.run(&["getset", "k", "w"]), bulk("v"));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["getdel", "k"]), bulk("w"));
        assert_eq!(h.run(&["getdel", "k"]), nil());
        assert!(h.exec(&["getdel", "k"]).mutation.is_empty());
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["getset", "h", "v"]), err(WRONG));
        assert_eq!(h.run(&["getdel", "h"]), err(WRONG));
        assert_eq!(h.run(&["type", "h"]), status("hash"));
    }

    #[test]
    fn getex() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["getex", "k"]), nil());
        h.run(&["set", "k", "v"]);
        let plain = h.exec(&["getex", "k"]);
        assert_eq!(plain.reply, bulk("v"));
        assert!(plain.mutation.is_empty());
        assert_eq!(h.run(&["getex", "k", "px", "100"]), bulk("v"));
        assert_eq!(h.run(&["pttl", "k"]), int(100));
        assert_eq!(h.run(&["getex", "k", "ex", "7"]), bulk("v"));
        assert_eq!(h.run(&["ttl", "k"]), int(7));
        let at = (START_MS + 900).to_string();
        assert_eq!(h.run(&["getex", "k", "pxat", &at]), bulk("v"));
        assert_eq!(h.run(&["pttl", "k"]), int(900));
        assert_eq!(h.run(&["getex", "k", "persist"]), bulk("v"));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        // PERSIST on a key without TTL changes nothing.
        assert!(h
            .exec(&["getex", "k", "persist", "persist"])
            .mutation
            .is_empty());
        // An absolute time already past deletes the key, after replying.
        assert_eq!(h.run(&["getex", "k", "exat", "1"]), bulk("v"));
        assert_eq!(h.run(&["exists", "k"]), int(0));
    }

    #[test]
    fn getex_errors_match_redis() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        for args in [
            &["getex", "k", "persist", "ex", "10"][..],
            &["getex", "k", "ex", "10", "persist"],
            &["getex", "k", "nx"],
            &["getex", "k", "get"],
            &["getex", "k", "keepttl"],
            &["getex", "k", "ex"],
        ] {
            assert_eq!(h.run(args), err(SYNTAX), "{args:?}");
        }
        assert_eq!(
            h.run(&["getex", "k", "ex", "-1"]),
            err("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(h.run(&["getex", "k", "ex", "abc"]), err(NOT_INTEGER));
        // A missing key answers nil before the expiry is checked.
        assert_eq!(h.run(&["getex", "missing", "ex", "-1"]), nil());
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["getex", "h"]), err(WRONG));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
    }

    #[test]
    fn append_and_strlen() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["strlen", "k"]), int(0));
        assert_eq!(h.run(&["append", "k", "abc"]), int(3));
        assert_eq!(h.run(&["append", "k", "def"]), int(6));
        assert_eq!(h.run(&["get", "k"]), bulk("abcdef"));
        assert_eq!(h.run(&["strlen", "k"]), int(6));
        // In place: the TTL survives.
        h.run(&["expire", "k", "100"]);
        assert_eq!(h.run(&["append", "k", "g"]), int(7));
        assert_eq!(h.run(&["ttl", "k"]), int(100));
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["append", "h", "x"]), err(WRONG));
        assert_eq!(h.run(&["strlen", "h"]), err(WRONG));
    }

    #[test]
    fn append_to_expired_key_starts_fresh() {
        let mut h = Harness::new();
        h.run(&["set", "k", "old", "px", "10"]);
        h.now += 11;
        assert_eq!(h.run(&["append", "k", "new"]), int(3));
        assert_eq!(h.run(&["get", "k"]), bulk("new"));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        // An expired hash is no obstacle either.
        h.seed_hash("h", h.now - 1);
        assert_eq!(h.run(&["append", "h", "x"]), int(1));
        assert_eq!(h.run(&["type", "h"]), status("string"));
    }

    #[test]
    fn getrange_matches_redis() {
        let mut h = Harness::new();
        h.run(&["set", "k", "Hello"]);
        let cases = [
            ("0", "-1", "Hello"),
            ("-3", "-1", "llo"),
            ("-1", "-3", ""),
            ("3", "1", ""),
            ("-100", "100", "Hello"),
            ("5", "10", ""),
            ("4", "4", "o"),
            ("-5", "-6", ""),
            ("0", "-100", "H"),
            ("-100", "-100", "H"),
            ("1", "-9223372036854775808", ""),
            ("-9223372036854775808", "2", "Hel"),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                h.run(&["getrange", "k", start, end]),
                bulk(expected),
                "{start} {end}"
            );
        }
        assert_eq!(h.run(&["substr", "k", "0", "1"]), bulk("He"));
        assert_eq!(h.run(&["getrange", "nope", "0", "-1"]), bulk(""));
        h.run(&["set", "e", ""]);
        assert_eq!(h.run(&["getrange", "e", "0", "-1"]), bulk(""));
        assert_eq!(h.run(&["getrange", "e", "-1", "0"]), bulk(""));
        assert_eq!(h.run(&["getrange", "k", "x", "1"]), err(NOT_INTEGER));
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["getrange", "h", "0", "1"]), err(WRONG));
    }

    #[test]
    fn setrange_matches_redis() {
        let mut h = Harness::new();
        h.run(&["set", "k", "Hello"]);
        assert_eq!(h.run(&["setrange", "k", "10", "x"]), int(11));
        assert_eq!(h.run(&["get", "k"]), bulk("Hello\0\0\0\0\0x"));
        assert_eq!(h.run(&["setrange", "k", "1", "EL"]), int(11));
        assert_eq!(h.run(&["getrange", "k", "0", "4"]), bulk("HELlo"));
        // Empty patches write nothing and report the current length.
        let exec = h.exec(&["setrange", "k", "1", ""]);
        assert_eq!(exec.reply, int(11));
        assert!(exec.mutation.is_empty());
        assert_eq!(h.run(&["setrange", "nope", "5", ""]), int(0));
        assert_eq!(h.run(&["exists", "nope"]), int(0));
        assert_eq!(h.run(&["setrange", "new", "2", "ab"]), int(4));
        assert_eq!(h.run(&["get", "new"]), bulk("\0\0ab"));
        assert_eq!(
            h.run(&["setrange", "k", "-1", "x"]),
            err(OFFSET_OUT_OF_RANGE)
        );
        assert_eq!(h.run(&["setrange", "k", "x", "x"]), err(NOT_INTEGER));
        assert_eq!(
            h.run(&["setrange", "k", "536870912", "x"]),
            err(STRING_TOO_LONG)
        );
        assert_eq!(
            h.run(&["setrange", "k", "9223372036854775807", "x"]),
            err(STRING_TOO_LONG)
        );
        // ...but no size check when there is nothing to write.
        assert_eq!(
            h.run(&["setrange", "k", "9223372036854775807", ""]),
            int(11)
        );
        h.run(&["expire", "k", "100"]);
        h.run(&["setrange", "k", "0", "J"]);
        assert_eq!(h.run(&["ttl", "k"]), int(100));
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["setrange", "h", "0", ""]), err(WRONG));
    }

    #[test]
    fn incr_family() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["incr", "n"]), int(1));
        assert_eq!(h.run(&["incrby", "n", "41"]), int(42));
        assert_eq!(h.run(&["decr", "n"]), int(41));
        assert_eq!(h.run(&["decrby", "n", "-9"]), int(50));
        assert_eq!(h.run(&["get", "n"]), bulk("50"));
        assert_eq!(h.run(&["decrby", "m", "5"]), int(-5));
        h.run(&["expire", "n", "100"]);
        assert_eq!(h.run(&["incr", "n"]), int(51));
        assert_eq!(h.run(&["ttl", "n"]), int(100));
    }

    #[test]
    fn incr_errors_match_redis() {
        let mut h = Harness::new();
        for bad in ["abc", "01", "-0", "+1", " 1", "1 ", "1.5", ""] {
            h.run(&["set", "s", bad]);
            assert_eq!(h.run(&["incr", "s"]), err(NOT_INTEGER), "{bad:?}");
            assert_eq!(h.run(&["incrby", "x", bad]), err(NOT_INTEGER), "{bad:?}");
        }
        h.run(&["set", "x", "9223372036854775807"]);
        assert_eq!(h.run(&["incr", "x"]), err(OVERFLOW));
        h.run(&["set", "x", "-9223372036854775808"]);
        assert_eq!(h.run(&["decr", "x"]), err(OVERFLOW));
        assert_eq!(
            h.run(&["decrby", "x", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        h.run(&["set", "x", "10"]);
        assert_eq!(
            h.run(&["incrby", "x", "-9223372036854775808"]),
            int(-9223372036854775798)
        );
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["incr", "h"]), err(WRONG));
        // Failures write nothing.
        assert!(h.exec(&["incr", "h"]).mutation.is_empty());
    }

    #[test]
    fn incrbyfloat() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["incrbyfloat", "f", "10.5"]), bulk("10.5"));
        assert_eq!(h.run(&["incrbyfloat", "f", "0.1"]), bulk("10.6"));
        assert_eq!(h.run(&["get", "f"]), bulk("10.6"));
        assert_eq!(h.run(&["incrbyfloat", "g", "3.0e3"]), bulk("3000"));
        h.run(&["set", "a", "0.1"]);
        assert_eq!(h.run(&["incrbyfloat", "a", "0.2"]), bulk("0.3"));
        h.run(&["expire", "a", "100"]);
        assert_eq!(h.run(&["incrbyfloat", "a", "1"]), bulk("1.3"));
        assert_eq!(h.run(&["ttl", "a"]), int(100));
        h.run(&["set", "i", "5"]);
        assert_eq!(h.run(&["incrbyfloat", "i", "-5"]), bulk("0"));
    }

    #[test]
    fn incrbyfloat_errors_match_redis() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["incrbyfloat", "f", "abc"]), err(NOT_FLOAT));
        assert_eq!(h.run(&["incrbyfloat", "f", "nan"]), err(NOT_FLOAT));
        assert_eq!(h.run(&["incrbyfloat", "f", "1e5000"]), err(NOT_FLOAT));
        assert_eq!(h.run(&["incrbyfloat", "f", "inf"]), err(NAN_OR_INF));
        assert_eq!(h.run(&["exists", "f"]), int(0));
        h.run(&["set", "s", "abc"]);
        assert_eq!(h.run(&["incrbyfloat", "s", "1"]), err(NOT_FLOAT));
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["incrbyfloat", "h", "1"]), err(WRONG));
    }

    #[test]
    fn mget_mset_msetnx() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["mset", "a", "1", "a", "2", "b", "3"]), ok());
        assert_eq!(h.run(&["get", "a"]), bulk("2"));
        h.seed_hash("h", 0);
        assert_eq!(
            h.run(&["mget", "a", "b", "h", "nope", "a"]),
            petrel_common::reply::Reply::Array(vec![bulk("2"), bulk("3"), nil(), nil(), bulk("2")])
        );
        assert_eq!(h.run(&["msetnx", "a", "9", "c", "9"]), int(0));
        assert_eq!(h.run(&["exists", "c"]), int(0));
        assert!(h.exec(&["msetnx", "a", "9", "c", "9"]).mutation.is_empty());
        assert_eq!(h.run(&["msetnx", "c", "4", "d", "5"]), int(1));
        assert_eq!(h.run(&["get", "d"]), bulk("5"));
        // MSET replaces other types and clears TTLs.
        h.run(&["expire", "c", "100"]);
        assert_eq!(h.run(&["mset", "h", "x", "c", "y"]), ok());
        assert_eq!(h.run(&["type", "h"]), status("string"));
        assert_eq!(h.run(&["ttl", "c"]), int(-1));
        assert_eq!(
            h.run(&["mset", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            h.run(&["msetnx", "a"]),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
    }

    #[test]
    fn mset_mutation_has_one_op_per_key() {
        let mut h = Harness::new();
        let exec = h.exec(&["mset", "a", "1", "a", "2"]);
        assert_eq!(exec.mutation.ops.len(), 1);
        h.seed(&"z".repeat(3), KeyType::List, 0);
        assert_eq!(h.run(&["type", "zzz"]), status("list"));
    }
}
