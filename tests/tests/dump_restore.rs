//! DUMP / RESTORE beside a real redis-server 7 (issue 19): every type, in
//! the sizes where Redis picks another encoding (int, raw and LZF strings;
//! HyperLogLogs sparse and dense; intsets and hash-table sets; listpack and
//! hash-table hashes and sorted sets; one- and many-node lists; streams of
//! one and many nodes with deleted entries, groups, consumers and pending
//! entries), is dumped by Redis, restored into a onebox of 8 partitions and
//! read back equal; then dumped by Petrel, restored into Redis and read back
//! equal. Small values dump to Redis's very bytes. Then TTL, ABSTTL,
//! REPLACE, BUSYKEY, IDLETIME and FREQ as Redis answers them.

mod support;

use redis::{Connection, Value};
use support::Beside;

const PARTITIONS: u32 = 8;

fn call(con: &mut Connection, args: &[&[u8]]) -> Value {
    let mut c = redis::cmd(&String::from_utf8_lossy(args[0]));
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| {
        panic!(
            "{:?}: {e}",
            args.iter()
                .map(|a| String::from_utf8_lossy(&a[..a.len().min(60)]).into_owned())
                .collect::<Vec<_>>()
        )
    })
}

/// A command given as words.
fn words(con: &mut Connection, line: &[&str]) -> Value {
    let args: Vec<&[u8]> = line.iter().map(|w| w.as_bytes()).collect();
    call(con, &args)
}

