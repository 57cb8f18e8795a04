//! The publishers: one thread, a single-threaded tokio runtime with one
//! task per connection. Each sends `--pipeline` PUBLISHes at once, every
//! message stamped with the clock just before the write, and waits for
//! their replies before the next batch, until the window ends. Publisher
//! `p`'s k-th message goes to channel `(k * publishers + p) % channels`,
//! so every channel gets its share.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::client::{self, Reply};
use crate::load::stats::Stats;
use crate::load::workloads::OpKind;

use super::tally::{Clock, Progress, Window};
use super::wire::Stamp;

/// How often a publisher held back by `--max-in-flight` looks again.
const IN_FLIGHT_RECHECK: Duration = Duration::from_millis(1);

/// What the publishers do.
pub(crate) struct Plan {
    pub(crate) addr: SocketAddr,
    pub(crate) channels: Arc<Vec<Vec<u8>>>,
    pub(crate) publishers: usize,
    pub(crate) pipeline: usize,
    pub(crate) message_size: usize,
    /// PUBLISHes per second over all publishers, 0 for as fast as replies come.
    pub(crate) rate: u64,
    /// Publishers wait while more deliveries than this are announced and
    /// not arrived (0: never).
    pub(crate) max_in_flight: u64,
    pub(crate) clock: Clock,
    pub(crate) window: Window,
    pub(crate) progress: Arc<Progress>,
}

/// What the publishers counted.
#[derive(Debug, Default)]
pub(crate) struct Publishes {
    /// [`OpKind::Publish`] latencies (write to reply) of the PUBLISHes
    /// written in the window and answered with a count; error replies by
    /// kind; connections lost.
    pub(crate) stats: Stats,
    /// Every PUBLISH answered, window or not.
    pub(crate) replies: u64,
    /// The sum of their replies: the deliveries they announced.
    pub(crate) expected: u64,
    /// When the last reply came (clock nanoseconds).
    pub(crate) last_reply: u64,
}

impl Publishes {
    fn merge(&mut self, other: &Publishes) {
        self.stats.merge(&other.stats);
        self.replies += other.replies;
        self.expected += other.expected;
        self.last_reply = self.last_reply.max(other.last_reply);
    }
}

/// Starts the publishers' thread; it returns once the window is over.
pub(crate) fn spawn(
    plan: Arc<Plan>,
) -> std::io::Result<std::thread::JoinHandle<anyhow::Result<Publishes>>> {
    std::thread::Builder::new()
        .name("publishers".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let tasks: Vec<_> = (0..plan.publishers)
                    .map(|p| tokio::task::spawn_local(publish(plan.clone(), p)))
                    .collect();
                let mut all = Publishes::default();
                for t in tasks {
                    let one = t
                        .await
                        .map_err(|_| anyhow!("a publisher task panicked"))??;
                    all.merge(&one);
                }
                Ok(all)
            })
        })
}

/// Publisher `p`'s connection until the window ends. A connection lost
/// midway ends this publisher (counted as an I/O error), not the run.
async fn publish(plan: Arc<Plan>, p: usize) -> anyhow::Result<Publishes> {
    let publisher = u16::try_from(p).context("too many publishers")?;
    let mut stream = TcpStream::connect(plan.addr)
        .await
        .with_context(|| format!("publisher connecting to {}", plan.addr))?;
    stream.set_nodelay(true)?;
    let mut out = Publishes::default();
    let mut buf = BytesMut::with_capacity(4096);
    let mut request = Vec::new();
    // Absolute schedule of batches under --rate.
    let every = (plan.rate > 0).then(|| {
        Duration::from_secs_f64((plan.pipeline * plan.publishers) as f64 / plan.rate as f64)
    });
    let mut due = tokio::time::Instant::now();
    let mut seq = 0u64;
    let mut k = 0usize;
    loop {
        if let Some(every) = every {
            tokio::time::sleep_until(due).await;
            due += every;
        }
        while plan.max_in_flight > 0
            && plan.progress.in_flight() > plan.max_in_flight
            && plan.clock.now() < plan.window.to
        {
            tokio::time::sleep(IN_FLIGHT_RECHECK).await;
        }
        let sent = plan.clock.now();
        if sent >= plan.window.to {
            return Ok(out);
        }
        request.clear();
        for _ in 0..plan.pipeline {
            let channel = &plan.channels[(k * plan.publishers + p) % plan.channels.len()];
            k += 1;
            let message = Stamp {
                sent,
                publisher,
                seq,
            }
            .message(plan.message_size);
            seq += 1;
            request.extend_from_slice(&client::encode(&[b"PUBLISH", channel, &message]));
        }
        if stream.write_all(&request).await.is_err() {
            out.stats.io_errors += plan.pipeline as u64;
            return Ok(out);
        }
        let mut answered = 0;
        while answered < plan.pipeline {
            let mut parsed = client::parse(&buf)?;
            if parsed.is_none() {
                match stream.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => {
                        out.stats.io_errors += (plan.pipeline - answered) as u64;
                        return Ok(out);
                    }
                    Ok(_) => parsed = client::parse(&buf)?,
                }
            }
            let Some((reply, used)) = parsed else {
                continue;
            };
            buf.advance(used);
            answered += 1;
            let now = plan.clock.now();
            out.replies += 1;
            out.last_reply = now;
            match reply {
                Reply::Int(n) => {
                    let n = u64::try_from(n).unwrap_or(0);
                    out.expected += n;
                    plan.progress.announced.fetch_add(n, Relaxed);
                    if plan.window.contains(sent) {
                        let latency = Duration::from_nanos(now.saturating_sub(sent));
                        out.stats.record(OpKind::Publish, latency);
                    }
                }
                Reply::Error(e) => out.stats.error(e.split(' ').next().unwrap_or_default()),
                other => bail!("PUBLISH answered {other:?}"),
            }
        }
        plan.progress
            .published
            .fetch_add(plan.pipeline as u64, Relaxed);
    }
}
