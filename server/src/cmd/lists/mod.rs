//! List commands (LPUSH ... LMPOP, the non-blocking ones), with Redis 7.0's
//! replies and error texts.
//!
//! # Layout
//!
//! A list is its metadata record plus one element record per item:
//!
//! ```text
//! metadata  type=list | expire | version | size | head u64 BE | tail u64 BE
//! element   position u64 BE  ->  item
//! ```
//!
//! The items are at positions `head..tail` (tail exclusive), index `i` at
//! `head + i`, and `size` is always `tail - head`. A position is an i64
//! biased by 2^63 (so big-endian bytes sort in list order): a new list
//! starts with `head = tail = 2^63`; LPUSH writes at `head - 1`, RPUSH at
//! `tail`. Hence:
//!
//! - LPUSH/RPUSH/LPOP/RPOP write one element record per item pushed or
//!   popped, plus the metadata; LINDEX is one point read and LSET one put;
//!   LLEN reads only the metadata; LRANGE and LPOS are one bounded scan.
//! - LTRIM deletes exactly the items it cuts off (no read).
//! - LINSERT and LREM shift the items on the shorter side of the change
//!   (Redis is O(N) there too) and move `head` or `tail`.
//! - Every removed item's record is deleted, even when the list empties and
//!   its key goes (which also range-deletes its version's elements): the
//!   list may have been created earlier in the same transaction, when no
//!   stored version exists for a range delete to cover.
//!
//! # For the blocking variants
//!
//! [`pop_from`], [`mpop`] and [`move_item`] are the whole non-blocking
//! work of LPOP/RPOP, LMPOP and LMOVE on keys that hold items, returning
//! `None` where a blocking variant would wait (no key of the list holds
//! items). BLPOP/BRPOP, BLMPOP and BLMOVE/BRPOPLPUSH can call them once
//! woken, with the same results and the same mutation shape.

mod store;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::db::Db;
use super::events::{GENERIC, LIST};
use super::outcome::{CmdError, CmdResult};
use super::parse::{int_arg, is_option, parse_i64};
use super::runner::{run, Runner};
pub(crate) use store::End;
use store::List;

/// Every item of the list at `key`, head first (DUMP); `WRONGTYPE` if
/// `key` holds another type.
pub(crate) fn all_items(db: &Db<'_>, key: &[u8]) -> Result<Option<Vec<Bytes>>, CmdError> {
    let Some(list) = store::load(db, key)? else {
        return Ok(None);
    };
    Ok(Some(store::read_range(
        db,
        key,
        &list,
        0,
        list.len() - 1,
        false,
    )?))
}

/// Stores `items` (not empty) at `key` as a new list expiring at
/// `expire_at_ms` (0: never), for RESTORE: whatever `key` held must be
/// deleted first.
pub(crate) fn store_items(
    db: &mut Db<'_>,
    key: &[u8],
    items: &[Bytes],
    expire_at_ms: u64,
) -> Result<(), CmdError> {
    let mut list = store::load_or_new(db, key)?;
    for item in items {
        store::push(db, key, &mut list, End::Right, item)?;
    }
    list.entry.header.expire_at_ms = expire_at_ms;
    store::save(db, key, &mut list);
    Ok(())
}

/// Replaces whatever `key` holds with a new list of `items` (not empty),
/// without expiry (SORT ... STORE).
pub(crate) fn replace_with_items(
    db: &mut Db<'_>,
    key: &[u8],
    items: &[Bytes],
) -> Result<(), CmdError> {
    let mut list = store::fresh(db, key)?;
    for item in items {
        store::push(db, key, &mut list, End::Right, item)?;
    }
    store::save(db, key, &mut list);
    Ok(())
}

/// The list family.
pub(crate) static COMMANDS: &[Runner] = &[
    run("lpush", lpush),
    run("rpush", rpush),
    run("lpushx", lpushx),
    run("rpushx", rpushx),
    run("lpop", lpop),
    run("rpop", rpop),
    run("llen", llen),
    run("lrange", lrange),
    run("lindex", lindex),
    run("lset", lset),
    run("lrem", lrem),
    run("ltrim", ltrim),
    run("linsert", linsert),
    run("lpos", lpos),
    run("lmove", lmove),
    run("rpoplpush", rpoplpush),
    run("lmpop", lmpop),
];

/// `ERR value is out of range, must be positive` (LPOP/RPOP count).
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
/// LPOS RANK 0.
/// LPOS's RANK out of Redis 7.2's range (`getRangeLongFromObjectOrReply`).
const RANK_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from \
                         the second ... or use negative to start from the end of the list";
const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";

