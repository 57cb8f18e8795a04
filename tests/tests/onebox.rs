//! `petrel onebox` end to end: redis-cli against it, the admin verbs, a
//! clear error when a port is taken, data surviving a restart, and
//! `--proxies` starting several proxies on one cluster.

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{bin, free_ports, redis_cli, run_checks, Onebox, OneboxOpts};

fn server_addrs(ob: &Onebox) -> Vec<String> {
    (0..3)
        .map(|i| format!("127.0.0.1:{}", ob.server_port + i))
        .collect()
}

fn json(ob: &Onebox, args: &[&str]) -> Value {
    let out = ob.cli(args);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("petrel {args:?} printed no JSON ({e}): {out}"))
}

/// Data rows of a human table (the header line dropped).
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn redis_cli_set_get(ob: &Onebox) {
    assert_eq!(redis_cli(ob.proxy_port, &["set", "foo", "bar"]), "OK");
    assert_eq!(redis_cli(ob.proxy_port, &["get", "foo"]), "bar");
    assert_eq!(redis_cli(ob.proxy_port, &["ping"]), "PONG");
}

fn nodes(ob: &Onebox) {
    let servers = server_addrs(ob);
    let out = ob.cli(&["nodes"]);
    assert!(out.starts_with("ADDRESS"), "nodes prints a header: {out}");
    let rows = rows(&out);
    assert_eq!(rows.len(), 3, "three servers: {out}");
    for s in &servers {
        let row = rows
            .iter()
            .find(|r| &r[0] == s)
            .unwrap_or_else(|| panic!("{s} missing: {out}"));
        assert_eq!(row[1], "alive", "{s} alive: {out}");
    }
    let v = json(ob, &["nodes", "--json"]);
    let nodes = v.as_array().expect("array of nodes");
    assert_eq!(nodes.len(), 3, "{v}");
    for n in nodes {
        assert!(
            servers.contains(&n["address"].as_str().unwrap_or_default().to_string()),
            "{n}"
        );
        assert_eq!(n["alive"], Value::Bool(true), "{n}");
    }
}

fn tables(ob: &Onebox) {
    let out = ob.cli(&["tables"]);
    let rows = rows(&out);
    let default = rows
        .iter()
        .find(|r| r[0] == "default")
        .unwrap_or_else(|| panic!("no default table: {out}"));
    assert_eq!(default[2], "8", "default has 8 partitions: {out}");
    let v = json(ob, &["tables", "--json"]);
    let t = v
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "default"))
        .unwrap_or_else(|| panic!("no default table: {v}"));
    assert_eq!(t["partition_count"], 8, "{t}");
    assert_eq!(t["replica_count"], 3, "{t}");
}

fn partitions(ob: &Onebox) {
    let servers = server_addrs(ob);
    let out = ob.cli(&["partitions", "default"]);
    let rows = rows(&out);
    // One row per replica: 8 partitions x 3 members.
    assert_eq!(rows.len(), 24, "24 replica rows: {out}");
    for i in 0..8 {
        let of_partition: Vec<&Vec<String>> =
            rows.iter().filter(|r| r[0] == i.to_string()).collect();
        assert_eq!(of_partition.len(), 3, "partition {i} has 3 rows: {out}");
        let primary = of_partition
            .iter()
            .find(|r| r[3] == "primary")
            .unwrap_or_else(|| panic!("partition {i} has a primary row: {out}"));
        assert!(
            servers.contains(&primary[2]),
            "partition {i}: primary is a server: {out}"
        );
    }
    let v = json(ob, &["partitions", "default", "--json"]);
    let parts = v["partitions"]
        .as_array()
        .unwrap_or_else(|| panic!("partitions array: {v}"));
    assert_eq!(parts.len(), 8, "{v}");
}

