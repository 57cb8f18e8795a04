//! `petrel onebox`: a whole cluster on 127.0.0.1 as separate child processes.
//!
//! Starts meta, then the servers, waits until meta sees them all, creates the
//! `default` table if it does not exist, starts the proxy, and prints a line
//! per process and `ready` once the proxy answers commands on every
//! partition. SIGINT/SIGTERM stop the children in reverse order. Data lives
//! under `--dir`, so running onebox again serves the same data.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use petrel_common::msg::{
    method, CreateTableRequest, CreateTableResponse, ListNodesRequest, ListNodesResponse,
    QueryTableRequest, QueryTableResponse,
};
use petrel_common::rpc::client::RpcClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const RPC_TIMEOUT: Duration = Duration::from_secs(2);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Flags of `petrel onebox`.
#[derive(Args, Debug)]
pub struct OneboxArgs {
    /// Directory for all data and logs.
    #[arg(long, default_value = "./petrel-data")]
    dir: PathBuf,
    /// Proxy port (Redis clients connect here).
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Meta RPC port.
    #[arg(long, default_value_t = 34601)]
    meta_port: u16,
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
    /// Async runtime workers of each server and of the proxy (their
    /// `worker_threads`); 0 shares this machine's cores among them: cores ÷
    /// (servers + 1), at least 1.
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

/// Runtime workers for each server and the proxy: `--worker-threads`, or
/// the cores shared among the processes onebox starts (they all compete
/// for the same cores, and idle workers woken across them cost more than
/// they bring).
fn workers_each(args: &OneboxArgs, cores: usize) -> usize {
    if args.worker_threads > 0 {
        return args.worker_threads;
    }
    (cores / (usize::from(args.servers) + 1)).max(1)
}

/// A started child and how to name it.
struct Proc {
    role: &'static str,
    addr: String,
    child: Child,
}

pub async fn run(args: OneboxArgs) -> anyhow::Result<()> {
    if !matches!(args.durability.as_str(), "sync" | "async") {
        bail!(
            "--durability must be 'sync' or 'async', not '{}'",
            args.durability
        );
    }
    if args.servers == 0 {
        bail!("--servers must be at least 1");
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
    let meta_addr = format!("127.0.0.1:{}", args.meta_port);
    let proxy_addr = format!("127.0.0.1:{}", args.port);
    let server_addrs: Vec<String> = (0..args.servers)
        .map(|i| format!("127.0.0.1:{}", u32::from(args.server_port) + u32::from(i)))
        .collect();
    check_port_free(&meta_addr, "meta", "--meta-port")?;
    for a in &server_addrs {
        check_port_free(a, "server", "--server-port")?;
    }
    check_port_free(&proxy_addr, "proxy", "--port")?;
    let logs = args.dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

    let mut procs: Vec<Proc> = Vec::new();
    let result = start_all(
        &args,
        replicas,
        &bin_dir,
        &meta_addr,
        &server_addrs,
        &proxy_addr,
        &logs,
        &mut procs,
    )
    .await;
    if let Err(e) = result {
        stop_all(&mut procs).await;
        return Err(e);
    }
    println!("ready");
    wait_for_stop(&mut procs).await;
    stop_all(&mut procs).await;
    println!("stopped");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn start_all(
    args: &OneboxArgs,
    replicas: u32,
    bin_dir: &Path,
    meta_addr: &str,
    server_addrs: &[String],
    proxy_addr: &str,
    logs: &Path,
    procs: &mut Vec<Proc>,
) -> anyhow::Result<()> {
    let rpc = RpcClient::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = workers_each(args, cores).to_string();
    let meta_dir = args.dir.join("meta");
    procs.push(spawn(
        "meta",
        meta_addr,
        &bin_dir.join("petrel-meta"),
        &meta_args(args, meta_addr, &meta_dir),
        &logs.join("meta.log"),
    )?);
    wait_until(procs, "meta to answer", || async {
        rpc.call::<_, ListNodesResponse>(
            meta_addr,
            method::LIST_NODES,
            &ListNodesRequest {},
            RPC_TIMEOUT,
        )
        .await
        .is_ok()
    })
    .await?;
    announce(&procs[0]);

    for (i, addr) in server_addrs.iter().enumerate() {
        let dir = args.dir.join(format!("server-{}", i + 1));
        procs.push(spawn(
            "server",
            addr,
            &bin_dir.join("petrel-server"),
            &[
                "--listen".into(),
                addr.clone(),
                "--meta".into(),
                meta_addr.into(),
                "--data-dir".into(),
                dir.display().to_string(),
                "--durability".into(),
                args.durability.clone(),
                "--worker-threads".into(),
                workers.clone(),
            ],
            &logs.join(format!("server-{}.log", i + 1)),
        )?);
    }
    wait_until(procs, "every server to register with meta", || async {
        match rpc
            .call::<_, ListNodesResponse>(
                meta_addr,
                method::LIST_NODES,
                &ListNodesRequest {},
                RPC_TIMEOUT,
            )
            .await
        {
            Ok(resp) => server_addrs
                .iter()
                .all(|a| resp.nodes.iter().any(|n| &n.addr == a && n.alive)),
            Err(_) => false,
        }
    })
    .await?;
    for p in procs.iter().skip(1) {
        announce(p);
    }

    let existing: QueryTableResponse = rpc
        .call(
            meta_addr,
            method::QUERY_TABLE,
            &QueryTableRequest {
                name: "default".into(),
            },
            RPC_TIMEOUT,
        )
        .await
        .context("asking meta for the default table")?;
    if existing.table.is_none() {
        let _: CreateTableResponse = rpc
            .call(
                meta_addr,
                method::CREATE_TABLE,
                &CreateTableRequest {
                    name: "default".into(),
                    partition_count: args.partitions,
                    replica_count: replicas,
                },
                RPC_TIMEOUT,
            )
            .await
            .context("creating the default table")?;
    }

    procs.push(spawn(
        "proxy",
        proxy_addr,
        &bin_dir.join("petrel-proxy"),
        &[
            "--listen".into(),
            proxy_addr.into(),
            "--meta".into(),
            meta_addr.into(),
            "--table".into(),
            "default".into(),
            "--worker-threads".into(),
            workers,
        ],
        &logs.join("proxy.log"),
    )?);
    // DBSIZE touches every partition: ready means every primary serves.
    wait_until(procs, "the proxy to serve every partition", || async {
        resp_integer(proxy_addr, b"*1\r\n$6\r\nDBSIZE\r\n")
            .await
            .is_some()
    })
    .await?;
    if let Some(p) = procs.last() {
        announce(p);
    }
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

/// petrel-meta's flags; timing flags only when given, so meta's defaults stay in one place.
fn meta_args(args: &OneboxArgs, meta_addr: &str, meta_dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = vec![
        "--listen".into(),
        meta_addr.into(),
        "--data-dir".into(),
        meta_dir.display().to_string(),
    ];
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

fn announce(p: &Proc) {
    let pid = p
        .child
        .id()
        .map(|id| id.to_string())
        .unwrap_or_else(|| "?".into());
    println!("{} {} pid {}", p.role, p.addr, pid);
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

fn spawn(
    role: &'static str,
    addr: &str,
    bin: &Path,
    args: &[String],
    log: &Path,
) -> anyhow::Result<Proc> {
    if !bin.exists() {
        bail!(
            "cannot find {} (build the workspace with `cargo build --workspace`, or pass --bin-dir)",
            bin.display()
        );
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening log {}", log.display()))?;
    let err = out.try_clone().context("duplicating log handle")?;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
    // child if onebox dies, so no orphan cluster outlives a killed onebox.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Proc {
        role,
        addr: addr.to_string(),
        child,
    })
}

/// Polls `ready` until it holds, failing early if any child has exited.
async fn wait_until<F, Fut>(procs: &mut [Proc], what: &str, mut ready: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                bail!(
                    "{} {} exited ({status}) while waiting for {what}; see its log under the data dir's logs/",
                    p.role,
                    p.addr
                );
            }
        }
        if ready().await {
            return Ok(());
        }
        if start.elapsed() > STARTUP_TIMEOUT {
            bail!("timed out after {:?} waiting for {what}", STARTUP_TIMEOUT);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a raw RESP command and returns the integer reply, if it got one.
async fn resp_integer(addr: &str, command: &[u8]) -> Option<i64> {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(command).await.ok()?;
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.ok()?;
        let line = std::str::from_utf8(&buf[..n]).ok()?;
        line.strip_prefix(':')?.trim_end().parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
}

/// Waits for SIGINT or SIGTERM, reporting children that exit meanwhile.
async fn wait_for_stop(procs: &mut [Proc]) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("petrel: cannot install signal handlers; stopping");
        return;
    };
    let mut reported = vec![false; procs.len()];
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (i, p) in procs.iter_mut().enumerate() {
                    if !reported[i] {
                        if let Ok(Some(status)) = p.child.try_wait() {
                            eprintln!("{} {} exited ({status})", p.role, p.addr);
                            reported[i] = true;
                        }
                    }
                }
            }
        }
    }
}

/// Stops children in reverse start order: SIGTERM, then SIGKILL after 10 s.
async fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter_mut().rev() {
        if let Some(pid) = p.child.id() {
            // SAFETY: sending a signal to our own child's pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), p.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("{} {} did not stop in 10 s; killing it", p.role, p.addr);
                let _ = p.child.kill().await;
            }
        }
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
    fn the_cores_are_shared_among_servers_and_proxy() {
        // 3 servers + 1 proxy.
        assert_eq!(workers_each(&args(&[]), 2), 1);
        assert_eq!(workers_each(&args(&[]), 8), 2);
        assert_eq!(workers_each(&args(&[]), 16), 4);
        assert_eq!(workers_each(&args(&["--servers", "1"]), 8), 4);
        assert_eq!(workers_each(&args(&["--worker-threads", "3"]), 2), 3);
    }
}