fn syntax_error() -> CmdError {
    CmdError::reply(errors::SYNTAX)
}

fn bulk_array(items: Vec<Bytes>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

/// A non-negative integer argument; `text` for anything else (Redis's
/// `getPositiveLongFromObjectOrReply` with a message uses it for both).
fn non_negative(arg: &Bytes, text: &str) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(CmdError::reply(text)),
    }
}

/// An integer of `[1, i64::MAX]`; `text` for anything else.
fn positive(arg: &Bytes, text: &str) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(CmdError::reply(text)),
    }
}

/// Redis's `start`/`end` pair over a list of `len` items: the inclusive
/// index range it covers, or `None` when it covers nothing.
fn index_range(start: i64, end: i64, len: u64) -> Option<(u64, u64)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    // Both are in 0..len now.
    Some((start as u64, end as u64))
}

/// A Redis index (negative counts from the tail) as an index `< len`.
fn resolve_index(index: i64, len: u64) -> Option<u64> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let index = if index < 0 { len + index } else { index };
    (0..len).contains(&index).then_some(index as u64)
}

// ---------------------------------------------------------------------------
// Reusable operations (the blocking variants' building blocks).

/// Pushes `values` at `end` of the list at `key`, creating it unless
/// `only_existing` (LPUSHX/RPUSHX). The new length, or `None` when
/// `only_existing` and there is no list.
pub(crate) fn push_values(
    db: &mut Db<'_>,
    key: &[u8],
    end: End,
    values: &[Bytes],
    only_existing: bool,
) -> Result<Option<u64>, CmdError> {
    let mut list = if only_existing {
        match store::load(db, key)? {
            Some(list) => list,
            None => return Ok(None),
        }
    } else {
        store::load_or_new(db, key)?
    };
    for value in values {
        store::push(db, key, &mut list, end, value)?;
    }
    store::save(db, key, &mut list);
    db.notify(LIST, push_event(end), key);
    Ok(Some(list.len()))
}

/// The event of a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// The events of a pop from `end` of the list at `key`, now `list`: the
/// pop's, then `del` when it emptied the list.
fn popped(db: &mut Db<'_>, key: &[u8], end: End, list: &List) {
    let name = match end {
        End::Left => "lpop",
        End::Right => "rpop",
    };
    db.notify(LIST, name, key);
    if list.is_empty() {
        db.notify(GENERIC, "del", key);
    }
}

/// Pops up to `count` items from `end` of the list at `key`: `None` when
/// there is no list (a blocking pop would wait), the items in pop order
/// otherwise. `WRONGTYPE` when `key` holds another type.
pub(crate) fn pop_from(
    db: &mut Db<'_>,
    key: &[u8],
    end: End,
    count: u64,
) -> Result<Option<Vec<Bytes>>, CmdError> {
    let Some(mut list) = store::load(db, key)? else {
        return Ok(None);
    };
    if list.is_empty() {
        return Ok(None);
    }
    let items = store::pop(db, key, &mut list, end, count)?;
    store::save(db, key, &mut list);
    popped(db, key, end, &list);
    Ok(Some(items))
}

/// LMPOP's work: pops up to `count` items from `end` of the first of
/// `keys` that holds a list. `None` when none does; `WRONGTYPE` when a key
/// before that one holds another type.
pub(crate) fn mpop(
    db: &mut Db<'_>,
    keys: &[Bytes],
    end: End,
    count: u64,
) -> Result<Option<(Bytes, Vec<Bytes>)>, CmdError> {
    for key in keys {
        if let Some(items) = pop_from(db, key, end, count)? {
            return Ok(Some((key.clone(), items)));
        }
    }
    Ok(None)
}

/// LMOVE's work: pops one item from `from` of `source` and pushes it at
/// `to` of `destination`; `None` when `source` holds no list. Checks
/// `destination`'s type before anything changes.
pub(crate) fn move_item(
    db: &mut Db<'_>,
    source: &[u8],
    destination: &[u8],
    from: End,
    to: End,
) -> Result<Option<Bytes>, CmdError> {
    let Some(mut src) = store::load(db, source)? else {
        return Ok(None);
    };
    if src.is_empty() {
        return Ok(None);
    }
    if source == destination {
        // A rotation: one item from one end to the other, or nothing at all.
        let index = match from {
            End::Left => 0,
            End::Right => src.len() - 1,
        };
        // Redis pops and pushes back even when that changes nothing.
        db.notify(LIST, push_event(to), source);
        popped(db, source, from, &src);
        if from == to || src.len() == 1 {
            return Ok(Some(store::get(db, source, &src, index)?));
        }
        let mut items = store::pop(db, source, &mut src, from, 1)?;
        let item = items.pop().unwrap_or_default();
        store::push(db, source, &mut src, to, &item)?;
        store::save(db, source, &mut src);
        return Ok(Some(item));
    }
    let mut dst = store::load_or_new(db, destination)?;
    let mut items = store::pop(db, source, &mut src, from, 1)?;
    let item = items.pop().unwrap_or_default();
    store::save(db, source, &mut src);
    store::push(db, destination, &mut dst, to, &item)?;
    store::save(db, destination, &mut dst);
    // Redis's order: the push (after `new`), then the pop.
    db.notify(LIST, push_event(to), destination);
    popped(db, source, from, &src);
    Ok(Some(item))
}

