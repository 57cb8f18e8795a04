//! Bit command and LCS tests; expected replies are redis-server 7.0.15's.

use petrel_common::reply::errors::{NOT_INTEGER, SYNTAX, WRONGTYPE};
use petrel_common::reply::Reply;

use crate::cmd::testing::*;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|&v| int(v)).collect())
}

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

#[test]
fn setbit_and_getbit() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["setbit", "k", "7", "1"]), int(0));
    assert_eq!(h.run(&["get", "k"]), bulk("\x01"));
    assert_eq!(h.run(&["setbit", "k", "7", "1"]), int(1));
    assert_eq!(h.run(&["setbit", "k", "0", "1"]), int(0));
    assert_eq!(h.run(&["getbit", "k", "0"]), int(1));
    assert_eq!(h.run(&["getbit", "k", "1"]), int(0));
    assert_eq!(h.run(&["getbit", "k", "100"]), int(0));
    assert_eq!(h.run(&["getbit", "missing", "3"]), int(0));
    assert_eq!(h.run(&["setbit", "k", "23", "0"]), int(0));
    assert_eq!(h.run(&["strlen", "k"]), int(3));
    // Clearing an already clear bit in range writes nothing.
    assert!(h.exec(&["setbit", "k", "3", "0"]).mutation.is_empty());
    // A new key is created even for a 0 bit.
    assert_eq!(h.run(&["setbit", "z", "9", "0"]), int(0));
    assert_eq!(h.run(&["get", "z"]), bulk("\0\0"));
}

#[test]
fn setbit_keeps_ttl() {
    let mut h = Harness::new();
    h.run(&["set", "k", "a"]);
    h.run(&["expire", "k", "100"]);
    assert_eq!(h.run(&["setbit", "k", "6", "1"]), int(0));
    assert_eq!(h.run(&["get", "k"]), bulk("c"));
    assert_eq!(h.run(&["ttl", "k"]), int(100));
}

