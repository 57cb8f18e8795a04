//! HyperLogLog command tests; expected replies and bytes are
//! redis-server 7.0.15's.

use bytes::Bytes;
use petrel_common::hll::DEFAULT_SPARSE_MAX_BYTES;
use petrel_common::msg::{SettingMsg, SettingsMsg};
use petrel_common::reply::errors::WRONGTYPE;
use petrel_common::reply::Reply;

use crate::cmd::testing::*;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
/// The header of a sparse HLL whose cache is stale.
const STALE_SPARSE: &[u8] = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80";

fn raw(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

#[test]
fn pfadd_and_pfcount_write_redis_bytes() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["pfadd", "k", "a", "b", "c"]), int(1));
    let mut added = STALE_SPARSE.to_vec();
    added.extend_from_slice(b"`\xf3\x80P\xb1\x84K\xfb\x80BZ");
    assert_eq!(h.run(&["get", "k"]), raw(&added));
    // No register grows: 0, nothing written.
    let again = h.exec(&["pfadd", "k", "a", "c"]);
    assert_eq!(again.reply, int(0));
    assert!(again.mutation.is_empty());
    // PFCOUNT computes the count and keeps it in the header...
    let count = h.exec(&["pfcount", "k"]);
    assert_eq!(count.reply, int(3));
    assert!(!count.mutation.is_empty());
    h.apply(&count.mutation);
    let mut counted = b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00".to_vec();
    counted.extend_from_slice(&added[16..]);
    assert_eq!(h.run(&["get", "k"]), raw(&counted));
    // ...and answers from it next time, writing nothing.
    let cached = h.exec(&["pfcount", "k"]);
    assert_eq!(cached.reply, int(3));
    assert!(cached.mutation.is_empty());
    assert_eq!(h.run(&["pfcount", "nokey"]), int(0));
    assert_eq!(h.run(&["exists", "nokey"]), int(0));
}

#[test]
fn pfadd_without_elements_creates_an_empty_hll() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["pfadd", "k"]), int(1));
    assert_eq!(
        h.run(&["get", "k"]),
        raw(b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff")
    );
    assert_eq!(h.run(&["pfadd", "k"]), int(0));
    assert_eq!(h.run(&["pfcount", "k"]), int(0));
}

