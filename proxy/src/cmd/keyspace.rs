//! Keyspace commands over every partition: SCAN, KEYS, RANDOMKEY; and
//! RENAME, RENAMENX, COPY (keys of one partition), MOVE (between
//! databases, which are tables) and OBJECT.
//!
//! SCAN walks the partitions in order, each from its first key to its last
//! (`petrel.scan` on the server, which also applies MATCH and TYPE). A
//! stored key cannot be squeezed into the integer cursor Redis clients
//! expect, so the cursor is a random number naming where the walk stands
//! (partition and next key), kept by this proxy for [`CURSOR_TTL`]: a
//! cursor only works on the proxy that issued it, and an unknown or expired
//! one gets `ERR invalid cursor`. Like Redis's, the walk returns every key
//! present from start to end at least once, and may return a key twice.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::reply::{errors, Reply};
use rand::seq::SliceRandom;
use rand::Rng;

use super::help::help_reply;
use crate::action::{Action, Ctx};
use crate::route::Target;
use crate::util::{c_str, parse_i64};
use petrel_common::command::{table, Command, Internal};

/// How long an unused SCAN cursor is kept.
pub(crate) const CURSOR_TTL: Duration = Duration::from_secs(600);
/// Most cursors kept at once; the oldest go first beyond it.
const CURSORS_MAX: usize = 100_000;
/// Redis's default COUNT.
const DEFAULT_COUNT: i64 = 10;

/// Where a SCAN stands.
#[derive(Clone)]
struct Position {
    db: u32,
    partition: u32,
    from: Bytes,
    used: Instant,
}

fn cursors() -> &'static Mutex<HashMap<u64, Position>> {
    static CURSORS: OnceLock<Mutex<HashMap<u64, Position>>> = OnceLock::new();
    CURSORS.get_or_init(Mutex::default)
}

/// Stores `pos` under a new cursor number.
fn remember(pos: Position) -> u64 {
    let mut map = petrel_common::sync::lock(cursors());
    let now = Instant::now();
    map.retain(|_, p| now.duration_since(p.used) < CURSOR_TTL);
    if map.len() >= CURSORS_MAX {
        if let Some(oldest) = map.iter().min_by_key(|(_, p)| p.used).map(|(k, _)| *k) {
            map.remove(&oldest);
        }
    }
    let mut rng = rand::thread_rng();
    loop {
        // Below 2^53, so clients that parse cursors as doubles keep them exact.
        let id = rng.gen_range(1..1u64 << 53);
        if let std::collections::hash_map::Entry::Vacant(slot) = map.entry(id) {
            slot.insert(pos);
            return id;
        }
    }
}

fn recall(id: u64) -> Option<Position> {
    petrel_common::sync::lock(cursors()).remove(&id)
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub(crate) fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
    else {
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
    let start = if cursor == 0 {
        Position {
            db: ctx.session.db,
            partition: 0,
            from: Bytes::new(),
            used: Instant::now(),
        }
    } else {
        match recall(cursor) {
            Some(p) => p,
            None => return Action::Reply(Reply::error("ERR invalid cursor")),
        }
    };
    if start.db != ctx.session.db {
        return Action::Reply(Reply::error("ERR invalid cursor"));
    }
    let router = ctx.shared.router_for(ctx.session.db);
    Action::Later(
        async move {
            let deadline = Instant::now() + router.timeout();
            let map = match router.maps().wait_for_map(deadline).await {
                Ok(m) => m,
                Err(e) => return e.into_reply(),
            };
            let mut pos = start;
            let mut keys = Vec::new();
            let wanted = count as usize;
            // Move on through partitions until COUNT keys or the end.
            while pos.partition < map.partition_count {
                let scan = table().internal(Internal::Scan);
                let mut req = vec![
                    Bytes::from_static(b"petrel.scan"),
                    pos.from.clone(),
                    Bytes::from(count.to_string()),
                ];
                req.extend(filters.iter().cloned());
                let page = match router
                    .call(Target::Partition(pos.partition), scan, req, false, deadline)
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
                match next {
                    Some(Reply::Bulk(next)) => pos.from = next,
                    _ => {
                        pos.partition += 1;
                        pos.from = Bytes::new();
                    }
                }
                if keys.len() >= wanted {
                    break;
                }
            }
            let cursor = if pos.partition >= map.partition_count {
                0
            } else {
                pos.used = Instant::now();
                remember(pos)
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
