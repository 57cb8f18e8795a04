//! Test support: real processes on free ports.
//!
//! [`Onebox`] runs `petrel onebox` (meta, servers, one or more proxies as
//! real child processes) on ports nobody else uses and a temporary data dir;
//! [`cluster::Cluster`] starts the same processes one by one so a test can
//! kill, pause, restart or add single servers; [`admin`] runs the `petrel`
//! admin verbs and parses them; [`clients`] installs real client libraries
//! (cached venvs, npm prefix) and runs their scripts; [`load`] is a write load that records every
//! acknowledged SET; [`RedisOracle`] runs Debian's `redis-server` 7 as the
//! reference; [`RawConn`] speaks raw RESP so replies can be compared byte for
//! byte; [`script`] parses the differential command scripts and RESP replies.

#![allow(dead_code)]

pub mod admin;
pub mod clients;
pub mod cluster;
pub mod load;
pub mod script;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use petrel_cli::launch::process::terminate;

/// The binaries this crate built (see its Cargo.toml), by their real names.
const BINARIES: [(&str, &str); 5] = [
    ("petrel-meta", env!("CARGO_BIN_EXE_petrel-tests-meta")),
    ("petrel-server", env!("CARGO_BIN_EXE_petrel-tests-server")),
    ("petrel-proxy", env!("CARGO_BIN_EXE_petrel-tests-proxy")),
    ("petrel", env!("CARGO_BIN_EXE_petrel-tests-cli")),
    ("petrel-chaos", env!("CARGO_BIN_EXE_petrel-tests-chaos")),
];

/// A directory holding the binaries cargo built for these tests under the
/// real binaries' names (petrel-meta, petrel-server, petrel-proxy, petrel,
/// petrel-chaos), as symbolic links, for `--bin-dir` and the launcher. It
/// never holds anything cargo did not just build for this test run.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // One directory per profile: debug and release runs share the tmp dir.
        let profile = Path::new(BINARIES[0].1)
            .parent()
            .and_then(Path::file_name)
            .expect("binaries live in a profile directory");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("bin")
            .join(profile);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        for (name, target) in BINARIES {
            // Link under a name of this process's, then rename over the old
            // link: atomic, so test binaries running at once never see a gap.
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp)
                .unwrap_or_else(|e| panic!("linking {}: {e}", tmp.display()));
            std::fs::rename(&tmp, dir.join(name))
                .unwrap_or_else(|e| panic!("renaming {}: {e}", tmp.display()));
        }
        dir
    })
    .clone()
}

/// The binary named `name` (`petrel`, `petrel-proxy`...) as this test run built it.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// `n` consecutive ports that are free right now, unique within this test binary.
pub fn free_ports(n: u16) -> u16 {
    if NEXT_PORT.load(Ordering::SeqCst) == 0 {
        // Different test binaries start from different bases, all below
        // Linux's ephemeral range (32768-60999 by default): a port there
        // can be taken by any outgoing connection (the cluster's own RPC
        // clients) between this check and the process binding it, which
        // failed a run with "address already in use". The bases leave
        // about 2,800 ports to each binary before the range.
        let base = 20000 + (std::process::id() % 500) as u16 * 20;
        let _ = NEXT_PORT.compare_exchange(0, base, Ordering::SeqCst, Ordering::SeqCst);
    }
    loop {
        let start = NEXT_PORT.fetch_add(n, Ordering::SeqCst);
        assert!(start < 64000, "ran out of test ports");
        if (start..start + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return start;
        }
    }
}

/// Two keys `<prefix>N` that lie in different partitions of a table of
/// `partitions` partitions.
pub fn two_partitions(prefix: &str, partitions: u32) -> (String, String) {
    use petrel_common::hash::partition_of;
    let first = format!("{prefix}0");
    let p = partition_of(first.as_bytes(), partitions);
    let second = (1..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| partition_of(k.as_bytes(), partitions) != p)
        .expect("another partition");
    (first, second)
}

