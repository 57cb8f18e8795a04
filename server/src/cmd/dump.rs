//! DUMP and RESTORE, in Redis 7.0's serialization ([`petrel_common::rdb`]),
//! with its replies, errors and events.
//!
//! A key is read whole into an [`rdb::Value`] (one scan of its elements)
//! and a restored value is written whole as a new incarnation of the key,
//! in one mutation: a payload that does not load writes nothing.
//!
//! `IDLETIME` and `FREQ` are checked as Redis checks them and then have no
//! effect: Petrel keeps no access times or counters (`OBJECT IDLETIME`
//! answers 0, `OBJECT FREQ` the error of a non-LFU policy, Redis's default).

use bytes::Bytes;
use petrel_common::rdb::{self, RdbError, Value};
use petrel_common::reply::{errors, Reply};

use super::db::Db;
use super::events::GENERIC;
use super::outcome::{CmdError, CmdResult};
use super::parse::{int_arg, is_option};
use super::zsets::zset::Zset;
use super::{lists, streams};
use crate::storage::layout::KeyType;

const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const BAD_TTL: &str = "ERR Invalid TTL value, must be >= 0";
const BAD_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
const BAD_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
const BAD_FORMAT: &str = "ERR Bad data format";

/// `DUMP key`: the key's value serialized, or nil.
pub(crate) fn dump(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    match read_value(db, &args[1])? {
        Some(value) => Ok(Reply::Bulk(Bytes::from(rdb::dump(&value)))),
        None => Ok(Reply::Nil),
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
/// [FREQ frequency]`: `+OK`. Checks in Redis's order: options, an
/// existing key, the TTL, the payload's footer, then its contents.
pub(crate) fn restore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        let arg = &args[j];
        if is_option(arg, "replace") {
            replace = true;
        } else if is_option(arg, "absttl") {
            absttl = true;
        } else if is_option(arg, "idletime") && more && freq.is_none() {
            let n = int_arg(&args[j + 1])?;
            if n < 0 {
                return Err(CmdError::reply(BAD_IDLETIME));
            }
            idle = Some(n);
            j += 1;
        } else if is_option(arg, "freq") && more && idle.is_none() {
            let n = int_arg(&args[j + 1])?;
            if !(0..=255).contains(&n) {
                return Err(CmdError::reply(BAD_FREQ));
            }
            freq = Some(n);
            j += 1;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    let existed = db.lookup(key)?.is_some();
    if existed && !replace {
        return Err(CmdError::reply(BUSYKEY));
    }
    let ttl = int_arg(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::reply(BAD_TTL));
    }
    let value = rdb::load(&args[3]).map_err(|e| {
        CmdError::reply(match e {
            RdbError::Footer => "ERR DUMP payload version or checksum are wrong",
            _ => BAD_FORMAT,
        })
    })?;
    if existed {
        db.delete(key);
    }
    let expire_at = match ttl as u64 {
        0 => 0,
        t if absttl => t,
        t => t.saturating_add(db.now_ms()),
    };
    // Redis treats a time already reached as past (`checkAlreadyExpired`).
    if expire_at != 0 && expire_at <= db.now_ms() {
        if existed {
            db.notify(GENERIC, "del", key);
        }
        return Ok(Reply::ok());
    }
    store_value(db, key, &value, expire_at)?;
    db.notify(GENERIC, "restore", key);
    Ok(Reply::ok())
}

/// The live value at `key`, whole.
pub(crate) fn read_value(db: &Db<'_>, key: &[u8]) -> Result<Option<Value>, CmdError> {
    let Some(entry) = db.lookup(key)? else {
        return Ok(None);
    };
    let version = entry.header.version;
    let value = match entry.header.key_type {
        KeyType::String => Value::String(entry.payload),
        KeyType::Hash => {
            let mut pairs = Vec::new();
            db.each_element(key, version, &mut |field, value| {
                pairs.push((Bytes::copy_from_slice(field), Bytes::copy_from_slice(value)));
                true
            })?;
            Value::Hash(pairs)
        }
        KeyType::Set => {
            let mut members = Vec::new();
            db.each_element(key, version, &mut |member, _| {
                members.push(Bytes::copy_from_slice(member));
                true
            })?;
            Value::Set(members)
        }
        KeyType::List => Value::List(lists::all_items(db, key)?.unwrap_or_default()),
        KeyType::ZSet => {
            let mut members = Vec::new();
            if let Some(zset) = Zset::lookup(db, key)? {
                zset.scan_members(db, b"", &mut |member, score| {
                    members.push((Bytes::copy_from_slice(member), score));
                    true
                })?;
            }
            Value::ZSet(members)
        }
        KeyType::Stream => match streams::load_rdb(db, key)? {
            Some(s) => Value::Stream(Box::new(s)),
            None => return Ok(None),
        },
    };
    Ok(Some(value))
}

/// Stores `value` at `key` (which holds nothing live) as a new incarnation
/// expiring at `expire_at_ms` (0: never).
pub(crate) fn store_value(
    db: &mut Db<'_>,
    key: &[u8],
    value: &Value,
    expire_at_ms: u64,
) -> Result<(), CmdError> {
    let elements = |db: &mut Db<'_>, key_type, pairs: &mut dyn Iterator<Item = (&[u8], &[u8])>| {
        let mut entry = db.collection_or_new(key, key_type)?;
        for (element, v) in pairs {
            db.put_element(key, entry.header.version, element, v);
            entry.header.size += 1;
        }
        entry.header.expire_at_ms = expire_at_ms;
        db.save_collection(key, &entry);
        Ok::<(), CmdError>(())
    };
    match value {
        Value::String(s) => {
            let version = db.fresh_version(key)?;
            db.put_string(key, expire_at_ms, version, s);
        }
        Value::Hash(pairs) => elements(
            db,
            KeyType::Hash,
            &mut pairs.iter().map(|(f, v)| (&f[..], &v[..])),
        )?,
        Value::Set(members) => elements(
            db,
            KeyType::Set,
            &mut members.iter().map(|m| (&m[..], &b""[..])),
        )?,
        Value::List(items) => lists::store_items(db, key, items, expire_at_ms)?,
        Value::ZSet(members) => {
            let mut zset = Zset::fresh(db, key)?;
            for (member, score) in members {
                zset.insert(db, member, *score);
            }
            zset.entry.header.expire_at_ms = expire_at_ms;
            zset.save(db);
        }
        Value::Stream(s) => streams::store_rdb(db, key, s, expire_at_ms)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{bulk, err, int, nil, ok, Harness, START_MS};

    fn payload(h: &mut Harness, key: &str) -> Bytes {
        match h.run(&["dump", key]) {
            Reply::Bulk(b) => b,
            other => panic!("DUMP {key}: {other:?}"),
        }
    }

    fn restore(h: &mut Harness, key: &str, ttl: &str, payload: &[u8], opts: &[&str]) -> Reply {
        let mut args: Vec<&[u8]> = vec![b"restore", key.as_bytes(), ttl.as_bytes(), payload];
        args.extend(opts.iter().map(|o| o.as_bytes()));
        h.run_bytes(&args)
    }

    /// Every type dumped, deleted, restored: the same replies after.
    #[test]
    fn every_type_round_trips() {
        let mut h = Harness::new();
        h.run(&["set", "s", "hello"]);
        h.run(&["rpush", "l", "a", "1", "300", "b"]);
        h.run(&["sadd", "si", "3", "1", "2"]);
        h.run(&["sadd", "ss", "x", "y"]);
        h.run(&["hset", "h", "f", "v", "g", "1"]);
        h.run(&["zadd", "z", "1", "a", "2.5", "b", "-3", "c"]);
        h.run(&["xadd", "x", "1-1", "f", "v"]);
        h.run(&["xadd", "x", "1-2", "f", "w", "g", "7"]);
        h.run(&["xgroup", "create", "x", "g", "0"]);
        h.run(&[
            "xreadgroup",
            "group",
            "g",
            "alice",
            "count",
            "1",
            "streams",
            "x",
            ">",
        ]);
        let reads: &[&[&str]] = &[
            &["get", "s"],
            &["lrange", "l", "0", "-1"],
            &["smembers", "si"],
            &["smembers", "ss"],
            &["hgetall", "h"],
            &["zrange", "z", "0", "-1", "withscores"],
            &["xrange", "x", "-", "+"],
            &["xinfo", "stream", "x"],
            &["xinfo", "groups", "x"],
            &["xpending", "x", "g", "-", "+", "10"],
            &["xinfo", "consumers", "x", "g"],
        ];
        let before: Vec<Reply> = reads.iter().map(|r| h.run(r)).collect();
        for key in ["s", "l", "si", "ss", "h", "z", "x"] {
            let p = payload(&mut h, key);
            assert_eq!(restore(&mut h, key, "0", &p, &[]), err(BUSYKEY), "{key}");
            assert_eq!(restore(&mut h, key, "0", &p, &["replace"]), ok(), "{key}");
            h.run(&["del", key]);
            assert_eq!(restore(&mut h, key, "0", &p, &[]), ok(), "{key}");
            assert_eq!(payload(&mut h, key), p, "{key} dumps the same bytes again");
        }
        let after: Vec<Reply> = reads.iter().map(|r| h.run(r)).collect();
        for ((r, b), a) in reads.iter().zip(&before).zip(&after) {
            assert_eq!(b, a, "{r:?}");
        }
    }

    #[test]
    fn ttls() {
        let mut h = Harness::new();
        h.run(&["set", "s", "v"]);
        let p = payload(&mut h, "s");
        assert_eq!(restore(&mut h, "a", "5000", &p, &[]), ok());
        assert_eq!(h.run(&["pttl", "a"]), int(5000));
        let at = (START_MS + 7000).to_string();
        assert_eq!(restore(&mut h, "b", &at, &p, &["absttl"]), ok());
        assert_eq!(h.run(&["pttl", "b"]), int(7000));
        // A time already reached: OK, and nothing is there (a replaced key goes).
        let past = START_MS.to_string();
        assert_eq!(restore(&mut h, "c", &past, &p, &["ABSTTL"]), ok());
        assert_eq!(h.run(&["exists", "c"]), int(0));
        assert_eq!(
            restore(&mut h, "s", &past, &p, &["absttl", "replace"]),
            ok()
        );
        assert_eq!(h.run(&["get", "s"]), nil());
        assert_eq!(restore(&mut h, "d", "0", &p, &[]), ok());
        assert_eq!(h.run(&["pttl", "d"]), int(-1));
        assert_eq!(h.run(&["get", "d"]), bulk("v"));
    }

    #[test]
    fn errors_in_redis_order() {
        let mut h = Harness::new();
        h.run(&["set", "s", "v"]);
        let p = payload(&mut h, "s");
        assert_eq!(
            restore(&mut h, "s", "x", b"junk", &["bogus"]),
            err(errors::SYNTAX)
        );
        assert_eq!(restore(&mut h, "s", "x", b"junk", &[]), err(BUSYKEY));
        assert_eq!(
            restore(&mut h, "n", "x", b"junk", &[]),
            err(errors::NOT_INTEGER)
        );
        assert_eq!(restore(&mut h, "n", "-1", b"junk", &[]), err(BAD_TTL));
        assert_eq!(
            restore(&mut h, "n", "0", b"junk", &[]),
            err("ERR DUMP payload version or checksum are wrong")
        );
        let bad = rdb::seal(vec![2, 0]); // an empty set
        assert_eq!(restore(&mut h, "n", "0", &bad, &[]), err(BAD_FORMAT));
        assert_eq!(h.run(&["exists", "n"]), int(0));
        assert_eq!(
            restore(&mut h, "n", "0", &p, &["idletime", "-1"]),
            err(BAD_IDLETIME)
        );
        assert_eq!(
            restore(&mut h, "n", "0", &p, &["freq", "256"]),
            err(BAD_FREQ)
        );
        assert_eq!(
            restore(&mut h, "n", "0", &p, &["freq", "x"]),
            err(errors::NOT_INTEGER)
        );
        assert_eq!(
            restore(&mut h, "n", "0", &p, &["idletime", "5", "freq", "5"]),
            err(errors::SYNTAX)
        );
        assert_eq!(
            restore(&mut h, "n", "0", &p, &["idletime"]),
            err(errors::SYNTAX)
        );
        assert_eq!(restore(&mut h, "n", "0", &p, &["idletime", "100"]), ok());
        assert_eq!(restore(&mut h, "m", "0", &p, &["freq", "100"]), ok());
        assert_eq!(h.run(&["dump", "nope"]), nil());
    }

    #[test]
    fn events() {
        let mut h = Harness::with_events();
        h.run(&["set", "s", "v"]);
        let p = payload(&mut h, "s");
        let ev = |h: &mut Harness, args: &[&[u8]]| h.events_bytes(args);
        // As Redis's `dbAdd`, a key restored is `new` (replaced or not).
        assert_eq!(
            ev(&mut h, &[b"restore", b"n", b"0", &p]),
            vec!["new n", "restore n"]
        );
        assert_eq!(
            ev(&mut h, &[b"restore", b"n", b"0", &p, b"replace"]),
            vec!["new n", "restore n"]
        );
        assert_eq!(
            ev(&mut h, &[b"restore", b"n", b"1", &p, b"replace", b"absttl"]),
            vec!["del n"]
        );
    }

    /// A stream from redis-server 7.0.15 with a group, a consumer and a
    /// pending entry restores with all of them.
    #[test]
    fn a_redis_stream_restores_whole() {
        let hex = concat!(
            "130110000000000000000100000000000000013232000000130002010001010181660200010201",
            "000100018176020401000100010101020181660281770281670207010801ff0201020101000002",
            "010167010101010000000000000001000000000000000148ed0852a2010000010105616c696365",
            "48ed0852a201000001000000000000000100000000000000010a00768ed0b0dc63911a"
        );
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let mut h = Harness::new();
        assert_eq!(restore(&mut h, "x", "0", &raw, &[]), ok());
        assert_eq!(h.run(&["xlen", "x"]), int(2));
        let pending = h.run(&["xpending", "x", "g"]);
        let Reply::Array(parts) = pending else {
            panic!("{pending:?}")
        };
        assert_eq!(parts[0], int(1));
        assert_eq!(payload(&mut h, "x"), Bytes::from(raw));
        h.run(&["xadd", "x", "1-3", "f", "z"]);
        h.run(&["xack", "x", "g", "1-1"]);
        assert_eq!(h.run(&["xlen", "x"]), int(3));
    }
}
