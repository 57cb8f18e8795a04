//! Online partition split on real processes (issue 18): `petrel split`
//! doubles a table's partitions while writers run on every partition.
//!
//! - every acknowledged write is read back afterwards, and keys written
//!   before the split (strings and every collection type) are unchanged;
//! - no partition stops taking writes for longer than a failover;
//! - `petrel verify` finds every replica of all 16 partitions identical,
//!   and DBSIZE counts each key once;
//! - a SCAN started before the split ends after it, with every key that
//!   existed throughout;
//! - MGET and MSET across partitions planned before the split still work;
//! - a server down through the split catches up when it is back;
//! - after a server restarts, the partitions it built are read from disk;
//! - a split pending while every replica restarts still completes.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use petrel_common::hash::partition_of;
use support::admin::wait_for;
use support::cluster::{Cluster, ClusterOpts};
use support::load::{check_histories, WriteLoad};

const PARTITIONS: u32 = 8;
const REPLICAS: u32 = 3;
/// A split (and the failover of the server killed before it) may pause a
/// partition at most as long as a failover may (replication.rs's budget).
const FAILOVER_BUDGET: Duration = Duration::from_secs(5);
/// Keys written before the split, plain strings.
const SEEDED: usize = 3000;

/// `count` keys of partition `p` of the table before the split.
fn keys_of_partition(p: u32, count: usize) -> Vec<String> {
    (0u64..)
        .map(|n| format!("sp:{n}"))
        .filter(|k| partition_of(k.as_bytes(), PARTITIONS) == p)
        .take(count)
        .collect()
}

/// One key of each type, in different partitions, and what reads them.
const COLLECTIONS: [(&str, &[&str], &str); 5] = [
    (
        "c:hash",
        &["HSET", "c:hash", "f1", "v1", "f2", "v2"],
        "HGETALL",
    ),
    ("c:list", &["RPUSH", "c:list", "a", "b", "c"], "LRANGE"),
    ("c:set", &["SADD", "c:set", "x", "y", "z"], "SMEMBERS"),
    (
        "c:zset",
        &["ZADD", "c:zset", "1", "one", "2", "two"],
        "ZRANGE",
    ),
    ("c:stream", &["XADD", "c:stream", "1-1", "f", "v"], "XRANGE"),
];

fn read_collection(con: &mut redis::Connection, key: &str, read: &str) -> redis::Value {
    let mut cmd = redis::cmd(read);
    cmd.arg(key);
    match read {
        "LRANGE" | "ZRANGE" => {
            cmd.arg(0).arg(-1);
        }
        "XRANGE" => {
            cmd.arg("-").arg("+");
        }
        _ => {}
    }
    let mut value: redis::Value = cmd.query(con).expect(read);
    if let redis::Value::Array(items) = &mut value {
        if read == "SMEMBERS" {
            items.sort_by_key(|v| format!("{v:?}"));
        }
    }
    value
}

/// Every key a full SCAN walk returns, starting from `cursor`.
fn scan_from(
    con: &mut redis::Connection,
    mut cursor: u64,
    pages: Option<usize>,
) -> (u64, BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    let mut n = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(con)
            .expect("SCAN");
        seen.extend(keys);
        cursor = next;
        n += 1;
        if cursor == 0 || pages.is_some_and(|p| n >= p) {
            return (cursor, seen);
        }
    }
}

