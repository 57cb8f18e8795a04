//! The calling side: one multiplexed connection per peer, made on first use.
//!
//! Each peer has a task that owns its TCP connection. Callers register a
//! pending slot keyed by request id and queue the frame; a reader task
//! completes slots as responses arrive, in any order. When the connection
//! breaks every pending slot fails with [`RpcError::ConnectionLost`]; when a
//! connect fails they fail with [`RpcError::Unreachable`] and the next attempt
//! waits an exponentially growing backoff.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use prost::Message;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;
use tracing::{debug, warn};

use super::frame::{codec, Header, Kind, OutFrame};
use super::{RpcError, ServiceError, WRITE_BUFFER};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

type Slot = oneshot::Sender<Result<Bytes, RpcError>>;
type Pending = Arc<Mutex<HashMap<u64, Slot>>>;

struct Outgoing {
    request_id: u64,
    /// A one-way frame: no pending slot, sent whatever became of slots.
    one_way: bool,
    frame: OutFrame,
}

/// One peer: its queue of outgoing frames and the slots awaiting responses.
struct Peer {
    addr: String,
    tx: mpsc::UnboundedSender<Outgoing>,
    pending: Pending,
}

/// A pool of peers, keyed by address. Cheap to clone; share one per process.
#[derive(Clone, Default)]
pub struct RpcClient {
    peers: Arc<Mutex<HashMap<String, Arc<Peer>>>>,
    next_id: Arc<AtomicU64>,
}

