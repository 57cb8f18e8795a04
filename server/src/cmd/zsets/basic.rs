//! ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::zset::Zset;
use super::{range, score};
use crate::cmd::db::Db;
use crate::cmd::events::ZSET;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;

/// ZADD's flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What [`add`] did to one member.
enum Added {
    New(f64),
    Updated(f64),
    /// Unchanged, but counted as processed (same score).
    Same(f64),
    /// Skipped by NX, XX, GT or LT.
    Nop,
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
pub(crate) fn zadd(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut flags = AddFlags::default();
    let mut at = 2;
    while at < args.len() {
        let opt = &args[at];
        if is_option(opt, "nx") {
            flags.nx = true;
        } else if is_option(opt, "xx") {
            flags.xx = true;
        } else if is_option(opt, "ch") {
            flags.ch = true;
        } else if is_option(opt, "incr") {
            flags.incr = true;
        } else if is_option(opt, "gt") {
            flags.gt = true;
        } else if is_option(opt, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        at += 1;
    }
    let pairs = &args[at..];
    if pairs.is_empty() || pairs.len() % 2 == 1 {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    if flags.nx && flags.xx {
        return Err(CmdError::reply(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CmdError::reply(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && pairs.len() > 2 {
        return Err(CmdError::reply(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    let mut members = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        scores.push(score::parse(&pair[0]).ok_or_else(|| CmdError::reply(errors::NOT_FLOAT))?);
        members.push(pair[1].clone());
    }
    run_add(db, &args[1], flags, &members, &scores)
}

/// ZADD's options that GEOADD accepts.
#[derive(Default, Clone, Copy)]
pub(crate) struct AddOptions {
    pub(crate) nx: bool,
    pub(crate) xx: bool,
    pub(crate) ch: bool,
}

/// Adds `members` at `scores` exactly as ZADD does (reply, `zadd` event):
/// GEOADD is ZADD with scores computed from coordinates.
pub(crate) fn add_members(
    db: &mut Db<'_>,
    key: &[u8],
    options: AddOptions,
    members: &[Bytes],
    scores: &[f64],
) -> CmdResult {
    let flags = AddFlags {
        nx: options.nx,
        xx: options.xx,
        ch: options.ch,
        ..AddFlags::default()
    };
    run_add(db, key, flags, members, scores)
}

/// `ZINCRBY key increment member`
pub(crate) fn zincrby(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let increment = score::parse(&args[2]).ok_or_else(|| CmdError::reply(errors::NOT_FLOAT))?;
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    run_add(db, &args[1], flags, &args[3..4], &[increment])
}

fn run_add(
    db: &mut Db<'_>,
    key: &[u8],
    flags: AddFlags,
    members: &[Bytes],
    scores: &[f64],
) -> CmdResult {
    let nothing = || {
        if flags.incr {
            Reply::Nil
        } else {
            Reply::Int(0)
        }
    };
    let mut z = match Zset::lookup(db, key)? {
        Some(z) => z,
        None if flags.xx => return Ok(nothing()),
        None => Zset::lookup_or_new(db, key)?,
    };
    let size_before = z.len();
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut failure = None;
    for (member, &s) in members.iter().zip(scores) {
        match add(db, &mut z, member, s, flags)? {
            Ok(Added::New(v)) => {
                added += 1;
                processed += 1;
                last = v;
            }
            Ok(Added::Updated(v)) => {
                updated += 1;
                processed += 1;
                last = v;
            }
            Ok(Added::Same(v)) => {
                processed += 1;
                last = v;
            }
            Ok(Added::Nop) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if z.len() != size_before || size_before == 0 {
        z.save(db);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if added + updated > 0 {
        db.notify(ZSET, if flags.incr { "zincr" } else { "zadd" }, key);
    }
    Ok(if flags.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else if flags.ch {
        Reply::Int(added + updated)
    } else {
        Reply::Int(added)
    })
}

/// Redis's `zsetAdd` for one member.
fn add(
    db: &mut Db<'_>,
    z: &mut Zset<'_>,
    member: &[u8],
    mut s: f64,
    flags: AddFlags,
) -> Result<Result<Added, CmdError>, CmdError> {
    let nan = || CmdError::reply("ERR resulting score is not a number (NaN)");
    match z.score(db, member)? {
        Some(current) => {
            if flags.nx {
                return Ok(Ok(Added::Nop));
            }
            if flags.incr {
                s += current;
                if s.is_nan() {
                    return Ok(Err(nan()));
                }
            }
            if (flags.lt && s >= current) || (flags.gt && s <= current) {
                return Ok(Ok(Added::Nop));
            }
            if s != current {
                z.rescore(db, member, current, s);
                Ok(Ok(Added::Updated(s)))
            } else {
                Ok(Ok(Added::Same(s)))
            }
        }
        None if flags.xx => Ok(Ok(Added::Nop)),
        None => {
            z.insert(db, member, s);
            Ok(Ok(Added::New(s)))
        }
    }
}

/// `ZREM key member [member ...]`
pub(crate) fn zrem(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(mut z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for member in &args[2..] {
        if let Some(s) = z.score(db, member)? {
            z.remove(db, member, s);
            deleted += 1;
        }
    }
    if deleted > 0 {
        z.save(db);
        z.removed(db, "zrem");
    }
    Ok(Reply::Int(deleted))
}

/// `ZSCORE key member`
pub(crate) fn zscore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(z.score(db, &args[2])?.map_or(Reply::Nil, Reply::Double))
}

/// `ZMSCORE key member [member ...]`
pub(crate) fn zmscore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let z = Zset::lookup(db, &args[1])?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        let s = match &z {
            Some(z) => z.score(db, member)?,
            None => None,
        };
        out.push(s.map_or(Reply::Nil, Reply::Double));
    }
    Ok(Reply::Array(out))
}

/// `ZCARD key`
pub(crate) fn zcard(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let len = Zset::lookup(db, &args[1])?.map_or(0, |z| z.len());
    Ok(Reply::Int(len as i64))
}

/// `ZRANK key member [WITHSCORE]` (WITHSCORE: Redis 7.2)
pub(crate) fn zrank(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    rank(db, args, false)
}

/// `ZREVRANK key member [WITHSCORE]` (WITHSCORE: Redis 7.2)
pub(crate) fn zrevrank(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    rank(db, args, true)
}

fn rank(db: &mut Db<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    let with_score = match args.get(3) {
        _ if args.len() > 4 => {
            let name = if reverse { "zrevrank" } else { "zrank" };
            return Err(CmdError::reply(errors::wrong_arity(name)));
        }
        None => false,
        Some(opt) if is_option(opt, "withscore") => true,
        Some(_) => return Err(CmdError::reply(errors::SYNTAX)),
    };
    let missing = if with_score {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(missing);
    };
    let Some(s) = z.score(db, &args[2])? else {
        return Ok(missing);
    };
    let r = range::rank_of(db, &z, &args[2], s)?;
    let r = Reply::Int((if reverse { z.len() - 1 - r } else { r }) as i64);
    Ok(if with_score {
        Reply::Array(vec![r, Reply::Double(s)])
    } else {
        r
    })
}
