//! The real [`Transport`]: each message as a `TXN` RPC to the partition's
//! primary through the router, which refreshes the map and sends again
//! while the answer proves the message was not taken (NOT_PRIMARY,
//! STALE_MAP...), as it does for commands. Anything else without an
//! answer (a timeout, a lost connection) is "no answer" for the machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use petrel_common::msg::{TxnCommandMsg, TxnRequestMsg};
use petrel_common::reply::Reply;
use petrel_common::txn::wire;

use super::driver::{Answer, Msg, Transport};
use crate::route::router::{Router, Target};

/// Sends through `router`; each message gets `timeout` (resends are the
/// machine's business).
pub(crate) struct RouterTransport {
    pub(crate) router: Arc<Router>,
    pub(crate) timeout: Duration,
}

impl Transport for RouterTransport {
    fn send(&self, to: u32, msg: Msg) -> BoxFuture<'static, Option<Answer>> {
        let router = self.router.clone();
        let deadline = Instant::now() + self.timeout;
        Box::pin(async move {
            let (body, commands) = match msg {
                Msg::Execute { head, commands } => (
                    wire::execute(&head),
                    commands
                        .into_iter()
                        .map(|c| TxnCommandMsg {
                            command: u32::from(c.command.id.0),
                            args: c.args,
                        })
                        .collect(),
                ),
                Msg::Request(r) => (wire::request(&r), Vec::new()),
            };
            let mut req = TxnRequestMsg {
                body: Some(body),
                commands,
                ..Default::default()
            };
            let sent = router
                .send(&Target::Partition(to), &mut req, true, deadline)
                .await;
            let (resp, node) = match sent {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(partition = to, error = %e, "transaction message unanswered");
                    return None;
                }
            };
            let decoded = resp.body.as_ref().map(wire::response_of);
            let Some(Ok(resp_body)) = decoded else {
                tracing::warn!(partition = to, %node, "transaction answer does not decode: {decoded:?}");
                return None;
            };
            Some(Answer {
                resp: resp_body,
                replies: resp.replies.into_iter().map(Reply::from).collect(),
            })
        })
    }
}
