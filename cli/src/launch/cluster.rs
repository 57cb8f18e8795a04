//! [`Cluster`]: meta, servers and one or more proxies, each a [`Process`],
//! brought up in order (meta answers, every server registered, the table
//! exists, every proxy serves every partition) and taken down in reverse.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use petrel_common::meta_client::{MetaCallError, MetaClient};
use petrel_common::msg::{
    method, CreateTableRequest, CreateTableResponse, ListNodesRequest, ListNodesResponse,
    QueryTableRequest, QueryTableResponse,
};
use petrel_common::rpc::client::RpcClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::process::Process;

/// The binaries, as `cargo build` names them.
pub const META_BIN: &str = "petrel-meta";
pub const SERVER_BIN: &str = "petrel-server";
pub const PROXY_BIN: &str = "petrel-proxy";
pub const CLI_BIN: &str = "petrel";

/// How long each step of the bring-up may take.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a process has to exit after SIGTERM in [`Cluster::stop`].
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// petrel-meta's flags: where it listens and keeps its state.
pub fn meta_flags(listen: &str, data_dir: &Path) -> Vec<String> {
    vec![
        "--listen".into(),
        listen.into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ]
}

/// petrel-meta's flags naming every member of a group of several metas
/// (none for a single meta, which forms a group of itself).
pub fn group_flags(metas: &[String]) -> Vec<String> {
    if metas.len() < 2 {
        return Vec::new();
    }
    metas
        .iter()
        .flat_map(|m| ["--member".to_string(), m.clone()])
        .collect()
}

/// `--meta ADDR` for each meta of the group.
fn meta_addr_flags(metas: &[String]) -> Vec<String> {
    metas
        .iter()
        .flat_map(|m| ["--meta".to_string(), m.clone()])
        .collect()
}

/// petrel-server's flags: where it listens, its metas, its data.
pub fn server_flags(listen: &str, metas: &[String], data_dir: &Path) -> Vec<String> {
    let mut flags = vec!["--listen".into(), listen.into()];
    flags.extend(meta_addr_flags(metas));
    flags.extend(["--data-dir".into(), data_dir.display().to_string()]);
    flags
}

/// petrel-proxy's flags: where it listens, its metas, the table it serves.
pub fn proxy_flags(listen: &str, metas: &[String], table: &str) -> Vec<String> {
    let mut flags = vec!["--listen".into(), listen.into()];
    flags.extend(meta_addr_flags(metas));
    flags.extend(["--table".into(), table.into()]);
    flags
}

/// Meta `i`'s data directory in the onebox layout under `dir`: `meta/`
/// for the first (its place from when onebox had one meta), then
/// `meta-2/`, `meta-3/`...; its log likewise `logs/meta.log`, `logs/meta-2.log`...
pub fn meta_layout(dir: &Path, i: usize) -> (PathBuf, PathBuf) {
    match i {
        0 => (dir.join("meta"), dir.join("logs/meta.log")),
        _ => (
            dir.join(format!("meta-{}", i + 1)),
            dir.join(format!("logs/meta-{}.log", i + 1)),
        ),
    }
}

/// The table a cluster serves; created at start unless it exists.
#[derive(Clone, Debug)]
pub struct TableSpec {
    pub name: String,
    pub partitions: u32,
    pub replicas: u32,
}

/// One server of a [`ClusterSpec`].
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// Its address: where it listens, and its identity at meta.
    pub addr: String,
    /// Flags beyond [`server_flags`] (`--durability`, `--metrics-listen`...).
    pub flags: Vec<String>,
}

