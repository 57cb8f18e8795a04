//! A TCP relay that injects faults where `tc netem` would (it is absent
//! here): put it between two processes, e.g. a proxy and a server, by giving
//! one the relay's address instead of the other's.
//!
//! Faults, all adjustable while connections are open (see [`RelayFaults`]):
//! - delay per direction: every chunk is forwarded no earlier than its
//!   arrival plus the delay in force when it arrived; order is kept;
//! - drop probability: a TCP stream cannot lose bytes in the middle, so a
//!   dropped chunk (or a dropped new connection) resets the connection on
//!   both sides, as a connection that died of packet loss;
//! - blackhole: nothing is forwarded in either direction and new
//!   connections are accepted but not connected upstream, until the
//!   blackhole is lifted; then held data flows again, as TCP retransmission
//!   would deliver it after a short partition. Combine with
//!   [`Relay::reset_connections`] for a partition long enough to kill them.
//!
//! With [`super::net::Network`], run the relay in the chaos process (root
//! namespace) listening on the bridge address
//! ([`super::net::Network::client_ip`]) and forwarding to a host's address:
//! every host can reach it. Its traffic then crosses the root namespace, so
//! host-to-host partitions do not cut it.
//!
//! Drop decisions come from one RNG seeded at start, so a sequential
//! exchange sees the same drops for the same seed.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Which way bytes flow through the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// From the connecting client to the target.
    Upstream,
    /// From the target back to the client.
    Downstream,
}

/// The faults in force; the default is none.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RelayFaults {
    /// Added to every chunk going to the target.
    pub(crate) upstream_delay: Duration,
    /// Added to every chunk coming back from the target.
    pub(crate) downstream_delay: Duration,
    /// Chance that a chunk or a new connection resets its connection.
    pub(crate) drop_probability: f64,
    /// Forward nothing, connect nothing, until lifted.
    pub(crate) blackhole: bool,
}

impl RelayFaults {
    fn delay(&self, dir: Direction) -> Duration {
        match dir {
            Direction::Upstream => self.upstream_delay,
            Direction::Downstream => self.downstream_delay,
        }
    }
}

/// Counters since the relay started.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RelayStats {
    /// Connections accepted.
    pub(crate) connections: u64,
    /// Bytes written to the target.
    pub(crate) bytes_upstream: u64,
    /// Bytes written back to clients.
    pub(crate) bytes_downstream: u64,
    /// Connections reset by a drop, by [`Relay::reset_connections`] or by an
    /// error on the other side.
    pub(crate) resets: u64,
}

/// A running relay; dropping it stops accepting and resets every connection.
#[derive(Debug)]
pub(crate) struct Relay {
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    faults: watch::Sender<RelayFaults>,
    /// Bumped to reset every open connection.
    resets: watch::Sender<u64>,
    closed: AtomicBool,
    rng: Mutex<StdRng>,
    connections: AtomicU64,
    bytes_upstream: AtomicU64,
    bytes_downstream: AtomicU64,
    reset_count: AtomicU64,
}

impl Shared {
    /// True with probability `p`; draws from the RNG only when `p > 0`.
    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap().gen_bool(p.min(1.0))
    }
}

impl Relay {
    /// Forwards connections accepted on an already bound listener to
    /// `target`: bind it inside another network namespace (see
    /// [`super::net::Network::run_in`]) to put the relay's listening side
    /// there. Call from within a tokio runtime.
    pub(crate) fn from_listener(
        listener: std::net::TcpListener,
        target: SocketAddr,
        seed: u64,
    ) -> std::io::Result<Relay> {
        listener.set_nonblocking(true)?;
        Ok(Self::serve(TcpListener::from_std(listener)?, target, seed))
    }

