use std::collections::BTreeSet;

use petrel_common::reply::{errors as redis_errors, Reply};

use super::parse_cursor;
use crate::cmd::testing::*;
use crate::cmd::Execution;
use crate::storage::layout::KeyType;
use crate::storage::WriteOp;

const WRONGTYPE: &str = redis_errors::WRONGTYPE;

fn bulks(items: &[&str]) -> Vec<Reply> {
    items.iter().map(|s| bulk(s)).collect()
}

fn set(items: &[&str]) -> Reply {
    Reply::Set(bulks(items))
}

fn array(items: &[&str]) -> Reply {
    Reply::Array(bulks(items))
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&n| int(n)).collect())
}

/// The members of a Set or Array reply, sorted.
fn sorted(reply: &Reply) -> Vec<String> {
    let items = match reply {
        Reply::Set(items) | Reply::Array(items) => items,
        other => panic!("not a collection: {other:?}"),
    };
    let mut out: Vec<String> = items
        .iter()
        .map(|r| match r {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

/// SCARD must equal the number of stored elements: the header is exact.
fn assert_size_exact(h: &mut Harness, key: &str) {
    let card = match h.run(&["scard", key]) {
        Reply::Int(n) => n,
        other => panic!("{other:?}"),
    };
    let members = h.run(&["smembers", key]);
    assert_eq!(sorted(&members).len() as i64, card, "{key}");
    match h.header(key) {
        Some(header) => {
            assert_eq!(header.key_type, KeyType::Set);
            assert_eq!(header.size as i64, card, "{key}");
        }
        None => assert_eq!(card, 0, "{key}"),
    }
}

#[test]
fn sadd_and_srem_count_and_keep_size() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["sadd", "s", "a", "b", "a"]), int(2));
    assert_eq!(h.run(&["sadd", "s", "b", "c"]), int(1));
    assert_size_exact(&mut h, "s");
    assert_eq!(h.header("s").map(|x| x.size), Some(3));
    // Re-adding only existing members writes nothing.
    assert!(h.exec(&["sadd", "s", "a", "b"]).mutation.is_empty());
    assert_eq!(h.run(&["srem", "s", "a", "zz", "a"]), int(1));
    assert_eq!(h.run(&["srem", "nokey", "a"]), int(0));
    assert!(h.exec(&["srem", "s", "zz"]).mutation.is_empty());
    assert_size_exact(&mut h, "s");
    assert_eq!(h.run(&["srem", "s", "b", "c"]), int(2));
    assert_eq!(h.run(&["exists", "s"]), int(0));
    assert!(h.header("s").is_none());
    assert_eq!(h.run(&["sadd", "s", "x"]), int(1));
    assert_eq!(h.run(&["smembers", "s"]), set(&["x"]));
}

