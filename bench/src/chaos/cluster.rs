//! The cluster under test: meta, servers and a proxy as separate processes,
//! each of which the nemesis can kill, pause, restart or cut off.
//!
//! Every process is a slot: its address and data directory stay, the
//! process comes and goes. Processes get SIGKILL when petrel-chaos dies
//! (PDEATHSIG), so an interrupted run leaves nothing behind.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use petrel_common::msg::{
    method, CreateTableRequest, CreateTableResponse, QueryTableRequest, QueryTableResponse,
};
use petrel_common::partition::TableMap;
use petrel_common::rpc::client::RpcClient;

use super::faults::clock::ClockFault;
use super::faults::disk::SmallDisk;
use super::faults::fsync::FsyncFault;
use super::faults::net::Network;
use super::faults::relay::{Direction, Relay};

/// The table every run uses.
pub const TABLE: &str = "chaos";

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub bin_dir: PathBuf,
    pub dir: PathBuf,
    pub servers: usize,
    pub partitions: u32,
    pub replicas: u32,
    /// First port; meta, proxy and servers use consecutive ports from here.
    pub base_port: u16,
    /// Extra petrel-meta flags.
    pub meta_args: Vec<String>,
    /// Put every process in its own network namespace (root only), so the
    /// nemesis can partition them; otherwise everything is on 127.0.0.1.
    pub netns: bool,
    /// Start servers under libfaketime (wall-clock jumps) and libfiu
    /// (fsync failures), each on its own small tmpfs disk of `disk_mb` MiB
    /// that the nemesis can fill, so it can inject those.
    pub host_faults: bool,
    pub disk_mb: u64,
    /// Seeds the relays' drop decisions.
    pub seed: u64,
}

/// One process slot.
struct Slot {
    name: String,
    bin: &'static str,
    /// Its host in the network namespaces, when there are any.
    host: usize,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// (Servers with host faults) its wall clock and its fsyncs.
    clock: Option<ClockFault>,
    fsync: Option<FsyncFault>,
}

impl Slot {
    fn start(&mut self, bin_dir: &Path, net: Option<&Network>) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let path = bin_dir.join(self.bin);
        if !path.exists() {
            bail!(
                "{} is missing: build the release binaries first",
                path.display()
            );
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&path);
        cmd.args(&self.args);
        if let Some(f) = &self.fsync {
            cmd = f.wrap(cmd);
        }
        if let Some(c) = &self.clock {
            cmd = c.wrap(cmd);
        }
        if let Some(net) = net {
            cmd = net.wrap(self.host, cmd);
        }
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.paused = false;
    }

    fn is_up(&self) -> bool {
        self.child.is_some()
    }
}

