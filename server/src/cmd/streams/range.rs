//! XRANGE, XREVRANGE and XLEN.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::id;
use super::reply::entries_reply;
use super::store::Stream;
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option};

/// `XRANGE key start end [COUNT count]`
pub(crate) fn xrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range(db, args, false)
}

/// `XREVRANGE key end start [COUNT count]`
pub(crate) fn xrevrange(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    range(db, args, true)
}

fn range(db: &mut Db<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = id::range_start(start_arg)?;
    let end = id::range_end(end_arg)?;
    // -1: no COUNT.
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is_option(&args[j], "count") && j + 1 < args.len() {
            count = int_arg(&args[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
    }
    let Some(stream) = Stream::load(db, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let limit = u64::try_from(count).unwrap_or(0);
    Ok(entries_reply(stream.range(db, start, end, limit, rev)?))
}

/// `XLEN key`
pub(crate) fn xlen(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let len = Stream::load(db, &args[1])?.map_or(0, |s| s.len());
    Ok(Reply::Int(i64::try_from(len).unwrap_or(i64::MAX)))
}
