//! ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER and ZSCAN.

use std::ops::Bound;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};
use rand::seq::SliceRandom;
use rand::Rng;

use super::zset::{long_arg, long_in, members_reply, Scored, Zset};
use super::{range, score};
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;

/// `ZPOPMIN key [count]`
pub(crate) fn zpopmin(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    pop_command(db, args, false)
}

/// `ZPOPMAX key [count]`
pub(crate) fn zpopmax(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    pop_command(db, args, true)
}

fn pop_command(db: &mut Db<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    let count = match args.get(2) {
        Some(a) => Some(long_in(
            a,
            0,
            i64::MAX,
            "value is out of range, must be positive",
        )?),
        None => None,
    };
    let Some(mut z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = pop(db, &mut z, max, count.unwrap_or(1))?;
    if count.is_some() {
        return Ok(members_reply(items, true));
    }
    // Without a count Redis answers one flat [member, score] in RESP3 too.
    Ok(Reply::Array(
        items
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(Bytes::from(m)), Reply::Double(s)])
            .collect(),
    ))
}

/// Removes and returns up to `count` members from the low (or high) end.
fn pop(db: &mut Db<'_>, z: &mut Zset<'_>, max: bool, count: i64) -> Result<Vec<Scored>, CmdError> {
    let want = count.min(z.len() as i64) as usize;
    if want == 0 {
        return Ok(Vec::new());
    }
    let mut items = Vec::with_capacity(want.min(1 << 16));
    z.scan(
        db,
        (Bound::Unbounded, Bound::Unbounded),
        max,
        &mut |m, s| {
            items.push((m.to_vec(), s));
            items.len() < want
        },
    )?;
    for (m, s) in &items {
        z.remove(db, m, *s);
    }
    z.save(db);
    z.removed(db, if max { "zpopmax" } else { "zpopmin" });
    Ok(items)
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`
pub(crate) fn zmpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = long_in(&args[1], 1, i64::MAX, "numkeys should be greater than 0")?;
    let where_at = 2usize.saturating_add(numkeys as usize);
    if where_at >= args.len() {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    let max = if is_option(&args[where_at], "min") {
        false
    } else if is_option(&args[where_at], "max") {
        true
    } else {
        return Err(CmdError::reply(errors::SYNTAX));
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count.is_none() && is_option(&args[j], "count") && more > 0 {
            j += 1;
            count = Some(long_in(
                &args[j],
                1,
                i64::MAX,
                "count should be greater than 0",
            )?);
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    for key in &args[2..where_at] {
        let Some(mut z) = Zset::lookup(db, key)? else {
            continue;
        };
        let items = pop(db, &mut z, max, count.unwrap_or(1))?;
        let pairs = items
            .into_iter()
            .map(|(m, s)| Reply::Array(vec![Reply::Bulk(Bytes::from(m)), Reply::Double(s)]))
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(pairs),
        ]));
    }
    Ok(Reply::NilArray)
}

/// `BZPOPMIN key [key ...] timeout`: `[key, member, score]` from the first
/// non-empty sorted set, or the timeout reply (see [`crate::cmd::blocking`]).
pub(crate) fn bzpopmin(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    bzpop(db, args, false)
}

/// `BZPOPMAX key [key ...] timeout`
pub(crate) fn bzpopmax(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    bzpop(db, args, true)
}

fn bzpop(db: &mut Db<'_>, args: &[Bytes], max: bool) -> CmdResult {
    crate::cmd::blocking::parse_timeout(&args[args.len() - 1])?;
    for key in &args[1..args.len() - 1] {
        let Some(mut z) = Zset::lookup(db, key)? else {
            continue;
        };
        if let Some((m, s)) = pop(db, &mut z, max, 1)?.pop() {
            return Ok(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(Bytes::from(m)),
                Reply::Double(s),
            ]));
        }
    }
    Ok(Reply::NilArray)
}

/// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`: ZMPOP
/// after its timeout.
pub(crate) fn bzmpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    crate::cmd::blocking::parse_timeout(&args[1])?;
    let mut rest = Vec::with_capacity(args.len() - 1);
    rest.push(args[0].clone());
    rest.extend_from_slice(&args[2..]);
    zmpop(db, &rest)
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub(crate) fn zrandmember(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() < 3 {
        let Some(z) = Zset::lookup(db, &args[1])? else {
            return Ok(Reply::Nil);
        };
        let rank = rand::thread_rng().gen_range(0..z.len());
        let mut items = range::by_rank(db, &z, rank, rank)?;
        return Ok(items
            .pop()
            .map_or(Reply::Nil, |(m, _)| Reply::Bulk(Bytes::from(m))));
    }
    let l = long_in(
        &args[2],
        -i64::MAX,
        i64::MAX,
        "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    )
    .map_err(|e| match super::super::parse::parse_i64(&args[2]) {
        None => CmdError::reply(errors::NOT_INTEGER),
        Some(_) => e,
    })?;
    let withscores = match args.len() {
        3 => false,
        4 if is_option(&args[3], "withscores") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(CmdError::reply("ERR value is out of range"));
            }
            true
        }
        _ => return Err(CmdError::reply(errors::SYNTAX)),
    };
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let len = z.len();
    let count = l.unsigned_abs();
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut rng = rand::thread_rng();
    if l < 0 || count == 1 {
        // With repetition: draw ranks, read them in one ordered pass.
        let draws: Vec<u64> = (0..count).map(|_| rng.gen_range(0..len)).collect();
        let items = at_ranks(db, &z, &draws)?;
        return Ok(members_reply(items, withscores));
    }
    if count >= len {
        // The whole set, highest first (as Redis 7.0 answers).
        let mut items = range::by_rank(db, &z, 0, len - 1)?;
        items.reverse();
        return Ok(members_reply(items, withscores));
    }
    // Distinct ranks (Floyd's sampling), then a random order.
    let mut chosen = std::collections::BTreeSet::new();
    for j in len - count..len {
        let t = rng.gen_range(0..=j);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut ranks: Vec<u64> = chosen.into_iter().collect();
    ranks.shuffle(&mut rng);
    Ok(members_reply(at_ranks(db, &z, &ranks)?, withscores))
}

/// The members at `ranks` (any order, repeats allowed), in that order.
fn at_ranks(db: &Db<'_>, z: &Zset<'_>, ranks: &[u64]) -> Result<Vec<Scored>, CmdError> {
    let mut order: Vec<usize> = (0..ranks.len()).collect();
    order.sort_by_key(|&i| ranks[i]);
    let mut out: Vec<Option<Scored>> = vec![None; ranks.len()];
    let mut next = 0;
    let mut rank = 0u64;
    z.scan(
        db,
        (Bound::Unbounded, Bound::Unbounded),
        false,
        &mut |m, s| {
            while next < order.len() && ranks[order[next]] == rank {
                out[order[next]] = Some((m.to_vec(), s));
                next += 1;
            }
            rank += 1;
            next < order.len()
        },
    )?;
    Ok(out.into_iter().flatten().collect())
}

/// Sets up to this size answer ZSCAN in one call with cursor 0, in score
/// order, as Redis does for its listpack-encoded (small) sorted sets.
const SCAN_ALL_AT_ONCE: u64 = 128;

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// Larger sets are walked in member order. The cursor holds the first
/// bytes (up to 7) of the next member and their count, so a resumed scan
/// starts at the first member with that prefix: members present for the
/// whole iteration are never missed, a few may come twice.
pub(crate) fn zscan(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2]).ok_or_else(|| CmdError::reply("ERR invalid cursor"))?;
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let mut count = 10i64;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let left = args.len() - i;
        if is_option(&args[i], "count") && left >= 2 {
            count = long_arg(&args[i + 1])?;
            if count < 1 {
                return Err(CmdError::reply(errors::SYNTAX));
            }
            i += 2;
        } else if is_option(&args[i], "match") && left >= 2 {
            let p = &args[i + 1][..];
            pattern = (p != b"*").then_some(p);
            i += 2;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
    }
    let mut items: Vec<Scored> = Vec::new();
    let mut next_cursor = 0u64;
    if z.len() <= SCAN_ALL_AT_ONCE {
        z.scan(
            db,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            &mut |m, s| {
                items.push((m.to_vec(), s));
                true
            },
        )?;
    } else {
        let start = cursor_prefix(cursor);
        z.scan_members(db, &start, &mut |m, s| {
            let prefix = &m[..m.len().min(7)];
            if items.len() as i64 >= count && prefix != start.as_slice() {
                next_cursor = encode_cursor(prefix);
                return false;
            }
            items.push((m.to_vec(), s));
            true
        })?;
    }
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        if pattern.is_some_and(|p| !petrel_common::glob::matches(p, &m, false)) {
            continue;
        }
        out.push(Reply::Bulk(Bytes::from(m)));
        out.push(Reply::Bulk(Bytes::from(score::to_text(s))));
    }
    Ok(scan_reply(next_cursor, out))
}

fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

/// Redis's `parseScanCursorOrReply`: `strtoul` over the whole string.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = digits.parse().ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A cursor for resuming at members starting with `prefix` (<= 7 bytes):
/// the prefix in the high bytes, its length + 1 in the low byte (never 0).
fn encode_cursor(prefix: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..prefix.len()].copy_from_slice(prefix);
    bytes[7] = prefix.len() as u8 + 1;
    u64::from_be_bytes(bytes)
}

/// The member prefix a cursor resumes at (empty for 0 or a foreign cursor).
fn cursor_prefix(cursor: u64) -> Vec<u8> {
    let bytes = cursor.to_be_bytes();
    let len = usize::from(bytes[7].saturating_sub(1)).min(7);
    bytes[..len].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_never_zero() {
        for prefix in [&b""[..], b"a", b"abcdefg", b"\0\0"] {
            let c = encode_cursor(prefix);
            assert_ne!(c, 0);
            assert_eq!(cursor_prefix(c), prefix);
        }
        assert!(cursor_prefix(0).is_empty());
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"x"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
    }
}
