//! Hash command tests; expected replies are redis-server 7.0.15's.

use bytes::Bytes;
use petrel_common::reply::errors::{
    NAN_OR_INF, NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE,
};
use petrel_common::reply::Reply;

use super::*;
use crate::cmd::testing::*;
use crate::cmd::Execution;
use crate::storage::layout;
use crate::storage::{ReadView, WriteOp};

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn map(pairs: &[(&str, &str)]) -> Reply {
    Reply::Map(pairs.iter().map(|(f, v)| (bulk(f), bulk(v))).collect())
}

fn scan(cursor: &str, items: &[&str]) -> Reply {
    Reply::Array(vec![bulk(cursor), arr(items)])
}

fn arity(cmd: &str) -> Reply {
    err(&format!(
        "ERR wrong number of arguments for '{cmd}' command"
    ))
}

fn size(h: &Harness, key: &str) -> Option<u64> {
    h.header(key).map(|hd| hd.size)
}

/// The element records stored for `key` (any version).
fn stored_elements(h: &Harness, key: &str) -> usize {
    let (start, end) = layout::element_range_all_versions(key.as_bytes());
    let mut n = 0;
    h.engine
        .scan(&start, &end, &mut |_, _| {
            n += 1;
            true
        })
        .unwrap();
    n
}

/// The array items of a reply, as strings.
/// Field/value pairs as HRANDFIELD ... WITHVALUES answers them.
fn pairs_of(flat: &[&str]) -> Reply {
    Reply::Pairs(
        flat.chunks(2)
            .map(|p| (bulk(p[0]), bulk(p.get(1).copied().unwrap_or_default())))
            .collect(),
    )
}

