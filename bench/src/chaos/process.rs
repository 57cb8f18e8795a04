//! The `petrel-chaos` binary: a Jepsen-style run against a real Petrel
//! cluster. `src/bin/petrel-chaos.rs` calls [`main`]; so does petrel-tests'
//! copy of the binary (`tests/`).
//!
//! Starts meta, servers and a proxy, runs client workers through the proxy
//! while a seeded nemesis injects faults, heals, reads every key, then checks
//! the history (per-key linearizability, no lost acknowledged write,
//! counters within bounds) and that every replica is identical. Exit status
//! 0 only when nothing is wrong. See docs/CONSISTENCY.md.

use std::path::PathBuf;
use std::time::Duration;

use super::cluster::ClusterSpec;
use super::history::History;
use super::multikey::{MultiKeyArgs, MultiRecord};
use super::nemesis::Kind;
use super::run::{plan, run, RunSpec};
use super::workload::Workload;
use anyhow::{bail, Context};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "petrel-chaos",
    about = "Faults against a real Petrel cluster, and checks of what clients saw"
)]
struct Args {
    /// Seed of the fault schedule and the workload (random when omitted; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// How long clients run and faults happen: `90s`, `10m`, `1h` or seconds.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Fault kinds, comma-separated: kill-primary, kill, pause, meta (kill
    /// -9 every meta, restarted later), delay, loss, kill-proxy,
    /// kill-record-primary, kill-meta-leader, pause-meta-leader, add-server,
    /// drain, split-table; with --netns partition-primary, partition-meta,
    /// partition-proxy, split, one-way, partition-meta-leader; with
    /// --host-faults clock, fsync, disk-full. Default: every kind the flags
    /// allow (kill-proxy and kill-record-primary only with --multikey, the
    /// meta leader's with --metas 3 or 5, add-server and drain with
    /// --spare-servers, split-table with --splits).
    #[arg(long)]
    nemesis: Option<String>,
    /// Run every process in its own network namespace (root only), which
    /// the network faults need.
    #[arg(long)]
    netns: bool,
    /// Start servers under libfaketime and libfiu (Debian faketime,
    /// fiu-utils), each on its own small tmpfs disk: the clock, fsync and
    /// disk-full faults need it.
    #[arg(long)]
    host_faults: bool,
    /// Size of each server's tmpfs disk with --host-faults, in MiB.
    #[arg(long, default_value_t = 2048)]
    disk_mb: u64,
    /// Servers in the cluster.
    #[arg(long, default_value_t = 3)]
    servers: usize,
    /// Servers prepared but not started: the add-server nemesis starts them
    /// one at a time (and add-server and drain are drawn by default).
    #[arg(long, default_value_t = 0)]
    spare_servers: usize,
    /// Splits the split-table nemesis may do: it doubles the table's
    /// partitions online, up to --partitions times 2^N (and split-table is
    /// drawn by default).
    #[arg(long, default_value_t = 0)]
    splits: u32,
    /// Draw every enabled fault kind once first (in an order the seed
    /// picks), then at random as usual: a long enough run injects each.
    #[arg(long)]
    every_kind: bool,
    /// Metas in the meta group (1, 3 or 5); with more than one, the meta
    /// leader's nemeses are drawn by default.
    #[arg(long, default_value_t = 1)]
    metas: usize,
    /// Partitions of the test table.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Replica count of the test table.
    #[arg(long, default_value_t = 3)]
    replicas: u32,
    /// Concurrent client workers.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Keys of each kind (registers, counters) in one window.
    #[arg(long, default_value_t = 4)]
    keys: usize,
    /// Seconds the workers stay on one window of keys.
    #[arg(long, default_value_t = 10)]
    rotate_secs: u64,
    /// First of the 127.0.0.1 ports the cluster uses (meta, proxy, servers).
    #[arg(long, default_value_t = 38100)]
    base_port: u16,
    /// Data and logs directory (default: a fresh directory under /tmp, kept).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where petrel-meta, petrel-server, petrel-proxy and petrel are
    /// (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Only print the fault schedule the seed draws, then exit.
    #[arg(long)]
    plan_only: bool,
    /// Check a history saved by an earlier run (history.jsonl) and exit.
    #[arg(long)]
    check: Option<PathBuf>,
    #[command(flatten)]
    multikey: MultiKeyArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90s, 10m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{s}': use s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

/// The `petrel-chaos` binary's `main`.
pub fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.check {
        let history =
            History::read_jsonl(path).with_context(|| format!("reading {}", path.display()))?;
        let report = super::checker::check(&history, super::checker::Budget::default());
        println!("{report}");
        std::process::exit(if report.is_ok() { 0 } else { 1 });
    }
    if let Some(path) = &args.multikey.check_multikey {
        let record = MultiRecord::load(path)?;
        let report = super::multikey::check(&record);
        println!("{report}");
        std::process::exit(if report.is_ok() { 0 } else { 1 });
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    // Meta refuses more than 65536 partitions; so does this.
    let max_partitions = u32::try_from(u64::from(args.partitions) << args.splits.min(32))
        .ok()
        .filter(|m| *m <= 1 << 16)
        .context("--splits doubles --partitions past 65536")?;
    let multikey = args.multikey.spec(args.partitions, max_partitions)?;
    let default_kinds = Kind::defaults(
        args.netns,
        args.host_faults,
        multikey.any(),
        args.metas > 1,
        args.spare_servers > 0,
        args.splits > 0,
    )
    .iter()
    .map(|k| k.name())
    .collect::<Vec<_>>()
    .join(",");
    let nemesis = args.nemesis.clone().unwrap_or(default_kinds);
    let mut kinds = Vec::new();
    for name in nemesis.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Kind::parse(name) {
            Some(k) => kinds.push(k),
            None => bail!(
                "unknown nemesis '{name}'; known: {}",
                Kind::all()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if let Some(k) = kinds.iter().find(|k| k.needs_netns() && !args.netns) {
        bail!("nemesis '{}' needs --netns", k.name());
    }
    if let Some(k) = kinds
        .iter()
        .find(|k| k.needs_host_faults() && !args.host_faults)
    {
        bail!("nemesis '{}' needs --host-faults", k.name());
    }
    if kinds.contains(&Kind::SplitTable) && args.splits == 0 {
        bail!("nemesis 'split-table' needs --splits N (how often it may split)");
    }
    if args.replicas as usize > args.servers || args.replicas == 0 {
        bail!("--replicas must be between 1 and --servers");
    }
    let bin_dir = match args.bin_dir.clone() {
        Some(d) => d,
        None => std::env::current_exe()?
            .parent()
            .context("the binary has no directory")?
            .to_path_buf(),
    };
    let dir = match args.dir.clone() {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("petrel-chaos-{seed}-{}", std::process::id())),
    };
    let spec = RunSpec {
        seed,
        duration: args.duration,
        kinds,
        cluster: ClusterSpec {
            bin_dir,
            dir: dir.clone(),
            servers: args.servers,
            spare_servers: args.spare_servers,
            metas: args.metas,
            partitions: args.partitions,
            max_partitions,
            replicas: args.replicas,
            base_port: args.base_port,
            meta_args: Vec::new(),
            netns: args.netns,
            host_faults: args.host_faults,
            disk_mb: args.disk_mb,
            seed,
        },
        workload: Workload {
            workers: args.workers,
            keys: args.keys,
            rotate: Duration::from_secs(args.rotate_secs.max(1)),
            op_timeout: Duration::from_secs(6),
            think: Duration::from_millis(2),
        },
        history_out: Some(dir.join("history.jsonl")),
        multikey,
        every_kind: args.every_kind,
    };
    println!(
        "petrel-chaos seed {seed}, duration {:?}, data in {}",
        spec.duration,
        dir.display()
    );
    let steps = plan(&spec);
    println!("schedule ({} faults):", steps.len());
    for s in &steps {
        println!(
            "  at {:>7.1}s for {:>5.1}s: {}",
            s.at.as_secs_f64(),
            s.lasts.as_secs_f64(),
            s.fault
        );
    }
    if args.plan_only {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(run(spec))?;
    println!();
    println!(
        "run: {} operations, {} faults injected; history in {}",
        result.ops,
        result.faults,
        dir.join("history.jsonl").display()
    );
    println!("{}", result.report);
    println!(
        "verify: {}",
        if result.verify_ok {
            "replicas identical"
        } else {
            "REPLICAS DIFFER OR UNSETTLED"
        }
    );
    if !result.verify_ok {
        println!("{}", result.verify_output);
    }
    if result.ok {
        println!("petrel-chaos: OK (seed {seed})");
        Ok(())
    } else {
        println!("petrel-chaos: VIOLATIONS FOUND (seed {seed})");
        std::process::exit(1);
    }
}
