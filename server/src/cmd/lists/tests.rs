//! List command tests: replies and errors as redis-server 7.0.15 gives them,
//! the exact element count in the header, and how much a command on a long
//! list reads and writes.

use std::collections::VecDeque;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::testing::*;
use crate::storage::layout::{self, KeyType};
use crate::storage::{ReadView, StorageError, WriteOp};

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&i| int(i)).collect())
}

/// The whole list, by LRANGE 0 -1.
fn items(h: &mut Harness, key: &str) -> Vec<String> {
    match h.run(&["lrange", key, "0", "-1"]) {
        Reply::Array(items) => items
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// The stored element count, checked against LLEN and the element records.
fn size(h: &mut Harness, key: &str) -> u64 {
    let header = h.header(key);
    let llen = match h.run(&["llen", key]) {
        Reply::Int(n) => n as u64,
        other => panic!("llen: {other:?}"),
    };
    let stored = stored_elements(h, key);
    match header {
        Some(header) => {
            assert_eq!(header.key_type, KeyType::List);
            assert_eq!(header.size, llen, "{key}: header size vs LLEN");
            assert_eq!(stored, llen, "{key}: element records vs LLEN");
            header.size
        }
        None => {
            assert_eq!(llen, 0);
            assert_eq!(stored, 0, "{key}: records left after the key went");
            0
        }
    }
}

/// Element records stored for any version of `key`.
fn stored_elements(h: &Harness, key: &str) -> u64 {
    let (start, end) = layout::element_range_all_versions(key.as_bytes());
    let mut n = 0;
    h.engine
        .scan(&start, &end, &mut |_, _| {
            n += 1;
            true
        })
        .expect("scan");
    n
}

fn rpush(h: &mut Harness, key: &str, values: &[&str]) {
    let mut args = vec!["rpush", key];
    args.extend_from_slice(values);
    assert!(matches!(h.run(&args), Reply::Int(_)));
}

const WRONGTYPE: &str = errors::WRONGTYPE;

#[test]
fn push_and_len() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["lpush", "l", "a", "b", "c"]), int(3));
    assert_eq!(items(&mut h, "l"), ["c", "b", "a"]);
    assert_eq!(h.run(&["rpush", "l", "d", "e"]), int(5));
    assert_eq!(items(&mut h, "l"), ["c", "b", "a", "d", "e"]);
    assert_eq!(size(&mut h, "l"), 5);
    assert_eq!(h.run(&["llen", "missing"]), int(0));
    assert_eq!(h.run(&["lpushx", "missing", "a"]), int(0));
    assert_eq!(h.run(&["rpushx", "missing", "a", "b"]), int(0));
    assert_eq!(h.header("missing"), None);
    assert_eq!(h.run(&["lpushx", "l", "x", "y"]), int(7));
    assert_eq!(h.run(&["rpushx", "l", "z"]), int(8));
    assert_eq!(items(&mut h, "l"), ["y", "x", "c", "b", "a", "d", "e", "z"]);
    assert_eq!(size(&mut h, "l"), 8);
    assert_eq!(h.run(&["type", "l"]), status("list"));
    // Binary-safe items, the empty one included.
    assert_eq!(h.run_bytes(&[b"rpush", b"bin", b"\x00\xff", b""]), int(2));
    assert_eq!(
        h.run(&["lrange", "bin", "0", "-1"]),
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"\x00\xff")),
            Reply::Bulk(Bytes::new())
        ])
    );
}

#[test]
fn wrong_type_everywhere() {
    let mut h = Harness::new();
    h.run(&["set", "s", "x"]);
    rpush(&mut h, "l", &["a"]);
    for cmd in [
        &["lpush", "s", "a"][..],
        &["rpush", "s", "a"],
        &["lpushx", "s", "a"],
        &["rpushx", "s", "a"],
        &["lpop", "s"],
        &["rpop", "s", "2"],
        &["lpop", "s", "0"],
        &["llen", "s"],
        &["lrange", "s", "0", "-1"],
        &["lindex", "s", "abc"],
        &["lset", "s", "0", "x"],
        &["lrem", "s", "0", "x"],
        &["ltrim", "s", "0", "1"],
        &["linsert", "s", "before", "a", "b"],
        &["lpos", "s", "a"],
        &["lmove", "s", "l", "left", "right"],
        &["lmove", "l", "s", "left", "right"],
        &["rpoplpush", "l", "s"],
        &["lmpop", "2", "missing", "s", "left"],
    ] {
        let exec = h.exec(cmd);
        assert_eq!(exec.reply, err(WRONGTYPE), "{cmd:?}");
        assert!(exec.mutation.is_empty(), "{cmd:?}");
    }
    // Nothing moved out of `l` on the way to the wrong destination.
    assert_eq!(items(&mut h, "l"), ["a"]);
}

