//! XADD and XTRIM.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::id::StreamId;
use super::listpack::LISTPACK_MAX_SIZE;
use super::store::Stream;
use super::trim::{self, Strategy};
use crate::cmd::db::Db;
use crate::cmd::events::STREAM;
use crate::cmd::outcome::{CmdError, CmdResult};

const TOO_LARGE: &str = "ERR Elements are too large to be stored";

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]
/// *|id field value [field value ...]`
pub(crate) fn xadd(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let parsed = trim::parse(args, true)?;
    let fields_at = parsed.id_at + 1;
    let pairs = args.get(fields_at..).unwrap_or_default();
    if pairs.len() < 2 || pairs.len() % 2 == 1 {
        return Err(CmdError::reply(errors::wrong_arity("xadd")));
    }
    if let Some((id, true)) = parsed.id {
        if id.is_zero() {
            return Err(CmdError::reply(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let mut stream = match Stream::load(db, key)? {
        Some(s) => s,
        None if parsed.no_mkstream => return Ok(Reply::Nil),
        None => Stream::create(db, key)?,
    };
    if stream.last_id == StreamId::MAX {
        return Err(CmdError::reply(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match parsed.id {
        Some((id, true)) => id,
        Some((id, false)) if id.ms == stream.last_id.ms => match stream.last_id.next() {
            Some(next) if stream.last_id.seq < u64::MAX => next,
            // Redis fails here without saying why, and its reply reads as
            // if the entry were too large.
            _ => return Err(CmdError::reply(TOO_LARGE)),
        },
        Some((id, false)) => id,
        None if db.now_ms() > stream.last_id.ms => StreamId::new(db.now_ms(), 0),
        None => stream.last_id.next().unwrap_or(StreamId::MIN),
    };
    if id <= stream.last_id {
        return Err(CmdError::reply(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        ));
    }
    if pairs.iter().map(|p| p.len() as u64).sum::<u64>() > LISTPACK_MAX_SIZE {
        return Err(CmdError::reply(TOO_LARGE));
    }
    stream.append(db, id, pairs)?;
    // Saved before its event: a new key raises `new` first, as in Redis.
    stream.save(db);
    db.notify(STREAM, "xadd", key);
    if parsed.strategy != Strategy::None && trim::trim(db, &mut stream, &parsed)? > 0 {
        stream.save(db);
        db.notify(STREAM, "xtrim", key);
    }
    Ok(id.reply())
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
pub(crate) fn xtrim(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let parsed = trim::parse(args, false)?;
    let Some(mut stream) = Stream::load(db, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let deleted = trim::trim(db, &mut stream, &parsed)?;
    if deleted > 0 {
        stream.save(db);
        db.notify(STREAM, "xtrim", &args[1]);
    }
    Ok(Reply::Int(i64::try_from(deleted).unwrap_or(i64::MAX)))
}