/// One key `<prefix>:N` per partition of a `partitions`-partition table,
/// in partition order.
pub fn key_per_partition(prefix: &str, partitions: u32) -> Vec<String> {
    use petrel_common::hash::partition_of;
    let mut keys: Vec<Option<String>> = vec![None; partitions as usize];
    let mut n = 0;
    while keys.iter().any(Option::is_none) {
        let k = format!("{prefix}:{n}");
        let p = partition_of(k.as_bytes(), partitions) as usize;
        keys[p].get_or_insert(k);
        n += 1;
    }
    keys.into_iter().flatten().collect()
}

/// Flags for `petrel onebox` beyond the ports and data dir.
#[derive(Clone, Debug, Default)]
pub struct OneboxOpts {
    /// `--servers` (onebox's default, 3, when `None`).
    pub servers: Option<u16>,
    /// `--replicas`.
    pub replicas: Option<u32>,
    /// `--partitions`.
    pub partitions: Option<u32>,
    /// `--proxies` (onebox's default, 1, when `None`): on consecutive ports
    /// from [`Onebox::proxy_port`] ([`Onebox::proxy_ports`]).
    pub proxies: Option<u16>,
    /// Any other flags, passed as given.
    pub extra: Vec<String>,
}

impl OneboxOpts {
    fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let flags = [
            ("--servers", self.servers.map(u32::from)),
            ("--replicas", self.replicas),
            ("--partitions", self.partitions),
            ("--proxies", self.proxies.map(u32::from)),
        ];
        for (flag, v) in flags {
            if let Some(v) = v {
                out.push(flag.to_string());
                out.push(v.to_string());
            }
        }
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// A running `petrel onebox`.
pub struct Onebox {
    pub dir: PathBuf,
    /// The first proxy's port.
    pub proxy_port: u16,
    /// How many proxies run, on consecutive ports from `proxy_port`.
    pub proxies: u16,
    pub meta_port: u16,
    pub server_port: u16,
    /// Lines onebox printed before `ready` (role, address, pid).
    pub lines: Vec<String>,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

impl Onebox {
    /// Starts a fresh cluster in a new temporary directory.
    pub fn start() -> Onebox {
        Onebox::start_with(OneboxOpts::default())
    }

    /// Starts a fresh cluster with `opts` in a new temporary directory.
    pub fn start_with(opts: OneboxOpts) -> Onebox {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        // The proxies' ports, meta's, then the servers'.
        let proxies = opts.proxies.unwrap_or(1);
        let base = free_ports(proxies + 1 + opts.servers.unwrap_or(3));
        let mut ob = Onebox::start_in_with(&dir, base, base + proxies, base + proxies + 1, &opts);
        ob._tmp = Some(tmp);
        ob
    }

    /// Starts onebox on `dir` with the given ports (servers use three from `server_port`).
    pub fn start_in(dir: &Path, proxy_port: u16, meta_port: u16, server_port: u16) -> Onebox {
        Onebox::start_in_with(
            dir,
            proxy_port,
            meta_port,
            server_port,
            &OneboxOpts::default(),
        )
    }

    /// Starts onebox on `dir` with the given ports and `opts` (its proxies on
    /// consecutive ports from `proxy_port`).
    pub fn start_in_with(
        dir: &Path,
        proxy_port: u16,
        meta_port: u16,
        server_port: u16,
        opts: &OneboxOpts,
    ) -> Onebox {
        let mut child = Command::new(bin("petrel"))
            .args([
                "onebox",
                "--dir",
                dir.to_str().expect("utf-8 dir"),
                "--port",
                &proxy_port.to_string(),
                "--meta-port",
                &meta_port.to_string(),
                "--server-port",
                &server_port.to_string(),
                "--bin-dir",
                bin_dir().to_str().expect("utf-8 bin dir"),
            ])
            .args(opts.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start petrel onebox");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == "ready" => break,
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let log =
                        std::fs::read_to_string(dir.join("logs/proxy.log")).unwrap_or_default();
                    panic!("onebox did not become ready; printed {lines:?}; proxy log:\n{log}");
                }
            }
        }
        Onebox {
            dir: dir.to_path_buf(),
            proxy_port,
            proxies: opts.proxies.unwrap_or(1),
            meta_port,
            server_port,
            lines,
            child: Some(child),
            _tmp: None,
        }
    }