/// A cluster in the onebox layout under `dir`: `meta/` (`meta-N/` for
/// meta N from 2, [`meta_layout`]), `server-N/` (N from 1) and
/// `logs/{meta,server-N,proxy}.log`, with `proxy-N.log` for proxy N from 2
/// ([`proxy_log`]).
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Where petrel-meta, petrel-server and petrel-proxy are.
    pub bin_dir: PathBuf,
    pub dir: PathBuf,
    /// Every meta of the group (one, three or five).
    pub meta_addrs: Vec<String>,
    /// Flags beyond [`meta_flags`] and [`group_flags`], for every meta.
    pub meta_flags: Vec<String>,
    pub servers: Vec<ServerSpec>,
    /// Where each proxy listens; every proxy serves the same table.
    pub proxy_addrs: Vec<String>,
    /// Flags beyond [`proxy_flags`], for every proxy.
    pub proxy_flags: Vec<String>,
    pub table: TableSpec,
}

/// Which process of a cluster (for [`Cluster::start_wrapped`]'s wrapper).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The meta at this index.
    Meta(usize),
    /// The server at this index.
    Server(usize),
    /// The proxy at this index.
    Proxy(usize),
}

/// A cluster's processes and addresses. Dropping it kills every process.
pub struct Cluster {
    /// The metas, in the order of their addresses.
    pub metas: Vec<Process>,
    pub servers: Vec<Process>,
    pub proxies: Vec<Process>,
    /// The meta group, as the launcher asks it.
    meta: MetaClient,
    /// Each server's identity at meta.
    server_addrs: Vec<String>,
    /// Where each proxy listens.
    proxy_addrs: Vec<String>,
    table: TableSpec,
}

