//! The subscriber connections: spread over threads, each a single-threaded
//! tokio runtime with one task per connection. A task connects, sends
//! `SUBSCRIBE channel`, waits for the confirmation, then reads messages
//! until the run stops, stamping each read with the clock as it returns.
//!
//! One thread's tasks share its [`Deliveries`] without locking; the
//! threads share only [`Progress`]'s counters.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::load::client::{self, Reply};

use super::tally::{Clock, Deliveries, Order, Progress};
use super::wire::{next_frame, Frame, Stamp};

/// Connections a thread opens at once: a burst of thousands of connects
/// would overflow the listener's accept backlog (SYNs dropped, retried
/// after a second).
const CONNECTS_AT_ONCE: usize = 128;
/// One connect's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each connection's read buffer starts this big.
const READ_BUF: usize = 4096;

/// One subscriber connection to open.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub(crate) addr: SocketAddr,
    pub(crate) channel: Vec<u8>,
}

/// What every subscriber thread shares.
pub(crate) struct Common {
    pub(crate) clock: Clock,
    pub(crate) progress: Arc<Progress>,
    /// Cancelled when the run is over (or failed).
    pub(crate) stop: CancellationToken,
}

/// Starts a thread running `subscribers` until `ctx.stop`; it returns
/// what they counted.
pub(crate) fn spawn(
    name: String,
    ctx: Arc<Common>,
    subscribers: Vec<Subscriber>,
) -> std::io::Result<std::thread::JoinHandle<Deliveries>> {
    std::thread::Builder::new().name(name).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                ctx.progress.fail(format!("subscriber runtime: {e}"));
                return Deliveries::default();
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, run(ctx, subscribers))
    })
}

async fn run(ctx: Arc<Common>, subscribers: Vec<Subscriber>) -> Deliveries {
    let tally = Rc::new(RefCell::new(Deliveries::default()));
    let connecting = Rc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|s| {
            tokio::task::spawn_local(listen(s, ctx.clone(), tally.clone(), connecting.clone()))
        })
        .collect();
    for t in tasks {
        if t.await.is_err() {
            ctx.progress.fail("a subscriber task panicked".into());
        }
    }
    // Every task is done, so this is the last reference.
    Rc::try_unwrap(tally)
        .map(RefCell::into_inner)
        .unwrap_or_default()
}

/// One subscriber connection, from connect to the end of the run.
async fn listen(
    s: Subscriber,
    ctx: Arc<Common>,
    tally: Rc<RefCell<Deliveries>>,
    connecting: Rc<Semaphore>,
) {
    let opened = tokio::select! {
        opened = async {
            let _permit = connecting.acquire().await;
            subscribe(&s).await
        } => opened,
        _ = ctx.stop.cancelled() => return,
    };
    let (mut stream, mut buf) = match opened {
        Ok(c) => c,
        Err(e) => {
            ctx.progress.fail(format!(
                "subscriber to {} ({}): {e:#}",
                s.addr,
                String::from_utf8_lossy(&s.channel)
            ));
            return;
        }
    };
    ctx.progress.subscribed.fetch_add(1, Relaxed);
    let mut order = Order::default();
    loop {
        // The confirmation's read may have brought messages too.
        if !buf.is_empty() {
            if let Err(e) = take_messages(&ctx, &tally, &mut order, &mut buf) {
                tally.borrow_mut().subscribers_lost += 1;
                ctx.progress.fail(format!("subscriber to {}: {e}", s.addr));
                return;
            }
        }
        tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return,
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    // Cut by the server (output buffer limit, maxclients...):
                    // its later messages count as lost.
                    tally.borrow_mut().subscribers_lost += 1;
                    return;
                }
                Ok(_) => {}
            },
        }
    }
}

/// Counts every whole message in `buf` (all arrived now) and drops them.
fn take_messages(
    ctx: &Common,
    tally: &RefCell<Deliveries>,
    order: &mut Order,
    buf: &mut BytesMut,
) -> Result<(), client::ProtocolError> {
    let arrived = ctx.clock.now();
    let window = ctx.progress.window.get();
    let mut tally = tally.borrow_mut();
    let mut at = 0;
    let mut messages = 0;
    while let Some((frame, used)) = next_frame(&buf[at..])? {
        at += used;
        // Other frames (a confirmation, a pong) carry nothing to count.
        if let Frame::Message { payload, .. } = frame {
            let stamp = Stamp::read(payload);
            if stamp.as_ref().is_some_and(|s| !order.in_order(s)) {
                tally.reordered += 1;
            }
            tally.record(window, stamp, arrived);
            messages += 1;
        }
    }
    buf.advance(at);
    ctx.progress.delivered.fetch_add(messages, Relaxed);
    Ok(())
}

/// Connects and subscribes; the stream and whatever was read past the
/// confirmation.
async fn subscribe(s: &Subscriber) -> anyhow::Result<(TcpStream, BytesMut)> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(s.addr))
        .await
        .map_err(|_| anyhow!("connect timed out"))?
        .context("connect")?;
    stream.set_nodelay(true)?;
    let mut stream = stream;
    stream
        .write_all(&client::encode(&[b"SUBSCRIBE", &s.channel]))
        .await?;
    let mut buf = BytesMut::with_capacity(READ_BUF);
    loop {
        if let Some((frame, used)) = next_frame(&buf)? {
            match frame {
                Frame::Other(Reply::Array(Some(items)))
                    if items.first() == Some(&Reply::Bulk(Some(b"subscribe".to_vec()))) =>
                {
                    buf.advance(used);
                    return Ok((stream, buf));
                }
                Frame::Other(Reply::Error(e)) => bail!("SUBSCRIBE answered: {e}"),
                other => bail!("SUBSCRIBE answered {other:?}"),
            }
        }
        if stream.read_buf(&mut buf).await? == 0 {
            bail!("connection closed before SUBSCRIBE was confirmed");
        }
    }
}