fn items(reply: &Reply) -> Vec<String> {
    let flat;
    let reply = match reply {
        Reply::Pairs(pairs) => {
            flat = Reply::Array(
                pairs
                    .iter()
                    .flat_map(|(a, b)| [a.clone(), b.clone()])
                    .collect(),
            );
            &flat
        }
        other => other,
    };
    match reply {
        Reply::Array(items) => items
            .iter()
            .map(|r| match r {
                Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn hset_hget_hmset_hsetnx() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["hset", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(h.run(&["hset", "h", "a", "10", "c", "3"]), int(1));
    assert_eq!(h.run(&["hset", "h", "d", "4", "d", "5"]), int(1));
    assert_eq!(h.run(&["hget", "h", "a"]), bulk("10"));
    assert_eq!(h.run(&["hget", "h", "d"]), bulk("5"));
    assert_eq!(h.run(&["hget", "h", "nope"]), nil());
    assert_eq!(h.run(&["hget", "missing", "a"]), nil());
    assert_eq!(h.run(&["type", "h"]), status("hash"));
    assert_eq!(h.run(&["hmset", "h", "e", "5", "a", "11"]), ok());
    assert_eq!(h.run(&["hget", "h", "a"]), bulk("11"));
    assert_eq!(h.run(&["hsetnx", "h", "a", "x"]), int(0));
    assert!(h.exec(&["hsetnx", "h", "a", "x"]).mutation.is_empty());
    assert_eq!(h.run(&["hsetnx", "h", "f", "6"]), int(1));
    assert_eq!(h.run(&["hsetnx", "new", "f", "6"]), int(1));
    assert_eq!(h.run(&["hget", "new", "f"]), bulk("6"));
    assert_eq!(h.run(&["hlen", "h"]), int(6));
    // Empty fields and values, and binary ones, are fine.
    assert_eq!(
        h.run_bytes(&[b"hset", b"b", b"", b"", b"\x00\xff", b"\r\n"]),
        int(2)
    );
    assert_eq!(h.run_bytes(&[b"hget", b"b", b""]), bulk(""));
    assert_eq!(
        h.run_bytes(&[b"hget", b"b", b"\x00\xff"]),
        Reply::Bulk(Bytes::from_static(b"\r\n"))
    );
}

#[test]
fn hset_errors() {
    let mut h = Harness::new();
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["hset", "h", "a"]), arity("hset"));
    assert_eq!(h.run(&["hset", "h", "a", "1", "b"]), arity("hset"));
    assert_eq!(h.run(&["hmset", "h", "a", "1", "b"]), arity("hmset"));
    // Arity is checked before the type.
    assert_eq!(h.run(&["hset", "s", "a", "1", "b"]), arity("hset"));
    assert_eq!(h.run(&["hset", "s", "a", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hmset", "s", "a", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hsetnx", "s", "a", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hsetnx", "h", "a"]), arity("hsetnx"));
    assert_eq!(h.run(&["hget", "s", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hget", "h"]), arity("hget"));
    assert_eq!(h.run(&["exists", "h"]), int(0));
    assert_eq!(h.run(&["get", "s"]), bulk("x"));
}

#[test]
fn hmget() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1", "b", "2"]);
    assert_eq!(
        h.run(&["hmget", "h", "a", "x", "b", "a"]),
        Reply::Array(vec![bulk("1"), nil(), bulk("2"), bulk("1")])
    );
    assert_eq!(
        h.run(&["hmget", "missing", "a", "b"]),
        Reply::Array(vec![nil(), nil()])
    );
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["hmget", "s", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hmget", "h"]), arity("hmget"));
}

#[test]
fn hdel() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(h.run(&["hdel", "h", "a", "a", "x"]), int(1));
    assert_eq!(h.run(&["hdel", "h", "x"]), int(0));
    assert!(h.exec(&["hdel", "h", "x"]).mutation.is_empty());
    assert_eq!(h.run(&["hdel", "missing", "x"]), int(0));
    assert_eq!(h.run(&["hlen", "h"]), int(2));
    assert_eq!(h.run(&["hdel", "h", "b", "c"]), int(2));
    assert_eq!(h.run(&["exists", "h"]), int(0));
    assert!(h.header("h").is_none());
    assert_eq!(stored_elements(&h, "h"), 0);
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["hdel", "s", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hdel", "s"]), arity("hdel"));
}

#[test]
fn hlen_hstrlen_hexists() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "hello", "b", ""]);
    assert_eq!(h.run(&["hlen", "h"]), int(2));
    assert_eq!(h.run(&["hlen", "missing"]), int(0));
    assert_eq!(h.run(&["hstrlen", "h", "a"]), int(5));
    assert_eq!(h.run(&["hstrlen", "h", "b"]), int(0));
    assert_eq!(h.run(&["hstrlen", "h", "x"]), int(0));
    assert_eq!(h.run(&["hstrlen", "missing", "x"]), int(0));
    assert_eq!(h.run(&["hexists", "h", "a"]), int(1));
    assert_eq!(h.run(&["hexists", "h", "b"]), int(1));
    assert_eq!(h.run(&["hexists", "h", "x"]), int(0));
    assert_eq!(h.run(&["hexists", "missing", "x"]), int(0));
    h.run(&["set", "s", "x"]);
    for cmd in [
        &["hlen", "s"][..],
        &["hstrlen", "s", "a"],
        &["hexists", "s", "a"],
    ] {
        assert_eq!(h.run(cmd), err(WRONGTYPE), "{cmd:?}");
    }
    assert_eq!(h.run(&["hlen", "h", "x"]), arity("hlen"));
    assert_eq!(h.run(&["hstrlen", "h"]), arity("hstrlen"));
    assert_eq!(h.run(&["hexists", "h", "a", "b"]), arity("hexists"));
}

#[test]
fn hgetall_hkeys_hvals() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "b", "2", "a", "1", "c", "3"]);
    assert_eq!(
        h.run(&["hgetall", "h"]),
        map(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
    assert_eq!(h.run(&["hkeys", "h"]), arr(&["a", "b", "c"]));
    assert_eq!(h.run(&["hvals", "h"]), arr(&["1", "2", "3"]));
    assert_eq!(h.run(&["hgetall", "missing"]), map(&[]));
    assert_eq!(h.run(&["hkeys", "missing"]), arr(&[]));
    assert_eq!(h.run(&["hvals", "missing"]), arr(&[]));
    h.run(&["set", "s", "x"]);
    for cmd in ["hgetall", "hkeys", "hvals"] {
        assert_eq!(h.run(&[cmd, "s"]), err(WRONGTYPE));
        assert_eq!(h.run(&[cmd]), arity(cmd));
    }
}

#[test]
fn hincrby() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["hincrby", "h", "n", "5"]), int(5));
    assert_eq!(h.run(&["hincrby", "h", "n", "-7"]), int(-2));
    assert_eq!(h.run(&["hget", "h", "n"]), bulk("-2"));
    assert_eq!(h.run(&["hlen", "h"]), int(1));
    h.run(&[
        "hset",
        "h",
        "big",
        "9223372036854775806",
        "str",
        "abc",
        "z",
        "010",
        "f",
        "1.5",
    ]);
    assert_eq!(h.run(&["hincrby", "h", "big", "1"]), int(i64::MAX));
    assert_eq!(h.run(&["hincrby", "h", "big", "1"]), err(OVERFLOW));
    assert_eq!(
        h.run(&["hincrby", "h", "m", "-9223372036854775808"]),
        int(i64::MIN)
    );
    assert_eq!(h.run(&["hincrby", "h", "m", "-1"]), err(OVERFLOW));
    for field in ["str", "z", "f"] {
        assert_eq!(
            h.run(&["hincrby", "h", field, "1"]),
            err("ERR hash value is not an integer")
        );
    }
    assert_eq!(h.run(&["hincrby", "h", "n", "1.5"]), err(NOT_INTEGER));
    assert_eq!(
        h.run(&["hincrby", "h", "n", "9223372036854775808"]),
        err(NOT_INTEGER)
    );
    // The increment is checked before the type.
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["hincrby", "s", "n", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["hincrby", "s", "n", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["hincrby", "h", "n"]), arity("hincrby"));
    // The TTL survives.
    h.run(&["expire", "h", "100"]);
    assert_eq!(h.run(&["hincrby", "h", "n", "1"]), int(-1));
    assert_eq!(h.run(&["ttl", "h"]), int(100));
}

#[test]
fn hincrbyfloat() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["hincrbyfloat", "h", "f", "10.5"]), bulk("10.5"));
    assert_eq!(h.run(&["hincrbyfloat", "h", "f", "0.1"]), bulk("10.6"));
    assert_eq!(h.run(&["hget", "h", "f"]), bulk("10.6"));
    h.run(&["hset", "h", "a", "0.1", "z", "010", "s", "abc", "i", "inf"]);
    assert_eq!(h.run(&["hincrbyfloat", "h", "a", "0.2"]), bulk("0.3"));
    assert_eq!(h.run(&["hincrbyfloat", "h", "z", "1"]), bulk("11"));
    assert_eq!(h.run(&["hincrbyfloat", "h", "g", "1.0e1"]), bulk("10"));
    assert_eq!(
        h.run(&["hincrbyfloat", "h", "s", "1"]),
        err("ERR hash value is not a float")
    );
    assert_eq!(h.run(&["hincrbyfloat", "h", "i", "1"]), err(NAN_OR_INF));
    assert_eq!(
        h.run(&["hincrbyfloat", "h", "f", "inf"]),
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(h.run(&["hincrbyfloat", "h", "f", "nan"]), err(NOT_FLOAT));
    assert_eq!(h.run(&["hincrbyfloat", "h", "f", "1e5000"]), err(NOT_FLOAT));
    assert_eq!(h.run(&["hincrbyfloat", "h", "f", "abc"]), err(NOT_FLOAT));
    h.run(&["set", "str", "x"]);
    assert_eq!(
        h.run(&["hincrbyfloat", "str", "f", "inf"]),
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(h.run(&["hincrbyfloat", "str", "f", "1"]), err(WRONGTYPE));
    assert_eq!(
        h.run(&["hincrbyfloat", "missing", "f", "inf"]),
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(h.run(&["exists", "missing"]), int(0));
}

#[test]
fn hrandfield_without_count() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["hrandfield", "missing"]), nil());
    h.run(&["hset", "h", "a", "1", "b", "2", "c", "3"]);
    for _ in 0..20 {
        let Reply::Bulk(f) = h.run(&["hrandfield", "h"]) else {
            panic!("not a bulk")
        };
        assert!([&b"a"[..], b"b", b"c"].contains(&&f[..]));
    }
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["hrandfield", "s"]), err(WRONGTYPE));
}

