//! `petrel-bench`: a load generator for any RESP endpoint.
//!
//! - [`options`]: command-line flags and endpoints.
//! - [`keys`]: key distributions (uniform, YCSB zipfian, sequential).
//! - [`workloads`]: the commands each operation sends.
//! - [`client`]: RESP encoding and parsing, a pipelining connection.
//! - [`stats`]: per-kind HDR latency histograms and error counts.
//! - [`report`]: final table, comparison table and JSON.
//!
//! Each workload runs on its own: all clients connect, then load for
//! `--warmup` seconds unmeasured, then for `--duration` seconds (or until
//! `--requests` operations are claimed). A client sends `--pipeline`
//! requests at once, on its loop's next turn, and times each reply from
//! the moment the batch was written to the moment its bytes were seen
//! arriving, as redis-benchmark's event loop does.

pub mod client;
pub mod keys;
pub mod options;
pub mod report;
pub mod stats;
pub mod workloads;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::Notify;

use client::Conn;
use keys::KeyGen;
use options::{Endpoint, Latency, Options, Workload};
use report::{EndpointReport, Report, RunReport};
use stats::Stats;
use workloads::{Op, OpGen, OpKind};

/// Pause before reconnecting after a connection failure.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Runs every workload against every endpoint.
pub async fn run(opts: &Options) -> anyhow::Result<Report> {
    opts.validate()?;
    let mut endpoints = Vec::new();
    for e in opts.endpoints()? {
        endpoints.push(run_endpoint(opts, &e).await?);
    }
    Ok(Report {
        clients: opts.clients,
        pipeline: opts.pipeline,
        keyspace: opts.keyspace,
        data_size: opts.data_size,
        distribution: format!("{:?}", opts.distribution).to_lowercase(),
        endpoints,
    })
}

/// Runs every workload against one endpoint.
pub async fn run_endpoint(opts: &Options, endpoint: &Endpoint) -> anyhow::Result<EndpointReport> {
    let mut runs = Vec::new();
    for &w in &opts.workload {
        runs.push(run_workload(opts, endpoint, w).await?);
    }
    Ok(EndpointReport {
        name: endpoint.name.clone(),
        addr: endpoint.addr.clone(),
        runs,
    })
}

/// State shared by the clients of one run.
struct Shared {
    measure_from: Instant,
    deadline: Option<Instant>,
    /// Operations left to claim in `--requests` mode.
    remaining: Option<AtomicI64>,
    /// For the progress line.
    done: AtomicU64,
    errors: AtomicU64,
}

impl Shared {
    /// How many of `want` operations to send next with whether they are
    /// measured; `None` when the run is over.
    fn claim(&self, want: usize) -> Option<(usize, bool)> {
        let now = Instant::now();
        if now < self.measure_from {
            return Some((want, false));
        }
        if self.deadline.is_some_and(|d| now >= d) {
            return None;
        }
        match &self.remaining {
            Some(left) => {
                let before = left.fetch_sub(want as i64, Ordering::SeqCst);
                (before > 0).then(|| ((before as usize).min(want), true))
            }
            None => Some((want, true)),
        }
    }
}

