//! `MEMORY` diagnostics. `MEMORY USAGE key` runs on the key's primary (the
//! server estimates it from the stored bytes); the rest describe the proxy
//! process, which holds no data.

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::action::{Action, Ctx};
use crate::cmd::help::help_reply;
use crate::cmd::info::rss_bytes;

/// `MEMORY DOCTOR`: the proxy keeps no dataset, so there is nothing to diagnose.
pub(crate) fn doctor(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Verbatim(Bytes::from_static(
        b"Hi Sam, I can't find any memory issue in your instance. \
          I can only account for what occurs on this base.",
    )))
}

/// `MEMORY STATS`: the part of Redis's map the proxy can fill truthfully
/// (its resident memory and the clients' buffers).
pub(crate) fn stats(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let clients: usize = ctx
        .shared
        .clients
        .snapshot()
        .iter()
        .map(|c| {
            let i = c.info();
            i.qbuf + i.obl
        })
        .sum();
    let field = |k: &str, v: u64| (Reply::bulk(k.to_string()), Reply::Int(v as i64));
    Action::Reply(Reply::Map(vec![
        field("total.allocated", rss_bytes()),
        field("clients.normal", clients as u64),
    ]))
}

/// `MEMORY MALLOC-STATS`: Redis's answer for an allocator without statistics.
pub(crate) fn malloc_stats(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Verbatim(Bytes::from_static(
        b"Stats not supported for the current allocator",
    )))
}

/// `MEMORY PURGE`: nothing to purge.
pub(crate) fn purge(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::ok())
}

/// `MEMORY HELP`.
pub(crate) fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}
