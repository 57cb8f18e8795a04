//! XACK and XPENDING: acknowledging and listing a group's pending entries.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::groups::Group;
use super::id::{self, StreamId};
use super::reply::no_group;
use super::store::Stream;
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option};

/// The stream at `key` and its group `group`, or `None` when either is
/// missing; WRONGTYPE for another type.
pub(crate) fn stream_and_group<'k>(
    db: &Db<'_>,
    key: &'k [u8],
    group: &[u8],
) -> Result<Option<(Stream<'k>, Group)>, CmdError> {
    let Some(stream) = Stream::load(db, key)? else {
        return Ok(None);
    };
    Ok(stream.group(db, group)?.map(|g| (stream, g)))
}

/// `XACK key group id [id ...]`: one pending entry costs its two records
/// and its owner's count.
pub(crate) fn xack(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some((stream, mut group)) = stream_and_group(db, &args[1], &args[2])? else {
        return Ok(Reply::Int(0));
    };
    let ids = args[3..]
        .iter()
        .map(|a| id::parse_strict(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acked = 0;
    for id in ids {
        if let Some(nack) = stream.nack(db, &group.name, id)? {
            stream.drop_nack(db, &mut group, id, &nack)?;
            acked += 1;
        }
    }
    if acked > 0 {
        stream.put_group(db, &group);
    }
    Ok(Reply::Int(acked))
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
pub(crate) fn xpending(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    let mut extended = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is_option(&args[3], "idle") {
            min_idle = int_arg(&args[4])?;
            if argc < 8 {
                return Err(CmdError::reply(errors::SYNTAX));
            }
            at += 2;
        }
        let count = u64::try_from(int_arg(&args[at + 2])?).unwrap_or(0);
        let start = id::range_start(&args[at])?;
        let end = id::range_end(&args[at + 1])?;
        extended = Some((min_idle, start, end, count, args.get(at + 3)));
    }
    let Some((stream, group)) = stream_and_group(db, &args[1], &args[2])? else {
        return Err(no_group(&args[1], &args[2]));
    };
    let Some((min_idle, start, end, count, consumer)) = extended else {
        return summary(db, &stream, &group);
    };
    let now = db.now_i64();
    let idle_of = |delivered: u64| now.saturating_sub(i64::try_from(delivered).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    let row = |id: StreamId, owner: &Bytes, delivered: u64, deliveries: u64| {
        Reply::Array(vec![
            id.reply(),
            Reply::Bulk(owner.clone()),
            Reply::Int(idle_of(delivered).max(0)),
            Reply::Int(i64::try_from(deliveries).unwrap_or(i64::MAX)),
        ])
    };
    let wanted = |delivered: u64| min_idle == 0 || idle_of(delivered) >= min_idle;
    if count == 0 {
        return Ok(Reply::Array(out));
    }
    match consumer {
        Some(name) => {
            if stream.consumer(db, &group.name, name)?.is_none() {
                return Ok(Reply::Array(Vec::new()));
            }
            // The consumer's own index, then each entry's record.
            let mut from = start;
            'pages: loop {
                let page = stream.owned(db, &group.name, name, from, end, 256)?;
                let full = page.len() == 256;
                for id in &page {
                    let Some(nack) = stream.nack(db, &group.name, *id)? else {
                        continue;
                    };
                    if wanted(nack.delivered) {
                        out.push(row(*id, &nack.consumer, nack.delivered, nack.deliveries));
                        if out.len() as u64 == count {
                            break 'pages;
                        }
                    }
                }
                match page.last().and_then(|id| id.next()) {
                    Some(next) if full => from = next,
                    _ => break,
                }
            }
        }
        None => {
            stream.scan_pending(db, &group.name, start, end, &mut |id, nack| {
                if wanted(nack.delivered) {
                    out.push(row(id, &nack.consumer, nack.delivered, nack.deliveries));
                }
                (out.len() as u64) < count
            })?;
        }
    }
    Ok(Reply::Array(out))
}

/// XPENDING's summary: how many, the first and last ids, and each
/// consumer's count.
fn summary(db: &Db<'_>, stream: &Stream<'_>, group: &Group) -> CmdResult {
    let total = Reply::Int(i64::try_from(group.pending).unwrap_or(i64::MAX));
    if group.pending == 0 {
        return Ok(Reply::Array(vec![
            total,
            Reply::Nil,
            Reply::Nil,
            Reply::NilArray,
        ]));
    }
    let first = stream.pending_edge(db, &group.name, false)?;
    let last = stream.pending_edge(db, &group.name, true)?;
    let owners = stream
        .all_consumers(db, &group.name)?
        .into_iter()
        .filter(|c| c.pending > 0)
        .map(|c| {
            Reply::Array(vec![
                Reply::Bulk(c.name),
                Reply::Bulk(Bytes::from(c.pending.to_string())),
            ])
        })
        .collect();
    let id_or_nil = |id: Option<StreamId>| id.map_or(Reply::Nil, StreamId::reply);
    Ok(Reply::Array(vec![
        total,
        id_or_nil(first),
        id_or_nil(last),
        Reply::Array(owners),
    ]))
}