// ---------------------------------------------------------------------------
// Commands.

fn push_command(db: &mut Db<'_>, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    match push_values(db, &args[1], end, &args[2..], only_existing)? {
        Some(len) => Ok(Reply::Int(len as i64)),
        None => Ok(Reply::Int(0)),
    }
}

/// `LPUSH key element [element ...]`
pub(crate) fn lpush(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    push_command(db, args, End::Left, false)
}

/// `RPUSH key element [element ...]`
pub(crate) fn rpush(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    push_command(db, args, End::Right, false)
}

/// `LPUSHX key element [element ...]`
pub(crate) fn lpushx(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    push_command(db, args, End::Left, true)
}

/// `RPUSHX key element [element ...]`
pub(crate) fn rpushx(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    push_command(db, args, End::Right, true)
}

fn pop_command(db: &mut Db<'_>, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        let name = if end == End::Left { "lpop" } else { "rpop" };
        return Err(CmdError::reply(errors::wrong_arity(name)));
    }
    // The count is checked before the key, as Redis does.
    let count = match args.get(2) {
        Some(arg) => Some(non_negative(arg, MUST_BE_POSITIVE)?),
        None => None,
    };
    let key = &args[1];
    let Some(count) = count else {
        return Ok(match pop_from(db, key, end, 1)? {
            Some(mut items) => items.pop().map_or(Reply::Nil, Reply::Bulk),
            None => Reply::Nil,
        });
    };
    if count == 0 {
        // Redis answers before popping: nil for no key, else an empty array.
        return Ok(match store::load(db, key)? {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::NilArray,
        });
    }
    Ok(match pop_from(db, key, end, count as u64)? {
        Some(items) => bulk_array(items),
        None => Reply::NilArray,
    })
}

/// `LPOP key [count]`
pub(crate) fn lpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    pop_command(db, args, End::Left)
}

/// `RPOP key [count]`
pub(crate) fn rpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    pop_command(db, args, End::Right)
}

/// `LLEN key`
pub(crate) fn llen(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let len = store::load(db, &args[1])?.map_or(0, |l| l.len());
    Ok(Reply::Int(len as i64))
}

/// `LRANGE key start stop`
pub(crate) fn lrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let start = int_arg(&args[2])?;
    let stop = int_arg(&args[3])?;
    let key = &args[1];
    let Some(list) = store::load(db, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Some((first, last)) = index_range(start, stop, list.len()) else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(bulk_array(store::read_range(
        db, key, &list, first, last, false,
    )?))
}

/// `LINDEX key index`
pub(crate) fn lindex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    // Redis looks the key up before it parses the index.
    let Some(list) = store::load(db, key)? else {
        return Ok(Reply::Nil);
    };
    let index = int_arg(&args[2])?;
    match resolve_index(index, list.len()) {
        Some(i) => Ok(Reply::Bulk(store::get(db, key, &list, i)?)),
        None => Ok(Reply::Nil),
    }
}

/// `LSET key index element`
pub(crate) fn lset(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some(list) = store::load(db, key)? else {
        return Err(CmdError::reply(errors::NO_SUCH_KEY));
    };
    let index = int_arg(&args[2])?;
    let Some(i) = resolve_index(index, list.len()) else {
        return Err(CmdError::reply(INDEX_OUT_OF_RANGE));
    };
    store::set(db, key, &list, i, &args[3]);
    db.notify(LIST, "lset", key);
    Ok(Reply::ok())
}

