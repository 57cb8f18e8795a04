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
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::reply::{errors, Reply};
use rand::seq::SliceRandom;
use rand::Rng;

use super::client::help_reply;
use super::{CommandSpec, Doc, KeySpec, Merge, Route};
use crate::dispatch::{Action, Ctx};
use crate::route::Target;
use crate::util::{c_str, parse_i64};

/// How long an unused SCAN cursor is kept.
pub const CURSOR_TTL: Duration = Duration::from_secs(600);
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
fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
                let mut req = vec![
                    Bytes::from_static(b"petrel.scan"),
                    pos.from.clone(),
                    Bytes::from(count.to_string()),
                ];
                req.extend(filters.iter().cloned());
                let page = match router
                    .call(Target::Partition(pos.partition), req, false, deadline)
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
fn randomkey(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let router = ctx.shared.router_for(ctx.session.db);
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
                    .call(Target::Partition(pid), req, false, deadline)
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
fn move_key(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
    ctx.touches = Some(crate::dispatch::Touches::keys(&[&key], true));
    let src = ctx.shared.router_for(ctx.session.db);
    let shared = ctx.shared.clone();
    let b = |s: &'static [u8]| Bytes::from_static(s);
    Action::Later(
        async move {
            let deadline = Instant::now() + src.timeout();
            let read = vec![
                b(b"petrel.exec"),
                b(b"0"),
                b(b"2"),
                b(b"petrel.fingerprint"),
                key.clone(),
                b(b"2"),
                b(b"petrel.dump"),
                key.clone(),
            ];
            let (fingerprint, dumped) = match src
                .call(Target::Key(key.clone()), read, true, deadline)
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
                .call(Target::Key(key.clone()), restore, true, deadline)
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
                b(b"2"),
                b(b"del"),
                key.clone(),
            ];
            match src
                .call(Target::Key(key.clone()), delete, true, deadline)
                .await
            {
                Ok(Reply::Array(_)) => Reply::Int(1),
                Ok(Reply::NilArray) => {
                    // Changed meanwhile: take the copy back, the move did not happen.
                    let undo = vec![b(b"del"), key.clone()];
                    let _ = dest.call(Target::Key(key), undo, true, deadline).await;
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

fn object_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
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

const fn generic(summary: &'static str, since: &'static str, complexity: &'static str) -> Doc {
    Doc {
        summary,
        since,
        group: "generic",
        complexity,
    }
}

const fn key_at(flags: &'static [&'static str], index: i32) -> KeySpec {
    KeySpec {
        flags,
        begin_index: index,
        last_key: 0,
        key_step: 1,
        limit: 0,
    }
}

const OBJECT_TIPS: &[&str] = &["nondeterministic_output"];
const OBJECT_KEY: &[KeySpec] = &[key_at(&["RO"], 2)];

const fn object_sub(name: &'static str, summary: &'static str, since: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        arity: 3,
        flags: &["readonly"],
        keys: (2, 2, 1),
        acl: &["@keyspace", "@read", "@slow"],
        tips: OBJECT_TIPS,
        key_specs: OBJECT_KEY,
        doc: generic(summary, since, "O(1)"),
        route: Route::SingleKey,
        subcommands: &[],
    }
}

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    object_sub(
        "encoding",
        "Inspect the internal encoding of a Redis object",
        "2.2.3",
    ),
    object_sub(
        "freq",
        "Get the logarithmic access frequency counter of a Redis object",
        "4.0.0",
    ),
    object_sub(
        "idletime",
        "Get the time since a Redis object was last accessed",
        "2.2.3",
    ),
    object_sub(
        "refcount",
        "Get the number of references to the value of the key",
        "2.2.3",
    ),
    CommandSpec {
        name: "help",
        arity: 2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: generic(
            "Show helpful text about the different subcommands",
            "6.2.0",
            "O(1)",
        ),
        route: Route::Local(object_help),
        subcommands: &[],
    },
];

/// The keyspace family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "scan",
        arity: -2,
        flags: &["readonly"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@read", "@slow"],
        tips: &["nondeterministic_output", "request_policy:special"],
        key_specs: &[],
        doc: generic(
            "Incrementally iterate the keys space",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        ),
        route: Route::Local(scan),
        subcommands: &[],
    },
    CommandSpec {
        name: "keys",
        arity: 2,
        flags: &["readonly"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@read", "@slow", "@dangerous"],
        tips: &["request_policy:all_shards", "nondeterministic_output_order"],
        key_specs: &[],
        doc: generic(
            "Find all keys matching the given pattern",
            "1.0.0",
            "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        ),
        route: Route::FanOut(Merge::Concat),
        subcommands: &[],
    },
    CommandSpec {
        name: "randomkey",
        arity: 1,
        flags: &["readonly"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@read", "@slow"],
        tips: &["request_policy:all_shards", "nondeterministic_output"],
        key_specs: &[],
        doc: generic("Return a random key from the keyspace", "1.0.0", "O(1)"),
        route: Route::Local(randomkey),
        subcommands: &[],
    },
    CommandSpec {
        name: "rename",
        arity: 3,
        flags: &["write"],
        keys: (1, 2, 1),
        acl: &["@keyspace", "@write", "@slow"],
        tips: &[],
        key_specs: &[
            key_at(&["RW", "access", "delete"], 1),
            key_at(&["OW", "update"], 2),
        ],
        doc: generic("Rename a key", "1.0.0", "O(1)"),
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "renamenx",
        arity: 3,
        flags: &["write", "fast"],
        keys: (1, 2, 1),
        acl: &["@keyspace", "@write", "@fast"],
        tips: &[],
        key_specs: &[
            key_at(&["RW", "access", "delete"], 1),
            key_at(&["OW", "insert"], 2),
        ],
        doc: generic("Rename a key, only if the new key does not exist", "1.0.0", "O(1)"),
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "copy",
        arity: -3,
        flags: &["write", "denyoom"],
        keys: (1, 2, 1),
        acl: &["@keyspace", "@write", "@slow"],
        tips: &[],
        key_specs: &[key_at(&["RO", "access"], 1), key_at(&["OW", "update"], 2)],
        doc: generic(
            "Copy a key",
            "6.2.0",
            "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        ),
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "move",
        arity: 3,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@keyspace", "@write", "@fast"],
        tips: &[],
        key_specs: &[key_at(&["RW", "access", "update"], 1)],
        doc: generic("Move a key to another database", "1.0.0", "O(1)"),
        route: Route::Local(move_key),
        subcommands: &[],
    },
    CommandSpec {
        name: "object",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: generic(
            "A container for object introspection commands",
            "2.2.3",
            "Depends on subcommand.",
        ),
        route: Route::Container,
        subcommands: OBJECT_SUBCOMMANDS,
    },
];