#[test]
fn setbit_getbit_errors() {
    let mut h = Harness::new();
    let bad_bit = err("ERR bit is not an integer or out of range");
    for offset in ["-1", "4294967296", "x", "", "01", "+1"] {
        assert_eq!(
            h.run(&["setbit", "k", offset, "1"]),
            err(BAD_OFFSET),
            "{offset}"
        );
        assert_eq!(h.run(&["getbit", "k", offset]), err(BAD_OFFSET), "{offset}");
    }
    assert_eq!(h.run(&["setbit", "k", "1", "2"]), bad_bit);
    assert_eq!(h.run(&["setbit", "k", "1", "-1"]), bad_bit);
    assert_eq!(h.run(&["setbit", "k", "1", "x"]), bad_bit);
    assert_eq!(h.run(&["getbit", "k", "4294967295"]), int(0));
    h.seed_hash("h", 0);
    assert_eq!(h.run(&["setbit", "h", "1", "1"]), err(WRONGTYPE));
    // Arguments are checked before the type.
    assert_eq!(h.run(&["setbit", "h", "x", "1"]), err(BAD_OFFSET));
    assert_eq!(h.run(&["getbit", "h", "x"]), err(BAD_OFFSET));
    assert_eq!(h.run(&["getbit", "h", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["exists", "k"]), int(0));
}

#[test]
fn bitcount_ranges() {
    let mut h = Harness::new();
    h.run(&["set", "s", "foobar"]);
    assert_eq!(h.run(&["bitcount", "s"]), int(26));
    assert_eq!(h.run(&["bitcount", "s", "0", "0"]), int(4));
    assert_eq!(h.run(&["bitcount", "s", "1", "1"]), int(6));
    assert_eq!(h.run(&["bitcount", "s", "1", "1", "byte"]), int(6));
    assert_eq!(h.run(&["bitcount", "s", "5", "30", "bit"]), int(17));
    assert_eq!(h.run(&["bitcount", "s", "-1", "-1", "BIT"]), int(0));
    assert_eq!(h.run(&["bitcount", "s", "-2", "-1"]), int(7));
    assert_eq!(h.run(&["bitcount", "s", "-1", "-2"]), int(0));
    assert_eq!(h.run(&["bitcount", "s", "-1", "-2", "foo"]), int(0));
    assert_eq!(h.run(&["bitcount", "s", "-100", "100"]), int(26));
    assert_eq!(h.run(&["bitcount", "s", "3", "1"]), int(0));
    assert_eq!(h.run(&["bitcount", "missing", "a", "b"]), int(0));
    h.run(&["set", "e", ""]);
    assert_eq!(h.run(&["bitcount", "e"]), int(0));
    assert_eq!(h.run(&["bitcount", "e", "0", "-1", "bit"]), int(0));
}

#[test]
fn bitcount_errors() {
    let mut h = Harness::new();
    h.run(&["set", "s", "foobar"]);
    assert_eq!(h.run(&["bitcount", "s", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["bitcount", "s", "1", "1", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["bitcount", "s", "0", "0", "0", "0"]), err(SYNTAX));
    assert_eq!(h.run(&["bitcount", "s", "a", "1"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["bitcount", "missing", "1"]), int(0));
    h.seed_hash("h", 0);
    assert_eq!(h.run(&["bitcount", "h", "1"]), err(WRONGTYPE));
}

#[test]
fn bitpos_bytes_and_bits() {
    let mut h = Harness::new();
    h.run_bytes(&[b"set", b"ff", b"\xff\xff\xff"]);
    h.run_bytes(&[b"set", b"fz", b"\xff\xf0\x00"]);
    assert_eq!(h.run(&["bitpos", "ff", "0"]), int(24));
    assert_eq!(h.run(&["bitpos", "ff", "0", "1"]), int(24));
    assert_eq!(h.run(&["bitpos", "ff", "0", "1", "2"]), int(-1));
    assert_eq!(h.run(&["bitpos", "ff", "0", "1", "-1", "bit"]), int(-1));
    assert_eq!(h.run(&["bitpos", "ff", "1", "9", "100", "bit"]), int(9));
    assert_eq!(h.run(&["bitpos", "fz", "0", "2", "11", "bit"]), int(-1));
    assert_eq!(h.run(&["bitpos", "fz", "0", "2", "12", "bit"]), int(12));
    assert_eq!(h.run(&["bitpos", "fz", "1", "12", "23", "bit"]), int(-1));
    assert_eq!(h.run(&["bitpos", "fz", "0", "-1"]), int(16));
    assert_eq!(h.run(&["bitpos", "fz", "1", "-1"]), int(-1));
    assert_eq!(h.run(&["bitpos", "fz", "1"]), int(0));
    assert_eq!(h.run(&["bitpos", "fz", "1", "1"]), int(8));
    assert_eq!(h.run(&["bitpos", "fz", "0", "3", "bit"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["bitpos", "ff", "0", "-100", "-50"]), int(-1));
    assert_eq!(h.run(&["bitpos", "ff", "0", "100"]), int(-1));
    h.run(&["set", "e", ""]);
    assert_eq!(h.run(&["bitpos", "e", "0"]), int(-1));
    assert_eq!(h.run(&["bitpos", "e", "1"]), int(-1));
    assert_eq!(h.run(&["bitpos", "missing", "0"]), int(0));
    assert_eq!(h.run(&["bitpos", "missing", "1"]), int(-1));
}

#[test]
fn bitpos_errors() {
    let mut h = Harness::new();
    h.run(&["set", "s", "foobar"]);
    let bad_bit = err("ERR The bit argument must be 1 or 0.");
    assert_eq!(h.run(&["bitpos", "missing", "2"]), bad_bit);
    assert_eq!(h.run(&["bitpos", "missing", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["bitpos", "missing", "0", "a", "b", "c"]), int(0));
    assert_eq!(h.run(&["bitpos", "s", "1", "2", "-1", "foo"]), err(SYNTAX));
    assert_eq!(
        h.run(&["bitpos", "s", "1", "x", "y", "foo"]),
        err(NOT_INTEGER)
    );
    assert_eq!(h.run(&["bitpos", "s", "1", "0", "x", "foo"]), err(SYNTAX));
    assert_eq!(
        h.run(&["bitpos", "s", "1", "0", "1", "2", "3"]),
        err(SYNTAX)
    );
    h.seed_hash("h", 0);
    assert_eq!(h.run(&["bitpos", "h", "1"]), err(WRONGTYPE));
}

#[test]
fn bitop_operations() {
    let mut h = Harness::new();
    h.run(&["set", "a", "foobar"]);
    h.run(&["set", "b", "abcdef"]);
    h.run(&["set", "c", "x"]);
    assert_eq!(h.run(&["bitop", "and", "d", "a", "b"]), int(6));
    assert_eq!(h.run(&["get", "d"]), bulk("`bc`ab"));
    assert_eq!(h.run(&["bitop", "OR", "d", "a", "b"]), int(6));
    assert_eq!(h.run(&["get", "d"]), bulk("goofev"));
    assert_eq!(h.run(&["bitop", "xor", "d", "a", "c"]), int(6));
    assert_eq!(h.run(&["get", "d"]), bulk("\x1eoobar"));
    assert_eq!(h.run(&["bitop", "and", "d", "a", "c"]), int(6));
    assert_eq!(h.run(&["get", "d"]), bulk("`\0\0\0\0\0"));
    assert_eq!(h.run(&["bitop", "and", "d", "a", "missing"]), int(6));
    assert_eq!(h.run(&["get", "d"]), bulk("\0\0\0\0\0\0"));
    assert_eq!(h.run(&["bitop", "not", "d", "c"]), int(1));
    assert_eq!(h.run(&["get", "d"]), raw(b"\x87"));
    // NOT of nothing, or of only missing keys, deletes the destination.
    h.run(&["expire", "d", "100"]);
    assert_eq!(h.run(&["bitop", "not", "d", "missing"]), int(0));
    assert_eq!(h.run(&["exists", "d"]), int(0));
    h.seed_hash("h", 0);
    assert_eq!(h.run(&["bitop", "or", "h", "missing", "nope"]), int(0));
    assert_eq!(h.run(&["exists", "h"]), int(0));
}

fn raw(bytes: &'static [u8]) -> Reply {
    Reply::Bulk(bytes::Bytes::from_static(bytes))
}

#[test]
fn bitop_replaces_destination() {
    let mut h = Harness::new();
    h.run(&["set", "a", "x"]);
    h.seed_hash("h", 0);
    h.run(&["set", "d", "old", "ex", "100"]);
    assert_eq!(h.run(&["bitop", "or", "d", "a"]), int(1));
    assert_eq!(h.run(&["ttl", "d"]), int(-1));
    assert_eq!(h.run(&["bitop", "or", "h", "a"]), int(1));
    assert_eq!(h.run(&["type", "h"]), status("string"));
    // The destination may be a source.
    assert_eq!(h.run(&["bitop", "xor", "a", "a", "a"]), int(1));
    assert_eq!(h.run(&["get", "a"]), bulk("\0"));
}

#[test]
fn bitop_errors() {
    let mut h = Harness::new();
    h.seed_hash("h", 0);
    h.run(&["set", "s", "x"]);
    assert_eq!(h.run(&["bitop", "foo", "d", "s"]), err(SYNTAX));
    assert_eq!(h.run(&["bitop", "an", "d", "s"]), err(SYNTAX));
    assert_eq!(
        h.run(&["bitop", "not", "d", "s", "s"]),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(h.run(&["bitop", "and", "d", "s", "h"]), err(WRONGTYPE));
    assert_eq!(h.run(&["exists", "d"]), int(0));
}

#[test]
fn bitfield_get_set_incrby() {
    let mut h = Harness::new();
    assert_eq!(
        h.run(&["bitfield", "k", "set", "i8", "0", "100", "get", "i8", "0"]),
        ints(&[0, 100])
    );
    assert_eq!(
        h.run(&["bitfield", "k", "incrby", "i8", "0", "27"]),
        ints(&[127])
    );
    // WRAP is the default.
    assert_eq!(
        h.run(&["bitfield", "k", "incrby", "i8", "0", "1"]),
        ints(&[-128])
    );
    assert_eq!(h.run(&["bitfield", "k", "get", "u8", "0"]), ints(&[128]));
    assert_eq!(
        h.run(&["bitfield", "k", "overflow", "sat", "incrby", "i8", "0", "-1000"]),
        ints(&[-128])
    );
    assert_eq!(
        h.run(&["bitfield", "k", "overflow", "fail", "incrby", "i8", "0", "-1"]),
        arr(vec![nil()])
    );
    assert_eq!(
        h.run(&["bitfield", "k", "set", "u4", "#1", "15", "get", "u8", "0"]),
        ints(&[0, 143])
    );
    assert_eq!(
        h.run(&["bitfield", "k", "get", "u4", "#1", "get", "i4", "#1"]),
        ints(&[15, -1])
    );
    // GET past the end reads zeros.
    assert_eq!(
        h.run(&["bitfield", "k", "get", "i64", "4"]),
        ints(&[-1 << 60])
    );
    assert_eq!(
        h.run(&["bitfield_ro", "k", "get", "u63", "100"]),
        ints(&[0])
    );
    assert_eq!(h.run(&["bitfield", "missing"]), ints(&[]));
    assert_eq!(
        h.run(&["bitfield", "missing", "get", "u8", "0"]),
        ints(&[0])
    );
    assert_eq!(h.run(&["exists", "missing"]), int(0));
}

#[test]
fn bitfield_overflow_matches_redis() {
    let mut h = Harness::new();
    let run = |h: &mut Harness, args: &[&str]| h.run(args);
    // Unsigned SET of a negative value is an overflow (to max under SAT).
    assert_eq!(
        run(
            &mut h,
            &["bitfield", "a", "overflow", "sat", "set", "u8", "0", "-1"]
        ),
        ints(&[0])
    );
    assert_eq!(
        run(&mut h, &["bitfield", "a", "get", "u8", "0"]),
        ints(&[255])
    );
    assert_eq!(
        run(&mut h, &["bitfield", "a", "incrby", "u8", "0", "2"]),
        ints(&[1])
    );
    assert_eq!(
        run(
            &mut h,
            &["bitfield", "a", "overflow", "sat", "incrby", "u8", "0", "-5"]
        ),
        ints(&[0])
    );
    // Redis's arithmetic: i8 SET of i64::MIN saturates to the maximum.
    assert_eq!(
        run(
            &mut h,
            &[
                "bitfield",
                "b",
                "overflow",
                "sat",
                "set",
                "i8",
                "0",
                "-9223372036854775808"
            ]
        ),
        ints(&[0])
    );
    assert_eq!(
        run(&mut h, &["bitfield", "b", "get", "i8", "0"]),
        ints(&[127])
    );
    assert_eq!(
        run(
            &mut h,
            &[
                "bitfield",
                "c",
                "set",
                "i64",
                "0",
                "9223372036854775807",
                "incrby",
                "i64",
                "0",
                "1"
            ]
        ),
        ints(&[0, i64::MIN])
    );
    assert_eq!(
        run(
            &mut h,
            &["bitfield", "c", "overflow", "fail", "incrby", "i64", "0", "-1", "get", "i64", "0"]
        ),
        arr(vec![nil(), int(i64::MIN)])
    );
    assert_eq!(
        run(
            &mut h,
            &["bitfield", "d", "set", "i8", "0", "200", "get", "i8", "0"]
        ),
        ints(&[0, -56])
    );
    // FAIL writes nothing but the key is still created, zero-filled.
    assert_eq!(
        run(
            &mut h,
            &["bitfield", "e", "overflow", "fail", "set", "u2", "0", "7"]
        ),
        arr(vec![nil()])
    );
    assert_eq!(run(&mut h, &["strlen", "e"]), int(1));
}

#[test]
fn bitfield_errors() {
    let mut h = Harness::new();
    h.seed_hash("h", 0);
    for ty in ["u64", "U8", "i65", "i0", "x8", "", "u", "i-1"] {
        assert_eq!(
            h.run(&["bitfield", "k", "get", ty, "0"]),
            err(BAD_TYPE),
            "{ty}"
        );
    }
    assert_eq!(h.run(&["bitfield", "k", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["bitfield", "k", "get", "u8"]), err(SYNTAX));
    assert_eq!(h.run(&["bitfield", "k", "set", "u8", "0"]), err(SYNTAX));
    assert_eq!(h.run(&["bitfield", "k", "overflow"]), err(SYNTAX));
    assert_eq!(
        h.run(&["bitfield", "k", "overflow", "foo", "get", "u8", "0"]),
        err("ERR Invalid OVERFLOW type specified")
    );
    assert_eq!(
        h.run(&["bitfield", "k", "set", "u8", "0", "x"]),
        err(NOT_INTEGER)
    );
    for offset in ["4294967296", "-1", "#536870912", "#-1", "x"] {
        assert_eq!(
            h.run(&["bitfield", "k", "get", "u8", offset]),
            err(BAD_OFFSET),
            "{offset}"
        );
    }
    assert_eq!(
        h.run(&["bitfield", "k", "get", "u8", "#536870911"]),
        ints(&[0])
    );
    // #N wraps like Redis: 288230376151711745 * 64 = 2^64 + 64.
    assert_eq!(
        h.run(&["bitfield", "k", "get", "i64", "#288230376151711745"]),
        ints(&[0])
    );
    assert_eq!(
        h.run(&["bitfield_ro", "k", "set", "u8", "0", "1"]),
        err("ERR BITFIELD_RO only supports the GET subcommand")
    );
    assert_eq!(
        h.run(&["bitfield_ro", "k", "incrby", "u8", "0", "x"]),
        err(NOT_INTEGER)
    );
    assert_eq!(h.run(&["bitfield", "h"]), err(WRONGTYPE));
    assert_eq!(
        h.run(&["bitfield_ro", "h", "get", "u8", "0"]),
        err(WRONGTYPE)
    );
    assert_eq!(
        h.run(&["bitfield", "h", "set", "u8", "0", "1"]),
        err(WRONGTYPE)
    );
    assert_eq!(
        h.run(&["bitfield", "h", "set", "u8", "x", "1"]),
        err(BAD_OFFSET)
    );
    assert_eq!(h.run(&["exists", "k"]), int(0));
}

#[test]
fn bitfield_keeps_ttl_and_skips_no_op_writes() {
    let mut h = Harness::new();
    h.run(&["set", "k", "a", "ex", "100"]);
    assert_eq!(
        h.run(&["bitfield", "k", "set", "u8", "0", "98"]),
        ints(&[97])
    );
    assert_eq!(h.run(&["get", "k"]), bulk("b"));
    assert_eq!(h.run(&["ttl", "k"]), int(100));
    assert!(h
        .exec(&["bitfield", "k", "set", "u8", "0", "98"])
        .mutation
        .is_empty());
}

fn pair(a: i64, b: i64) -> Reply {
    ints(&[a, b])
}

#[test]
fn lcs_variants() {
    let mut h = Harness::new();
    h.run(&["set", "a", "ohmytext"]);
    h.run(&["set", "b", "mynewtext"]);
    assert_eq!(h.run(&["lcs", "a", "b"]), bulk("mytext"));
    assert_eq!(h.run(&["lcs", "a", "b", "LEN"]), int(6));
    let matches = vec![
        arr(vec![pair(4, 7), pair(5, 8)]),
        arr(vec![pair(2, 3), pair(0, 1)]),
    ];
    assert_eq!(
        h.run(&["lcs", "a", "b", "idx"]),
        Reply::Map(vec![(bulk("matches"), arr(matches)), (bulk("len"), int(6)),])
    );
    assert_eq!(
        h.run(&["lcs", "a", "b", "idx", "minmatchlen", "4", "withmatchlen"]),
        Reply::Map(vec![
            (
                bulk("matches"),
                arr(vec![arr(vec![pair(4, 7), pair(5, 8), int(4)])])
            ),
            (bulk("len"), int(6)),
        ])
    );
    assert_eq!(
        h.run(&["lcs", "a", "missing", "idx"]),
        Reply::Map(vec![(bulk("matches"), arr(vec![])), (bulk("len"), int(0))])
    );
    assert_eq!(h.run(&["lcs", "missing", "nope"]), bulk(""));
    assert_eq!(h.run(&["lcs", "a", "b", "len", "len"]), int(6));
}

#[test]
fn lcs_errors() {
    let mut h = Harness::new();
    h.run(&["set", "a", "x"]);
    h.seed_hash("h", 0);
    let not_strings = err("ERR The specified keys must contain string values");
    assert_eq!(h.run(&["lcs", "a", "h"]), not_strings);
    assert_eq!(h.run(&["lcs", "h", "a", "foo"]), not_strings);
    assert_eq!(h.run(&["lcs", "a", "a", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["lcs", "a", "a", "minmatchlen"]), err(SYNTAX));
    assert_eq!(
        h.run(&["lcs", "a", "a", "minmatchlen", "x"]),
        err(NOT_INTEGER)
    );
    assert_eq!(
        h.run(&["lcs", "a", "a", "idx", "len"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    let big = "x".repeat(12000);
    h.run(&["set", "big", &big]);
    assert_eq!(
        h.run(&["lcs", "big", "big"]),
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    );
}
