//! Stream commands (XADD ... XINFO), with Redis 7.0's replies and errors.
//!
//! # Layout
//!
//! A stream is its metadata record plus element records under the key's
//! version, kinds told apart by their first byte so they never interleave:
//!
//! ```text
//! metadata  type=stream | expire | version | size = entries (XLEN) | payload:
//!           format 1 | last-id | first-id | max-deleted-id | entries-added u64
//!           | nodes u64 | tail node id | groups u64          (ids: ms u64 BE, seq u64 BE)
//! c + len u32 + group + consumer     -> seen-time u64 | pending u64
//! e + id                             -> entry: count u32, then (len u32, bytes) per field and value
//! g + group                          -> last-delivered-id | entries-read i64 (-1: unknown)
//!                                       | consumers u64 | pending u64
//! n + master id                      -> node: live u64 | deleted u64 | body bytes u64
//!                                       | last id | master fields (count u32, then len u32 + bytes)
//! p + len u32 + group + id           -> pending entry: delivery-time u64 | deliveries u64 | consumer
//! q + len u32 + group + len u32 + consumer + id -> empty (the consumer's own pending ids)
//! ```
//!
//! Ids are 16 big-endian bytes, so entries, nodes and pending entries sort
//! by id and a range is one bounded scan. A group's records share a prefix
//! that names it with its length, so deleting a group is a few range
//! deletes; its consumers sort by name, as Redis lists them.
//!
//! **Nodes.** Redis keeps entries in radix-tree nodes of up to
//! `stream-node-max-entries` (100) entries or `stream-node-max-bytes`
//! (4096) bytes, and that shape shows: `~` trimming removes whole nodes
//! only, and XINFO reports the nodes. Each `n` record stands for one node,
//! with the counters and byte size Redis's listpack would have
//! ([`listpack`]), so entries start new nodes where Redis's do, and `~`
//! trimming removes the same entries. The payload holds the tail node's id,
//! so XADD reads one node record; XDEL finds an entry's node with one
//! bounded reverse scan.
//!
//! **Costs.** XADD touches the metadata, the tail node and the new entry
//! (plus, when trimming, one range delete per whole node removed); XDEL,
//! XACK and XCLAIM of one id a fixed number of records; XRANGE, XREAD,
//! XREADGROUP and XPENDING one bounded scan; XGROUP DESTROY and DEL are
//! range deletes. XINFO STREAM reads every node record (for Redis's
//! `radix-tree-nodes`, [`rax`]): one per hundred entries or so.
//!
//! # Modules
//!
//! - [`id`]: entry ids and their parsing; [`codec`]: record bytes;
//!   [`reply`]: entries as Redis replies them.
//! - [`store`]: the stream, its entries and nodes; [`listpack`], [`rax`]:
//!   the sizes Redis's structures would have.
//! - [`groups`]: groups, consumers and pending entries; [`lag`]: a group's
//!   read counter and lag.
//! - [`add`] (XADD, XTRIM) with [`trim`]; [`range`] (XRANGE, XREVRANGE,
//!   XLEN); [`edit`] (XDEL, XSETID); [`read`] (XREAD, XREADGROUP);
//!   [`xgroup`] (XGROUP); [`pending`] (XACK, XPENDING); [`claim`] (XCLAIM,
//!   XAUTOCLAIM); [`info`] (XINFO); [`serial`]: a whole stream to and
//!   from Redis's serialization (DUMP, RESTORE).

mod add;
mod claim;
mod codec;
mod edit;
mod groups;
mod id;
mod info;
mod lag;
mod listpack;
mod pending;
mod range;
mod rax;
mod read;
mod reply;
mod serial;
mod store;
mod trim;
mod xgroup;

#[cfg(test)]
mod tests;

use super::runner::{run, Runner};
pub(crate) use serial::{load_rdb, store_rdb};

/// The stream family, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("xadd", add::xadd),
    run("xtrim", add::xtrim),
    run("xrange", range::xrange),
    run("xrevrange", range::xrevrange),
    run("xlen", range::xlen),
    run("xdel", edit::xdel),
    run("xsetid", edit::xsetid),
    run("xread", read::xread),
    run("xreadgroup", read::xreadgroup),
    run("xack", pending::xack),
    run("xpending", pending::xpending),
    run("xclaim", claim::xclaim),
    run("xautoclaim", claim::xautoclaim),
    run("xgroup|create", xgroup::create),
    run("xgroup|setid", xgroup::setid),
    run("xgroup|destroy", xgroup::destroy),
    run("xgroup|createconsumer", xgroup::createconsumer),
    run("xgroup|delconsumer", xgroup::delconsumer),
    run("xinfo|stream", info::xinfo_stream),
    run("xinfo|groups", info::xinfo_groups),
    run("xinfo|consumers", info::xinfo_consumers),
];
