//! [`Cluster`]: meta, servers and a proxy started one by one (with the flags
//! `petrel onebox` uses), so a test can kill -9, SIGSTOP/SIGCONT, restart or
//! add individual servers while the rest keeps running.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::admin::{wait_for, Admin};
use super::{bin_dir, free_ports, RawConn};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Clone, Debug)]
pub struct ClusterOpts {
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
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            servers: 3,
            replicas: 3,
            partitions: 4,
            meta_args: Vec::new(),
            proxy_args: Vec::new(),
            server_metrics: false,
            durability: "sync".into(),
        }
    }
}

/// One server slot: its address and data dir stay, the process comes and goes.
struct Server {
    port: u16,
    /// With [`ClusterOpts::server_metrics`], where its metrics are served.
    metrics_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
    starts: u32,
}

/// A running cluster on 127.0.0.1 in a temporary directory. Dropping it
/// kills every process (and prints the tail of each log if the test failed).
pub struct Cluster {
    pub dir: PathBuf,
    pub meta_port: u16,
    pub proxy_port: u16,
    pub opts: ClusterOpts,
    meta: Option<Child>,
    proxy: Option<Child>,
    servers: Vec<Server>,
    _tmp: tempfile::TempDir,
}

/// Starts `bin` with `args`, logging to `log`; the child gets SIGKILL if the
/// spawning thread dies, so a crashed test leaves no cluster behind.
fn spawn(bin: &str, args: &[String], log: &Path) -> Child {
    let path = bin_dir().join(bin);
    assert!(
        path.exists(),
        "{} missing: build the workspace's release binaries first (or set PETREL_BIN_DIR)",
        path.display()
    );
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
    let err = out.try_clone().expect("dup log");
    let mut cmd = Command::new(&path);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // SAFETY: prctl is async-signal-safe; it only arms the parent-death signal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()))
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: signalling a child this fixture started and has not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Cluster {
    /// Starts meta, `opts.servers` servers, creates the `default` table and
    /// starts the proxy; returns once DBSIZE answers through the proxy.
    pub fn start(opts: ClusterOpts) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("logs")).expect("logs dir");
        let base = free_ports(2 + opts.servers as u16);
        let metrics_base = opts.server_metrics.then(|| free_ports(opts.servers as u16));
        let servers = (0..opts.servers)
            .map(|i| Server {
                port: base + 2 + i as u16,
                metrics_port: metrics_base.map(|m| m + i as u16),
                dir: dir.join(format!("server-{}", i + 1)),
                child: None,
                stopped: false,
                starts: 0,
            })
            .collect();
        let mut c = Cluster {
            dir,
            meta_port: base,
            proxy_port: base + 1,
            opts,
            meta: None,
            proxy: None,
            servers,
            _tmp: tmp,
        };
        let mut meta_args = vec![
            "--listen".to_string(),
            c.meta_addr(),
            "--data-dir".to_string(),
            c.dir.join("meta").display().to_string(),
        ];
        meta_args.extend(c.opts.meta_args.iter().cloned());
        c.meta = Some(spawn(
            "petrel-meta",
            &meta_args,
            &c.dir.join("logs/meta.log"),
        ));
        let admin = c.admin();
        c.wait_alive("meta to answer", || {
            admin.output(&["nodes"]).status.success()
        });
        for i in 0..c.servers.len() {
            c.start_server(i);
        }
        let addrs = c.server_addrs();
        c.wait_nodes_alive(&addrs);
        let (p, r) = (c.opts.partitions.to_string(), c.opts.replicas.to_string());
        admin.run(&[
            "create-table",
            "default",
            "--partitions",
            &p,
            "--replicas",
            &r,
        ]);
        let mut proxy_args = vec![
            "--listen".to_string(),
            format!("127.0.0.1:{}", c.proxy_port),
            "--meta".to_string(),
            c.meta_addr(),
            "--table".to_string(),
            "default".to_string(),
        ];
        proxy_args.extend(c.opts.proxy_args.iter().cloned());
        c.proxy = Some(spawn(
            "petrel-proxy",
            &proxy_args,
            &c.dir.join("logs/proxy.log"),
        ));
        c.wait_ready(STARTUP_TIMEOUT);
        c
    }

    pub fn meta_addr(&self) -> String {
        format!("127.0.0.1:{}", self.meta_port)
    }

    pub fn admin(&self) -> Admin {
        Admin::new(self.meta_addr())
    }

    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    pub fn server_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.servers[i].port)
    }

    pub fn server_addrs(&self) -> Vec<String> {
        (0..self.servers.len())
            .map(|i| self.server_addr(i))
            .collect()
    }

    /// The index of the server listening on `addr`.
    pub fn server_index(&self, addr: &str) -> usize {
        (0..self.servers.len())
            .find(|&i| self.server_addr(i) == addr)
            .unwrap_or_else(|| panic!("{addr} is none of {:?}", self.server_addrs()))
    }

    /// Where server `i` serves its metrics (with [`ClusterOpts::server_metrics`]).
    pub fn server_metrics_addr(&self, i: usize) -> Option<String> {
        self.servers[i]
            .metrics_port
            .map(|p| format!("127.0.0.1:{p}"))
    }

    /// The pid of server `i`, if it runs.
    pub fn server_pid(&self, i: usize) -> Option<u32> {
        self.servers[i].child.as_ref().map(Child::id)
    }

    fn start_server(&mut self, i: usize) {
        let meta = self.meta_addr();
        let addr = self.server_addr(i);
        let s = &mut self.servers[i];
        assert!(s.child.is_none(), "server {i} ({addr}) already runs");
        let mut args = vec![
            "--listen".to_string(),
            addr,
            "--meta".to_string(),
            meta,
            "--data-dir".to_string(),
            s.dir.display().to_string(),
            "--durability".to_string(),
            self.opts.durability.clone(),
        ];
        if let Some(p) = s.metrics_port {
            args.extend(["--metrics-listen".to_string(), format!("127.0.0.1:{p}")]);
        }
        s.starts += 1;
        let log = self.dir.join(format!("logs/server-{}.log", i + 1));
        s.child = Some(spawn("petrel-server", &args, &log));
        s.stopped = false;
    }

    /// kill -9 server `i` and reap it.
    pub fn kill_server(&mut self, i: usize) {
        let s = &mut self.servers[i];
        let mut child = s
            .child
            .take()
            .unwrap_or_else(|| panic!("server {i} is not running"));
        kill_and_reap(&mut child);
        s.stopped = false;
    }

    /// SIGSTOP server `i`: it keeps its sockets but runs no code.
    pub fn pause_server(&mut self, i: usize) {
        let s = &mut self.servers[i];
        signal(s.child.as_ref().expect("server runs"), libc::SIGSTOP);
        s.stopped = true;
    }

    /// SIGCONT server `i`.
    pub fn resume_server(&mut self, i: usize) {
        let s = &mut self.servers[i];
        signal(s.child.as_ref().expect("server runs"), libc::SIGCONT);
        s.stopped = false;
    }

    /// Starts server `i` again on its data dir and port (after [`Cluster::kill_server`]).
    pub fn restart_server(&mut self, i: usize) {
        self.start_server(i);
    }

    /// Starts one more server on a fresh port and data dir; returns its index.
    /// Waits until meta sees it alive.
    pub fn add_server(&mut self) -> usize {
        let i = self.servers.len();
        let metrics_port = self.opts.server_metrics.then(|| free_ports(1));
        self.servers.push(Server {
            port: free_ports(1),
            metrics_port,
            dir: self.dir.join(format!("server-{}", i + 1)),
            child: None,
            stopped: false,
            starts: 0,
        });
        self.start_server(i);
        let addr = self.server_addr(i);
        self.wait_nodes_alive(&[addr]);
        i
    }

    /// Waits until meta lists every address in `addrs` as alive.
    pub fn wait_nodes_alive(&mut self, addrs: &[String]) {
        let admin = self.admin();
        self.wait_alive("servers to register with meta", || {
            let Some(nodes) = admin.try_json(&["nodes"]) else {
                return false;
            };
            let nodes = nodes.as_array().cloned().unwrap_or_default();
            addrs.iter().all(|a| {
                nodes
                    .iter()
                    .any(|n| n["address"].as_str() == Some(a) && n["alive"] == true)
            })
        });
    }

    /// Waits until DBSIZE (which touches every partition) answers through the proxy.
    pub fn wait_ready(&self, timeout: Duration) {
        let port = self.proxy_port;
        wait_for(timeout, "DBSIZE to answer through the proxy", || {
            dbsize(port).map(|_| ())
        });
    }

    /// Polls `ready`, failing early (with the logs) if a process exited.
    fn wait_alive(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if let Some(dead) = self.exited() {
                panic!("{dead} exited while waiting for {what}");
            }
            if ready() {
                return;
            }
            assert!(
                start.elapsed() < STARTUP_TIMEOUT,
                "timed out after {STARTUP_TIMEOUT:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first process that has exited, by name.
    fn exited(&mut self) -> Option<String> {
        if let Some(m) = self.meta.as_mut() {
            if let Ok(Some(st)) = m.try_wait() {
                return Some(format!("meta ({st})"));
            }
        }
        for (i, s) in self.servers.iter_mut().enumerate() {
            if let Some(c) = s.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Some(format!("server-{} ({st})", i + 1));
                }
            }
        }
        None
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

/// DBSIZE through the proxy on `port`, if it answers with an integer.
pub fn dbsize(port: u16) -> Option<i64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"*1\r\n$6\r\nDBSIZE\r\n").ok()?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .strip_prefix(':')?
        .trim_end()
        .parse()
        .ok()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in &mut self.servers {
            if let Some(c) = s.child.as_mut() {
                if s.stopped {
                    signal(c, libc::SIGCONT);
                }
            }
        }
        if let Some(c) = self.proxy.as_mut() {
            kill_and_reap(c);
        }
        for s in &mut self.servers {
            if let Some(c) = s.child.as_mut() {
                kill_and_reap(c);
            }
        }
        if let Some(c) = self.meta.as_mut() {
            kill_and_reap(c);
        }
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
