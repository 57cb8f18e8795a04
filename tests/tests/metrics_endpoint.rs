//! The Prometheus endpoints of a real cluster (docs/METRICS.md): `GET
//! /metrics` answers the text format, counters move with the commands
//! clients send, latencies are real histograms (buckets that add up across
//! processes, not per-process quantiles), and any other path is a 404.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::cluster::{Cluster, ClusterOpts};
use support::free_ports;

/// One HTTP/1.0 request to `addr`; the status line and the body. The
/// request goes out in two writes, as some clients send it: the endpoint
/// must read up to the end of the headers, not answer the first segment.
fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"GET ").expect("sending the request");
    std::thread::sleep(Duration::from_millis(50));
    write!(s, "{path} HTTP/1.0\r\n\r\n").expect("sending the request");
    let mut response = String::new();
    s.read_to_string(&mut response)
        .expect("reading the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {response:?}"));
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The sum over `bodies` of the sample `series` (0 where absent).
fn total(bodies: &[String], series: &str) -> f64 {
    bodies.iter().filter_map(|b| sample(b, series)).sum()
}

#[test]
fn metrics_endpoints_count_what_the_cluster_did() {
    let metrics_addr = format!("127.0.0.1:{}", free_ports(1));
    let meta_metrics = format!("127.0.0.1:{}", free_ports(1));
    let c = Cluster::start(ClusterOpts {
        proxy_args: vec!["--metrics-listen".into(), metrics_addr.clone()],
        meta_args: vec!["--metrics-listen".into(), meta_metrics.clone()],
        server_metrics: true,
        ..ClusterOpts::default()
    });
    let mut conn = c.redis_client().get_connection().expect("connecting");
    for i in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("m:{i}"))
            .arg(i)
            .query(&mut conn)
            .expect("SET");
        let got: i64 = redis::cmd("GET")
            .arg(format!("m:{i}"))
            .query(&mut conn)
            .expect("GET");
        assert_eq!(got, i);
    }

    let (status, body) = http_get(&metrics_addr, "/metrics");
    assert!(status.contains("200"), "status {status:?}");
    for cmd in ["set", "get"] {
        let count = sample(
            &body,
            &format!("petrel_proxy_commands_total{{cmd=\"{cmd}\"}}"),
        );
        assert!(
            count.is_some_and(|n| n >= 20.0),
            "{cmd}: commands_total {count:?} in\n{body}"
        );
        // A histogram: cumulative buckets ending in +Inf, which holds every
        // observation, and no quantile series.
        let all = sample(
            &body,
            &format!("petrel_proxy_command_duration_seconds_bucket{{cmd=\"{cmd}\",le=\"+Inf\"}}"),
        );
        assert!(
            all.is_some_and(|n| n >= 20.0),
            "{cmd}: +Inf bucket {all:?} in\n{body}"
        );
        let tenth = sample(
            &body,
            &format!("petrel_proxy_command_duration_seconds_bucket{{cmd=\"{cmd}\",le=\"0.1\"}}"),
        );
        assert!(
            tenth.is_some_and(|n| n <= all.unwrap_or_default()),
            "{cmd}: the 0.1 s bucket {tenth:?} is missing or above +Inf in\n{body}"
        );
        let count = sample(
            &body,
            &format!("petrel_proxy_command_duration_seconds_count{{cmd=\"{cmd}\"}}"),
        );
        assert_eq!(count, all, "{cmd}: _count and the +Inf bucket differ");
    }
    assert!(
        !body.contains("quantile="),
        "latencies are exported as summaries:\n{body}"
    );
    assert!(
        sample(&body, "petrel_proxy_connections").is_some_and(|n| n >= 1.0),
        "no open connection counted in\n{body}"
    );
    assert!(
        sample(&body, "petrel_proxy_map_version{table=\"default\"}").is_some_and(|v| v >= 1.0),
        "no map version for the default table in\n{body}"
    );

    let (status, _) = http_get(&metrics_addr, "/other");
    assert!(status.contains("404"), "status {status:?}");

    // Servers: every write ran on one primary and was logged by all three
    // replicas; every GET ran on one primary.
    let servers: Vec<String> = (0..c.server_count())
        .map(|i| {
            let addr = c.server_metrics_addr(i).expect("server metrics on");
            let (status, body) = http_get(&addr, "/metrics");
            assert!(status.contains("200"), "server {i}: status {status:?}");
            body
        })
        .collect();
    let writes = total(&servers, "petrel_server_execute_total{kind=\"write\"}");
    let reads = total(&servers, "petrel_server_execute_total{kind=\"read\"}");
    assert!(writes >= 20.0, "{writes} writes executed");
    assert!(reads >= 20.0, "{reads} reads executed");
    let timed = total(
        &servers,
        "petrel_server_execute_seconds_bucket{kind=\"write\",le=\"+Inf\"}",
    );
    assert_eq!(timed, writes, "every executed write is in the histogram");
    let replicas = total(&servers, "petrel_server_replicas");
    let (partitions, copies) = (c.opts.partitions, c.opts.replicas);
    assert_eq!(replicas, f64::from(partitions * copies), "replicas open");
    for (i, body) in servers.iter().enumerate() {
        assert!(
            sample(body, "petrel_log_syncs_total").is_some_and(|n| n >= 1.0),
            "server {i} never synced its log:\n{body}"
        );
    }

    // Meta: it created the table and hears the servers' beacons.
    let (status, meta) = http_get(&meta_metrics, "/metrics");
    assert!(status.contains("200"), "meta: status {status:?}");
    assert_eq!(sample(&meta, "petrel_meta_tables_created_total"), Some(1.0));
    assert!(
        sample(&meta, "petrel_meta_beacons_total").is_some_and(|n| n >= 3.0),
        "beacons in\n{meta}"
    );
}
