//! XGROUP CREATE, SETID, DESTROY, CREATECONSUMER and DELCONSUMER (HELP is
//! the proxy's).

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::groups::{Consumer, Group, INVALID_ENTRIES_READ};
use super::id::{self, StreamId};
use super::reply::no_group_for_key;
use super::store::Stream;
use crate::cmd::db::Db;
use crate::cmd::events::STREAM;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, option};

/// Which subcommand runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sub {
    Create,
    SetId,
    Destroy,
    CreateConsumer,
    DelConsumer,
}

/// The stream and group a subcommand works on, after Redis's checks.
struct Target<'k> {
    stream: Option<Stream<'k>>,
    group: Option<Group>,
    entries_read: i64,
}

fn subcommand_error(args: &[Bytes]) -> CmdError {
    CmdError::reply(errors::subcommand_syntax(args))
}

/// Parses the options (from argument 5) and finds the key and group, with
/// Redis's errors in Redis's order.
fn target<'k>(db: &Db<'_>, args: &'k [Bytes], sub: Sub) -> Result<Target<'k>, CmdError> {
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < args.len() {
        if sub == Sub::Create && is_option(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if matches!(sub, Sub::Create | Sub::SetId)
            && is_option(&args[i], "entriesread")
            && i + 1 < args.len()
        {
            entries_read = int_arg(&args[i + 1])?;
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Err(CmdError::reply(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(subcommand_error(args));
        }
    }
    let (key, name) = (&args[2], &args[3]);
    let stream = Stream::load(db, key)?;
    let group = match &stream {
        Some(s) => s.group(db, name)?,
        None => None,
    };
    if !mkstream {
        if stream.is_none() {
            return Err(CmdError::reply(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        if group.is_none() && matches!(sub, Sub::SetId | Sub::CreateConsumer | Sub::DelConsumer) {
            return Err(no_group_for_key(key, name));
        }
    }
    Ok(Target {
        stream,
        group,
        entries_read,
    })
}

/// `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]`
pub(crate) fn create(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let t = target(db, args, Sub::Create)?;
    if args.len() > 8 {
        return Err(subcommand_error(args));
    }
    let id = if option(&args[4]) == b"$" {
        t.stream.as_ref().map_or(StreamId::MIN, |s| s.last_id)
    } else {
        id::parse_strict(&args[4])?
    };
    let mut stream = match t.stream {
        Some(s) => s,
        None => {
            let mut s = Stream::create(db, &args[2])?;
            s.save(db);
            s
        }
    };
    if t.group.is_some() {
        return Err(CmdError::reply(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    stream.put_group(
        db,
        &Group {
            name: args[3].clone(),
            last_id: id,
            entries_read: t.entries_read,
            consumers: 0,
            pending: 0,
        },
    );
    stream.groups += 1;
    stream.save(db);
    db.notify(STREAM, "xgroup-create", &args[2]);
    Ok(Reply::ok())
}

/// `XGROUP SETID key group id|$ [ENTRIESREAD entries-read]`
pub(crate) fn setid(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let t = target(db, args, Sub::SetId)?;
    if args.len() != 5 && args.len() != 7 {
        return Err(subcommand_error(args));
    }
    let (Some(stream), Some(mut group)) = (t.stream, t.group) else {
        return Err(subcommand_error(args));
    };
    group.last_id = if option(&args[4]) == b"$" {
        stream.last_id
    } else {
        id::parse_loose(&args[4], 0)?
    };
    group.entries_read = t.entries_read;
    stream.put_group(db, &group);
    db.notify(STREAM, "xgroup-setid", &args[2]);
    Ok(Reply::ok())
}

/// `XGROUP DESTROY key group`: O(1), whatever the group holds.
pub(crate) fn destroy(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let t = target(db, args, Sub::Destroy)?;
    let (Some(mut stream), Some(group)) = (t.stream, t.group) else {
        return Ok(Reply::Int(0));
    };
    stream.delete_group(db, &group.name);
    stream.save(db);
    db.notify(STREAM, "xgroup-destroy", &args[2]);
    Ok(Reply::Int(1))
}

/// The stream, group and named consumer (`args[4]`, if it exists) of
/// CREATECONSUMER and DELCONSUMER.
fn consumer_target<'k>(
    db: &Db<'_>,
    args: &'k [Bytes],
    sub: Sub,
) -> Result<(Stream<'k>, Group, bool), CmdError> {
    let t = target(db, args, sub)?;
    let (Some(stream), Some(group)) = (t.stream, t.group) else {
        return Err(subcommand_error(args));
    };
    let exists = stream.consumer(db, &group.name, &args[4])?.is_some();
    Ok((stream, group, exists))
}

/// `XGROUP CREATECONSUMER key group consumer`
pub(crate) fn createconsumer(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (stream, mut group, exists) = consumer_target(db, args, Sub::CreateConsumer)?;
    if exists {
        return Ok(Reply::Int(0));
    }
    let consumer = Consumer {
        name: args[4].clone(),
        seen: db.now_ms(),
        pending: 0,
    };
    stream.put_consumer(db, &group.name, &consumer);
    group.consumers += 1;
    stream.put_group(db, &group);
    db.notify(STREAM, "xgroup-createconsumer", &args[2]);
    Ok(Reply::Int(1))
}

/// `XGROUP DELCONSUMER key group consumer`: the entries the consumer
/// still had pending leave the group's PEL with it.
pub(crate) fn delconsumer(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (stream, mut group, exists) = consumer_target(db, args, Sub::DelConsumer)?;
    if !exists {
        return Ok(Reply::Int(0));
    }
    let pending = stream.delete_consumer(db, &mut group, &args[4])?;
    stream.put_group(db, &group);
    db.notify(STREAM, "xgroup-delconsumer", &args[2]);
    Ok(Reply::Int(i64::try_from(pending).unwrap_or(i64::MAX)))
}