#[test]
fn pop_with_and_without_count() {
    let mut h = Harness::new();
    rpush(&mut h, "l", &["a", "b", "c", "d", "e"]);
    assert_eq!(h.run(&["lpop", "l"]), bulk("a"));
    assert_eq!(h.run(&["rpop", "l"]), bulk("e"));
    assert_eq!(h.run(&["lpop", "l", "2"]), arr(&["b", "c"]));
    assert_eq!(size(&mut h, "l"), 1);
    assert_eq!(h.run(&["lpop", "l", "0"]), arr(&[]));
    assert_eq!(h.run(&["rpop", "l", "10"]), arr(&["d"]));
    assert_eq!(size(&mut h, "l"), 0);
    assert_eq!(h.header("l"), None);
    assert_eq!(h.run(&["lpop", "l"]), nil());
    assert_eq!(h.run(&["rpop", "l", "2"]), Reply::NilArray);
    assert_eq!(h.run(&["lpop", "l", "0"]), Reply::NilArray);
    rpush(&mut h, "l", &["a", "b", "c", "d"]);
    assert_eq!(h.run(&["rpop", "l", "3"]), arr(&["d", "c", "b"]));
    assert_eq!(h.run(&["rpop", "l", "9223372036854775807"]), arr(&["a"]));
    // Count errors come before the key lookup.
    h.run(&["set", "s", "x"]);
    for bad in ["-1", "abc", "1.5", "9223372036854775808"] {
        assert_eq!(
            h.run(&["lpop", "s", bad]),
            err("ERR value is out of range, must be positive")
        );
        assert_eq!(
            h.run(&["rpop", "missing", bad]),
            err("ERR value is out of range, must be positive")
        );
    }
    assert_eq!(
        h.run(&["lpop", "l", "1", "2"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(
        h.run(&["rpop"]),
        err("ERR wrong number of arguments for 'rpop' command")
    );
}

#[test]
fn lrange_index_edges() {
    let mut h = Harness::new();
    rpush(&mut h, "l", &["a", "b", "c", "d", "e"]);
    let cases: &[(&str, &str, &[&str])] = &[
        ("0", "-1", &["a", "b", "c", "d", "e"]),
        ("0", "0", &["a"]),
        ("-1", "-1", &["e"]),
        ("-2", "-1", &["d", "e"]),
        ("1", "3", &["b", "c", "d"]),
        ("-100", "100", &["a", "b", "c", "d", "e"]),
        ("-100", "-6", &[]),
        ("-100", "-5", &["a"]),
        ("3", "1", &[]),
        ("5", "10", &[]),
        ("4", "10", &["e"]),
        ("0", "-6", &[]),
        (
            "-9223372036854775808",
            "9223372036854775807",
            &["a", "b", "c", "d", "e"],
        ),
        ("9223372036854775807", "-9223372036854775808", &[]),
    ];
    for (start, stop, want) in cases {
        assert_eq!(
            h.run(&["lrange", "l", start, stop]),
            arr(want),
            "{start} {stop}"
        );
    }
    assert_eq!(h.run(&["lrange", "missing", "0", "-1"]), arr(&[]));
    assert_eq!(
        h.run(&["lrange", "missing", "a", "0"]),
        err(errors::NOT_INTEGER)
    );
    assert_eq!(
        h.run(&["lrange", "l", "0", "1.0"]),
        err(errors::NOT_INTEGER)
    );
}

#[test]
fn lindex_and_lset() {
    let mut h = Harness::new();
    rpush(&mut h, "l", &["a", "b", "c"]);
    for (i, want) in [
        ("0", bulk("a")),
        ("2", bulk("c")),
        ("3", nil()),
        ("-1", bulk("c")),
        ("-3", bulk("a")),
        ("-4", nil()),
        ("9223372036854775807", nil()),
        ("-9223372036854775808", nil()),
    ] {
        assert_eq!(h.run(&["lindex", "l", i]), want, "{i}");
    }
    // The key is looked up before the index is parsed.
    assert_eq!(h.run(&["lindex", "missing", "abc"]), nil());
    assert_eq!(h.run(&["lindex", "l", "abc"]), err(errors::NOT_INTEGER));

    assert_eq!(h.run(&["lset", "l", "1", "B"]), ok());
    assert_eq!(h.run(&["lset", "l", "-1", "C"]), ok());
    assert_eq!(h.run(&["lset", "l", "-3", "A"]), ok());
    assert_eq!(items(&mut h, "l"), ["A", "B", "C"]);
    assert_eq!(
        h.run(&["lset", "l", "3", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(
        h.run(&["lset", "l", "-4", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(h.run(&["lset", "l", "abc", "x"]), err(errors::NOT_INTEGER));
    assert_eq!(
        h.run(&["lset", "missing", "0", "x"]),
        err("ERR no such key")
    );
    assert_eq!(
        h.run(&["lset", "missing", "abc", "x"]),
        err("ERR no such key")
    );
    assert_eq!(h.header("missing"), None);
    assert_eq!(size(&mut h, "l"), 3);
}

#[test]
fn lrem_counts_and_directions() {
    let mut h = Harness::new();
    let start = ["a", "x", "b", "x", "c", "x", "d", "x"];
    rpush(&mut h, "l", &start);
    assert_eq!(h.run(&["lrem", "l", "2", "x"]), int(2));
    assert_eq!(items(&mut h, "l"), ["a", "b", "c", "x", "d", "x"]);
    assert_eq!(h.run(&["lrem", "l", "-1", "x"]), int(1));
    assert_eq!(items(&mut h, "l"), ["a", "b", "c", "x", "d"]);
    assert_eq!(h.run(&["lrem", "l", "0", "nope"]), int(0));
    assert_eq!(h.run(&["lrem", "l", "0", "x"]), int(1));
    assert_eq!(items(&mut h, "l"), ["a", "b", "c", "d"]);
    assert_eq!(size(&mut h, "l"), 4);
    assert_eq!(h.run(&["lrem", "l", "-9223372036854775808", "a"]), int(1));
    assert_eq!(items(&mut h, "l"), ["b", "c", "d"]);
    // Removing everything deletes the key and every record.
    h.run(&["del", "l"]);
    rpush(&mut h, "l", &["x", "x", "x"]);
    assert_eq!(h.run(&["lrem", "l", "0", "x"]), int(3));
    assert_eq!(h.header("l"), None);
    assert_eq!(size(&mut h, "l"), 0);
    assert_eq!(h.run(&["lrem", "missing", "0", "x"]), int(0));
    assert_eq!(
        h.run(&["lrem", "missing", "abc", "x"]),
        err(errors::NOT_INTEGER)
    );
    // Both shifting sides: removals near the head and near the tail.
    for (count, target, want) in [
        ("1", "h", vec!["t", "m", "m", "m", "m", "m", "t"]),
        ("-1", "t", vec!["h", "t", "m", "m", "m", "m", "m"]),
        ("0", "m", vec!["h", "t", "t"]),
    ] {
        h.run(&["del", "s"]);
        rpush(&mut h, "s", &["h", "t", "m", "m", "m", "m", "m", "t"]);
        assert_eq!(
            h.run(&["lrem", "s", count, target]),
            int((8 - want.len()) as i64)
        );
        assert_eq!(items(&mut h, "s"), want);
        assert_eq!(size(&mut h, "s"), want.len() as u64);
    }
}

#[test]
fn ltrim_edges() {
    let mut h = Harness::new();
    let fill = ["a", "b", "c", "d", "e"];
    let cases: &[(&str, &str, &[&str])] = &[
        ("0", "-1", &["a", "b", "c", "d", "e"]),
        ("1", "-2", &["b", "c", "d"]),
        ("0", "0", &["a"]),
        ("-1", "-1", &["e"]),
        ("2", "100", &["c", "d", "e"]),
        ("-100", "1", &["a", "b"]),
        ("3", "1", &[]),
        ("5", "10", &[]),
        ("0", "-6", &[]),
    ];
    for (start, stop, want) in cases {
        h.run(&["del", "l"]);
        rpush(&mut h, "l", &fill);
        assert_eq!(h.run(&["ltrim", "l", start, stop]), ok());
        assert_eq!(items(&mut h, "l"), *want, "{start} {stop}");
        assert_eq!(size(&mut h, "l"), want.len() as u64);
    }
    assert_eq!(h.run(&["ltrim", "missing", "0", "1"]), ok());
    assert_eq!(h.header("missing"), None);
    assert_eq!(
        h.run(&["ltrim", "missing", "a", "0"]),
        err(errors::NOT_INTEGER)
    );
    // A trim that keeps everything writes nothing.
    rpush(&mut h, "k", &["a", "b"]);
    assert!(h.exec(&["ltrim", "k", "0", "-1"]).mutation.is_empty());
}

#[test]
fn linsert_before_and_after() {
    let mut h = Harness::new();
    rpush(&mut h, "l", &["a", "b", "c", "d"]);
    assert_eq!(h.run(&["linsert", "l", "before", "a", "0"]), int(5));
    assert_eq!(h.run(&["linsert", "l", "AFTER", "d", "9"]), int(6));
    assert_eq!(h.run(&["linsert", "l", "after", "b", "b2"]), int(7));
    assert_eq!(h.run(&["linsert", "l", "Before", "c", "c0"]), int(8));
    assert_eq!(
        items(&mut h, "l"),
        ["0", "a", "b", "b2", "c0", "c", "d", "9"]
    );
    assert_eq!(size(&mut h, "l"), 8);
    // The first match from the head is the pivot.
    rpush(&mut h, "dup", &["x", "y", "x"]);
    assert_eq!(h.run(&["linsert", "dup", "after", "x", "z"]), int(4));
    assert_eq!(items(&mut h, "dup"), ["x", "z", "y", "x"]);
    assert_eq!(h.run(&["linsert", "l", "before", "nope", "x"]), int(-1));
    assert_eq!(h.run(&["linsert", "missing", "before", "a", "x"]), int(0));
    assert_eq!(h.header("missing"), None);
    assert_eq!(
        h.run(&["linsert", "missing", "middle", "a", "x"]),
        err(errors::SYNTAX)
    );
    assert_eq!(h.run(&["linsert", "l", "after\0junk", "a", "x"]), int(9));
}

#[test]
fn lpos_options() {
    let mut h = Harness::new();
    rpush(&mut h, "l", &["a", "b", "c", "a", "b", "c", "a"]);
    assert_eq!(h.run(&["lpos", "l", "a"]), int(0));
    assert_eq!(h.run(&["lpos", "l", "c"]), int(2));
    assert_eq!(h.run(&["lpos", "l", "z"]), nil());
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "2"]), int(3));
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "-1"]), int(6));
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "-2"]), int(3));
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "4"]), nil());
    assert_eq!(h.run(&["lpos", "l", "a", "count", "0"]), ints(&[0, 3, 6]));
    assert_eq!(h.run(&["lpos", "l", "a", "count", "2"]), ints(&[0, 3]));
    assert_eq!(
        h.run(&["lpos", "l", "a", "count", "2", "rank", "2"]),
        ints(&[3, 6])
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "count", "0", "rank", "-1"]),
        ints(&[6, 3, 0])
    );
    assert_eq!(h.run(&["lpos", "l", "z", "count", "0"]), ints(&[]));
    assert_eq!(h.run(&["lpos", "l", "a", "maxlen", "3"]), int(0));
    assert_eq!(
        h.run(&["lpos", "l", "a", "maxlen", "3", "rank", "2"]),
        nil()
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "maxlen", "4", "count", "0"]),
        ints(&[0, 3])
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "rank", "-2", "count", "2", "maxlen", "4"]),
        ints(&[3])
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "count", "0", "maxlen", "1"]),
        ints(&[0])
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "rank", "9223372036854775807"]),
        nil()
    );
    // Redis 7.2 refuses the most negative RANK (7.0 negated it in C and
    // counted every match); the most negative it takes is -LONG_MAX.
    let range = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    assert_eq!(
        h.run(&["lpos", "l", "a", "rank", "-9223372036854775808"]),
        err(range)
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "rank", "-9223372036854775807"]),
        nil()
    );
    // The last option of a kind wins.
    assert_eq!(h.run(&["lpos", "l", "a", "rank", "3", "rank", "1"]), int(0));
    // Missing keys.
    assert_eq!(h.run(&["lpos", "missing", "a"]), nil());
    assert_eq!(h.run(&["lpos", "missing", "a", "count", "0"]), ints(&[]));
    // Errors, parsed before the key is looked up.
    let rank0 = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
    assert_eq!(h.run(&["lpos", "missing", "a", "rank", "0"]), err(rank0));
    assert_eq!(
        h.run(&["lpos", "l", "a", "rank", "abc"]),
        err(errors::NOT_INTEGER)
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "count", "-1"]),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "count", "abc"]),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "maxlen", "-1"]),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(
        h.run(&["lpos", "l", "a", "maxlen", "x"]),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(h.run(&["lpos", "l", "a", "foo"]), err(errors::SYNTAX));
    assert_eq!(h.run(&["lpos", "l", "a", "rank"]), err(errors::SYNTAX));
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["lpos", "s", "a", "rank", "0"]), err(rank0));
}