/// The default table's replica count is 3: each partition has a primary
/// and two secondaries, all distinct servers, and primaries are spread
/// evenly.
fn partitions_have_balanced_primaries(ob: &Onebox) {
    let servers = server_addrs(ob);
    let v = json(ob, &["partitions", "default", "--json"]);
    let mut per_server = std::collections::BTreeMap::<String, u32>::new();
    let partitions = v["partitions"]
        .as_array()
        .unwrap_or_else(|| panic!("partitions array: {v}"));
    assert_eq!(partitions.len(), 8, "{v}");
    for p in partitions {
        let primary = p["primary"]
            .as_str()
            .unwrap_or_else(|| panic!("primary: {p}"));
        assert!(servers.iter().any(|s| s == primary), "{p}");
        assert_eq!(p["ballot"].as_u64(), Some(1), "{p}");
        let secondaries: Vec<&str> = p["secondaries"]
            .as_array()
            .unwrap_or_else(|| panic!("secondaries: {p}"))
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert_eq!(secondaries.len(), 2, "{p}");
        assert!(!secondaries.contains(&primary), "{p}");
        assert_ne!(secondaries[0], secondaries[1], "{p}");
        *per_server.entry(primary.to_string()).or_default() += 1;
    }
    let counts: Vec<u32> = per_server.values().copied().collect();
    assert_eq!(
        counts.len(),
        3,
        "every server is primary of something: {per_server:?}"
    );
    assert!(
        counts.iter().max().unwrap_or(&0) - counts.iter().min().unwrap_or(&0) <= 1,
        "primaries balanced: {per_server:?}"
    );
    let tables = json(ob, &["tables", "--json"]);
    let default = tables
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "default"))
        .unwrap_or_else(|| panic!("default table: {tables}"));
    assert_eq!(default["replica_count"].as_u64(), Some(3), "{default}");
}

fn locate(ob: &Onebox) {
    let servers = server_addrs(ob);
    let v = json(ob, &["locate", "default", "foo", "--json"]);
    let partition = v["partition"]
        .as_u64()
        .unwrap_or_else(|| panic!("partition: {v}"));
    assert!(partition < 8, "{v}");
    assert!(v["ballot"].as_u64().is_some(), "ballot: {v}");
    let primary = v["primary"]
        .as_str()
        .unwrap_or_else(|| panic!("primary: {v}"));
    assert!(
        servers.iter().any(|s| s == primary),
        "primary {primary} is one of {servers:?}"
    );
    // Agrees with the partition map.
    let map = json(ob, &["partitions", "default", "--json"]);
    let p = &map["partitions"][partition as usize];
    assert_eq!(
        p["primary"].as_str(),
        Some(primary),
        "locate agrees with partitions: {map}"
    );
    // Keys with the same hash tag live together.
    let a = json(ob, &["locate", "default", "{user1}.a", "--json"]);
    let b = json(ob, &["locate", "default", "{user1}.b", "--json"]);
    assert_eq!(
        a["partition"], b["partition"],
        "hash tags co-locate: {a} {b}"
    );
}

fn create_and_drop_table(ob: &Onebox) {
    ob.cli(&["create-table", "t2", "--partitions", "4", "--replicas", "1"]);
    let v = json(ob, &["tables", "--json"]);
    let t = v
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "t2"))
        .unwrap_or_else(|| panic!("t2 not listed after create-table: {v}"));
    assert_eq!(t["partition_count"], 4, "{t}");
    assert_eq!(t["replica_count"], 1, "{t}");
    let human = ob.cli(&["tables"]);
    assert!(
        rows(&human).iter().any(|r| r[0] == "t2" && r[2] == "4"),
        "{human}"
    );
    ob.cli(&["drop-table", "t2"]);
    let human = ob.cli(&["tables"]);
    assert!(
        !rows(&human).iter().any(|r| r[0] == "t2"),
        "t2 still listed after drop-table: {human}"
    );
    assert!(rows(&human).iter().any(|r| r[0] == "default"), "{human}");
}

