//! A rolling upgrade from the previous version (issue 18: "messages are
//! versioned: a test runs a mixed cluster"). The previous version is the
//! commit in `tests/previous-version`, built once by
//! `scripts/previous-version` and cached.
//!
//! An old cluster (3 metas, 3 servers, 1 proxy, 8 partitions of 3
//! replicas) runs a write load while it is upgraded the way
//! docs/OPERATIONS.md says, one process at a time: the metas (followers
//! first, then the leader), each server (restarted in place, then waited
//! for until it is alive and `petrel verify` passes), then a new proxy
//! beside the old one, then the old proxy stopped. After every step a
//! write and a read through each running proxy work, and so do a MULTI
//! and a Lua script over every partition and a hash; at the end every
//! acknowledged write of the load is read back and the replicas are
//! identical.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use petrel_cli::launch::cluster::{Role, META_BIN, PROXY_BIN, SERVER_BIN};
use support::admin::{wait_for, Admin};
use support::cluster::{Cluster, ClusterOpts};
use support::load::{check_histories, WriteLoad};
use support::{bin_dir, key_per_partition};

const METAS: usize = 3;
const SERVERS: usize = 3;
const PARTITIONS: u32 = 8;
const REPLICAS: u32 = 3;
/// How long a restarted server may take to be a healthy member again.
const HEAL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a probe may retry (a stopped primary costs its partition a
/// failover, about 2 s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The previous version's binaries: builds them on first use (minutes),
/// seeding its build directory from this build's so RocksDB is not
/// compiled again.
fn previous_bin_dir() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target's tmp dir has a parent")
        .to_path_buf();
    let script = repo.join("scripts/previous-version");
    let out = Command::new(&script)
        .arg("--seed-target")
        .arg(&target)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "cannot build the previous version ({} exited {}; its messages are above)",
        script.display(),
        out.status
    );
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = PathBuf::from(dir.lines().last().unwrap_or_default());
    assert!(
        dir.join("petrel-server").exists(),
        "{} printed {dir:?}, which holds no petrel-server",
        script.display()
    );
    dir
}

/// Asserts that process `pid` (`what`) runs the binary `name` of `dir`.
fn assert_runs(pid: Option<u32>, what: &str, dir: &Path, name: &str) {
    let pid = pid.unwrap_or_else(|| panic!("{what} is not running"));
    let runs = std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/exe of {what}: {e}"));
    let want = dir
        .join(name)
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()));
    assert_eq!(runs, want, "{what} runs another binary");
}

