//! [`Cluster`]: meta, servers and a proxy started one by one through the
//! launcher `petrel onebox` uses (`petrel_cli::launch`), so a test can
//! kill -9, SIGSTOP/SIGCONT, restart or add individual servers while the
//! rest keeps running, or restart any process on another version's
//! binaries ([`Cluster::upgrade`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use petrel_cli::launch::cluster::{
    proxy_serves, Role, META_BIN, PROXY_BIN, SERVER_BIN, STOP_TIMEOUT,
};
use petrel_cli::launch::{self, ClusterSpec, ServerSpec, TableSpec};
use petrel_common::msg::{method, MetaStatusRequest, MetaStatusResponse};
use petrel_common::rpc::client::RpcClient;
use tokio::runtime::Runtime;

use super::admin::{wait_for, Admin};
use super::{bin_dir, free_ports, RawConn};

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterOpts {
    /// Metas in the group (1, 3 or 5).
    pub metas: usize,
    pub servers: usize,
    /// Replica count of the `default` table.
    pub replicas: u32,
    /// Partition count of the `default` table.
    pub partitions: u32,
    /// Extra petrel-meta flags, e.g. `["--dropout-delay-ms", "2000"]`.
    pub meta_args: Vec<String>,
    /// Extra petrel-proxy flags, e.g. `["--metrics-listen", "127.0.0.1:9100"]`.
    pub proxy_args: Vec<String>,
    /// Each server serves Prometheus metrics on a port of its own
    /// ([`Cluster::server_metrics_addr`]).
    pub server_metrics: bool,
    /// Server durability: `sync` or `async`.
    pub durability: String,
    /// Where petrel-meta, petrel-server and petrel-proxy come from: this
    /// build's ([`bin_dir`]) when `None`, another version's otherwise.
    pub bin_dir: Option<PathBuf>,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            metas: 1,
            servers: 3,
            replicas: 3,
            partitions: 4,
            meta_args: Vec::new(),
            proxy_args: Vec::new(),
            server_metrics: false,
            durability: "sync".into(),
            bin_dir: None,
        }
    }
}

/// A running cluster on 127.0.0.1 in a temporary directory. Dropping it
/// kills every process (and prints the tail of each log if the test failed).
pub struct Cluster {
    pub dir: PathBuf,
    pub meta_port: u16,
    pub proxy_port: u16,
    pub opts: ClusterOpts,
    procs: launch::Cluster,
    /// With [`ClusterOpts::server_metrics`], where each server serves them.
    metrics_ports: Vec<Option<u16>>,
    /// Drives the launcher's waits (RPCs to meta, DBSIZE to the proxy).
    rt: Runtime,
    _tmp: tempfile::TempDir,
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ClusterOpts {
    /// Where the processes' binaries come from.
    fn bin_dir(&self) -> PathBuf {
        self.bin_dir.clone().unwrap_or_else(bin_dir)
    }

    /// Server flags beyond the launcher's, with metrics on `metrics_port`.
    fn server(&self, port: u16, metrics_port: Option<u16>) -> ServerSpec {
        let mut flags = vec!["--durability".to_string(), self.durability.clone()];
        if let Some(p) = metrics_port {
            flags.extend(["--metrics-listen".to_string(), format!("127.0.0.1:{p}")]);
        }
        ServerSpec {
            addr: format!("127.0.0.1:{port}"),
            flags,
        }
    }
}

impl Cluster {
    /// Starts meta, `opts.servers` servers, creates the `default` table and
    /// starts the proxy; returns once DBSIZE answers through the proxy.
    pub fn start(opts: ClusterOpts) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        // The first meta, the proxy, the servers, then any other meta.
        let base = free_ports(1 + opts.metas as u16 + opts.servers as u16);
        let meta_addrs: Vec<String> = std::iter::once(base)
            .chain((1..opts.metas as u16).map(|j| base + 1 + opts.servers as u16 + j))
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let metrics_base = opts.server_metrics.then(|| free_ports(opts.servers as u16));
        let metrics_ports: Vec<Option<u16>> = (0..opts.servers)
            .map(|i| metrics_base.map(|m| m + i as u16))
            .collect();
        let spec = ClusterSpec {
            bin_dir: opts.bin_dir(),
            dir: dir.clone(),
            meta_addrs,
            meta_flags: opts.meta_args.clone(),
            servers: (0..opts.servers)
                .map(|i| opts.server(base + 2 + i as u16, metrics_ports[i]))
                .collect(),
            proxy_addrs: vec![format!("127.0.0.1:{}", base + 1)],
            proxy_flags: opts.proxy_args.clone(),
            table: TableSpec {
                name: "default".into(),
                partitions: opts.partitions,
                replicas: opts.replicas,
            },
        };
        let procs = launch::Cluster::new(&spec).expect("cluster layout");
        let mut c = Cluster {
            dir,
            meta_port: base,
            proxy_port: base + 1,
            opts,
            procs,
            metrics_ports,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            _tmp: tmp,
        };
        let started = c.rt.block_on(c.procs.start(|_| {}));
        started.unwrap_or_else(|e| panic!("starting the cluster: {e:#}"));
        c
    }

