//! Command-level tests of the sorted set family.

use petrel_common::reply::{errors, Reply};

use crate::cmd::testing::*;
use crate::storage::layout::{self, KeyType, MetaHeader};
use crate::storage::{Mutation, ReadView, WriteOp};

fn dbl(v: f64) -> Reply {
    Reply::Double(v)
}

fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

/// Members only.
fn members(list: &[&str]) -> Reply {
    arr(list.iter().map(|m| bulk(m)).collect())
}

/// Members with scores, flat.
fn scored(list: &[(&str, f64)]) -> Reply {
    arr(list.iter().flat_map(|(m, s)| [bulk(m), dbl(*s)]).collect())
}

/// Runs a command; scored pairs are flattened as RESP2 sends them (their
/// RESP3 shape is checked in `scored_replies_are_pairs` and by the
/// differential script).
fn run(h: &mut Harness, line: &str) -> Reply {
    let args: Vec<&str> = line.split(' ').collect();
    flat(h.run(&args))
}

fn flat(reply: Reply) -> Reply {
    match reply {
        Reply::Pairs(pairs) => arr(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect()),
        Reply::Array(items) => arr(items.into_iter().map(flat).collect()),
        other => other,
    }
}

#[test]
fn scored_replies_are_pairs() {
    let mut h = Harness::new();
    h.run(&["zadd", "z", "1", "a", "2", "b"]);
    let pairs = Reply::Pairs(vec![(bulk("a"), dbl(1.0)), (bulk("b"), dbl(2.0))]);
    assert_eq!(h.run(&["zrange", "z", "0", "-1", "withscores"]), pairs);
    assert_eq!(
        h.run(&["zpopmin", "z", "1"]),
        Reply::Pairs(vec![(bulk("a"), dbl(1.0))])
    );
    assert_eq!(
        h.run(&["zpopmin", "z"]),
        arr(vec![bulk("b"), dbl(2.0)]),
        "no count: flat"
    );
}

/// Number of element records stored for `key` (any version).
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

/// The header size matches ZCARD and the records on disk (two per member).
fn check_size(h: &mut Harness, key: &str) {
    let card = match run(h, &format!("zcard {key}")) {
        Reply::Int(n) => n as u64,
        other => panic!("{other:?}"),
    };
    let size = h.header(key).map_or(0, |hd| hd.size);
    assert_eq!(size, card, "{key}");
    assert_eq!(stored_elements(h, key) as u64, 2 * size, "{key}");
}

/// A set `key` holding `members`, as the set commands store it.
fn seed_set(h: &mut Harness, key: &str, list: &[&str]) {
    let header = MetaHeader {
        key_type: KeyType::Set,
        expire_at_ms: 0,
        version: 9,
        size: list.len() as u64,
    };
    let mut ops = vec![WriteOp::Put(
        layout::meta_key(key.as_bytes()),
        layout::encode_meta(&header, b""),
    )];
    for m in list {
        ops.push(WriteOp::Put(
            layout::element_key(key.as_bytes(), 9, m.as_bytes()),
            Vec::new(),
        ));
    }
    h.apply(&Mutation { ops });
}

