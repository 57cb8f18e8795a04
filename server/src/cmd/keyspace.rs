//! Keyspace commands over one partition: the partition's share of SCAN,
//! KEYS and RANDOMKEY (the proxy walks or fans out over partitions),
//! RENAME/RENAMENX/COPY (keys of one partition), OBJECT, and the sweep that
//! removes expired keys without anyone reading them.
//!
//! `petrel.scan <from> <count> [MATCH pattern] [TYPE type]` (internal, sent
//! by the proxy's SCAN): looks at up to `count` stored keys whose scan hash
//! is `from` or more (a decimal position; empty = the start; keys are
//! stored in scan-hash order, see `storage::layout`) and answers `[next,
//! [key...]]` where `next` is the position to continue from, or nil when
//! the partition is done. `count` bounds the work, as in Redis: fewer keys
//! (even none) may come back when MATCH or TYPE filter them out or they
//! are expired; more when the page would otherwise end in the cursor
//! bucket it started in (`petrel_common::scan`), so every cursor moves on.
//!
//! `petrel.expired <from> <count>` (internal read) finds expired keys the
//! way `petrel.scan` walks, and `petrel.sweep <key>...` (internal write)
//! deletes those still expired, with their elements, as a replicated write.
//! Each server runs them against its primary replicas in the background
//! (`node`), so expired keys leave DBSIZE and SCAN without being read.

use std::ops::Bound;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};
use rand::Rng;

use crate::cmd::db::{Db, Entry};
use crate::cmd::events::GENERIC;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option};
use crate::storage::layout::{self, KeyType, MetaHeader};
use crate::storage::StorageError;
use petrel_common::glob;

/// Largest `count` one `petrel.scan` honours (bounds one request's work).
const SCAN_COUNT_MAX: i64 = 100_000;

/// The type names SCAN's TYPE option knows.
fn parse_type(name: &[u8]) -> Option<KeyType> {
    [
        KeyType::String,
        KeyType::Hash,
        KeyType::List,
        KeyType::Set,
        KeyType::ZSet,
        KeyType::Stream,
    ]
    .into_iter()
    .find(|t| t.name().as_bytes().eq_ignore_ascii_case(name))
}

/// `petrel.scan`: see the module documentation.
pub(crate) fn scan(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let from = &args[1];
    let count = int_arg(&args[2])?.clamp(1, SCAN_COUNT_MAX) as usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<Option<KeyType>> = None;
    let mut i = 3;
    while i < args.len() {
        if is_option(&args[i], "match") && i + 1 < args.len() {
            pattern = Some(&args[i + 1]);
        } else if is_option(&args[i], "type") && i + 1 < args.len() {
            // An unknown type matches nothing (Redis 7.0 behaves the same).
            type_filter = Some(parse_type(&args[i + 1]));
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        i += 2;
    }
    let from = position_arg(from)?;
    let now = db.now_ms();
    page(db, from, count, &|key, header| {
        header.is_live(now)
            && type_filter.is_none_or(|t| t == Some(header.key_type))
            && pattern.is_none_or(|p| p == b"*" || glob::matches(p, key, false))
    })
}

/// A scan position argument: a decimal u64, or empty for the start.
fn position_arg(arg: &[u8]) -> Result<u64, CmdError> {
    if arg.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::reply("ERR invalid cursor"))
}

