//! Stream commands against a memory engine.

use petrel_common::reply::Reply;

use crate::cmd::testing::*;

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

fn entry(id: &str, pairs: &[&str]) -> Reply {
    arr(vec![bulk(id), arr(pairs.iter().map(|p| bulk(p)).collect())])
}

#[test]
fn xadd_and_xrange() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["xadd", "s", "1-1", "a", "1"]), bulk("1-1"));
    assert_eq!(h.run(&["xadd", "s", "1-*", "b", "2"]), bulk("1-2"));
    assert_eq!(
        h.run(&["xadd", "s", "1-1", "a", "1"]),
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(h.run(&["xlen", "s"]), int(2));
    assert_eq!(
        h.run(&["xrange", "s", "-", "+"]),
        arr(vec![entry("1-1", &["a", "1"]), entry("1-2", &["b", "2"])])
    );
    assert_eq!(
        h.run(&["xrevrange", "s", "+", "-", "count", "1"]),
        arr(vec![entry("1-2", &["b", "2"])])
    );
    assert_eq!(
        h.run(&["xrange", "s", "(1-1", "+"]),
        arr(vec![entry("1-2", &["b", "2"])])
    );
    assert_eq!(
        h.run(&["xrange", "s", "-", "+", "count", "0"]),
        Reply::NilArray
    );
    assert_eq!(h.run(&["type", "s"]), status("stream"));
}

/// The reply's integer, or a panic naming it.
fn as_int(reply: Reply) -> i64 {
    match reply {
        Reply::Int(n) => n,
        other => panic!("an integer expected, got {other:?}"),
    }
}

