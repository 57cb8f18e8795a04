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

#[test]
fn loads_redis_and_reports_json() {
    let redis = Redis::start();
    let out = Command::new(env!("CARGO_BIN_EXE_petrel-bench"))
        .args(["--port", &redis.port.to_string(), "--json", "--quiet"])
        .args([
            "--workload",
            "ycsb-a,ycsb-f",
            "--duration",
            "1",
            "--warmup",
            "0.2",
        ])
        .args([
            "--clients",
            "4",
            "--pipeline",
            "4",
            "--distribution",
            "zipfian",
        ])
        .output()
        .expect("run petrel-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
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
