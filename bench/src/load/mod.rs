//! `petrel-bench`: a load generator for any RESP endpoint.
//!
//! - [`options`]: command-line flags and endpoints.
//! - [`keys`]: key distributions (uniform, YCSB zipfian, sequential).
//! - [`workloads`]: the commands each operation sends.
//! - [`client`]: RESP encoding, parsing and skimming of replies.
//! - [`event_loop`]: one client thread's connections on a readiness loop.
//! - [`pubsub`]: the pubsub workload (subscriber and publisher
//!   connections on tokio, delivery latency and loss).
//! - [`stats`]: per-kind HDR latency histograms and error counts.
//! - [`report`]: final table, comparison table and JSON.
//!
//! Each workload runs on its own: all clients connect, then load for
//! `--warmup` seconds unmeasured, then for `--duration` seconds (or until
//! `--requests` operations are claimed). Clients are spread over
//! `--threads` threads, each an event loop. A client sends `--pipeline`
//! requests at once, on its loop's next turn, and times each reply from
//! the moment the batch was written to the moment its bytes were seen
//! arriving, as redis-benchmark's event loop does. The pubsub workload
//! runs its own loop ([`pubsub`]).

pub(crate) mod client;
mod event_loop;
pub(crate) mod keys;
pub mod options;
mod pubsub;
pub mod report;
pub(crate) mod stats;
pub(crate) mod workloads;

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;

use event_loop::{ClientSeed, LoopConfig};
use keys::KeyGen;
use options::{Endpoint, Options, Workload};
use report::{EndpointReport, Report, RunReport};
use stats::Stats;
use workloads::OpGen;

/// Runs every workload against every endpoint.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    opts.validate()?;
    let mut endpoints = Vec::new();
    for e in opts.endpoints()? {
        endpoints.push(run_endpoint(opts, &e)?);
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
pub(crate) fn run_endpoint(opts: &Options, endpoint: &Endpoint) -> anyhow::Result<EndpointReport> {
    let addr = endpoint
        .addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", endpoint.addr))?
        .next()
        .ok_or_else(|| anyhow!("{} has no address", endpoint.addr))?;
    let mut runs = Vec::new();
    for &w in &opts.workload {
        runs.push(run_workload(opts, endpoint, addr, w)?);
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

/// Opens one client connection, ready for an event loop.
fn connect(addr: SocketAddr) -> std::io::Result<mio::net::TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    Ok(mio::net::TcpStream::from_std(stream))
}

/// `SCRIPT LOAD script` at `addr`, checking it answers `sha`.
fn load_script(addr: SocketAddr, script: &str, sha: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    stream.write_all(&client::encode(&[b"SCRIPT", b"LOAD", script.as_bytes()]))?;
    let want = format!("${}\r\n{sha}\r\n", sha.len());
    let mut got = vec![0u8; want.len()];
    stream.read_exact(&mut got)?;
    if got != want.as_bytes() {
        anyhow::bail!(
            "answered {:?}, not the script's SHA1 {sha}",
            String::from_utf8_lossy(&got)
        );
    }
    Ok(())
}

/// One workload against one endpoint.
fn run_workload(
    opts: &Options,
    endpoint: &Endpoint,
    addr: SocketAddr,
    workload: Workload,
) -> anyhow::Result<RunReport> {
    if workload == Workload::Pubsub {
        return pubsub::run(opts, endpoint, addr);
    }
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, opts.clients.max(1));
    if workload == Workload::Evalsha1p {
        load_script(addr, workloads::INCR_SCRIPT, workloads::INCR_SCRIPT_SHA)
            .with_context(|| format!("SCRIPT LOAD at {}", endpoint.addr))?;
    }
    // Client i runs on thread i % threads, with its own seed.
    let mut seeds: Vec<Vec<ClientSeed>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..opts.clients {
        let stream = connect(addr).with_context(|| format!("connecting to {}", endpoint.addr))?;
        seeds[i % threads].push(ClientSeed {
            stream: Some(stream),
            rng: StdRng::seed_from_u64(opts.seed.wrapping_add(i as u64)),
        });
    }
    let keys = KeyGen::new(opts.distribution, opts.keyspace);
    let config = LoopConfig {
        addr,
        gen: OpGen::new(
            workload,
            keys,
            &opts.key_prefix,
            opts.data_size,
            opts.partitions,
        ),
        pipeline: opts.pipeline,
        latency: opts.latency,
        rate: opts.rate as f64 / opts.clients as f64,
    };
    let measure_from = Instant::now() + opts.warmup();
    let shared = Shared {
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
    };
    let label = format!("{} {}", endpoint.name, workload.name());
    let (stats, end) = std::thread::scope(|scope| {
        let (stop, stopped) = mpsc::channel::<()>();
        let progress = (!opts.quiet).then(|| scope.spawn(|| progress(&label, &shared, stopped)));
        let loops: Vec<_> = seeds
            .into_iter()
            .map(|clients| {
                let (config, shared) = (&config, &shared);
                scope.spawn(move || event_loop::run(config, shared, clients))
            })
            .collect();
        let mut stats = Stats::default();
        let mut end = measure_from;
        let mut failure = None;
        for l in loops {
            match l.join() {
                Ok(Ok((s, finished))) => {
                    stats.merge(&s);
                    end = end.max(finished);
                }
                Ok(Err(e)) => failure = Some(anyhow::Error::new(e).context("client event loop")),
                Err(_) => failure = Some(anyhow!("a client thread panicked")),
            }
        }
        drop(stop);
        if let Some(p) = progress {
            let _ = p.join();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((stats, end)),
        }
    })?;
    let elapsed = end.saturating_duration_since(measure_from).as_secs_f64();
    Ok(RunReport::new(workload.name(), &stats, elapsed))
}

/// Prints the current rate, total and errors on stderr once a second,
/// until `stop` is dropped.
fn progress(label: &str, shared: &Shared, stop: mpsc::Receiver<()>) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last = 0;
    let mut printed = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_secs(1)) {
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
