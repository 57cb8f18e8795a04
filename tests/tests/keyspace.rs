//! Keyspace commands across partitions: a SCAN walk returns every key, with
//! MATCH and TYPE; KEYS and DBSIZE agree with it; a walk goes on through any
//! proxy (the cursor carries its position); and expired keys leave the
//! storage on their own (the servers' background sweep), not only when read.

mod support;

use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{Onebox, OneboxOpts};

/// A whole SCAN walk with the given options; keys as a set, and how many calls it took.
fn walk(con: &mut redis::Connection, options: &[&str]) -> (BTreeSet<String>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = BTreeSet::new();
    let mut calls = 0;
    loop {
        let (next, page): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg(options)
            .query(con)
            .expect("SCAN");
        calls += 1;
        keys.extend(page);
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
        assert!(calls < 10_000, "the walk never ends");
    }
}

/// Records in the `default` table, summed over partitions (primary's count).
fn stored_records(ob: &Onebox) -> u64 {
    let out = ob.cli(&["--json", "verify", "default"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("verify --json");
    v["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["replicas"][0]["records"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn scan_walks_every_partition_and_expired_keys_are_swept() {
    let ob = Onebox::start();
    let mut con = ob.redis_client().get_connection().expect("connect");
    let mut all = BTreeSet::new();
    for i in 0..300 {
        let key = format!("s:{i}");
        redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query::<()>(&mut con)
            .expect("SET");
        all.insert(key);
    }
    for i in 0..20 {
        let key = format!("h:{i}");
        redis::cmd("HSET")
            .arg(&key)
            .arg("f")
            .arg("v")
            .query::<()>(&mut con)
            .expect("HSET");
        all.insert(key);
    }
    let (seen, calls) = walk(&mut con, &["COUNT", "17"]);
    assert_eq!(seen, all, "SCAN returns every key");
    assert!(calls > 10, "COUNT 17 pages the walk ({calls} calls)");
    let (hashes, _) = walk(&mut con, &["TYPE", "hash", "COUNT", "50"]);
    assert_eq!(hashes.len(), 20);
    let (matched, _) = walk(&mut con, &["MATCH", "s:1?", "COUNT", "1000"]);
    assert_eq!(matched.len(), 10);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).expect("KEYS");
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), all);

    // Keys with a short TTL disappear from storage without being read. The
    // TTL outlives writing and counting them (a slow machine takes over a
    // second), so the sweep, which runs once a second, cannot take any early.
    let before = stored_records(&ob);
    for i in 0..200 {
        redis::cmd("SET")
            .arg(format!("e:{i}"))
            .arg("v")
            .arg("PX")
            .arg(3000)
            .query::<()>(&mut con)
            .expect("SET PX");
    }
    redis::cmd("HSET")
        .arg("eh")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query::<()>(&mut con)
        .expect("HSET");
    redis::cmd("PEXPIRE")
        .arg("eh")
        .arg(3000)
        .query::<()>(&mut con)
        .expect("PEXPIRE");
    assert!(stored_records(&ob) >= before + 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = stored_records(&ob);
        if now == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} expired records still stored",
            now - before
        );
        sleep(Duration::from_millis(300));
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(size, all.len() as i64);
}

/// A walk whose pages alternate between two proxies, while other keys come
/// and go: every key present throughout is returned, the walk ends, and
/// cursors stay below 2^53.
#[test]
fn a_scan_goes_on_through_another_proxy_while_keys_come_and_go() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut cons: Vec<redis::Connection> = ports
        .iter()
        .map(|port| {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .expect("client")
                .get_connection()
                .expect("connect")
        })
        .collect();
    let mut steady = BTreeSet::new();
    for i in 0..400 {
        let key = format!("steady:{i}");
        redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query::<()>(&mut cons[0])
            .expect("SET");
        steady.insert(key);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut calls = 0usize;
    loop {
        let con = &mut cons[calls % 2];
        let (next, page): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(9)
            .query(con)
            .expect("SCAN through either proxy");
        // Keys that come and go during the walk may or may not be seen.
        redis::cmd("SET")
            .arg(format!("churn:{calls}"))
            .arg("v")
            .query::<()>(con)
            .expect("SET");
        if calls >= 2 {
            redis::cmd("DEL")
                .arg(format!("churn:{}", calls - 2))
                .query::<()>(con)
                .expect("DEL");
        }
        calls += 1;
        seen.extend(page);
        let n: u64 = next.parse().expect("a cursor is a number");
        assert!(n < 1 << 53, "cursor {n} loses precision as a double");
        if n == 0 {
            break;
        }
        cursor = next;
        assert!(calls < 10_000, "the walk never ends");
    }
    let missing: Vec<&String> = steady.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "keys present throughout but not returned: {missing:?}"
    );
    assert!(calls > 20, "COUNT 9 pages the walk ({calls} calls)");
    // A number no walk made is a finished walk, as any number is a cursor to Redis.
    let (next, page): (String, Vec<String>) = redis::cmd("SCAN")
        .arg("18446744073709551615")
        .query(&mut cons[1])
        .expect("SCAN");
    assert_eq!((next.as_str(), page.len()), ("0", 0));
    let err = redis::cmd("SCAN")
        .arg("12x")
        .query::<(String, Vec<String>)>(&mut cons[1])
        .expect_err("not a cursor");
    assert!(err.to_string().contains("invalid cursor"), "{err}");
}