    pub fn meta_addr(&self) -> String {
        format!("127.0.0.1:{}", self.meta_port)
    }

    pub fn admin(&self) -> Admin {
        Admin::new(self.meta_addrs().join(","))
    }

    /// Every meta's address, the first ([`Cluster::meta_addr`]) first.
    pub fn meta_addrs(&self) -> Vec<String> {
        self.procs.meta_addrs().to_vec()
    }

    /// What meta `i` says of itself and the group; `None` when it does not answer.
    pub fn meta_status(&self, i: usize) -> Option<MetaStatusResponse> {
        let addr = self.meta_addrs()[i].clone();
        self.rt
            .block_on(RpcClient::new().call(
                &addr,
                method::META_STATUS,
                &MetaStatusRequest {},
                Duration::from_secs(1),
            ))
            .ok()
    }

    /// The index of the meta that says it leads, if one does.
    pub fn meta_leader(&self) -> Option<usize> {
        (0..self.opts.metas).find(|&i| {
            self.procs.metas[i].is_running()
                && self.meta_status(i).is_some_and(|s| s.role == "leader")
        })
    }

    /// kill -9 meta `i`.
    pub fn kill_meta(&mut self, i: usize) {
        let m = &mut self.procs.metas[i];
        assert!(m.is_running(), "meta {i} is not running");
        m.kill();
    }

    /// Starts meta `i` again on its data dir and port.
    pub fn restart_meta(&mut self, i: usize) {
        let m = &mut self.procs.metas[i];
        assert!(!m.is_running(), "meta {i} already runs");
        m.start()
            .unwrap_or_else(|e| panic!("restarting meta {i}: {e:#}"));
    }

    pub fn server_count(&self) -> usize {
        self.procs.servers.len()
    }

    pub fn server_addr(&self, i: usize) -> String {
        self.procs.server_addr(i).to_string()
    }

    pub fn server_addrs(&self) -> Vec<String> {
        self.procs.server_addrs().to_vec()
    }

    /// The index of the server listening on `addr`.
    pub fn server_index(&self, addr: &str) -> usize {
        (0..self.server_count())
            .find(|&i| self.server_addr(i) == addr)
            .unwrap_or_else(|| panic!("{addr} is none of {:?}", self.server_addrs()))
    }

    /// Where server `i` serves its metrics (with [`ClusterOpts::server_metrics`]).
    pub fn server_metrics_addr(&self, i: usize) -> Option<String> {
        self.metrics_ports[i].map(|p| format!("127.0.0.1:{p}"))
    }

    /// The pid of server `i`, if it runs.
    pub fn server_pid(&self, i: usize) -> Option<u32> {
        self.procs.servers[i].pid()
    }

    /// The pid of the process of `role`, if it runs.
    pub fn pid(&self, role: Role) -> Option<u32> {
        match role {
            Role::Meta(i) => self.procs.metas[i].pid(),
            Role::Server(i) => self.procs.servers[i].pid(),
            Role::Proxy(i) => self.procs.proxies[i].pid(),
        }
    }

    /// kill -9 server `i` and reap it.
    pub fn kill_server(&mut self, i: usize) {
        let s = &mut self.procs.servers[i];
        assert!(s.is_running(), "server {i} is not running");
        s.kill();
    }

    /// SIGSTOP server `i`: it keeps its sockets but runs no code.
    pub fn pause_server(&mut self, i: usize) {
        let s = &mut self.procs.servers[i];
        assert!(s.is_running(), "server {i} is not running");
        s.pause();
    }

    /// SIGCONT server `i`.
    pub fn resume_server(&mut self, i: usize) {
        let s = &mut self.procs.servers[i];
        assert!(s.is_running(), "server {i} is not running");
        s.resume();
    }

    /// Starts server `i` again on its data dir and port (after [`Cluster::kill_server`]).
    pub fn restart_server(&mut self, i: usize) {
        let s = &mut self.procs.servers[i];
        assert!(!s.is_running(), "server {i} ({}) already runs", s.label());
        s.start()
            .unwrap_or_else(|e| panic!("restarting server {i}: {e:#}"));
    }

