//! XINFO STREAM [FULL [COUNT count]], XINFO GROUPS and XINFO CONSUMERS
//! (HELP is the proxy's), with Redis 7.0's fields.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::groups::{Group, INVALID_ENTRIES_READ};
use super::id::StreamId;
use super::rax;
use super::reply::{entries_reply, entry_reply, no_group_for_key};
use super::store::Stream;
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option};

fn field(name: &str, value: Reply) -> (Reply, Reply) {
    (Reply::Bulk(Bytes::copy_from_slice(name.as_bytes())), value)
}

fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The stream at `args[2]`, or `ERR no such key`.
fn stream<'k>(db: &Db<'_>, args: &'k [Bytes]) -> Result<Stream<'k>, CmdError> {
    Stream::load(db, &args[2])?.ok_or_else(|| CmdError::reply(errors::NO_SUCH_KEY))
}

/// `XINFO STREAM key [FULL [COUNT count]]`
pub(crate) fn xinfo_stream(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let s = stream(db, args)?;
    let options = &args[3..];
    let full = !options.is_empty();
    let mut count: u64 = 10;
    if full {
        let bad = || CmdError::reply(errors::subcommand_syntax(args));
        if (options.len() != 1 && options.len() != 3) || !is_option(&options[0], "full") {
            return Err(bad());
        }
        if options.len() == 3 {
            if !is_option(&options[1], "count") {
                return Err(bad());
            }
            count = u64::try_from(int_arg(&options[2])?).unwrap_or(10);
        }
    }
    let nodes = rax::nodes(&s.node_keys(db)?);
    let mut out = vec![
        field("length", int(s.len())),
        field("radix-tree-keys", int(s.nodes)),
        field("radix-tree-nodes", int(nodes)),
        field("last-generated-id", s.last_id.reply()),
        field("max-deleted-entry-id", s.max_deleted.reply()),
        field("entries-added", int(s.entries_added)),
        field("recorded-first-entry-id", s.first_id.reply()),
    ];
    if !full {
        let edge = |last: bool| -> Result<Reply, CmdError> {
            Ok(s.range(db, StreamId::MIN, StreamId::MAX, 1, last)?
                .pop()
                .map_or(Reply::Nil, |(id, pairs)| entry_reply(id, pairs)))
        };
        out.push(field("groups", int(s.groups)));
        out.push(field("first-entry", edge(false)?));
        out.push(field("last-entry", edge(true)?));
        return Ok(Reply::Map(out));
    }
    let entries = s.range(db, StreamId::MIN, StreamId::MAX, count, false)?;
    out.push(field("entries", entries_reply(entries)));
    let mut groups = Vec::new();
    for group in s.all_groups(db)? {
        groups.push(full_group(db, &s, &group, count)?);
    }
    out.push(field("groups", Reply::Array(groups)));
    Ok(Reply::Map(out))
}

/// One group of XINFO STREAM FULL: its counters, up to `count` (0: all)
/// pending entries, and its consumers with up to `count` of theirs.
fn full_group(db: &Db<'_>, s: &Stream<'_>, group: &Group, count: u64) -> CmdResult {
    let mut pending = Vec::new();
    s.scan_pending(
        db,
        &group.name,
        StreamId::MIN,
        StreamId::MAX,
        &mut |id, nack| {
            pending.push(Reply::Array(vec![
                id.reply(),
                Reply::Bulk(nack.consumer),
                int(nack.delivered),
                int(nack.deliveries),
            ]));
            count == 0 || (pending.len() as u64) < count
        },
    )?;
    let mut consumers = Vec::new();
    for c in s.all_consumers(db, &group.name)? {
        let mut own = Vec::new();
        for id in s.owned(
            db,
            &group.name,
            &c.name,
            StreamId::MIN,
            StreamId::MAX,
            count,
        )? {
            if let Some(nack) = s.nack(db, &group.name, id)? {
                own.push(Reply::Array(vec![
                    id.reply(),
                    int(nack.delivered),
                    int(nack.deliveries),
                ]));
            }
        }
        consumers.push(Reply::Map(vec![
            field("name", Reply::Bulk(c.name)),
            field("seen-time", int(c.seen)),
            field("pel-count", int(c.pending)),
            field("pending", Reply::Array(own)),
        ]));
    }
    Ok(Reply::Map(vec![
        field("name", Reply::Bulk(group.name.clone())),
        field("last-delivered-id", group.last_id.reply()),
        field("entries-read", entries_read(group)),
        field("lag", s.lag(group).map_or(Reply::Nil, Reply::Int)),
        field("pel-count", int(group.pending)),
        field("pending", Reply::Array(pending)),
        field("consumers", Reply::Array(consumers)),
    ]))
}

fn entries_read(group: &Group) -> Reply {
    if group.entries_read == INVALID_ENTRIES_READ {
        Reply::Nil
    } else {
        Reply::Int(group.entries_read)
    }
}

/// `XINFO GROUPS key`
pub(crate) fn xinfo_groups(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let s = stream(db, args)?;
    let groups = s
        .all_groups(db)?
        .into_iter()
        .map(|g| {
            Reply::Map(vec![
                field("name", Reply::Bulk(g.name.clone())),
                field("consumers", int(g.consumers)),
                field("pending", int(g.pending)),
                field("last-delivered-id", g.last_id.reply()),
                field("entries-read", entries_read(&g)),
                field("lag", s.lag(&g).map_or(Reply::Nil, Reply::Int)),
            ])
        })
        .collect();
    Ok(Reply::Array(groups))
}

/// `XINFO CONSUMERS key group`
pub(crate) fn xinfo_consumers(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let s = stream(db, args)?;
    let Some(group) = s.group(db, &args[3])? else {
        return Err(no_group_for_key(&args[2], &args[3]));
    };
    let now = db.now_i64();
    let consumers = s
        .all_consumers(db, &group.name)?
        .into_iter()
        .map(|c| {
            let idle = now.saturating_sub(i64::try_from(c.seen).unwrap_or(i64::MAX));
            Reply::Map(vec![
                field("name", Reply::Bulk(c.name)),
                field("pending", int(c.pending)),
                field("idle", Reply::Int(idle.max(0))),
            ])
        })
        .collect();
    Ok(Reply::Array(consumers))
}