/// Looks at up to `count` stored keys from position `from` (and on to the
/// end of `from`'s cursor bucket) and answers `[next, [key ...]]` with
/// those `wanted` picks; `next` is the position to go on from, nil at the
/// end.
fn page(
    db: &Db<'_>,
    from: u64,
    count: usize,
    wanted: &dyn Fn(&[u8], &MetaHeader) -> bool,
) -> CmdResult {
    let mut keys = Vec::new();
    let mut seen = 0;
    let mut next = None;
    db.scan_metas(from, &mut |key, position, header| {
        if seen >= count && !petrel_common::scan::same_bucket(from, position) {
            next = Some(Bytes::from(position.to_string()));
            return false;
        }
        seen += 1;
        if wanted(key, header) {
            keys.push(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
        true
    })?;
    Ok(Reply::Array(vec![
        next.map_or(Reply::Nil, Reply::Bulk),
        Reply::Array(keys),
    ]))
}

/// `KEYS pattern`: this partition's live keys that match.
pub(crate) fn keys(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let now = db.now_ms();
    let mut out = Vec::new();
    db.scan_metas(0, &mut |key, _, header| {
        if header.is_live(now) && (all || glob::matches(pattern, key, false)) {
            out.push(Reply::Bulk(Bytes::copy_from_slice(key)));
        }
        true
    })?;
    Ok(Reply::Array(out))
}

/// `RANDOMKEY`: a live key of this partition, or nil. It starts at a random
/// point of the key space and takes the next live key, wrapping around.
pub(crate) fn randomkey(db: &mut Db<'_>, _args: &[Bytes]) -> CmdResult {
    let start: u64 = rand::thread_rng().gen();
    let now = db.now_ms();
    for from in [start, 0] {
        let mut found = None;
        db.scan_metas(from, &mut |key, _, header| {
            if header.is_live(now) {
                found = Some(Bytes::copy_from_slice(key));
                return false;
            }
            true
        })?;
        if let Some(key) = found {
            return Ok(Reply::Bulk(key));
        }
    }
    Ok(Reply::Nil)
}

/// Writes a copy of `src` (a live entry) at `dst` under a new version,
/// elements included, replacing whatever `dst` held.
fn copy_entry(db: &mut Db<'_>, src: &[u8], entry: &Entry, dst: &[u8]) -> Result<(), StorageError> {
    let version = db.fresh_version(dst)?;
    if entry.header.key_type == KeyType::String {
        db.put_string(dst, entry.header.expire_at_ms, version, &entry.payload);
        return Ok(());
    }
    let mut elements = Vec::new();
    db.each_element(src, entry.header.version, &mut |element, value| {
        elements.push((element.to_vec(), value.to_vec()));
        true
    })?;
    for (element, value) in elements {
        db.put_element(dst, version, &element, &value);
    }
    let mut header = entry.header;
    header.version = version;
    db.put_meta(dst, &header, &entry.payload);
    Ok(())
}

/// `RENAME key newkey`.
pub(crate) fn rename(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(db, args, false)
}

/// `RENAMENX key newkey`.
pub(crate) fn renamenx(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(db, args, true)
}

fn rename_generic(db: &mut Db<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    let Some(entry) = db.lookup(src)? else {
        return Err(CmdError::reply(errors::NO_SUCH_KEY));
    };
    if src == dst {
        return Ok(if nx { Reply::Int(0) } else { Reply::ok() });
    }
    if nx && db.lookup(dst)?.is_some() {
        return Ok(Reply::Int(0));
    }
    // Redis deletes the destination before adding it anew: `new` even
    // when it existed.
    db.delete(dst);
    copy_entry(db, src, &entry, dst)?;
    db.delete(src);
    db.notify(GENERIC, "rename_from", src);
    db.notify(GENERIC, "rename_to", dst);
    Ok(if nx { Reply::Int(1) } else { Reply::ok() })
}

/// `COPY source destination [DB destination-db] [REPLACE]`. Databases are
/// tables on Petrel, each with its own partitions: only the connection's
/// own database (the proxy sends its index as `DB`) is accepted.
pub(crate) fn copy(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is_option(&args[i], "replace") {
            replace = true;
            i += 1;
        } else if is_option(&args[i], "db") && i + 1 < args.len() {
            let n = int_arg(&args[i + 1])?;
            if n < 0 || n > i64::from(i32::MAX) {
                return Err(CmdError::reply("ERR DB index is out of range"));
            }
            if n != 0 {
                return Err(CmdError::reply(
                    "ERR COPY to another database is not supported: each database is its own table",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
    }
    if src == dst {
        return Err(CmdError::reply(
            "ERR source and destination objects are the same",
        ));
    }
    let Some(entry) = db.lookup(src)? else {
        return Ok(Reply::Int(0));
    };
    if !replace && db.lookup(dst)?.is_some() {
        return Ok(Reply::Int(0));
    }
    db.delete(dst);
    copy_entry(db, src, &entry, dst)?;
    db.notify(GENERIC, "copy_to", dst);
    Ok(Reply::Int(1))
}

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key` (the proxy answers `OBJECT HELP`).
///
/// ENCODING answers what Redis 7.0 with default thresholds would use for
/// the same value (Petrel stores every type the same way on RocksDB, so
/// this is for tools that read it); strings grown by APPEND or SETRANGE,
/// which Redis turns `raw`, are judged by content alone. IDLETIME is 0:
/// access times are not kept. FREQ answers Redis's error for a non-LFU
/// policy, the only one Petrel has.
pub(crate) fn object(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let known = ["encoding", "freq", "idletime", "refcount"]
        .into_iter()
        .find(|n| is_option(sub, n));
    let Some(name) = known else {
        return Err(CmdError::reply(format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        )));
    };
    if args.len() != 3 {
        return Err(CmdError::reply(errors::wrong_arity(&format!(
            "object|{name}"
        ))));
    }
    let Some(entry) = db.lookup(&args[2])? else {
        return Ok(Reply::Nil);
    };
    Ok(match name {
        "encoding" => Reply::Bulk(Bytes::from_static(encoding(db, &args[2], &entry)?.as_bytes())),
        "freq" => return Err(CmdError::reply(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        "idletime" => Reply::Int(0),
        _ => Reply::Int(refcount(&entry)),
    })
}

/// Redis shares the integers 0..=9999 (OBJ_SHARED_INTEGERS).
fn refcount(entry: &Entry) -> i64 {
    match string_as_int(entry) {
        Some(n) if (0..10_000).contains(&n) => i64::from(i32::MAX),
        _ => 1,
    }
}

/// A string value Redis would store as an integer: canonical decimal, at
/// most 20 bytes, in range.
fn string_as_int(entry: &Entry) -> Option<i64> {
    if entry.header.key_type != KeyType::String || entry.payload.len() > 20 {
        return None;
    }
    let n = petrel_common::num::parse_i64(&entry.payload)?;
    (n.to_string().as_bytes() == entry.payload.as_ref()).then_some(n)
}

/// The encoding Redis 7.0 (default thresholds) would report.
fn encoding(db: &Db<'_>, key: &[u8], entry: &Entry) -> Result<&'static str, StorageError> {
    let small = |limit_entries: u64, limit_len: usize, check_values: bool| {
        if entry.header.size > limit_entries {
            return Ok::<bool, StorageError>(false);
        }
        let mut fits = true;
        db.each_element(key, entry.header.version, &mut |element, value| {
            fits = element.len() <= limit_len && (!check_values || value.len() <= limit_len);
            fits
        })?;
        Ok(fits)
    };
    Ok(match entry.header.key_type {
        KeyType::String => {
            if string_as_int(entry).is_some() {
                "int"
            } else if entry.payload.len() > 44 || petrel_common::hll::check(&entry.payload).is_ok()
            {
                // Redis's PF commands make an HLL raw however short (one
                // written by SET is embstr there until a PF command).
                "raw"
            } else {
                "embstr"
            }
        }
        KeyType::List => "quicklist",
        KeyType::Stream => "stream",
        KeyType::Hash => {
            // Debian's Redis 7.0 ships hash-max-listpack-entries 512.
            if small(512, 64, true)? {
                "listpack"
            } else {
                "hashtable"
            }
        }
        KeyType::Set => {
            let mut ints = entry.header.size <= 512;
            if ints {
                db.each_element(key, entry.header.version, &mut |member, _| {
                    ints = member.len() <= 20
                        && petrel_common::num::parse_i64(member)
                            .is_some_and(|n| n.to_string().as_bytes() == member);
                    ints
                })?;
            }
            if ints {
                "intset"
            } else {
                "hashtable"
            }
        }
        KeyType::ZSet => {
            // Member records only (the score index repeats them).
            if entry.header.size <= 128 && zset_members_fit(db, key, entry, 64)? {
                "listpack"
            } else {
                "skiplist"
            }
        }
    })
}

/// Whether every member of a sorted set is at most `limit` bytes. Member
/// records start with `m` (see `cmd::zsets`).
fn zset_members_fit(
    db: &Db<'_>,
    key: &[u8],
    entry: &Entry,
    limit: usize,
) -> Result<bool, StorageError> {
    let mut fits = true;
    db.scan_elements(
        key,
        entry.header.version,
        (Bound::Included(b"m"), Bound::Excluded(b"n")),
        false,
        &mut |element, _| {
            fits = element.len() - 1 <= limit;
            fits
        },
    )?;
    Ok(fits)
}

/// `petrel.dump key` (internal, MOVE's first half): the live key as
/// `[metadata record, element, value, element, value...]`, or nil.
pub(crate) fn dump(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    Ok(match dump_items(db, &args[1])? {
        Some(items) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
        None => Reply::NilArray,
    })
}

/// The live `key` as `petrel.dump` answers it, or `None` when it is absent.
pub(crate) fn dump_items(db: &Db<'_>, key: &[u8]) -> Result<Option<Vec<Bytes>>, StorageError> {
    let Some(entry) = db.lookup(key)? else {
        return Ok(None);
    };
    let mut out = vec![Bytes::from(layout::encode_meta(
        &entry.header,
        &entry.payload,
    ))];
    if entry.header.key_type != KeyType::String {
        db.each_element(key, entry.header.version, &mut |element, value| {
            out.push(Bytes::copy_from_slice(element));
            out.push(Bytes::copy_from_slice(value));
            true
        })?;
    }
    Ok(Some(out))
}

/// `petrel.restore key record [element value]...` (internal, MOVE's second
/// half): stores what `petrel.dump` gave under a new version, unless the key
/// exists (0) — then nothing is written; 1 when stored (raising `move_to`:
/// MOVE's `move_from` comes from [`moved`], at the source).
pub(crate) fn restore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (mut header, payload) = layout::decode_meta(&args[2])
        .map_err(|e| CmdError::reply(format!("ERR bad dump record: {e}")))?;
    if args.len() % 2 != 1 {
        return Err(CmdError::reply("ERR bad dump: unpaired element"));
    }
    if db.lookup(key)?.is_some() {
        return Ok(Reply::Int(0));
    }
    header.version = db.fresh_version(key)?;
    for pair in args[3..].chunks(2) {
        db.put_element(key, header.version, &pair[0], &pair[1]);
    }
    db.put_meta(key, &header, payload);
    db.notify(GENERIC, "move_to", key);
    Ok(Reply::Int(1))
}

/// `petrel.moved key` (internal, MOVE's last step at the source database,
/// inside a `petrel.exec` that checks the key did not change): deletes the
/// key; 1 if it was there.
pub(crate) fn moved(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    if db.lookup(key)?.is_none() {
        return Ok(Reply::Int(0));
    }
    db.delete(key);
    db.notify(GENERIC, "move_from", key);
    Ok(Reply::Int(1))
}

/// `petrel.txn.replace key [record [element value]...]`: sets `key` to
/// exactly the state `petrel.txn.run` computed (see `crate::txn::carry`) for it (absent without a
/// record), under a new version; answers OK.
pub(crate) fn replace(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let Some((record, elements)) = args[2..].split_first() else {
        db.delete(key);
        return Ok(Reply::ok());
    };
    let (mut header, payload) = layout::decode_meta(record)
        .map_err(|e| CmdError::reply(format!("ERR bad key state: {e}")))?;
    if elements.len() % 2 != 0 {
        return Err(CmdError::reply("ERR bad key state: unpaired element"));
    }
    db.delete(key);
    if header.key_type != KeyType::String {
        header.version = db.fresh_version(key)?;
        for pair in elements.chunks(2) {
            db.put_element(key, header.version, &pair[0], &pair[1]);
        }
    }
    db.put_meta(key, &header, payload);
    Ok(Reply::ok())
}

/// `petrel.expired <from> <count>`: like `petrel.scan`, the expired keys
/// among the next `count` stored ones: what the sweep should delete.
pub(crate) fn expired(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let count = int_arg(&args[2])?.clamp(1, SCAN_COUNT_MAX) as usize;
    let from = position_arg(&args[1])?;
    let now = db.now_ms();
    page(db, from, count, &|_, header| !header.is_live(now))
}

/// `petrel.sweep key...`: deletes those of the keys that are expired now
/// (with their elements); answers how many.
pub(crate) fn sweep(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut deleted = 0;
    for key in &args[1..] {
        let expired = db.raw(key)?.is_some_and(|e| !e.header.is_live(db.now_ms()));
        if expired {
            db.delete(key);
            db.notify_expired(key);
            deleted += 1;
        }
    }
    Ok(Reply::Int(deleted))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn scan_page(h: &mut Harness, from: &str, count: &str, extra: &[&str]) -> (Reply, Vec<String>) {
        let mut args = vec!["petrel.scan", from, count];
        args.extend_from_slice(extra);
        match h.run(&args) {
            Reply::Array(mut parts) if parts.len() == 2 => {
                let keys = match parts.pop() {
                    Some(Reply::Array(keys)) => keys
                        .into_iter()
                        .map(|k| match k {
                            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                            other => panic!("key {other:?}"),
                        })
                        .collect(),
                    other => panic!("keys {other:?}"),
                };
                (parts.pop().unwrap_or(Reply::Nil), keys)
            }
            other => panic!("scan reply {other:?}"),
        }
    }

    #[test]
    fn scan_walks_every_live_key_once_in_pages() {
        let mut h = Harness::new();
        for i in 0..25 {
            h.run(&["set", &format!("k{i:02}"), "v"]);
        }
        h.run(&["set", "gone", "v", "px", "5"]);
        h.run(&["hset", "hash", "f", "v"]);
        h.now += 10;
        let mut from = String::new();
        let mut all = Vec::new();
        loop {
            let (next, keys) = scan_page(&mut h, &from, "10", &[]);
            all.extend(keys);
            match next {
                Reply::Bulk(b) => from = String::from_utf8_lossy(&b).into_owned(),
                _ => break,
            }
        }
        all.sort();
        assert_eq!(all.len(), 25 + usize::from(lookup_ok(&mut h, "hash")));
        assert!(!all.contains(&"gone".to_string()));
        let (_, ks) = scan_page(&mut h, "", "100", &["match", "k1*"]);
        assert_eq!(ks.len(), 10);
        let (_, strings) = scan_page(&mut h, "", "100", &["type", "STRING"]);
        assert_eq!(strings.len(), 25);
        let (_, none) = scan_page(&mut h, "", "100", &["type", "nosuch"]);
        assert!(none.is_empty());
        assert_eq!(
            h.run(&["petrel.scan", "", "10", "bogus"]),
            err(errors::SYNTAX)
        );
    }

    #[test]
    fn a_walk_resumed_from_cursors_returns_every_key_and_ends() {
        let mut h = Harness::new();
        let keys: Vec<String> = (0..500).map(|i| format!("user:{i}")).collect();
        for k in &keys {
            h.run(&["set", k, "v"]);
        }
        // As the proxy does: each `next` squeezed into a cursor and back.
        let mut from = String::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut pages = 0;
        loop {
            let (next, page) = scan_page(&mut h, &from, "7", &[]);
            pages += 1;
            assert!(pages < 500, "the walk must move on");
            seen.extend(page);
            let Reply::Bulk(next) = next else { break };
            let next: u64 = std::str::from_utf8(&next).unwrap().parse().unwrap();
            let (_, resume) = petrel_common::scan::decode(petrel_common::scan::encode(0, next))
                .expect("a cursor");
            assert!(resume <= next);
            let before: u64 = if from.is_empty() {
                0
            } else {
                from.parse().unwrap()
            };
            assert!(
                !petrel_common::scan::same_bucket(before, resume),
                "a page ends outside the bucket it began in"
            );
            from = resume.to_string();
        }
        let want: std::collections::BTreeSet<String> = keys.into_iter().collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn keys_are_walked_in_scan_hash_order() {
        let mut h = Harness::new();
        for i in 0..50 {
            h.run(&["set", &format!("k{i}"), "v"]);
        }
        let (_, page) = scan_page(&mut h, "", "100", &[]);
        let hashes: Vec<u64> = page
            .iter()
            .map(|k| petrel_common::hash::scan_hash(k.as_bytes()))
            .collect();
        assert_eq!(page.len(), 50);
        assert!(hashes.windows(2).all(|w| w[0] <= w[1]), "{hashes:?}");
        assert_eq!(
            h.run(&["petrel.scan", "x", "10"]),
            err("ERR invalid cursor")
        );
    }

    /// Whether HSET exists yet (the hash family lands separately).
    fn lookup_ok(h: &mut Harness, key: &str) -> bool {
        h.run(&["exists", key]) == int(1)
    }

    #[test]
    fn keys_and_randomkey() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["randomkey"]), nil());
        assert_eq!(h.run(&["keys", "*"]), Reply::Array(vec![]));
        h.run(&["mset", "a1", "1", "a2", "2", "b1", "3"]);
        h.run(&["set", "a3", "x", "px", "1"]);
        h.now += 5;
        let Reply::Array(mut ks) = h.run(&["keys", "a*"]) else {
            panic!("array")
        };
        ks.sort_by_key(|k| format!("{k:?}"));
        assert_eq!(ks, vec![bulk("a1"), bulk("a2")]);
        for _ in 0..20 {
            let r = h.run(&["randomkey"]);
            assert!([bulk("a1"), bulk("a2"), bulk("b1")].contains(&r), "{r:?}");
        }
    }

    #[test]
    fn rename_and_copy_follow_redis() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["rename", "nope", "x"]), err(errors::NO_SUCH_KEY));
        assert_eq!(h.run(&["renamenx", "nope", "x"]), err(errors::NO_SUCH_KEY));
        h.run(&["set", "a", "1", "ex", "100"]);
        assert_eq!(h.run(&["rename", "a", "a"]), ok());
        assert_eq!(h.run(&["renamenx", "a", "a"]), int(0));
        assert_eq!(h.run(&["rename", "a", "b"]), ok());
        assert_eq!(h.run(&["get", "a"]), nil());
        assert_eq!(h.run(&["get", "b"]), bulk("1"));
        assert_eq!(h.run(&["ttl", "b"]), int(100), "the expiry moves along");
        h.run(&["set", "c", "3"]);
        assert_eq!(h.run(&["renamenx", "b", "c"]), int(0));
        assert_eq!(h.run(&["renamenx", "b", "d"]), int(1));
        assert_eq!(
            h.run(&["copy", "d", "d"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(h.run(&["copy", "d", "c"]), int(0));
        assert_eq!(h.run(&["copy", "d", "c", "replace"]), int(1));
        assert_eq!(h.run(&["get", "c"]), bulk("1"));
        assert_eq!(h.run(&["copy", "nope", "e"]), int(0));
        assert_eq!(h.run(&["copy", "d", "e", "db", "0"]), int(1));
        assert!(h.run(&["copy", "d", "f", "db", "1"]).is_error());
        assert_eq!(h.run(&["copy", "d", "f", "bogus"]), err(errors::SYNTAX));
        assert_eq!(
            h.run(&["copy", "d", "f", "db", "x"]),
            err(errors::NOT_INTEGER)
        );
    }

    #[test]
    fn renaming_a_collection_moves_its_elements() {
        let mut h = Harness::new();
        h.seed_hash("h", 0);
        let v = h.header("h").expect("h").version;
        let element = crate::storage::layout::element_key(b"h", v, b"field");
        h.apply(&crate::storage::Mutation {
            ops: vec![crate::storage::WriteOp::Put(element, b"value".to_vec())],
        });
        assert_eq!(h.run(&["rename", "h", "g"]), ok());
        let g = h.header("g").expect("g");
        assert_eq!(g.size, 1);
        let engine = &h.engine;
        let mut db = Db::new(engine, h.now);
        assert_eq!(
            db.element(b"g", g.version, b"field").expect("read"),
            Some(b"value".to_vec())
        );
        assert_eq!(
            db.element(b"h", v, b"field").expect("read"),
            None,
            "old elements dropped"
        );
        assert!(db.raw(b"h").expect("raw").is_none());
        let _ = &mut db;
    }

    #[test]
    fn object_subcommands() {
        let mut h = Harness::new();
        h.run(&["set", "i", "123"]);
        h.run(&["set", "s", "hello"]);
        h.run(&["set", "r", &"a".repeat(50)]);
        h.run(&["set", "big", "12345678901234567890"]);
        h.run(&["set", "pad", " 5"]);
        assert_eq!(h.run(&["object", "encoding", "i"]), bulk("int"));
        assert_eq!(h.run(&["object", "ENCODING", "s"]), bulk("embstr"));
        assert_eq!(h.run(&["object", "encoding", "r"]), bulk("raw"));
        assert_eq!(h.run(&["object", "encoding", "big"]), bulk("embstr"));
        assert_eq!(h.run(&["object", "encoding", "pad"]), bulk("embstr"));
        assert_eq!(h.run(&["object", "encoding", "nope"]), nil());
        assert_eq!(h.run(&["object", "refcount", "i"]), int(2147483647));
        assert_eq!(h.run(&["object", "refcount", "s"]), int(1));
        assert_eq!(h.run(&["object", "idletime", "s"]), int(0));
        assert!(
            matches!(h.run(&["object", "freq", "s"]), Reply::Error(e) if e.starts_with("ERR An LFU"))
        );
        assert_eq!(
            h.run(&["object", "encoding"]),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        h.seed("l", crate::storage::layout::KeyType::List, 0);
        assert_eq!(h.run(&["object", "encoding", "l"]), bulk("quicklist"));
    }

    #[test]
    fn dump_and_restore_carry_a_key_whole() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["petrel.dump", "nope"]), Reply::NilArray);
        h.run(&["set", "s", "text", "ex", "100"]);
        let Reply::Array(dumped) = h.run(&["petrel.dump", "s"]) else {
            panic!("array")
        };
        let Reply::Bulk(record) = &dumped[0] else {
            panic!("bulk")
        };
        let record = record.clone();
        let mut other = Harness::new();
        assert_eq!(other.run_bytes(&[b"petrel.restore", b"t", &record]), int(1));
        assert_eq!(other.run(&["get", "t"]), bulk("text"));
        assert_eq!(other.run(&["ttl", "t"]), int(100));
        assert_eq!(other.run_bytes(&[b"petrel.restore", b"t", &record]), int(0));
        assert!(other.run(&["petrel.restore", "u", "garbage"]).is_error());
        // A collection's elements travel too.
        h.seed_hash("h", 0);
        let v = h.header("h").expect("h").version;
        let element = layout::element_key(b"h", v, b"f");
        h.apply(&crate::storage::Mutation {
            ops: vec![crate::storage::WriteOp::Put(element, b"val".to_vec())],
        });
        let Reply::Array(dumped) = h.run(&["petrel.dump", "h"]) else {
            panic!("array")
        };
        assert_eq!(dumped.len(), 3);
        let parts: Vec<Vec<u8>> = dumped
            .iter()
            .map(|r| match r {
                Reply::Bulk(b) => b.to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
        let mut args: Vec<&[u8]> = vec![b"petrel.restore", b"g"];
        args.extend(parts.iter().map(Vec::as_slice));
        assert_eq!(other.run_bytes(&args), int(1));
        let g = other.header("g").expect("g");
        let db = Db::new(&other.engine, other.now);
        assert_eq!(
            db.element(b"g", g.version, b"f").expect("read"),
            Some(b"val".to_vec())
        );
    }

    #[test]
    fn the_sweep_deletes_only_expired_keys() {
        let mut h = Harness::new();
        h.run(&["set", "live", "v"]);
        h.run(&["set", "soon", "v", "px", "5"]);
        h.seed_hash("oldhash", START_MS - 1);
        let Reply::Array(page) = h.run(&["petrel.expired", "", "100"]) else {
            panic!("array")
        };
        assert_eq!(page[1], Reply::Array(vec![bulk("oldhash")]));
        h.now += 10;
        let Reply::Array(mut page) = h.run(&["petrel.expired", "", "100"]) else {
            panic!("array")
        };
        if let Reply::Array(keys) = &mut page[1] {
            keys.sort_by_key(|k| format!("{k:?}"));
        }
        assert_eq!(page[1], Reply::Array(vec![bulk("oldhash"), bulk("soon")]));
        assert_eq!(
            h.run(&["petrel.sweep", "oldhash", "soon", "live", "nope"]),
            int(2)
        );
        assert!(h.header("soon").is_none());
        assert!(h.header("oldhash").is_none());
        assert_eq!(h.run(&["get", "live"]), bulk("v"));
        let Reply::Array(page) = h.run(&["petrel.expired", "", "1"]) else {
            panic!("array")
        };
        assert_eq!(page[0], nil(), "one key, all seen");
    }
}
