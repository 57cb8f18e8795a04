//! One client thread: its connections on one readiness loop (epoll through
//! mio), driven the way redis-benchmark's event loop drives its clients.
//!
//! Each turn of the loop waits for readiness, reads every connection that
//! has bytes, and takes the replies in order. A connection whose batch is
//! complete re-arms its write readiness and sends its next batch when the
//! poller reports it, in the kernel's order among the other events due,
//! as redis-benchmark does. A batch's clock starts when it is written, and
//! a reply counts as arrived when its connection was seen readable, before
//! the read and the parse, as an event loop stamps a read event. No task
//! scheduler sits between the socket and the clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::StdRng;

use super::client::skim;
use super::options::Latency;
use super::stats::Stats;
use super::workloads::{Op, OpGen};
use super::Shared;

/// Pause before reconnecting after a connection failure.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// Free space a read buffer offers each read (redis-benchmark reads 16 KiB).
const READ_CHUNK: usize = 16 * 1024;

/// What every client of a run shares.
#[derive(Debug, Clone)]
pub(crate) struct LoopConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) gen: OpGen,
    pub(crate) pipeline: usize,
    pub(crate) latency: Latency,
    /// Operations per second for each client, 0 for unlimited.
    pub(crate) rate: f64,
}

/// One client handed to a loop: its connection (if already open) and its
/// own random stream.
pub(crate) struct ClientSeed {
    pub(crate) stream: Option<TcpStream>,
    pub(crate) rng: StdRng,
}

/// Runs `clients` until the run is over; returns what they measured and
/// when the last measured operation finished.
pub(crate) fn run(
    config: &LoopConfig,
    shared: &Shared,
    clients: Vec<ClientSeed>,
) -> io::Result<(Stats, Instant)> {
    let poll = Poll::new()?;
    let started = Instant::now();
    let mut lp = Loop {
        config,
        shared,
        poll,
        clients: Vec::with_capacity(clients.len()),
        ready: Vec::with_capacity(clients.len()),
        timers: BinaryHeap::new(),
        running: clients.len(),
        stats: Stats::default(),
        last: shared.measure_from,
    };
    for (i, seed) in clients.into_iter().enumerate() {
        let mut client = Client::new(seed.rng, started);
        if let Some(mut stream) = seed.stream {
            // Connected streams that cannot be registered are reopened.
            if lp
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok()
            {
                client.stream = Some(stream);
            }
        }
        lp.clients.push(client);
        lp.ready.push(i);
    }
    let mut events = Events::with_capacity(1024);
    while lp.running > 0 {
        lp.fire_timers();
        for i in std::mem::take(&mut lp.ready) {
            lp.next_batch(i);
        }
        if lp.running == 0 {
            break;
        }
        let timeout = if lp.ready.is_empty() {
            lp.timers
                .peek()
                .map(|Reverse((due, _))| due.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        if let Err(e) = lp.poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            lp.on_event(event.token().0, event);
        }
    }
    Ok((lp.stats, lp.last))
}

/// Where a client is between batches and round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the ready list: claims and sends its next batch on the next turn.
    Ready,
    /// Waiting on a timer: for its rate-limited turn (`claimed`) or to
    /// reconnect after a failure.
    Sleeping { claimed: bool },
    /// Connecting, with a claimed batch to send once connected.
    Connecting,
    /// A batch written (or being written) and its replies awaited.
    InFlight,
    /// The run is over for this client.
    Finished,
}

/// Which replies of a batch are awaited: the first requests', then those
/// of read-modify-write operations' second requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    First,
    Then,
}

