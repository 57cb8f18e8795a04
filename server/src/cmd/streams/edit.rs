//! XDEL and XSETID: deleting entries and setting a stream's ids.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::id::{self, StreamId};
use super::store::Stream;
use crate::cmd::db::Db;
use crate::cmd::events::STREAM;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option};

/// `XDEL key id [id ...]`: each id costs its entry, its node and nothing else.
pub(crate) fn xdel(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(mut stream) = Stream::load(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    // Every id is checked before any entry goes.
    let ids = args[2..]
        .iter()
        .map(|a| id::parse_strict(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deleted = 0i64;
    let mut first_gone = false;
    for id in ids {
        if stream.delete(db, id)? {
            first_gone |= id == stream.first_id;
            stream.max_deleted = stream.max_deleted.max(id);
            deleted += 1;
        }
    }
    if deleted > 0 {
        if stream.len() == 0 {
            stream.first_id = StreamId::MIN;
        } else if first_gone {
            stream.refresh_first_id(db)?;
        }
        stream.save(db);
        db.notify(STREAM, "xdel", &args[1]);
    }
    Ok(Reply::Int(deleted))
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
pub(crate) fn xsetid(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let id = id::parse_strict(&args[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is_option(&args[i], "entriesadded") && more > 0 {
            let n = int_arg(&args[i + 1])?;
            entries_added = Some(
                u64::try_from(n)
                    .map_err(|_| CmdError::reply("ERR entries_added must be positive"))?,
            );
            i += 2;
        } else if is_option(&args[i], "maxdeletedid") && more > 0 {
            max_deleted = id::parse_strict(&args[i + 1])?;
            if id < max_deleted {
                return Err(CmdError::reply(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
    }
    let Some(mut stream) = Stream::load(db, &args[1])? else {
        return Err(CmdError::reply(errors::NO_SUCH_KEY));
    };
    if stream.len() > 0 {
        let top = stream.edge_id(db, true)?.unwrap_or(StreamId::MIN);
        if id < top {
            return Err(CmdError::reply(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| stream.len() > n) {
            return Err(CmdError::reply(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    stream.last_id = id;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if !max_deleted.is_zero() {
        stream.max_deleted = max_deleted;
    }
    stream.save(db);
    db.notify(STREAM, "xsetid", &args[1]);
    Ok(Reply::ok())
}