#[test]
fn zadd_flags_and_replies() {
    let mut h = Harness::new();
    assert_eq!(run(&mut h, "zadd z 1 a 2 b 3 c"), int(3));
    assert_eq!(run(&mut h, "zadd z 1 a 5 b"), int(0));
    assert_eq!(run(&mut h, "zadd z ch 1 a 2 b 4 d"), int(2));
    assert_eq!(run(&mut h, "zadd z nx 9 a 7 e"), int(1));
    assert_eq!(run(&mut h, "zscore z a"), dbl(1.0));
    assert_eq!(run(&mut h, "zadd z xx ch 8 a 9 nosuch"), int(1));
    assert_eq!(run(&mut h, "zscore z nosuch"), nil());
    assert_eq!(run(&mut h, "zadd z gt ch 1 a 10 c"), int(1));
    assert_eq!(run(&mut h, "zscore z a"), dbl(8.0));
    assert_eq!(run(&mut h, "zadd z lt ch 1 a 20 c"), int(1));
    assert_eq!(run(&mut h, "zscore z a"), dbl(1.0));
    assert_eq!(run(&mut h, "zscore z c"), dbl(10.0));
    // GT and LT still add new members.
    assert_eq!(run(&mut h, "zadd z gt 3 f"), int(1));
    assert_eq!(run(&mut h, "zadd z incr 2.5 a"), dbl(3.5));
    assert_eq!(run(&mut h, "zadd z incr gt -1 a"), nil());
    assert_eq!(run(&mut h, "zadd z nx incr 1 a"), nil());
    assert_eq!(run(&mut h, "zadd z xx incr 1 nosuch"), nil());
    assert_eq!(run(&mut h, "zadd nokey xx 1 a"), int(0));
    assert_eq!(run(&mut h, "zadd nokey xx incr 1 a"), nil());
    assert_eq!(run(&mut h, "exists nokey"), int(0));
    // -0 is stored as 0, but INCR answers with the value it computed.
    assert_eq!(run(&mut h, "zadd n incr -0 m"), dbl(-0.0));
    match run(&mut h, "zscore n m") {
        Reply::Double(v) => assert_eq!(v.to_bits(), 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(run(&mut h, "zadd n INF m"), int(0));
    assert_eq!(run(&mut h, "zscore n m"), dbl(f64::INFINITY));
    assert_eq!(
        run(&mut h, "zadd n incr -inf m"),
        err("ERR resulting score is not a number (NaN)")
    );
    check_size(&mut h, "z");
    check_size(&mut h, "n");
}

#[test]
fn zadd_errors() {
    let mut h = Harness::new();
    for (line, want) in [
        (
            "zadd z 1",
            "ERR wrong number of arguments for 'zadd' command",
        ),
        ("zadd z 1 a 2", errors::SYNTAX),
        ("zadd z nx 1", errors::SYNTAX),
        (
            "zadd z nx xx 1 a",
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            "zadd z gt lt 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            "zadd z nx gt 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            "zadd z incr 1 a 2 b",
            "ERR INCR option supports a single increment-element pair",
        ),
        ("zadd z nan a", errors::NOT_FLOAT),
        ("zadd z 1e999 a", errors::NOT_FLOAT),
        ("zadd z 1 a x b", errors::NOT_FLOAT),
        ("zincrby z x a", errors::NOT_FLOAT),
    ] {
        assert_eq!(run(&mut h, line), err(want), "{line}");
    }
    assert_eq!(run(&mut h, "exists z"), int(0));
    h.run(&["set", "s", "v"]);
    assert_eq!(run(&mut h, "zadd s 1 a"), err(errors::WRONGTYPE));
    // Scores are checked before the type.
    assert_eq!(run(&mut h, "zadd s x a"), err(errors::NOT_FLOAT));
    for line in [
        "zincrby s 1 a",
        "zrem s a",
        "zscore s a",
        "zmscore s a",
        "zcard s",
        "zrank s a",
        "zcount s 0 1",
        "zlexcount s - +",
        "zrange s 0 1",
        "zrangebyscore s 0 1",
        "zrangebylex s - +",
        "zpopmin s",
        "zmpop 1 s min",
        "zrandmember s",
        "zscan s 0",
        "zremrangebyrank s 0 1",
        "zunion 1 s",
        "zrangestore d s 0 1",
    ] {
        assert_eq!(run(&mut h, line), err(errors::WRONGTYPE), "{line}");
    }
}

#[test]
fn zincrby_zrem_zscore_zmscore_zcard() {
    let mut h = Harness::new();
    assert_eq!(run(&mut h, "zincrby z 2 a"), dbl(2.0));
    assert_eq!(run(&mut h, "zincrby z 0.5 a"), dbl(2.5));
    assert_eq!(run(&mut h, "zincrby z -inf a"), dbl(f64::NEG_INFINITY));
    assert_eq!(
        run(&mut h, "zincrby z +inf a"),
        err("ERR resulting score is not a number (NaN)")
    );
    run(&mut h, "zadd z 1 b 2 c");
    assert_eq!(
        run(&mut h, "zmscore z a nosuch c"),
        arr(vec![dbl(f64::NEG_INFINITY), nil(), dbl(2.0)])
    );
    assert_eq!(run(&mut h, "zmscore nokey a b"), arr(vec![nil(), nil()]));
    assert_eq!(run(&mut h, "zcard z"), int(3));
    assert_eq!(run(&mut h, "zcard nokey"), int(0));
    assert_eq!(run(&mut h, "zrem z a a nosuch"), int(1));
    assert_eq!(run(&mut h, "zrem nokey a"), int(0));
    check_size(&mut h, "z");
    assert_eq!(run(&mut h, "zrem z b c"), int(2));
    assert_eq!(run(&mut h, "exists z"), int(0));
    assert_eq!(stored_elements(&h, "z"), 0);
}

#[test]
fn zrange_by_rank_score_and_lex() {
    let mut h = Harness::new();
    run(&mut h, "zadd z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(
        run(&mut h, "zrange z 0 -1"),
        members(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(run(&mut h, "zrange z -2 100"), members(&["d", "e"]));
    assert_eq!(run(&mut h, "zrange z 3 1"), members(&[]));
    assert_eq!(
        run(&mut h, "zrange z 1 2 withscores"),
        scored(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(run(&mut h, "zrange z 0 1 rev"), members(&["e", "d"]));
    assert_eq!(run(&mut h, "zrevrange z 1 3"), members(&["d", "c", "b"]));
    assert_eq!(run(&mut h, "zrange z (1 3 byscore"), members(&["b", "c"]));
    assert_eq!(
        run(&mut h, "zrange z 4 (2 byscore rev"),
        members(&["d", "c"])
    );
    assert_eq!(
        run(&mut h, "zrange z -inf +inf byscore limit 1 2"),
        members(&["b", "c"])
    );
    assert_eq!(
        run(&mut h, "zrange z -inf +inf byscore limit -1 2"),
        members(&[])
    );
    assert_eq!(
        run(&mut h, "zrange z -inf +inf byscore limit 5 2"),
        members(&[])
    );
    assert_eq!(
        run(&mut h, "zrange z -inf +inf byscore limit 3 -5"),
        members(&["d", "e"])
    );
    assert_eq!(
        run(&mut h, "zrangebyscore z 2 4 withscores limit 0 1"),
        scored(&[("b", 2.0)])
    );
    assert_eq!(
        run(&mut h, "zrevrangebyscore z +inf 4"),
        members(&["e", "d"])
    );
    assert_eq!(run(&mut h, "zrangebyscore z 3 3"), members(&["c"]));
    assert_eq!(run(&mut h, "zrangebyscore z (3 3"), members(&[]));
    assert_eq!(run(&mut h, "zrangebyscore z 5 1"), members(&[]));
    assert_eq!(run(&mut h, "zrange nokey 0 -1"), members(&[]));
    for (line, want) in [
        (
            "zrange z 0 1 limit 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            "zrange z a b bylex withscores",
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        (
            "zrange z 0 1 bylex",
            "ERR min or max not valid string range item",
        ),
        ("zrange z 0 1 byscore bylex", errors::SYNTAX),
        ("zrange z 0 1 limit 0", errors::SYNTAX),
        ("zrangebyscore z 0 1 rev", errors::SYNTAX),
        ("zrevrange z 0 1 rev", errors::SYNTAX),
        ("zrange z x 1", errors::NOT_INTEGER),
        ("zrangebyscore z a 1", "ERR min or max is not a float"),
        ("zrangebyscore z nan 1", "ERR min or max is not a float"),
        ("zrangebyscore z 0 1 limit x 1", errors::NOT_INTEGER),
        (
            "zrangebylex z a b",
            "ERR min or max not valid string range item",
        ),
        (
            "zrangebylex z - + withscores",
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
    ] {
        assert_eq!(run(&mut h, line), err(want), "{line}");
    }
}

#[test]
fn lex_ranges_with_equal_and_mixed_scores() {
    let mut h = Harness::new();
    run(&mut h, "zadd l 0 a 0 b 0 c 0 d 0 e 0 f");
    assert_eq!(
        run(&mut h, "zrangebylex l - +"),
        members(&["a", "b", "c", "d", "e", "f"])
    );
    assert_eq!(
        run(&mut h, "zrangebylex l [b (e"),
        members(&["b", "c", "d"])
    );
    assert_eq!(
        run(&mut h, "zrangebylex l (b [e limit 1 2"),
        members(&["d", "e"])
    );
    assert_eq!(
        run(&mut h, "zrevrangebylex l [e (b"),
        members(&["e", "d", "c"])
    );
    assert_eq!(
        run(&mut h, "zrange l (e - bylex rev"),
        members(&["d", "c", "b", "a"])
    );
    assert_eq!(run(&mut h, "zrangebylex l + -"), members(&[]));
    assert_eq!(run(&mut h, "zrangebylex l - -"), members(&[]));
    assert_eq!(run(&mut h, "zrangebylex l [c [c"), members(&["c"]));
    assert_eq!(run(&mut h, "zrangebylex l (c [c"), members(&[]));
    assert_eq!(run(&mut h, "zlexcount l [aa (d"), int(2));
    assert_eq!(run(&mut h, "zlexcount l - +"), int(6));
    assert_eq!(run(&mut h, "zlexcount nokey - +"), int(0));
    assert_eq!(
        run(&mut h, "zlexcount l x +"),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(run(&mut h, "zremrangebylex l [b (d"), int(2));
    assert_eq!(
        run(&mut h, "zrangebylex l - +"),
        members(&["a", "d", "e", "f"])
    );
    check_size(&mut h, "l");
    // Mixed scores: Redis's listpack walk (first member past min, up to
    // the first one past max).
    run(&mut h, "zadd m 1 c 2 a 3 d 4 b");
    assert_eq!(
        run(&mut h, "zrangebylex m [b +"),
        members(&["c", "a", "d", "b"])
    );
    assert_eq!(run(&mut h, "zrangebylex m - [c"), members(&["c", "a"]));
    assert_eq!(
        run(&mut h, "zrevrangebylex m [c -"),
        members(&["b", "d", "a", "c"])
    );
}

#[test]
fn ranks() {
    let mut h = Harness::new();
    run(&mut h, "zadd z 1 a 2 b 3 c");
    assert_eq!(run(&mut h, "zrank z a"), int(0));
    assert_eq!(run(&mut h, "zrank z c"), int(2));
    assert_eq!(run(&mut h, "zrevrank z a"), int(2));
    assert_eq!(run(&mut h, "zrank z nosuch"), nil());
    assert_eq!(run(&mut h, "zrank nokey a"), nil());
    // Ranks far from both ends, across the growing steps.
    let mut args = vec!["zadd".to_string(), "big".to_string()];
    for i in 0..1000 {
        args.push(i.to_string());
        args.push(format!("m{i:04}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(h.run(&argv), int(1000));
    for i in [
        0, 1, 63, 64, 65, 200, 499, 500, 501, 800, 935, 936, 998, 999,
    ] {
        assert_eq!(run(&mut h, &format!("zrank big m{i:04}")), int(i), "{i}");
        assert_eq!(
            run(&mut h, &format!("zrevrank big m{i:04}")),
            int(999 - i),
            "{i}"
        );
    }
    assert_eq!(
        run(&mut h, "zrange big 500 501"),
        members(&["m0500", "m0501"])
    );
    assert_eq!(
        run(&mut h, "zrange big 998 2000"),
        members(&["m0998", "m0999"])
    );
    assert_eq!(
        run(&mut h, "zrevrange big 0 1"),
        members(&["m0999", "m0998"])
    );
    assert_eq!(
        run(&mut h, "zrevrange big 998 999"),
        members(&["m0001", "m0000"])
    );
}

#[test]
fn counts_and_range_removals() {
    let mut h = Harness::new();
    run(&mut h, "zadd z -inf a 1 b 2 c 3 d +inf e");
    assert_eq!(run(&mut h, "zcount z -inf +inf"), int(5));
    assert_eq!(run(&mut h, "zcount z (-inf (+inf"), int(3));
    assert_eq!(run(&mut h, "zcount z (1 3"), int(2));
    assert_eq!(run(&mut h, "zcount nokey 0 1"), int(0));
    assert_eq!(
        run(&mut h, "zcount z x 1"),
        err("ERR min or max is not a float")
    );
    assert_eq!(run(&mut h, "zremrangebyscore z (1 2"), int(1));
    assert_eq!(
        run(&mut h, "zremrangebyscore z x 2"),
        err("ERR min or max is not a float")
    );
    assert_eq!(run(&mut h, "zremrangebyrank z 1 -2"), int(2));
    assert_eq!(run(&mut h, "zrange z 0 -1"), members(&["a", "e"]));
    assert_eq!(run(&mut h, "zremrangebyrank z 5 9"), int(0));
    assert_eq!(
        run(&mut h, "zremrangebyrank z x 9"),
        err(errors::NOT_INTEGER)
    );
    assert_eq!(run(&mut h, "zremrangebyrank nokey 0 1"), int(0));
    check_size(&mut h, "z");
    assert_eq!(run(&mut h, "zremrangebyrank z 0 -1"), int(2));
    assert_eq!(run(&mut h, "exists z"), int(0));
}

#[test]
fn pops() {
    let mut h = Harness::new();
    run(&mut h, "zadd z 1 a 2 b 3 c 4 d");
    assert_eq!(run(&mut h, "zpopmin z"), scored(&[("a", 1.0)]));
    assert_eq!(
        run(&mut h, "zpopmax z 2"),
        scored(&[("d", 4.0), ("c", 3.0)])
    );
    assert_eq!(run(&mut h, "zpopmin z 0"), arr(vec![]));
    assert_eq!(run(&mut h, "zpopmin nokey"), arr(vec![]));
    assert_eq!(
        run(&mut h, "zpopmin z -1"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        run(&mut h, "zpopmin z x"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(run(&mut h, "zpopmin z 1 2"), err(errors::SYNTAX));
    check_size(&mut h, "z");
    assert_eq!(run(&mut h, "zpopmax z 10"), scored(&[("b", 2.0)]));
    assert_eq!(run(&mut h, "exists z"), int(0));
    run(&mut h, "zadd y 1 a 2 b 3 c");
    let pair = |m: &str, s: f64| arr(vec![bulk(m), dbl(s)]);
    assert_eq!(
        run(&mut h, "zmpop 2 nokey y max count 2"),
        arr(vec![bulk("y"), arr(vec![pair("c", 3.0), pair("b", 2.0)])])
    );
    assert_eq!(
        run(&mut h, "zmpop 1 y min"),
        arr(vec![bulk("y"), arr(vec![pair("a", 1.0)])])
    );
    assert_eq!(run(&mut h, "zmpop 1 y min"), Reply::NilArray);
    for (line, want) in [
        ("zmpop 0 y min", "ERR numkeys should be greater than 0"),
        ("zmpop x y min", "ERR numkeys should be greater than 0"),
        ("zmpop 2 y min", errors::SYNTAX),
        ("zmpop 1 y mid", errors::SYNTAX),
        (
            "zmpop 1 y min count 0",
            "ERR count should be greater than 0",
        ),
        ("zmpop 1 y min count 1 count 1", errors::SYNTAX),
        ("zmpop 1 y min foo", errors::SYNTAX),
    ] {
        assert_eq!(run(&mut h, line), err(want), "{line}");
    }
}

#[test]
fn zrandmember() {
    let mut h = Harness::new();
    assert_eq!(run(&mut h, "zrandmember nokey"), nil());
    assert_eq!(run(&mut h, "zrandmember nokey 3"), arr(vec![]));
    run(&mut h, "zadd z 1 a 2 b 3 c");
    let all = ["a", "b", "c"];
    match run(&mut h, "zrandmember z") {
        Reply::Bulk(m) => assert!(all.iter().any(|a| a.as_bytes() == &m[..])),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        run(&mut h, "zrandmember z 5 withscores"),
        scored(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
    );
    assert_eq!(run(&mut h, "zrandmember z 0"), arr(vec![]));
    match run(&mut h, "zrandmember z 2") {
        Reply::Array(items) => {
            assert_eq!(items.len(), 2);
            assert_ne!(items[0], items[1]);
        }
        other => panic!("{other:?}"),
    }
    match run(&mut h, "zrandmember z -7 withscores") {
        Reply::Array(items) => assert_eq!(items.len(), 14),
        other => panic!("{other:?}"),
    }
    for (line, want) in [
        ("zrandmember z x", errors::NOT_INTEGER),
        ("zrandmember z 1 foo", errors::SYNTAX),
        ("zrandmember z 1 withscores x", errors::SYNTAX),
        ("zrandmember z 9223372036854775807 withscores", "ERR value is out of range"),
        (
            "zrandmember z -9223372036854775808",
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ),
    ] {
        assert_eq!(run(&mut h, line), err(want), "{line}");
    }
}

#[test]
fn zscan_small_and_large() {
    let mut h = Harness::new();
    run(&mut h, "zadd z 0.1 a 3 b 1e17 c 1e20 d");
    let small = arr(vec![
        bulk("0"),
        arr([
            "a",
            "0.10000000000000001",
            "b",
            "3",
            "c",
            "100000000000000000",
            "d",
            "1e+20",
        ]
        .iter()
        .map(|s| bulk(s))
        .collect()),
    ]);
    assert_eq!(run(&mut h, "zscan z 0"), small);
    assert_eq!(
        run(&mut h, "zscan z 0 match [ab] count 1"),
        arr(vec![
            bulk("0"),
            arr(vec![
                bulk("a"),
                bulk("0.10000000000000001"),
                bulk("b"),
                bulk("3")
            ])
        ])
    );
    assert_eq!(
        run(&mut h, "zscan nokey 0"),
        arr(vec![bulk("0"), arr(vec![])])
    );
    assert_eq!(run(&mut h, "zscan z x"), err("ERR invalid cursor"));
    assert_eq!(run(&mut h, "zscan z 0 count 0"), err(errors::SYNTAX));
    assert_eq!(run(&mut h, "zscan z 0 count x"), err(errors::NOT_INTEGER));
    assert_eq!(run(&mut h, "zscan z 0 foo"), err(errors::SYNTAX));
    // A large set comes in batches; every member exactly once or more.
    let mut args = vec!["zadd".to_string(), "big".to_string()];
    for i in 0..500 {
        args.push(i.to_string());
        args.push(format!("member:{i}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    h.run(&argv);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        calls += 1;
        let reply = h.run(&["zscan", "big", &cursor, "count", "50"]);
        let Reply::Array(parts) = reply else { panic!() };
        let (Reply::Bulk(c), Reply::Array(items)) = (&parts[0], &parts[1]) else {
            panic!()
        };
        for pair in items.chunks(2) {
            let Reply::Bulk(m) = &pair[0] else { panic!() };
            seen.insert(m.clone());
        }
        cursor = String::from_utf8(c.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
        assert!(calls < 1000);
    }
    assert_eq!(seen.len(), 500);
}

#[test]
fn set_operations() {
    let mut h = Harness::new();
    run(&mut h, "zadd {t}a 1 x 2 y 3 z");
    run(&mut h, "zadd {t}b 10 y 20 z 30 w");
    seed_set(&mut h, "{t}s", &["z", "q"]);
    assert_eq!(
        run(&mut h, "zunion 2 {t}a {t}b withscores"),
        scored(&[("x", 1.0), ("y", 12.0), ("z", 23.0), ("w", 30.0)])
    );
    assert_eq!(
        run(
            &mut h,
            "zunion 3 {t}a {t}b {t}s weights 1 0.5 -1 aggregate max withscores"
        ),
        scored(&[
            ("q", -1.0),
            ("x", 1.0),
            ("y", 5.0),
            ("z", 10.0),
            ("w", 15.0)
        ])
    );
    assert_eq!(
        run(&mut h, "zinter 2 {t}a {t}b aggregate min withscores"),
        scored(&[("y", 2.0), ("z", 3.0)])
    );
    assert_eq!(
        run(&mut h, "zinter 3 {t}a {t}b {t}s withscores"),
        scored(&[("z", 24.0)])
    );
    assert_eq!(run(&mut h, "zinter 2 {t}a nokey"), members(&[]));
    assert_eq!(
        run(&mut h, "zdiff 2 {t}a {t}s withscores"),
        scored(&[("x", 1.0), ("y", 2.0)])
    );
    assert_eq!(
        run(&mut h, "zdiff 2 {t}s {t}a withscores"),
        scored(&[("q", 1.0)])
    );
    assert_eq!(run(&mut h, "zintercard 2 {t}a {t}b"), int(2));
    assert_eq!(run(&mut h, "zintercard 2 {t}a {t}b limit 1"), int(1));
    assert_eq!(run(&mut h, "zintercard 2 {t}a {t}b limit 0"), int(2));
    // inf * 0 is NaN, counted as 0; inf + -inf sums to 0.
    run(&mut h, "zadd {t}i inf m");
    run(&mut h, "zadd {t}j -inf m");
    assert_eq!(
        run(&mut h, "zunion 2 {t}i {t}j withscores"),
        scored(&[("m", 0.0)])
    );
    assert_eq!(
        run(&mut h, "zunion 1 {t}i weights 0 withscores"),
        scored(&[("m", 0.0)])
    );
    // Stores replace the destination, whatever it held.
    h.run(&["set", "{t}d", "v"]);
    h.run(&["expire", "{t}d", "100"]);
    assert_eq!(run(&mut h, "zunionstore {t}d 2 {t}a {t}b"), int(4));
    assert_eq!(run(&mut h, "ttl {t}d"), int(-1));
    assert_eq!(
        run(&mut h, "zrange {t}d 0 -1 withscores"),
        scored(&[("x", 1.0), ("y", 12.0), ("z", 23.0), ("w", 30.0)])
    );
    check_size(&mut h, "{t}d");
    assert_eq!(
        run(&mut h, "zinterstore {t}d 2 {t}d {t}a weights 1 -1"),
        int(3)
    );
    assert_eq!(
        run(&mut h, "zrange {t}d 0 -1 withscores"),
        scored(&[("x", 0.0), ("y", 10.0), ("z", 20.0)])
    );
    check_size(&mut h, "{t}d");
    assert_eq!(run(&mut h, "zdiffstore {t}d 2 {t}a {t}d"), int(0));
    assert_eq!(run(&mut h, "exists {t}d"), int(0));
    assert_eq!(stored_elements(&h, "{t}d"), 0);
    for (line, want) in [
        (
            "zunionstore {t}d 0 {t}a",
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            "zunion 0 {t}a",
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            "zintercard 0 {t}a",
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        ("zunion x {t}a", errors::NOT_INTEGER),
        ("zunion 3 {t}a", errors::SYNTAX),
        ("zinter 1 {t}a weights", errors::SYNTAX),
        ("zinter 1 {t}a weights x", "ERR weight value is not a float"),
        ("zinter 1 {t}a aggregate foo", errors::SYNTAX),
        ("zinterstore {t}d 1 {t}a withscores", errors::SYNTAX),
        ("zdiff 1 {t}a weights 1", errors::SYNTAX),
        ("zdiffstore {t}d 1 {t}a aggregate sum", errors::SYNTAX),
        ("zintercard 1 {t}a limit -1", "ERR LIMIT can't be negative"),
        ("zintercard 1 {t}a withscores", errors::SYNTAX),
    ] {
        assert_eq!(run(&mut h, line), err(want), "{line}");
    }
}

#[test]
fn zrangestore() {
    let mut h = Harness::new();
    run(&mut h, "zadd {r}src 1 a 2 b 3 c 4 d");
    assert_eq!(run(&mut h, "zrangestore {r}dst {r}src 1 2"), int(2));
    assert_eq!(
        run(&mut h, "zrange {r}dst 0 -1 withscores"),
        scored(&[("b", 2.0), ("c", 3.0)])
    );
    assert_eq!(
        run(
            &mut h,
            "zrangestore {r}dst {r}src 4 (1 byscore rev limit 0 2"
        ),
        int(2)
    );
    assert_eq!(run(&mut h, "zrange {r}dst 0 -1"), members(&["c", "d"]));
    check_size(&mut h, "{r}dst");
    // BYLEX on mixed scores walks the set as Redis's listpack code does.
    assert_eq!(run(&mut h, "zrangestore {r}dst {r}src [b [c bylex"), int(2));
    assert_eq!(run(&mut h, "zrangestore {r}dst {r}nokey 0 -1"), int(0));
    assert_eq!(run(&mut h, "exists {r}dst"), int(0));
    assert_eq!(
        run(&mut h, "zrangestore {r}dst {r}src 0 -1 withscores"),
        err(errors::SYNTAX)
    );
    // Storing a set over itself.
    assert_eq!(run(&mut h, "zrangestore {r}src {r}src 0 1"), int(2));
    assert_eq!(run(&mut h, "zrange {r}src 0 -1"), members(&["a", "b"]));
    check_size(&mut h, "{r}src");
}

#[test]
fn expired_zsets_are_gone() {
    let mut h = Harness::new();
    run(&mut h, "zadd z 1 a 2 b");
    run(&mut h, "pexpire z 10");
    h.now += 100;
    assert_eq!(run(&mut h, "zcard z"), int(0));
    assert_eq!(run(&mut h, "zadd z 5 c"), int(1));
    assert_eq!(run(&mut h, "zrange z 0 -1"), members(&["c"]));
    check_size(&mut h, "z");
}

#[test]
fn header_size_stays_exact() {
    let mut h = Harness::new();
    let mut x: u64 = 42;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..400 {
        let m = format!("m{}", next() % 40);
        let s = (next() % 9) as i64 - 4;
        let line = match next() % 8 {
            0 | 1 => format!("zadd z {s} {m}"),
            2 => format!("zadd z xx ch gt {s} {m}"),
            3 => format!("zincrby z {s} {m}"),
            4 => format!("zrem z {m} m1"),
            5 => "zpopmin z 2".to_string(),
            6 => format!("zremrangebyscore z {s} {}", s + 1),
            _ => format!("zremrangebyrank z {} {}", s, s + 2),
        };
        run(&mut h, &line);
        check_size(&mut h, "z");
    }
}

#[test]
fn large_zset_commands_touch_only_what_they_need() {
    const N: usize = 100_000;
    let mut h = Harness::new();
    let mut args = vec!["zadd".to_string(), "big".to_string()];
    for i in 0..N {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(h.run(&argv), int(N as i64));
    assert_eq!(h.header("big").map(|hd| hd.size), Some(N as u64));

    let measure = |h: &Harness, line: &str| {
        let args: Vec<&str> = line.split(' ').collect();
        h.counted(&args)
    };
    // A new member: its two records and the metadata.
    let (exec, gets, visited) = measure(&h, "zadd big 0.5 new");
    assert_eq!(exec.reply, int(1));
    assert_eq!(exec.mutation.ops.len(), 3);
    assert!(gets <= 4 && visited == 0, "{gets} gets, {visited} visited");
    h.apply(&exec.mutation);
    // A new score: one record out, two written, no metadata.
    let (exec, _, visited) = measure(&h, "zadd big 7.5 m50000");
    assert_eq!(exec.reply, int(0));
    assert_eq!(exec.mutation.ops.len(), 3);
    assert_eq!(visited, 0);
    h.apply(&exec.mutation);
    // Removal: two records and the metadata.
    let (exec, _, visited) = measure(&h, "zrem big m70000");
    assert_eq!(exec.reply, int(1));
    assert_eq!(exec.mutation.ops.len(), 3);
    assert_eq!(visited, 0);
    h.apply(&exec.mutation);
    let (exec, gets, visited) = measure(&h, "zscore big m99999");
    assert_eq!(exec.reply, dbl(99999.0));
    assert!(exec.mutation.is_empty());
    assert!(gets <= 2 && visited == 0);
    // Score ranges and pops read only what they return (plus one).
    let (exec, _, visited) = measure(&h, "zrangebyscore big 1000 (1010");
    assert_eq!(
        exec.reply,
        members(
            &(1000..1010)
                .map(|i| format!("m{i}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        )
    );
    assert!(visited <= 11, "{visited}");
    let (exec, _, visited) = measure(&h, "zpopmax big 2");
    assert_eq!(exec.mutation.ops.len(), 5);
    assert!(visited <= 2, "{visited}");
    // Ranks near either end cost little.
    let (exec, _, visited) = measure(&h, "zrevrank big m99990");
    assert_eq!(exec.reply, int(9));
    assert!(visited < 200, "{visited}");
    let (exec, _, visited) = measure(&h, "zrange big -3 -1");
    assert_eq!(exec.reply, members(&["m99997", "m99998", "m99999"]));
    assert!(visited <= 3, "{visited}");
    assert_eq!(h.header("big").map(|hd| hd.size), Some(N as u64));
}
