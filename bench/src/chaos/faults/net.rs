//! Hosts in network namespaces on one bridge, and partitions between them.
//!
//! Layout for prefix `p` and `n` hosts:
//! - bridge `pbr` in the root namespace with `10.X.0.1/24`; `X` comes from a
//!   hash of the prefix, moved on to the next subnet no interface or route on
//!   this machine uses;
//! - host `i`: namespace `ph<i>`, a veth pair `pv<i>` (root side, on the
//!   bridge) to `eth0` (inside), `10.X.0.<i+2>/24`, `lo` up, default route
//!   via the bridge address.
//!
//! The root namespace is where the chaos clients run: it reaches every host
//! through the bridge, with `10.X.0.1` ([`Network::client_ip`]) as source.
//! With `br_netfilter` loaded (`net.bridge.bridge-nf-call-iptables = 1`),
//! frames between two bridge ports go through the root namespace's iptables
//! FORWARD chain, so a DROP policy there would cut hosts from each other;
//! creation therefore inserts ACCEPT rules for the bridge at the top of the
//! root FORWARD, INPUT and OUTPUT chains (tagged with the comment
//! `petrel-chaos <prefix>`) and removes them on drop. No sysctl is changed.
//!
//! Partitions are iptables rules inside the host namespaces: each host has a
//! chain [`CHAIN`] jumped to first from INPUT, and a cut is a `-s <ip> -j DROP`
//! in the receiving host's chain. DROP (not REJECT) makes connects time out and
//! stalls established connections, as a real partition does. [`Network::heal`]
//! flushes only those chains. Clients in the root namespace are never cut.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, ensure, Context, Result};

use super::{prerequisites, rewrap, run, tool, tool_command};

/// The iptables chain, in each host namespace's filter table, holding the cuts.
pub(crate) const CHAIN: &str = "PETREL-CHAOS";

/// Longest prefix accepted: `<prefix>v<i>` must fit in 15 bytes (IFNAMSIZ).
const MAX_PREFIX: usize = 9;

/// Most hosts on one /24 (`.1` is the bridge, hosts from `.2`).
const MAX_HOSTS: usize = 250;

/// Subnets (`10.X.0.0/24`) taken by networks of this process, so parallel
/// tests never pick the same one before its bridge exists.
static SUBNETS: Mutex<BTreeSet<u8>> = Mutex::new(BTreeSet::new());

/// Hosts on a bridge, each in its own network namespace. Dropping it removes
/// the namespaces (killing nothing: processes left in them keep their sockets
/// but lose their interfaces), the veths, the bridge and the root rules.
#[derive(Debug)]
pub(crate) struct Network {
    prefix: String,
    subnet: u8,
    hosts: usize,
    /// Active cuts `(from, at)`: packets from host `from` are dropped at
    /// host `at`.
    drops: Mutex<BTreeSet<(usize, usize)>>,
}

impl Network {
    /// `Ok` when networks can be created here; otherwise why not.
    pub(crate) fn supported() -> Result<(), String> {
        prerequisites(&["ip", "iptables"])
    }

    /// Creates the bridge and `hosts` namespaces, removing leftovers of an
    /// earlier network with the same prefix first.
    pub(crate) fn create(prefix: &str, hosts: usize) -> Result<Network> {
        ensure!(
            !prefix.is_empty()
                && prefix.len() <= MAX_PREFIX
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "network prefix {prefix:?} must be 1 to {MAX_PREFIX} lowercase letters or digits"
        );
        ensure!(
            (1..=MAX_HOSTS).contains(&hosts),
            "a network has 1 to {MAX_HOSTS} hosts"
        );
        if let Err(why) = Self::supported() {
            bail!("cannot create network namespaces: {why}");
        }
        Self::cleanup(prefix)?;
        let subnet = reserve_subnet(prefix)?;
        // Built before the setup so that a failure half-way is torn down by Drop.
        let net = Network {
            prefix: prefix.to_string(),
            subnet,
            hosts,
            drops: Default::default(),
        };
        net.setup()
            .with_context(|| format!("creating network {prefix}"))?;
        Ok(net)
    }

