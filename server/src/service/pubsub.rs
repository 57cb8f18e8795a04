//! The pub/sub RPCs: a channel broker's PUBLISH, registrations and PUBSUB
//! questions (routed and checked like EXECUTE), and a proxy's long poll
//! (see [`crate::pubsub`]).

use std::sync::Arc;
use std::time::Duration;

use petrel_common::ids::{Ballot, Gpid};
use petrel_common::msg::ExecCode;
use petrel_common::pubsub::{Audience, PollRequest, PubSubRequest, PubSubResponse, QueryKind};
use petrel_common::rpc::server::{encode, Handled};

use super::{Routed, ServerService};
use crate::pubsub::RegisterRefusal;

impl ServerService {
    /// PUBLISH, a registration, or a PUBSUB question for one partition.
    pub(super) fn pubsub(self: &Arc<Self>, req: PubSubRequest) -> Handled {
        let gpid = Gpid::new(req.table_id, req.partition_id);
        let answer =
            |code: ExecCode, ballot: Ballot, primary: String, reason: &str| PubSubResponse {
                code: code.into(),
                ballot: ballot.0,
                primary,
                reason: reason.to_string(),
                ..PubSubResponse::default()
            };
        let Routed {
            ballot, primary, ..
        } = match self.route(gpid, req.partition_count, Ballot(req.ballot)) {
            Ok(r) => r,
            Err(r) => return encode(&answer(r.code, r.ballot, r.primary, r.reason)),
        };
        let broker = &self.node.broker;
        let mut resp = answer(ExecCode::Ok, ballot, primary, "");
        if let Some(p) = req.publish {
            let audience = Audience::try_from(p.audience).unwrap_or_default();
            resp.receivers =
                broker.publish_to(gpid, ballot, &p.channel, &p.message, p.shard, audience);
        } else if let Some(r) = req.register {
            match broker.register(gpid, ballot, r.proxy_id, r.full, &r.entries) {
                Ok(()) => {}
                Err(RegisterRefusal::NeedsFull) => resp.needs_full = true,
                Err(RegisterRefusal::Stale) => {
                    resp.code = ExecCode::StaleMap.into();
                    resp.reason = "registration under an old ballot".into();
                }
            }
        } else if let Some(q) = req.query {
            let Ok(kind) = QueryKind::try_from(q.kind) else {
                resp.code = ExecCode::Unavailable.into();
                resp.reason = format!("unknown pub/sub question {}", q.kind);
                return encode(&resp);
            };
            (resp.names, resp.counts) = broker.query(gpid, ballot, kind, &q.args);
        } else {
            resp.code = ExecCode::Unavailable.into();
            resp.reason = "pub/sub request without an operation".into();
        }
        encode(&resp)
    }

    /// A proxy's long poll for the messages queued for it here.
    pub(super) async fn pubsub_poll(self: Arc<Self>, req: PollRequest) -> Handled {
        let wait = Duration::from_millis(req.wait_ms.into());
        encode(&self.node.broker.poll(req.proxy_id, wait).await)
    }
}
