//! The long poll collecting, from one broker server, the messages it
//! queued for this proxy, handed to the hub in the order they came.

use std::sync::Arc;
use std::time::Duration;

use petrel_common::msg::method;
use petrel_common::pubsub::{PollRequest, PollResponse};
use tracing::{debug, warn};

use super::shared::PubSub;
use crate::stats::names;

/// How long the server may hold one poll when nothing is queued.
const POLL_WAIT: Duration = Duration::from_secs(5);
/// The poll's own deadline: the wait and a margin.
const POLL_TIMEOUT: Duration = Duration::from_secs(8);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// Polls `server` until the task is aborted (the registrar stops it when
/// the server leads no partition any more).
pub(super) async fn run(pubsub: Arc<PubSub>, server: String) {
    let rpc = pubsub.router.maps().rpc().clone();
    let req = PollRequest {
        proxy_id: pubsub.proxy_id,
        wait_ms: POLL_WAIT.as_millis() as u32,
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        let polled: Result<PollResponse, _> = rpc
            .call(&server, method::PUBSUB_POLL, &req, POLL_TIMEOUT)
            .await;
        match polled {
            Ok(resp) => {
                backoff = BACKOFF_MIN;
                if !resp.known {
                    debug!(%server, "broker server did not know this proxy; registering again");
                    petrel_common::sync::lock(&pubsub.forgotten).insert(server.clone());
                    pubsub.changed();
                }
                if resp.dropped > 0 {
                    warn!(%server, dropped = resp.dropped, "a broker dropped pub/sub messages for this proxy (its queue was full)");
                    metrics::counter!(names::PUBSUB_DROPPED).increment(resp.dropped);
                }
                if !resp.deliveries.is_empty() {
                    metrics::counter!(names::PUBSUB_RECEIVED)
                        .increment(resp.deliveries.len() as u64);
                    let mut hub = pubsub.hub();
                    for d in &resp.deliveries {
                        hub.deliver(d);
                    }
                    // Invalidated keys are no longer tracked: tell the brokers.
                    if !hub.changed.is_empty() {
                        pubsub.changed();
                    }
                }
            }
            Err(e) => {
                debug!(%server, error = %e, "pub/sub poll failed; asking meta for the map");
                let maps = pubsub.router.maps();
                let seen = maps.generation();
                let _ = tokio::time::timeout(backoff, maps.refresh(seen)).await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                pubsub.changed();
            }
        }
    }
}