struct Client {
    stream: Option<TcpStream>,
    rng: StdRng,
    state: State,
    /// When the client started, for the rate limit.
    started: Instant,
    /// Operations sent so far, for the rate limit.
    sent: u64,
    /// The claimed batch: how many operations and whether they count.
    batch: usize,
    measured: bool,
    ops: Vec<Op>,
    wbuf: Vec<u8>,
    written: usize,
    rbuf: ReadBuf,
    /// When the batch was written.
    t0: Instant,
    phase: Phase,
    /// The next op whose reply is awaited.
    cursor: usize,
    /// Replies still awaited in this phase.
    awaiting: usize,
    /// Replies already in for the op at `cursor` (first phase).
    partial: usize,
    /// This phase's first reply's latency.
    first: Option<Duration>,
    /// Error replies in this batch.
    errors: u64,
}

impl Client {
    fn new(rng: StdRng, started: Instant) -> Client {
        Client {
            stream: None,
            rng,
            state: State::Ready,
            started,
            sent: 0,
            batch: 0,
            measured: false,
            ops: Vec::new(),
            wbuf: Vec::new(),
            written: 0,
            rbuf: ReadBuf::default(),
            t0: started,
            phase: Phase::First,
            cursor: 0,
            awaiting: 0,
            partial: 0,
            first: None,
            errors: 0,
        }
    }
}

struct Loop<'a> {
    config: &'a LoopConfig,
    shared: &'a Shared,
    poll: Poll,
    clients: Vec<Client>,
    /// Clients to start a batch on the next turn.
    ready: Vec<usize>,
    /// Sleeping clients by wake-up time.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Clients not yet finished.
    running: usize,
    stats: Stats,
    last: Instant,
}

