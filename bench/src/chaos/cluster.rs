//! The cluster under test: meta, servers and a proxy as separate processes,
//! each of which the nemesis can kill, pause, restart or cut off.
//!
//! Every process is a slot of the launcher `petrel onebox` uses
//! ([`petrel_cli::launch`]): its address and data directory stay, the
//! process comes and goes. Processes get SIGKILL when petrel-chaos dies
//! (PDEATHSIG), so an interrupted run leaves nothing behind.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use petrel_cli::launch::cluster::{
    group_flags, meta_flags, proxy_flags, server_flags, CLI_BIN, META_BIN, PROXY_BIN, SERVER_BIN,
};
use petrel_cli::launch::{self, Process, Role, TableSpec};
use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{
    method, DrainRequest, DrainResponse, MetaStatusRequest, MetaStatusResponse, QueryTableRequest,
    QueryTableResponse, SplitTableRequest, SplitTableResponse,
};
use petrel_common::partition::TableMap;
use petrel_common::rpc::client::RpcClient;

use super::faults::clock::ClockFault;
use super::faults::disk::SmallDisk;
use super::faults::fsync::FsyncFault;
use super::faults::net::Network;
use super::faults::relay::{Direction, Relay};

/// The table every run uses.
pub(crate) const TABLE: &str = "chaos";

/// What to start.
#[derive(Clone, Debug)]
pub(crate) struct ClusterSpec {
    pub(crate) bin_dir: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) servers: usize,
    /// Servers prepared but not started: the add-server nemesis starts them.
    pub(crate) spare_servers: usize,
    /// Metas in the group (1, 3 or 5).
    pub(crate) metas: usize,
    pub(crate) partitions: u32,
    /// The split nemesis doubles the table's partitions up to this many
    /// (`partitions` when the run does not split).
    pub(crate) max_partitions: u32,
    pub(crate) replicas: u32,
    /// First port; meta, proxy and servers use consecutive ports from here.
    pub(crate) base_port: u16,
    /// Extra petrel-meta flags.
    pub(crate) meta_args: Vec<String>,
    /// Put every process in its own network namespace (root only), so the
    /// nemesis can partition them; otherwise everything is on 127.0.0.1.
    pub(crate) netns: bool,
    /// Start servers under libfaketime (wall-clock jumps) and libfiu
    /// (fsync failures), each on its own small tmpfs disk of `disk_mb` MiB
    /// that the nemesis can fill, so it can inject those.
    pub(crate) host_faults: bool,
    pub(crate) disk_mb: u64,
    /// Seeds the relays' drop decisions.
    pub(crate) seed: u64,
}

/// A server's host faults: its wall clock and its fsyncs (with
/// [`ClusterSpec::host_faults`]).
#[derive(Default)]
struct HostFaults {
    clock: Option<ClockFault>,
    fsync: Option<FsyncFault>,
}

/// Passes the command of `role` through its fault wrappers: the server's
/// fsync and clock faults, then its network namespace.
fn wrap(
    net: Option<&Network>,
    faults: &[HostFaults],
    meta_hosts: &[usize],
    role: Role,
    mut cmd: Command,
) -> Command {
    let host = match role {
        Role::Meta(i) => meta_hosts[i],
        // The chaos cluster has one proxy.
        Role::Proxy(_) => PROXY_HOST,
        Role::Server(i) => {
            if let Some(f) = &faults[i].fsync {
                cmd = f.wrap(cmd);
            }
            if let Some(c) = &faults[i].clock {
                cmd = c.wrap(cmd);
            }
            server_host(i)
        }
    };
    match net {
        Some(net) => net.wrap(host, cmd),
        None => cmd,
    }
}

/// A running cluster.
pub(crate) struct Cluster {
    pub(crate) spec: ClusterSpec,
    /// Every meta's address, the first one's first.
    pub(crate) meta_addrs: Vec<String>,
    /// The namespace host of each meta.
    meta_hosts: Vec<usize>,
    /// The meta group, asked through whichever member leads.
    meta: MetaClient,
    procs: launch::Cluster,
    /// Server slots not started yet, in order: the add-server nemesis starts
    /// the next one.
    spares: Vec<(String, Process)>,
    /// Servers the drain nemesis is draining.
    draining: Vec<usize>,
    /// Each server's host faults, by index.
    faults: Vec<HostFaults>,
    proxy_addr: String,
    rpc: RpcClient,
    /// One fault-injecting relay in front of every server: the server
    /// advertises the relay's address, so every connection to it (from the
    /// proxy, its peers, meta and `petrel verify`) passes through.
    relays: Vec<Relay>,
    /// (Host faults) each server's data directory is a small tmpfs.
    disks: Vec<SmallDisk>,
    /// Dropped after the processes are killed (fields drop after `Drop::drop`).
    net: Option<Network>,
}