/// Rewrites the items at indexes `from..from + old.len()` so that they are
/// `new` placed at index `at` onwards (positions relative to the current
/// `head`), skipping positions whose item does not change. `old` is what
/// is stored there now.
fn rewrite(
    db: &mut Db<'_>,
    key: &[u8],
    list: &List,
    old_from: u64,
    old: &[Bytes],
    new_from: u64,
    new: &[Bytes],
) {
    let version = list.version();
    for (i, item) in new.iter().enumerate() {
        // Index relative to the current head (may be just below 0 before
        // the head moves: wrapping arithmetic keeps the position right).
        let idx = new_from.wrapping_add(i as u64);
        let unchanged = idx
            .checked_sub(old_from)
            .and_then(|o| old.get(o as usize))
            .is_some_and(|was| was == item);
        if !unchanged {
            let pos = list.head.wrapping_add(idx);
            db.put_element(key, version, &store::element(pos), item);
        }
    }
}

/// `LREM key count element`
pub(crate) fn lrem(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let count = int_arg(&args[2])?;
    let key = &args[1];
    let target = &args[3];
    let Some(mut list) = store::load(db, key)? else {
        return Ok(Reply::Int(0));
    };
    let len = list.len();
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut removed: Vec<u64> = Vec::new();
    store::scan(db, key, &list, 0, len - 1, count < 0, &mut |i, v| {
        if v == target.as_ref() {
            removed.push(i);
        }
        (removed.len() as u64) < limit
    })?;
    if removed.is_empty() {
        return Ok(Reply::Int(0));
    }
    removed.sort_unstable();
    let k = removed.len() as u64;
    let (lowest, highest) = (removed[0], removed[removed.len() - 1]);
    if k == len {
        store::drop_items(db, key, &mut list, End::Left, len);
    } else if highest < len - lowest {
        // Shift the head side right: indexes 0..=highest keep their
        // survivors, packed at k..=highest; the head moves k places.
        let old = store::read_range(db, key, &list, 0, highest, false)?;
        let survivors = keep_survivors(&old, 0, &removed);
        rewrite(db, key, &list, 0, &old, k, &survivors);
        store::drop_items(db, key, &mut list, End::Left, k);
    } else {
        // Shift the tail side left: survivors of lowest..len packed at lowest..
        let old = store::read_range(db, key, &list, lowest, len - 1, false)?;
        let survivors = keep_survivors(&old, lowest, &removed);
        rewrite(db, key, &list, lowest, &old, lowest, &survivors);
        store::drop_items(db, key, &mut list, End::Right, k);
    }
    store::save(db, key, &mut list);
    db.notify(LIST, "lrem", key);
    if list.is_empty() {
        db.notify(GENERIC, "del", key);
    }
    Ok(Reply::Int(k as i64))
}

/// The items of `old` (indexes `from..`) that are not in `removed` (sorted).
fn keep_survivors(old: &[Bytes], from: u64, removed: &[u64]) -> Vec<Bytes> {
    old.iter()
        .enumerate()
        .filter(|(i, _)| removed.binary_search(&(from + *i as u64)).is_err())
        .map(|(_, v)| v.clone())
        .collect()
}

/// `LTRIM key start stop`
pub(crate) fn ltrim(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let start = int_arg(&args[2])?;
    let stop = int_arg(&args[3])?;
    let key = &args[1];
    let Some(mut list) = store::load(db, key)? else {
        return Ok(Reply::ok());
    };
    let len = list.len();
    let (cut_left, cut_right) = match index_range(start, stop, len) {
        Some((first, last)) => (first, len - 1 - last),
        None => (len, 0),
    };
    if cut_left > 0 || cut_right > 0 {
        store::drop_items(db, key, &mut list, End::Left, cut_left);
        store::drop_items(db, key, &mut list, End::Right, cut_right);
        store::save(db, key, &mut list);
    }
    // Redis raises it even when nothing was cut.
    db.notify(LIST, "ltrim", key);
    if list.is_empty() {
        db.notify(GENERIC, "del", key);
    }
    Ok(Reply::ok())
}

