//! Turning measurements into the final table, comparison table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::stats::{Percentiles, Stats};
use super::workloads::OpKind;

/// One operation kind of one run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KindReport {
    pub(crate) op: &'static str,
    pub(crate) ops: u64,
    pub(crate) ops_per_sec: f64,
    #[serde(flatten)]
    pub(crate) latency: Percentiles,
}

/// One workload against one endpoint.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunReport {
    pub(crate) workload: String,
    pub(crate) elapsed_secs: f64,
    pub(crate) ops: u64,
    pub(crate) ops_per_sec: f64,
    /// Error replies, all kinds.
    pub(crate) errors: u64,
    /// Error replies by first word.
    pub(crate) error_kinds: BTreeMap<String, u64>,
    /// Operations lost to connection failures.
    pub(crate) io_errors: u64,
    pub(crate) kinds: Vec<KindReport>,
    /// The pubsub workload's own figures (its `ops` are its PUBLISHes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pubsub: Option<PubSubReport>,
}

/// What a pubsub run adds to its kinds (`publish`, `deliver`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PubSubReport {
    pub(crate) channels: usize,
    pub(crate) subscribers_per_channel: usize,
    /// Subscriber connections, and the endpoints they were spread over.
    pub(crate) subscribers: usize,
    pub(crate) subscriber_endpoints: Vec<String>,
    pub(crate) publishers: usize,
    pub(crate) message_size: usize,
    /// `--rate` (PUBLISHes/s, 0: unlimited) and `--max-in-flight` (0: none).
    pub(crate) rate: u64,
    pub(crate) max_in_flight: u64,
    /// From the first connect to the last `SUBSCRIBE` confirmation.
    pub(crate) subscribe_secs: f64,
    /// PUBLISHes answered with a count in the window, per second.
    pub(crate) published_per_sec: f64,
    /// Messages that reached a subscriber in the window, per second.
    pub(crate) delivered_per_sec: f64,
    /// Over the whole run (warm-up and drain included): PUBLISHes answered,
    /// the deliveries their replies announced, the messages that arrived.
    pub(crate) published: u64,
    pub(crate) expected: u64,
    pub(crate) delivered: u64,
    /// Announced deliveries that never arrived, and arrivals beyond them.
    pub(crate) lost: u64,
    pub(crate) extra: u64,
    /// Arrived after the window (still counted, not timed).
    pub(crate) after_window: u64,
    /// Arrived before an earlier message of the same publisher on the
    /// same connection.
    pub(crate) reordered: u64,
    /// Without a readable stamp.
    pub(crate) malformed: u64,
    /// Subscriber connections closed by the server during the run.
    pub(crate) subscribers_lost: u64,
    /// From the last PUBLISH reply to the last arrival.
    pub(crate) drain_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss: Option<RssReport>,
}

/// Resident memory of the process given by `--rss-pid`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RssReport {
    pub(crate) pid: u32,
    /// Before the subscribers connect.
    pub(crate) before_bytes: u64,
    /// Once every subscriber is subscribed (and a second has passed).
    pub(crate) subscribed_bytes: u64,
    /// After publishing and draining, subscribers still connected.
    pub(crate) after_bytes: u64,
    /// (subscribed - before) / subscriber connections.
    pub(crate) bytes_per_subscriber: f64,
}

impl RssReport {
    /// The figures of `pid` for `subscribers` connections.
    pub(crate) fn new(
        pid: u32,
        subscribers: usize,
        before: u64,
        subscribed: u64,
        after: u64,
    ) -> Self {
        RssReport {
            pid,
            before_bytes: before,
            subscribed_bytes: subscribed,
            after_bytes: after,
            bytes_per_subscriber: (subscribed as f64 - before as f64) / subscribers.max(1) as f64,
        }
    }
}

