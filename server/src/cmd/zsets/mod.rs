//! Sorted-set commands, with the score order kept by the storage engine.
//!
//! # Layout
//!
//! A sorted set is a metadata record (type `zset`, `size` = member count)
//! plus two element families under the key's version, told apart by their
//! first byte:
//!
//! - `b'm' + member` -> the score, 8 bytes ([`score::encode`]): point
//!   lookups by member (ZSCORE, ZADD, ZREM).
//! - `b's' + score::encode(score) + member` -> empty: the set in Redis's
//!   order (score, then member bytes). The encoding's byte order is numeric
//!   order, so score ranges are bounded scans of this family, forwards or
//!   backwards; the lowest and highest scores are its first and last records.
//!
//! Scores are stored with -0 as 0 (Redis 7.0's listpack does the same).
//! Adding, rescoring or removing one member touches two or three element
//! records and the metadata, whatever the size of the set.
//!
//! Ranks have no index: a rank is found by counting from the nearer end
//! ([`range::by_rank`], [`range::rank_of`]), O(rank). Lex ranges assume equal
//! scores, as Redis does: when the first and last scores are equal they seek
//! straight to the bounds; otherwise they walk the set in order the way
//! Redis's listpack code does.
//!
//! # Modules
//!
//! - [`zset`]: a stored sorted set and the helpers every command shares.
//! - [`score`]: the encoding, float parsing and score texts.
//! - [`range`]: score, lex and rank ranges over the `s` family.
//! - [`basic`]: ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK.
//! - [`ranges`]: ZRANGE and its older forms, ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*,
//!   ZRANGESTORE.
//! - [`pop`]: ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER, ZSCAN.
//! - [`setops`]: ZUNION, ZINTER, ZDIFF (and their STORE forms), ZINTERCARD.
//!
//! GEO commands (`crate::cmd::geo`) are sorted sets too: GEOADD adds with
//! [`add_members`], searches scan score ranges with [`range::ScoreRange`].
//!
//! Replies with scores are built for RESP2 (flat `member, score` arrays, the
//! scores as [`Reply::Double`]); ZMPOP nests pairs in both protocols.

mod basic;
mod pop;
pub(crate) mod range;
mod ranges;
pub(crate) mod score;
mod setops;
pub(crate) mod zset;

#[cfg(test)]
mod tests;

pub(crate) use basic::{add_members, AddOptions};

use super::runner::{run, Runner};

/// The sorted set family, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("zadd", basic::zadd),
    run("zincrby", basic::zincrby),
    run("zrem", basic::zrem),
    run("zscore", basic::zscore),
    run("zmscore", basic::zmscore),
    run("zcard", basic::zcard),
    run("zrank", basic::zrank),
    run("zrevrank", basic::zrevrank),
    run("zcount", ranges::zcount),
    run("zlexcount", ranges::zlexcount),
    run("zrange", ranges::zrange),
    run("zrangebyscore", ranges::zrangebyscore),
    run("zrevrangebyscore", ranges::zrevrangebyscore),
    run("zrangebylex", ranges::zrangebylex),
    run("zrevrangebylex", ranges::zrevrangebylex),
    run("zrevrange", ranges::zrevrange),
    run("zrangestore", ranges::zrangestore),
    run("zremrangebyrank", ranges::zremrangebyrank),
    run("zremrangebyscore", ranges::zremrangebyscore),
    run("zremrangebylex", ranges::zremrangebylex),
    run("zpopmin", pop::zpopmin),
    run("zpopmax", pop::zpopmax),
    run("zmpop", pop::zmpop),
    run("bzpopmin", pop::bzpopmin),
    run("bzpopmax", pop::bzpopmax),
    run("bzmpop", pop::bzmpop),
    run("zrandmember", pop::zrandmember),
    run("zscan", pop::zscan),
    run("zunionstore", setops::zunionstore),
    run("zinterstore", setops::zinterstore),
    run("zdiffstore", setops::zdiffstore),
    run("zunion", setops::zunion),
    run("zinter", setops::zinter),
    run("zdiff", setops::zdiff),
    run("zintercard", setops::zintercard),
];