#[test]
fn hrandfield_with_count() {
    let mut h = Harness::new();
    h.run(&[
        "hset", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5",
    ]);
    // count >= size: the whole hash.
    assert_eq!(
        h.run(&["hrandfield", "h", "5"]),
        arr(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "100"]),
        arr(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "9", "withvalues"]),
        pairs_of(&["a", "1", "b", "2", "c", "3", "d", "4", "e", "5"])
    );
    // Positive: distinct.
    for n in 1..5 {
        let got = items(&h.run(&["hrandfield", "h", &n.to_string()]));
        assert_eq!(got.len(), n);
        let distinct: std::collections::BTreeSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), n, "{got:?}");
    }
    let got = items(&h.run(&["hrandfield", "h", "3", "WithValues"]));
    assert_eq!(got.len(), 6);
    for pair in got.chunks(2) {
        assert_eq!(pair[0].as_bytes()[0] - b'a' + b'1', pair[1].as_bytes()[0]);
    }
    // Negative: exactly |count|, repeats allowed.
    let got = items(&h.run(&["hrandfield", "h", "-50"]));
    assert_eq!(got.len(), 50);
    let distinct: std::collections::BTreeSet<_> = got.iter().collect();
    assert!(distinct.len() < 50);
    let got = items(&h.run(&["hrandfield", "h", "-7", "withvalues"]));
    assert_eq!(got.len(), 14);
    // Zero and missing keys: empty arrays; the type is still checked.
    assert_eq!(h.run(&["hrandfield", "h", "0"]), arr(&[]));
    assert_eq!(h.run(&["hrandfield", "missing", "5"]), arr(&[]));
    assert_eq!(
        h.run(&["hrandfield", "missing", "-5", "withvalues"]),
        arr(&[])
    );
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["hrandfield", "s", "0"]), err(WRONGTYPE));
}

