//! One task per client connection.
//!
//! The task reads requests, dispatches each one in arrival order, and keeps
//! the answers in a [`FuturesOrdered`], so replies go out in request order
//! whatever order partitions answer in. Backpressure: it stops reading while
//! `max_inflight_per_client` requests are pending or the unsent replies pass
//! a high-water mark. Ready replies are encoded into one buffer and written
//! together. A client whose unsent replies exceed `client_output_buffer_limit`
//! is disconnected; a protocol error is answered, then the connection closes.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::future::{self, BoxFuture, FutureExt};
use futures::stream::{FuturesOrdered, StreamExt};
use petrel_common::command::Command;
use petrel_common::reply::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tracing::{debug, warn};

use crate::action::{Action, Touches};
use crate::completion::Completion;
use crate::dispatch::dispatch;
use crate::resp::{encode, DecodeError, Proto, RequestDecoder};
use crate::session::Session;
use crate::state::Shared;
use crate::stats::names;

/// Stop reading while this many reply bytes wait to be written.
const WRITE_HIGH_WATER: usize = 1 << 20;
/// Smallest read buffer growth.
const READ_CHUNK: usize = 16 * 1024;
/// Largest growth for a bulk that is still arriving (memory follows the
/// bytes actually received, never a declared length).
const READ_CHUNK_MAX: usize = 64 * 1024;

/// A finished request waiting for its turn to be written.
struct Done {
    reply: Reply,
    proto: Proto,
    send: bool,
    /// The command, when the request named one.
    command: Option<&'static Command>,
    name: &'static str,
    elapsed: Duration,
    /// The request, kept for the slow log (empty when it cannot be logged:
    /// queued inside MULTI, or refused before it ran).
    args: Vec<bytes::Bytes>,
}

/// Serves one client until it leaves, is killed, or the proxy shuts down.
pub(crate) async fn serve(stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let laddr = stream.local_addr().unwrap_or(shared.local_addr);
    let handle = shared
        .clients
        .register(addr, laddr, stream.as_raw_fd(), &shared.shutdown);
    let id = handle.id;
    metrics::gauge!(names::CONNECTIONS).increment(1.0);
    debug!(id, %addr, "client connected");
    let session = Session::new(handle, shared.password_required());
    let mut conn = Conn {
        shared: shared.clone(),
        session,
        inflight: FuturesOrdered::new(),
        routed: Vec::new(),
        closing: false,
        limit_watch: Default::default(),
    };
    let reason = conn.run(stream).await;
    crate::cmd::pubsub::leave_all(&shared, &mut conn.session);
    crate::cmd::tracking::stop(&shared, &mut conn.session);
    shared.clients.unregister(id);
    metrics::gauge!(names::CONNECTIONS).decrement(1.0);
    debug!(id, %addr, reason, "client disconnected");
}

struct Conn {
    shared: Arc<Shared>,
    session: Session,
    inflight: FuturesOrdered<BoxFuture<'static, Done>>,
    /// Routed commands still running, with what marks each one's end.
    routed: Vec<(Touches, Completion)>,
    /// No more requests are read; the connection closes once replies are out.
    closing: bool,
    /// How long the unsent replies have been over the soft limit.
    limit_watch: crate::outlimit::Watch,
}

