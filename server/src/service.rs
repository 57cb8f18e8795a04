//! The server's RPC surface: Execute (from proxies) and ReplicaStatus (CLI).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::ids::{Ballot, Gpid};
use petrel_common::msg::{
    exec_code, method, ExecuteRequest, ExecuteResponse, ReplicaStatusRequest,
    ReplicaStatusResponse, ReplyMsg,
};
use petrel_common::reply::Reply;
use petrel_common::rpc::server::{decode, encode, Handled, Service};
use tracing::error;

use crate::cmd;
use crate::node::Node;
use crate::replica::ReplicaError;

/// Handles RPCs against this server's [`Node`].
pub struct ServerService {
    pub node: Arc<Node>,
}

fn refuse(code: i32, ballot: Ballot, primary: String, reason: &str) -> Handled {
    metrics::counter!("petrel_server_execute_refused_total", "code" => code.to_string())
        .increment(1);
    encode(&ExecuteResponse {
        code,
        reply: None,
        ballot: ballot.0,
        primary,
        reason: reason.to_string(),
    })
}

impl ServerService {
    async fn execute(self: Arc<Self>, req: ExecuteRequest) -> Handled {
        let gpid = Gpid::new(req.table_id, req.partition_id);
        let Some(replica) = self.node.replica(gpid) else {
            return refuse(
                exec_code::NO_REPLICA,
                Ballot(0),
                String::new(),
                "partition not hosted here",
            );
        };
        let config = replica.config();
        let primary = config
            .primary
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        if req.partition_count != replica.partition_count {
            return refuse(
                exec_code::STALE_MAP,
                config.ballot,
                primary,
                "partition count differs",
            );
        }
        if config.primary.as_ref() != Some(&self.node.me) {
            return refuse(
                exec_code::NOT_PRIMARY,
                config.ballot,
                primary,
                "not the primary",
            );
        }
        if Ballot(req.ballot) < config.ballot {
            return refuse(
                exec_code::STALE_MAP,
                config.ballot,
                primary,
                "request ballot is old",
            );
        }
        if Ballot(req.ballot) > config.ballot {
            // Meta has moved on and this server has not heard yet.
            return refuse(
                exec_code::UNAVAILABLE,
                config.ballot,
                primary,
                "server config is behind",
            );
        }
        if !self.node.lease_valid() {
            return refuse(
                exec_code::UNAVAILABLE,
                config.ballot,
                primary,
                "lease expired",
            );
        }
        let Some(name) = req.args.first() else {
            return refuse(
                exec_code::UNAVAILABLE,
                config.ballot,
                primary,
                "empty command",
            );
        };
        let now = petrel_common::time::now_unix_ms();
        let write = cmd::is_write(name);
        let started = std::time::Instant::now();
        let args = req.args;
        let log = self.node.log.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            if !write {
                return Ok((replica.read(&args, now), None));
            }
            replica.write(&args, now)
        })
        .await;
        // The reply waits until the write's log record is durable (at once
        // with durability "async"); other writes share the same fdatasync.
        let outcome = match outcome {
            Ok(Ok((reply, Some(ticket)))) => log
                .wait_durable(ticket)
                .await
                .map(|()| reply)
                .map_err(ReplicaError::from),
            Ok(Ok((reply, None))) => Ok(reply),
            Ok(Err(e)) => Err(e),
            Err(e) => {
                error!(%gpid, error = %e, "command task failed");
                Ok(Reply::error("ERR internal error executing command"))
            }
        };
        let kind = if write { "write" } else { "read" };
        metrics::counter!("petrel_server_execute_total", "kind" => kind).increment(1);
        metrics::histogram!("petrel_server_execute_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        let reply = match outcome {
            Ok(reply) => reply,
            Err(e) => {
                metrics::counter!("petrel_server_storage_errors_total").increment(1);
                error!(%gpid, error = %e, "storage failure");
                Reply::error(format!("ERR storage failure: {e}"))
            }
        };
        encode(&ExecuteResponse {
            code: exec_code::OK,
            reply: Some(ReplyMsg::from(&reply)),
            ballot: config.ballot.0,
            primary,
            reason: String::new(),
        })
    }
}

impl Service for ServerService {
    fn call(self: Arc<Self>, m: u16, body: Bytes) -> BoxFuture<'static, Handled> {
        async move {
            match m {
                method::EXECUTE => self.execute(decode(body)?).await,
                method::REPLICA_STATUS => {
                    let _: ReplicaStatusRequest = decode(body)?;
                    encode(&ReplicaStatusResponse {
                        replicas: self.node.replica_infos(),
                    })
                }
                other => Err(format!("server has no method {other}")),
            }
        }
        .boxed()
    }
}