impl Loop<'_> {
    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((due, i))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            match self.clients[i].state {
                State::Sleeping { claimed: true } => self.begin(i),
                State::Sleeping { claimed: false } => self.next_batch(i),
                _ => {}
            }
        }
    }

    /// Claims the client's next batch and sends it (or sleeps until the
    /// rate limit allows it); finishes the client when the run is over.
    fn next_batch(&mut self, i: usize) {
        let Some((n, measured)) = self.shared.claim(self.config.pipeline) else {
            self.finish(i);
            return;
        };
        let rate = self.config.rate;
        let c = &mut self.clients[i];
        c.batch = n;
        c.measured = measured;
        if rate > 0.0 {
            let due = c.started + Duration::from_secs_f64(c.sent as f64 / rate);
            c.sent += n as u64;
            if due > Instant::now() {
                c.state = State::Sleeping { claimed: true };
                self.timers.push(Reverse((due, i)));
                return;
            }
        }
        self.begin(i);
    }

    /// Sends the claimed batch, connecting first if needed.
    fn begin(&mut self, i: usize) {
        if self.clients[i].stream.is_some() {
            self.send_batch(i);
            return;
        }
        let opened = TcpStream::connect(self.config.addr).and_then(|mut s| {
            self.poll.registry().register(
                &mut s,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(s)
        });
        match opened {
            Ok(s) => {
                let c = &mut self.clients[i];
                c.stream = Some(s);
                c.state = State::Connecting;
            }
            Err(_) => self.fail(i),
        }
    }

    /// Builds the batch's requests and writes them; the clock starts now.
    fn send_batch(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.ops.clear();
        c.wbuf.clear();
        for _ in 0..c.batch {
            let op = self.config.gen.next(&mut c.rng);
            c.wbuf.extend_from_slice(&op.first);
            c.ops.push(op);
        }
        c.written = 0;
        c.phase = Phase::First;
        c.cursor = 0;
        c.awaiting = c.ops.iter().map(|op| op.replies).sum();
        c.partial = 0;
        c.first = None;
        c.errors = 0;
        c.state = State::InFlight;
        c.t0 = Instant::now();
        self.write_out(i);
    }

    /// Writes what is left of the write buffer, until the socket is full.
    fn write_out(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        let failed = loop {
            if c.written >= c.wbuf.len() {
                break false;
            }
            match stream.write(&c.wbuf[c.written..]) {
                Ok(0) => break true,
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if failed {
            self.fail(i);
        }
    }

    fn on_event(&mut self, i: usize, event: &mio::event::Event) {
        let Some(c) = self.clients.get(i) else {
            return;
        };
        let unwritten = c.written < c.wbuf.len();
        match c.state {
            State::Connecting => {
                if event.is_writable() || event.is_error() || event.is_write_closed() {
                    self.finish_connect(i);
                }
            }
            State::InFlight => {
                if event.is_writable() && unwritten {
                    self.write_out(i);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_in(i);
                }
            }
            State::Ready => {
                if event.is_writable() {
                    self.next_batch(i);
                }
            }
            // Between batches nothing is expected; a closed connection
            // shows up on the next batch's write or read.
            State::Sleeping { .. } | State::Finished => {}
        }
    }

    /// A non-blocking connect reported progress: send the batch once it
    /// is established, count it lost if it failed.
    fn finish_connect(&mut self, i: usize) {
        let Some(stream) = self.clients[i].stream.as_ref() else {
            return;
        };
        let result = match stream.take_error() {
            Ok(None) => stream.peer_addr().map(|_| ()),
            Ok(Some(e)) | Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if stream.set_nodelay(true).is_err() {
                    return self.fail(i);
                }
                self.send_batch(i);
            }
            // Not connected yet: wait for the next event.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(_) => self.fail(i),
        }
    }

    /// Reads everything the socket has and takes the replies in it.
    fn read_in(&mut self, i: usize) {
        let at = Instant::now();
        loop {
            let c = &mut self.clients[i];
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            let space = c.rbuf.space();
            let room = space.len();
            match stream.read(space) {
                Ok(0) => return self.fail(i),
                Ok(n) => {
                    c.rbuf.filled(n);
                    if c.state == State::InFlight {
                        self.take_replies(i, at);
                    }
                    let c = &self.clients[i];
                    if c.stream.is_none() {
                        return;
                    }
                    if c.state != State::InFlight && !c.rbuf.data().is_empty() {
                        // More replies than requests: not a server we can measure.
                        return self.fail(i);
                    }
                    // A short read emptied the socket; the next bytes bring
                    // a new edge.
                    if n < room {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i),
            }
        }
    }

    /// Takes complete replies from the read buffer, in order, recording
    /// their latency as of `at` (when the socket was seen readable).
    fn take_replies(&mut self, i: usize, at: Instant) {
        while self.clients[i].awaiting > 0 {
            let c = &mut self.clients[i];
            let (used, error) = match skim(c.rbuf.data()) {
                Ok(Some(reply)) => reply,
                Ok(None) => return,
                Err(_) => return self.fail(i),
            };
            c.rbuf.consume(used);
            if let Some(e) = &error {
                c.errors += 1;
                if c.measured {
                    self.stats.error(e);
                }
            }
            // An operation of several commands (MULTI ... EXEC) completes
            // with its last reply.
            if c.phase == Phase::First {
                let wanted = c.ops.get(c.cursor).map_or(1, |op| op.replies);
                c.partial += 1;
                if c.partial < wanted {
                    c.awaiting -= 1;
                    continue;
                }
                c.partial = 0;
            }
            let elapsed = at.saturating_duration_since(c.t0);
            let first = *c.first.get_or_insert(elapsed);
            if c.phase == Phase::Then {
                while c.ops.get(c.cursor).is_some_and(|op| op.then.is_none()) {
                    c.cursor += 1;
                }
            }
            let Some(op) = c.ops.get(c.cursor) else {
                return self.fail(i);
            };
            let record = c.phase == Phase::Then || op.then.is_none();
            let kind = op.kind;
            c.cursor += 1;
            c.awaiting -= 1;
            if record && c.measured {
                self.stats
                    .record(kind, self.config.latency.pick(first, elapsed));
            }
        }
        self.phase_done(i);
    }

    /// All replies of a phase are in: send the second requests of
    /// read-modify-write operations, or complete the batch.
    fn phase_done(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.phase == Phase::First {
            c.wbuf.clear();
            let mut seconds = 0;
            for then in c.ops.iter().filter_map(|op| op.then.as_ref()) {
                c.wbuf.extend_from_slice(then);
                seconds += 1;
            }
            if seconds > 0 {
                c.written = 0;
                c.phase = Phase::Then;
                c.cursor = 0;
                c.awaiting = seconds;
                c.first = None;
                return self.write_out(i);
            }
        }
        self.shared
            .done
            .fetch_add(c.batch as u64, Ordering::Relaxed);
        self.shared.errors.fetch_add(c.errors, Ordering::Relaxed);
        if c.measured {
            self.last = Instant::now();
        }
        c.state = State::Ready;
        // The next batch goes when the poller next reports the socket
        // writable, as redis-benchmark re-arms a write event: behind the
        // events already due, so the wait for the loop's turn is not
        // counted as the next batch's latency.
        let Some(stream) = c.stream.as_mut() else {
            return self.ready.push(i);
        };
        let rearmed = self.poll.registry().reregister(
            stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        );
        if rearmed.is_err() {
            self.fail(i);
        }
    }

    /// The connection failed: its batch is lost, and the client reconnects
    /// after a pause.
    fn fail(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.rbuf.clear();
        c.wbuf.clear();
        c.written = 0;
        if c.measured {
            self.stats.io_errors += c.batch as u64;
        }
        self.shared
            .errors
            .fetch_add(c.batch as u64, Ordering::Relaxed);
        c.state = State::Sleeping { claimed: false };
        self.timers
            .push(Reverse((Instant::now() + RECONNECT_PAUSE, i)));
    }

    fn finish(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        if c.state != State::Finished {
            c.state = State::Finished;
            self.running -= 1;
        }
    }
}

/// A read buffer: bytes `lo..hi` are unparsed; the space after `hi` takes
/// the next read. It compacts before it grows, and grows by doubling for
/// replies bigger than it.
#[derive(Default)]
struct ReadBuf {
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

impl ReadBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
    }

    fn consume(&mut self, n: usize) {
        self.lo = (self.lo + n).min(self.hi);
        if self.lo == self.hi {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.lo = 0;
        self.hi = 0;
    }

    /// At least [`READ_CHUNK`] free bytes for the next read.
    fn space(&mut self) -> &mut [u8] {
        if self.buf.len() - self.hi < READ_CHUNK {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
            if self.buf.len() - self.hi < READ_CHUNK {
                let grown = (self.buf.len() * 2).max(self.hi + READ_CHUNK);
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.hi..]
    }

    fn filled(&mut self, n: usize) {
        self.hi = (self.hi + n).min(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::sync::atomic::{AtomicI64, AtomicU64};

    use rand::SeedableRng;

    use super::*;
    use crate::load::keys::KeyGen;
    use crate::load::options::{Distribution, Workload};
    use crate::load::workloads::OpKind;

    /// A run of `requests` GETs, `pipeline` at a time, from one client.
    fn run_gets(addr: SocketAddr, requests: i64, pipeline: usize, latency: Latency) -> Stats {
        let config = LoopConfig {
            addr,
            gen: OpGen::new(
                Workload::Get,
                KeyGen::new(Distribution::Uniform, 10),
                "key:",
                8,
                1,
            ),
            pipeline,
            latency,
            rate: 0.0,
        };
        let shared = Shared {
            measure_from: Instant::now(),
            deadline: None,
            remaining: Some(AtomicI64::new(requests)),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        };
        let client = ClientSeed {
            stream: None,
            rng: StdRng::seed_from_u64(1),
        };
        let (stats, _) = run(&config, &shared, vec![client]).expect("event loop");
        stats
    }

    /// Reads from `s` until `n` requests (RESP arrays) have come in.
    fn read_requests(s: &mut StdStream, n: usize) {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while seen.windows(4).filter(|w| w == b"*2\r\n").count() < n {
            let got = s.read(&mut buf).expect("read requests");
            assert!(got > 0, "client closed early");
            seen.extend_from_slice(&buf[..got]);
        }
    }

    fn slowest_get_ms(stats: &Stats) -> u64 {
        let get = stats.kinds[OpKind::Get.index()].as_ref().expect("GETs");
        get.latency.max() / 1000
    }

    /// `requests` GETs, `pipeline` at a time, against a scripted server:
    /// `script` runs on its own thread with the listening socket.
    fn against_script(
        requests: i64,
        pipeline: usize,
        latency: Latency,
        script: impl FnOnce(TcpListener) + Send + 'static,
    ) -> Stats {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || script(listener));
        let stats = run_gets(addr, requests, pipeline, latency);
        server.join().unwrap();
        stats
    }

    /// One batch of three GETs against a server that sends two replies
    /// at once and the third 300 ms later.
    fn batch_with_one_slow_reply(latency: Latency) -> Stats {
        let stats = against_script(3, 3, latency, |listener| {
            let (mut s, _) = listener.accept().expect("accept");
            read_requests(&mut s, 3);
            s.write_all(b"$-1\r\n$1\r\nx\r\n").expect("write");
            std::thread::sleep(Duration::from_millis(300));
            s.write_all(b"$-1\r\n").expect("write");
            let _ = s.read(&mut [0u8; 16]);
        });
        assert_eq!(stats.ops(), 3);
        assert_eq!(stats.io_errors, 0);
        stats
    }

    #[test]
    fn each_reply_is_timed_from_its_batchs_write_to_its_own_arrival() {
        let stats = batch_with_one_slow_reply(Latency::Reply);
        assert!(slowest_get_ms(&stats) >= 300, "{}", slowest_get_ms(&stats));
        let get = stats.kinds[OpKind::Get.index()].as_ref().unwrap();
        assert!(get.latency.value_at_quantile(0.5) / 1000 < 300);
    }

    #[test]
    fn first_reply_latency_gives_the_whole_batch_its_first_replys_time() {
        let stats = batch_with_one_slow_reply(Latency::FirstReply);
        assert!(slowest_get_ms(&stats) < 300, "{}", slowest_get_ms(&stats));
    }

    #[test]
    fn a_dropped_connection_loses_its_batch_and_the_client_reconnects() {
        let stats = against_script(4, 2, Latency::Reply, |listener| {
            // First connection: take the batch, close without replying.
            let (mut s, _) = listener.accept().expect("accept");
            read_requests(&mut s, 2);
            drop(s);
            // Second: answer every request.
            let (mut s, _) = listener.accept().expect("accept again");
            read_requests(&mut s, 2);
            s.write_all(b"$-1\r\n-ERR no such thing\r\n")
                .expect("write");
            let _ = s.read(&mut [0u8; 16]);
        });
        assert_eq!(stats.io_errors, 2);
        assert_eq!(stats.ops(), 2);
        assert_eq!(stats.errors.get("ERR"), Some(&1));
    }

    #[test]
    fn a_reply_the_client_did_not_ask_for_drops_the_connection() {
        let stats = against_script(1, 1, Latency::Reply, |listener| {
            let (mut s, _) = listener.accept().expect("accept");
            read_requests(&mut s, 1);
            s.write_all(b"$-1\r\n+EXTRA\r\n").expect("write");
            let _ = s.read(&mut [0u8; 16]);
        });
        // The reply came in but the batch was lost with the connection.
        assert_eq!(stats.io_errors, 1);
    }

    #[test]
    fn the_read_buffer_compacts_then_grows_for_big_replies() {
        let mut b = ReadBuf::default();
        let room = b.space().len();
        assert!(room >= READ_CHUNK);
        b.space()[..5].copy_from_slice(b"+OK\r\n");
        b.filled(5);
        b.consume(3);
        assert_eq!(b.data(), b"\r\n");
        // Fill to the end: the next space() moves the two bytes left to
        // the front before offering room.
        let len = b.buf.len();
        b.filled(len);
        let before = b.buf.len();
        let space = b.space().len();
        assert!(space >= READ_CHUNK);
        assert!(b.buf.len() > before, "grew: a full buffer leaves no room");
        assert_eq!(b.lo, 0);
        b.consume(usize::MAX);
        assert!(b.data().is_empty());
    }
}
