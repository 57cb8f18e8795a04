//! `petrel onebox`: a whole cluster on 127.0.0.1 as separate child processes.
//!
//! Starts the metas (`--metas`, one Raft group, on consecutive ports from
//! `--meta-port`), then the servers, waits until meta sees them all, creates the
//! `default` table if it does not exist, starts the proxies (`--proxies`, on
//! consecutive ports from `--port`), and prints a line per process and
//! `ready` once every proxy answers commands on every partition. SIGINT/SIGTERM stop the children in reverse order. Data lives
//! under `--dir`, so running onebox again serves the same data.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::launch::{Cluster, ClusterSpec, Process, ServerSpec, TableSpec};

/// Flags of `petrel onebox`.
#[derive(Args, Debug)]
pub(crate) struct OneboxArgs {
    /// Directory for all data and logs.
    #[arg(long, default_value = "./petrel-data")]
    dir: PathBuf,
    /// Proxy port (Redis clients connect here); proxy i listens on this + i.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Number of proxies, each serving the whole cluster.
    #[arg(long, default_value_t = 1)]
    proxies: u16,
    /// Meta RPC port; meta i of the group listens on this + i.
    #[arg(long, default_value_t = 34601)]
    meta_port: u16,
    /// Number of metas, replicating meta's state with Raft (1, 3 or 5).
    #[arg(long, default_value_t = 1)]
    metas: u16,
    /// First server RPC port; server i listens on this + i.
    #[arg(long, default_value_t = 34801)]
    server_port: u16,
    /// Number of servers.
    #[arg(long, default_value_t = 3)]
    servers: u16,
    /// Partitions of the `default` table when onebox creates it.
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Replica count of the `default` table when onebox creates it; at most
    /// --servers [default: 3, or --servers when fewer]
    #[arg(long)]
    replicas: Option<u32>,
    /// How long meta waits after a server dies before it re-replicates that
    /// server's partitions on other servers (petrel-meta --dropout-delay-ms;
    /// meta's own default when omitted).
    #[arg(long)]
    dropout_delay_ms: Option<u64>,
    /// How long a server may serve after its last renewed beacon
    /// (petrel-meta --lease-ms; meta's own default when omitted).
    #[arg(long)]
    lease_ms: Option<u64>,
    /// How long meta waits without a beacon before it declares a server dead
    /// and fails its replicas over; must exceed the lease (petrel-meta
    /// --grace-ms; meta's own default when omitted).
    #[arg(long)]
    grace_ms: Option<u64>,
    /// Server durability: `sync` or `async`.
    #[arg(long, default_value = "sync")]
    durability: String,
    /// Where petrel-meta, petrel-server and petrel-proxy are (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Async runtime workers of each server and each proxy (their
    /// `worker_threads`); 0 shares this machine's cores among them: cores ÷
    /// (servers + proxies), at least 1.
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

/// Runtime workers for each server and proxy: `--worker-threads`, or
/// the cores shared among the processes onebox starts (they all compete
/// for the same cores, and idle workers woken across them cost more than
/// they bring).
fn workers_each(args: &OneboxArgs, cores: usize) -> usize {
    if args.worker_threads > 0 {
        return args.worker_threads;
    }
    (cores / (usize::from(args.servers) + usize::from(args.proxies))).max(1)
}

pub(crate) async fn run(args: OneboxArgs) -> anyhow::Result<()> {
    if !matches!(args.durability.as_str(), "sync" | "async") {
        bail!(
            "--durability must be 'sync' or 'async', not '{}'",
            args.durability
        );
    }
    if args.servers == 0 {
        bail!("--servers must be at least 1");
    }
    if args.proxies == 0 {
        bail!("--proxies must be at least 1");
    }
    if !matches!(args.metas, 1 | 3 | 5) {
        bail!(
            "--metas must be 1, 3 or 5 (a Raft group of {} tolerates no more failures than one of {})",
            args.metas,
            args.metas.saturating_sub(1).max(1)
        );
    }
    if u32::from(args.port) + u32::from(args.proxies) - 1 > u32::from(u16::MAX) {
        bail!(
            "--proxies {} from --port {} runs past port {}",
            args.proxies,
            args.port,
            u16::MAX
        );
    }
    let replicas = replica_count(&args)?;
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .context("locating the petrel binary")?
            .parent()
            .map(Path::to_path_buf)
            .context("the petrel binary has no parent directory")?,
    };
    let meta_addrs: Vec<String> = (0..args.metas)
        .map(|i| format!("127.0.0.1:{}", u32::from(args.meta_port) + u32::from(i)))
        .collect();
    let proxy_addrs: Vec<String> = (0..args.proxies)
        .map(|i| format!("127.0.0.1:{}", u32::from(args.port) + u32::from(i)))
        .collect();
    let server_addrs: Vec<String> = (0..args.servers)
        .map(|i| format!("127.0.0.1:{}", u32::from(args.server_port) + u32::from(i)))
        .collect();
    for a in &meta_addrs {
        check_port_free(a, "meta", "--meta-port")?;
    }
    for a in &server_addrs {
        check_port_free(a, "server", "--server-port")?;
    }
    for a in &proxy_addrs {
        check_port_free(a, "proxy", "--port")?;
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = workers_each(&args, cores).to_string();
    let spec = ClusterSpec {
        bin_dir,
        dir: args.dir.clone(),
        meta_addrs,
        meta_flags: meta_flags(&args),
        servers: server_addrs
            .into_iter()
            .map(|addr| ServerSpec {
                addr,
                flags: vec![
                    "--durability".into(),
                    args.durability.clone(),
                    "--worker-threads".into(),
                    workers.clone(),
                ],
            })
            .collect(),
        proxy_addrs,
        proxy_flags: vec!["--worker-threads".into(), workers],
        table: TableSpec {
            name: "default".into(),
            partitions: args.partitions,
            replicas,
        },
    };
    let mut cluster = Cluster::new(&spec)?;
    if let Err(e) = cluster.start(announce).await {
        stop(&mut cluster);
        return Err(e);
    }
    println!("ready");
    wait_for_stop(&mut cluster).await;
    stop(&mut cluster);
    println!("stopped");
    Ok(())
}

/// The `default` table's replica count: `--replicas`, else 3 capped by `--servers`.
fn replica_count(args: &OneboxArgs) -> anyhow::Result<u32> {
    let servers = u32::from(args.servers);
    match args.replicas {
        None => Ok(servers.min(3)),
        Some(0) => bail!("--replicas must be at least 1"),
        Some(r) if r > servers => bail!(
            "--replicas {r} needs at least {r} servers (replicas of a partition live on distinct servers); pass --servers {r}"
        ),
        Some(r) => Ok(r),
    }
}

/// petrel-meta's timing flags, only when given, so meta's defaults stay in one place.
fn meta_flags(args: &OneboxArgs) -> Vec<String> {
    let mut out = Vec::new();
    for (flag, value) in [
        ("--dropout-delay-ms", args.dropout_delay_ms),
        ("--lease-ms", args.lease_ms),
        ("--grace-ms", args.grace_ms),
    ] {
        if let Some(v) = value {
            out.push(flag.into());
            out.push(v.to_string());
        }
    }
    out
}

/// Prints `role address pid N` once a process is ready.
fn announce(p: &Process) {
    let pid = p
        .pid()
        .map(|id| id.to_string())
        .unwrap_or_else(|| "?".into());
    println!("{} pid {}", p.label(), pid);
}

fn check_port_free(addr: &str, role: &str, flag: &str) -> anyhow::Result<()> {
    match StdListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            bail!("{role} address {addr} is already in use; choose another port with {flag}")
        }
        Err(e) => Err(e).with_context(|| format!("checking {role} address {addr}")),
    }
}

