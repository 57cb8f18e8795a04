//! Sends one multi-key request and classifies what came back.
//!
//! A `MULTI` block goes out as one pipeline (`MULTI`, the commands, `EXEC`)
//! whose every reply is kept, errors included, so `EXEC`'s own answer
//! decides: an array is the block's result; `EXECABORT` (a command was
//! refused while queued), `CROSSSLOT`, `TRYAGAIN` and `CLUSTERDOWN` prove
//! nothing ran; any other error, a timeout or a lost connection leaves a
//! write's outcome unknown. A read that did not complete changed nothing.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Value;

use super::record::{Action, MoveHow, Outcome};

/// Error codes (a reply's first word) that prove the request did not run.
const NOTHING_RAN: [&str; 4] = ["EXECABORT", "CROSSSLOT", "TRYAGAIN", "CLUSTERDOWN"];

/// A transfer as one script with `numkeys 0`: the accounts and the marker
/// are its arguments (`from to amount marker`), so it builds every key it
/// touches. Answers the two new balances.
const TRANSFER_SCRIPT: &str = "redis.call('DECRBY', ARGV[1], ARGV[3]) \
     redis.call('INCRBY', ARGV[2], ARGV[3]) \
     redis.call('SET', ARGV[4], 1) \
     return {redis.call('GET', ARGV[1]), redis.call('GET', ARGV[2])}";

/// The commands of `action`, and whether they form a `MULTI` block.
fn build(action: &Action, keys: &[String]) -> (redis::Pipeline, bool) {
    let mut p = redis::pipe();
    let key = |i: usize| keys.get(i).map(String::as_str).unwrap_or_default();
    let multi = match action {
        Action::Transfer {
            from,
            to,
            amount,
            marker,
            by_script: true,
        } => {
            p.cmd("EVAL")
                .arg(TRANSFER_SCRIPT)
                .arg(0)
                .arg(key(*from))
                .arg(key(*to))
                .arg(*amount)
                .arg(marker);
            // Its array reply is the result, as EXEC's is.
            true
        }
        Action::Transfer {
            from,
            to,
            amount,
            marker,
            by_script: false,
        } => {
            p.cmd("MULTI")
                .cmd("DECRBY")
                .arg(key(*from))
                .arg(*amount)
                .cmd("INCRBY")
                .arg(key(*to))
                .arg(*amount);
            if !marker.is_empty() {
                p.cmd("SET").arg(marker).arg(1);
            }
            p.cmd("EXEC");
            true
        }
        Action::ReadBalances { mget: false } => {
            p.cmd("MULTI");
            for k in keys {
                p.cmd("GET").arg(k);
            }
            p.cmd("EXEC");
            true
        }
        Action::ReadBalances { mget: true } | Action::Mget => {
            p.cmd("MGET").arg(keys);
            false
        }
        Action::Mset { value } => {
            let c = p.cmd("MSET");
            for k in keys {
                c.arg(k).arg(value);
            }
            false
        }
        Action::Move { from, to, how } => {
            match how {
                MoveHow::Rpoplpush => p.cmd("RPOPLPUSH").arg(key(*from)).arg(key(*to)),
                MoveHow::Lmove {
                    pop_left,
                    push_left,
                } => p
                    .cmd("LMOVE")
                    .arg(key(*from))
                    .arg(key(*to))
                    .arg(side(*pop_left))
                    .arg(side(*push_left)),
            };
            false
        }
    };
    p.ignore_errors();
    (p, multi)
}

fn side(left: bool) -> &'static str {
    if left {
        "LEFT"
    } else {
        "RIGHT"
    }
}

/// What became of a request.
pub(crate) struct Performed {
    pub(crate) outcome: Outcome,
    /// Every reply came back: the connection is in step (not inside a
    /// `MULTI`, no reply pending) and can carry the next request.
    pub(crate) answered: bool,
}

/// Sends `action` on `con` and waits at most `timeout` for its answer.
pub(crate) async fn perform(
    con: &mut MultiplexedConnection,
    keys: &[String],
    action: &Action,
    timeout: Duration,
) -> Performed {
    let (pipe, multi) = build(action, keys);
    let writes = action.writes();
    let lost = |why: String| Performed {
        outcome: not_answered(writes, why),
        answered: false,
    };
    let replies = match tokio::time::timeout(timeout, pipe.query_async::<Vec<Value>>(con)).await {
        Err(_) => return lost("timed out".into()),
        Ok(Err(e)) => return lost(e.to_string()),
        Ok(Ok(replies)) => replies,
    };
    // The answer that decides: EXEC's for a block, else the one command's.
    let Some(last) = replies.into_iter().last() else {
        return lost("no reply".into());
    };
    Performed {
        outcome: classify(last, multi, writes),
        answered: true,
    }
}