    /// Takes ownership of the temporary data dir (so it outlives this onebox).
    pub fn take_tmp(&mut self) -> Option<tempfile::TempDir> {
        self._tmp.take()
    }

    /// Every proxy's port, the first ([`Onebox::proxy_port`]) first.
    pub fn proxy_ports(&self) -> Vec<u16> {
        (0..self.proxies).map(|i| self.proxy_port + i).collect()
    }

    pub fn meta_addr(&self) -> String {
        format!("127.0.0.1:{}", self.meta_port)
    }

    /// The admin verbs against this onebox's meta.
    pub fn admin(&self) -> admin::Admin {
        admin::Admin::new(self.meta_addr())
    }

    /// The pid onebox printed for `role` (first match).
    pub fn pid_of(&self, role: &str) -> u32 {
        self.lines
            .iter()
            .find(|l| l.starts_with(role))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid for {role} in {:?}", self.lines))
    }

    /// Every pid onebox printed for `role`.
    pub fn pids_of(&self, role: &str) -> Vec<u32> {
        self.lines
            .iter()
            .filter(|l| l.starts_with(role))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// SIGTERM to onebox, then wait for it (it stops its children).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(30));
        }
    }

    /// Runs the `petrel` CLI against this cluster's meta, whatever its exit status.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("petrel"))
            .arg("--meta")
            .arg(self.meta_addr())
            .args(args)
            .output()
            .expect("run petrel")
    }

    /// Runs the `petrel` CLI against this cluster's meta; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.cli_output(args);
        assert!(
            out.status.success(),
            "petrel {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.proxy_port)
    }

    pub fn redis_client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.proxy_port)).expect("client")
    }
}

impl Drop for Onebox {
    fn drop(&mut self) {
        self.stop();
        // A failed test shows what the processes said about it: CI keeps
        // only the test's output.
        if std::thread::panicking() {
            let logs = std::fs::read_dir(self.dir.join("logs"))
                .into_iter()
                .flatten();
            for log in logs.flatten() {
                let path = log.path();
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let warnings: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                    .collect();
                let tail = &warnings[warnings.len().saturating_sub(30)..];
                eprintln!(
                    "----- {} warnings and errors in {} (the last {}):\n{}",
                    warnings.len(),
                    path.display(),
                    tail.len(),
                    tail.join("\n")
                );
            }
        }
    }
}

/// A redis-server and a onebox of `partitions` partitions side by side,
/// with a `redis` crate connection to each: what comparison tests start.
pub struct Beside {
    pub redis: redis::Connection,
    pub petrel: redis::Connection,
    pub oracle: RedisOracle,
    pub onebox: Onebox,
}

impl Beside {
    pub fn start(partitions: u32) -> Beside {
        let oracle = RedisOracle::start();
        let onebox = Onebox::start_with(OneboxOpts {
            partitions: Some(partitions),
            ..Default::default()
        });
        let redis = redis::Client::open(format!("redis://127.0.0.1:{}/", oracle.port))
            .expect("client")
            .get_connection()
            .expect("connect to redis-server");
        let petrel = onebox
            .redis_client()
            .get_connection()
            .expect("connect to Petrel");
        Beside {
            redis,
            petrel,
            oracle,
            onebox,
        }
    }
}

/// A real `redis-server` 7 on a free port, without persistence: the oracle.
pub struct RedisOracle {
    pub port: u16,
    child: Child,
    _tmp: tempfile::TempDir,
}

impl RedisOracle {
    pub fn start() -> RedisOracle {
        let port = free_ports(1);
        let tmp = tempfile::tempdir().expect("tempdir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp.path().to_str().expect("utf-8"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisOracle {
            port,
            child,
            _tmp: tmp,
        }
    }

    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.port)
    }
}