impl RunReport {
    /// Summarises a run's merged stats over `elapsed_secs` of measuring.
    pub(crate) fn new(workload: String, stats: &Stats, elapsed_secs: f64) -> RunReport {
        let rate = |n: u64| {
            if elapsed_secs > 0.0 {
                n as f64 / elapsed_secs
            } else {
                0.0
            }
        };
        let kinds = OpKind::ALL
            .iter()
            .filter_map(|&k| {
                let s = stats.kinds[k.index()].as_ref()?;
                Some(KindReport {
                    op: k.name(),
                    ops: s.latency.len(),
                    ops_per_sec: rate(s.latency.len()),
                    latency: Percentiles::of(&s.latency),
                })
            })
            .collect();
        RunReport {
            workload,
            elapsed_secs,
            ops: stats.ops(),
            ops_per_sec: rate(stats.ops()),
            errors: stats.error_replies(),
            error_kinds: stats.errors.clone(),
            io_errors: stats.io_errors,
            kinds,
            pubsub: None,
        }
    }
}

/// All runs against one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) runs: Vec<RunReport>,
}

/// The whole output of `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub clients: usize,
    pub pipeline: usize,
    pub keyspace: u64,
    pub data_size: usize,
    pub distribution: String,
    pub endpoints: Vec<EndpointReport>,
}

/// Table of one endpoint's runs.
pub fn table(e: &EndpointReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "endpoint {} ({})", e.name, e.addr);
    let _ = writeln!(
        out,
        "{:<10} {:<6} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "workload",
        "op",
        "ops",
        "ops/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors"
    );
    for run in &e.runs {
        for k in &run.kinds {
            let l = &k.latency;
            let _ = writeln!(
                out,
                "{:<10} {:<6} {:>10} {:>12.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8}",
                run.workload,
                k.op,
                k.ops,
                k.ops_per_sec,
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.p999_ms,
                l.max_ms,
                ""
            );
        }
        let kinds: Vec<String> = run
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<10} {:<6} {:>10} {:>12.1} {:>49} {:>8}  {}{}",
            run.workload,
            "total",
            run.ops,
            run.ops_per_sec,
            format!("{:.2}s", run.elapsed_secs),
            run.errors + run.io_errors,
            kinds.join(" "),
            if run.io_errors > 0 {
                format!(" io={}", run.io_errors)
            } else {
                String::new()
            },
        );
        if let Some(p) = &run.pubsub {
            out.push_str(&pubsub_lines(p));
        }
    }
    out
}

/// The pubsub figures under a run's rows.
fn pubsub_lines(p: &PubSubReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {} channels x {} subscribers ({} connections to {}), {} publishers, {} B messages, rate {}, in flight at most {}; subscribed in {:.2}s",
        p.channels,
        p.subscribers_per_channel,
        p.subscribers,
        p.subscriber_endpoints.join(" "),
        p.publishers,
        p.message_size,
        if p.rate > 0 { format!("{}/s", p.rate) } else { "unlimited".into() },
        if p.max_in_flight > 0 { p.max_in_flight.to_string() } else { "any".into() },
        p.subscribe_secs
    );
    let _ = writeln!(
        out,
        "  published {:.1}/s  delivered {:.1}/s  (whole run: published {}, announced {}, delivered {}, lost {}, extra {}; after the window {}, reordered {}, malformed {}, subscribers cut {}; drained in {:.2}s)",
        p.published_per_sec,
        p.delivered_per_sec,
        p.published,
        p.expected,
        p.delivered,
        p.lost,
        p.extra,
        p.after_window,
        p.reordered,
        p.malformed,
        p.subscribers_lost,
        p.drain_secs
    );
    if let Some(r) = &p.rss {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let _ = writeln!(
            out,
            "  RSS of pid {}: {:.1} MiB before subscribing, {:.1} MiB subscribed ({:.0} B per subscriber), {:.1} MiB after publishing",
            r.pid,
            mib(r.before_bytes),
            mib(r.subscribed_bytes),
            r.bytes_per_subscriber,
            mib(r.after_bytes)
        );
    }
    out
}

/// `value / base`, `None` when the base is zero.
pub(crate) fn ratio(value: f64, base: f64) -> Option<f64> {
    (base != 0.0).then(|| value / base)
}