/// One workload against one endpoint.
async fn run_workload(
    opts: &Options,
    endpoint: &Endpoint,
    workload: Workload,
) -> anyhow::Result<RunReport> {
    let mut conns = Vec::with_capacity(opts.clients);
    for _ in 0..opts.clients {
        let conn = Conn::connect(&endpoint.addr)
            .await
            .with_context(|| format!("connecting to {}", endpoint.addr))?;
        conns.push(conn);
    }
    let keys = KeyGen::new(opts.distribution, opts.keyspace);
    let gen = OpGen::new(workload, keys, &opts.key_prefix, opts.data_size);
    let measure_from = Instant::now() + opts.warmup();
    let shared = Arc::new(Shared {
        measure_from,
        deadline: opts
            .requests
            .is_none()
            .then(|| measure_from + opts.duration()),
        remaining: opts
            .requests
            .map(|n| AtomicI64::new(n.min(i64::MAX as u64) as i64)),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let per_client_rate = opts.rate as f64 / opts.clients as f64;
    let mut tasks = Vec::with_capacity(opts.clients);
    for (i, conn) in conns.into_iter().enumerate() {
        let client = Client {
            addr: endpoint.addr.clone(),
            gen: gen.clone(),
            shared: shared.clone(),
            rng: StdRng::seed_from_u64(opts.seed.wrapping_add(i as u64)),
            pipeline: opts.pipeline,
            latency: opts.latency,
            rate: per_client_rate,
        };
        tasks.push(tokio::spawn(client.run(conn)));
    }
    let stop = Arc::new(Notify::new());
    let progress = (!opts.quiet).then(|| {
        tokio::spawn(progress(
            format!("{} {}", endpoint.name, workload.name()),
            shared.clone(),
            stop.clone(),
        ))
    });
    let mut stats = Stats::default();
    let mut end = measure_from;
    for t in tasks {
        let (s, finished) = t.await.context("client task failed")?;
        stats.merge(&s);
        end = end.max(finished);
    }
    // notify_one keeps a permit, so the progress task sees it even if it is
    // not waiting right now.
    stop.notify_one();
    if let Some(p) = progress {
        let _ = p.await;
    }
    let elapsed = end.saturating_duration_since(measure_from).as_secs_f64();
    Ok(RunReport::new(workload.name(), &stats, elapsed))
}

/// One connection's load loop.
struct Client {
    addr: String,
    gen: OpGen,
    shared: Arc<Shared>,
    rng: StdRng,
    pipeline: usize,
    latency: Latency,
    /// Operations per second for this client, 0 for unlimited.
    rate: f64,
}

impl Client {
    /// Loads until the run is over; returns what it measured and when it
    /// finished its last operation.
    async fn run(mut self, conn: Conn) -> (Stats, Instant) {
        let mut conn = Some(conn);
        let mut stats = Stats::default();
        let mut ops: Vec<Op> = Vec::with_capacity(self.pipeline);
        let mut buf = Vec::new();
        let started = Instant::now();
        let mut sent = 0u64;
        let mut last = self.shared.measure_from;
        while let Some((n, measured)) = self.shared.claim(self.pipeline) {
            if self.rate > 0.0 {
                let due = started + Duration::from_secs_f64(sent as f64 / self.rate);
                tokio::time::sleep_until(due.into()).await;
                sent += n as u64;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match Conn::connect(&self.addr).await {
                    Ok(c) => conn.insert(c),
                    Err(_) => {
                        self.lost(&mut stats, n, measured).await;
                        continue;
                    }
                },
            };
            ops.clear();
            buf.clear();
            for _ in 0..n {
                let op = self.gen.next(&mut self.rng);
                buf.extend_from_slice(&op.first);
                ops.push(op);
            }
            let record = measured.then_some(&mut stats);
            match round_trip(c, &ops, &mut buf, record, self.latency).await {
                Ok(errors) => {
                    self.shared.done.fetch_add(n as u64, Ordering::Relaxed);
                    self.shared.errors.fetch_add(errors, Ordering::Relaxed);
                    if measured {
                        last = Instant::now();
                    }
                }
                Err(_) => {
                    conn = None;
                    self.lost(&mut stats, n, measured).await;
                }
            }
        }
        (stats, last)
    }

    /// Counts `n` operations lost to a connection failure and backs off.
    async fn lost(&self, stats: &mut Stats, n: usize, measured: bool) {
        if measured {
            stats.io_errors += n as u64;
        }
        self.shared.errors.fetch_add(n as u64, Ordering::Relaxed);
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// Sends a batch and reads its replies (then the second requests of
/// read-modify-write operations); records latencies from the first write.
/// Returns the number of error replies.
async fn round_trip(
    conn: &mut Conn,
    ops: &[Op],
    buf: &mut Vec<u8>,
    mut stats: Option<&mut Stats>,
    latency: Latency,
) -> std::io::Result<u64> {
    // Send on the client loop's next turn, after every connection whose
    // replies are already in has been read, as an event-loop client
    // (redis-benchmark) does: the batch's clock starts when it is written,
    // not while it waits for the loop. Sending at once instead charged the
    // loop's time to the new batch (p50 at pipeline 16 was 1.5x
    // redis-benchmark's against the same server).
    tokio::task::yield_now().await;
    let t0 = Instant::now();
    conn.send(buf).await?;
    let mut errors = read_replies(
        conn,
        ops.iter().map(|op| (op.kind, op.then.is_none())),
        t0,
        stats.as_deref_mut(),
        latency,
    )
    .await?;
    buf.clear();
    for then in ops.iter().filter_map(|op| op.then.as_ref()) {
        buf.extend_from_slice(then);
    }
    if buf.is_empty() {
        return Ok(errors);
    }
    conn.send(buf).await?;
    let seconds = ops.iter().filter(|op| op.then.is_some());
    errors += read_replies(conn, seconds.map(|op| (op.kind, true)), t0, stats, latency).await?;
    Ok(errors)
}

/// Reads one reply per `(kind, record)` in order, counting error replies
/// and recording the latency of those marked `record` (from `t0`, or to
/// the first of these replies, per `latency`). Returns the error count.
async fn read_replies(
    conn: &mut Conn,
    ops: impl Iterator<Item = (OpKind, bool)>,
    t0: Instant,
    mut stats: Option<&mut Stats>,
    latency: Latency,
) -> std::io::Result<u64> {
    let mut errors = 0;
    let mut first = None;
    for (kind, record) in ops {
        let error = conn.reply_error().await?;
        let elapsed = conn.read_at().saturating_duration_since(t0);
        let first = *first.get_or_insert(elapsed);
        if let Some(e) = error {
            errors += 1;
            if let Some(s) = stats.as_deref_mut() {
                s.error(&e);
            }
        }
        if record {
            if let Some(s) = stats.as_deref_mut() {
                s.record(kind, latency.pick(first, elapsed));
            }
        }
    }
    Ok(errors)
}

/// Prints the current rate, total and errors on stderr once a second.
async fn progress(label: String, shared: Arc<Shared>, stop: Arc<Notify>) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    let mut printed = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.notified() => break,
        }
        let done = shared.done.load(Ordering::Relaxed);
        let errors = shared.errors.load(Ordering::Relaxed);
        let phase = if Instant::now() < shared.measure_from {
            " (warmup)"
        } else {
            ""
        };
        let line = format!(
            "{label}: {:>5.0}s  {:>10} ops/s  total {:>10}  errors {}{phase}",
            start.elapsed().as_secs_f64(),
            done - last,
            done,
            errors
        );
        last = done;
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        printed = true;
    }
    if tty && printed {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
}