#[test]
fn values_that_are_not_hlls_are_refused() {
    let mut h = Harness::new();
    h.run(&["set", "s", "foo"]);
    for cmd in [
        &["pfadd", "s", "a"][..],
        &["pfcount", "s"],
        &["pfcount", "s", "x"],
        &["pfcount", "x", "s"],
        &["pfmerge", "d", "s"],
        &["pfmerge", "s"],
        &["pfdebug", "encoding", "s"],
    ] {
        assert_eq!(h.run(cmd), err(NOT_HLL), "{cmd:?}");
    }
    assert_eq!(h.run(&["exists", "d"]), int(0));
    h.seed_hash("h", 0);
    assert_eq!(h.run(&["pfadd", "h", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["pfcount", "h"]), err(WRONGTYPE));
    assert_eq!(h.run(&["pfdebug", "encoding", "h"]), err(WRONGTYPE));
    // A dense header on a value of the wrong length.
    h.run_bytes(&[
        b"set",
        b"d",
        b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00",
    ]);
    assert_eq!(h.run(&["pfcount", "d"]), err(NOT_HLL));
}

#[test]
fn corrupt_values_answer_invalidobj_and_write_nothing() {
    let mut h = Harness::new();
    // Two XZERO:16384: twice the registers.
    let mut long = STALE_SPARSE.to_vec();
    long.extend_from_slice(b"\x7f\xff\x7f\xff");
    h.run_bytes(&[b"set", b"c", &long]);
    assert_eq!(h.run(&["pfcount", "c"]), err(CORRUPT));
    assert_eq!(h.run(&["pfcount", "c", "x"]), err(CORRUPT));
    assert_eq!(h.run(&["pfmerge", "d", "c"]), err(CORRUPT));
    assert_eq!(h.run(&["pfdebug", "todense", "c"]), err(CORRUPT));
    assert_eq!(h.run(&["pfdebug", "getreg", "c"]), err(CORRUPT));
    assert_eq!(h.run(&["exists", "d"]), int(0));
    // An element whose register is found still counts, as in Redis.
    assert_eq!(h.run(&["pfadd", "c", "a"]), int(1));
    assert_eq!(
        h.run(&["pfdebug", "decode", "c"]),
        bulk("Z:12711 v:2,1 Z:3672 Z:16384")
    );
    // The header alone: no register is found.
    h.run_bytes(&[b"set", b"e", STALE_SPARSE]);
    let failed = h.exec(&["pfadd", "e", "a"]);
    assert_eq!(failed.reply, err(CORRUPT));
    assert!(failed.mutation.is_empty());
    assert_eq!(h.run(&["pfdebug", "decode", "e"]), bulk(""));
}

#[test]
fn pfmerge_unions_into_the_destination() {
    let mut h = Harness::new();
    // Redis: PFMERGE of nothing creates an empty HLL, cache stale.
    assert_eq!(h.run(&["pfmerge", "m"]), ok());
    assert_eq!(
        h.run(&["get", "m"]),
        raw(b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff")
    );
    assert_eq!(h.run(&["pfcount", "m2", "m3"]), int(0));
    assert_eq!(h.run(&["exists", "m2"]), int(0));
    h.run(&["pfadd", "a", "1", "2", "3"]);
    h.run(&["pfadd", "b", "3", "4", "5", "6"]);
    assert_eq!(h.run(&["pfcount", "a", "b"]), int(6));
    assert_eq!(h.run(&["pfmerge", "m", "a", "b"]), ok());
    assert_eq!(h.run(&["pfcount", "m"]), int(6));
    // A dense source makes the destination dense.
    h.run(&["pfdebug", "todense", "b"]);
    assert_eq!(h.run(&["pfmerge", "m2", "a", "b"]), ok());
    assert_eq!(h.run(&["pfdebug", "encoding", "m2"]), status("dense"));
    assert_eq!(h.run(&["pfcount", "m2"]), int(6));
    assert_eq!(h.run(&["pfdebug", "encoding", "m"]), status("sparse"));
    // The destination counts as a source.
    h.run(&["pfadd", "c", "7"]);
    assert_eq!(h.run(&["pfmerge", "c", "a"]), ok());
    assert_eq!(h.run(&["pfcount", "c"]), int(4));
}

#[test]
fn in_place_changes_keep_the_ttl() {
    let mut h = Harness::new();
    h.run(&["pfadd", "t", "x"]);
    h.run(&["expire", "t", "100"]);
    h.run(&["pfadd", "t", "y"]);
    assert_eq!(h.run(&["ttl", "t"]), int(100));
    h.run(&["pfadd", "k", "a", "b", "c"]);
    assert_eq!(h.run(&["pfmerge", "t", "k"]), ok());
    assert_eq!(h.run(&["ttl", "t"]), int(100));
    assert_eq!(h.run(&["pfcount", "t"]), int(5));
    assert_eq!(h.run(&["ttl", "t"]), int(100));
    h.run(&["pfdebug", "todense", "t"]);
    assert_eq!(h.run(&["ttl", "t"]), int(100));
}

#[test]
fn pfdebug_subcommands() {
    let mut h = Harness::new();
    let missing = err("ERR The specified key does not exist");
    assert_eq!(h.run(&["pfdebug", "encoding", "nokey"]), missing);
    assert_eq!(h.run(&["pfdebug", "foo", "nokey"]), missing);
    h.run(&["pfadd", "k", "a", "b", "c"]);
    assert_eq!(
        h.run(&["pfdebug", "foo", "k"]),
        err("ERR Unknown PFDEBUG subcommand 'foo'")
    );
    assert_eq!(
        h.run_bytes(&[b"pfdebug", b"foo\0bar", b"k"]),
        err("ERR Unknown PFDEBUG subcommand 'foo'")
    );
    assert_eq!(
        h.run(&["pfdebug", "foo\nbar", "k"]),
        err("ERR Unknown PFDEBUG subcommand 'foo bar'")
    );
    assert_eq!(h.run(&["pfdebug", "ENCODING", "k"]), status("sparse"));
    assert_eq!(
        h.run(&["pfdebug", "decode", "k"]),
        bulk("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603")
    );
    assert_eq!(h.run(&["pfdebug", "todense", "k"]), int(1));
    let again = h.exec(&["pfdebug", "todense", "k"]);
    assert_eq!(again.reply, int(0));
    assert!(again.mutation.is_empty());
    assert_eq!(
        h.run(&["pfdebug", "decode", "k"]),
        err("ERR HLL encoding is not sparse")
    );
    assert_eq!(h.run(&["pfdebug", "encoding", "k"]), status("dense"));
    assert_eq!(h.run(&["pfcount", "k"]), int(3));
    // GETREG turns a sparse value dense and lists every register.
    h.run(&["pfadd", "k2", "a"]);
    let Reply::Array(registers) = h.run(&["pfdebug", "getreg", "k2"]) else {
        panic!("an array");
    };
    assert_eq!(registers.len(), 16384);
    assert_eq!(registers[12711], int(2));
    assert_eq!(registers.iter().filter(|r| **r != int(0)).count(), 1);
    assert_eq!(h.run(&["pfdebug", "encoding", "k2"]), status("dense"));
}

#[test]
fn events_are_redis_ones() {
    let mut h = Harness::with_events();
    assert_eq!(h.events(&["pfadd", "k", "a"]), ["new k", "pfadd k"]);
    assert!(h.events(&["pfadd", "k", "a"]).is_empty());
    assert!(h.events(&["pfcount", "k"]).is_empty());
    assert_eq!(h.events(&["pfcount", "k", "x"]), ["keymiss x"]);
    // PFMERGE reads every key, its destination first, and always
    // announces pfadd.
    assert_eq!(
        h.events(&["pfmerge", "d", "x", "k"]),
        ["keymiss d", "keymiss x", "new d", "pfadd d"]
    );
    assert_eq!(h.events(&["pfmerge", "d"]), ["pfadd d"]);
    assert!(h.events(&["pfdebug", "todense", "d"]).is_empty());
}

#[test]
fn the_sparse_limit_comes_from_the_cluster_settings() {
    let settings = |value: Option<&str>| SettingsMsg {
        generation: 1,
        settings: value
            .map(|v| SettingMsg {
                name: "hll-sparse-max-bytes".into(),
                value: v.into(),
            })
            .into_iter()
            .collect(),
    };
    assert_eq!(
        super::sparse_max_bytes_of(&settings(None)),
        Some(DEFAULT_SPARSE_MAX_BYTES)
    );
    assert_eq!(
        super::sparse_max_bytes_of(&settings(Some("200"))),
        Some(200)
    );
    assert_eq!(super::sparse_max_bytes_of(&settings(Some("1kb"))), None);
}