#[test]
fn lmove_and_rpoplpush() {
    let mut h = Harness::new();
    rpush(&mut h, "src", &["a", "b", "c"]);
    assert_eq!(h.run(&["lmove", "src", "dst", "left", "right"]), bulk("a"));
    assert_eq!(h.run(&["lmove", "src", "dst", "RIGHT", "LEFT"]), bulk("c"));
    assert_eq!(items(&mut h, "dst"), ["c", "a"]);
    assert_eq!(h.run(&["rpoplpush", "dst", "src"]), bulk("a"));
    assert_eq!(items(&mut h, "src"), ["a", "b"]);
    assert_eq!(items(&mut h, "dst"), ["c"]);
    assert_eq!(h.run(&["lmove", "dst", "src", "left", "left"]), bulk("c"));
    assert_eq!(h.header("dst"), None);
    assert_eq!(size(&mut h, "dst"), 0);
    assert_eq!(items(&mut h, "src"), ["c", "a", "b"]);
    assert_eq!(size(&mut h, "src"), 3);
    // Same key: a rotation, or nothing at all.
    assert_eq!(h.run(&["lmove", "src", "src", "left", "right"]), bulk("c"));
    assert_eq!(items(&mut h, "src"), ["a", "b", "c"]);
    assert_eq!(h.run(&["rpoplpush", "src", "src"]), bulk("c"));
    assert_eq!(items(&mut h, "src"), ["c", "a", "b"]);
    let exec = h.exec(&["lmove", "src", "src", "right", "right"]);
    assert_eq!(exec.reply, bulk("b"));
    assert!(exec.mutation.is_empty());
    rpush(&mut h, "one", &["x"]);
    let exec = h.exec(&["lmove", "one", "one", "left", "right"]);
    assert_eq!(exec.reply, bulk("x"));
    assert!(exec.mutation.is_empty());
    assert_eq!(size(&mut h, "src"), 3);
    // Missing source: nil, even toward a key of another type.
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["lmove", "missing", "s", "left", "right"]), nil());
    assert_eq!(h.run(&["rpoplpush", "missing", "dst"]), nil());
    assert_eq!(h.header("dst"), None);
    // Directions are checked first.
    assert_eq!(
        h.run(&["lmove", "missing", "s", "up", "right"]),
        err(errors::SYNTAX)
    );
    assert_eq!(
        h.run(&["lmove", "src", "dst", "left", "down"]),
        err(errors::SYNTAX)
    );
    assert_eq!(items(&mut h, "src"), ["c", "a", "b"]);
    // The destination keeps its TTL.
    rpush(&mut h, "ttl", &["z"]);
    h.run(&["expire", "ttl", "100"]);
    assert_eq!(h.run(&["lmove", "src", "ttl", "left", "left"]), bulk("c"));
    assert_eq!(h.run(&["ttl", "ttl"]), int(100));
}

