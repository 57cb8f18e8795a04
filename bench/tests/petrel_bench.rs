//! Runs `petrel-bench` against a real `redis-server` on a free port.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's redis-server on a free 127.0.0.1 port, killed on drop.
struct Redis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs petrel-bench with `args` (and `--json --quiet`); its report.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_petrel-bench"))
        .args(["--json", "--quiet"])
        .args(args)
        .output()
        .expect("run petrel-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn loads_redis_and_reports_json() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let report = bench_json(&[
        "--port",
        &port,
        "--workload",
        "ycsb-a,ycsb-f",
        "--duration",
        "1",
        "--warmup",
        "0.2",
        "--clients",
        "4",
        "--pipeline",
        "4",
        "--distribution",
        "zipfian",
    ]);
    let runs = report["endpoints"][0]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert!(run["ops"].as_u64().unwrap() > 0, "{run}");
        assert_eq!(run["errors"], 0, "{run}");
        assert_eq!(run["io_errors"], 0, "{run}");
        for kind in run["kinds"].as_array().expect("kinds") {
            let f = |k: &str| kind[k].as_f64().unwrap();
            assert!(
                f("p50_ms") <= f("p99_ms") && f("p99_ms") <= f("max_ms"),
                "{kind}"
            );
        }
    }
    let ops: Vec<&str> = runs[0]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["set", "get"]);
    assert_eq!(runs[1]["kinds"][0]["op"], "rmw");
}

#[test]
fn pubsub_counts_every_delivery_and_the_servers_memory() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let subscribers = format!("127.0.0.1:{port},localhost:{port}");
    let pid = redis.child.id().to_string();
    let report = bench_json(&[
        "--port",
        &port,
        "--workload",
        "pubsub",
        "--channels",
        "3",
        "--subscribers-per-channel",
        "4",
        "--publishers",
        "2",
        "--pipeline",
        "2",
        "--rate",
        "400",
        "--subscribe-to",
        &subscribers,
        "--max-in-flight",
        "1000",
        "--duration",
        "1",
        "--warmup",
        "0.2",
        "-d",
        "100",
        "--rss-pid",
        &pid,
    ]);
    let run = &report["endpoints"][0]["runs"][0];
    let p = &run["pubsub"];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{run}"));
    // Every channel has 4 subscribers, every PUBLISH announced them all,
    // and every one of those deliveries arrived, in order.
    assert!(n(&p["published"]) > 100, "{run}");
    assert_eq!(n(&p["expected"]), 4 * n(&p["published"]), "{run}");
    assert_eq!(n(&p["delivered"]), n(&p["expected"]), "{run}");
    assert_eq!(n(&p["lost"]), 0, "{run}");
    assert_eq!(n(&p["reordered"]), 0, "{run}");
    assert_eq!(n(&p["malformed"]), 0, "{run}");
    assert_eq!(n(&p["subscribers"]), 12, "{run}");
    assert_eq!(n(&p["message_size"]), 100, "{run}");
    // About the asked rate, and four deliveries per PUBLISH in the window.
    let rate = p["published_per_sec"].as_f64().unwrap();
    assert!((300.0..=440.0).contains(&rate), "{run}");
    let delivered = p["delivered_per_sec"].as_f64().unwrap();
    assert!((delivered / rate - 4.0).abs() < 0.2, "{run}");
    let kinds: Vec<&str> = run["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["op"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["publish", "deliver"]);
    let rss = &p["rss"];
    assert!(n(&rss["before_bytes"]) > 0, "{run}");
    assert!(n(&rss["subscribed_bytes"]) > 0, "{run}");
}
