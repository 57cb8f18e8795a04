//! The pubsub workload: messages per second and publish-to-delivery
//! latency through any RESP endpoint, with subscribers on other endpoints
//! if asked (a message published through one Petrel proxy and delivered
//! by another).
//!
//! - [`wire`]: the stamp each message carries and the frames subscribers read.
//! - [`tally`]: the clock, the window, and what is counted.
//! - [`subscriber`]: the subscriber connections, one task each.
//! - [`publisher`]: the publisher connections.
//!
//! A run: every subscriber connects and subscribes (`--channels` x
//! `--subscribers-per-channel` connections, spread over `--subscribe-to`);
//! then the publishers publish for `--warmup` + `--duration` seconds
//! (at `--rate`, and holding back while `--max-in-flight` deliveries are
//! due);
//! then the run waits for the deliveries still due, until every delivery
//! the PUBLISH replies announced has arrived or none arrived for
//! `--drain` seconds. With `--rss-pid`, that process's resident memory is
//! read before the subscribers connect, once they are in, and at the end.

mod publisher;
mod subscriber;
mod tally;
mod wire;

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio_util::sync::CancellationToken;

use super::options::{Endpoint, Options};
use super::report::{PubSubReport, RssReport, RunReport};
use super::stats::Stats;
use super::workloads::OpKind;

use tally::{Clock, Deliveries, Progress, Window};

/// Longest wait for every subscriber to be confirmed.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between the last confirmation and the subscribed RSS reading,
/// so allocations made on the way settle.
const RSS_SETTLE: Duration = Duration::from_secs(1);
/// File descriptors kept free beyond the connections.
const SPARE_FDS: u64 = 64;