/// A request that got no answer: a write may have run, a read changed nothing.
fn not_answered(writes: bool, why: String) -> Outcome {
    if writes {
        Outcome::Unknown(why)
    } else {
        Outcome::Failed(why)
    }
}

/// Classifies the deciding reply of a request (`EXEC`'s for a block).
pub(crate) fn classify(reply: Value, multi: bool, writes: bool) -> Outcome {
    match reply {
        Value::ServerError(e) => {
            let text = match e.details() {
                Some(d) => format!("{} {d}", e.code()),
                None => e.code().to_string(),
            };
            if !writes || NOTHING_RAN.contains(&e.code()) {
                Outcome::Failed(text)
            } else {
                Outcome::Unknown(text)
            }
        }
        // EXEC's null array: a WATCH aborted it (the workloads never WATCH).
        Value::Nil if multi => Outcome::Failed("EXEC aborted".into()),
        Value::Array(items) if multi || !writes => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::ServerError(e) => {
                        // One command of the block failed inside EXEC:
                        // what ran of it is for the checker to judge.
                        let why = format!("a command in EXEC failed: {}", e.code());
                        return not_answered(writes, why);
                    }
                    other => match scalar(other) {
                        Some(v) => values.push(v),
                        None => return not_answered(writes, "unexpected reply type".into()),
                    },
                }
            }
            Outcome::Ok(values)
        }
        other => match scalar(other) {
            Some(v) => Outcome::Ok(vec![v]),
            None => not_answered(writes, "unexpected reply type".into()),
        },
    }
}

/// A reply that is one value: a string, an integer, nil, OK.
fn scalar(v: Value) -> Option<Option<String>> {
    match v {
        Value::Nil => Some(None),
        Value::Okay => Some(Some("OK".into())),
        Value::Int(i) => Some(Some(i.to_string())),
        Value::BulkString(b) => Some(Some(String::from_utf8_lossy(&b).into_owned())),
        Value::SimpleString(s) => Some(Some(s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(resp: &str) -> Value {
        redis::parse_redis_value(resp.as_bytes()).expect("a RESP reply")
    }

    #[test]
    fn exec_replies_are_classified() {
        let transfer = |r: &str| classify(reply(r), true, true);
        assert_eq!(
            transfer("*2\r\n:97\r\n:103\r\n"),
            Outcome::Ok(vec![Some("97".into()), Some("103".into())])
        );
        for refused in [
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
            "-CROSSSLOT Keys in request don't hash to the same slot\r\n",
            "-TRYAGAIN partition 3 moved, not executed\r\n",
        ] {
            assert!(matches!(transfer(refused), Outcome::Failed(_)), "{refused}");
        }
        assert!(matches!(
            transfer("-ERR transaction outcome unknown\r\n"),
            Outcome::Unknown(_)
        ));
        assert!(matches!(
            transfer("*2\r\n-ERR oops\r\n:1\r\n"),
            Outcome::Unknown(_)
        ));
        assert!(matches!(transfer("*-1\r\n"), Outcome::Failed(_)));
    }

    #[test]
    fn single_command_replies_are_classified() {
        assert_eq!(
            classify(reply("+OK\r\n"), false, true),
            Outcome::Ok(vec![Some("OK".into())])
        );
        assert_eq!(
            classify(reply("$6\r\nitem-3\r\n"), false, true),
            Outcome::Ok(vec![Some("item-3".into())])
        );
        assert_eq!(
            classify(reply("$-1\r\n"), false, true),
            Outcome::Ok(vec![None])
        );
        assert_eq!(
            classify(reply("*2\r\n$1\r\na\r\n$-1\r\n"), false, false),
            Outcome::Ok(vec![Some("a".into()), None])
        );
        assert!(matches!(
            classify(
                reply("-ERR partially applied (1 of 2 partitions succeeded): x\r\n"),
                false,
                true
            ),
            Outcome::Unknown(_)
        ));
        assert!(matches!(
            classify(reply("-ERR anything\r\n"), false, false),
            Outcome::Failed(_)
        ));
    }
}
