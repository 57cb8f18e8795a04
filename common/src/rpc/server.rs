//! The serving side: accept connections, decode frames, run each request on
//! its own task, write responses back as they finish (out of order is fine).

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use prost::Message;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tracing::{debug, warn};

use super::frame::{codec, Header, Kind, OutFrame};
use super::ServiceError;
use super::WRITE_BUFFER;

/// What a request handler returns: an encoded body, or why there is none.
pub type Handled = Result<Bytes, ServiceError>;

/// A process's RPC surface.
pub trait Service: Send + Sync + 'static {
    /// Handles one request. Unknown methods answer [`ServiceError::NoMethod`].
    fn call(self: Arc<Self>, method: u16, body: Bytes) -> BoxFuture<'static, Handled>;
}

/// Decodes a request body; a failure is [`ServiceError::BadRequest`].
pub fn decode<T: Message + Default>(body: Bytes) -> Result<T, ServiceError> {
    T::decode(body).map_err(|e| ServiceError::BadRequest(e.to_string()))
}

/// Encodes a response body.
pub fn encode<T: Message>(msg: &T) -> Handled {
    Ok(Bytes::from(msg.encode_to_vec()))
}

/// Serves `service` on `listener` until the task is dropped.
pub async fn serve<S: Service>(listener: TcpListener, service: Arc<S>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                debug!(%peer, "rpc connection accepted");
                tokio::spawn(serve_connection(stream, peer.to_string(), service.clone()));
            }
            Err(e) => {
                warn!(error = %e, "rpc accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection<S: Service>(stream: TcpStream, peer: String, service: Arc<S>) {
    let (read_half, write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, codec());
    let (tx, mut rx) = mpsc::unbounded_channel::<OutFrame>();
    let writer = tokio::spawn(async move {
        let mut sink = BufWriter::with_capacity(WRITE_BUFFER, write_half);
        while let Some(first) = rx.recv().await {
            // Coalesce: responses finishing in the tasks that are ready now
            // join this write.
            tokio::task::yield_now().await;
            if first.write_to(&mut sink).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if more.write_to(&mut sink).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(frame) = frames.next().await {
        let frame = match frame {
            Ok(f) => f.freeze(),
            Err(e) => {
                warn!(%peer, error = %e, "unreadable rpc frame; dropping connection");
                break;
            }
        };
        let (header, body) = match Header::decode(frame) {
            Ok(x) => x,
            Err(e) => {
                warn!(%peer, error = %e, "bad rpc frame; dropping connection");
                break;
            }
        };
        if header.kind != Kind::Request {
            warn!(%peer, "rpc response sent to a server; dropping connection");
            break;
        }
        let mut fut = service.clone().call(header.method, body);
        // Most requests (point reads, refusals, peer messages) finish without
        // waiting: answer those here, sparing a task and a timer each.
        if let Poll::Ready(result) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            if let Some(frame) = respond(&header, result, &peer) {
                let _ = tx.send(frame);
            }
            continue;
        }
        let tx = tx.clone();
        let peer = peer.clone();
        tokio::spawn(async move {
            let result = if header.timeout_ms > 0 {
                match tokio::time::timeout(Duration::from_millis(header.timeout_ms.into()), fut)
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(ServiceError::DeadlineExceeded),
                }
            } else {
                fut.await
            };
            if let Some(frame) = respond(&header, result, &peer) {
                let _ = tx.send(frame);
            }
        });
    }
    drop(tx);
    // In-flight handlers still hold senders; the writer ends when they finish.
    let _ = writer.await;
}

/// The response frame for `result`; an oversized body becomes an error
/// response (the caller would drop the whole connection on it). A one-way
/// request gets none.
fn respond(header: &Header, result: Handled, peer: &str) -> Option<OutFrame> {
    if header.no_reply {
        if let Err(e) = result {
            debug!(%peer, method = header.method, error = %e, "one-way request failed");
        }
        return None;
    }
    let error = |e: &ServiceError| {
        let response = header.response(false);
        response.frame(e.to_body(response.typed_errors))
    };
    let framed = match result {
        Ok(body) => header.response(true).frame(body),
        Err(e) => error(&e),
    };
    framed
        .or_else(|e| {
            warn!(%peer, method = header.method, error = %e, "rpc response too large");
            error(&ServiceError::Internal(format!("response too large: {e}")))
        })
        .ok()
}