impl Conn {
    async fn run(&mut self, mut stream: TcpStream) -> &'static str {
        let (mut rd, mut wr) = stream.split();
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut wbuf = BytesMut::new();
        let mut decoder = RequestDecoder::new(self.shared.runtime.load().proto_max_bulk_len);
        let mut eof = false;
        let max_inflight = self.shared.config.max_inflight_per_client;
        let kill = self.session.handle.kill.clone();
        let mut last_active = Instant::now();
        loop {
            if !self.closing {
                self.decode_requests(&mut decoder, &mut rbuf, max_inflight);
            }
            if (self.closing || eof) && self.inflight.is_empty() && wbuf.is_empty() {
                let _ = wr.shutdown().await;
                return if eof { "client closed" } else { "closed" };
            }
            let can_read = !self.closing
                && !eof
                && self.inflight.len() < max_inflight
                && wbuf.len() < WRITE_HIGH_WATER;
            if can_read {
                let want = decoder.wanted(rbuf.len());
                let grow = want.max(READ_CHUNK).min(rbuf.len().max(READ_CHUNK_MAX));
                if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
                    rbuf.reserve(grow);
                }
            }
            let idle_timeout = self.shared.runtime.load().timeout;
            let idle_at = (idle_timeout > 0 && self.inflight.is_empty())
                .then(|| last_active + Duration::from_secs(idle_timeout));
            tokio::select! {
                biased;
                _ = kill.cancelled(), if !self.closing => {
                    if self.shared.shutdown.is_cancelled() {
                        // Graceful: finish what was asked, then close.
                        self.closing = true;
                    } else {
                        return "killed";
                    }
                }
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.finish(done, &mut wbuf);
                    if self.over_limit(wbuf.len()) {
                        return "output buffer limit";
                    }
                }
                written = wr.write_buf(&mut wbuf), if !wbuf.is_empty() => {
                    match written {
                        Ok(0) | Err(_) => return "write failed",
                        Ok(n) => {
                            self.shared.stats.net_output_bytes.fetch_add(n as u64, Relaxed);
                        }
                    }
                }
                read = rd.read_buf(&mut rbuf), if can_read => {
                    match read {
                        Ok(0) => {
                            eof = true;
                            // Whatever is buffered is a truncated request.
                            if let Ok(Some(args)) = decoder.decode_eof(&mut rbuf) {
                                self.start(args);
                            }
                        }
                        Ok(n) => {
                            last_active = Instant::now();
                            self.shared.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                        }
                        Err(_) => return "read failed",
                    }
                }
                _ = sleep_until(idle_at), if idle_at.is_some() => {
                    return "idle timeout";
                }
                Some(push) = next_push(&mut self.session.inbox) => {
                    self.push(push.reply, &mut wbuf);
                    // Everything already queued joins the same write: one
                    // system call per message was most of a subscriber's cost.
                    while let Some(p) = self.session.inbox.as_mut().and_then(|i| i.try_recv()) {
                        self.push(p.reply, &mut wbuf);
                        if wbuf.len() >= WRITE_HIGH_WATER {
                            break;
                        }
                    }
                    if self.over_limit(wbuf.len()) {
                        return "output buffer limit";
                    }
                }
            }
        }
    }

    /// Decodes and dispatches buffered requests while there is room in flight.
    fn decode_requests(
        &mut self,
        decoder: &mut RequestDecoder,
        rbuf: &mut BytesMut,
        max_inflight: usize,
    ) {
        while !self.closing && self.inflight.len() < max_inflight && !rbuf.is_empty() {
            let rt = self.shared.runtime.load();
            decoder.set_max_bulk_len(rt.proto_max_bulk_len);
            decoder.set_auth_required(!self.session.authenticated && !rt.requirepass.is_empty());
            match decoder.decode(rbuf) {
                Ok(Some(args)) => {
                    {
                        let mut info = self.session.handle.info();
                        info.qbuf = rbuf.len();
                        info.last_active = Instant::now();
                    }
                    self.start(args);
                }
                Ok(None) => break,
                Err(DecodeError::Protocol(e)) => {
                    self.shared.stats.protocol_errors.fetch_add(1, Relaxed);
                    metrics::counter!(names::PROTOCOL_ERRORS).increment(1);
                    debug!(id = self.session.id(), error = %e, "protocol error; closing after the reply");
                    self.push_ready(Reply::Error(e.to_string()), true, "protocol-error");
                    self.closing = true;
                }
                Err(DecodeError::Io(_)) => {
                    self.closing = true;
                }
            }
        }
    }

    /// Whether `pending` unsent bytes pass the client's output buffer
    /// limit (its class's: pubsub while subscribed, else normal); logs as
    /// Redis does when they do.
    fn over_limit(&mut self, unsent: usize) -> bool {
        // Messages waiting in the mailbox count as unsent too.
        let pending = unsent + self.session.inbox.as_ref().map_or(0, |i| i.queued());
        let limits = self.shared.runtime.load().output_limits;
        let limit = if self.session.subs.any() {
            limits.pubsub
        } else {
            limits.normal
        };
        if !self.limit_watch.exceeded(&limit, pending) {
            return false;
        }
        metrics::counter!(names::OUTPUT_LIMIT_DISCONNECTIONS).increment(1);
        warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.session.handle.describe()
        );
        true
    }

    /// A message for the client: written now when no reply is pending,
    /// else queued behind the replies of the commands sent before it.
    fn push(&mut self, reply: Reply, wbuf: &mut BytesMut) {
        if self.inflight.is_empty() {
            encode(&reply, self.session.proto, wbuf);
            self.session.handle.info().obl = wbuf.len();
        } else {
            self.push_ready(reply, true, PUSH);
        }
    }

    /// Dispatches one request and queues its (future) reply in order.
    fn start(&mut self, args: Vec<bytes::Bytes>) {
        // Messages that arrived before this request go out before its reply.
        while let Some(push) = self.session.inbox.as_mut().and_then(|i| i.try_recv()) {
            self.push_ready(push.reply, true, PUSH);
        }
        let started = Instant::now();
        let skip = std::mem::take(&mut self.session.skip_next);
        // Commands queued inside MULTI are not run, so not slow-logged.
        let slow_args = if self.shared.runtime.load().slowlog_log_slower_than >= 0
            && self.session.tx.is_none()
        {
            args.clone()
        } else {
            Vec::new()
        };
        let d = dispatch(&mut self.session, &self.shared, args);
        // Like Redis, commands refused before running (unknown, wrong
        // arity, NOAUTH...) are left out of the slow log.
        let slow_args = if d.rejected { Vec::new() } else { slow_args };
        if d.name == "unknown" {
            self.shared.stats.unknown_commands.fetch_add(1, Relaxed);
        }
        let send = !(self.session.reply_off || skip);
        let proto = self.session.proto;
        let name = d.name;
        let command = d.command;
        let ready = |reply, send| Done {
            reply,
            proto,
            send,
            command,
            name,
            elapsed: started.elapsed(),
            args: slow_args.clone(),
        };
        match d.action {
            Action::Reply(reply) => self.push_done(ready(reply, send)),
            Action::NoReply => self.push_done(ready(Reply::ok(), false)),
            Action::Close(reply) => {
                self.push_done(ready(reply, send));
                self.closing = true;
            }
            Action::Later(fut) => {
                let done = move |reply| Done {
                    reply,
                    proto,
                    send,
                    command,
                    name,
                    elapsed: started.elapsed(),
                    args: slow_args,
                };
                // One allocation for the whole chain: the router's future,
                // the wait for earlier commands on the same keys, the Done.
                let chain = match d.touches {
                    Some(t) => self.ordered(t, fut).map(done).boxed(),
                    None => fut.map(done).boxed(),
                };
                self.inflight.push_back(chain);
            }
        }
    }

    /// Makes `fut` wait for this client's earlier commands that touch the
    /// same keys (and one of them writes), so effects follow request order.
    fn ordered(
        &mut self,
        touches: Touches,
        fut: BoxFuture<'static, Reply>,
    ) -> impl Future<Output = Reply> + Send + 'static {
        self.routed.retain(|(_, done)| !done.is_done());
        let deps: Vec<Completion> = self
            .routed
            .iter()
            .filter(|(t, _)| t.conflicts(&touches))
            .map(|(_, done)| done.clone())
            .collect();
        let done = Completion::new();
        let finished = done.done_on_drop();
        self.routed.push((touches, done));
        async move {
            let _finished = finished;
            for d in deps {
                d.wait().await;
            }
            fut.await
        }
    }

    fn push_ready(&mut self, reply: Reply, send: bool, name: &'static str) {
        self.push_done(Done {
            reply,
            proto: self.session.proto,
            send,
            command: None,
            name,
            elapsed: Duration::ZERO,
            args: Vec::new(),
        });
    }

    fn push_done(&mut self, done: Done) {
        self.inflight.push_back(future::ready(done).boxed());
    }

    /// Counts a finished request and encodes its reply.
    fn finish(&mut self, done: Done, wbuf: &mut BytesMut) {
        let error = match &done.reply {
            Reply::Error(e) => Some(e.as_str()),
            _ => None,
        };
        if done.name == PUSH {
            // A message, not a command's reply: not counted.
        } else if done.name == "protocol-error" {
            if let Some(e) = error {
                self.shared.stats.error_reply(e);
            }
        } else {
            self.shared
                .stats
                .command_done(done.command, done.name, done.elapsed, error);
            self.slowlog(&done);
        }
        if done.send {
            encode(&done.reply, done.proto, wbuf);
        }
        self.session.handle.info().obl = wbuf.len();
    }
}

impl Conn {
    /// Records `done` in the slow log when it took at least
    /// `slowlog-log-slower-than`. Like Redis, commands refused before
    /// running (their `args` are empty) and EXEC itself are left out.
    fn slowlog(&self, done: &Done) {
        let rt = self.shared.runtime.load();
        let micros = done.elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        let threshold = rt.slowlog_log_slower_than;
        if done.args.is_empty()
            || threshold < 0
            || micros < threshold as u64
            || matches!(done.name, "unknown" | "exec")
        {
            return;
        }
        let handle = &self.session.handle;
        let client_name = handle.info().name.clone();
        petrel_common::sync::lock(&self.shared.stats.slowlog).push(
            &crate::cmd::server::slowlog::redact(&done.args),
            micros,
            handle.addr.to_string(),
            client_name,
            usize::try_from(rt.slowlog_max_len).unwrap_or(usize::MAX),
        );
    }
}

/// The name a queued message goes under (never a command's).
const PUSH: &str = "push";

/// The next message for a subscribed connection; never, for one that is not.
async fn next_push(
    inbox: &mut Option<crate::pubsub::hub::Inbox>,
) -> Option<crate::pubsub::hub::Push> {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => future::pending().await,
    }
}