    fn serve(listener: TcpListener, target: SocketAddr, seed: u64) -> Relay {
        let shared = Arc::new(Shared {
            target,
            faults: watch::Sender::new(RelayFaults::default()),
            resets: watch::Sender::new(0),
            closed: AtomicBool::new(false),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            connections: AtomicU64::new(0),
            bytes_upstream: AtomicU64::new(0),
            bytes_downstream: AtomicU64::new(0),
            reset_count: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Relay { shared, accept }
    }

    /// Replaces every fault setting at once.
    pub(crate) fn set_faults(&self, faults: RelayFaults) {
        self.shared.faults.send_replace(faults);
    }

    /// Sets the delay of one direction; chunks already queued keep theirs.
    pub(crate) fn set_delay(&self, dir: Direction, delay: Duration) {
        self.shared.faults.send_modify(|f| match dir {
            Direction::Upstream => f.upstream_delay = delay,
            Direction::Downstream => f.downstream_delay = delay,
        });
    }

    /// Sets the chance that a chunk or a new connection resets its connection.
    pub(crate) fn set_drop_probability(&self, p: f64) {
        self.shared
            .faults
            .send_modify(|f| f.drop_probability = p.clamp(0.0, 1.0));
    }

    /// Starts or lifts the blackhole.
    #[cfg(test)]
    pub(crate) fn set_blackhole(&self, on: bool) {
        self.shared.faults.send_modify(|f| f.blackhole = on);
    }

    /// Removes every fault (open connections carry on).
    pub(crate) fn heal(&self) {
        self.set_faults(RelayFaults::default());
    }

    /// Resets (RST on both sides) every connection open now.
    pub(crate) fn reset_connections(&self) {
        self.shared.resets.send_modify(|g| *g += 1);
    }

    /// Counters since start.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> RelayStats {
        let s = &self.shared;
        RelayStats {
            connections: s.connections.load(Ordering::Relaxed),
            bytes_upstream: s.bytes_upstream.load(Ordering::Relaxed),
            bytes_downstream: s.bytes_downstream.load(Ordering::Relaxed),
            resets: s.reset_count.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        // `closed` first: a connection subscribing after the bump sees it.
        self.shared.closed.store(true, Ordering::SeqCst);
        self.reset_connections();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let resets = shared.resets.subscribe();
                tokio::spawn(serve(client, shared.clone(), resets));
            }
            Err(e) => {
                // Out of descriptors and the like: back off, keep serving.
                tracing::warn!("relay accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Why a connection ends abortively.
struct Reset;

async fn serve(mut client: TcpStream, shared: Arc<Shared>, mut resets: watch::Receiver<u64>) {
    if shared.closed.load(Ordering::SeqCst) {
        abort(&client, None, &shared);
        return;
    }
    let mut faults = shared.faults.subscribe();
    if shared.roll(faults.borrow().drop_probability) {
        abort(&client, None, &shared);
        return;
    }
    let upstream = tokio::select! {
        up = async {
            wait_open(&mut faults).await?;
            TcpStream::connect(shared.target).await.map_err(|_| Reset)
        } => up,
        _ = resets.changed() => Err(Reset),
    };
    let Ok(mut upstream) = upstream else {
        abort(&client, None, &shared);
        return;
    };
    let result = {
        let (client_r, client_w) = client.split();
        let (up_r, up_w) = upstream.split();
        let up = pump(client_r, up_w, Direction::Upstream, &shared);
        let down = pump(up_r, client_w, Direction::Downstream, &shared);
        tokio::select! {
            r = async { tokio::try_join!(up, down) } => r.map(|_| ()),
            _ = resets.changed() => Err(Reset),
        }
    };
    if result.is_err() {
        abort(&client, Some(&upstream), &shared);
    }
}

/// Forwards one direction until EOF (then half-closes the writer).
async fn pump<R, W>(
    mut reader: R,
    mut writer: W,
    dir: Direction,
    shared: &Shared,
) -> Result<(), Reset>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel::<(Vec<u8>, Instant)>(64);
    let read_side = async {
        let tx = tx;
        let mut faults = shared.faults.subscribe();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            wait_open(&mut faults).await?;
            let n = reader.read(&mut buf).await.map_err(|_| Reset)?;
            if n == 0 {
                return Ok(());
            }
            let f = faults.borrow().clone();
            if shared.roll(f.drop_probability) {
                return Err(Reset);
            }
            let release = Instant::now() + f.delay(dir);
            if tx.send((buf[..n].to_vec(), release)).await.is_err() {
                return Ok(());
            }
        }
    };
    let write_side = async {
        let mut faults = shared.faults.subscribe();
        let counter = match dir {
            Direction::Upstream => &shared.bytes_upstream,
            Direction::Downstream => &shared.bytes_downstream,
        };
        while let Some((chunk, release)) = rx.recv().await {
            tokio::time::sleep_until(release).await;
            wait_open(&mut faults).await?;
            writer.write_all(&chunk).await.map_err(|_| Reset)?;
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        // The reader saw EOF: pass the half-close on.
        writer.shutdown().await.ok();
        Ok(())
    };
    tokio::try_join!(read_side, write_side).map(|_| ())
}

/// Waits while the blackhole is on.
async fn wait_open(faults: &mut watch::Receiver<RelayFaults>) -> Result<(), Reset> {
    faults
        .wait_for(|f| !f.blackhole)
        .await
        .map(|_| ())
        .map_err(|_| Reset)
}

/// Makes the coming close of these sockets send RST instead of FIN.
fn abort(a: &TcpStream, b: Option<&TcpStream>, shared: &Shared) {
    shared.reset_count.fetch_add(1, Ordering::Relaxed);
    for s in std::iter::once(a).chain(b) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket fd and a correctly sized option value; a
        // failure only means a FIN instead of a RST.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = conn.split();
                    tokio::io::copy(&mut r, &mut w).await.ok();
                });
            }
        });
        addr
    }

    /// A relay to a new echo server, and where it listens.
    async fn relay(seed: u64) -> (Relay, SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let relay = Relay::from_listener(listener, echo_server().await, seed).unwrap();
        (relay, addr)
    }

    /// Sends `msg` and waits up to `timeout` for its echo.
    async fn echo(conn: &mut TcpStream, msg: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
        conn.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        match tokio::time::timeout(timeout, conn.read_exact(&mut buf)).await {
            Ok(r) => r.map(|_| buf),
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn forwards_both_ways_and_counts() {
        let (relay, addr) = relay(1).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo(&mut conn, b"hello", SECOND).await.unwrap(), b"hello");
        drop(conn);
        let stats = relay.stats();
        assert_eq!(
            (
                stats.connections,
                stats.bytes_upstream,
                stats.bytes_downstream
            ),
            (1, 5, 5)
        );
        assert_eq!(stats.resets, 0);
    }

    #[tokio::test]
    async fn delays_each_direction() {
        let (relay, addr) = relay(2).await;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        for (up, down) in [(200, 0), (0, 300), (150, 150)] {
            relay.set_delay(Direction::Upstream, Duration::from_millis(up));
            relay.set_delay(Direction::Downstream, Duration::from_millis(down));
            let start = std::time::Instant::now();
            echo(&mut conn, b"x", 2 * SECOND).await.unwrap();
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(up + down),
                "{up}+{down} ms took {took:?}"
            );
            assert!(
                took < Duration::from_millis(up + down + 500),
                "{up}+{down} ms took {took:?}"
            );
        }
        relay.heal();
        let start = std::time::Instant::now();
        echo(&mut conn, b"x", SECOND).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn blackhole_holds_traffic_until_lifted() {
        let (relay, addr) = relay(3).await;
        let mut open = TcpStream::connect(addr).await.unwrap();
        echo(&mut open, b"warm", SECOND).await.unwrap();

        relay.set_blackhole(true);
        let err = echo(&mut open, b"held", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        let mut new = TcpStream::connect(addr).await.unwrap();
        let err = echo(&mut new, b"new!", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

        relay.set_blackhole(false);
        let mut buf = [0u8; 4];
        tokio::time::timeout(SECOND, open.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            &buf, b"held",
            "held bytes are delivered after the blackhole"
        );
        tokio::time::timeout(SECOND, new.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"new!");
    }

    #[tokio::test]
    async fn drop_probability_one_resets_every_connection() {
        let (relay, addr) = relay(4).await;
        let mut open = TcpStream::connect(addr).await.unwrap();
        echo(&mut open, b"ok", SECOND).await.unwrap();
        relay.set_drop_probability(1.0);
        let err = echo(&mut open, b"lost", SECOND).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        let mut new = TcpStream::connect(addr).await.unwrap();
        assert!(echo(&mut new, b"lost", SECOND).await.is_err());
        assert_eq!(relay.stats().resets, 2);
        relay.heal();
        let mut new = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo(&mut new, b"back", SECOND).await.unwrap(), b"back");
    }

    /// Which of `n` sequential one-request connections survive at p = 0.5.
    async fn survivors(seed: u64, n: usize) -> Vec<bool> {
        let (relay, addr) = relay(seed).await;
        relay.set_drop_probability(0.5);
        let mut out = Vec::new();
        for _ in 0..n {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            out.push(echo(&mut conn, b"?", SECOND).await.is_ok());
            // Let the relay finish with this connection before the next draws.
            drop(conn);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        out
    }

    #[tokio::test]
    async fn the_same_seed_drops_the_same_connections() {
        let a = survivors(42, 24).await;
        assert_eq!(a, survivors(42, 24).await);
        assert!(a.contains(&true) && a.contains(&false), "{a:?}");
    }

    #[tokio::test]
    async fn reset_connections_and_drop_abort_open_connections() {
        let (relay, addr) = relay(5).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        echo(&mut first, b"a", SECOND).await.unwrap();
        relay.reset_connections();
        assert!(
            echo(&mut first, b"b", SECOND).await.is_err(),
            "reset connection"
        );
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(echo(&mut second, b"c", SECOND).await.unwrap(), b"c");
        drop(relay);
        assert!(
            echo(&mut second, b"d", SECOND).await.is_err(),
            "relay dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "nothing listens any more"
        );
    }
}