/// Waits for SIGINT or SIGTERM, reporting children that exit meanwhile.
async fn wait_for_stop(cluster: &mut Cluster) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("petrel: cannot install signal handlers; stopping");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for p in cluster.processes_mut() {
                    if let Some(status) = p.exited() {
                        eprintln!("{} exited ({status})", p.label());
                    }
                }
            }
        }
    }
}

/// Stops the children in reverse start order: SIGTERM, then SIGKILL after 10 s.
fn stop(cluster: &mut Cluster) {
    for label in cluster.stop() {
        eprintln!("{label} did not stop in 10 s; killed it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        onebox: OneboxArgs,
    }

    fn args(flags: &[&str]) -> OneboxArgs {
        Cli::parse_from(std::iter::once("onebox").chain(flags.iter().copied())).onebox
    }

    #[test]
    fn the_cores_are_shared_among_servers_and_proxies() {
        // 3 servers + 1 proxy.
        assert_eq!(workers_each(&args(&[]), 2), 1);
        assert_eq!(workers_each(&args(&[]), 8), 2);
        assert_eq!(workers_each(&args(&[]), 16), 4);
        assert_eq!(workers_each(&args(&["--servers", "1"]), 8), 4);
        assert_eq!(workers_each(&args(&["--worker-threads", "3"]), 2), 3);
        // 3 servers + 3 proxies.
        assert_eq!(workers_each(&args(&["--proxies", "3"]), 2), 1);
        assert_eq!(workers_each(&args(&["--proxies", "3"]), 12), 2);
    }
}
