//! Meta as a Raft group of three, on real processes (issue 18, item 1):
//!
//! - kill -9 of the meta leader under a write load through the proxy: a
//!   new leader is elected, no write stalls longer than 1 s (servers renew
//!   their lease with the new leader in time), nothing acknowledged is
//!   lost, and a data primary killed afterwards fails over within 5 s;
//! - the killed meta, restarted, rejoins as a follower and catches up;
//! - `petrel metas --json` lists the three members with one leader.
//!
//! The figures (election time, longest stall, failover) are printed, for
//! the README and the issue.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::admin::{wait_for, Admin};
use support::cluster::{Cluster, ClusterOpts};
use support::load::{connect, set};

/// The bound on any stall of writes while the meta leader dies.
const STALL_BUDGET: Duration = Duration::from_secs(1);
/// A dead primary costs at most this much unavailability.
const FAILOVER_BUDGET: Duration = Duration::from_secs(5);

/// Successful writes: each key's value and when it was acknowledged.
#[derive(Default)]
struct Acked {
    writes: Vec<(String, String, Instant)>,
}

/// Writes distinct keys through the proxy, one at a time, until `stop`.
async fn write_until(client: redis::Client, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acked>>) {
    let mut con = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if con.is_none() {
            con = connect(&client).await.ok();
            if con.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        let Some(c) = con.as_mut() else { continue };
        n += 1;
        let (key, value) = (format!("mg:{n}"), format!("v{n}"));
        if set(c, &key, &value).await {
            let mut a = acked.lock().unwrap_or_else(|p| p.into_inner());
            a.writes.push((key, value, Instant::now()));
        }
    }
}

/// The longest time between two acknowledged writes.
fn longest_gap(a: &Acked) -> Duration {
    a.writes
        .windows(2)
        .map(|w| w[1].2.saturating_duration_since(w[0].2))
        .max()
        .unwrap_or_default()
}

/// A write load on its own runtime, until `stop`.
struct Writes {
    rt: tokio::runtime::Runtime,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    writer: tokio::task::JoinHandle<()>,
}

impl Writes {
    fn start(c: &Cluster) -> Writes {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Acked::default()));
        let writer = rt.spawn(write_until(c.redis_client(), stop.clone(), acked.clone()));
        Writes {
            rt,
            stop,
            acked,
            writer,
        }
    }

    /// Stops the load: its runtime (for more work) and what was acked.
    fn finish(self) -> (tokio::runtime::Runtime, Acked) {
        self.stop.store(true, Ordering::Relaxed);
        self.rt.block_on(self.writer).expect("writer");
        let acked = std::mem::take(&mut *self.acked.lock().unwrap_or_else(|p| p.into_inner()));
        (self.rt, acked)
    }
}

/// Every acknowledged write reads back.
fn assert_nothing_lost(c: &Cluster, acked: &Acked) {
    let mut con = c.redis_client().get_connection().expect("connect");
    for (key, value, _) in &acked.writes {
        let got: Option<String> = redis::cmd("GET").arg(key).query(&mut con).expect("GET");
        assert_eq!(got.as_deref(), Some(value.as_str()), "{key} lost");
    }
}