#[test]
fn hrandfield_errors() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1"]);
    assert_eq!(h.run(&["hrandfield", "h", "x"]), err(NOT_INTEGER));
    assert_eq!(
        h.run(&["hrandfield", "h", "x", "withvalues"]),
        err(NOT_INTEGER)
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "9223372036854775808"]),
        err(NOT_INTEGER)
    );
    assert_eq!(h.run(&["hrandfield", "h", "1", "withvalue"]), err(SYNTAX));
    assert_eq!(
        h.run(&["hrandfield", "h", "1", "withvalues", "x"]),
        err(SYNTAX)
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "4611686018427387904", "withvalues"]),
        err("ERR value is out of range")
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "-4611686018427387904", "withvalues"]),
        err("ERR value is out of range")
    );
    assert_eq!(
        h.run(&["hrandfield", "h", "4611686018427387903", "withvalues"]),
        pairs_of(&["a", "1"])
    );
    // Petrel's cap on a repeating count (Redis would build the reply).
    assert_eq!(
        h.run(&["hrandfield", "h", "-100000000"]),
        err("ERR value is out of range")
    );
    assert_eq!(h.run(&["hrandfield"]), arity("hrandfield"));
}

#[test]
fn hscan_small_hash_comes_whole() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1", "b", "2", "ab", "3", "x", "4"]);
    let all = ["a", "1", "ab", "3", "b", "2", "x", "4"];
    assert_eq!(h.run(&["hscan", "h", "0"]), scan("0", &all));
    assert_eq!(h.run(&["hscan", "h", "0", "count", "1"]), scan("0", &all));
    // A small hash ignores the cursor, like Redis's listpacks.
    assert_eq!(h.run(&["hscan", "h", "7"]), scan("0", &all));
    assert_eq!(
        h.run(&["hscan", "h", "0", "match", "a*"]),
        scan("0", &["a", "1", "ab", "3"])
    );
    assert_eq!(
        h.run(&["hscan", "h", "0", "MATCH", "[^a]", "COUNT", "5"]),
        scan("0", &["b", "2", "x", "4"])
    );
    assert_eq!(h.run(&["hscan", "h", "0", "match", "*"]), scan("0", &all));
    assert_eq!(h.run(&["hscan", "h", "0", "match", "zz"]), scan("0", &[]));
    assert_eq!(h.run(&["hscan", "missing", "0"]), scan("0", &[]));
}

