//! `TIME`, `LASTSAVE` and `WAIT`, answered by the proxy.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::action::{Action, Ctx};
use crate::util::parse_i64;

/// Microseconds since the Unix epoch.
fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// `TIME`: seconds and microseconds, as two bulk strings.
pub(crate) fn time(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let us = now_micros();
    Action::Reply(Reply::Array(vec![
        Reply::bulk((us / 1_000_000).to_string()),
        Reply::bulk((us % 1_000_000).to_string()),
    ]))
}

/// `LASTSAVE`: the current time.
///
/// Petrel has no snapshots: every acknowledged write is already in the
/// replicated log on disk, so the whole dataset is "saved" as of now. Tools
/// that poll LASTSAVE to see a BGSAVE finish see it move at once.
pub(crate) fn lastsave(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int((now_micros() / 1_000_000) as i64))
}

/// `WAIT numreplicas timeout`: how many replicas hold this client's writes.
///
/// A Petrel write is acknowledged only once every member of its partition
/// has it, so the answer is known at once: the fewest secondaries any
/// partition of the table has (Redis counts replicas, not the primary).
/// It never waits, even when more replicas are asked for than exist: none
/// would ever arrive.
pub(crate) fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if parse_i64(&args[1]).is_none() {
        return Action::Reply(Reply::error(errors::NOT_INTEGER));
    }
    if let Err(e) = timeout_ms(&args[2]) {
        return Action::Reply(Reply::error(e));
    }
    Action::Reply(Reply::Int(replicas(ctx)))
}

/// The secondaries every partition has (0 before the map is loaded).
fn replicas(ctx: &Ctx<'_>) -> i64 {
    ctx.shared
        .router_for(ctx.session.db)
        .maps()
        .current()
        .and_then(|m| m.partitions.iter().map(|p| p.secondaries.len()).min())
        .unwrap_or(0) as i64
}

/// Redis's `getTimeoutFromObjectOrReply` for milliseconds (WAIT, CLIENT PAUSE).
pub(crate) fn timeout_ms(arg: &[u8]) -> Result<u64, &'static str> {
    let ms = parse_i64(arg).ok_or("ERR timeout is not an integer or out of range")?;
    if ms < 0 {
        return Err("ERR timeout is negative");
    }
    let now = (now_micros() / 1000) as i64;
    if ms > 0 && ms > i64::MAX - now {
        return Err("ERR timeout is out of range");
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_like_redis() {
        assert_eq!(timeout_ms(b"0"), Ok(0));
        assert_eq!(timeout_ms(b"1500"), Ok(1500));
        assert_eq!(timeout_ms(b"-1"), Err("ERR timeout is negative"));
        assert_eq!(
            timeout_ms(b"1.5"),
            Err("ERR timeout is not an integer or out of range")
        );
        assert_eq!(
            timeout_ms(i64::MAX.to_string().as_bytes()),
            Err("ERR timeout is out of range")
        );
    }
}