/// Hosts in the namespaced layout.
pub(crate) const META_HOST: usize = 0;
pub(crate) const PROXY_HOST: usize = 1;

/// The namespace host of server `i` (spare servers included).
pub(crate) fn server_host(i: usize) -> usize {
    i + 2
}

/// The namespace host of meta `i` of a cluster with `servers` servers
/// (spares included): the first meta keeps host 0, the others come after
/// the servers, so a seed's hosts stay where they were with one meta.
pub(crate) fn meta_host(i: usize, servers: usize) -> usize {
    match i {
        0 => META_HOST,
        _ => servers + 1 + i,
    }
}

impl Cluster {
    /// Starts meta, the servers and the proxy, creates the table, and waits
    /// until every partition has a primary.
    pub(crate) async fn start(spec: ClusterSpec) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(&spec.dir)
            .with_context(|| format!("creating {}", spec.dir.display()))?;
        let net = if spec.netns {
            Network::supported().map_err(|why| anyhow::anyhow!("--netns: {why}"))?;
            Some(Network::create(
                &format!("pc{}", spec.base_port),
                spec.servers + spec.spare_servers + 1 + spec.metas.max(1),
            )?)
        } else {
            None
        };
        // With namespaces every process has its own address and the usual
        // ports; without, all share 127.0.0.1 and consecutive ports.
        let addr = |host: usize, port: u16| match &net {
            Some(n) => format!("{}:{port}", n.host_ip(host)),
            None => format!("127.0.0.1:{}", spec.base_port + host as u16),
        };
        let host_faults = spec.host_faults;
        if host_faults {
            ClockFault::supported().map_err(|why| anyhow::anyhow!("clock faults: {why}"))?;
            FsyncFault::supported().map_err(|why| anyhow::anyhow!("fsync faults: {why}"))?;
        }
        let all_servers = spec.servers + spec.spare_servers;
        let meta_hosts: Vec<usize> = (0..spec.metas.max(1))
            .map(|i| meta_host(i, all_servers))
            .collect();
        let meta_addrs: Vec<String> = meta_hosts.iter().map(|h| addr(*h, 34601)).collect();
        let proxy_addr = addr(PROXY_HOST, 6379);
        let metas: Vec<(String, Process)> = meta_addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (data, log) = match i {
                    0 => (spec.dir.join("meta"), spec.dir.join("meta.log")),
                    _ => (
                        spec.dir.join(format!("meta-{}", i + 1)),
                        spec.dir.join(format!("meta-{}.log", i + 1)),
                    ),
                };
                let mut flags = meta_flags(a, &data);
                flags.extend(group_flags(&meta_addrs));
                flags.extend(spec.meta_args.iter().cloned());
                let label = if i == 0 {
                    "meta".to_string()
                } else {
                    format!("meta {}", i + 1)
                };
                (
                    a.clone(),
                    Process::new(label, spec.bin_dir.join(META_BIN), flags, log),
                )
            })
            .collect();
        let mut servers = Vec::new();
        let mut faults = Vec::new();
        let mut relays = Vec::new();
        let mut disks = Vec::new();
        for i in 0..all_servers {
            let host = server_host(i);
            // The relay takes the server's usual address; the server listens
            // next to it.
            let addr = addr(host, 34801);
            let listen = match &net {
                Some(n) => format!("{}:34802", n.host_ip(host)),
                None => format!("127.0.0.1:{}", spec.base_port + 100 + host as u16),
            };
            relays.push(start_relay(
                net.as_ref(),
                host,
                &addr,
                &listen,
                spec.seed + i as u64,
            )?);
            let data_dir = spec.dir.join(format!("server-{i}"));
            if host_faults && spec.disk_mb > 0 {
                disks.push(SmallDisk::mount(&data_dir, spec.disk_mb)?);
            }
            let mut flags = server_flags(&listen, &meta_addrs, &data_dir);
            flags.extend(["--advertise".into(), addr.clone()]);
            let process = Process::new(
                format!("server {addr}"),
                spec.bin_dir.join(SERVER_BIN),
                flags,
                spec.dir.join(format!("server-{i}.log")),
            );
            servers.push((addr, process));
            faults.push(if host_faults {
                let ctrl = spec.dir.join(format!("server-{i}.fiu"));
                std::fs::create_dir_all(&ctrl)
                    .with_context(|| format!("creating {}", ctrl.display()))?;
                HostFaults {
                    clock: Some(ClockFault::new(
                        &spec.dir.join(format!("server-{i}.clock")),
                    )?),
                    fsync: Some(FsyncFault::new(&ctrl)),
                }
            } else {
                HostFaults::default()
            });
        }
        let proxy = Process::new(
            "proxy",
            spec.bin_dir.join(PROXY_BIN),
            proxy_flags(&proxy_addr, &meta_addrs, TABLE),
            spec.dir.join("proxy.log"),
        );
        let table = TableSpec {
            name: TABLE.into(),
            partitions: spec.partitions,
            replicas: spec.replicas,
        };
        let spares = servers.split_off(spec.servers);
        let procs = launch::Cluster::from_processes(
            metas,
            servers,
            vec![(proxy_addr.clone(), proxy)],
            table,
        );
        let mut c = Cluster {
            spec,
            meta: MetaClient::new(RpcClient::new(), meta_addrs.clone()),
            meta_addrs,
            meta_hosts,
            procs,
            spares,
            draining: Vec::new(),
            faults,
            proxy_addr,
            rpc: RpcClient::new(),
            relays,
            disks,
            net,
        };
        let (net, faults, hosts) = (c.net.as_ref(), &c.faults, &c.meta_hosts);
        c.procs
            .start_wrapped(|role, cmd| wrap(net, faults, hosts, role, cmd), |_| {})
            .await?;
        Ok(c)
    }

    /// The table's current map, from meta.
    pub(crate) async fn table(&self) -> anyhow::Result<TableMap> {
        let resp: QueryTableResponse = self
            .meta
            .call(
                method::QUERY_TABLE,
                &QueryTableRequest { name: TABLE.into() },
                Duration::from_secs(2),
            )
            .await
            .context("querying the table map")?;
        let t = resp.table.context("the table is gone")?;
        Ok(TableMap::from(&t))
    }

    pub(crate) fn server_count(&self) -> usize {
        self.procs.servers.len()
    }

    pub(crate) fn server_addr(&self, i: usize) -> &str {
        self.procs.server_addr(i)
    }

    /// The index of the server listening on `addr`.
    pub(crate) fn server_index(&self, addr: &str) -> Option<usize> {
        self.procs.server_addrs().iter().position(|a| a == addr)
    }

    pub(crate) fn kill_server(&mut self, i: usize) {
        self.procs.servers[i].kill();
    }

    pub(crate) fn start_server(&mut self, i: usize) -> anyhow::Result<()> {
        let (net, faults, hosts) = (self.net.as_ref(), &self.faults, &self.meta_hosts);
        self.procs.servers[i].start_wrapped(|cmd| wrap(net, faults, hosts, Role::Server(i), cmd))
    }

    /// Starts the next spare server; returns its index, or `None` when
    /// every spare runs already.
    pub(crate) fn add_server(&mut self) -> anyhow::Result<Option<usize>> {
        if self.spares.is_empty() {
            return Ok(None);
        }
        let (addr, process) = self.spares.remove(0);
        let i = self.procs.push_server(addr, process);
        self.start_server(i)?;
        Ok(Some(i))
    }

    /// Starts (or with `on == false` stops) draining server `i` at meta.
    pub(crate) async fn drain(&mut self, i: usize, on: bool) -> anyhow::Result<u32> {
        let resp: DrainResponse = self
            .meta
            .call(
                method::DRAIN,
                &DrainRequest {
                    node: self.server_addr(i).to_string(),
                    cancel: !on,
                },
                Duration::from_secs(5),
            )
            .await
            .context("asking meta to drain")?;
        self.draining.retain(|d| *d != i);
        if on {
            self.draining.push(i);
        }
        Ok(resp.replicas)
    }

    /// Asks meta how the table's last split stands: (partition count,
    /// partitions not built yet).
    pub(crate) async fn split_status(&self) -> anyhow::Result<(u32, u32)> {
        self.call_split(true).await
    }

    async fn call_split(&self, status_only: bool) -> anyhow::Result<(u32, u32)> {
        let resp: SplitTableResponse = self
            .meta
            .call(
                method::SPLIT_TABLE,
                &SplitTableRequest {
                    name: TABLE.into(),
                    status_only,
                },
                Duration::from_secs(5),
            )
            .await
            .context("asking meta to split the table")?;
        let count = resp.table.as_ref().map_or(0, |t| t.partition_count);
        Ok((count, resp.unbuilt))
    }

    /// Doubles the table's partition count, once the previous split is
    /// built (waiting up to `patience` for it), unless that would pass
    /// [`ClusterSpec::max_partitions`]. Returns the counts before and
    /// after, or `None` at the cap. A split is not idempotent: the count is
    /// read again before each try, so a try whose answer was lost is seen
    /// as done, never repeated.
    pub(crate) async fn split_table(
        &self,
        patience: Duration,
    ) -> anyhow::Result<Option<(u32, u32)>> {
        let deadline = std::time::Instant::now() + patience;
        let mut before = None;
        loop {
            let last = match self.split_status().await {
                Ok((count, unbuilt)) => {
                    let from = *before.get_or_insert(count);
                    if count > from {
                        return Ok(Some((from, count)));
                    }
                    if count * 2 > self.spec.max_partitions {
                        return Ok(None);
                    }
                    if unbuilt == 0 {
                        match self.call_split(false).await {
                            Ok((to, _)) => return Ok(Some((from, to))),
                            Err(e) => e,
                        }
                    } else {
                        anyhow::anyhow!("{unbuilt} partitions of the last split not built yet")
                    }
                }
                Err(e) => e,
            };
            if std::time::Instant::now() > deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Stops every drain the nemesis started.
    pub(crate) async fn stop_draining(&mut self) -> anyhow::Result<()> {
        for i in self.draining.clone() {
            self.drain(i, false).await?;
        }
        Ok(())
    }

    /// The index of the meta that leads the group, as the metas say.
    pub(crate) async fn meta_leader(&self) -> Option<usize> {
        for (i, a) in self.meta_addrs.iter().enumerate() {
            let status: Result<MetaStatusResponse, _> = self
                .rpc
                .call(
                    a,
                    method::META_STATUS,
                    &MetaStatusRequest {},
                    Duration::from_secs(1),
                )
                .await;
            if status.is_ok_and(|s| s.role == "leader") {
                return Some(i);
            }
        }
        None
    }

    /// The namespace host of meta `i`.
    pub(crate) fn meta_host(&self, i: usize) -> usize {
        self.meta_hosts[i]
    }

    pub(crate) fn kill_meta_at(&mut self, i: usize) {
        self.procs.metas[i].kill();
    }

    pub(crate) fn pause_meta(&mut self, i: usize) {
        self.procs.metas[i].pause();
    }

    pub(crate) fn resume_meta(&mut self, i: usize) {
        self.procs.metas[i].resume();
    }

    pub(crate) fn pause_server(&mut self, i: usize) {
        self.procs.servers[i].pause();
    }

    pub(crate) fn resume_server(&mut self, i: usize) {
        self.procs.servers[i].resume();
    }

    pub(crate) fn kill_meta(&mut self) {
        for m in &mut self.procs.metas {
            m.kill();
        }
    }

    /// Starts every meta that is not running (and wakes paused ones).
    pub(crate) fn start_meta(&mut self) -> anyhow::Result<()> {
        let (net, faults, hosts) = (self.net.as_ref(), &self.faults, &self.meta_hosts);
        for (i, m) in self.procs.metas.iter_mut().enumerate() {
            if m.is_paused() {
                m.resume();
            }
            m.start_wrapped(|cmd| wrap(net, faults, hosts, Role::Meta(i), cmd))?;
        }
        Ok(())
    }

    /// Resumes paused processes and restarts dead ones.
    pub(crate) fn heal_processes(&mut self) -> anyhow::Result<()> {
        self.start_meta()?;
        for i in 0..self.server_count() {
            if self.procs.servers[i].is_paused() {
                self.procs.servers[i].resume();
            }
            self.start_server(i)?;
        }
        self.start_proxy()
    }

    /// kill -9 the proxy: its clients' connections and transactions die.
    pub(crate) fn kill_proxy(&mut self) {
        for p in &mut self.procs.proxies {
            p.kill();
        }
    }

    /// Starts the proxy again on its address (nothing if it runs).
    pub(crate) fn start_proxy(&mut self) -> anyhow::Result<()> {
        let (net, faults, hosts) = (self.net.as_ref(), &self.faults, &self.meta_hosts);
        for (i, p) in self.procs.proxies.iter_mut().enumerate() {
            p.start_wrapped(|cmd| wrap(net, faults, hosts, Role::Proxy(i), cmd))?;
        }
        Ok(())
    }

    /// Moves server `i`'s wall clock `secs` away from real time (0 resets it).
    pub(crate) fn jump_clock(&self, i: usize, secs: i64) -> anyhow::Result<()> {
        let clock = self.faults[i]
            .clock
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?;
        clock.jump(secs)
    }

    /// Makes every fsync of server `i` fail (or work again).
    pub(crate) fn fail_fsync(&self, i: usize, fail: bool) -> anyhow::Result<()> {
        let fsync = self.faults[i]
            .fsync
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?;
        let pid = self.procs.servers[i]
            .pid()
            .ok_or_else(|| anyhow::anyhow!("server {i} is not running"))?;
        if fail {
            fsync.enable(pid)
        } else {
            fsync.disable(pid)
        }
    }

    /// Adds `delay` to every chunk to and from server `i` (zero heals).
    pub(crate) fn delay_server(&self, i: usize, delay: Duration) {
        self.relays[i].set_delay(Direction::Upstream, delay);
        self.relays[i].set_delay(Direction::Downstream, delay);
    }

    /// Resets connections to server `i` with probability `p` per chunk, as
    /// connections dying of packet loss (zero heals).
    pub(crate) fn lose_packets_to(&self, i: usize, p: f64) {
        self.relays[i].set_drop_probability(p);
    }

    /// Fills server `i`'s disk (leaving `leave` bytes); returns bytes taken.
    pub(crate) fn fill_disk(&self, i: usize, leave: u64) -> anyhow::Result<u64> {
        self.disks
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?
            .fill(leave)
    }

    /// Frees what [`Cluster::fill_disk`] took.
    pub(crate) fn free_disk(&self, i: usize) -> anyhow::Result<()> {
        self.disks
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?
            .free()
    }

    /// Removes every relay fault and frees every disk.
    pub(crate) fn heal_links_and_disks(&self) -> anyhow::Result<()> {
        for r in &self.relays {
            r.heal();
        }
        for d in &self.disks {
            d.free()?;
        }
        Ok(())
    }

    /// Whether servers run with clock and fsync fault injection.
    pub(crate) fn has_host_faults(&self) -> bool {
        self.spec.host_faults
    }

    /// The proxy's address as a redis URL.
    pub(crate) fn proxy_url(&self) -> String {
        format!("redis://{}/", self.proxy_addr)
    }

    /// The network namespaces, when the cluster runs in them.
    pub(crate) fn network(&self) -> Option<&Network> {
        self.net.as_ref()
    }

    /// Removes every network cut.
    pub(crate) fn heal_network(&self) -> anyhow::Result<()> {
        match &self.net {
            Some(n) => n.heal(),
            None => Ok(()),
        }
    }

    /// Reaps processes that died by themselves; returns their names.
    pub(crate) fn reap(&mut self) -> Vec<String> {
        self.procs
            .processes_mut()
            .filter_map(|p| {
                let status = p.exited()?;
                Some(format!("{} exited ({status})", p.label()))
            })
            .collect()
    }

    pub(crate) fn is_server_up(&self, i: usize) -> bool {
        let s = &self.procs.servers[i];
        s.is_running() && !s.is_paused()
    }

    /// Runs `petrel verify` against the table; returns (success, output).
    pub(crate) fn verify(&self) -> anyhow::Result<(bool, String)> {
        let out = Command::new(self.spec.bin_dir.join(CLI_BIN))
            .args([
                "--meta",
                &self.meta_addrs.join(","),
                "verify",
                TABLE,
                "--full",
            ])
            .output()
            .context("running petrel verify")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }

    /// Kills every process.
    pub(crate) fn stop(&mut self) {
        self.procs.kill();
    }
}

/// Starts the relay in front of a server: listening on `addr` (inside the
/// server's namespace when there are namespaces, so network cuts apply to
/// it) and forwarding to `target`, where the server listens.
fn start_relay(
    net: Option<&Network>,
    host: usize,
    addr: &str,
    target: &str,
    seed: u64,
) -> anyhow::Result<Relay> {
    let listen: std::net::SocketAddr = addr.parse().context("relay address")?;
    let target: std::net::SocketAddr = target.parse().context("server address")?;
    let listener = match net {
        Some(n) => n.run_in(host, || std::net::TcpListener::bind(listen))?,
        None => std::net::TcpListener::bind(listen),
    }
    .with_context(|| format!("binding the relay on {listen}"))?;
    Relay::from_listener(listener, target, seed).context("starting a relay")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
