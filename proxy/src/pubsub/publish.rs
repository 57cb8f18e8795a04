//! Messages on their way to the channels' brokers: `PUBLISH` and
//! `SPUBLISH`, and what a script or a `MULTI` block published, held until
//! its writes committed (docs/PUBSUB.md, "Transactions and scripts").

use std::time::Instant;

use bytes::Bytes;
use futures::future::join_all;
use petrel_common::pubsub::{brokers, Brokers, PubSubRequest, PubSubResponse, PublishMsg};
use petrel_common::reply::Reply;

use crate::route::error::RouteError;
use crate::route::{Router, Target};
use crate::stats::names;

/// A request to the broker of `target`, retried like any routed request.
pub(crate) async fn ask(
    router: &Router,
    target: Target,
    mut req: PubSubRequest,
) -> Result<PubSubResponse, RouteError> {
    let deadline = Instant::now() + router.timeout();
    router
        .send(&target, &mut req, false, deadline)
        .await
        .map(|(r, _)| r)
}

/// The brokers a message on `channel` goes to: its partition's, or every
/// partition's for a keyevent channel.
async fn targets(router: &Router, channel: &Bytes, shard: bool) -> Result<Vec<Target>, RouteError> {
    match (shard, brokers(channel)) {
        (false, Brokers::Every) => {
            let deadline = Instant::now() + router.timeout();
            let map = router.maps().wait_for_map(deadline).await?;
            Ok((0..map.partition_count).map(Target::Partition).collect())
        }
        (false, Brokers::Key(key)) => Ok(vec![Target::Key(Bytes::copy_from_slice(key))]),
        (true, _) => Ok(vec![Target::Key(channel.clone())]),
    }
}

/// Sends `message` to its brokers (`router`: database 0's, whose
/// partitions broker every channel); the reply `PUBLISH` gives: how many
/// clients, on every proxy, it was queued for.
pub(crate) async fn publish(router: &Router, message: PublishMsg) -> Reply {
    let targets = match targets(router, &message.channel, message.shard).await {
        Ok(t) => t,
        Err(e) => return e.into_reply(),
    };
    let req = PubSubRequest {
        publish: Some(message),
        ..PubSubRequest::default()
    };
    let asks = targets.into_iter().map(|t| ask(router, t, req.clone()));
    let mut receivers = 0;
    for answer in join_all(asks).await {
        match answer {
            Ok(r) => receivers += r.receivers,
            Err(e) => return e.into_reply(),
        }
    }
    Reply::Int(receivers)
}

/// A message held until the writes of the script or `MULTI` block that
/// published it have committed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outgoing {
    pub(crate) message: PublishMsg,
    /// Where its receiver count goes in `EXEC`'s reply (a `PUBLISH` queued
    /// in the block); `None` for a script's, which got its answer already.
    pub(crate) reply_at: Option<usize>,
}

impl Outgoing {
    /// A script's message.
    pub(crate) fn of_script(message: PublishMsg) -> Self {
        Outgoing {
            message,
            reply_at: None,
        }
    }
}

/// Sends `held` (whose writes committed) one after another, in order, so
/// that each channel's messages reach its broker as they were published.
/// A queued `PUBLISH`'s count (or error) takes its place in `reply`; a
/// script's message that cannot be delivered is logged and counted: the
/// writes it followed stay, as a message is delivered at most once.
pub(crate) async fn release(router: &Router, held: Vec<Outgoing>, reply: &mut Reply) {
    for out in held {
        let channel = out.message.channel.clone();
        let answer = publish(router, out.message).await;
        match (out.reply_at, &mut *reply) {
            (Some(at), Reply::Array(items)) if at < items.len() => items[at] = answer,
            _ => {
                if let Reply::Error(e) = &answer {
                    metrics::counter!(names::PUBSUB_UNSENT).increment(1);
                    tracing::warn!(
                        channel = %String::from_utf8_lossy(&channel),
                        error = %e,
                        "a message a script published after its writes committed was not sent"
                    );
                }
            }
        }
    }
}