impl RpcClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `req` to `addr` and waits up to `timeout` for the typed response.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        addr: &str,
        method: u16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError> {
        let body = self
            .start_call_bytes(addr, method, Bytes::from(req.encode_to_vec()), timeout)
            .await?;
        Resp::decode(body).map_err(|e| RpcError::Decode(e.to_string()))
    }

    /// Like [`RpcClient::call`] with an encoded body.
    pub async fn call_raw(
        &self,
        addr: &str,
        method: u16,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Bytes, RpcError> {
        self.start_call(addr, method, body, timeout).await
    }

    /// Queues the request at once (before returning), then returns a future
    /// for the response. Requests started one after another to the same peer
    /// go out on its connection in that order, even when their responses are
    /// awaited from different tasks.
    pub fn start_call(
        &self,
        addr: &str,
        method: u16,
        body: &[u8],
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Bytes, RpcError>> + Send + 'static {
        self.start_call_bytes(addr, method, Bytes::copy_from_slice(body), timeout)
    }

    /// [`RpcClient::start_call`] with a body the caller already holds as
    /// `Bytes`: it goes on the wire without being copied (big values).
    pub fn start_call_bytes(
        &self,
        addr: &str,
        method: u16,
        body: Bytes,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Bytes, RpcError>> + Send + 'static {
        let queued = self.queue(addr, method, body, timeout);
        async move {
            let (peer, request_id, done) = queued?;
            match tokio::time::timeout(timeout, done).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(RpcError::ConnectionLost(peer.addr.clone())),
                Err(_) => {
                    lock(&peer.pending).remove(&request_id);
                    Err(RpcError::Timeout(peer.addr.clone()))
                }
            }
        }
    }

    /// Queues a request that asks for no response ([`Header::one_way`]):
    /// no slot, no timer, and the peer sends nothing back. For messages the
    /// caller would not wait for anyway; a frame queued while the connection
    /// is down or breaking may be lost, as an unanswered call would be.
    pub fn send_one_way(&self, addr: &str, method: u16, body: Bytes) -> Result<(), RpcError> {
        let request_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = Header::one_way(method, request_id)
            .frame(body)
            .map_err(|e| RpcError::TooLarge(e.0))?;
        let out = Outgoing {
            request_id,
            one_way: true,
            frame,
        };
        self.peer(addr)
            .tx
            .send(out)
            .map_err(|_| RpcError::ConnectionLost(addr.to_string()))
    }

    #[allow(clippy::type_complexity)]
    fn queue(
        &self,
        addr: &str,
        method: u16,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(Arc<Peer>, u64, oneshot::Receiver<Result<Bytes, RpcError>>), RpcError> {
        let request_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let timeout_ms = timeout.as_millis().min(u128::from(u32::MAX)) as u32;
        // Refused here, alone: sent, the peer would drop the whole connection
        // and every other request on it.
        let frame = Header::request(method, timeout_ms, request_id)
            .frame(body)
            .map_err(|e| RpcError::TooLarge(e.0))?;
        let peer = self.peer(addr);
        let (slot, done) = oneshot::channel();
        lock(&peer.pending).insert(request_id, slot);
        let out = Outgoing {
            request_id,
            one_way: false,
            frame,
        };
        if peer.tx.send(out).is_err() {
            lock(&peer.pending).remove(&request_id);
            return Err(RpcError::ConnectionLost(addr.to_string()));
        }
        Ok((peer, request_id, done))
    }

    fn peer(&self, addr: &str) -> Arc<Peer> {
        let mut peers = lock(&self.peers);
        if let Some(p) = peers.get(addr) {
            if !p.tx.is_closed() {
                return p.clone();
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let peer = Arc::new(Peer {
            addr: addr.to_string(),
            tx,
            pending: pending.clone(),
        });
        tokio::spawn(run_peer(addr.to_string(), rx, pending));
        peers.insert(addr.to_string(), peer.clone());
        peer
    }
}

fn fail_all(pending: &Pending, err: &RpcError) {
    let slots: Vec<Slot> = lock(pending).drain().map(|(_, s)| s).collect();
    for slot in slots {
        let _ = slot.send(Err(err.clone()));
    }
}

async fn run_peer(addr: String, mut rx: mpsc::UnboundedReceiver<Outgoing>, pending: Pending) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let Some(first) = rx.recv().await else { return };
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await;
        match connected {
            Ok(Ok(stream)) => {
                backoff = BACKOFF_MIN;
                let _ = stream.set_nodelay(true);
                debug!(peer = %addr, "rpc connected");
                serve_connection(&addr, stream, first, &mut rx, &pending).await;
                fail_all(&pending, &RpcError::ConnectionLost(addr.clone()));
            }
            Ok(Err(e)) => {
                fail_all(
                    &pending,
                    &RpcError::Unreachable(addr.clone(), e.to_string()),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(_) => {
                fail_all(
                    &pending,
                    &RpcError::Unreachable(addr.clone(), "connect timed out".into()),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Writes queued frames and reads responses until the connection breaks.
async fn serve_connection(
    addr: &str,
    stream: TcpStream,
    first: Outgoing,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
    pending: &Pending,
) {
    let (read_half, write_half) = stream.into_split();
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, write_half);
    let mut reader = tokio::spawn(read_responses(
        addr.to_string(),
        FramedRead::new(read_half, codec()),
        pending.clone(),
    ));
    let mut next = Some(first);
    loop {
        if let Some(out) = next.take() {
            // Coalesce: let the other tasks that are ready run first, so the
            // requests they make to this peer go out in this same write (one
            // system call per request was most of the proxy's time).
            tokio::task::yield_now().await;
            // Feed everything queued by now, then flush once.
            let mut batch = vec![out];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            for out in batch {
                // A slot that timed out or failed is no longer wanted: never
                // send it late.
                if !out.one_way && !lock(pending).contains_key(&out.request_id) {
                    continue;
                }
                if let Err(e) = out.frame.write_to(&mut writer).await {
                    warn!(peer = %addr, error = %e, "rpc write failed");
                    reader.abort();
                    return;
                }
            }
            if let Err(e) = writer.flush().await {
                warn!(peer = %addr, error = %e, "rpc flush failed");
                reader.abort();
                return;
            }
        }
        tokio::select! {
            _ = &mut reader => return,
            out = rx.recv() => match out {
                Some(out) => next = Some(out),
                None => { reader.abort(); return; }
            },
        }
    }
}

async fn read_responses(
    addr: String,
    mut frames: FramedRead<tokio::net::tcp::OwnedReadHalf, tokio_util::codec::LengthDelimitedCodec>,
    pending: Pending,
) {
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(f) => f.freeze(),
            Err(e) => {
                warn!(peer = %addr, error = %e, "rpc read failed; dropping connection");
                return;
            }
        };
        let (header, body) = match Header::decode(frame) {
            Ok(x) => x,
            Err(e) => {
                warn!(peer = %addr, error = %e, "bad rpc frame; dropping connection");
                return;
            }
        };
        let result = match header.kind {
            Kind::Response => Ok(body),
            Kind::ErrorResponse => Err(RpcError::Remote(ServiceError::from_body(
                &body,
                header.typed_errors,
            ))),
            Kind::Request => {
                warn!(peer = %addr, "peer sent a request on a client connection; dropping it");
                return;
            }
        };
        if let Some(slot) = lock(&pending).remove(&header.request_id) {
            let _ = slot.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::future::BoxFuture;
    use futures::FutureExt;

    use super::*;
    use crate::rpc::frame::{HEADER_LEN, MAX_FRAME_LEN};
    use crate::rpc::server::{serve, Handled, Service};

    /// Answers every request with its own body.
    struct Mirror;

    impl Service for Mirror {
        fn call(self: Arc<Self>, _method: u16, body: Bytes) -> BoxFuture<'static, Handled> {
            async move { Ok(body) }.boxed()
        }
    }

    #[tokio::test]
    async fn an_oversized_request_fails_alone_and_big_bodies_round_trip() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(serve(listener, Arc::new(Mirror)));
        let client = RpcClient::new();
        let t = Duration::from_secs(10);
        let before = client.start_call(&addr, 1, b"before", t);
        // Zeroed (calloc'd) and never touched: costs no real memory.
        let huge = Bytes::from(vec![0u8; MAX_FRAME_LEN - HEADER_LEN + 1]);
        let refused = client.start_call_bytes(&addr, 1, huge, t).await;
        assert_eq!(
            refused,
            Err(RpcError::TooLarge(MAX_FRAME_LEN + 1)),
            "refused before sending"
        );
        assert!(refused.unwrap_err().never_sent());
        assert_eq!(&before.await.unwrap()[..], b"before");
        // A big body both ways, then small ones on the same connection.
        let big = Bytes::from(
            (0..20_000_000u32)
                .map(|i| (i >> 3) as u8)
                .collect::<Vec<u8>>(),
        );
        let back = client
            .start_call_bytes(&addr, 1, big.clone(), t)
            .await
            .unwrap();
        assert!(back == big, "20 MB body mirrored intact");
        let after = client.call_raw(&addr, 1, b"after", t).await.unwrap();
        assert_eq!(&after[..], b"after");
    }

    /// Counts the requests it runs, answering each with its body.
    struct Counter(std::sync::atomic::AtomicUsize);

    impl Service for Counter {
        fn call(self: Arc<Self>, _method: u16, body: Bytes) -> BoxFuture<'static, Handled> {
            self.0.fetch_add(1, Ordering::SeqCst);
            async move { Ok(body) }.boxed()
        }
    }

    #[tokio::test]
    async fn one_way_requests_run_and_get_no_response() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let counter = Arc::new(Counter(Default::default()));
        tokio::spawn(serve(listener, counter.clone()));

        // On the wire: a one-way frame then a call; the only frame back
        // answers the call, and nothing follows it.
        let stream = TcpStream::connect(&addr).await.unwrap();
        let (r, mut w) = stream.into_split();
        for header in [Header::one_way(5, 1), Header::request(5, 1000, 2)] {
            let frame = header.frame(Bytes::from_static(b"x")).unwrap();
            frame.write_to(&mut w).await.unwrap();
        }
        w.flush().await.unwrap();
        let mut frames = FramedRead::new(r, codec());
        let first = frames.next().await.unwrap().unwrap().freeze();
        let (h, _) = Header::decode(first).unwrap();
        assert_eq!((h.kind, h.request_id), (Kind::Response, 2));
        let more = tokio::time::timeout(Duration::from_millis(200), frames.next()).await;
        assert!(more.is_err(), "no frame answers the one-way request");
        assert_eq!(counter.0.load(Ordering::SeqCst), 2, "both ran");

        // Through the client: queued in order with calls on one connection.
        let client = RpcClient::new();
        client
            .send_one_way(&addr, 5, Bytes::from_static(b"y"))
            .unwrap();
        let back = client
            .call_raw(&addr, 5, b"z", Duration::from_secs(5))
            .await;
        assert_eq!(&back.unwrap()[..], b"z");
        assert_eq!(counter.0.load(Ordering::SeqCst), 4);
    }
}