    /// Starts one more server on a fresh port and data dir; returns its index.
    /// Waits until meta sees it alive.
    pub fn add_server(&mut self) -> usize {
        let metrics_port = self.opts.server_metrics.then(|| free_ports(1));
        let spec = self.opts.server(free_ports(1), metrics_port);
        let i = self
            .procs
            .add_server_in(&self.opts.bin_dir(), &self.dir, &spec);
        self.metrics_ports.push(metrics_port);
        self.restart_server(i);
        self.wait_nodes_alive(&[spec.addr]);
        i
    }

    /// kill -9 every process (meta, servers, proxy), then starts them all
    /// again on their data dirs and ports; returns once the proxy serves.
    pub fn restart_all(&mut self) {
        self.procs.kill();
        let started = self.rt.block_on(self.procs.start(|_| {}));
        started.unwrap_or_else(|e| panic!("restarting the cluster: {e:#}"));
    }

    /// Starts one more petrel-proxy against this cluster's meta (with
    /// [`ClusterOpts::proxy_args`]); returns it (dropping it kills it) and
    /// its port. Waits until it serves every partition.
    pub fn start_proxy(&mut self) -> (launch::process::Process, u16) {
        self.start_proxy_from(&self.opts.bin_dir())
    }

    /// [`Cluster::start_proxy`] with the petrel-proxy in `bin_dir`.
    pub fn start_proxy_from(&mut self, bin_dir: &Path) -> (launch::process::Process, u16) {
        let port = free_ports(1);
        let addr = format!("127.0.0.1:{port}");
        let mut args = launch::cluster::proxy_flags(&addr, &self.meta_addrs(), "default");
        args.extend(self.opts.proxy_args.iter().cloned());
        let log = self.dir.join("logs").join(format!("proxy-{port}.log"));
        let mut p = launch::process::Process::new(
            format!("proxy {addr}"),
            bin_dir.join(PROXY_BIN),
            args,
            log,
        );
        p.start()
            .unwrap_or_else(|e| panic!("starting a second proxy: {e:#}"));
        wait_for(Duration::from_secs(60), "the second proxy to serve", || {
            self.rt.block_on(proxy_serves(&addr)).then_some(())
        });
        (p, port)
    }

    /// Stops the process of `role` as an operator would (SIGTERM, SIGKILL
    /// after the launcher's stop timeout) and starts it again on its data
    /// dir, port and flags from the binary in `bin_dir`: one step of a
    /// rolling upgrade. Does not wait for it to serve.
    pub fn upgrade(&mut self, role: Role, bin_dir: &Path) {
        let name = match role {
            Role::Meta(_) => META_BIN,
            Role::Server(_) => SERVER_BIN,
            Role::Proxy(_) => PROXY_BIN,
        };
        self.stop(role);
        let p = self.procs.process_mut(role);
        p.set_bin(bin_dir.join(name));
        p.start()
            .unwrap_or_else(|e| panic!("starting {} again: {e:#}", p.label()));
    }

    /// Stops the process of `role`: SIGTERM, then SIGKILL after the
    /// launcher's stop timeout.
    pub fn stop(&mut self, role: Role) {
        let p = self.procs.process_mut(role);
        assert!(p.is_running(), "{} is not running", p.label());
        if !p.stop(STOP_TIMEOUT) {
            eprintln!(
                "{} ignored SIGTERM for {STOP_TIMEOUT:?} and was killed",
                p.label()
            );
        }
    }

    /// Waits until meta lists every address in `addrs` as alive.
    pub fn wait_nodes_alive(&mut self, addrs: &[String]) {
        let alive = self.rt.block_on(self.procs.wait_servers_alive(addrs));
        alive.unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Waits until DBSIZE (which touches every partition) answers through the proxy.
    pub fn wait_ready(&self, timeout: Duration) {
        let addr = format!("127.0.0.1:{}", self.proxy_port);
        wait_for(timeout, "DBSIZE to answer through the proxy", || {
            self.rt.block_on(proxy_serves(&addr)).then_some(())
        });
    }

    pub fn redis_client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.proxy_port)).expect("client")
    }

    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.proxy_port)
    }

    /// Every log file of this cluster.
    fn logs(&self) -> Vec<PathBuf> {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.dir.join("logs"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        logs.sort();
        logs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.procs.kill();
        if std::thread::panicking() {
            for log in self.logs() {
                eprintln!("----- tail of {}:\n{}", log.display(), log_tail(&log, 40));
            }
        }
        if std::env::var_os("PETREL_KEEP_TEST_DIR").is_some() {
            let dir = std::mem::replace(&mut self._tmp, tempfile::tempdir().expect("tempdir"));
            eprintln!("keeping {}", dir.keep().display());
        }
    }
}
