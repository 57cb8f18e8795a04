//! `SLOWLOG GET/LEN/RESET/HELP`: commands that took at least
//! `slowlog-log-slower-than` microseconds, newest first. The connection
//! records them as they finish ([`crate::stats::SlowLog`]).

use bytes::Bytes;
use petrel_common::reply::Reply;
use petrel_common::sync::lock;

use crate::action::{Action, Ctx};
use crate::cmd::help::{help_reply, subcommand_syntax_error};
use crate::util::parse_i64;

/// Entries SLOWLOG GET returns without a count, as Redis.
const DEFAULT_COUNT: usize = 10;

/// `SLOWLOG GET [count]` (-1 = all).
pub(crate) fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 3 {
        return Action::Reply(subcommand_syntax_error(args));
    }
    let count = match args.get(2) {
        None => DEFAULT_COUNT,
        Some(a) => match parse_i64(a) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                return Action::Reply(Reply::error(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    let log = lock(&ctx.shared.stats.slowlog);
    let entries = log
        .entries
        .iter()
        .take(count)
        .map(|e| {
            Reply::Array(vec![
                Reply::Int(e.id as i64),
                Reply::Int(e.time),
                Reply::Int(e.micros.min(i64::MAX as u64) as i64),
                Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                Reply::bulk(e.addr.clone()),
                Reply::bulk(e.name.clone()),
            ])
        })
        .collect();
    Action::Reply(Reply::Array(entries))
}

/// `SLOWLOG LEN`.
pub(crate) fn len(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int(
        lock(&ctx.shared.stats.slowlog).entries.len() as i64
    ))
}

/// `SLOWLOG RESET`.
pub(crate) fn reset(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    lock(&ctx.shared.stats.slowlog).reset();
    Action::Reply(Reply::ok())
}

/// `SLOWLOG HELP`.
pub(crate) fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

/// The arguments as the slow log shows them: secrets replaced by
/// `(redacted)` like Redis does (AUTH, HELLO ... AUTH, CONFIG SET of a
/// password).
pub(crate) fn redact(args: &[Bytes]) -> Vec<Bytes> {
    let hidden = || Bytes::from_static(b"(redacted)");
    let mut out = args.to_vec();
    let is = |i: usize, word: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word));
    if is(0, b"auth") {
        for a in out.iter_mut().skip(1) {
            *a = hidden();
        }
    } else if is(0, b"hello") {
        let mut i = 2;
        while i < args.len() {
            if is(i, b"auth") {
                for a in out.iter_mut().skip(i + 1).take(2) {
                    *a = hidden();
                }
                i += 3;
            } else {
                i += if is(i, b"setname") { 2 } else { 1 };
            }
        }
    } else if is(0, b"config") && is(1, b"set") {
        let mut i = 2;
        while i + 1 < args.len() {
            if is(i, b"requirepass") || is(i, b"masterauth") {
                out[i + 1] = hidden();
            }
            i += 2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            redact(&b(&["AUTH", "user", "pw"])),
            b(&["AUTH", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            redact(&b(&["hello", "3", "auth", "u", "p", "setname", "x"])),
            b(&[
                "hello",
                "3",
                "auth",
                "(redacted)",
                "(redacted)",
                "setname",
                "x"
            ])
        );
        assert_eq!(
            redact(&b(&["config", "set", "timeout", "1", "requirepass", "s"])),
            b(&["config", "set", "timeout", "1", "requirepass", "(redacted)"])
        );
        assert_eq!(redact(&b(&["get", "k"])), b(&["get", "k"]));
    }
}