impl Drop for RedisOracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw RESP connection returning each reply's exact bytes.
pub struct RawConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawConn {
    pub fn connect(port: u16) -> RawConn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        RawConn {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// Changes how long reads wait before giving up (default 15 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.writer
            .set_read_timeout(Some(timeout))
            .expect("timeout");
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Sends one command as a RESP array of bulk strings.
    pub fn send(&mut self, args: &[&[u8]]) {
        self.send_raw(&encode_command(args));
    }

    /// Sends a command and returns its reply's raw bytes.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
    }

    /// Splits `line` on spaces and calls it (no quoting: test convenience).
    pub fn cmd(&mut self, line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        String::from_utf8_lossy(&self.call(&args)).into_owned()
    }

    /// Reads one complete reply (RESP2 or RESP3) and returns its raw bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_into(&mut out);
        out
    }

    /// Reads one reply; `None` when the server closed the connection.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                self.finish(line, &mut out);
                Some(out)
            }
        }
    }

    /// Waits up to `wait` for a frame to start arriving (a reply, or one
    /// the server sends unasked, as pub/sub messages) and reads it whole.
    pub fn wait_frame(&mut self, wait: Duration) -> Arrival {
        let usual = self.writer.read_timeout().expect("read timeout");
        self.writer.set_read_timeout(Some(wait)).expect("timeout");
        let mut line = Vec::new();
        let first = self.reader.read_until(b'\n', &mut line);
        // The rest of a frame that has begun comes at the usual pace; a
        // timeout that cut its first line only means it came late.
        self.writer.set_read_timeout(usual).expect("timeout");
        let got = match first {
            Err(e) if is_timeout(&e) && !line.is_empty() => {
                self.reader.read_until(b'\n', &mut line)
            }
            r => r,
        };
        match got {
            Ok(0) => Arrival::Closed,
            Ok(_) if !line.ends_with(b"\n") => Arrival::Closed,
            Ok(_) => {
                let mut out = Vec::new();
                self.finish(line, &mut out);
                Arrival::Frame(out)
            }
            Err(e) if is_timeout(&e) => Arrival::Nothing,
            Err(_) => Arrival::Closed,
        }
    }

    fn read_into(&mut self, out: &mut Vec<u8>) {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .expect("read reply");
        assert!(n > 0, "connection closed while reading a reply");
        self.finish(line, out);
    }

    fn finish(&mut self, line: Vec<u8>, out: &mut Vec<u8>) {
        let kind = line[0];
        let body = String::from_utf8_lossy(&line[1..line.len().saturating_sub(2)]).into_owned();
        out.extend_from_slice(&line);
        match kind {
            b'$' | b'=' | b'!' => {
                let len: i64 = body.parse().expect("bulk length");
                if len >= 0 {
                    let mut buf = vec![0u8; len as usize + 2];
                    self.reader.read_exact(&mut buf).expect("bulk body");
                    out.extend_from_slice(&buf);
                }
            }
            b'*' | b'~' | b'>' => {
                let n: i64 = body.parse().expect("array length");
                for _ in 0..n.max(0) {
                    self.read_into(out);
                }
            }
            b'%' | b'|' => {
                let n: i64 = body.parse().expect("map length");
                for _ in 0..n.max(0) * 2 {
                    self.read_into(out);
                }
            }
            _ => {}
        }
    }

    /// True once the server has closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0))
    }
}

/// What [`RawConn::wait_frame`] saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrival {
    /// One whole frame, its raw bytes.
    Frame(Vec<u8>),
    /// The server closed the connection.
    Closed,
    /// Nothing came within the wait.
    Nothing,
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads a `kB` field (e.g. `VmRSS`) of `/proc/<pid>/status`, in bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Runs named checks one after another, each catching its own panic, and
/// fails at the end naming every check that failed; lets one cluster serve
/// several independent checks without the first failure hiding the others.
pub fn run_checks(checks: &[(&str, &dyn Fn())]) {
    let mut failed = Vec::new();
    for (name, check) in checks {
        eprintln!("--- check {name}");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "failed checks (see panics above): {failed:?}"
    );
}

/// Runs `redis-cli` against `port`; returns trimmed stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli must be installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}