/// SET a fresh key through the proxy at `port` until acknowledged, then
/// GET it back: the cluster takes writes and serves reads.
fn probe(port: u16, stage: &str) {
    let key = format!("probe:{stage}:{port}");
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < PROBE_TIMEOUT {
        let attempt = (|| -> redis::RedisResult<Option<String>> {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
            let mut con = client.get_connection_with_timeout(Duration::from_secs(5))?;
            con.set_read_timeout(Some(Duration::from_secs(10)))?;
            let () = redis::cmd("SET").arg(&key).arg(stage).query(&mut con)?;
            redis::cmd("GET").arg(&key).query(&mut con)
        })();
        match attempt {
            Ok(got) => {
                assert_eq!(got.as_deref(), Some(stage), "{stage}: GET {key}");
                return;
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{stage}: SET/GET {key} through port {port} failing for {PROBE_TIMEOUT:?}: {last}");
}

/// Commands beyond SET and GET through the proxy at `port`: a MULTI block
/// and a Lua script writing a key in every partition (so transactions
/// span primaries of both versions), and a hash. Retried as a whole
/// while a failover makes them fail.
fn other_commands(port: u16, stage: &str) {
    let start = Instant::now();
    loop {
        match try_other_commands(port, stage) {
            Ok(()) => return,
            Err(e) if start.elapsed() < PROBE_TIMEOUT => {
                eprintln!("{stage}: commands failed ({e}), again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{stage}: commands through port {port}: {e}"),
        }
    }
}

fn try_other_commands(port: u16, stage: &str) -> redis::RedisResult<()> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5))?;
    con.set_read_timeout(Some(Duration::from_secs(10)))?;
    let keys = key_per_partition(&format!("mixed:{stage}:{port}"), PARTITIONS);

    let mut multi = redis::pipe();
    multi.atomic();
    for k in &keys {
        multi.cmd("SET").arg(k).arg("m").ignore();
    }
    multi.cmd("MGET").arg(&keys);
    let (got,): (Vec<Option<String>>,) = multi.query(&mut con)?;
    assert!(
        got.iter().all(|v| v.as_deref() == Some("m")),
        "{stage}: MGET inside MULTI saw {got:?}"
    );

    // Every partition's key set, then read back, in one script.
    let script = "for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1] .. i) end \
                  return redis.call('MGET', unpack(KEYS))";
    let got: Vec<String> = redis::cmd("EVAL")
        .arg(script)
        .arg(keys.len())
        .arg(&keys)
        .arg("s")
        .query(&mut con)?;
    let want: Vec<String> = (1..=keys.len()).map(|i| format!("s{i}")).collect();
    assert_eq!(got, want, "{stage}: EVAL's MGET");

    let hash = format!("mixed:{stage}:{port}:h");
    let _: i64 = redis::cmd("HSET")
        .arg(&hash)
        .arg("f1")
        .arg("v1")
        .arg("f2")
        .arg("v2")
        .query(&mut con)?;
    let n: i64 = redis::cmd("HINCRBY")
        .arg(&hash)
        .arg("n")
        .arg(7)
        .query(&mut con)?;
    assert_eq!(n, 7, "{stage}: HINCRBY");
    let all: BTreeMap<String, String> = redis::cmd("HGETALL").arg(&hash).query(&mut con)?;
    let want: BTreeMap<String, String> = [("f1", "v1"), ("f2", "v2"), ("n", "7")]
        .map(|(f, v)| (f.into(), v.into()))
        .into();
    assert_eq!(all, want, "{stage}: HGETALL");
    Ok(())
}

/// Waits until every partition has its replicas back, each at meta's
/// ballot, and `petrel verify --full` passes.
fn wait_healthy(admin: &Admin, stage: &str) {
    let took = admin.wait_healthy(REPLICAS, &[], HEAL_TIMEOUT);
    eprintln!("{stage}: healthy and verified after {took:?}");
}

/// Waits until meta `i` answers as a member that knows the group's leader.
fn wait_meta_member(c: &Cluster, i: usize) {
    wait_for(
        Duration::from_secs(30),
        "the upgraded meta to rejoin",
        || {
            c.meta_status(i).filter(|s| {
                matches!(s.role.as_str(), "leader" | "follower") && !s.leader.is_empty()
            })
        },
    );
}

#[test]
fn rolling_upgrade_from_the_previous_version_loses_nothing() {
    let old = previous_bin_dir();
    let new = bin_dir();
    eprintln!(
        "previous version: {}\nthis version: {}",
        old.display(),
        new.display()
    );
    let started = Instant::now();
    let mut c = Cluster::start(ClusterOpts {
        metas: METAS,
        servers: SERVERS,
        partitions: PARTITIONS,
        replicas: REPLICAS,
        bin_dir: Some(old.clone()),
        ..ClusterOpts::default()
    });
    let admin = c.admin();
    wait_healthy(&admin, "old cluster");
    let olds = (0..METAS).map(|i| (Role::Meta(i), META_BIN));
    let olds = olds.chain((0..SERVERS).map(|i| (Role::Server(i), SERVER_BIN)));
    for (role, name) in olds.chain([(Role::Proxy(0), PROXY_BIN)]) {
        assert_runs(c.pid(role), &format!("{role:?}"), &old, name);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let load = WriteLoad::start(&rt, &c.redis_client(), "load", 4, 32);
    let old_proxy = c.proxy_port;
    probe(old_proxy, "old");
    other_commands(old_proxy, "old");

    // Metas: followers first, then the leader.
    let leader = wait_for(Duration::from_secs(30), "a meta leader", || c.meta_leader());
    let order = (0..METAS).filter(|&i| i != leader).chain([leader]);
    for i in order {
        let stage = format!("meta{i}");
        c.upgrade(Role::Meta(i), &new);
        assert_runs(c.pid(Role::Meta(i)), &stage, &new, META_BIN);
        wait_meta_member(&c, i);
        probe(old_proxy, &stage);
        eprintln!("{stage}: upgraded");
    }
    wait_healthy(&admin, "new metas");

    // Servers one at a time; in between, servers of both versions hold
    // each partition's replicas.
    for i in 0..SERVERS {
        let stage = format!("server{i}");
        c.upgrade(Role::Server(i), &new);
        assert_runs(c.pid(Role::Server(i)), &stage, &new, SERVER_BIN);
        c.wait_nodes_alive(&[c.server_addr(i)]);
        wait_healthy(&admin, &stage);
        probe(old_proxy, &stage);
        other_commands(old_proxy, &stage);
    }

    // A new proxy beside the old one, then the old one stopped.
    let (new_proxy, new_port) = c.start_proxy_from(&new);
    assert_runs(new_proxy.pid(), "the new proxy", &new, PROXY_BIN);
    for port in [old_proxy, new_port] {
        probe(port, "two-proxies");
        other_commands(port, "two-proxies");
    }
    c.stop(Role::Proxy(0));
    probe(new_port, "new");
    other_commands(new_port, "new");

    let (acked, failed) = load.counts();
    let hist = load.stop(&rt);
    eprintln!("load: {acked} SETs acknowledged, {failed} failed or timed out");
    assert!(acked > 0, "the load acknowledged nothing");
    let client = redis::Client::open(format!("redis://127.0.0.1:{new_port}/")).expect("client");
    check_histories(&rt, &client, &hist, Duration::from_secs(30));
    wait_healthy(&admin, "new cluster");
    eprintln!("rolling upgrade done in {:?}", started.elapsed());
}