/// `LINSERT key BEFORE|AFTER pivot element`
pub(crate) fn linsert(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let after = if is_option(&args[2], "after") {
        true
    } else if is_option(&args[2], "before") {
        false
    } else {
        return Err(syntax_error());
    };
    let key = &args[1];
    let Some(mut list) = store::load(db, key)? else {
        return Ok(Reply::Int(0));
    };
    let (pivot, item) = (&args[3], &args[4]);
    let len = list.len();
    let mut found = None;
    store::scan(db, key, &list, 0, len - 1, false, &mut |i, v| {
        if v == pivot.as_ref() {
            found = Some(i);
            return false;
        }
        true
    })?;
    let Some(pivot_index) = found else {
        return Ok(Reply::Int(-1));
    };
    // The new item's index once inserted.
    let at = if after { pivot_index + 1 } else { pivot_index };
    if at <= len - at {
        // Items 0..at move one place left, the new one goes at at - 1.
        let mut moved = if at > 0 {
            store::read_range(db, key, &list, 0, at - 1, false)?
        } else {
            Vec::new()
        };
        let old = moved.clone();
        moved.push(item.clone());
        rewrite(db, key, &list, 0, &old, u64::MAX, &moved);
        list.head -= 1;
    } else {
        // Items at..len move one place right, the new one goes at at.
        let old = store::read_range(db, key, &list, at, len - 1, false)?;
        let mut moved = Vec::with_capacity(old.len() + 1);
        moved.push(item.clone());
        moved.extend(old.iter().cloned());
        rewrite(db, key, &list, at, &old, at, &moved);
        list.tail += 1;
    }
    store::save(db, key, &mut list);
    db.notify(LIST, "linsert", key);
    Ok(Reply::Int(list.len() as i64))
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
pub(crate) fn lpos(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        if is_option(opt, "rank") && more {
            j += 1;
            rank = int_arg(&args[j])?;
            // Redis 7.2's range: -LONG_MIN has no positive counterpart
            // (7.0 took it and counted every match).
            if rank == i64::MIN {
                return Err(CmdError::reply(RANK_RANGE));
            }
            if rank == 0 {
                return Err(CmdError::reply(RANK_ZERO));
            }
        } else if is_option(opt, "count") && more {
            j += 1;
            count = Some(non_negative(&args[j], COUNT_NEGATIVE)?);
        } else if is_option(opt, "maxlen") && more {
            j += 1;
            maxlen = non_negative(&args[j], MAXLEN_NEGATIVE)?;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    // A negative rank counts matches from the tail.
    let from_tail = rank < 0;
    if from_tail {
        rank = -rank;
    }
    let key = &args[1];
    let Some(list) = store::load(db, key)? else {
        return Ok(match count {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Nil,
        });
    };
    let target = &args[2];
    let len = list.len();
    // MAXLEN bounds the scan: only the first `maxlen` items from its start.
    let span = if maxlen == 0 {
        len
    } else {
        len.min(maxlen as u64)
    };
    let (first, last) = if from_tail {
        (len - span, len - 1)
    } else {
        (0, span - 1)
    };
    let mut matches: i64 = 0;
    let mut found: Vec<Reply> = Vec::new();
    let mut first_match = None;
    store::scan(db, key, &list, first, last, from_tail, &mut |i, v| {
        if v != target.as_ref() {
            return true;
        }
        matches += 1;
        if matches < rank {
            return true;
        }
        match count {
            Some(count) => {
                found.push(Reply::Int(i as i64));
                let taken = matches.wrapping_sub(rank).wrapping_add(1);
                !(count != 0 && taken >= count)
            }
            None => {
                first_match = Some(i);
                false
            }
        }
    })?;
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => first_match.map_or(Reply::Nil, |i| Reply::Int(i as i64)),
    })
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
pub(crate) fn lmove(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3]).ok_or_else(syntax_error)?;
    let to = End::parse(&args[4]).ok_or_else(syntax_error)?;
    Ok(move_item(db, &args[1], &args[2], from, to)?.map_or(Reply::Nil, Reply::Bulk))
}

/// `RPOPLPUSH source destination`
pub(crate) fn rpoplpush(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(move_item(db, &args[1], &args[2], End::Right, End::Left)?.map_or(Reply::Nil, Reply::Bulk))
}

/// LMPOP's (and a future BLMPOP's) arguments from the `numkeys` at `at`:
/// the keys, the end and the count.
pub(crate) fn parse_mpop(args: &[Bytes], at: usize) -> Result<(&[Bytes], End, u64), CmdError> {
    let numkeys = positive(&args[at], NUMKEYS_NOT_POSITIVE)? as u64;
    let where_at = (at as u64).saturating_add(numkeys).saturating_add(1);
    if where_at >= args.len() as u64 {
        return Err(syntax_error());
    }
    let where_at = where_at as usize;
    let end = End::parse(&args[where_at]).ok_or_else(syntax_error)?;
    let mut count: Option<i64> = None;
    let mut j = where_at + 1;
    while j < args.len() {
        let more = j + 1 < args.len();
        if count.is_none() && is_option(&args[j], "count") && more {
            j += 1;
            count = Some(positive(&args[j], COUNT_NOT_POSITIVE)?);
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok((&args[at + 1..where_at], end, count.unwrap_or(1) as u64))
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub(crate) fn lmpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = parse_mpop(args, 1)?;
    Ok(match mpop(db, keys, end, count)? {
        Some((key, items)) => Reply::Array(vec![Reply::Bulk(key), bulk_array(items)]),
        None => Reply::NilArray,
    })
}
