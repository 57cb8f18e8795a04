//! Keyspace commands over every partition: SCAN, KEYS, RANDOMKEY; and
//! RENAME, RENAMENX, COPY (keys of one partition), MOVE (between
//! databases, which are tables) and OBJECT.
//!
//! SCAN walks the partitions in order, each in its keys' scan-hash order
//! (`petrel.scan` on the server, which also applies MATCH and TYPE). The
//! cursor carries where the walk stands (partition and position,
//! `petrel_common::scan`), so any proxy continues a walk another began,
//! and cursors never expire. Like Redis's, the walk returns every key
//! present from start to end at least once, and may return a key twice.

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::reply::{errors, Reply};
use rand::seq::SliceRandom;
use std::time::Instant;

use super::help::help_reply;
use crate::action::{Action, Ctx};
use crate::route::Target;
use crate::util::{c_str, parse_i64};
use petrel_common::command::{table, Command, Internal};

/// Redis's default COUNT.
const DEFAULT_COUNT: i64 = 10;

/// A cursor as Redis reads one (C's `strtoul`): decimal digits after an
/// optional sign, a negative number wrapping around (`-1` is 2^64 - 1), the
/// empty string 0; leading space, other characters or a number past 2^64
/// are refused.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg.split_first() {
        None => return Some(0),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { n.wrapping_neg() } else { n })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(crate) fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Action::Reply(Reply::error("ERR invalid cursor"));
    };
    let mut count = DEFAULT_COUNT;
    let mut filters: Vec<Bytes> = Vec::new();
    let mut i = 2;
    while i < args.len() {
        let opt = c_str(&args[i]).to_ascii_lowercase();
        if i + 1 >= args.len() {
            return Action::Reply(Reply::error(errors::SYNTAX));
        }
        match opt.as_str() {
            "count" => match parse_i64(&args[i + 1]) {
                None => return Action::Reply(Reply::error(errors::NOT_INTEGER)),
                Some(n) if n < 1 => return Action::Reply(Reply::error(errors::SYNTAX)),
                Some(n) => count = n,
            },
            "match" | "type" => {
                filters.push(args[i].clone());
                filters.push(args[i + 1].clone());
            }
            _ => return Action::Reply(Reply::error(errors::SYNTAX)),
        }
        i += 2;
    }
    // Any number is a cursor to Redis; one no walk could have made ends it.
    let Some((partition, position)) = petrel_common::scan::decode(cursor) else {
        return Action::Reply(Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"0")),
            Reply::Array(Vec::new()),
        ]));
    };
    let router = ctx.shared.router_for(ctx.session.db);
    Action::Later(
        async move {
            let deadline = Instant::now() + router.timeout();
            let map = match router.maps().wait_for_map(deadline).await {
                Ok(m) => m,
                Err(e) => return e.into_reply(),
            };
            let mut partition = partition;
            let mut position = position;
            let mut keys = Vec::new();
            let wanted = count as usize;
            // Move on through partitions until COUNT keys or the end.
            while partition < map.partition_count {
                let scan = table().internal(Internal::Scan);
                let mut req = vec![
                    Bytes::from_static(b"petrel.scan"),
                    Bytes::from(position.to_string()),
                    Bytes::from(count.to_string()),
                ];
                req.extend(filters.iter().cloned());
                let page = match router
                    .call(Target::Partition(partition), scan, req, false, deadline)
                    .await
                {
                    Ok(Reply::Array(page)) if page.len() == 2 => page,
                    Ok(Reply::Error(e)) => return Reply::Error(e),
                    Ok(_) => return Reply::error("ERR unexpected SCAN reply from a partition"),
                    Err(e) => return e.into_reply(),
                };
                let mut page = page.into_iter();
                let next = page.next();
                if let Some(Reply::Array(found)) = page.next() {
                    keys.extend(found);
                }
                let next = match next {
                    Some(Reply::Bulk(next)) => std::str::from_utf8(&next)
                        .ok()
                        .and_then(|n| n.parse::<u64>().ok()),
                    _ => None,
                };
                match next {
                    Some(next) => position = next,
                    None => {
                        partition += 1;
                        position = 0;
                    }
                }
                if keys.len() >= wanted {
                    break;
                }
            }
            let cursor = if partition >= map.partition_count {
                0
            } else {
                petrel_common::scan::encode(partition, position)
            };
            Reply::Array(vec![
                Reply::Bulk(Bytes::from(cursor.to_string())),
                Reply::Array(keys),
            ])
        }
        .boxed(),
    )
}

/// `RANDOMKEY`: asks the partitions in random order until one has a key.
pub(crate) fn randomkey(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let router = ctx.shared.router_for(ctx.session.db);
    let Some(randomkey) = table().find(b"randomkey") else {
        return Action::Reply(Reply::error("ERR randomkey is not in the command table"));
    };
    Action::Later(
        async move {
            let deadline = Instant::now() + router.timeout();
            let map = match router.maps().wait_for_map(deadline).await {
                Ok(m) => m,
                Err(e) => return e.into_reply(),
            };
            let mut order: Vec<u32> = (0..map.partition_count).collect();
            order.shuffle(&mut rand::thread_rng());
            for pid in order {
                let req = vec![Bytes::from_static(b"randomkey")];
                match router
                    .call(Target::Partition(pid), randomkey, req, false, deadline)
                    .await
                {
                    Ok(Reply::Nil) => continue,
                    Ok(reply) => return reply,
                    Err(e) => return e.into_reply(),
                }
            }
            Reply::Nil
        }
        .boxed(),
    )
}