/// Runs the pubsub workload, publishers connecting to `addr`.
pub(crate) fn run(
    opts: &Options,
    endpoint: &Endpoint,
    addr: SocketAddr,
) -> anyhow::Result<RunReport> {
    let sub_endpoints = if opts.subscribe_to.is_empty() {
        vec![endpoint.addr.clone()]
    } else {
        opts.subscribe_to.clone()
    };
    let sub_addrs = sub_endpoints
        .iter()
        .map(|e| {
            e.to_socket_addrs()
                .with_context(|| format!("resolving {e}"))?
                .next()
                .ok_or_else(|| anyhow!("{e} has no address"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let channels: Vec<Vec<u8>> = (0..opts.channels)
        .map(|i| format!("{}chan:{i:06}", opts.key_prefix).into_bytes())
        .collect();
    let total = opts.channels * opts.subscribers_per_channel;
    raise_fd_limit(total as u64 + opts.publishers as u64 + SPARE_FDS)?;
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, total);
    let label = format!("{} pubsub", endpoint.name);
    let say = |line: String| {
        if !opts.quiet {
            progress_line(&line);
        }
    };
    let rss = |pid: u32| rss_bytes(pid).with_context(|| format!("reading the RSS of pid {pid}"));
    let rss_before = opts.rss_pid.map(rss).transpose()?;

    // Subscriber j listens to channel j % channels through endpoint j % endpoints.
    let mut plans: Vec<Vec<subscriber::Subscriber>> = (0..threads).map(|_| Vec::new()).collect();
    for j in 0..total {
        plans[j % threads].push(subscriber::Subscriber {
            addr: sub_addrs[j % sub_addrs.len()],
            channel: channels[j % channels.len()].clone(),
        });
    }
    let clock = Clock::new();
    let progress = Arc::new(Progress::default());
    let common = Arc::new(subscriber::Common {
        clock,
        progress: progress.clone(),
        stop: CancellationToken::new(),
    });
    let mut subscribers = Vec::new();
    for (i, plan) in plans.into_iter().enumerate() {
        match subscriber::spawn(format!("subscribers-{i}"), common.clone(), plan) {
            Ok(h) => subscribers.push(h),
            Err(e) => {
                common.stop.cancel();
                join_subscribers(subscribers);
                return Err(e).context("starting a subscriber thread");
            }
        }
    }
    // Stops and joins the subscribers before an early return.
    let abort = |subscribers, why: anyhow::Error| -> anyhow::Error {
        common.stop.cancel();
        join_subscribers(subscribers);
        why
    };

    let started = Instant::now();
    let mut said = Instant::now();
    loop {
        let n = progress.subscribed.load(Relaxed);
        if n == total {
            break;
        }
        if let Some(why) = progress.failure() {
            return Err(abort(
                subscribers,
                anyhow!("{why} ({n} of {total} subscribed)"),
            ));
        }
        if started.elapsed() > SUBSCRIBE_TIMEOUT {
            return Err(abort(
                subscribers,
                anyhow!("only {n} of {total} subscribers confirmed within {SUBSCRIBE_TIMEOUT:?}"),
            ));
        }
        if said.elapsed() >= Duration::from_secs(1) {
            said = Instant::now();
            say(format!("{label}: subscribing {n}/{total}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let subscribe_secs = started.elapsed().as_secs_f64();
    let rss_subscribed = match opts.rss_pid {
        Some(pid) => {
            std::thread::sleep(RSS_SETTLE);
            Some(rss(pid).map_err(|e| abort(std::mem::take(&mut subscribers), e))?)
        }
        None => None,
    };

    let from = clock.now() + u64::try_from(opts.warmup().as_nanos()).unwrap_or(u64::MAX);
    let window = Window {
        from,
        to: from.saturating_add(u64::try_from(opts.duration().as_nanos()).unwrap_or(u64::MAX)),
    };
    let _ = progress.window.set(window);
    let plan = Arc::new(publisher::Plan {
        addr,
        channels: Arc::new(channels),
        publishers: opts.publishers,
        pipeline: opts.pipeline,
        message_size: opts.data_size,
        rate: opts.rate,
        max_in_flight: opts.max_in_flight,
        clock,
        window,
        progress: progress.clone(),
    });
    let publishing = match publisher::spawn(plan) {
        Ok(h) => h,
        Err(e) => {
            return Err(abort(
                subscribers,
                anyhow!(e).context("starting the publishers"),
            ))
        }
    };
    let (mut last_pub, mut last_del) = (0, 0);
    let mut tick = Instant::now();
    while !publishing.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        if tick.elapsed() >= Duration::from_secs(1) {
            tick = Instant::now();
            let (p, d) = (
                progress.published.load(Relaxed),
                progress.delivered.load(Relaxed),
            );
            let phase = if clock.now() < window.from {
                " (warmup)"
            } else {
                ""
            };
            say(format!(
                "{label}: {:>9} published/s {:>10} delivered/s{phase}",
                p - last_pub,
                d - last_del
            ));
            (last_pub, last_del) = (p, d);
        }
    }
    let pubs = match publishing.join() {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(abort(subscribers, e.context("publisher"))),
        Err(_) => return Err(abort(subscribers, anyhow!("the publisher thread panicked"))),
    };

    // The deliveries still due: until all have come, or none for --drain.
    let mut seen = progress.delivered.load(Relaxed);
    let mut moved = Instant::now();
    while seen < pubs.expected && moved.elapsed() < opts.drain() {
        std::thread::sleep(Duration::from_millis(10));
        let now = progress.delivered.load(Relaxed);
        if now != seen {
            (seen, moved) = (now, Instant::now());
        }
    }
    let rss_after = opts.rss_pid.map(rss).transpose();
    common.stop.cancel();
    let deliveries = join_subscribers(subscribers);
    if let Some(why) = progress.failure() {
        bail!("{why}");
    }
    let rss_after = rss_after?;
    if !opts.quiet && std::io::stderr().is_terminal() {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }

    let mut stats = Stats::default();
    stats.merge(&pubs.stats);
    stats.merge(&deliveries.stats);
    let mut report = RunReport::new("pubsub".into(), &stats, window.secs());
    let count = |kind: OpKind| {
        stats.kinds[kind.index()]
            .as_ref()
            .map_or(0, |k| k.latency.len())
    };
    let rate = |n: u64| n as f64 / window.secs().max(f64::MIN_POSITIVE);
    report.ops = count(OpKind::Publish);
    report.ops_per_sec = rate(report.ops);
    let (lost, extra) = tally::loss(pubs.expected, deliveries.received);
    report.pubsub = Some(PubSubReport {
        channels: opts.channels,
        subscribers_per_channel: opts.subscribers_per_channel,
        subscribers: total,
        subscriber_endpoints: sub_endpoints,
        publishers: opts.publishers,
        message_size: opts.data_size.max(wire::STAMP_LEN),
        rate: opts.rate,
        max_in_flight: opts.max_in_flight,
        subscribe_secs,
        published_per_sec: rate(count(OpKind::Publish)),
        delivered_per_sec: rate(count(OpKind::Deliver)),
        published: pubs.replies,
        expected: pubs.expected,
        delivered: deliveries.received,
        lost,
        extra,
        after_window: deliveries.after_window,
        reordered: deliveries.reordered,
        malformed: deliveries.malformed,
        subscribers_lost: deliveries.subscribers_lost,
        drain_secs: deliveries.last_arrival.saturating_sub(pubs.last_reply) as f64 / 1e9,
        rss: match (opts.rss_pid, rss_before, rss_subscribed, rss_after) {
            (Some(pid), Some(b), Some(s), Some(a)) => Some(RssReport::new(pid, total, b, s, a)),
            _ => None,
        },
    });
    Ok(report)
}

/// Waits for the subscriber threads (told to stop) and adds up their counts.
fn join_subscribers(threads: Vec<std::thread::JoinHandle<Deliveries>>) -> Deliveries {
    let mut all = Deliveries::default();
    for t in threads {
        match t.join() {
            Ok(d) => all.merge(&d),
            Err(_) => all.subscribers_lost += 1,
        }
    }
    all
}

/// A progress line on stderr (redrawn in place on a terminal).
fn progress_line(line: &str) {
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let _ = write!(err, "\r{line}\x1b[K");
    } else {
        let _ = writeln!(err, "{line}");
    }
    let _ = err.flush();
}

/// Raises this process's open-file limit to `want` (up to the hard
/// limit): ten thousand subscribers need ten thousand sockets.
fn raise_fd_limit(want: u64) -> anyhow::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    if lim.rlim_cur >= want {
        return Ok(());
    }
    if lim.rlim_max < want {
        bail!(
            "this run needs {want} open files and the hard limit is {}: raise it (ulimit -Hn, as root) or use fewer subscribers",
            lim.rlim_max
        );
    }
    lim.rlim_cur = want;
    // SAFETY: a valid rlimit with cur <= max.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setrlimit(RLIMIT_NOFILE)");
    }
    Ok(())
}

/// Resident memory of `pid`, in bytes.
fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    vm_rss(&status).ok_or_else(|| anyhow!("no VmRSS line in /proc/{pid}/status"))
}

/// The `VmRSS:   1234 kB` line of a `/proc/PID/status`, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next()? {
        "kB" => n.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_from_proc_status() {
        let status =
            "Name:\tpetrel-proxy\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(vm_rss(status), Some(12345 * 1024));
        assert_eq!(vm_rss("VmRSS: 12 MB\n"), None);
        assert_eq!(vm_rss("Name: x\n"), None);
        assert_eq!(vm_rss("VmRSS:\n"), None);
        let me = rss_bytes(std::process::id()).unwrap();
        assert!(me > 1024 * 1024, "{me}");
    }

    #[test]
    fn the_fd_limit_is_kept_when_high_enough() {
        raise_fd_limit(16).unwrap();
    }
}