    fn setup(&self) -> Result<()> {
        let br = self.bridge_name();
        let cidr = format!("{}/24", self.client_ip());
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["addr", "add", &cidr, "dev", &br])?;
        ip(&["link", "set", &br, "up"])?;
        for rule in root_rules(&self.prefix) {
            iptables(None, &insert(&rule))?;
        }
        for i in 0..self.hosts {
            let ns = self.ns_name(i);
            let veth = self.veth_name(i);
            let addr = format!("{}/24", self.host_ip(i));
            let gateway = self.client_ip().to_string();
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &br, "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "route", "add", "default", "via", &gateway])?;
            iptables(Some(&ns), &["-N", CHAIN])?;
            iptables(Some(&ns), &["-I", "INPUT", "1", "-j", CHAIN])?;
        }
        Ok(())
    }

    /// Removes everything a network with this prefix may have left behind
    /// (after a crash, Drop never ran): namespaces `<prefix>h<N>`, links
    /// `<prefix>v<N>` and `<prefix>br`, and the tagged root iptables rules.
    pub(crate) fn cleanup(prefix: &str) -> Result<()> {
        let mut errors = Vec::new();
        let links = run(tool_command("ip").args(["-o", "link", "show"]))?;
        // "12: fv0@if2: <BROADCAST,...>" names the link "fv0".
        let names: Vec<&str> = links
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1))
            .map(|name| name.trim_end_matches(':').split('@').next().unwrap_or(name))
            .collect();
        let br = format!("{prefix}br");
        for name in &names {
            let veth = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('v'))
                .is_some_and(all_digits);
            if veth {
                // Deleting one end of a veth pair deletes both.
                errors.extend(ip(&["link", "del", name]).err());
            }
        }
        let namespaces = run(tool_command("ip").args(["netns", "list"]))?;
        for line in namespaces.lines() {
            let Some(name) = line.split_whitespace().next() else {
                continue;
            };
            let ours = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('h'))
                .is_some_and(all_digits);
            if ours {
                errors.extend(ip(&["netns", "del", name]).err());
            }
        }
        if names.contains(&br.as_str()) {
            errors.extend(ip(&["link", "del", &br]).err());
        }
        if tool("iptables").is_some() {
            for rule in root_rules(prefix) {
                // Deleting a rule that is not there fails: stop at the first.
                for _ in 0..16 {
                    if iptables(None, &delete(&rule)).is_err() {
                        break;
                    }
                }
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e.context(format!("cleaning up network {prefix}"))),
            None => Ok(()),
        }
    }

    /// Host `i`'s address.
    pub(crate) fn host_ip(&self, i: usize) -> Ipv4Addr {
        assert!(i < self.hosts, "host {i} of {}", self.hosts);
        Ipv4Addr::new(10, self.subnet, 0, i as u8 + 2)
    }

    /// The bridge's address: the source address of connections from the
    /// root namespace (where the clients run) to the hosts.
    pub(crate) fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet, 0, 1)
    }

    /// Host `i`'s namespace, as `ip netns` names it.
    pub(crate) fn ns_name(&self, i: usize) -> String {
        assert!(i < self.hosts, "host {i} of {}", self.hosts);
        format!("{}h{i}", self.prefix)
    }

    /// The bridge interface in the root namespace.
    pub(crate) fn bridge_name(&self) -> String {
        format!("{}br", self.prefix)
    }

    fn veth_name(&self, i: usize) -> String {
        format!("{}v{i}", self.prefix)
    }

    /// `ip netns exec <ns> program`: add arguments and stdio, then spawn; the
    /// child's pid is the program's (`ip` execs it). Environment set on it
    /// reaches `ip` too: to preload libraries, use [`Network::wrap`].
    #[cfg(test)]
    pub(crate) fn command(&self, i: usize, program: impl AsRef<std::path::Path>) -> Command {
        let mut cmd = tool_command("ip");
        cmd.args(["netns", "exec", &self.ns_name(i)])
            .arg(program.as_ref());
        cmd
    }

    /// Moves a prepared command into host `i`: program, arguments, working
    /// directory and environment changes are kept (the environment travels
    /// through `env`, so `ip` itself is not preloaded); set stdio afterwards.
    pub(crate) fn wrap(&self, i: usize, cmd: Command) -> Command {
        let ip = tool("ip").unwrap_or_else(|| "ip".into());
        rewrap(&ip, &["netns", "exec", &self.ns_name(i)], &cmd)
    }

    /// Runs `f` on a thread inside host `i`'s network namespace. Sockets it
    /// creates belong to that namespace for their whole life, whichever
    /// thread uses them later.
    pub(crate) fn run_in<T: Send>(&self, i: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
        let path = format!("/run/netns/{}", self.ns_name(i));
        let ns = File::open(&path).with_context(|| format!("opening {path}"))?;
        std::thread::scope(|s| {
            let thread = s.spawn(|| {
                // SAFETY: a valid namespace fd; this thread is ours alone and
                // ends with the scope, so no other code runs in the namespace.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    let err = std::io::Error::last_os_error();
                    return Err(anyhow::Error::new(err).context(format!("setns({path})")));
                }
                Ok(f())
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Cuts hosts `a` and `b` from each other, both directions.
    pub(crate) fn isolate(&self, a: usize, b: usize) -> Result<()> {
        ensure!(a != b, "cannot isolate host {a} from itself");
        self.add_drop(a, b)?;
        self.add_drop(b, a)
    }

    /// Drops packets from host `from` at host `to` (in `to`'s INPUT); packets
    /// from `to` still reach `from`. Over TCP this stalls connections either
    /// way (acknowledgements from `from` are lost too); only datagrams and
    /// data already in flight from `to` see the asymmetry.
    pub(crate) fn drop_one_way(&self, from: usize, to: usize) -> Result<()> {
        ensure!(from != to, "cannot drop host {from}'s packets to itself");
        self.add_drop(from, to)
    }

    /// Splits the hosts into groups that cannot talk to each other (e.g.
    /// `[[0], [1, 2]]`). Hosts in no group keep talking to everyone, and the
    /// root namespace (clients) keeps reaching every host. Adds to cuts
    /// already made; [`Network::heal`] undoes them all.
    pub(crate) fn partition(&self, groups: &[Vec<usize>]) -> Result<()> {
        let mut seen = BTreeSet::new();
        for &h in groups.iter().flatten() {
            ensure!(h < self.hosts, "host {h} of {}", self.hosts);
            ensure!(seen.insert(h), "host {h} is in two groups");
        }
        for (gi, g) in groups.iter().enumerate() {
            for other in &groups[gi + 1..] {
                for &a in g {
                    for &b in other {
                        self.isolate(a, b)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes every cut: flushes [`CHAIN`] in every host.
    pub(crate) fn heal(&self) -> Result<()> {
        let mut drops = self.drops.lock().unwrap();
        for i in 0..self.hosts {
            iptables(Some(&self.ns_name(i)), &["-F", CHAIN])?;
        }
        drops.clear();
        Ok(())
    }

    /// The cuts in force, as `(from, at)`.
    #[cfg(test)]
    pub(crate) fn drops(&self) -> Vec<(usize, usize)> {
        self.drops.lock().unwrap().iter().copied().collect()
    }

    fn add_drop(&self, from: usize, at: usize) -> Result<()> {
        ensure!(at < self.hosts, "host {at} of {}", self.hosts);
        ensure!(from < self.hosts, "host {from} of {}", self.hosts);
        let src = self.host_ip(from);
        let mut drops = self.drops.lock().unwrap();
        if drops.contains(&(from, at)) {
            return Ok(());
        }
        let src = format!("{src}/32");
        iptables(
            Some(&self.ns_name(at)),
            &["-A", CHAIN, "-s", &src, "-j", "DROP"],
        )?;
        drops.insert((from, at));
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(e) = Self::cleanup(&self.prefix) {
            tracing::warn!("removing network {}: {e:#}", self.prefix);
        }
        SUBNETS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.subnet);
    }
}

/// Picks `X` for `10.X.0.0/24`: from a hash of the prefix, moving on past
/// subnets this process holds or this machine has an address or route in.
fn reserve_subnet(prefix: &str) -> Result<u8> {
    const FIRST: u32 = 100;
    const COUNT: u32 = 151; // 10.100.0.0 to 10.250.0.0
    let start = prefix.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x01000193)
    });
    let in_use = format!(
        "{} {}",
        run(tool_command("ip").args(["-4", "-o", "addr", "show"]))?,
        run(tool_command("ip").args(["-4", "route", "show", "table", "all"]))?
    );
    let mut taken = SUBNETS.lock().unwrap_or_else(|p| p.into_inner());
    for k in 0..COUNT {
        let x = (FIRST + (start + k) % COUNT) as u8;
        let net = format!("10.{x}.");
        let used = in_use.split_whitespace().any(|w| w.starts_with(&net));
        if !used && taken.insert(x) {
            return Ok(x);
        }
    }
    bail!("no free subnet 10.X.0.0/24 for network {prefix}")
}

/// The ACCEPT rules for the bridge in the root namespace, as `CHAIN spec...`.
fn root_rules(prefix: &str) -> Vec<Vec<String>> {
    let br = format!("{prefix}br");
    let tag = format!("petrel-chaos {prefix}");
    let rule = |chain: &str, ifaces: &[&str]| {
        let mut r: Vec<String> = vec![chain.into()];
        r.extend(ifaces.iter().map(|s| s.to_string()));
        r.extend(["-m", "comment", "--comment", &tag, "-j", "ACCEPT"].map(String::from));
        r
    };
    vec![
        rule("FORWARD", &["-i", &br, "-o", &br]),
        rule("INPUT", &["-i", &br]),
        rule("OUTPUT", &["-o", &br]),
    ]
}

/// `-I CHAIN 1 spec...`
fn insert(rule: &[String]) -> Vec<&str> {
    let mut args = vec!["-I", rule[0].as_str(), "1"];
    args.extend(rule[1..].iter().map(String::as_str));
    args
}

/// `-D CHAIN spec...`
fn delete(rule: &[String]) -> Vec<&str> {
    let mut args = vec!["-D"];
    args.extend(rule.iter().map(String::as_str));
    args
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn ip(args: &[&str]) -> Result<String> {
    run(tool_command("ip").args(args))
}

/// iptables (waiting for the xtables lock) in the root namespace or in `ns`.
fn iptables(ns: Option<&str>, args: &[&str]) -> Result<String> {
    let mut cmd = match ns {
        None => tool_command("iptables"),
        Some(ns) => {
            let mut cmd = tool_command("ip");
            cmd.args(["netns", "exec", ns, "iptables"]);
            cmd
        }
    };
    run(cmd.arg("-w").args(args))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::testing::{skip, unique_prefix};
    use super::*;

    const PORT: u16 = 7000;

    /// A TCP echo server in one host, stopped on drop.
    struct Echo {
        stop: Arc<AtomicBool>,
    }

    impl Echo {
        fn start(net: &Network, i: usize) -> Echo {
            let listener = net
                .run_in(i, || TcpListener::bind(("0.0.0.0", PORT)))
                .unwrap()
                .expect("bind echo listener");
            listener.set_nonblocking(true).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            std::thread::spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            std::thread::spawn(move || {
                                conn.set_nonblocking(false).ok();
                                conn.set_read_timeout(Some(Duration::from_secs(20))).ok();
                                let mut buf = [0u8; 1024];
                                while let Ok(n @ 1..) = conn.read(&mut buf) {
                                    if conn.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
            Echo { stop }
        }
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Connects (from host `from`, or the root namespace) to host `to`.
    fn connect(net: &Network, from: Option<usize>, to: usize) -> std::io::Result<TcpStream> {
        let addr = SocketAddr::from((net.host_ip(to), PORT));
        let timeout = Duration::from_millis(700);
        match from {
            Some(h) => net
                .run_in(h, || TcpStream::connect_timeout(&addr, timeout))
                .unwrap(),
            None => TcpStream::connect_timeout(&addr, timeout),
        }
    }

    /// One echo round trip on an open connection.
    fn round_trip(conn: &mut TcpStream) -> bool {
        conn.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        let mut buf = [0u8; 4];
        conn.write_all(b"ping").is_ok() && conn.read_exact(&mut buf).is_ok() && &buf == b"ping"
    }

    fn talks(net: &Network, from: Option<usize>, to: usize) -> bool {
        connect(net, from, to).is_ok_and(|mut c| round_trip(&mut c))
    }

    fn udp(net: &Network, i: usize) -> UdpSocket {
        let sock = net
            .run_in(i, || UdpSocket::bind(("0.0.0.0", PORT)))
            .unwrap()
            .unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        sock
    }

    /// Whether a datagram sent by `socks[from]` reaches `socks[to]`.
    fn datagram_arrives(net: &Network, socks: &[UdpSocket], from: usize, to: usize) -> bool {
        socks[from].send_to(b"hi", (net.host_ip(to), PORT)).unwrap();
        let mut buf = [0u8; 8];
        socks[to].recv_from(&mut buf).is_ok()
    }

    fn network(test: &str, hosts: usize) -> Option<Network> {
        if skip(test, Network::supported()) {
            return None;
        }
        Some(Network::create(&unique_prefix(), hosts).expect("create network"))
    }

    #[test]
    fn hosts_talk_until_isolated_and_again_after_heal() {
        let Some(net) = network("hosts_talk_until_isolated_and_again_after_heal", 3) else {
            return;
        };
        let _echo = Echo::start(&net, 0);
        assert!(talks(&net, Some(1), 0), "host 1 reaches host 0");
        assert!(talks(&net, Some(2), 0), "host 2 reaches host 0");
        assert!(talks(&net, None, 0), "the root namespace reaches host 0");
        let mut established = connect(&net, Some(1), 0).unwrap();
        assert!(round_trip(&mut established));

        net.isolate(0, 1).unwrap();
        let err = connect(&net, Some(1), 0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(
            !round_trip(&mut established),
            "an established connection stalls"
        );
        assert!(talks(&net, Some(2), 0), "host 2 is not cut");
        assert!(talks(&net, None, 0), "clients are not cut");
        assert_eq!(net.drops(), vec![(0, 1), (1, 0)]);

        net.heal().unwrap();
        assert!(net.drops().is_empty());
        assert!(talks(&net, Some(1), 0), "host 1 reaches host 0 after heal");
    }

    #[test]
    fn one_way_drop_loses_one_direction_only() {
        let Some(net) = network("one_way_drop_loses_one_direction_only", 2) else {
            return;
        };
        let socks = [udp(&net, 0), udp(&net, 1)];
        assert!(datagram_arrives(&net, &socks, 0, 1));
        assert!(datagram_arrives(&net, &socks, 1, 0));

        net.drop_one_way(0, 1).unwrap();
        assert!(!datagram_arrives(&net, &socks, 0, 1), "0 -> 1 is dropped");
        assert!(datagram_arrives(&net, &socks, 1, 0), "1 -> 0 still arrives");

        net.heal().unwrap();
        assert!(
            datagram_arrives(&net, &socks, 0, 1),
            "0 -> 1 arrives after heal"
        );
    }

    #[test]
    fn partition_splits_groups_and_leaves_clients_connected() {
        let Some(net) = network("partition_splits_groups_and_leaves_clients_connected", 3) else {
            return;
        };
        let _echoes: Vec<Echo> = (0..3).map(|i| Echo::start(&net, i)).collect();
        net.partition(&[vec![0], vec![1, 2]]).unwrap();
        assert!(
            talks(&net, Some(1), 2) && talks(&net, Some(2), 1),
            "the majority talks"
        );
        for (a, b) in [(0, 1), (1, 0), (0, 2), (2, 0)] {
            assert!(!talks(&net, Some(a), b), "{a} -> {b} is cut");
        }
        for i in 0..3 {
            assert!(talks(&net, None, i), "clients reach host {i}");
        }

        assert!(
            net.partition(&[vec![0], vec![0, 1]]).is_err(),
            "a host in two groups"
        );

        net.heal().unwrap();
        for (a, b) in [(0, 1), (1, 0), (0, 2), (2, 0)] {
            assert!(talks(&net, Some(a), b), "{a} -> {b} after heal");
        }
    }

    #[test]
    fn commands_run_inside_a_host() {
        let Some(net) = network("commands_run_inside_a_host", 2) else {
            return;
        };
        let out = run(net
            .command(1, "ip")
            .args(["-4", "-o", "addr", "show", "dev", "eth0"]));
        assert!(out.unwrap().contains(&format!("{}/24", net.host_ip(1))));

        let mut inner = Command::new("sh");
        inner.args(["-c", "echo $PETREL_TEST_VAR; ip -4 -o addr show dev eth0"]);
        inner.env("PETREL_TEST_VAR", "carried");
        let out = run(&mut net.wrap(0, inner)).unwrap();
        assert!(out.starts_with("carried\n"), "{out}");
        assert!(out.contains(&format!("{}/24", net.host_ip(0))), "{out}");
    }

    #[test]
    fn drop_removes_everything_even_after_a_panic() {
        if skip(
            "drop_removes_everything_even_after_a_panic",
            Network::supported(),
        ) {
            return;
        }
        let prefix = unique_prefix();
        let p = prefix.clone();
        let result = std::panic::catch_unwind(move || {
            let net = Network::create(&p, 2).unwrap();
            net.isolate(0, 1).unwrap();
            panic!("a test failing with the network up");
        });
        assert!(result.is_err());
        let namespaces = run(tool_command("ip").args(["netns", "list"])).unwrap();
        assert!(!namespaces.contains(&format!("{prefix}h")), "{namespaces}");
        let links = run(tool_command("ip").args(["-o", "link", "show"])).unwrap();
        assert!(!links.contains(&format!(" {prefix}v")), "{links}");
        assert!(!links.contains(&format!(" {prefix}br")), "{links}");
        let rules = run(tool_command("iptables").args(["-w", "-S"])).unwrap();
        assert!(
            !rules.contains(&format!("petrel-chaos {prefix}")),
            "{rules}"
        );
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert!(Network::create("Upper", 1).is_err());
        assert!(Network::create("muchtoolong", 1).is_err());
        assert!(Network::create("ok", 0).is_err());
    }
}