#[test]
fn wrong_types_and_arity() {
    let mut h = Harness::new();
    h.run(&["set", "str", "v"]);
    for cmd in [
        &["sadd", "str", "a"][..],
        &["srem", "str", "a"],
        &["smembers", "str"],
        &["sismember", "str", "a"],
        &["smismember", "str", "a"],
        &["scard", "str"],
        &["spop", "str"],
        &["spop", "str", "0"],
        &["srandmember", "str"],
        &["srandmember", "str", "0"],
        &["sinter", "nokey", "str"],
        &["sintercard", "2", "nokey", "str"],
        &["sunion", "nokey", "str"],
        &["sdiff", "nokey", "str"],
        &["sinterstore", "d", "nokey", "str"],
        &["sscan", "str", "0", "foo"],
    ] {
        assert_eq!(h.run(cmd), err(WRONGTYPE), "{cmd:?}");
    }
    h.run(&["sadd", "s", "a"]);
    assert_eq!(h.run(&["smove", "s", "str", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["smove", "str", "s", "a"]), err(WRONGTYPE));
    // A missing source answers 0 before any type check.
    assert_eq!(h.run(&["smove", "nokey", "str", "a"]), int(0));
    for (cmd, argv) in [
        ("sadd", &["sadd", "s"][..]),
        ("srem", &["srem", "s"]),
        ("smembers", &["smembers"]),
        ("sismember", &["sismember", "s"]),
        ("smismember", &["smismember", "s"]),
        ("scard", &["scard", "s", "t"]),
        ("spop", &["spop"]),
        ("srandmember", &["srandmember"]),
        ("smove", &["smove", "a", "b"]),
        ("sinter", &["sinter"]),
        ("sintercard", &["sintercard", "1"]),
        ("sunionstore", &["sunionstore", "d"]),
        ("sscan", &["sscan", "s"]),
    ] {
        assert_eq!(
            h.run(argv),
            err(&format!(
                "ERR wrong number of arguments for '{cmd}' command"
            ))
        );
    }
}

#[test]
fn membership() {
    let mut h = Harness::new();
    h.run(&["sadd", "s", "a", "b"]);
    assert_eq!(h.run(&["sismember", "s", "a"]), int(1));
    assert_eq!(h.run(&["sismember", "s", "z"]), int(0));
    assert_eq!(h.run(&["sismember", "nokey", "a"]), int(0));
    assert_eq!(h.run(&["smismember", "s", "a", "z", "b"]), ints(&[1, 0, 1]));
    assert_eq!(h.run(&["smismember", "nokey", "a", "b"]), ints(&[0, 0]));
    assert_eq!(h.run(&["scard", "s"]), int(2));
    assert_eq!(h.run(&["scard", "nokey"]), int(0));
    assert_eq!(h.run(&["smembers", "nokey"]), set(&[]));
    // Binary members.
    assert_eq!(h.run_bytes(&[b"sadd", b"bin", b"\x00\xff", b""]), int(2));
    assert_eq!(h.run_bytes(&[b"sismember", b"bin", b""]), int(1));
    assert_eq!(h.run_bytes(&[b"sismember", b"bin", b"\x00"]), int(0));
}

#[test]
fn expired_sets_are_gone_and_ttl_is_kept_by_updates() {
    let mut h = Harness::new();
    h.run(&["sadd", "s", "a", "b"]);
    h.run(&["pexpire", "s", "100"]);
    assert_eq!(h.run(&["sadd", "s", "c"]), int(1));
    assert!(matches!(h.run(&["pttl", "s"]), Reply::Int(n) if n > 0));
    h.now += 200;
    assert_eq!(h.run(&["scard", "s"]), int(0));
    assert_eq!(h.run(&["sismember", "s", "a"]), int(0));
    // A new incarnation does not see the old members.
    assert_eq!(h.run(&["sadd", "s", "z"]), int(1));
    assert_eq!(h.run(&["smembers", "s"]), set(&["z"]));
    assert_size_exact(&mut h, "s");
}

#[test]
fn integer_sets_reply_in_numeric_order() {
    let mut h = Harness::new();
    h.run(&["sadd", "n", "10", "2", "-3", "1"]);
    assert_eq!(h.run(&["smembers", "n"]), set(&["-3", "1", "2", "10"]));
    h.run(&["sadd", "m", "10", "2", "x"]);
    assert_eq!(h.run(&["smembers", "m"]), set(&["10", "2", "x"]));
    assert_eq!(
        h.run(&["sunion", "n", "nokey"]),
        set(&["-3", "1", "2", "10"])
    );
}

#[test]
fn spop_single_and_count() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["spop", "nokey"]), nil());
    assert_eq!(h.run(&["spop", "nokey", "3"]), set(&[]));
    h.run(&["sadd", "s", "a", "b", "c", "d", "e"]);
    let popped = h.run(&["spop", "s"]);
    let Reply::Bulk(m) = &popped else {
        panic!("{popped:?}")
    };
    let m = String::from_utf8_lossy(m).into_owned();
    assert_eq!(h.run(&["sismember", "s", &m]), int(0));
    assert_size_exact(&mut h, "s");
    assert_eq!(h.run(&["spop", "s", "0"]), set(&[]));
    let two = h.run(&["spop", "s", "2"]);
    assert!(matches!(&two, Reply::Set(items) if items.len() == 2));
    for m in sorted(&two) {
        assert_eq!(h.run(&["sismember", "s", &m]), int(0));
    }
    assert_size_exact(&mut h, "s");
    assert_eq!(h.run(&["scard", "s"]), int(2));
    // A count at least the size takes everything and deletes the key.
    let rest = h.run(&["spop", "s", "10"]);
    assert_eq!(sorted(&rest).len(), 2);
    assert_eq!(h.run(&["exists", "s"]), int(0));
    // Errors.
    h.run(&["sadd", "s", "a"]);
    assert_eq!(
        h.run(&["spop", "s", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        h.run(&["spop", "s", "abc"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(h.run(&["spop", "s", "1", "2"]), err("ERR syntax error"));
    // The last member popped deletes the key.
    assert_eq!(h.run(&["spop", "s"]), bulk("a"));
    assert_eq!(h.run(&["exists", "s"]), int(0));
}

#[test]
fn spop_draws_every_member() {
    let mut h = Harness::new();
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        h.run(&["sadd", "s", "a", "b", "c"]);
        if let Reply::Bulk(m) = h.run(&["spop", "s"]) {
            seen.insert(m);
        }
        h.run(&["del", "s"]);
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn srandmember_counts() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["srandmember", "nokey"]), nil());
    assert_eq!(h.run(&["srandmember", "nokey", "5"]), array(&[]));
    assert_eq!(h.run(&["srandmember", "nokey", "-5"]), array(&[]));
    h.run(&["sadd", "s", "a", "b", "c", "d"]);
    assert!(matches!(h.run(&["srandmember", "s"]), Reply::Bulk(_)));
    assert_eq!(h.run(&["srandmember", "s", "0"]), array(&[]));
    // Whole set when count >= size.
    assert_eq!(
        sorted(&h.run(&["srandmember", "s", "10"])),
        ["a", "b", "c", "d"]
    );
    // Distinct for positive counts.
    for _ in 0..20 {
        let r = h.run(&["srandmember", "s", "3"]);
        assert!(matches!(r, Reply::Array(_)));
        let got = sorted(&r);
        let distinct: BTreeSet<_> = got.iter().collect();
        assert_eq!((got.len(), distinct.len()), (3, 3));
    }
    // Repeats allowed, exactly -count of them.
    let r = h.run(&["srandmember", "s", "-20"]);
    let got = sorted(&r);
    assert_eq!(got.len(), 20);
    assert!(got
        .iter()
        .all(|m| ["a", "b", "c", "d"].contains(&m.as_str())));
    assert!(h.exec(&["srandmember", "s", "-3"]).mutation.is_empty());
    assert_eq!(
        h.run(&["srandmember", "s", "abc"]),
        err(redis_errors::NOT_INTEGER)
    );
    assert_eq!(
        h.run(&["srandmember", "s", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        h.run(&["srandmember", "s", "1", "2"]),
        err("ERR syntax error")
    );
    assert!(h.run(&["srandmember", "s", "-20000000"]).is_error());
}

#[test]
fn smove_cases() {
    let mut h = Harness::new();
    h.run(&["sadd", "src", "a", "b"]);
    h.run(&["sadd", "dst", "b"]);
    assert_eq!(h.run(&["smove", "src", "dst", "a"]), int(1));
    assert_eq!(h.run(&["smove", "src", "dst", "zz"]), int(0));
    assert_eq!(h.run(&["smembers", "dst"]), set(&["a", "b"]));
    // Already in the destination: moved out of the source only.
    assert_eq!(h.run(&["smove", "src", "dst", "b"]), int(1));
    assert_eq!(h.run(&["exists", "src"]), int(0));
    assert_size_exact(&mut h, "dst");
    // To a missing key, which is created.
    assert_eq!(h.run(&["smove", "dst", "new", "a"]), int(1));
    assert_eq!(h.run(&["smembers", "new"]), set(&["a"]));
    assert_size_exact(&mut h, "dst");
    // Same key: 1 if a member, nothing written.
    assert_eq!(h.run(&["smove", "new", "new", "a"]), int(1));
    assert_eq!(h.run(&["smove", "new", "new", "z"]), int(0));
    assert!(h.exec(&["smove", "new", "new", "a"]).mutation.is_empty());
    assert_eq!(h.run(&["smove", "nokey", "new", "a"]), int(0));
    // The destination keeps its TTL.
    h.run(&["sadd", "t", "x"]);
    h.run(&["expire", "t", "100"]);
    assert_eq!(h.run(&["smove", "new", "t", "a"]), int(1));
    assert_eq!(h.run(&["ttl", "t"]), int(100));
}

#[test]
fn algebra() {
    let mut h = Harness::new();
    h.run(&["sadd", "a", "1", "2", "3", "x"]);
    h.run(&["sadd", "b", "2", "3", "4", "x"]);
    h.run(&["sadd", "c", "3", "x", "y"]);
    assert_eq!(sorted(&h.run(&["sinter", "a", "b", "c"])), ["3", "x"]);
    assert_eq!(h.run(&["sinter", "a", "nokey"]), set(&[]));
    assert_eq!(sorted(&h.run(&["sinter", "a"])), ["1", "2", "3", "x"]);
    assert_eq!(sorted(&h.run(&["sinter", "a", "a"])), ["1", "2", "3", "x"]);
    assert_eq!(
        sorted(&h.run(&["sunion", "a", "b", "nokey", "c"])),
        ["1", "2", "3", "4", "x", "y"]
    );
    assert_eq!(h.run(&["sunion", "nokey"]), set(&[]));
    assert_eq!(h.run(&["sdiff", "a", "b", "c"]), set(&["1"]));
    assert_eq!(
        sorted(&h.run(&["sdiff", "a", "nokey"])),
        ["1", "2", "3", "x"]
    );
    assert_eq!(h.run(&["sdiff", "nokey", "a"]), set(&[]));
    assert_eq!(h.run(&["sdiff", "a", "a"]), set(&[]));
    for cmd in ["sinter", "sunion", "sdiff"] {
        assert!(h.exec(&[cmd, "a", "b"]).mutation.is_empty());
    }
}

#[test]
fn sintercard_limits_and_errors() {
    let mut h = Harness::new();
    h.run(&["sadd", "a", "1", "2", "3", "x"]);
    h.run(&["sadd", "b", "2", "3", "4", "x"]);
    assert_eq!(h.run(&["sintercard", "2", "a", "b"]), int(3));
    assert_eq!(h.run(&["sintercard", "2", "a", "b", "limit", "2"]), int(2));
    assert_eq!(h.run(&["sintercard", "2", "a", "b", "LIMIT", "0"]), int(3));
    assert_eq!(
        h.run(&["sintercard", "1", "a", "LIMIT", "1", "LIMIT", "9"]),
        int(4)
    );
    assert_eq!(h.run(&["sintercard", "2", "a", "nokey"]), int(0));
    for (argv, text) in [
        (
            &["sintercard", "0", "a"][..],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["sintercard", "abc", "a"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["sintercard", "-1", "a"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["sintercard", "3", "a", "b"],
            "ERR Number of keys can't be greater than number of args",
        ),
        (&["sintercard", "1", "a", "LIMIT"], "ERR syntax error"),
        (&["sintercard", "1", "a", "FOO", "1"], "ERR syntax error"),
        (
            &["sintercard", "1", "a", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (
            &["sintercard", "1", "a", "LIMIT", "x"],
            "ERR LIMIT can't be negative",
        ),
    ] {
        assert_eq!(h.run(argv), err(text), "{argv:?}");
    }
}

#[test]
fn store_commands_overwrite_and_delete() {
    let mut h = Harness::new();
    h.run(&["sadd", "a", "1", "2", "3"]);
    h.run(&["sadd", "b", "2", "3", "4"]);
    h.run(&["set", "d", "string", "ex", "100"]);
    assert_eq!(h.run(&["sinterstore", "d", "a", "b"]), int(2));
    assert_eq!(h.run(&["type", "d"]), status("set"));
    assert_eq!(h.run(&["ttl", "d"]), int(-1));
    assert_eq!(sorted(&h.run(&["smembers", "d"])), ["2", "3"]);
    assert_size_exact(&mut h, "d");
    // Overwriting a set replaces its members entirely.
    assert_eq!(h.run(&["sunionstore", "d", "a", "b"]), int(4));
    assert_eq!(h.run(&["smembers", "d"]), set(&["1", "2", "3", "4"]));
    assert_size_exact(&mut h, "d");
    assert_eq!(h.run(&["sdiffstore", "d", "a", "b"]), int(1));
    assert_eq!(h.run(&["smembers", "d"]), set(&["1"]));
    assert_size_exact(&mut h, "d");
    // The destination as a source.
    assert_eq!(h.run(&["sunionstore", "d", "d", "b"]), int(4));
    assert_eq!(h.run(&["smembers", "d"]), set(&["1", "2", "3", "4"]));
    assert_eq!(h.run(&["sinterstore", "d", "d", "a"]), int(3));
    assert_eq!(h.run(&["smembers", "d"]), set(&["1", "2", "3"]));
    assert_size_exact(&mut h, "d");
    // An empty result deletes the destination, whatever it held.
    assert_eq!(h.run(&["sdiffstore", "d", "a", "a"]), int(0));
    assert_eq!(h.run(&["exists", "d"]), int(0));
    h.run(&["set", "d", "v"]);
    assert_eq!(h.run(&["sinterstore", "d", "nokey", "a"]), int(0));
    assert_eq!(h.run(&["exists", "d"]), int(0));
    assert_eq!(h.run(&["sunionstore", "d", "nokey"]), int(0));
    assert!(h.exec(&["sunionstore", "d", "nokey"]).mutation.is_empty());
    // A wrong-typed source writes nothing.
    h.run(&["set", "str", "v"]);
    let exec = h.exec(&["sunionstore", "a", "b", "str"]);
    assert_eq!(exec.reply, err(WRONGTYPE));
    assert!(exec.mutation.is_empty());
}

#[test]
fn store_drops_the_old_incarnations_elements() {
    let mut h = Harness::new();
    h.run(&["sadd", "d", "old1", "old2"]);
    let exec = h.exec(&["sunionstore", "d", "nokey2", "nokey"]);
    assert!(exec
        .mutation
        .ops
        .iter()
        .any(|op| matches!(op, WriteOp::DeleteRange(..))));
    h.run(&["sadd", "a", "n"]);
    h.run(&["sunionstore", "d", "a"]);
    assert_eq!(h.run(&["smembers", "d"]), set(&["n"]));
    assert_eq!(h.run(&["sismember", "d", "old1"]), int(0));
}

#[test]
fn cursor_parsing_follows_strtoul() {
    assert_eq!(parse_cursor(b"0"), Some(0));
    assert_eq!(parse_cursor(b"+7"), Some(7));
    assert_eq!(parse_cursor(b""), Some(0));
    assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
    assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_cursor(b"18446744073709551616"), None);
    assert_eq!(parse_cursor(b"5\0junk"), Some(5));
    assert_eq!(parse_cursor(b" 5"), None);
    assert_eq!(parse_cursor(b"5 "), None);
    assert_eq!(parse_cursor(b"abc"), None);
    assert_eq!(parse_cursor(b"+"), None);
    assert_eq!(parse_cursor(b"-"), None);
}

fn scan(h: &mut Harness, argv: &[&str]) -> (String, Vec<String>) {
    match h.run(argv) {
        Reply::Array(parts) => match parts.as_slice() {
            [Reply::Bulk(c), members @ Reply::Array(_)] => {
                (String::from_utf8_lossy(c).into_owned(), sorted(members))
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn sscan_small_and_errors() {
    let mut h = Harness::new();
    assert_eq!(
        h.run(&["sscan", "nokey", "0"]),
        Reply::Array(vec![bulk("0"), array(&[])])
    );
    assert_eq!(
        h.run(&["sscan", "nokey", "0", "bad"]),
        Reply::Array(vec![bulk("0"), array(&[])])
    );
    assert_eq!(h.run(&["sscan", "nokey", "x"]), err("ERR invalid cursor"));
    h.run(&["sadd", "s", "a", "b", "c"]);
    assert_eq!(
        scan(&mut h, &["sscan", "s", "0"]),
        ("0".into(), vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(
        scan(&mut h, &["sscan", "s", "0", "match", "[ab]"]).1,
        ["a", "b"]
    );
    assert_eq!(scan(&mut h, &["sscan", "s", "0", "MATCH", "*"]).1.len(), 3);
    assert_eq!(scan(&mut h, &["sscan", "s", "-1"]), ("0".into(), vec![]));
    for (argv, text) in [
        (&["sscan", "s", "0", "count", "0"][..], "ERR syntax error"),
        (&["sscan", "s", "0", "count", "-5"], "ERR syntax error"),
        (
            &["sscan", "s", "0", "count", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (&["sscan", "s", "0", "count"], "ERR syntax error"),
        (&["sscan", "s", "0", "match"], "ERR syntax error"),
        (&["sscan", "s", "0", "type", "string"], "ERR syntax error"),
        (&["sscan", "s", "abc"], "ERR invalid cursor"),
    ] {
        assert_eq!(h.run(argv), err(text), "{argv:?}");
    }
    // An intset-like set comes whole, sorted, with cursor 0, whatever the cursor.
    h.run(&["sadd", "n", "3", "1", "20"]);
    assert_eq!(
        h.run(&["sscan", "n", "5", "count", "1"]),
        Reply::Array(vec![bulk("0"), array(&["1", "3", "20"])])
    );
}

#[test]
fn sscan_iterates_by_offset() {
    let mut h = Harness::new();
    let members: Vec<String> = (0..25).map(|i| format!("m{i:02}")).collect();
    let mut argv = vec!["sadd", "s"];
    argv.extend(members.iter().map(String::as_str));
    h.run(&argv);
    let (c1, first) = scan(&mut h, &["sscan", "s", "0", "count", "10"]);
    assert_eq!((c1.as_str(), first.len()), ("10", 10));
    let (c2, second) = scan(&mut h, &["sscan", "s", &c1, "count", "10"]);
    assert_eq!((c2.as_str(), second.len()), ("20", 10));
    let (c3, third) = scan(&mut h, &["sscan", "s", &c2, "count", "10"]);
    assert_eq!((c3.as_str(), third.len()), ("0", 5));
    let all: Vec<String> = [first, second, third].concat();
    assert_eq!(all, members);
    // Exactly COUNT left: the end is seen, cursor 0.
    assert_eq!(scan(&mut h, &["sscan", "s", "15", "count", "10"]).0, "0");
    // MATCH filters what the visited members return.
    let (c, some) = scan(&mut h, &["sscan", "s", "0", "count", "10", "match", "m0?"]);
    assert_eq!(c, "10");
    assert_eq!(some.len(), 10);
    let (c, some) = scan(&mut h, &["sscan", "s", "10", "count", "10", "match", "m0?"]);
    assert_eq!((c.as_str(), some.len()), ("20", 0));
}

fn counted(h: &Harness, argv: &[&str]) -> (Execution, u64, u64) {
    h.counted(argv)
}

#[test]
fn large_set_single_member_commands_touch_only_their_members() {
    const N: usize = 100_000;
    let mut h = Harness::new();
    let members: Vec<String> = (0..N).map(|i| format!("member:{i}")).collect();
    let mut argv = vec!["sadd", "big"];
    argv.extend(members.iter().map(String::as_str));
    assert_eq!(h.run(&argv), int(N as i64));
    assert_eq!(h.header("big").map(|x| x.size), Some(N as u64));

    // SADD of one new member: one element put plus the header.
    let (exec, gets, scanned) = counted(&h, &["sadd", "big", "new"]);
    assert_eq!(exec.reply, int(1));
    assert_eq!(exec.mutation.ops.len(), 2, "{:?}", exec.mutation.ops);
    assert_eq!(scanned, 0);
    assert!(gets <= 3, "{gets} gets");
    h.apply(&exec.mutation);
    // SADD of an existing member writes nothing.
    let (exec, _, scanned) = counted(&h, &["sadd", "big", "member:5"]);
    assert_eq!(
        (exec.reply, exec.mutation.ops.len(), scanned),
        (int(0), 0, 0)
    );
    // SREM of one member: one element delete plus the header.
    let (exec, gets, scanned) = counted(&h, &["srem", "big", "member:7"]);
    assert_eq!(exec.reply, int(1));
    assert_eq!(exec.mutation.ops.len(), 2, "{:?}", exec.mutation.ops);
    assert!(matches!(exec.mutation.ops[0], WriteOp::Delete(_)));
    assert_eq!(scanned, 0);
    assert!(gets <= 3, "{gets} gets");
    h.apply(&exec.mutation);
    // SISMEMBER / SMISMEMBER / SCARD: point reads only.
    let (exec, gets, scanned) = counted(&h, &["sismember", "big", "member:99999"]);
    assert_eq!(
        (exec.reply, exec.mutation.ops.len(), scanned),
        (int(1), 0, 0)
    );
    assert_eq!(gets, 2);
    let (exec, gets, scanned) = counted(&h, &["smismember", "big", "member:7", "new"]);
    assert_eq!((exec.reply, scanned, gets), (ints(&[0, 1]), 0, 3));
    let (exec, gets, scanned) = counted(&h, &["scard", "big"]);
    assert_eq!((exec.reply, scanned, gets), (int(N as i64), 0, 1));
    // SMOVE: two element writes plus two headers.
    let (exec, _, scanned) = counted(&h, &["smove", "big", "other", "member:8"]);
    assert_eq!(exec.reply, int(1));
    assert_eq!(scanned, 0);
    assert_eq!(exec.mutation.ops.len(), 4, "{:?}", exec.mutation.ops);
    h.apply(&exec.mutation);
    // SPOP with a count writes just what it pops.
    let exec = h.exec(&["spop", "big", "3"]);
    assert_eq!(exec.mutation.ops.len(), 4);
    h.apply(&exec.mutation);
    // SINTERCARD with LIMIT stops after its first batch.
    let (exec, _, scanned) = counted(&h, &["sintercard", "1", "big", "limit", "5"]);
    assert_eq!(exec.reply, int(5));
    assert!(scanned <= super::BATCH as u64, "{scanned} scanned");
    assert_eq!(h.header("big").map(|x| x.size), Some(N as u64 - 4));
    assert_eq!(h.run(&["scard", "big"]), int(N as i64 - 4));
    let members = h.run(&["smembers", "big"]);
    assert_eq!(sorted(&members).len(), N - 4);
}
