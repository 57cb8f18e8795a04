//! The blocking commands (BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP here;
//! BZPOPMIN BZPOPMAX BZMPOP in [`super::zsets`]), executed
//! like their non-blocking forms: when there is nothing to pop the reply is
//! the timeout reply (nil). The service (`crate::service`) then waits for
//! the replica's next applied write, whoever sent it, and tries again until
//! the command's timeout or a slice of it, whichever comes first; the proxy
//! keeps asking until the client's timeout. Inside MULTI they run once, as
//! in Redis.

use std::time::Duration;

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::reply::Reply;

use crate::cmd::db::Db;
use crate::cmd::float::LongDouble;
use crate::cmd::lists::{self, End};
use crate::cmd::outcome::{CmdError, CmdResult};

/// Whether a blocking command's reply says nothing was there to pop.
pub(crate) fn would_block(reply: &Reply) -> bool {
    matches!(reply, Reply::Nil | Reply::NilArray)
}

/// The timeout argument of a blocking command (where the command table
/// says it is); `None` when absent or invalid (the command then answers with
/// the error). `Some(None)` means wait forever (0).
pub(crate) fn timeout_of(command: &Command, args: &[Bytes]) -> Option<Option<Duration>> {
    let kind = command.timeout_arg()?;
    let arg = args.get(kind.index(args)?)?;
    let ms = if kind.in_millis() {
        parse_timeout_ms(arg)
    } else {
        parse_timeout(arg)
    }
    .ok()?;
    Some((ms > 0).then(|| Duration::from_millis(ms)))
}

const NOT_A_FLOAT: &str = "ERR timeout is not a float or out of range";
const NOT_AN_INTEGER: &str = "ERR timeout is not an integer or out of range";
const NEGATIVE: &str = "ERR timeout is negative";

/// Redis's milliseconds timeout (XREAD's BLOCK): an integer, not negative.
pub(crate) fn parse_timeout_ms(arg: &[u8]) -> Result<u64, CmdError> {
    match crate::cmd::parse::parse_i64(arg) {
        None => Err(CmdError::reply(NOT_AN_INTEGER)),
        Some(ms) => u64::try_from(ms).map_err(|_| CmdError::reply(NEGATIVE)),
    }
}

/// Redis's seconds timeout: a long double, rounded up to milliseconds. As
/// in Redis 7.0, values past the range of a signed 64-bit count of
/// milliseconds (infinity included) come out negative.
pub(crate) fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let value = LongDouble::parse(arg).ok_or_else(|| CmdError::reply(NOT_A_FLOAT))?;
    let seconds = match value {
        LongDouble::Finite { neg, mant, exp } => {
            let magnitude = (mant as f64) * 2f64.powi(exp.clamp(-2000, 2000) as i32);
            if neg {
                -magnitude
            } else {
                magnitude
            }
        }
        LongDouble::Infinite { .. } => return Err(CmdError::reply(NEGATIVE)),
        LongDouble::NaN => return Err(CmdError::reply(NOT_A_FLOAT)),
    };
    let ms = (seconds * 1000.0).ceil();
    if !(0.0..9.223_372_036_854_775e18).contains(&ms) {
        return Err(CmdError::reply(NEGATIVE));
    }
    Ok(ms as u64)
}

/// `BLPOP key [key ...] timeout`
pub(crate) fn blpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    pop_first(db, args, End::Left)
}

/// `BRPOP key [key ...] timeout`
pub(crate) fn brpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    pop_first(db, args, End::Right)
}

fn pop_first(db: &mut Db<'_>, args: &[Bytes], end: End) -> CmdResult {
    parse_timeout(&args[args.len() - 1])?;
    Ok(match lists::mpop(db, &args[1..args.len() - 1], end, 1)? {
        Some((key, mut items)) => match items.pop() {
            Some(item) => Reply::Array(vec![Reply::Bulk(key), Reply::Bulk(item)]),
            None => Reply::NilArray,
        },
        None => Reply::NilArray,
    })
}