#[test]
fn lmpop_forms_and_errors() {
    let mut h = Harness::new();
    rpush(&mut h, "b", &["1", "2", "3"]);
    rpush(&mut h, "c", &["x"]);
    let keyed = |key: &str, items: &[&str]| Reply::Array(vec![bulk(key), arr(items)]);
    assert_eq!(
        h.run(&["lmpop", "3", "a", "b", "c", "left"]),
        keyed("b", &["1"])
    );
    assert_eq!(
        h.run(&["lmpop", "3", "a", "b", "c", "RIGHT", "count", "5"]),
        keyed("b", &["3", "2"])
    );
    assert_eq!(h.header("b"), None);
    assert_eq!(
        h.run(&["lmpop", "2", "b", "c", "left", "COUNT", "1"]),
        keyed("c", &["x"])
    );
    assert_eq!(h.run(&["lmpop", "2", "b", "c", "left"]), Reply::NilArray);
    for (cmd, want) in [
        (
            &["lmpop", "0", "b", "left"][..],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["lmpop", "-1", "b", "left"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["lmpop", "abc", "b", "left"],
            "ERR numkeys should be greater than 0",
        ),
        (&["lmpop", "2", "b", "left"], errors::SYNTAX),
        (
            &["lmpop", "9223372036854775807", "b", "left"],
            errors::SYNTAX,
        ),
        (&["lmpop", "1", "b", "up"], errors::SYNTAX),
        (
            &["lmpop", "1", "b", "left", "count", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["lmpop", "1", "b", "left", "count", "x"],
            "ERR count should be greater than 0",
        ),
        (
            &["lmpop", "1", "b", "left", "count", "1", "count", "1"],
            errors::SYNTAX,
        ),
        (&["lmpop", "1", "b", "left", "count"], errors::SYNTAX),
        (&["lmpop", "1", "b", "left", "foo"], errors::SYNTAX),
    ] {
        assert_eq!(h.run(cmd), err(want), "{cmd:?}");
    }
    assert_eq!(
        h.run(&["lmpop", "1", "b"]),
        err("ERR wrong number of arguments for 'lmpop' command")
    );
}

#[test]
fn expired_lists_are_gone() {
    let mut h = Harness::new();
    rpush(&mut h, "l", &["a", "b"]);
    h.run(&["pexpire", "l", "10"]);
    h.now += 100;
    assert_eq!(h.run(&["llen", "l"]), int(0));
    assert_eq!(h.run(&["lpop", "l"]), nil());
    assert_eq!(h.run(&["lset", "l", "0", "x"]), err("ERR no such key"));
    assert_eq!(h.run(&["rpush", "l", "c"]), int(1));
    assert_eq!(items(&mut h, "l"), ["c"]);
    assert_eq!(h.run(&["ttl", "l"]), int(-1));
    // The old incarnation's items went with it.
    assert_eq!(size(&mut h, "l"), 1);
}

#[test]
fn arity_errors() {
    let mut h = Harness::new();
    for (cmd, name) in [
        (&["lpush", "l"][..], "lpush"),
        (&["rpushx", "l"], "rpushx"),
        (&["llen"], "llen"),
        (&["lrange", "l", "0"], "lrange"),
        (&["lindex", "l"], "lindex"),
        (&["lset", "l", "0"], "lset"),
        (&["lrem", "l", "0"], "lrem"),
        (&["ltrim", "l", "0"], "ltrim"),
        (&["linsert", "l", "before", "a"], "linsert"),
        (&["lpos", "l"], "lpos"),
        (&["lmove", "a", "b", "left"], "lmove"),
        (&["rpoplpush", "a"], "rpoplpush"),
    ] {
        assert_eq!(
            h.run(cmd),
            err(&format!(
                "ERR wrong number of arguments for '{name}' command"
            ))
        );
    }
}

#[test]
fn writes_are_classified() {
    for name in [
        "lpush",
        "rpush",
        "lpushx",
        "rpushx",
        "lpop",
        "rpop",
        "lset",
        "lrem",
        "ltrim",
        "linsert",
        "lmove",
        "rpoplpush",
        "lmpop",
    ] {
        assert!(crate::cmd::testing::is_write(name.as_bytes()), "{name}");
    }
    for name in ["llen", "lrange", "lindex", "lpos"] {
        assert!(!crate::cmd::testing::is_write(name.as_bytes()), "{name}");
    }
}

/// What one command read and wrote on the harness's state (then applied).
struct Cost {
    reply: Reply,
    gets: u64,
    scanned: u64,
    puts: usize,
    deletes: usize,
    range_deletes: usize,
}

fn cost(h: &mut Harness, args: &[&str]) -> Cost {
    let argv: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let counting = Counting::new(&h.engine);
    let command = petrel_common::command::table()
        .find(&argv[0])
        .expect("a command");
    let exec = crate::cmd::execute(&counting, command, &argv, h.now);
    let (gets, scanned) = (counting.gets.get(), counting.scanned.get());
    let count = |f: fn(&WriteOp) -> bool| exec.mutation.ops.iter().filter(|op| f(op)).count();
    let c = Cost {
        reply: exec.reply.clone(),
        gets,
        scanned,
        puts: count(|op| matches!(op, WriteOp::Put(..))),
        deletes: count(|op| matches!(op, WriteOp::Delete(..))),
        range_deletes: count(|op| matches!(op, WriteOp::DeleteRange(..))),
    };
    h.apply(&exec.mutation);
    c
}

#[test]
fn a_long_list_is_touched_only_where_needed() {
    const N: usize = 100_000;
    let mut h = Harness::new();
    let values: Vec<String> = (0..N).map(|i| format!("v{i}")).collect();
    let mut args = vec!["rpush", "big"];
    args.extend(values.iter().map(String::as_str));
    assert_eq!(h.run(&args), int(N as i64));
    assert_eq!(size(&mut h, "big"), N as u64);

    // Each of these writes the same few records whatever the length.
    for round in 0..3 {
        let c = cost(&mut h, &["lpush", "big", "head"]);
        assert_eq!(c.reply, int((N - round) as i64 + 1), "round {round}");
        assert_eq!((c.puts, c.deletes, c.range_deletes), (2, 0, 0));
        assert_eq!(c.scanned, 0);
        assert!(c.gets <= 3, "lpush read {} records", c.gets);

        let c = cost(&mut h, &["rpop", "big"]);
        let last = N - 1 - round;
        assert_eq!(c.reply, bulk(&format!("v{last}")));
        assert_eq!((c.puts, c.deletes, c.range_deletes), (1, 1, 0));
        assert_eq!(c.scanned, 1);
        assert!(c.gets <= 3, "rpop read {} records", c.gets);

        let c = cost(&mut h, &["lindex", "big", "50000"]);
        assert_eq!(c.reply, bulk("v49999"));
        assert_eq!(c.puts + c.deletes, 0);
        assert_eq!(c.scanned, 0);
        assert_eq!(c.gets, 2, "metadata and one element");

        let c = cost(&mut h, &["lset", "big", "10", "set"]);
        assert_eq!(c.reply, ok());
        assert_eq!(
            (c.puts, c.deletes, c.range_deletes),
            (1, 0, 0),
            "one element, no metadata"
        );
        assert_eq!(c.scanned, 0);
        assert!(c.gets <= 2);

        let c = cost(&mut h, &["lpop", "big"]);
        assert_eq!(c.reply, bulk("head"));
        assert_eq!((c.puts, c.deletes), (1, 1));
        assert_eq!(c.scanned, 1);

        let c = cost(&mut h, &["rpush", "big", "tail"]);
        assert_eq!((c.puts, c.deletes), (2, 0));
        let c = cost(&mut h, &["rpop", "big"]);
        assert_eq!(c.reply, bulk("tail"));
        assert_eq!((c.puts, c.deletes), (1, 1));
    }
    let len = (N - 3) as u64;
    assert_eq!(size(&mut h, "big"), len);

    let c = cost(&mut h, &["llen", "big"]);
    assert_eq!((c.gets, c.scanned), (1, 0));
    let c = cost(&mut h, &["lrange", "big", "1000", "1009"]);
    assert_eq!(c.scanned, 10);
    let c = cost(&mut h, &["lpop", "big", "5"]);
    assert_eq!((c.scanned, c.deletes, c.puts), (5, 5, 1));
    let c = cost(&mut h, &["lpos", "big", "nope", "maxlen", "20"]);
    assert_eq!((c.reply, c.scanned), (nil(), 20));
    let c = cost(
        &mut h,
        &["lpos", "big", "nope", "rank", "-1", "maxlen", "20"],
    );
    assert_eq!((c.reply, c.scanned), (nil(), 20));
    // LTRIM deletes what it cuts off and reads no item.
    let c = cost(&mut h, &["ltrim", "big", "2", "-4"]);
    assert_eq!((c.scanned, c.deletes, c.puts), (0, 5, 1));
    // LINSERT / LREM near an end shift only that end.
    // [v7, v8, set, v10, ...]: three items move left, the new one goes in.
    let c = cost(&mut h, &["linsert", "big", "before", "v10", "ins"]);
    assert_eq!((c.reply, c.puts, c.deletes), (int(len as i64 - 9), 5, 0));
    let c = cost(&mut h, &["lrem", "big", "1", "ins"]);
    assert_eq!((c.puts, c.deletes), (4, 1));
    let c = cost(&mut h, &["linsert", "big", "after", "v99990", "ins"]);
    assert_eq!((c.puts, c.deletes), (5, 0));
    let c = cost(&mut h, &["lrem", "big", "-1", "ins"]);
    assert_eq!((c.puts, c.deletes), (4, 1));
    assert_eq!(size(&mut h, "big"), len - 10);
    assert_eq!(
        h.run(&["lrange", "big", "0", "2"]),
        arr(&["v7", "v8", "set"])
    );
}

/// A small xorshift generator: reproducible random operations without a seed file.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random list operations against a `VecDeque` model: same replies and same
/// contents after every step, header size and element records exact.
#[test]
fn random_operations_match_a_model() {
    let mut h = Harness::new();
    let mut model: VecDeque<String> = VecDeque::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let word = |rng: &mut Rng| ["a", "b", "c", "d"][rng.below(4) as usize].to_string();
    for step in 0..3000 {
        let len = model.len() as i64;
        let pick = |rng: &mut Rng| rng.below(2 * len as u64 + 3) as i64 - len - 1;
        let op = rng.below(10);
        let (args, want): (Vec<String>, Reply) = match op {
            0 => {
                let w = word(&mut rng);
                model.push_front(w.clone());
                (vec!["lpush".into(), "k".into(), w], int(model.len() as i64))
            }
            1 => {
                let w = word(&mut rng);
                model.push_back(w.clone());
                (vec!["rpush".into(), "k".into(), w], int(model.len() as i64))
            }
            2 => {
                let n = rng.below(3);
                let want = if model.is_empty() {
                    Reply::NilArray
                } else {
                    let taken: Vec<Reply> = (0..n)
                        .filter_map(|_| model.pop_front())
                        .map(|s| bulk(&s))
                        .collect();
                    Reply::Array(taken)
                };
                (vec!["lpop".into(), "k".into(), n.to_string()], want)
            }
            3 => {
                let want = model.pop_back().map_or(nil(), |s| bulk(&s));
                (vec!["rpop".into(), "k".into()], want)
            }
            4 => {
                let count = rng.below(5) as i64 - 2;
                let target = word(&mut rng);
                let mut removed = 0;
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                let mut keep: Vec<Option<String>> = model.iter().cloned().map(Some).collect();
                let order: Vec<usize> = if count < 0 {
                    (0..keep.len()).rev().collect()
                } else {
                    (0..keep.len()).collect()
                };
                for i in order {
                    if removed < limit && keep[i].as_deref() == Some(target.as_str()) {
                        keep[i] = None;
                        removed += 1;
                    }
                }
                model = keep.into_iter().flatten().collect();
                (
                    vec!["lrem".into(), "k".into(), count.to_string(), target],
                    int(removed as i64),
                )
            }
            5 => {
                let (start, stop) = (pick(&mut rng), pick(&mut rng));
                let norm = |i: i64| if i < 0 { len + i } else { i };
                let (s, e) = (norm(start).max(0), norm(stop));
                if s > e || s >= len {
                    model.clear();
                } else {
                    let e = e.min(len - 1);
                    model = model.range(s as usize..=e as usize).cloned().collect();
                }
                (
                    vec![
                        "ltrim".into(),
                        "k".into(),
                        start.to_string(),
                        stop.to_string(),
                    ],
                    ok(),
                )
            }
            6 => {
                let after = rng.below(2) == 1;
                let (pivot, w) = (word(&mut rng), word(&mut rng));
                let want = if model.is_empty() {
                    int(0)
                } else {
                    match model.iter().position(|x| *x == pivot) {
                        Some(i) => {
                            model.insert(if after { i + 1 } else { i }, w.clone());
                            int(model.len() as i64)
                        }
                        None => int(-1),
                    }
                };
                let side = if after { "after" } else { "before" };
                (
                    vec!["linsert".into(), "k".into(), side.into(), pivot, w],
                    want,
                )
            }
            7 => {
                let i = pick(&mut rng);
                let w = format!("s{step}");
                let idx = if i < 0 { len + i } else { i };
                let want = if model.is_empty() {
                    err("ERR no such key")
                } else if (0..len).contains(&idx) {
                    model[idx as usize] = w.clone();
                    ok()
                } else {
                    err("ERR index out of range")
                };
                (vec!["lset".into(), "k".into(), i.to_string(), w], want)
            }
            8 => {
                let (from, to) = (rng.below(2) == 0, rng.below(2) == 0);
                let item = if from {
                    model.pop_front()
                } else {
                    model.pop_back()
                };
                let want = match item {
                    Some(item) => {
                        if to {
                            model.push_front(item.clone());
                        } else {
                            model.push_back(item.clone());
                        }
                        bulk(&item)
                    }
                    None => nil(),
                };
                let end = |left: bool| if left { "left" } else { "right" }.to_string();
                (
                    vec!["lmove".into(), "k".into(), "k".into(), end(from), end(to)],
                    want,
                )
            }
            _ => {
                let i = pick(&mut rng);
                let idx = if i < 0 { len + i } else { i };
                let want = if (0..len).contains(&idx) {
                    bulk(&model[idx as usize])
                } else {
                    nil()
                };
                (vec!["lindex".into(), "k".into(), i.to_string()], want)
            }
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(h.run(&argv), want, "step {step}: {argv:?}");
        let want_items: Vec<String> = model.iter().cloned().collect();
        assert_eq!(items(&mut h, "k"), want_items, "step {step}: {argv:?}");
        assert_eq!(size(&mut h, "k"), model.len() as u64, "step {step}");
    }
}

#[test]
fn corrupt_metadata_is_a_storage_error() {
    let mut h = Harness::new();
    // A list header whose payload is not head and tail.
    h.seed("bad", KeyType::List, 0);
    let args = [Bytes::from_static(b"llen"), Bytes::from_static(b"bad")];
    assert!(matches!(
        crate::cmd::try_execute(
            &h.engine,
            petrel_common::command::table().find(b"llen").expect("llen"),
            &args,
            h.now
        ),
        Err(StorageError::Corrupt(_))
    ));
}

#[test]
fn a_transaction_that_creates_and_empties_a_list_leaves_no_records() {
    let mut h = Harness::new();
    let batch = exec_batch(
        &[],
        &[
            &["rpush", "t", "a", "b"],
            &["lpop", "t", "5"],
            &["llen", "t"],
        ],
    );
    let reply = h.run(&strs(&batch));
    assert_eq!(reply, Reply::Array(vec![int(2), arr(&["a", "b"]), int(0)]));
    assert_eq!(h.header("t"), None);
    assert_eq!(stored_elements(&h, "t"), 0);
    // Pushed, trimmed and moved within one transaction.
    let batch = exec_batch(
        &[],
        &[
            &["rpush", "{t}a", "x", "y", "z"],
            &["ltrim", "{t}a", "1", "1"],
            &["rpoplpush", "{t}a", "{t}b"],
        ],
    );
    let reply = h.run(&strs(&batch));
    assert_eq!(reply, Reply::Array(vec![int(3), ok(), bulk("y")]));
    assert_eq!(size(&mut h, "{t}a"), 0);
    assert_eq!(size(&mut h, "{t}b"), 1);
}
