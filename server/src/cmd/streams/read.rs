//! XREAD and XREADGROUP, without waiting: a call with BLOCK that finds
//! nothing answers the null array, and the service (`crate::service`) tries
//! it again after each write until its timeout (see `cmd::blocking`).

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::groups::{Consumer, Group, Nack};
use super::id::{self, StreamId};
use super::reply::{c_text, entry_reply, errors_text};
use super::store::Stream;
use crate::cmd::blocking::parse_timeout_ms;
use crate::cmd::db::Db;
use crate::cmd::events::STREAM;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, option};

/// What a call asks for.
struct Request<'a> {
    count: u64,
    noack: bool,
    /// XREADGROUP's group and consumer.
    group: Option<(&'a Bytes, &'a Bytes)>,
    keys: &'a [Bytes],
    ids: &'a [Bytes],
}

fn parse(args: &[Bytes], readgroup: bool) -> Result<Request<'_>, CmdError> {
    let mut count = 0;
    let mut noack = false;
    let mut group = None;
    let mut streams = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i];
        if is_option(o, "block") && more > 0 {
            i += 1;
            parse_timeout_ms(&args[i])?;
        } else if is_option(o, "count") && more > 0 {
            i += 1;
            count = u64::try_from(int_arg(&args[i])?).unwrap_or(0);
        } else if is_option(o, "streams") && more > 0 {
            let rest = &args[i + 1..];
            if !rest.len().is_multiple_of(2) {
                return Err(CmdError::reply(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams = Some(rest.split_at(rest.len() / 2));
            break;
        } else if is_option(o, "group") && more >= 2 {
            if !readgroup {
                return Err(CmdError::reply(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((&args[i + 1], &args[i + 2]));
            i += 2;
        } else if is_option(o, "noack") {
            if !readgroup {
                return Err(CmdError::reply(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        i += 1;
    }
    let Some((keys, ids)) = streams else {
        return Err(CmdError::reply(errors::SYNTAX));
    };
    if readgroup && group.is_none() {
        return Err(CmdError::reply("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(Request {
        count,
        noack,
        group,
        keys,
        ids,
    })
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
pub(crate) fn xread(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    read(db, args, false)
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds]
/// [NOACK] STREAMS key [key ...] id [id ...]`
pub(crate) fn xreadgroup(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    read(db, args, true)
}

/// `>`: the entries no consumer of the group was given yet.
const NEW_ENTRIES: StreamId = StreamId::MAX;

fn read(db: &mut Db<'_>, args: &[Bytes], readgroup: bool) -> CmdResult {
    let req = parse(args, readgroup)?;
    // Every key and id is checked, in order, before anything is read.
    let mut ids = Vec::with_capacity(req.keys.len());
    for (key, arg) in req.keys.iter().zip(req.ids) {
        let stream = Stream::load(db, key)?;
        if let Some((group, _)) = req.group {
            let found = match &stream {
                Some(s) => s.group(db, group)?.is_some(),
                None => false,
            };
            if !found {
                return Err(CmdError::reply(errors_text(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    c_text(key),
                    c_text(group)
                ))));
            }
        }
        let arg = option(arg);
        ids.push(if arg == b"$" {
            if readgroup {
                return Err(CmdError::reply(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            stream.map_or(StreamId::MIN, |s| s.last_id)
        } else if arg == b">" {
            if !readgroup {
                return Err(CmdError::reply(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            NEW_ENTRIES
        } else {
            id::parse_strict(arg)?
        });
    }
    let mut served = Vec::new();
    for (key, after) in req.keys.iter().zip(ids) {
        let Some(mut stream) = Stream::load(db, key)? else {
            continue;
        };
        let entries = match req.group {
            None => {
                if stream.len() == 0 || stream.edge_id(db, true)?.is_none_or(|top| top <= after) {
                    continue;
                }
                let start = after.next().unwrap_or(StreamId::MIN);
                stream
                    .range(db, start, StreamId::MAX, req.count, false)?
                    .into_iter()
                    .map(|(id, pairs)| entry_reply(id, pairs))
                    .collect()
            }
            Some((group_name, consumer_name)) => {
                let Some(mut group) = stream.group(db, group_name)? else {
                    continue;
                };
                let history = after != NEW_ENTRIES;
                if !history
                    && (stream.len() == 0
                        || stream
                            .edge_id(db, true)?
                            .is_none_or(|top| top <= group.last_id))
                {
                    continue;
                }
                let mut consumer = seen_consumer(db, &mut stream, &mut group, consumer_name)?;
                let start = if history { after } else { group.last_id };
                let start = start.next().unwrap_or(StreamId::MIN);
                let entries = if history {
                    history_of(db, &stream, &group, &consumer, start, req.count)?
                } else {
                    deliver(
                        db,
                        &stream,
                        &mut group,
                        &mut consumer,
                        start,
                        req.count,
                        req.noack,
                    )?
                };
                stream.put_consumer(db, group_name, &consumer);
                stream.put_group(db, &group);
                entries
            }
        };
        served.push((Reply::Bulk(key.clone()), Reply::Array(entries)));
    }
    Ok(if served.is_empty() {
        Reply::NilArray
    } else {
        Reply::Keyed(served)
    })
}

/// The consumer `name` of `group`, seen now: created (with its event) when
/// it does not exist yet.
pub(crate) fn seen_consumer(
    db: &mut Db<'_>,
    stream: &mut Stream<'_>,
    group: &mut Group,
    name: &Bytes,
) -> Result<Consumer, CmdError> {
    let now = db.now_ms();
    match stream.consumer(db, &group.name, name)? {
        Some(mut c) => {
            c.seen = now;
            Ok(c)
        }
        None => {
            let c = Consumer {
                name: name.clone(),
                seen: now,
                pending: 0,
            };
            group.consumers += 1;
            stream.put_consumer(db, &group.name, &c);
            db.notify(STREAM, "xgroup-createconsumer", stream.key);
            Ok(c)
        }
    }
}

/// Gives the group's consumer up to `count` (0: all) entries from `start`,
/// moving the group past them and, unless `noack`, making each pending for
/// that consumer (taken from another consumer if one held it).
fn deliver(
    db: &mut Db<'_>,
    stream: &Stream<'_>,
    group: &mut Group,
    consumer: &mut Consumer,
    start: StreamId,
    count: u64,
    noack: bool,
) -> Result<Vec<Reply>, CmdError> {
    let entries = stream.range(db, start, StreamId::MAX, count, false)?;
    let now = db.now_ms();
    let mut out = Vec::with_capacity(entries.len());
    for (id, pairs) in entries {
        stream.advance(group, id);
        out.push(entry_reply(id, pairs));
        if noack {
            continue;
        }
        match stream.nack(db, &group.name, id)? {
            None => {
                group.pending += 1;
                consumer.pending += 1;
                stream.set_owned(db, &group.name, &consumer.name, id, true);
            }
            Some(old) if old.consumer != consumer.name => {
                stream.set_owned(db, &group.name, &old.consumer, id, false);
                if let Some(mut owner) = stream.consumer(db, &group.name, &old.consumer)? {
                    owner.pending = owner.pending.saturating_sub(1);
                    stream.put_consumer(db, &group.name, &owner);
                }
                consumer.pending += 1;
                stream.set_owned(db, &group.name, &consumer.name, id, true);
            }
            Some(_) => {}
        }
        let nack = Nack {
            delivered: now,
            deliveries: 1,
            consumer: consumer.name.clone(),
        };
        stream.put_nack(db, &group.name, id, &nack);
    }
    Ok(out)
}

/// The consumer's own pending entries from `start` (up to `count`, 0: all),
/// each delivered once more; one whose entry is gone comes as its id and a
/// null.
fn history_of(
    db: &mut Db<'_>,
    stream: &Stream<'_>,
    group: &Group,
    consumer: &Consumer,
    start: StreamId,
    count: u64,
) -> Result<Vec<Reply>, CmdError> {
    let ids = stream.owned(db, &group.name, &consumer.name, start, StreamId::MAX, count)?;
    let now = db.now_ms();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match stream.get(db, id)? {
            Some(pairs) => {
                out.push(entry_reply(id, pairs));
                if let Some(mut nack) = stream.nack(db, &group.name, id)? {
                    nack.delivered = now;
                    nack.deliveries += 1;
                    stream.put_nack(db, &group.name, id, &nack);
                }
            }
            None => out.push(Reply::Array(vec![id.reply(), Reply::NilArray])),
        }
    }
    Ok(out)
}