impl Cluster {
    /// The processes of `spec` (none started yet); creates its `logs/`.
    pub fn new(spec: &ClusterSpec) -> anyhow::Result<Cluster> {
        let logs = spec.dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let metas = spec
            .meta_addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let (data, log) = meta_layout(&spec.dir, i);
                let mut flags = meta_flags(addr, &data);
                flags.extend(group_flags(&spec.meta_addrs));
                flags.extend(spec.meta_flags.iter().cloned());
                let process = Process::new(
                    format!("meta {addr}"),
                    spec.bin_dir.join(META_BIN),
                    flags,
                    log,
                );
                (addr.clone(), process)
            })
            .collect();
        let proxies = spec
            .proxy_addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let mut flags = proxy_flags(addr, &spec.meta_addrs, &spec.table.name);
                flags.extend(spec.proxy_flags.iter().cloned());
                let process = Process::new(
                    format!("proxy {addr}"),
                    spec.bin_dir.join(PROXY_BIN),
                    flags,
                    proxy_log(&spec.dir, i),
                );
                (addr.clone(), process)
            })
            .collect();
        let mut cluster = Cluster::from_processes(metas, Vec::new(), proxies, spec.table.clone());
        for s in &spec.servers {
            cluster.add_server_in(&spec.bin_dir, &spec.dir, s);
        }
        Ok(cluster)
    }

    /// A cluster of processes built elsewhere (another layout, other
    /// flags); `metas` pairs each meta's address with its slot, `servers`
    /// each server's identity at meta, `proxies` each proxy's address.
    pub fn from_processes(
        metas: Vec<(String, Process)>,
        servers: Vec<(String, Process)>,
        proxies: Vec<(String, Process)>,
        table: TableSpec,
    ) -> Cluster {
        let (meta_addrs, metas) = metas.into_iter().unzip();
        let (server_addrs, servers) = servers.into_iter().unzip();
        let (proxy_addrs, proxies) = proxies.into_iter().unzip();
        Cluster {
            metas,
            servers,
            proxies,
            meta: MetaClient::new(RpcClient::new(), meta_addrs),
            server_addrs,
            proxy_addrs,
            table,
        }
    }

    /// Every meta's address.
    pub fn meta_addrs(&self) -> &[String] {
        self.meta.addrs()
    }

    /// Adds a server slot in the onebox layout under `dir` (not started);
    /// returns its index.
    pub fn add_server_in(&mut self, bin_dir: &Path, dir: &Path, spec: &ServerSpec) -> usize {
        let n = self.servers.len() + 1;
        let mut flags = server_flags(
            &spec.addr,
            self.meta.addrs(),
            &dir.join(format!("server-{n}")),
        );
        flags.extend(spec.flags.iter().cloned());
        self.servers.push(Process::new(
            format!("server {}", spec.addr),
            bin_dir.join(SERVER_BIN),
            flags,
            dir.join(format!("logs/server-{n}.log")),
        ));
        self.server_addrs.push(spec.addr.clone());
        n - 1
    }

    /// Adds a server slot built elsewhere (not started), identified at meta
    /// by `addr`; returns its index.
    pub fn push_server(&mut self, addr: String, process: Process) -> usize {
        self.servers.push(process);
        self.server_addrs.push(addr);
        self.servers.len() - 1
    }

    /// Server `i`'s identity at meta.
    pub fn server_addr(&self, i: usize) -> &str {
        &self.server_addrs[i]
    }

    pub fn server_addrs(&self) -> &[String] {
        &self.server_addrs
    }

    /// Starts the metas, then the servers, waits until meta sees them all alive,
    /// creates the table unless it exists, starts the proxies and waits until
    /// each serves every partition. `started` hears of each process once it is
    /// ready. Fails as soon as any process exits.
    pub async fn start(&mut self, started: impl FnMut(&Process)) -> anyhow::Result<()> {
        self.start_wrapped(|_, cmd| cmd, started).await
    }

    /// [`Cluster::start`], passing each process's command through `wrap`.
    pub async fn start_wrapped(
        &mut self,
        mut wrap: impl FnMut(Role, Command) -> Command,
        mut started: impl FnMut(&Process),
    ) -> anyhow::Result<()> {
        for (i, m) in self.metas.iter_mut().enumerate() {
            m.start_wrapped(|c| wrap(Role::Meta(i), c))?;
        }
        let meta = self.meta.clone();
        let meta = &meta;
        self.wait_until("a meta leader to answer", || async move {
            live_servers(meta).await.is_some()
        })
        .await?;
        for m in &self.metas {
            started(m);
        }
        for (i, s) in self.servers.iter_mut().enumerate() {
            s.start_wrapped(|c| wrap(Role::Server(i), c))?;
        }
        let addrs = self.server_addrs.clone();
        self.wait_servers_alive(&addrs).await?;
        for s in &self.servers {
            started(s);
        }
        ensure_table(&self.meta, &self.table).await?;
        for (i, p) in self.proxies.iter_mut().enumerate() {
            p.start_wrapped(|c| wrap(Role::Proxy(i), c))?;
        }
        for i in 0..self.proxies.len() {
            let proxy = self.proxy_addrs[i].clone();
            let proxy = proxy.as_str();
            // DBSIZE touches every partition: ready means every primary serves.
            self.wait_until(&format!("proxy {proxy} to serve every partition"), || {
                proxy_serves(proxy)
            })
            .await?;
            started(&self.proxies[i]);
        }
        Ok(())
    }

    /// Waits until meta lists every address in `addrs` as an alive server.
    /// Fails if a process exits meanwhile.
    pub async fn wait_servers_alive(&mut self, addrs: &[String]) -> anyhow::Result<()> {
        let meta = self.meta.clone();
        let meta = &meta;
        self.wait_until("every server to register with meta", || async move {
            live_servers(meta)
                .await
                .is_some_and(|live| addrs.iter().all(|a| live.contains(a)))
        })
        .await
    }

    /// Polls `ready` every 100 ms until it holds; fails if a process exits
    /// meanwhile, or after [`STARTUP_TIMEOUT`].
    async fn wait_until<F, Fut>(&mut self, what: &str, mut ready: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        loop {
            for p in self.processes_mut() {
                if let Some(status) = p.exited() {
                    bail!(
                        "{} exited ({status}) while waiting for {what}; see its log {}",
                        p.label(),
                        p.log().display()
                    );
                }
            }
            if ready().await {
                return Ok(());
            }
            if start.elapsed() > STARTUP_TIMEOUT {
                bail!("timed out after {STARTUP_TIMEOUT:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process of `role`.
    pub fn process_mut(&mut self, role: Role) -> &mut Process {
        match role {
            Role::Meta(i) => &mut self.metas[i],
            Role::Server(i) => &mut self.servers[i],
            Role::Proxy(i) => &mut self.proxies[i],
        }
    }

    /// Every process, in start order.
    pub fn processes_mut(&mut self) -> impl Iterator<Item = &mut Process> {
        self.metas
            .iter_mut()
            .chain(self.servers.iter_mut())
            .chain(self.proxies.iter_mut())
    }

    /// Stops every process in reverse start order: SIGTERM, then SIGKILL
    /// after [`STOP_TIMEOUT`]; returns the labels of those it had to kill.
    pub(crate) fn stop(&mut self) -> Vec<String> {
        let mut killed = Vec::new();
        for p in self
            .proxies
            .iter_mut()
            .rev()
            .chain(self.servers.iter_mut().rev())
            .chain(self.metas.iter_mut().rev())
        {
            if !p.stop(STOP_TIMEOUT) {
                killed.push(p.label().to_string());
            }
        }
        killed
    }

    /// kill -9 every process: the proxies, the servers, the metas.
    pub fn kill(&mut self) {
        for p in &mut self.proxies {
            p.kill();
        }
        for s in &mut self.servers {
            s.kill();
        }
        for m in &mut self.metas {
            m.kill();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Proxy `i`'s log in the onebox layout under `dir`: `logs/proxy.log` for
/// the first (its name from when onebox had one proxy), then
/// `logs/proxy-2.log`, `logs/proxy-3.log`...
pub fn proxy_log(dir: &Path, i: usize) -> PathBuf {
    match i {
        0 => dir.join("logs/proxy.log"),
        _ => dir.join(format!("logs/proxy-{}.log", i + 1)),
    }
}

/// The servers meta counts alive; `None` when no meta leader answers.
pub(crate) async fn live_servers(meta: &MetaClient) -> Option<Vec<String>> {
    let resp: ListNodesResponse = meta
        .call(method::LIST_NODES, &ListNodesRequest {}, RPC_TIMEOUT)
        .await
        .ok()?;
    Some(
        resp.nodes
            .into_iter()
            .filter(|n| n.alive)
            .map(|n| n.addr)
            .collect(),
    )
}

/// Creates `table` unless meta has it. Retries while meta cannot be reached
/// (up to [`STARTUP_TIMEOUT`]); an error meta answers is final.
pub(crate) async fn ensure_table(meta: &MetaClient, table: &TableSpec) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let attempt: Result<(), MetaCallError> = async {
            let existing: QueryTableResponse = meta
                .call(
                    method::QUERY_TABLE,
                    &QueryTableRequest {
                        name: table.name.clone(),
                    },
                    RPC_TIMEOUT,
                )
                .await?;
            if existing.table.is_none() {
                let _: CreateTableResponse = meta
                    .call(
                        method::CREATE_TABLE,
                        &CreateTableRequest {
                            name: table.name.clone(),
                            partition_count: table.partitions,
                            replica_count: table.replicas,
                        },
                        RPC_TIMEOUT,
                    )
                    .await?;
            }
            Ok(())
        }
        .await;
        match attempt {
            Ok(()) => return Ok(()),
            Err(e @ MetaCallError::Refused { .. }) => {
                return Err(e).with_context(|| format!("creating the {} table", table.name))
            }
            Err(e) if start.elapsed() > STARTUP_TIMEOUT => {
                return Err(e).with_context(|| format!("creating the {} table", table.name))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Whether the proxy at `addr` answers DBSIZE (which touches every
/// partition) with an integer.
pub async fn proxy_serves(addr: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"*1\r\n$6\r\nDBSIZE\r\n").await.ok()?;
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.ok()?;
        let line = std::str::from_utf8(&buf[..n]).ok()?;
        line.strip_prefix(':')?.trim_end().parse::<i64>().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
        .is_some()
}
