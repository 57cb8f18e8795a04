//! ZRANGE and its older forms, ZRANGESTORE, ZCOUNT, ZLEXCOUNT and the
//! ZREMRANGEBY* commands.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::range::{self, LexRange, ScoreRange, NOT_FLOAT_RANGE, NOT_LEX_RANGE};
use super::zset::{long_arg, members_reply, store, Scored, Zset};
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;

/// How a range is given.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Not fixed by the command name: ZRANGE's BYSCORE/BYLEX decide.
    Auto,
    Rank,
    Score,
    Lex,
}

/// The range a ZRANGE-like command asked for, parsed.
enum Parsed {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub(crate) fn zrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 1, None, Kind::Auto, None)
}

/// `ZREVRANGE key start stop [WITHSCORES]`
pub(crate) fn zrevrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 1, None, Kind::Rank, Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub(crate) fn zrangebyscore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 1, None, Kind::Score, Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub(crate) fn zrevrangebyscore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 1, None, Kind::Score, Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub(crate) fn zrangebylex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 1, None, Kind::Lex, Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub(crate) fn zrevrangebylex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 1, None, Kind::Lex, Some(true))
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`
pub(crate) fn zrangestore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range_generic(db, args, 2, Some(&args[1]), Kind::Auto, None)
}

/// Redis's `zrangeGenericCommand`: `args[at]` is the source key, the two
/// after it the range; `dst` makes it store instead of reply.
fn range_generic(
    db: &mut Db<'_>,
    args: &[Bytes],
    at: usize,
    dst: Option<&Bytes>,
    mut kind: Kind,
    mut reverse: Option<bool>,
) -> CmdResult {
    let key = &args[at];
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = at + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if dst.is_none() && is_option(a, "withscores") {
            withscores = true;
        } else if is_option(a, "limit") && left >= 2 {
            offset = long_arg(&args[j + 1])?;
            limit = long_arg(&args[j + 2])?;
            j += 2;
        } else if reverse.is_none() && is_option(a, "rev") {
            reverse = Some(true);
        } else if kind == Kind::Auto && is_option(a, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && is_option(a, "byscore") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::reply(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::reply(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (&args[at + 1], &args[at + 2]);
    if reverse && kind != Kind::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let parsed = match kind {
        Kind::Score => Parsed::Score(
            ScoreRange::parse(lo, hi).ok_or_else(|| CmdError::reply(NOT_FLOAT_RANGE))?,
        ),
        Kind::Lex => {
            Parsed::Lex(LexRange::parse(lo, hi).ok_or_else(|| CmdError::reply(NOT_LEX_RANGE))?)
        }
        _ => Parsed::Rank(long_arg(lo)?, long_arg(hi)?),
    };
    let items = match Zset::lookup(db, key)? {
        None => Vec::new(),
        Some(z) => select(db, &z, &parsed, reverse, offset, limit)?,
    };
    match dst {
        Some(dst) => Ok(Reply::Int(store(db, dst, &items, "zrangestore")? as i64)),
        None => Ok(members_reply(items, withscores)),
    }
}

/// The members a parsed range selects, in reply order.
fn select(
    db: &Db<'_>,
    z: &Zset<'_>,
    parsed: &Parsed,
    reverse: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<Scored>, CmdError> {
    let len = z.len() as i64;
    match parsed {
        Parsed::Rank(start, end) => {
            let Some((start, end)) = clamp_ranks(*start, *end, len) else {
                return Ok(Vec::new());
            };
            if reverse {
                let mut items =
                    range::by_rank(db, z, (len - 1 - end) as u64, (len - 1 - start) as u64)?;
                items.reverse();
                Ok(items)
            } else {
                Ok(range::by_rank(db, z, start as u64, end as u64)?)
            }
        }
        Parsed::Score(_) | Parsed::Lex(_) => {
            // Redis skips `offset` members: a negative one skips them all.
            if offset < 0 || (offset > 0 && offset >= len) {
                return Ok(Vec::new());
            }
            let mut skip = offset;
            let mut items = Vec::new();
            let mut visit = |m: &[u8], s: f64| {
                if skip > 0 {
                    skip -= 1;
                    return true;
                }
                if limit >= 0 && items.len() as i64 >= limit {
                    return false;
                }
                items.push((m.to_vec(), s));
                limit < 0 || (items.len() as i64) < limit
            };
            match parsed {
                Parsed::Score(r) => r.scan(db, z, reverse, &mut visit)?,
                Parsed::Lex(r) => r.scan(db, z, reverse, &mut visit)?,
                Parsed::Rank(..) => unreachable!("handled above"),
            }
            Ok(items)
        }
    }
}

/// Redis's index sanitising: negative counts from the end; `None` when the
/// range is empty. The result satisfies `0 <= start <= end < len`.
fn clamp_ranks(mut start: i64, mut end: i64, len: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    Some((start, end.min(len - 1)))
}

/// `ZCOUNT key min max`
pub(crate) fn zcount(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let r =
        ScoreRange::parse(&args[2], &args[3]).ok_or_else(|| CmdError::reply(NOT_FLOAT_RANGE))?;
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0i64;
    r.scan(db, &z, false, &mut |_, _| {
        n += 1;
        true
    })?;
    Ok(Reply::Int(n))
}

/// `ZLEXCOUNT key min max`
pub(crate) fn zlexcount(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3]).ok_or_else(|| CmdError::reply(NOT_LEX_RANGE))?;
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0i64;
    r.scan(db, &z, false, &mut |_, _| {
        n += 1;
        true
    })?;
    Ok(Reply::Int(n))
}

/// `ZREMRANGEBYRANK key start stop`
pub(crate) fn zremrangebyrank(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let start = long_arg(&args[2])?;
    let end = long_arg(&args[3])?;
    remove_range(db, &args[1], Parsed::Rank(start, end))
}

/// `ZREMRANGEBYSCORE key min max`
pub(crate) fn zremrangebyscore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let r =
        ScoreRange::parse(&args[2], &args[3]).ok_or_else(|| CmdError::reply(NOT_FLOAT_RANGE))?;
    remove_range(db, &args[1], Parsed::Score(r))
}

/// `ZREMRANGEBYLEX key min max`
pub(crate) fn zremrangebylex(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3]).ok_or_else(|| CmdError::reply(NOT_LEX_RANGE))?;
    remove_range(db, &args[1], Parsed::Lex(r))
}

fn remove_range(db: &mut Db<'_>, key: &[u8], parsed: Parsed) -> CmdResult {
    let Some(mut z) = Zset::lookup(db, key)? else {
        return Ok(Reply::Int(0));
    };
    let doomed = select(db, &z, &parsed, false, 0, -1)?;
    for (member, s) in &doomed {
        z.remove(db, member, *s);
    }
    if !doomed.is_empty() {
        z.save(db);
        let event = match parsed {
            Parsed::Rank(..) => "zremrangebyrank",
            Parsed::Score(_) => "zremrangebyscore",
            Parsed::Lex(_) => "zremrangebylex",
        };
        z.removed(db, event);
    }
    Ok(Reply::Int(doomed.len() as i64))
}