/// A running cluster.
pub struct Cluster {
    pub spec: ClusterSpec,
    pub meta_addr: String,
    meta: Slot,
    proxy: Slot,
    servers: Vec<Slot>,
    server_addrs: Vec<String>,
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
pub const META_HOST: usize = 0;
pub const PROXY_HOST: usize = 1;

/// The namespace host of server `i`.
pub fn server_host(i: usize) -> usize {
    i + 2
}

impl Cluster {
    /// Starts meta, the servers and the proxy, creates the table, and waits
    /// until every partition has a primary.
    pub async fn start(spec: ClusterSpec) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(&spec.dir)
            .with_context(|| format!("creating {}", spec.dir.display()))?;
        let net = if spec.netns {
            Network::supported().map_err(|why| anyhow::anyhow!("--netns: {why}"))?;
            Some(Network::create(
                &format!("pc{}", spec.base_port),
                spec.servers + 2,
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
        let meta_addr = addr(META_HOST, 34601);
        let proxy_addr = addr(PROXY_HOST, 6379);
        let mut meta_args = vec![
            "--listen".to_string(),
            meta_addr.clone(),
            "--data-dir".into(),
            spec.dir.join("meta").display().to_string(),
        ];
        meta_args.extend(spec.meta_args.iter().cloned());
        let meta = Slot {
            name: "meta".into(),
            bin: "petrel-meta",
            host: META_HOST,
            args: meta_args,
            log: spec.dir.join("meta.log"),
            child: None,
            paused: false,
            clock: None,
            fsync: None,
        };
        let mut servers = Vec::new();
        let mut server_addrs = Vec::new();
        let mut relays = Vec::new();
        let mut disks = Vec::new();
        for i in 0..spec.servers {
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
            servers.push(Slot {
                name: format!("server {addr}"),
                bin: "petrel-server",
                host: server_host(i),
                args: vec![
                    "--listen".into(),
                    listen,
                    "--advertise".into(),
                    addr.clone(),
                    "--meta".into(),
                    meta_addr.clone(),
                    "--data-dir".into(),
                    data_dir.display().to_string(),
                ],
                log: spec.dir.join(format!("server-{i}.log")),
                child: None,
                paused: false,
                clock: host_faults
                    .then(|| ClockFault::new(&spec.dir.join(format!("server-{i}.clock"))))
                    .transpose()?,
                fsync: if host_faults {
                    let ctrl = spec.dir.join(format!("server-{i}.fiu"));
                    std::fs::create_dir_all(&ctrl)
                        .with_context(|| format!("creating {}", ctrl.display()))?;
                    Some(FsyncFault::new(&ctrl))
                } else {
                    None
                },
            });
            server_addrs.push(addr);
        }
        let proxy = Slot {
            name: "proxy".into(),
            bin: "petrel-proxy",
            host: PROXY_HOST,
            args: vec![
                "--listen".into(),
                proxy_addr.clone(),
                "--meta".into(),
                meta_addr.clone(),
                "--table".into(),
                TABLE.into(),
            ],
            log: spec.dir.join("proxy.log"),
            child: None,
            paused: false,
            clock: None,
            fsync: None,
        };
        let mut c = Cluster {
            spec,
            meta_addr,
            meta,
            proxy,
            servers,
            server_addrs,
            proxy_addr,
            rpc: RpcClient::new(),
            relays,
            disks,
            net,
        };
        let bin_dir = c.spec.bin_dir.clone();
        c.meta.start(&bin_dir, c.net.as_ref())?;
        for s in &mut c.servers {
            s.start(&bin_dir, c.net.as_ref())?;
        }
        c.create_table().await?;
        c.proxy.start(&bin_dir, c.net.as_ref())?;
        Ok(c)
    }

    async fn create_table(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let req = CreateTableRequest {
                name: TABLE.into(),
                partition_count: self.spec.partitions,
                replica_count: self.spec.replicas,
            };
            let r: Result<CreateTableResponse, _> = self
                .rpc
                .call(
                    &self.meta_addr,
                    method::CREATE_TABLE,
                    &req,
                    Duration::from_secs(2),
                )
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if e.to_string().contains("already exists") => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    bail!("cannot create table {TABLE}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// The table's current map, from meta.
    pub async fn table(&self) -> anyhow::Result<TableMap> {
        let resp: QueryTableResponse = self
            .rpc
            .call(
                &self.meta_addr,
                method::QUERY_TABLE,
                &QueryTableRequest { name: TABLE.into() },
                Duration::from_secs(2),
            )
            .await
            .context("querying the table map")?;
        let t = resp.table.context("the table is gone")?;
        Ok(TableMap::from(&t))
    }

    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    pub fn server_addr(&self, i: usize) -> &str {
        &self.server_addrs[i]
    }

    /// The index of the server listening on `addr`.
    pub fn server_index(&self, addr: &str) -> Option<usize> {
        self.server_addrs.iter().position(|a| a == addr)
    }

    pub fn kill_server(&mut self, i: usize) {
        self.servers[i].kill();
    }

    pub fn start_server(&mut self, i: usize) -> anyhow::Result<()> {
        let bin_dir = self.spec.bin_dir.clone();
        self.servers[i].start(&bin_dir, self.net.as_ref())
    }

    pub fn pause_server(&mut self, i: usize) {
        self.servers[i].signal(libc::SIGSTOP);
        self.servers[i].paused = true;
    }

    pub fn resume_server(&mut self, i: usize) {
        self.servers[i].signal(libc::SIGCONT);
        self.servers[i].paused = false;
    }

    pub fn kill_meta(&mut self) {
        self.meta.kill();
    }

    pub fn start_meta(&mut self) -> anyhow::Result<()> {
        let bin_dir = self.spec.bin_dir.clone();
        self.meta.start(&bin_dir, self.net.as_ref())
    }

    /// Resumes paused processes and restarts dead ones.
    pub fn heal_processes(&mut self) -> anyhow::Result<()> {
        let bin_dir = self.spec.bin_dir.clone();
        let net = self.net.as_ref();
        self.meta.start(&bin_dir, net)?;
        for s in &mut self.servers {
            if s.paused {
                s.signal(libc::SIGCONT);
                s.paused = false;
            }
            s.start(&bin_dir, net)?;
        }
        self.proxy.start(&bin_dir, net)
    }

    /// Moves server `i`'s wall clock `secs` away from real time (0 resets it).
    pub fn jump_clock(&self, i: usize, secs: i64) -> anyhow::Result<()> {
        let clock = self.servers[i]
            .clock
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?;
        clock.jump(secs)
    }

    /// Makes every fsync of server `i` fail (or work again).
    pub fn fail_fsync(&self, i: usize, fail: bool) -> anyhow::Result<()> {
        let s = &self.servers[i];
        let fsync = s
            .fsync
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?;
        let pid = s
            .child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| anyhow::anyhow!("server {i} is not running"))?;
        if fail {
            fsync.enable(pid)
        } else {
            fsync.disable(pid)
        }
    }

    /// Adds `delay` to every chunk to and from server `i` (zero heals).
    pub fn delay_server(&self, i: usize, delay: Duration) {
        self.relays[i].set_delay(Direction::Upstream, delay);
        self.relays[i].set_delay(Direction::Downstream, delay);
    }

    /// Resets connections to server `i` with probability `p` per chunk, as
    /// connections dying of packet loss (zero heals).
    pub fn lose_packets_to(&self, i: usize, p: f64) {
        self.relays[i].set_drop_probability(p);
    }

    /// Fills server `i`'s disk (leaving `leave` bytes); returns bytes taken.
    pub fn fill_disk(&self, i: usize, leave: u64) -> anyhow::Result<u64> {
        self.disks
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?
            .fill(leave)
    }

    /// Frees what [`Cluster::fill_disk`] took.
    pub fn free_disk(&self, i: usize) -> anyhow::Result<()> {
        self.disks
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("servers were not started with host faults"))?
            .free()
    }

    /// Removes every relay fault and frees every disk.
    pub fn heal_links_and_disks(&self) -> anyhow::Result<()> {
        for r in &self.relays {
            r.heal();
        }
        for d in &self.disks {
            d.free()?;
        }
        Ok(())
    }

    /// Whether servers run with clock and fsync fault injection.
    pub fn has_host_faults(&self) -> bool {
        self.spec.host_faults
    }

    /// The proxy's address as a redis URL.
    pub fn proxy_url(&self) -> String {
        format!("redis://{}/", self.proxy_addr)
    }

    /// The network namespaces, when the cluster runs in them.
    pub fn network(&self) -> Option<&Network> {
        self.net.as_ref()
    }

    /// Removes every network cut.
    pub fn heal_network(&self) -> anyhow::Result<()> {
        match &self.net {
            Some(n) => n.heal(),
            None => Ok(()),
        }
    }

    /// Reaps processes that died by themselves; returns their names.
    pub fn reap(&mut self) -> Vec<String> {
        let mut dead = Vec::new();
        for s in std::iter::once(&mut self.meta)
            .chain(std::iter::once(&mut self.proxy))
            .chain(self.servers.iter_mut())
        {
            if let Some(c) = &mut s.child {
                if let Ok(Some(status)) = c.try_wait() {
                    dead.push(format!("{} exited ({status})", s.name));
                    s.child = None;
                }
            }
        }
        dead
    }

    pub fn is_server_up(&self, i: usize) -> bool {
        self.servers[i].is_up() && !self.servers[i].paused
    }

    /// Runs `petrel verify` against the table; returns (success, output).
    pub fn verify(&self) -> anyhow::Result<(bool, String)> {
        let out = Command::new(self.spec.bin_dir.join("petrel"))
            .args(["--meta", &self.meta_addr, "verify", TABLE, "--full"])
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
    pub fn stop(&mut self) {
        self.proxy.kill();
        for s in &mut self.servers {
            if s.paused {
                s.signal(libc::SIGCONT);
            }
            s.kill();
        }
        self.meta.kill();
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