/// Field `name` of a map reply.
fn field(reply: &Reply, name: &str) -> Reply {
    let Reply::Map(pairs) = reply else {
        panic!("a map expected, got {reply:?}");
    };
    pairs
        .iter()
        .find(|(k, _)| *k == bulk(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no field {name}"))
}

/// XREADGROUP of group `g` of stream `s` for `consumer`: up to `count`
/// new entries.
fn read_new(h: &mut Harness, consumer: &str, count: &str) -> Reply {
    h.run(&[
        "xreadgroup",
        "group",
        "g",
        consumer,
        "count",
        count,
        "streams",
        "s",
        ">",
    ])
}

/// XPENDING's summary of `1-0` and `2-0` pending for `owner`.
fn two_pending(owner: &str) -> Reply {
    arr(vec![
        int(2),
        bulk("1-0"),
        bulk("2-0"),
        arr(vec![arr(vec![bulk(owner), bulk("2")])]),
    ])
}

/// A stream `key` of entries `1-0 ..= n-0`, each `f <i>`.
fn filled(h: &mut Harness, key: &str, n: u64) {
    for i in 1..=n {
        let id = format!("{i}-0");
        let v = i.to_string();
        assert_eq!(h.run(&["xadd", key, &id, "f", &v]), bulk(&id));
    }
}

#[test]
fn ids_are_generated_and_checked_like_redis() {
    let mut h = Harness::new();
    let now = START_MS.to_string();
    assert_eq!(
        h.run(&["xadd", "s", "*", "a", "1"]),
        bulk(&format!("{now}-0"))
    );
    assert_eq!(
        h.run(&["xadd", "s", "*", "a", "1"]),
        bulk(&format!("{now}-1"))
    );
    h.now += 5;
    assert_eq!(
        h.run(&["xadd", "s", "*", "a", "1"]),
        bulk(&format!("{}-0", START_MS + 5))
    );
    assert_eq!(
        h.run(&["xadd", "t", "0-0", "a", "1"]),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(h.run(&["xadd", "t", "0-*", "a", "1"]), bulk("0-1"));
    assert_eq!(
        h.run(&["xadd", "t", "x", "a", "1"]),
        err("ERR Invalid stream ID specified as stream command argument")
    );
    assert_eq!(
        h.run(&["xadd", "t", "*", "a"]),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(h.run(&["xadd", "u", "nomkstream", "*", "a", "1"]), nil());
    assert_eq!(h.run(&["exists", "u"]), int(0));
    assert_eq!(
        h.run(&[
            "xadd",
            "m",
            "18446744073709551615-18446744073709551615",
            "a",
            "1"
        ]),
        bulk("18446744073709551615-18446744073709551615")
    );
    assert_eq!(
        h.run(&["xadd", "m", "*", "a", "1"]),
        err("ERR The stream has exhausted the last possible ID, unable to add more items")
    );
    h.run(&["set", "str", "x"]);
    assert!(h.run(&["xadd", "str", "*", "a", "1"]).is_error());
    assert_eq!(h.run(&["object", "encoding", "t"]), bulk("stream"));
}

#[test]
fn entries_fill_nodes_of_a_hundred_and_approximate_trims_take_whole_nodes() {
    let mut h = Harness::new();
    filled(&mut h, "s", 250);
    let info = h.run(&["xinfo", "stream", "s"]);
    assert_eq!(field(&info, "radix-tree-keys"), int(3));
    assert_eq!(field(&info, "first-entry"), entry("1-0", &["f", "1"]));
    assert_eq!(field(&info, "last-entry"), entry("250-0", &["f", "250"]));
    // 250 - 100 >= 120: the first node goes; the second cannot go whole.
    assert_eq!(h.run(&["xtrim", "s", "maxlen", "~", "120"]), int(100));
    assert_eq!(h.run(&["xtrim", "s", "maxlen", "~", "120"]), int(0));
    assert_eq!(h.run(&["xtrim", "s", "maxlen", "120"]), int(30));
    assert_eq!(h.run(&["xlen", "s"]), int(120));
    let info = h.run(&["xinfo", "stream", "s"]);
    assert_eq!(field(&info, "recorded-first-entry-id"), bulk("131-0"));
    assert_eq!(h.run(&["xtrim", "s", "minid", "~", "250"]), int(70));
    assert_eq!(h.run(&["xtrim", "s", "minid", "250"]), int(49));
    assert_eq!(
        h.run(&["xrange", "s", "-", "+"]),
        arr(vec![entry("250-0", &["f", "250"])])
    );
    // Deleting a node's last live entry removes the node; XADD then goes
    // on with the node before it.
    assert_eq!(h.run(&["xdel", "s", "250-0"]), int(1));
    assert_eq!(h.run(&["xlen", "s"]), int(0));
    let info = h.run(&["xinfo", "stream", "s"]);
    assert_eq!(field(&info, "radix-tree-keys"), int(0));
    assert_eq!(field(&info, "max-deleted-entry-id"), bulk("250-0"));
    assert_eq!(field(&info, "first-entry"), nil());
    assert_eq!(h.run(&["xadd", "s", "251-0", "f", "x"]), bulk("251-0"));
}

#[test]
fn a_big_entry_starts_a_new_node() {
    let mut h = Harness::new();
    h.run(&["xadd", "s", "1-0", "f", "small"]);
    h.run(&["xadd", "s", "2-0", "f", &"v".repeat(4000)]);
    h.run(&["xadd", "s", "3-0", "f", "small"]);
    let info = h.run(&["xinfo", "stream", "s"]);
    assert_eq!(field(&info, "radix-tree-keys"), int(1), "under 4096 bytes");
    h.run(&["xadd", "s", "4-0", "f", &"v".repeat(4100)]);
    h.run(&["xadd", "s", "5-0", "f", "small"]);
    // What redis-server 7.0 answers to the same five XADDs.
    let info = h.run(&["xinfo", "stream", "s"]);
    assert_eq!(field(&info, "radix-tree-keys"), int(3));
    assert_eq!(field(&info, "radix-tree-nodes"), int(8));
}

#[test]
fn xread_serves_entries_after_each_id() {
    let mut h = Harness::new();
    filled(&mut h, "s", 3);
    let got = h.run(&["xread", "count", "1", "streams", "s", "nokey", "1", "0"]);
    assert_eq!(
        got,
        Reply::Keyed(vec![(bulk("s"), arr(vec![entry("2-0", &["f", "2"])]))])
    );
    assert_eq!(h.run(&["xread", "streams", "s", "$"]), Reply::NilArray);
    assert_eq!(
        h.run(&["xread", "block", "0", "streams", "s", "3"]),
        Reply::NilArray
    );
    assert_eq!(
        h.run(&["xread", "block", "-1", "streams", "s", "3"]),
        err("ERR timeout is negative")
    );
    assert_eq!(
        h.run(&["xread", "streams", "s", ">"]),
        err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
    );
}

#[test]
fn consumer_groups_deliver_acknowledge_and_claim() {
    let mut h = Harness::new();
    filled(&mut h, "s", 3);
    assert_eq!(h.run(&["xgroup", "create", "s", "g", "0"]), ok());
    assert_eq!(
        h.run(&["xgroup", "create", "s", "g", "0"]),
        err("BUSYGROUP Consumer Group name already exists")
    );
    let got = read_new(&mut h, "alice", "2");
    assert_eq!(
        got,
        Reply::Keyed(vec![(
            bulk("s"),
            arr(vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])])
        )])
    );
    assert_eq!(h.run(&["xpending", "s", "g"]), two_pending("alice"));
    h.now += 100;
    assert_eq!(
        h.run(&["xclaim", "s", "g", "bob", "50", "1-0", "justid"]),
        arr(vec![bulk("1-0")])
    );
    assert_eq!(
        h.run(&["xpending", "s", "g", "-", "+", "10"]),
        arr(vec![
            arr(vec![bulk("1-0"), bulk("bob"), int(0), int(1)]),
            arr(vec![bulk("2-0"), bulk("alice"), int(100), int(1)]),
        ])
    );
    // History: only the consumer's own entries, each delivered once more.
    assert_eq!(
        h.run(&["xreadgroup", "group", "g", "alice", "streams", "s", "0"]),
        Reply::Keyed(vec![(bulk("s"), arr(vec![entry("2-0", &["f", "2"])]))])
    );
    assert_eq!(h.run(&["xack", "s", "g", "1-0", "2-0", "3-0"]), int(2));
    assert_eq!(
        h.run(&["xpending", "s", "g"]),
        arr(vec![int(0), nil(), nil(), Reply::NilArray])
    );
    let groups = h.run(&["xinfo", "groups", "s"]);
    let Reply::Array(groups) = groups else {
        panic!("groups")
    };
    assert_eq!(field(&groups[0], "entries-read"), int(2));
    assert_eq!(field(&groups[0], "lag"), int(1));
    assert_eq!(field(&groups[0], "consumers"), int(2));
    // A deleted entry leaves the PEL when claimed, reported by XAUTOCLAIM.
    h.run(&["xreadgroup", "group", "g", "alice", "streams", "s", ">"]);
    h.run(&["xdel", "s", "3-0"]);
    assert_eq!(
        h.run(&["xautoclaim", "s", "g", "bob", "0", "0"]),
        arr(vec![bulk("0-0"), arr(vec![]), arr(vec![bulk("3-0")])])
    );
    assert_eq!(h.run(&["xgroup", "delconsumer", "s", "g", "alice"]), int(0));
    assert_eq!(h.run(&["xgroup", "destroy", "s", "g"]), int(1));
    assert_eq!(h.run(&["xinfo", "groups", "s"]), arr(vec![]));
}

#[test]
fn deleting_a_consumer_drops_its_pending_entries() {
    let mut h = Harness::new();
    filled(&mut h, "s", 5);
    h.run(&["xgroup", "create", "s", "g", "0"]);
    read_new(&mut h, "a", "2");
    h.run(&["xreadgroup", "group", "g", "b", "streams", "s", ">"]);
    assert_eq!(h.run(&["xgroup", "delconsumer", "s", "g", "b"]), int(3));
    assert_eq!(h.run(&["xpending", "s", "g"]), two_pending("a"));
    assert_eq!(
        h.run(&["xpending", "s", "g", "-", "+", "10", "b"]),
        arr(vec![])
    );
}

#[test]
fn one_entry_commands_touch_a_bounded_number_of_records() {
    // The records a command reads must not grow with the stream.
    let touched = |n: u64| {
        let mut h = Harness::new();
        filled(&mut h, "s", n);
        h.run(&["xgroup", "create", "s", "g", "0"]);
        h.run(&["xreadgroup", "group", "g", "c", "streams", "s", ">"]);
        let mid = format!("{}-0", n / 2);
        let next = format!("{}-0", n + 1);
        let mut costs = Vec::new();
        for args in [
            vec!["xadd", "s", next.as_str(), "f", "v"],
            vec!["xdel", "s", mid.as_str()],
            vec!["xack", "s", "g", mid.as_str()],
            vec!["xclaim", "s", "g", "d", "0", mid.as_str()],
            vec!["xrange", "s", mid.as_str(), "+", "count", "3"],
            vec!["xlen", "s"],
            vec!["xpending", "s", "g", mid.as_str(), "+", "3"],
            vec![
                "xreadgroup",
                "group",
                "g",
                "c",
                "count",
                "2",
                "streams",
                "s",
                "0",
            ],
        ] {
            let (exec, gets, scanned) = h.counted(&args);
            assert!(!exec.reply.is_error(), "{args:?}: {:?}", exec.reply);
            costs.push((args[0].to_string(), gets + scanned));
        }
        costs
    };
    let small = touched(300);
    let big = touched(6_000);
    assert_eq!(small, big, "the same records at 300 and 6,000 entries");
    for (command, records) in big {
        assert!(records <= 12, "{command} read {records} records");
    }
}

#[test]
fn stream_events_follow_redis() {
    let mut h = Harness::with_events();
    assert_eq!(
        h.events(&["xadd", "s", "1-0", "a", "1"]),
        ["new s", "xadd s"]
    );
    assert_eq!(
        h.events(&["xadd", "s", "maxlen", "0", "2-0", "a", "1"]),
        ["xadd s", "xtrim s"]
    );
    assert_eq!(
        h.events(&["xgroup", "create", "t", "g", "$", "mkstream"]),
        ["new t", "xgroup-create t"]
    );
    assert_eq!(
        h.events(&["xgroup", "createconsumer", "t", "g", "c"]),
        ["xgroup-createconsumer t"]
    );
    assert!(h
        .events(&["xgroup", "createconsumer", "t", "g", "c"])
        .is_empty());
    assert_eq!(
        h.events(&["xgroup", "setid", "t", "g", "0"]),
        ["xgroup-setid t"]
    );
    h.events(&["xadd", "t", "1-0", "a", "1"]);
    assert_eq!(
        h.events(&["xreadgroup", "group", "g", "d", "streams", "t", ">"]),
        ["xgroup-createconsumer t"]
    );
    assert_eq!(
        h.events(&["xgroup", "delconsumer", "t", "g", "d"]),
        ["xgroup-delconsumer t"]
    );
    assert_eq!(
        h.events(&["xgroup", "destroy", "t", "g"]),
        ["xgroup-destroy t"]
    );
    assert_eq!(h.events(&["xdel", "t", "1-0"]), ["xdel t"]);
    assert!(h.events(&["xdel", "t", "1-0"]).is_empty());
    assert_eq!(h.events(&["xsetid", "t", "5-0"]), ["xsetid t"]);
    assert_eq!(
        h.events(&["xtrim", "s", "maxlen", "0"]),
        Vec::<String>::new()
    );
    assert_eq!(h.events(&["del", "t"]), ["del t"]);
}

#[test]
fn a_stream_is_copied_renamed_and_deleted_whole() {
    let mut h = Harness::new();
    filled(&mut h, "s", 150);
    h.run(&["xgroup", "create", "s", "g", "0"]);
    read_new(&mut h, "c", "5");
    assert_eq!(h.run(&["copy", "s", "t"]), int(1));
    assert_eq!(h.run(&["rename", "s", "u"]), ok());
    for key in ["t", "u"] {
        assert_eq!(h.run(&["xlen", key]), int(150));
        assert_eq!(
            h.run(&["xpending", key, "g"]).clone(),
            h.run(&["xpending", "t", "g"])
        );
        let info = h.run(&["xinfo", "stream", key]);
        assert_eq!(field(&info, "radix-tree-keys"), int(2));
    }
    assert_eq!(h.run(&["del", "u"]), int(1));
    assert_eq!(h.run(&["xlen", "u"]), int(0));
    assert!(h.run(&["xinfo", "stream", "u"]).is_error());
    assert_eq!(as_int(h.run(&["xlen", "t"])), 150);
}

#[test]
fn garbage_records_are_storage_errors_not_panics() {
    use crate::storage::layout::{self, KeyType, MetaHeader};
    use crate::storage::{Mutation, WriteOp};
    let mut h = Harness::new();
    let header = MetaHeader {
        key_type: KeyType::Stream,
        expire_at_ms: 0,
        version: 9,
        size: 1,
    };
    for payload in [&b""[..], b"\x01short", &[0xff; 89]] {
        let put = WriteOp::Put(
            layout::meta_key(b"bad"),
            layout::encode_meta(&header, payload),
        );
        h.apply(&Mutation { ops: vec![put] });
        for args in [
            vec!["xadd", "bad", "*", "a", "1"],
            vec!["xlen", "bad"],
            vec!["xrange", "bad", "-", "+"],
            vec!["xinfo", "stream", "bad"],
        ] {
            let reply = h.run(&args);
            assert!(
                matches!(&reply, Reply::Error(e) if e.starts_with("ERR storage failure")),
                "{args:?}: {reply:?}"
            );
        }
    }
}
