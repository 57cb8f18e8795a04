//! Debian's `redis-benchmark` runs against onebox without a single error:
//! a smoke test of concurrency (50 clients), routing (100 000 random keys)
//! and multi-key fan-out (MSET of 10 keys). Speed is not asserted here.

mod support;

use std::process::Command;

use support::Onebox;

#[test]
fn redis_benchmark_runs_clean() {
    let ob = Onebox::start();
    let out = Command::new("redis-benchmark")
        .args(["-p", &ob.proxy_port.to_string()])
        .args([
            "-t",
            "set,get,incr,mset",
            "-n",
            "20000",
            "-c",
            "50",
            "-r",
            "100000",
            "-q",
            "--csv",
        ])
        .output()
        .expect("redis-benchmark must be installed (Debian's redis-tools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        out.status.success(),
        "redis-benchmark failed ({}):\n{all}",
        out.status
    );
    // redis-benchmark exits on the first error reply ("Error from server
    // ..."); warnings (e.g. "Could not fetch server CONFIG") are failures too.
    let bad: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("err")
                || l.contains("warn")
                || l.contains("could not")
                || l.contains("unexpected")
        })
        .collect();
    assert!(
        bad.is_empty(),
        "redis-benchmark reported problems: {bad:?}\n{all}"
    );
    // Header, then one row per test with a positive rate.
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("\"test\""))
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|f| f.trim_matches('"').to_string())
                .collect()
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["SET", "GET", "INCR", "MSET (10 keys)"], "{all}");
    for r in &rows {
        let rps: f64 = r.get(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        assert!(rps > 0.0, "{} has no rate: {all}", r[0]);
    }
    // The cluster still answers after the load.
    let mut c = ob.conn();
    assert_eq!(c.cmd("PING"), "+PONG\r\n");
}