fn six_partitions_refused(ob: &Onebox) {
    let out = ob.cli_output(&["create-table", "t6", "--partitions", "6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "6 partitions must be refused; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("power of two"),
        "the error says why: {stderr}"
    );
    let human = ob.cli(&["tables"]);
    assert!(!rows(&human).iter().any(|r| r[0] == "t6"), "{human}");
}

fn second_onebox_on_same_port(ob: &Onebox) {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = free_ports(5);
    let mut child = Command::new(bin("petrel"))
        .args(["onebox", "--dir", dir.path().to_str().expect("utf-8")])
        .args(["--port", &ob.proxy_port.to_string()])
        .args([
            "--meta-port",
            &base.to_string(),
            "--server-port",
            &(base + 1).to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run petrel onebox");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second onebox on a taken port kept running");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !status.success(),
        "a second onebox on port {} must fail",
        ob.proxy_port
    );
    assert!(
        stderr.contains("already in use"),
        "the error names the problem: {stderr}"
    );
    // The first cluster is unharmed.
    assert_eq!(redis_cli(ob.proxy_port, &["ping"]), "PONG");
}

#[test]
fn onebox_and_admin_verbs() {
    let ob = Onebox::start();
    let ob = &ob;
    run_checks(&[
        ("redis-cli set/get", &|| redis_cli_set_get(ob)),
        ("nodes", &|| nodes(ob)),
        ("tables", &|| tables(ob)),
        ("partitions", &|| partitions(ob)),
        ("partitions have balanced primaries", &|| {
            partitions_have_balanced_primaries(ob)
        }),
        ("locate", &|| locate(ob)),
        ("create-table and drop-table", &|| create_and_drop_table(ob)),
        ("6 partitions refused", &|| six_partitions_refused(ob)),
        ("second onebox on the same port", &|| {
            second_onebox_on_same_port(ob)
        }),
    ]);
}

#[test]
fn data_survives_a_restart() {
    let mut ob = Onebox::start();
    assert_eq!(redis_cli(ob.proxy_port, &["set", "foo", "bar"]), "OK");
    assert_eq!(redis_cli(ob.proxy_port, &["get", "foo"]), "bar");
    {
        let mut con = ob.redis_client().get_connection().expect("connect");
        for i in 0..200 {
            let () = redis::cmd("SET")
                .arg(format!("restart:{i}"))
                .arg(format!("value-{i}"))
                .query(&mut con)
                .expect("SET");
        }
    }
    ob.stop();
    // Same directory, same ports; `ob` keeps the temporary directory alive.
    let again = Onebox::start_in(&ob.dir, ob.proxy_port, ob.meta_port, ob.server_port);
    assert_eq!(redis_cli(again.proxy_port, &["get", "foo"]), "bar");
    let mut con = again
        .redis_client()
        .get_connection()
        .expect("connect after restart");
    for i in 0..200 {
        let v: Option<String> = redis::cmd("GET")
            .arg(format!("restart:{i}"))
            .query(&mut con)
            .expect("GET");
        assert_eq!(
            v.as_deref(),
            Some(format!("value-{i}").as_str()),
            "restart:{i} after restart"
        );
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(n, 201, "DBSIZE after restart");
}

/// `--proxies 3`: three proxies on consecutive ports from `--port`, each
/// announced with its own pid and logging to its own file, all serving the
/// same cluster, and all stopped with onebox.
#[test]
fn three_proxies_on_consecutive_ports() {
    let mut ob = Onebox::start_with(OneboxOpts {
        proxies: Some(3),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let first = ob.proxy_port;
    assert_eq!(ports, [first, first + 1, first + 2]);
    let lines: Vec<&String> = ob
        .lines
        .iter()
        .filter(|l| l.starts_with("proxy "))
        .collect();
    assert_eq!(lines.len(), 3, "three proxy lines: {:?}", ob.lines);
    let mut pids = Vec::new();
    for (line, port) in lines.iter().zip(&ports) {
        let pid: u32 = line
            .strip_prefix(&format!("proxy 127.0.0.1:{port} pid "))
            .and_then(|pid| pid.parse().ok())
            .unwrap_or_else(|| panic!("expected `proxy 127.0.0.1:{port} pid N`, got {line:?}"));
        pids.push(pid);
    }
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "three processes: {pids:?}");
    for log in ["proxy.log", "proxy-2.log", "proxy-3.log"] {
        let path = ob.dir.join("logs").join(log);
        assert!(path.is_file(), "each proxy logs to its own file: {path:?}");
    }

    // One cluster behind them all: a write through proxy 1 is read through 3.
    assert_eq!(redis_cli(ports[0], &["set", "across", "proxies"]), "OK");
    assert_eq!(redis_cli(ports[2], &["get", "across"]), "proxies");
    assert_eq!(redis_cli(ports[1], &["get", "across"]), "proxies");

    ob.stop();
    for (pid, port) in pids.iter().zip(&ports) {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "proxy pid {pid} outlived onebox"
        );
        assert!(
            TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "port {port} still accepts connections after onebox stopped"
        );
    }
}

#[test]
fn zero_proxies_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(bin("petrel"))
        .args(["onebox", "--dir", dir.path().to_str().expect("utf-8")])
        .args(["--proxies", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("run petrel onebox");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--proxies 0 must fail: {stderr}");
    assert!(
        stderr.contains("--proxies must be at least 1"),
        "the error says why: {stderr}"
    );
}
