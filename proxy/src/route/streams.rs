//! What a blocking XREAD needs before it waits: its `$` ids made concrete.
//!
//! `XREAD BLOCK ms STREAMS key $` waits for entries added after the call.
//! A primary holds a blocked request for a slice of the timeout and the
//! proxy asks again ([`super::run`]), so `$` cannot travel as it is: each
//! new slice would mean "after the last entry now" and lose what was added
//! between two slices. The proxy reads each such stream's last entry once
//! (`XREVRANGE key + - COUNT 1`) and asks for what comes after it: a newer
//! entry is one added after that read, hence after the call (an entry is
//! only ever added after every entry of its stream). A stream without
//! entries, or no stream, reads from `0-0`, as Redis does for a missing
//! key; a key of another type keeps `$`, so the server answers WRONGTYPE.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use petrel_common::command::{self, c_arg, Command};
use petrel_common::reply::Reply;

use super::router::{Router, Target};

/// Replaces every `$` id of an XREAD call in `args` with the id of its
/// stream's last entry (`0-0` when it has none).
pub(crate) async fn resolve_last_ids(router: &Arc<Router>, cmd: &Command, args: &mut [Bytes]) {
    if cmd.name() != "xread" {
        return;
    }
    let keys = cmd.key_positions(args);
    let Some(xrevrange) = command::table().find(b"xrevrange") else {
        return;
    };
    for &at in &keys {
        let id_at = at + keys.len();
        if args.get(id_at).is_none_or(|id| c_arg(id) != b"$") {
            continue;
        }
        let key = args[at].clone();
        let read = vec![
            Bytes::from_static(b"xrevrange"),
            key.clone(),
            Bytes::from_static(b"+"),
            Bytes::from_static(b"-"),
            Bytes::from_static(b"COUNT"),
            Bytes::from_static(b"1"),
        ];
        let deadline = Instant::now() + router.timeout();
        let reply = router
            .call(Target::Key(key), xrevrange, read, false, deadline)
            .await;
        if let Some(id) = reply.ok().and_then(last_id) {
            args[id_at] = id;
        }
    }
}

/// The id of the one entry XREVRANGE ... COUNT 1 answered (`0-0` for
/// none); `None` for an error.
fn last_id(reply: Reply) -> Option<Bytes> {
    let Reply::Array(entries) = reply else {
        return None;
    };
    match entries.into_iter().next() {
        None => Some(Bytes::from_static(b"0-0")),
        Some(Reply::Array(entry)) => match entry.into_iter().next() {
            Some(Reply::Bulk(id)) => Some(id),
            _ => None,
        },
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_entry_of_an_xrevrange_reply() {
        let entry = |id: &'static str| {
            Reply::Array(vec![Reply::bulk(id), Reply::Array(vec![Reply::bulk("f")])])
        };
        assert_eq!(
            last_id(Reply::Array(vec![entry("5-1")])),
            Some(Bytes::from_static(b"5-1"))
        );
        assert_eq!(
            last_id(Reply::Array(vec![])),
            Some(Bytes::from_static(b"0-0"))
        );
        assert_eq!(last_id(Reply::error("WRONGTYPE x")), None);
    }
}