#[test]
fn hscan_errors_in_redis_order() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1"]);
    h.run(&["set", "s", "x"]);
    let invalid = err("ERR invalid cursor");
    assert_eq!(h.run(&["hscan", "h", "x"]), invalid);
    assert_eq!(h.run(&["hscan", "h", " 1"]), invalid);
    assert_eq!(h.run(&["hscan", "h", "1x"]), invalid);
    assert_eq!(h.run(&["hscan", "h", "+"]), invalid);
    assert_eq!(h.run(&["hscan", "h", "18446744073709551616"]), invalid);
    assert_eq!(h.run(&["hscan", "s", "x"]), invalid);
    assert_eq!(h.run(&["hscan", "s", "0", "count", "0"]), err(WRONGTYPE));
    // Options of a missing key are not read.
    assert_eq!(
        h.run(&["hscan", "missing", "0", "count", "0"]),
        scan("0", &[])
    );
    assert_eq!(h.run(&["hscan", "h", "0", "count", "0"]), err(SYNTAX));
    assert_eq!(h.run(&["hscan", "h", "0", "count", "-1"]), err(SYNTAX));
    assert_eq!(h.run(&["hscan", "h", "0", "count", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["hscan", "h", "0", "count"]), err(SYNTAX));
    assert_eq!(h.run(&["hscan", "h", "0", "match"]), err(SYNTAX));
    assert_eq!(h.run(&["hscan", "h", "0", "type", "string"]), err(SYNTAX));
    assert_eq!(h.run(&["hscan", "h", "0", "foo", "bar"]), err(SYNTAX));
    assert_eq!(h.run(&["hscan", "h"]), arity("hscan"));
}