/// `BRPOPLPUSH source destination timeout`
pub(crate) fn brpoplpush(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    parse_timeout(&args[3])?;
    Ok(
        match lists::move_item(db, &args[1], &args[2], End::Right, End::Left)? {
            Some(item) => Reply::Bulk(item),
            None => Reply::NilArray,
        },
    )
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
pub(crate) fn blmove(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])
        .ok_or_else(|| CmdError::reply(petrel_common::reply::errors::SYNTAX))?;
    let to = End::parse(&args[4])
        .ok_or_else(|| CmdError::reply(petrel_common::reply::errors::SYNTAX))?;
    parse_timeout(&args[5])?;
    Ok(match lists::move_item(db, &args[1], &args[2], from, to)? {
        Some(item) => Reply::Bulk(item),
        None => Reply::NilArray,
    })
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub(crate) fn blmpop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    parse_timeout(&args[1])?;
    let (keys, end, count) = lists::parse_mpop(args, 2)?;
    Ok(match lists::mpop(db, keys, end, count)? {
        Some((key, items)) => Reply::Array(vec![
            Reply::Bulk(key),
            Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
        ]),
        None => Reply::NilArray,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn timeouts_follow_redis() {
        let mut h = Harness::new();
        for (t, reply) in [
            ("abc", err(NOT_A_FLOAT)),
            ("nan", err(NOT_A_FLOAT)),
            (" 1", err(NOT_A_FLOAT)),
            ("-1", err(NEGATIVE)),
            ("1e300", err(NEGATIVE)),
            ("inf", err(NEGATIVE)),
            ("0x10", Reply::NilArray),
            ("-0", Reply::NilArray),
            ("0.01", Reply::NilArray),
        ] {
            assert_eq!(h.run(&["blpop", "k", t]), reply, "timeout {t}");
        }
        let t = |a: &[&str]| {
            let command = petrel_common::command::table()
                .find(a[0].as_bytes())
                .expect("a command");
            timeout_of(
                command,
                &a.iter()
                    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(t(&["blpop", "k", "0"]), Some(None));
        assert_eq!(
            t(&["blpop", "k", "1.5"]),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(
            t(&["blmpop", "0.0001", "1", "k", "left"]),
            Some(Some(Duration::from_millis(1)))
        );
        assert_eq!(t(&["blpop", "k", "x"]), None);
    }

    #[test]
    fn pops_like_the_non_blocking_forms() {
        let mut h = Harness::new();
        h.run(&["rpush", "b", "1", "2"]);
        h.run(&["set", "s", "x"]);
        assert_eq!(
            h.run(&["blpop", "a", "b", "0"]),
            Reply::Array(vec![bulk("b"), bulk("1")])
        );
        assert_eq!(
            h.run(&["brpop", "a", "b", "0"]),
            Reply::Array(vec![bulk("b"), bulk("2")])
        );
        assert_eq!(h.run(&["blpop", "a", "b", "0"]), Reply::NilArray);
        assert!(h.run(&["blpop", "s", "0"]).is_error(), "WRONGTYPE");
        h.run(&["rpush", "src", "x", "y"]);
        assert_eq!(h.run(&["brpoplpush", "src", "dst", "0"]), bulk("y"));
        assert_eq!(
            h.run(&["blmove", "src", "dst", "left", "left", "0"]),
            bulk("x")
        );
        assert_eq!(
            h.run(&["blmove", "src", "dst", "left", "left", "0"]),
            Reply::NilArray
        );
        assert_eq!(
            h.run(&["lrange", "dst", "0", "-1"]),
            Reply::Array(vec![bulk("x"), bulk("y")])
        );
        assert!(h
            .run(&["blmove", "src", "dst", "up", "left", "0"])
            .is_error());
        assert_eq!(
            h.run(&["blmpop", "0", "2", "nope", "dst", "right", "count", "5"]),
            Reply::Array(vec![bulk("dst"), Reply::Array(vec![bulk("y"), bulk("x")])])
        );
        assert_eq!(h.run(&["blmpop", "0", "1", "dst", "left"]), Reply::NilArray);
        assert_eq!(
            h.run(&["blmpop", "0", "0", "dst", "left"]),
            err("ERR numkeys should be greater than 0")
        );
    }

    #[test]
    fn sorted_set_pops() {
        let mut h = Harness::new();
        h.run(&["zadd", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(
            h.run(&["bzpopmin", "nope", "z", "0"]),
            Reply::Array(vec![bulk("z"), bulk("a"), Reply::Double(1.0)])
        );
        assert_eq!(
            h.run(&["bzpopmax", "z", "0"]),
            Reply::Array(vec![bulk("z"), bulk("c"), Reply::Double(3.0)])
        );
        assert_eq!(h.run(&["bzpopmax", "nope", "0.5"]), Reply::NilArray);
        assert_eq!(h.run(&["bzpopmax", "z", "-1"]), err(NEGATIVE));
        assert_eq!(
            h.run(&["bzmpop", "0", "1", "z", "min", "count", "5"]),
            Reply::Array(vec![
                bulk("z"),
                Reply::Array(vec![Reply::Array(vec![bulk("b"), Reply::Double(2.0)])])
            ])
        );
        assert_eq!(h.run(&["bzmpop", "0", "1", "z", "min"]), Reply::NilArray);
        assert_eq!(h.run(&["bzmpop", "x", "1", "z", "min"]), err(NOT_A_FLOAT));
    }
}