#[test]
fn a_table_splits_8_to_16_under_writes_and_loses_nothing() {
    let mut c = Cluster::start(ClusterOpts {
        partitions: PARTITIONS,
        replicas: REPLICAS,
        ..ClusterOpts::default()
    });
    let client = c.redis_client();
    let mut con = client.get_connection().expect("connect");

    // Data from before the split.
    let mut pipe = redis::pipe();
    for i in 0..SEEDED {
        pipe.cmd("SET").arg(format!("seed:{i}")).arg(i).ignore();
    }
    let () = pipe.query(&mut con).expect("seeding");
    let mut before = Vec::new();
    for (key, write, read) in COLLECTIONS {
        let _: redis::Value = redis::cmd(write[0])
            .arg(&write[1..])
            .query(&mut con)
            .expect(write[0]);
        before.push(read_collection(&mut con, key, read));
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let per_partition = (0..PARTITIONS).map(|p| keys_of_partition(p, 8)).collect();
    let writers = WriteLoad::start_on_keys(&rt, &client, "sp", per_partition);
    wait_for(Duration::from_secs(30), "the first writes", || {
        (writers.counts().0 > 200).then_some(())
    });

    // A SCAN walk started before the split, continued after it.
    let (cursor, mut scanned) = scan_from(&mut con, 0, Some(10));
    assert_ne!(cursor, 0, "the walk should be under way");

    // One server is down through the split: its partitions fail over
    // first, and it catches up (the split included) when it is back.
    c.kill_server(2);
    let out = c
        .admin()
        .output(&["split", "default", "--wait", "--timeout-secs", "120"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "petrel split failed: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{said}");
    assert!(said.contains("16 partitions"), "{said}");

    c.restart_server(2);
    c.admin()
        .wait_healthy(REPLICAS, &[], Duration::from_secs(120));

    // Multi-key commands across the new partitions.
    let pairs: Vec<(String, String)> = (0..20)
        .map(|i| (format!("m:{i}"), format!("v{i}")))
        .collect();
    let () = redis::cmd("MSET")
        .arg(&pairs)
        .query(&mut con)
        .expect("MSET after the split");
    let names: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
    let got: Vec<String> = redis::cmd("MGET")
        .arg(&names)
        .query(&mut con)
        .expect("MGET");
    assert_eq!(
        got,
        pairs.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
    );

    std::thread::sleep(Duration::from_secs(2));
    let hist = writers.stop_pausing_less_than(&rt, FAILOVER_BUDGET);
    check_histories(&rt, &client, &hist, Duration::from_secs(30));

    let (_, rest) = scan_from(&mut con, cursor, None);
    scanned.extend(rest);
    for i in 0..SEEDED {
        let key = format!("seed:{i}");
        assert!(
            scanned.contains(&key),
            "the SCAN across the split missed {key}"
        );
    }
    let tables = c.admin().json(&["tables"]);
    let default = tables
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "default"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(default["partition_count"], 16, "{tables}");

    let check_contents = |con: &mut redis::Connection, when: &str| {
        for i in (0..SEEDED).step_by(7) {
            let v: Option<String> = redis::cmd("GET")
                .arg(format!("seed:{i}"))
                .query(con)
                .expect("GET");
            assert_eq!(v, Some(i.to_string()), "seed:{i} {when}");
        }
        for ((key, _, read), was) in COLLECTIONS.iter().zip(&before) {
            assert_eq!(&read_collection(con, key, read), was, "{key} {when}");
        }
        let dbsize: usize = redis::cmd("DBSIZE").query(con).expect("DBSIZE");
        let load_keys = PARTITIONS as usize * 8;
        assert_eq!(
            dbsize,
            SEEDED + COLLECTIONS.len() + load_keys + pairs.len(),
            "DBSIZE {when}"
        );
    };
    check_contents(&mut con, "after the split");
    let (ok, report) = c.admin().verify(false);
    assert!(ok, "replicas differ after the split:\n{report}");
    assert!(report.contains("16 identical"), "{report}");

    // A server restarts: the partitions it built open from its disk.
    c.kill_server(0);
    c.restart_server(0);
    c.admin()
        .wait_healthy(REPLICAS, &[], Duration::from_secs(60));
    let mut con = client.get_connection().expect("reconnect");
    check_contents(&mut con, "after a server restarted");
    let (ok, report) = c.admin().verify(false);
    assert!(ok, "replicas differ after the restart:\n{report}");

    // And once more, to 32.
    let out = c.admin().output(&["split", "default", "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_contents(&mut con, "after a second split");
}

/// Every replica of a partition restarts after meta doubled the count but
/// before the split mutation was proposed: the split must still happen
/// and every key stay readable.
///
/// (Before replicas took their partition count from their data, none had
/// the split pending after the restarts, partition 1 was never built and
/// half the keys answered `TRYAGAIN ... NO_REPLICA` for good.)
#[test]
fn a_split_pending_while_every_replica_restarts_still_completes() {
    let mut c = Cluster::start(ClusterOpts {
        partitions: 1,
        ..ClusterOpts::default()
    });
    let mut con = c.redis_client().get_connection().expect("connection");
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    for k in &keys {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg(format!("v-{k}"))
            .query(&mut con)
            .expect("SET");
    }
    // Meta splits only a table whose primaries have reported their
    // partitions (a beacon after they serve).
    c.admin().wait_healthy(3, &[], Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    // Paused, no replica takes meta's new count before the kills.
    for i in 0..c.server_count() {
        c.pause_server(i);
    }
    c.admin().run(&["split", "default"]);
    for i in 0..c.server_count() {
        c.kill_server(i);
    }
    for i in 0..c.server_count() {
        c.restart_server(i);
    }
    // The split completes (both halves served) well within a minute.
    let readable = || -> Option<()> {
        let mut con = c.redis_client().get_connection().ok()?;
        keys.iter()
            .all(|k| {
                redis::cmd("GET")
                    .arg(k)
                    .query::<Option<String>>(&mut con)
                    .ok()
                    == Some(Some(format!("v-{k}")))
            })
            .then_some(())
    };
    wait_for(
        Duration::from_secs(60),
        "every key readable after the split",
        readable,
    );
    c.admin().wait_healthy(3, &[], Duration::from_secs(60));
}