#[test]
fn scan_cursors_parse_like_strtoul() {
    assert_eq!(parse_cursor(b"0").ok(), Some(0));
    assert_eq!(parse_cursor(b"").ok(), Some(0));
    assert_eq!(parse_cursor(b"007").ok(), Some(7));
    assert_eq!(parse_cursor(b"+5").ok(), Some(5));
    assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
    assert_eq!(parse_cursor(b"5\0junk").ok(), Some(5));
    assert_eq!(parse_cursor(b"18446744073709551615").ok(), Some(u64::MAX));
    for bad in [
        &b"x"[..],
        b"-",
        b" 1",
        b"\t1",
        b"1 ",
        b"1.5",
        b"18446744073709551616",
    ] {
        assert!(parse_cursor(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn hscan_large_hash_pages_by_offset() {
    let mut h = Harness::new();
    let n = 1000;
    let mut args = vec!["hset".to_string(), "h".to_string()];
    for i in 0..n {
        args.push(format!("f{i:04}"));
        args.push(i.to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(h.run(&argv), int(n));
    // Default COUNT is 10.
    let first = h.run(&["hscan", "h", "0"]);
    let Reply::Array(parts) = &first else {
        panic!()
    };
    assert_eq!(parts[0], bulk("10"));
    assert_eq!(items(&parts[1]).len(), 20);
    // A full iteration returns every field exactly once.
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let reply = h.run(&["hscan", "h", &cursor, "count", "97"]);
        let Reply::Array(parts) = reply else { panic!() };
        let got = items(&parts[1]);
        seen.extend(got.chunks(2).map(|p| p[0].clone()));
        cursor = items(&Reply::Array(vec![parts[0].clone()]))[0].clone();
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(calls, 11);
    let expected: Vec<String> = (0..n).map(|i| format!("f{i:04}")).collect();
    assert_eq!(seen, expected);
    // MATCH filters what COUNT examined.
    let reply = h.run(&["hscan", "h", "0", "match", "f00[0-4]?", "count", "100"]);
    let Reply::Array(parts) = reply else { panic!() };
    assert_eq!(parts[0], bulk("100"));
    assert_eq!(items(&parts[1]).len(), 100);
    let reply = h.run(&["hscan", "h", "100", "match", "f00[0-4]?", "count", "100"]);
    let Reply::Array(parts) = reply else { panic!() };
    assert_eq!(parts[0], bulk("200"));
    assert!(items(&parts[1]).is_empty());
    // The last page ends the iteration; a cursor past the end does too.
    assert_eq!(
        h.run(&["hscan", "h", "995", "count", "5"]),
        scan(
            "0",
            &["f0995", "995", "f0996", "996", "f0997", "997", "f0998", "998", "f0999", "999"]
        )
    );
    assert_eq!(h.run(&["hscan", "h", "5000"]), scan("0", &[]));
    assert_eq!(h.run(&["hscan", "h", "-1"]), scan("0", &[]));
}

#[test]
fn size_stays_exact() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1", "b", "2"]);
    assert_eq!(size(&h, "h"), Some(2));
    h.run(&["hset", "h", "a", "9", "c", "3", "c", "4"]);
    assert_eq!(size(&h, "h"), Some(3));
    h.run(&["hmset", "h", "d", "1", "a", "1"]);
    assert_eq!(size(&h, "h"), Some(4));
    h.run(&["hsetnx", "h", "a", "1"]);
    h.run(&["hsetnx", "h", "e", "1"]);
    assert_eq!(size(&h, "h"), Some(5));
    h.run(&["hincrby", "h", "a", "1"]);
    h.run(&["hincrby", "h", "f", "1"]);
    h.run(&["hincrbyfloat", "h", "g", "1.5"]);
    h.run(&["hincrbyfloat", "h", "g", "1.5"]);
    assert_eq!(size(&h, "h"), Some(7));
    assert_eq!(stored_elements(&h, "h"), 7);
    h.run(&["hdel", "h", "a", "a", "nope", "b"]);
    assert_eq!(size(&h, "h"), Some(5));
    h.run(&["hdel", "h", "nope"]);
    assert_eq!(size(&h, "h"), Some(5));
    assert_eq!(stored_elements(&h, "h"), 5);
    assert_eq!(h.run(&["hlen", "h"]), int(5));
    h.run(&["hdel", "h", "c", "d", "e", "f", "g"]);
    assert_eq!(size(&h, "h"), None);
    assert_eq!(stored_elements(&h, "h"), 0);
}

#[test]
fn expiry_and_replacement() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1", "b", "2"]);
    h.run(&["pexpire", "h", "50"]);
    assert_eq!(h.run(&["hset", "h", "c", "3"]), int(1));
    assert_eq!(h.run(&["pttl", "h"]), int(50));
    h.now += 100;
    assert_eq!(h.run(&["hget", "h", "a"]), nil());
    assert_eq!(h.run(&["hlen", "h"]), int(0));
    // A new incarnation sees none of the expired one's fields.
    assert_eq!(h.run(&["hset", "h", "z", "9"]), int(1));
    assert_eq!(h.run(&["hgetall", "h"]), map(&[("z", "9")]));
    assert_eq!(h.run(&["ttl", "h"]), int(-1));
    assert_eq!(stored_elements(&h, "h"), 1);
    // SET over a hash replaces it, elements included.
    h.run(&["set", "h", "str"]);
    assert_eq!(stored_elements(&h, "h"), 0);
    assert_eq!(h.run(&["hget", "h", "z"]), err(WRONGTYPE));
    h.run(&["del", "h"]);
    assert_eq!(h.run(&["hset", "h", "y", "1"]), int(1));
    assert_eq!(h.run(&["hkeys", "h"]), arr(&["y"]));
}

#[test]
fn reads_never_write() {
    let mut h = Harness::new();
    h.run(&["hset", "h", "a", "1"]);
    for cmd in [
        &["hget", "h", "a"][..],
        &["hmget", "h", "a", "b"],
        &["hlen", "h"],
        &["hstrlen", "h", "a"],
        &["hexists", "h", "a"],
        &["hgetall", "h"],
        &["hkeys", "h"],
        &["hvals", "h"],
        &["hrandfield", "h", "-3", "withvalues"],
        &["hscan", "h", "0"],
    ] {
        assert!(h.exec(cmd).mutation.is_empty(), "{cmd:?}");
        assert!(!crate::cmd::testing::is_write(cmd[0].as_bytes()));
    }
    for cmd in ["hset", "hsetnx", "hmset", "hdel", "hincrby", "hincrbyfloat"] {
        assert!(crate::cmd::testing::is_write(cmd.as_bytes()), "{cmd}");
    }
}

fn counted(h: &Harness, args: &[&str]) -> (Execution, u64, u64) {
    h.counted(args)
}

fn element_ops(exec: &Execution) -> usize {
    exec.mutation
        .ops
        .iter()
        .filter(|op| match op {
            WriteOp::Put(k, _) | WriteOp::Delete(k) => k.first() == Some(&layout::ELEMENT_PREFIX),
            WriteOp::DeleteRange(..) => true,
        })
        .count()
}

#[test]
fn large_hash_commands_touch_one_element() {
    let mut h = Harness::new();
    let n = 100_000;
    let mut args = vec!["hset".to_string(), "big".to_string()];
    for i in 0..n {
        args.push(format!("field:{i}"));
        args.push(format!("value:{i}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(h.run(&argv), int(n));
    assert_eq!(size(&h, "big"), Some(n as u64));
    assert_eq!(h.run(&["hlen", "big"]), int(n));

    // Reads: a metadata read plus one element read, no scan.
    for cmd in [
        &["hget", "big", "field:777"][..],
        &["hexists", "big", "field:777"],
        &["hstrlen", "big", "field:777"],
        &["hlen", "big"],
    ] {
        let (exec, gets, visited) = counted(&h, cmd);
        assert!(!exec.reply.is_error(), "{cmd:?}");
        assert!(exec.mutation.is_empty());
        assert!(gets <= 2, "{cmd:?}: {gets} reads");
        assert_eq!(visited, 0, "{cmd:?}");
    }
    assert_eq!(
        counted(&h, &["hget", "big", "field:777"]).0.reply,
        bulk("value:777")
    );

    // Writes: one element op plus the metadata record, whatever the size.
    let writes: [&[&str]; 6] = [
        &["hset", "big", "field:5", "new"],
        &["hset", "big", "fresh", "1"],
        &["hsetnx", "big", "fresh2", "1"],
        &["hincrby", "big", "counter", "1"],
        &["hincrbyfloat", "big", "float", "1.5"],
        &["hdel", "big", "field:6"],
    ];
    for cmd in writes {
        let (exec, gets, visited) = counted(&h, cmd);
        assert!(!exec.reply.is_error(), "{cmd:?}: {:?}", exec.reply);
        assert_eq!(
            exec.mutation.ops.len(),
            2,
            "{cmd:?}: {:?}",
            exec.mutation.ops
        );
        assert_eq!(element_ops(&exec), 1, "{cmd:?}");
        assert!(gets <= 4, "{cmd:?}: {gets} reads");
        assert_eq!(visited, 0, "{cmd:?}");
        h.apply(&exec.mutation);
    }
    // field:5 updated, fresh + fresh2 + counter + float added, field:6 deleted.
    assert_eq!(size(&h, "big"), Some(n as u64 + 3));
    assert_eq!(stored_elements(&h, "big"), n as usize + 3);
    assert_eq!(h.run(&["hget", "big", "field:5"]), bulk("new"));
    assert_eq!(h.run(&["hget", "big", "field:6"]), nil());

    // HSCAN of a large hash examines about COUNT fields past the cursor.
    let (exec, _, visited) = counted(&h, &["hscan", "big", "0", "count", "10"]);
    assert_eq!(exec.reply, {
        let Reply::Array(parts) = &exec.reply else {
            panic!()
        };
        assert_eq!(parts[0], bulk("10"));
        exec.reply.clone()
    });
    assert!(visited <= 11, "{visited}");
    // HRANDFIELD without a count stops at the field it drew.
    let (exec, _, visited) = counted(&h, &["hrandfield", "big"]);
    assert!(matches!(exec.reply, Reply::Bulk(_)));
    assert!(visited <= n as u64 + 3);
    // Deleting the whole hash is one range delete, not one op per field.
    let exec = h.exec(&["del", "big"]);
    assert!(
        exec.mutation.ops.len() <= 2,
        "{:?}",
        exec.mutation.ops.len()
    );
}