#[test]
fn killing_the_meta_leader_under_writes_stalls_nothing_and_loses_nothing() {
    let mut c = Cluster::start(ClusterOpts {
        metas: 3,
        ..ClusterOpts::default()
    });
    let leader = wait_for(Duration::from_secs(30), "a meta leader", || c.meta_leader());

    // `petrel metas` shows the group.
    let listed = c.admin().json(&["metas"]);
    let rows = listed.as_array().expect("an array");
    assert_eq!(rows.len(), 3, "{listed}");
    let leaders: Vec<_> = rows.iter().filter(|r| r["role"] == "leader").collect();
    assert_eq!(leaders.len(), 1, "{listed}");
    assert_eq!(leaders[0]["address"], c.meta_addrs()[leader], "{listed}");
    assert!(rows
        .iter()
        .all(|r| r["term"].as_u64().is_some_and(|t| t >= 1)));

    let writes = Writes::start(&c);
    std::thread::sleep(Duration::from_secs(2));

    let killed_at = Instant::now();
    c.kill_meta(leader);
    let new_leader = wait_for(Duration::from_secs(10), "a new meta leader", || {
        c.meta_leader().filter(|&i| i != leader)
    });
    let election = killed_at.elapsed();
    // Past the lease, so every server has renewed it with the new leader
    // (or stopped serving), and past the new leader's first lease and grace
    // period, after which it may fail primaries over.
    std::thread::sleep(Duration::from_secs(7));
    let (rt, acked) = writes.finish();
    let stall = longest_gap(&acked);
    eprintln!(
        "meta leader killed: new leader elected (seen) after {election:?}; {} writes, longest stall {stall:?}",
        acked.writes.len()
    );
    assert!(
        acked.writes.len() > 100,
        "the load ran: {}",
        acked.writes.len()
    );
    assert!(
        stall <= STALL_BUDGET,
        "writes stalled {stall:?} across the meta leader change (budget {STALL_BUDGET:?})"
    );
    let after_kill = acked.writes.iter().filter(|w| w.2 > killed_at).count();
    assert!(
        after_kill > 50,
        "writes went on after the kill: {after_kill}"
    );

    // Nothing acknowledged is lost.
    assert_nothing_lost(&c, &acked);

    // The new leader fails a dead primary over within the budget.
    let loc = c.admin().locate("mg:1");
    let victim = c.server_index(&loc.primary);
    c.kill_server(victim);
    let dead_at = Instant::now();
    let failover = rt.block_on(async {
        let client = c.redis_client();
        loop {
            if let Ok(mut con) = connect(&client).await {
                if set(&mut con, "mg:1", "after").await {
                    return dead_at.elapsed();
                }
            }
            assert!(
                dead_at.elapsed() < FAILOVER_BUDGET * 3,
                "no failover under the new meta leader"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    eprintln!("primary killed under the new meta leader: writes back after {failover:?}");
    assert!(
        failover <= FAILOVER_BUDGET,
        "failover took {failover:?} (budget {FAILOVER_BUDGET:?})"
    );

    // The killed meta comes back as a follower and catches up.
    c.restart_meta(leader);
    let target = c
        .meta_status(new_leader)
        .expect("the leader answers")
        .applied_index;
    let caught_up = wait_for(
        Duration::from_secs(30),
        "the restarted meta to catch up",
        || {
            c.meta_status(leader)
                .filter(|s| s.role == "follower" && s.applied_index >= target)
        },
    );
    assert_eq!(caught_up.leader, c.meta_addrs()[new_leader]);
    eprintln!(
        "restarted meta caught up: applied {} (leader at {target} when asked)",
        caught_up.applied_index
    );
}

/// A meta process started by hand to join the group (`--join`), killed
/// when dropped.
struct JoiningMeta {
    addr: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl JoiningMeta {
    fn start() -> JoiningMeta {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = format!("127.0.0.1:{}", support::free_ports(1));
        let log = std::fs::File::create(dir.path().join("meta.log")).expect("log file");
        let child = std::process::Command::new(support::bin("petrel-meta"))
            .args(["--listen", &addr, "--join", "--data-dir"])
            .arg(dir.path().join("data"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start petrel-meta");
        JoiningMeta {
            addr,
            child,
            _dir: dir,
        }
    }
}

impl Drop for JoiningMeta {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Addresses and roles of `petrel --meta ASKED metas --json` (empty
/// when it fails).
fn roles(asked: &str) -> Vec<(String, String)> {
    let listed = Admin::new(asked.to_string()).try_json(&["metas"]);
    listed
        .as_ref()
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["address"].as_str().unwrap_or_default().to_string(),
                r["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_meta_is_added_and_the_leader_removed_under_writes() {
    let c = Cluster::start(ClusterOpts {
        metas: 3,
        ..ClusterOpts::default()
    });
    let leader = wait_for(Duration::from_secs(30), "a meta leader", || c.meta_leader());
    // Asked through a member that stays.
    let asked = c.meta_addrs()[(leader + 1) % 3].clone();
    let admin = Admin::new(asked.clone());
    let writes = Writes::start(&c);
    std::thread::sleep(Duration::from_secs(1));

    // A fourth meta joins: a learner first, then a voter.
    let joining = JoiningMeta::start();
    wait_for(Duration::from_secs(10), "the new meta to answer", || {
        std::net::TcpStream::connect(&joining.addr).ok()
    });
    let added = admin.run(&["meta", "add", &joining.addr]);
    assert!(added.contains("added"), "{added}");
    let four = wait_for(Duration::from_secs(15), "four members, one leader", || {
        let r = roles(&asked);
        let followers = r.iter().filter(|(_, role)| role == "follower").count();
        (r.len() == 4 && followers == 3 && r.iter().any(|(a, _)| *a == joining.addr)).then_some(r)
    });
    eprintln!("after meta add: {four:?}");

    // The leader removes itself: another member leads the three left.
    let old = c.meta_addrs()[leader].clone();
    let removed = admin.run(&["meta", "remove", &old]);
    assert!(removed.contains("removed"), "{removed}");
    let three = wait_for(
        Duration::from_secs(15),
        "three members, a new leader",
        || {
            let r = roles(&asked);
            let new_leader = r.iter().any(|(a, role)| role == "leader" && *a != old);
            (r.len() == 3 && new_leader && r.iter().all(|(a, _)| *a != old)).then_some(r)
        },
    );
    eprintln!("after removing the leader: {three:?}");
    std::thread::sleep(Duration::from_secs(2));
    let (_rt, acked) = writes.finish();
    let stall = longest_gap(&acked);
    eprintln!("{} writes, longest stall {stall:?}", acked.writes.len());
    assert!(acked.writes.len() > 100, "the load ran");
    assert!(
        stall <= STALL_BUDGET,
        "writes stalled {stall:?} across the membership changes"
    );
    assert_nothing_lost(&c, &acked);
}