/// Runs `args` and returns its error text (it must fail).
fn error(con: &mut Connection, args: &[&[u8]]) -> String {
    let mut c = redis::cmd(&String::from_utf8_lossy(args[0]));
    for a in &args[1..] {
        c.arg(*a);
    }
    match c.query::<Value>(con) {
        Err(e) => format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

fn dump(con: &mut Connection, key: &str) -> Vec<u8> {
    match words(con, &["DUMP", key]) {
        Value::BulkString(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(con: &mut Connection, key: &str, payload: &[u8]) {
    assert_eq!(
        call(con, &[b"RESTORE", key.as_bytes(), b"0", payload]),
        Value::Okay,
        "RESTORE {key}"
    );
}

/// Sorts an array reply (sets), or its pairs (hashes).
fn sorted(v: Value, pairs: bool) -> Value {
    let Value::Array(items) = v else { return v };
    let mut groups: Vec<Vec<Value>> = items
        .chunks(if pairs { 2 } else { 1 })
        .map(|c| c.to_vec())
        .collect();
    groups.sort_by_key(|g| format!("{g:?}"));
    Value::Array(groups.into_iter().flatten().collect())
}

/// Drops the time-dependent fields (`idle`, `inactive`, `seen-time`) of
/// XINFO replies and XPENDING's idle times.
fn timeless(v: Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut out = Vec::new();
            let mut skip = false;
            for item in items {
                if skip {
                    skip = false;
                    continue;
                }
                if matches!(&item, Value::BulkString(b) if b == b"idle" || b == b"inactive") {
                    skip = true;
                    continue;
                }
                out.push(timeless(item));
            }
            Value::Array(out)
        }
        Value::Map(pairs) => Value::Map(
            pairs
                .into_iter()
                .filter(|(k, _)| !matches!(k, Value::BulkString(b) if b == b"idle"))
                .map(|(k, v)| (k, timeless(v)))
                .collect(),
        ),
        other => other,
    }
}

/// XPENDING's entries without their idle times (id, consumer, deliveries).
fn without_idle(v: Value) -> Value {
    let Value::Array(entries) = v else { return v };
    Value::Array(
        entries
            .into_iter()
            .map(|e| match e {
                Value::Array(mut f) if f.len() == 4 => {
                    f.remove(2);
                    Value::Array(f)
                }
                other => other,
            })
            .collect(),
    )
}

/// What a key holds, read the same way from either server.
fn contents(con: &mut Connection, key: &str) -> Vec<Value> {
    let Value::SimpleString(kind) = words(con, &["TYPE", key]) else {
        panic!("TYPE {key}");
    };
    let mut out = vec![Value::SimpleString(kind.clone())];
    match kind.as_str() {
        "string" => out.push(words(con, &["GET", key])),
        "list" => out.push(words(con, &["LRANGE", key, "0", "-1"])),
        "set" => out.push(sorted(words(con, &["SMEMBERS", key]), false)),
        "hash" => out.push(sorted(words(con, &["HGETALL", key]), true)),
        "zset" => out.push(words(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"])),
        "stream" => {
            out.push(words(con, &["XRANGE", key, "-", "+"]));
            out.push(words(con, &["XLEN", key]));
            let Value::Array(groups) = words(con, &["XINFO", "GROUPS", key]) else {
                panic!("XINFO GROUPS {key}");
            };
            for g in groups {
                let Value::Array(fields) = &g else {
                    panic!("group")
                };
                let Value::BulkString(name) = &fields[1] else {
                    panic!("group name")
                };
                let name = String::from_utf8_lossy(name).into_owned();
                out.push(g.clone());
                out.push(without_idle(words(
                    con,
                    &["XPENDING", key, &name, "-", "+", "10000"],
                )));
                out.push(timeless(words(con, &["XINFO", "CONSUMERS", key, &name])));
            }
        }
        other => panic!("type {other}"),
    }
    out
}

/// Asserts two readings are equal, naming the first part that differs.
fn same(got: &[Value], want: &[Value], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: parts");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g == w, "{what}: part {i} differs:\n got {g:?}\nwant {w:?}");
    }
}

/// How each case is built at Redis: (key, commands, whether Petrel's DUMP
/// is Redis's very bytes).
fn cases() -> Vec<(String, Vec<Vec<String>>, bool)> {
    let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let many = |cmd: &str, key: &str, n: usize, item: &dyn Fn(usize) -> String| {
        let mut c = w(&format!("{cmd} {key}"));
        c.extend((0..n).map(item));
        c
    };
    let mut out: Vec<(String, Vec<Vec<String>>, bool)> = vec![
        ("d:str".into(), vec![w("SET d:str hello")], true),
        ("d:int".into(), vec![w("SET d:int -12345")], true),
        (
            "d:int64".into(),
            vec![w("SET d:int64 9223372036854775807")],
            true,
        ),
        (
            "d:lzf".into(),
            vec![vec!["SET".into(), "d:lzf".into(), "abc".repeat(40_000)]],
            true,
        ),
        (
            "d:bin".into(),
            vec![vec!["SET".into(), "d:bin".into(), "\u{0}\u{ff}\r\n".into()]],
            true,
        ),
        (
            "d:list".into(),
            vec![w("RPUSH d:list a 1 300 -70000 hello")],
            true,
        ),
        (
            "d:intset".into(),
            vec![w("SADD d:intset 5 -3 70000 9000000000")],
            true,
        ),
        (
            "d:hash".into(),
            vec![w("HSET d:hash a 1 b hello c 2.5")],
            true,
        ),
        (
            "d:zset".into(),
            vec![w("ZADD d:zset 1 a 2.5 b -3 c 1e300 d")],
            true,
        ),
        (
            "d:stream".into(),
            vec![w("XADD d:stream 1-1 f v"), w("XADD d:stream 1-2 f w g 7")],
            true,
        ),
    ];
    out.push((
        "d:biglist".into(),
        vec![many("RPUSH", "d:biglist", 20_000, &|i| format!("item-{i}"))],
        false,
    ));
    out.push((
        "d:hugeitem".into(),
        vec![vec![
            "RPUSH".into(),
            "d:hugeitem".into(),
            "x".into(),
            "y".repeat(100_000),
            "z".into(),
        ]],
        false,
    ));
    out.push((
        "d:bigintset".into(),
        vec![many("SADD", "d:bigintset", 600, &|i| i.to_string())],
        false,
    ));
    out.push((
        "d:strset".into(),
        vec![many("SADD", "d:strset", 2000, &|i| format!("m{i}"))],
        false,
    ));
    out.push((
        "d:smallstrset".into(),
        vec![w("SADD d:smallstrset x y")],
        false,
    ));
    out.push((
        "d:bighash".into(),
        vec![many("HSET", "d:bighash", 1000, &|i| {
            if i % 2 == 0 {
                format!("f{i}")
            } else {
                format!("v{i}")
            }
        })],
        false,
    ));
    out.push((
        "d:longvalue".into(),
        vec![vec![
            "HSET".into(),
            "d:longvalue".into(),
            "f".into(),
            "v".repeat(65),
        ]],
        false,
    ));
    out.push((
        "d:bigzset".into(),
        vec![many("ZADD", "d:bigzset", 600, &|i| {
            if i % 2 == 0 {
                format!("{}", i as f64 / 7.0)
            } else {
                format!("m{i}")
            }
        })],
        false,
    ));
    out.push((
        "d:longmember".into(),
        vec![vec![
            "ZADD".into(),
            "d:longmember".into(),
            "1".into(),
            "m".repeat(65),
        ]],
        false,
    ));
    out.push((
        "d:hllsparse".into(),
        vec![many("PFADD", "d:hllsparse", 200, &|i| format!("e{i}"))],
        true,
    ));
    out.push((
        "d:hlldense".into(),
        vec![many("PFADD", "d:hlldense", 20_000, &|i| format!("e{i}"))],
        false,
    ));
    // A stream of many nodes, with deletions, two groups, consumers and
    // pending entries, some acknowledged.
    let mut stream = Vec::new();
    for i in 1..=700 {
        let fields = if i % 3 == 0 {
            format!("a {i} b x{i}")
        } else {
            format!("a {i}")
        };
        stream.push(w(&format!("XADD d:bigstream {i}-1 {fields}")));
    }
    for i in (5..700).step_by(7) {
        stream.push(w(&format!("XDEL d:bigstream {i}-1")));
    }
    stream.push(w("XGROUP CREATE d:bigstream g1 0"));
    stream.push(w("XGROUP CREATE d:bigstream g2 $"));
    stream.push(w(
        "XREADGROUP GROUP g1 alice COUNT 50 STREAMS d:bigstream >",
    ));
    stream.push(w("XREADGROUP GROUP g1 bob COUNT 30 STREAMS d:bigstream >"));
    stream.push(w("XACK d:bigstream g1 1-1 2-1 3-1 60-1"));
    stream.push(w("XGROUP CREATECONSUMER d:bigstream g1 carol"));
    stream.push(w("XADD d:bigstream 800-1 a last"));
    stream.push(w("XREADGROUP GROUP g2 dave STREAMS d:bigstream >"));
    out.push(("d:bigstream".into(), stream, false));
    out.push((
        "d:emptystream".into(),
        vec![
            w("XADD d:emptystream 5-5 f v"),
            w("XDEL d:emptystream 5-5"),
            w("XGROUP CREATE d:emptystream g $"),
        ],
        false,
    ));
    out
}

#[test]
fn every_type_travels_both_ways() {
    let mut side = Beside::start(PARTITIONS);
    let (redis, petrel) = (&mut side.redis, &mut side.petrel);

    for (key, build, same_bytes) in cases() {
        for line in &build {
            let args: Vec<&[u8]> = line.iter().map(|w| w.as_bytes()).collect();
            call(&mut *redis, &args);
        }
        let want = contents(&mut *redis, &key);
        // Redis to Petrel.
        let payload = dump(&mut *redis, &key);
        restore(&mut *petrel, &key, &payload);
        same(
            &contents(&mut *petrel, &key),
            &want,
            &format!("{key} restored in Petrel"),
        );
        // Petrel to Redis, into another key there.
        let back = dump(&mut *petrel, &key);
        if same_bytes {
            assert!(back == payload, "{key}: Petrel's DUMP is not Redis's bytes");
        }
        let back_key = format!("{key}:back");
        restore(&mut *redis, &back_key, &back);
        let mut again = contents(&mut *redis, &back_key);
        assert_eq!(again.len(), want.len(), "{key}");
        // XRANGE and friends name no key; the values compare as they are.
        again[0] = want[0].clone();
        same(&again, &want, &format!("{key} back in Redis"));
        // And the types keep working on both sides.
        eprintln!(
            "{key}: {} bytes from Redis, {} from Petrel",
            payload.len(),
            back.len()
        );
    }
    // A stream restored from Redis goes on: new entries, reads, acks.
    for con in [&mut *redis, &mut *petrel] {
        words(con, &["XADD", "d:bigstream", "900-1", "a", "more"]);
        words(
            con,
            &[
                "XREADGROUP",
                "GROUP",
                "g2",
                "erin",
                "STREAMS",
                "d:bigstream",
                ">",
            ],
        );
        words(con, &["XACK", "d:bigstream", "g1", "4-1"]);
        words(con, &["XTRIM", "d:bigstream", "MAXLEN", "~", "300"]);
    }
    assert_eq!(
        contents(&mut *petrel, "d:bigstream"),
        contents(&mut *redis, "d:bigstream")
    );
    assert_eq!(
        words(&mut *petrel, &["XINFO", "STREAM", "d:bigstream"]),
        words(&mut *redis, &["XINFO", "STREAM", "d:bigstream"]),
        "node shapes kept"
    );
    for con in [&mut *redis, &mut *petrel] {
        words(con, &["PFADD", "d:hlldense", "new1", "new2"]);
    }
    assert_eq!(
        words(&mut *petrel, &["GET", "d:hlldense"]),
        words(&mut *redis, &["GET", "d:hlldense"])
    );

    options_as_redis(&mut *redis, &mut *petrel);
}

/// TTL, ABSTTL, REPLACE, BUSYKEY, IDLETIME, FREQ and the errors, alike.
fn options_as_redis(redis: &mut Connection, petrel: &mut Connection) {
    words(redis, &["SET", "o:src", "v"]);
    let p = dump(redis, "o:src");
    let future = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 3_600_000)
        .to_string();
    for con in [&mut *redis, &mut *petrel] {
        let r = |con: &mut Connection, key: &str, ttl: &str, opts: &[&str]| {
            let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), &p];
            args.extend(opts.iter().map(|o| o.as_bytes()));
            call(con, &args)
        };
        assert_eq!(r(con, "o:ttl", "100000", &[]), Value::Okay);
        let Value::Int(pttl) = words(con, &["PTTL", "o:ttl"]) else {
            panic!("PTTL")
        };
        assert!((95_000..=100_000).contains(&pttl), "{pttl}");
        assert_eq!(r(con, "o:abs", &future, &["ABSTTL"]), Value::Okay);
        let Value::Int(ttl) = words(con, &["TTL", "o:abs"]) else {
            panic!("TTL")
        };
        assert!((3590..=3600).contains(&ttl), "{ttl}");
        assert_eq!(r(con, "o:abs", "1", &["ABSTTL", "REPLACE"]), Value::Okay);
        assert_eq!(words(con, &["EXISTS", "o:abs"]), Value::Int(0));
        assert_eq!(r(con, "o:idle", "0", &["IDLETIME", "1000"]), Value::Okay);
        assert_eq!(r(con, "o:freq", "0", &["FREQ", "10"]), Value::Okay);
        assert_eq!(
            words(con, &["GET", "o:freq"]),
            Value::BulkString(b"v".to_vec())
        );
        assert_eq!(r(con, "o:ttl", "0", &["REPLACE"]), Value::Okay);
        assert_eq!(words(con, &["PTTL", "o:ttl"]), Value::Int(-1));
    }
    let both = |args: &[&[u8]], redis: &mut Connection, petrel: &mut Connection| {
        let want = error(redis, args);
        assert_eq!(
            error(petrel, args),
            want,
            "{:?}",
            String::from_utf8_lossy(args[0])
        );
    };
    let mut bad_crc = p.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"RESTORE", b"o:ttl", b"0", &p],
        vec![b"RESTORE", b"o:new", b"-5", &p],
        vec![b"RESTORE", b"o:new", b"0", &bad_crc],
        vec![b"RESTORE", b"o:new", b"0", &p, b"FREQ", b"1000"],
        vec![b"RESTORE", b"o:new", b"0", &p, b"IDLETIME", b"-1"],
        vec![
            b"RESTORE",
            b"o:new",
            b"0",
            &p,
            b"IDLETIME",
            b"1",
            b"FREQ",
            b"1",
        ],
        vec![b"OBJECT", b"FREQ", b"o:ttl"],
    ];
    for args in &cases {
        both(args, redis, petrel);
    }
}