/// Every figure of every endpoint, with its ratio to the first endpoint.
pub fn comparison(endpoints: &[EndpointReport]) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:<10} {:<6} {:<9}", "workload", "op", "figure");
    for (i, e) in endpoints.iter().enumerate() {
        if i == 0 {
            let _ = write!(out, " {:>14}", e.name);
        } else {
            let _ = write!(out, " {:>14} {:>7}", e.name, "ratio");
        }
    }
    out.push('\n');
    let Some(base) = endpoints.first() else {
        return out;
    };
    type Figure = (&'static str, fn(&KindReport) -> f64);
    let figures: [Figure; 6] = [
        ("ops/s", |k| k.ops_per_sec),
        ("p50 ms", |k| k.latency.p50_ms),
        ("p90 ms", |k| k.latency.p90_ms),
        ("p99 ms", |k| k.latency.p99_ms),
        ("p99.9 ms", |k| k.latency.p999_ms),
        ("max ms", |k| k.latency.max_ms),
    ];
    for (r, run) in base.runs.iter().enumerate() {
        for kind in &run.kinds {
            for (label, get) in &figures {
                let base_value = get(kind);
                let _ = write!(
                    out,
                    "{:<10} {:<6} {:<9} {:>14.3}",
                    run.workload, kind.op, label, base_value
                );
                for e in &endpoints[1..] {
                    let other = e
                        .runs
                        .get(r)
                        .and_then(|run| run.kinds.iter().find(|k| k.op == kind.op));
                    match other {
                        Some(k) => {
                            let v = get(k);
                            let ratio = ratio(v, base_value)
                                .map(|x| format!("{x:.2}x"))
                                .unwrap_or("-".into());
                            let _ = write!(out, " {v:>14.3} {ratio:>7}");
                        }
                        None => {
                            let _ = write!(out, " {:>14} {:>7}", "-", "-");
                        }
                    }
                }
                out.push('\n');
            }
        }
        if let Some(p) = &run.pubsub {
            let _ = write!(
                out,
                "{:<10} {:<6} {:<9} {:>14}",
                run.workload, "total", "lost", p.lost
            );
            for e in &endpoints[1..] {
                let lost = e
                    .runs
                    .get(r)
                    .and_then(|run| run.pubsub.as_ref())
                    .map(|p| p.lost);
                let lost = lost.map_or("-".to_string(), |n| n.to_string());
                let _ = write!(out, " {lost:>14} {:>7}", "");
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "{:<10} {:<6} {:<9} {:>14}",
            run.workload,
            "total",
            "errors",
            run.errors + run.io_errors
        );
        for e in &endpoints[1..] {
            let n = e
                .runs
                .get(r)
                .map(|run| run.errors + run.io_errors)
                .unwrap_or(0);
            let _ = write!(out, " {n:>14} {:>7}", "");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(us: u64, n: u64) -> RunReport {
        let mut s = Stats::default();
        for _ in 0..n {
            s.record(OpKind::Get, Duration::from_micros(us));
        }
        RunReport::new("get".into(), &s, 2.0)
    }

    #[test]
    fn throughput_and_ratios() {
        let r = run(100, 1000);
        assert_eq!(r.ops, 1000);
        assert_eq!(r.ops_per_sec, 500.0);
        assert_eq!(r.kinds[0].op, "get");
        assert!((r.kinds[0].latency.p50_ms - 0.1).abs() < 0.001);
        assert_eq!(ratio(50.0, 100.0), Some(0.5));
        assert_eq!(ratio(1.0, 0.0), None);
        let a = EndpointReport {
            name: "a".into(),
            addr: "h:1".into(),
            runs: vec![run(100, 1000)],
        };
        let b = EndpointReport {
            name: "b".into(),
            addr: "h:2".into(),
            runs: vec![run(200, 2000)],
        };
        let t = comparison(&[a.clone(), b]);
        let ops_line = t.lines().find(|l| l.contains("ops/s")).unwrap();
        assert!(ops_line.contains("2.00x"), "{t}");
        let p50_line = t.lines().find(|l| l.contains("p50")).unwrap();
        assert!(p50_line.contains("2.00x"), "{t}");
        assert!(table(&a).contains("total"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["runs"][0]["kinds"][0]["p50_ms"], 0.1);
    }
}
