//! Trimming (XTRIM, and XADD's MAXLEN/MINID options), node by node from
//! the head as Redis's `streamTrim` does: whole nodes go with one range
//! delete of their entries; `~` stops at the first node it cannot remove
//! whole; an exact trim then deletes entries one by one inside that node.

use bytes::Bytes;
use petrel_common::reply::errors;

use super::id::{self, IdRules, StreamId};
use super::listpack::NODE_MAX_ENTRIES;
use super::store::{entry_element, Stream};
use crate::cmd::db::Db;
use crate::cmd::outcome::CmdError;
use crate::cmd::parse::{int_arg, is_option, option};
use crate::storage::StorageError;

/// What to trim to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

/// The trimming options of XADD and XTRIM, and XADD's own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrimArgs {
    pub(crate) strategy: Strategy,
    /// `~`: only whole nodes.
    pub(crate) approx: bool,
    /// At most this many entries (0: no limit).
    pub(crate) limit: u64,
    /// XADD: the id argument, if not `*`, and whether its sequence was given.
    pub(crate) id: Option<(StreamId, bool)>,
    /// XADD NOMKSTREAM.
    pub(crate) no_mkstream: bool,
    /// XADD: where the id argument is (the fields follow it).
    pub(crate) id_at: usize,
}

fn reply(text: &str) -> CmdError {
    CmdError::reply(text)
}

const BOTH: &str = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";

/// Parses the options of XADD (`xadd`) or XTRIM from argument 2 on, with
/// Redis's order of checks and texts (`streamParseAddOrTrimArgsOrReply`).
pub(crate) fn parse(args: &[Bytes], xadd: bool) -> Result<TrimArgs, CmdError> {
    let mut out = TrimArgs {
        strategy: Strategy::None,
        approx: false,
        limit: 0,
        id: None,
        no_mkstream: false,
        id_at: args.len(),
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && option(opt) == b"*" {
            out.id_at = i;
            break;
        } else if (is_option(opt, "maxlen") || is_option(opt, "minid")) && more > 0 {
            if out.strategy != Strategy::None {
                return Err(reply(BOTH));
            }
            out.approx = false;
            let next = option(&args[i + 1]);
            if more >= 2 && (next == b"~" || next == b"=") {
                out.approx = next == b"~";
                i += 1;
            }
            let value = &args[i + 1];
            out.strategy = if is_option(opt, "maxlen") {
                let n = int_arg(value)?;
                let n =
                    u64::try_from(n).map_err(|_| reply("ERR The MAXLEN argument must be >= 0."))?;
                Strategy::MaxLen(n)
            } else {
                Strategy::MinId(id::parse_strict(value)?)
            };
            i += 1;
        } else if is_option(opt, "limit") && more > 0 {
            let n = int_arg(&args[i + 1])?;
            out.limit =
                u64::try_from(n).map_err(|_| reply("ERR The LIMIT argument must be >= 0."))?;
            limit_given = true;
            i += 1;
        } else if xadd && is_option(opt, "nomkstream") {
            out.no_mkstream = true;
        } else if xadd {
            let rules = IdRules {
                auto_seq: true,
                ..IdRules::STRICT
            };
            out.id = Some(id::parse_with(opt, rules)?);
            out.id_at = i;
            break;
        } else {
            return Err(reply(errors::SYNTAX));
        }
        i += 1;
    }
    if out.limit != 0 && out.strategy == Strategy::None {
        return Err(reply(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && out.strategy == Strategy::None {
        return Err(reply(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !out.approx {
            return Err(reply(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if out.approx {
        // At most 100 nodes' worth of work, as Redis caps it.
        out.limit = (100 * NODE_MAX_ENTRIES).clamp(1, 1_000_000);
    }
    Ok(out)
}

/// Trims `stream` by `args` as Redis does; the number of entries removed.
pub(crate) fn trim(
    db: &mut Db<'_>,
    stream: &mut Stream<'_>,
    args: &TrimArgs,
) -> Result<u64, StorageError> {
    if args.strategy == Strategy::None {
        return Ok(0);
    }
    let mut deleted = 0u64;
    let mut after = None;
    while let Some(mut node) = stream.next_node(db, after)? {
        after = Some(node.master);
        if let Strategy::MaxLen(max) = args.strategy {
            if stream.len() <= max {
                break;
            }
        }
        let entries = node.count;
        if args.limit != 0 && deleted + entries > args.limit {
            break;
        }
        let whole = match args.strategy {
            Strategy::MaxLen(max) => stream.len().saturating_sub(entries) >= max,
            Strategy::MinId(min) => node.last < min,
            Strategy::None => false,
        };
        if whole {
            stream.drop_entries_of(db, &node);
            stream.remove_node(db, &node)?;
            stream.entry.header.size = stream.len().saturating_sub(entries);
            deleted += entries;
            continue;
        }
        if args.approx {
            break;
        }
        // Delete entries from the head of this node until the goal is met.
        let mut doomed = Vec::new();
        let mut length = stream.len();
        stream.scan(db, node.master, node.last, false, &mut |id, _| {
            let stop = match args.strategy {
                Strategy::MaxLen(max) => length <= max,
                Strategy::MinId(min) => id >= min,
                Strategy::None => true,
            };
            if !stop {
                doomed.push(id);
                length = length.saturating_sub(1);
            }
            !stop
        })?;
        for id in &doomed {
            db.delete_element(stream.key, stream.version(), &entry_element(*id));
        }
        let n = doomed.len() as u64;
        node.count = node.count.saturating_sub(n);
        node.deleted += n;
        stream.entry.header.size = stream.len().saturating_sub(n);
        stream.put_node(db, &node);
        deleted += n;
        break;
    }
    if stream.len() == 0 {
        stream.first_id = StreamId::MIN;
    } else if deleted > 0 {
        stream.refresh_first_id(db)?;
    }
    Ok(deleted)
}