/// `MOVE key db`. The two databases are different tables, so the move is
/// three steps: read the key and its fingerprint atomically, store it in
/// the other database unless the key exists there, then delete it here if
/// it did not change meanwhile (otherwise the copy is removed again and
/// MOVE answers 0). Another client can see the key in both databases for a
/// moment; it is never lost.
pub(crate) fn move_key(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = match parse_i64(&args[2]) {
        None => return Action::Reply(Reply::error(errors::NOT_INTEGER)),
        Some(n) if n < 0 || n >= i64::from(ctx.shared.config.databases) => {
            return Action::Reply(Reply::error("ERR DB index is out of range"))
        }
        Some(n) => n as u32,
    };
    if db == ctx.session.db {
        return Action::Reply(Reply::error(
            "ERR source and destination objects are the same",
        ));
    }
    let key = args[1].clone();
    ctx.touches = Some(crate::action::Touches::keys(&[&key], true));
    let src = ctx.shared.router_for(ctx.session.db);
    let shared = ctx.shared.clone();
    let b = |s: &'static [u8]| Bytes::from_static(s);
    let t = table();
    let (exec, fingerprint_cmd, dump, restore_cmd, moved) = (
        t.internal(Internal::Exec),
        t.internal(Internal::Fingerprint),
        t.internal(Internal::Dump),
        t.internal(Internal::Restore),
        t.internal(Internal::Moved),
    );
    let Some(del) = t.find(b"del") else {
        return Action::Reply(Reply::error("ERR del is not in the command table"));
    };
    let id = |c: &Command| Bytes::from(c.id.0.to_string());
    Action::Later(
        async move {
            let deadline = Instant::now() + src.timeout();
            let read = vec![
                b(b"petrel.exec"),
                b(b"0"),
                id(fingerprint_cmd),
                b(b"2"),
                b(b"petrel.fingerprint"),
                key.clone(),
                id(dump),
                b(b"2"),
                b(b"petrel.dump"),
                key.clone(),
            ];
            let (fingerprint, dumped) = match src
                .call(Target::Key(key.clone()), exec, read, true, deadline)
                .await
            {
                Ok(Reply::Array(mut r)) if r.len() == 2 => {
                    let dumped = r.pop();
                    match (r.pop(), dumped) {
                        (Some(Reply::Int(fp)), Some(Reply::Array(d))) => (fp, d),
                        (_, Some(Reply::NilArray)) => return Reply::Int(0),
                        _ => return Reply::error("ERR unexpected MOVE read reply"),
                    }
                }
                Ok(Reply::Error(e)) => return Reply::Error(e),
                Ok(_) => return Reply::error("ERR unexpected MOVE read reply"),
                Err(e) => return e.into_reply(),
            };
            let dest = match shared.databases.open(db, deadline).await {
                Ok(r) => r,
                Err(e) => {
                    return Reply::error(crate::util::one_line(&format!(
                        "ERR database {db} is not available: {e}"
                    )))
                }
            };
            let mut restore = vec![b(b"petrel.restore"), key.clone()];
            restore.extend(dumped.into_iter().filter_map(|r| match r {
                Reply::Bulk(x) => Some(x),
                _ => None,
            }));
            match dest
                .call(
                    Target::Key(key.clone()),
                    restore_cmd,
                    restore,
                    true,
                    deadline,
                )
                .await
            {
                Ok(Reply::Int(1)) => {}
                Ok(Reply::Int(_)) => return Reply::Int(0),
                Ok(Reply::Error(e)) => return Reply::Error(e),
                Ok(_) => return Reply::error("ERR unexpected MOVE write reply"),
                Err(e) => return e.into_reply(),
            }
            let delete = vec![
                b(b"petrel.exec"),
                b(b"1"),
                key.clone(),
                Bytes::from(fingerprint.to_string()),
                id(moved),
                b(b"2"),
                b(b"petrel.moved"),
                key.clone(),
            ];
            match src
                .call(Target::Key(key.clone()), exec, delete, true, deadline)
                .await
            {
                Ok(Reply::Array(_)) => Reply::Int(1),
                Ok(Reply::NilArray) => {
                    // Changed meanwhile: take the copy back, the move did not happen.
                    let undo = vec![b(b"del"), key.clone()];
                    let _ = dest.call(Target::Key(key), del, undo, true, deadline).await;
                    Reply::Int(0)
                }
                Ok(Reply::Error(e)) => Reply::Error(e),
                Ok(_) => Reply::error("ERR unexpected MOVE delete reply"),
                Err(e) => e.into_reply(),
            }
        }
        .boxed(),
    )
}

pub(crate) fn object_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_are_read_as_redis_reads_them() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"12345"), Some(12345));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"abc",
            b"-",
            b"1.5",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }
}
