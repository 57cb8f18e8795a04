//! Replica moves on real processes (issue 18's "Verified when" lines):
//!
//! - a 4th and a 5th server started by hand under writes end holding their
//!   share of the 24 replicas (8 partitions x 3) and of the primaries,
//!   within one, in less than 3 minutes; `petrel verify` finds identical
//!   replicas; nothing acknowledged is lost;
//! - `petrel drain` of a server under writes ends with 0 replicas on it, and
//!   no partition stops taking writes for longer than a failover.
//!
//! Every partition has its own writer, so the longest pause between two
//! acknowledged writes is measured per partition.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use petrel_common::hash::partition_of;
use serde_json::Value;
use support::admin::wait_for;
use support::cluster::{Cluster, ClusterOpts};
use support::load::{check_histories, WriteLoad};

const PARTITIONS: u32 = 8;
const REPLICAS: u32 = 3;
/// The bound for new servers to take their share.
const BALANCE_BUDGET: Duration = Duration::from_secs(180);
/// A move or a drain may pause a partition at most as long as a failover
/// may (replication.rs's budget).
const FAILOVER_BUDGET: Duration = Duration::from_secs(5);
/// Keys each partition's writer cycles through.
const KEYS_PER_PARTITION: usize = 8;

/// `count` keys of partition `p`.
fn keys_of_partition(p: u32, count: usize) -> Vec<String> {
    (0u64..)
        .map(|n| format!("mv:{n}"))
        .filter(|k| partition_of(k.as_bytes(), PARTITIONS) == p)
        .take(count)
        .collect()
}

/// `petrel nodes --json`, keyed by address.
fn nodes(c: &Cluster) -> BTreeMap<String, Value> {
    let listed = c.admin().json(&["nodes"]);
    listed
        .as_array()
        .expect("an array")
        .iter()
        .map(|n| {
            (
                n["address"].as_str().unwrap_or_default().to_string(),
                n.clone(),
            )
        })
        .collect()
}

fn count(n: &Value, field: &str) -> u64 {
    n[field].as_u64().unwrap_or(u64::MAX)
}

/// Whether `among` hold every replica and primary of the table, each within
/// one of the others, with no move in flight.
fn balanced(listed: &BTreeMap<String, Value>, among: &[String]) -> bool {
    let of = |field: &str| -> Vec<u64> { among.iter().map(|a| count(&listed[a], field)).collect() };
    let spread = |v: &[u64]| v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0);
    let (replicas, primaries) = (of("replicas"), of("primaries"));
    replicas.iter().sum::<u64>() == u64::from(PARTITIONS * REPLICAS)
        && primaries.iter().sum::<u64>() == u64::from(PARTITIONS)
        && spread(&replicas) <= 1
        && spread(&primaries) <= 1
        && listed
            .values()
            .all(|n| count(n, "moves_in") == 0 && count(n, "moves_out") == 0)
}

#[test]
fn new_servers_take_their_share_and_a_drained_server_ends_empty_under_writes() {
    let mut c = Cluster::start(ClusterOpts {
        partitions: PARTITIONS,
        replicas: REPLICAS,
        ..ClusterOpts::default()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let per_partition = (0..PARTITIONS)
        .map(|p| keys_of_partition(p, KEYS_PER_PARTITION))
        .collect();
    let writers = WriteLoad::start_on_keys(&rt, &c.redis_client(), "mv", per_partition);
    wait_for(Duration::from_secs(30), "the first writes", || {
        (writers.counts().0 > 200).then_some(())
    });

    // Two servers started by hand join; meta moves replicas onto them.
    let added = Instant::now();
    let fourth = c.add_server();
    let fifth = c.add_server();
    let all: Vec<String> = c.server_addrs();
    assert_eq!(all.len(), 5);
    let mut polls = 0;
    wait_for(BALANCE_BUDGET, "every server to hold its share", || {
        let listed = nodes(&c);
        polls += 1;
        if polls % 100 == 0 {
            println!("not balanced yet: {}", c.admin().run(&["nodes"]));
        }
        balanced(&listed, &all).then_some(())
    });
    let took = added.elapsed();
    let listed = nodes(&c);
    println!(
        "balanced {:.1} s after the 4th server was started: {}",
        took.as_secs_f64(),
        all.iter()
            .map(|a| format!(
                "{a} {}r/{}p",
                count(&listed[a], "replicas"),
                count(&listed[a], "primaries")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for i in [fourth, fifth] {
        assert!(count(&listed[&c.server_addr(i)], "replicas") >= 4);
    }
    let plan = c.admin().json(&["balance"]);
    assert_eq!(plan["in_flight"], Value::Array(vec![]), "{plan}");
    assert_eq!(plan["planned"], Value::Array(vec![]), "{plan}");
    let (ok, report) = c.admin().verify(false);
    assert!(ok, "replicas differ after the moves:\n{report}");

    // Drain the 4th server: it ends empty, the other four share everything.
    let drained = c.server_addr(fourth);
    let plan = c.admin().json(&["balance"]);
    assert_eq!(plan["planned"], Value::Array(vec![]), "{plan}");
    let out = c.admin().output(&[
        "drain",
        &drained,
        "--wait",
        "--timeout-secs",
        &BALANCE_BUDGET.as_secs().to_string(),
    ]);
    assert!(
        out.status.success(),
        "petrel drain failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rest: Vec<String> = all.iter().filter(|a| **a != drained).cloned().collect();
    wait_for(Duration::from_secs(60), "the rest to balance", || {
        balanced(&nodes(&c), &rest).then_some(())
    });
    let listed = nodes(&c);
    assert_eq!(listed[&drained]["draining"], Value::Bool(true));
    assert_eq!(
        (
            count(&listed[&drained], "replicas"),
            count(&listed[&drained], "primaries")
        ),
        (0, 0)
    );

    let hist = writers.stop_pausing_less_than(&rt, FAILOVER_BUDGET);
    check_histories(&rt, &c.redis_client(), &hist, Duration::from_secs(30));
    let (ok, report) = c.admin().verify(false);
    assert!(ok, "replicas differ after the drain:\n{report}");

    // The drained server can be stopped: nothing becomes unavailable.
    c.kill_server(fourth);
    let mut con = c.redis_client().get_connection().expect("connect");
    for p in 0..PARTITIONS {
        let key = &keys_of_partition(p, 1)[0];
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("after")
            .query(&mut con)
            .unwrap_or_else(|e| panic!("SET {key} after stopping the drained server: {e}"));
    }
}
