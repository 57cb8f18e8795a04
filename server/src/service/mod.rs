//! The server's RPC surface: Execute (from proxies), peer messages between
//! replicas, a learner's checkpoint requests (served by [`crate::learn`]),
//! ReplicaDigest and ReplicaStatus (CLI), and TXN: a transaction's messages
//! to this partition's participant (docs/TRANSACTIONS.md); pub/sub
//! ([`pubsub`]: a channel broker's requests and a proxy's long poll);
//! SETTINGS_PUSH: meta's cluster settings after a change.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::command::{self, Command, CommandId, BLOCK_SLICE};
use petrel_common::ids::{Ballot, Gpid, NodeAddr};
use petrel_common::msg::{
    method, CheckpointPrepareRequest, ExecCode, ExecuteRequest, ExecuteResponse, ReplicaBatchAck,
    ReplicaBatchMsg, ReplicaDigestRequest, ReplicaDigestResponse, ReplicaStatusRequest,
    ReplicaStatusResponse, ReplyMsg, SettingsMsg, SettingsPushResponse, TxnCommandMsg,
    TxnRequestMsg, TxnResponseMsg,
};
use petrel_common::reply::Reply;
use petrel_common::rpc::server::{decode, encode, Handled, Service};
use petrel_common::rpc::ServiceError;
use tracing::error;

use crate::cmd;
use crate::learn;
use crate::node::Node;
use crate::replica::routing::misrouted;
use crate::replica::{
    role_of, wire, Event, Replica, Status, TxnIn, TxnOutcome, WriteError, WriteOutcome,
};
use crate::txn::exec::Call;
use petrel_common::txn::wire::{self as txn_wire, Incoming};

mod blocked;
mod pubsub;

/// Handles RPCs against this server's [`Node`].
pub(crate) struct ServerService {
    pub(crate) node: Arc<Node>,
    metrics: ExecuteMetrics,
    /// Blocked clients, per partition, in the order they asked.
    blocked: blocked::Queues,
}

/// Handles on the per-request metrics, made once: looking a labelled metric
/// up by name on every request showed in profiles.
struct ExecuteMetrics {
    reads: metrics::Counter,
    writes: metrics::Counter,
    read_seconds: metrics::Histogram,
    write_seconds: metrics::Histogram,
}

impl ExecuteMetrics {
    /// Registers the handles with the installed recorder (install it first).
    fn new() -> Self {
        Self {
            reads: metrics::counter!("petrel_server_execute_total", "kind" => "read"),
            writes: metrics::counter!("petrel_server_execute_total", "kind" => "write"),
            read_seconds: metrics::histogram!("petrel_server_execute_seconds", "kind" => "read"),
            write_seconds: metrics::histogram!("petrel_server_execute_seconds", "kind" => "write"),
        }
    }
}

impl ServerService {
    /// The service for `node`; call after the metrics recorder is installed.
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self {
            node,
            metrics: ExecuteMetrics::new(),
            blocked: blocked::Queues::default(),
        }
    }
}

/// Why a request was not routed to a replica (see [`ServerService::route`]).
struct Refusal {
    code: ExecCode,
    ballot: Ballot,
    primary: String,
    reason: &'static str,
}

impl Refusal {
    fn new(code: ExecCode, ballot: Ballot, primary: String, reason: &'static str) -> Self {
        Refusal {
            code,
            ballot,
            primary,
            reason,
        }
    }
}

/// A request that passed [`ServerService::route`]: the replica, and the
/// ballot and primary it holds, to answer with.
struct Routed {
    replica: Arc<Replica>,
    ballot: Ballot,
    primary: String,
}

fn refuse(code: ExecCode, ballot: Ballot, primary: String, reason: &str) -> Handled {
    // The label is the numeric code, as docs/METRICS.md says.
    metrics::counter!("petrel_server_execute_refused_total", "code" => (code as i32).to_string())
        .increment(1);
    encode(&ExecuteResponse {
        code: code.into(),
        reply: None,
        ballot: ballot.0,
        primary,
        reason: reason.to_string(),
        published: Vec::new(),
    })
}

impl ServerService {
    /// The checks every partition request passes before it reaches the
    /// replica: hosted here, routed with this partition count and ballot,
    /// this server the primary, lease valid. The refusal says which failed.
    fn route(&self, gpid: Gpid, partition_count: u32, ballot: Ballot) -> Result<Routed, Refusal> {
        let Some(replica) = self.node.replica(gpid) else {
            return Err(Refusal::new(
                ExecCode::NoReplica,
                Ballot(0),
                String::new(),
                "partition not hosted here",
            ));
        };
        let config = replica.config();
        let primary = config
            .primary
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        let refuse = |code, reason| Err(Refusal::new(code, config.ballot, primary.clone(), reason));
        if !replica.routes_with(partition_count) {
            return refuse(ExecCode::StaleMap, "partition count differs");
        }
        if ballot < config.ballot {
            return refuse(ExecCode::StaleMap, "request ballot is old");
        }
        if ballot > config.ballot {
            // Meta has moved on and this server has not heard yet: ask now
            // rather than at the next beacon (a failover may have made us
            // primary).
            self.node.beacon_soon();
            return refuse(ExecCode::Unavailable, "server config is behind");
        }
        if config.primary.as_ref() != Some(&self.node.me) {
            return refuse(ExecCode::NotPrimary, "not the primary");
        }
        if !self.node.lease_valid() {
            return refuse(ExecCode::Unavailable, "lease expired");
        }
        Ok(Routed {
            replica,
            ballot: config.ballot,
            primary,
        })
    }

    async fn execute(self: Arc<Self>, req: ExecuteRequest) -> Handled {
        let gpid = Gpid::new(req.table_id, req.partition_id);
        let Routed {
            replica,
            ballot,
            primary,
        } = match self.route(gpid, req.partition_count, Ballot(req.ballot)) {
            Ok(r) => r,
            Err(r) => return refuse(r.code, r.ballot, r.primary, r.reason),
        };
        let Some(command) = u16::try_from(req.command)
            .ok()
            .and_then(|id| command::table().get(CommandId(id)))
            .filter(|c| c.names_match(&req.args))
        else {
            // Not executed: a proxy built on another version of the command
            // table (or a malformed request).
            return refuse(
                ExecCode::Unavailable,
                ballot,
                primary,
                "command id does not match the command named (proxy and server command tables differ)",
            );
        };
        let current = replica.partition_count();
        if misrouted(gpid, req.partition_count, current, command, &req.args) {
            return refuse(
                ExecCode::StaleMap,
                ballot,
                primary,
                "a key belongs to another partition (the table split)",
            );
        }
        let now = petrel_common::time::now_unix_ms();
        let mut write = command.is_write();
        let point_read = !write && command.serving.point_read;
        let started = std::time::Instant::now();
        let routed = Routed {
            replica,
            ballot,
            primary,
        };
        // A blocking read (XREAD BLOCK) waits like a blocking write: on the
        // write path, where it sees every write as it commits.
        let blocks = command.blocks(&req.args);
        let reply = if write || blocks {
            match self
                .write(
                    &routed,
                    gpid,
                    command,
                    req.args,
                    blocks.then_some(req.block_ticket),
                    now,
                )
                .await
            {
                Ok(reply) => reply,
                Err(refused) => return refused,
            }
        } else {
            let Routed {
                replica,
                ballot,
                primary,
            } = &routed;
            let (ballot, primary) = (*ballot, primary.clone());
            if !replica.view().can_serve_read || !self.node.lease_valid() {
                return refuse(
                    ExecCode::Unavailable,
                    ballot,
                    primary,
                    "primary not ready to serve reads (reconciling or lease expired)",
                );
            }
            let args = req.args;
            let limit = std::time::Duration::from_millis(self.node.config.txn_lock_wait_ms);
            if let Some(reply) = read_gate(replica, command, &args, limit).await {
                return encode(&ExecuteResponse {
                    code: ExecCode::Ok.into(),
                    reply: Some(ReplyMsg::from(&reply)),
                    ballot: ballot.0,
                    primary,
                    reason: String::new(),
                    published: Vec::new(),
                });
            }
            // A read Redis lets write (PFCOUNT refreshing its cache) runs
            // again as a write when it wants to.
            let again = command.may_replicate().then(|| args.clone());
            let notify = cmd::Notify {
                flags: self.node.notifier.flags(),
                reading: true,
            };
            let done = if point_read {
                replica.read_with(command, &args, now, notify)
            } else {
                let r = replica.clone();
                match tokio::task::spawn_blocking(move || r.read_with(command, &args, now, notify))
                    .await
                {
                    Ok(done) => done,
                    Err(e) => {
                        error!(%gpid, error = %e, "command task failed");
                        cmd::Execution::only(Reply::error("ERR internal error executing command"))
                    }
                }
            };
            match again {
                Some(args) if !done.mutation.is_empty() => {
                    write = true;
                    match self.write(&routed, gpid, command, args, None, now).await {
                        Ok(reply) => reply,
                        Err(refused) => return refused,
                    }
                }
                _ => {
                    if notify.flags != 0 {
                        self.node
                            .notifier
                            .publish(&replica.place, ballot, done.events);
                        sweep_soon(replica, done.expired);
                    }
                    done.reply
                }
            }
        };
        let Routed {
            ballot, primary, ..
        } = routed;
        let (count, seconds) = if write {
            (&self.metrics.writes, &self.metrics.write_seconds)
        } else {
            (&self.metrics.reads, &self.metrics.read_seconds)
        };
        count.increment(1);
        seconds.record(started.elapsed().as_secs_f64());
        // A script's messages come only with the reply it computed, which
        // reaches here once its write committed (`WriteOutcome::Done`).
        let (reply, published) = cmd::scripting::split_published(command, reply);
        encode(&ExecuteResponse {
            code: ExecCode::Ok.into(),
            reply: Some(ReplyMsg::from(&reply)),
            ballot: ballot.0,
            primary,
            reason: String::new(),
            published,
        })
    }

    /// Runs a write at `routed`'s replica: its reply, or the refusal to
    /// send instead (not executed, or not primary any more).
    async fn write(
        &self,
        routed: &Routed,
        gpid: Gpid,
        command: &'static Command,
        args: Vec<Bytes>,
        // The call's ticket among blocked clients, when it blocks.
        blocking: Option<u64>,
        now: u64,
    ) -> Result<Reply, Handled> {
        let Routed {
            replica,
            ballot,
            primary,
        } = routed;
        let (ballot, primary) = (*ballot, primary.clone());
        let outcome = if let Some(ticket) = blocking {
            let queue = self.blocked.of(gpid);
            write_blocking(replica, &queue, ticket, command, args).await
        } else {
            replica.write(command, args, now).await
        };
        Ok(match outcome {
            WriteOutcome::Done(reply) => reply,
            WriteOutcome::Refused(e) => match e {
                WriteError::NotPrimary { ballot, primary } => {
                    return Err(refuse(
                        ExecCode::NotPrimary,
                        ballot,
                        primary.map(|p| p.0).unwrap_or_default(),
                        "not the primary",
                    ))
                }
                WriteError::LeaseExpired { ballot } => {
                    return Err(refuse(
                        ExecCode::Unavailable,
                        ballot,
                        primary,
                        "lease expired",
                    ))
                }
                WriteError::Busy { in_flight, limit } => {
                    return Err(refuse(
                        ExecCode::Busy,
                        ballot,
                        primary,
                        &format!("{in_flight} writes in flight (limit {limit})"),
                    ))
                }
                WriteError::Moved { ballot } => {
                    return Err(refuse(
                        ExecCode::StaleMap,
                        ballot,
                        primary,
                        "a key belongs to another partition (the table split)",
                    ))
                }
                WriteError::Unknown { ballot, .. } => {
                    metrics::counter!("petrel_server_write_outcome_unknown_total").increment(1);
                    Reply::error(format!(
                        "ERR write outcome unknown on partition {}: the primary changed (ballot {}) before it committed; it may or may not have been applied",
                        gpid.partition.0, ballot.0
                    ))
                }
            },
            WriteOutcome::Failed(why) => {
                metrics::counter!("petrel_server_storage_errors_total").increment(1);
                error!(%gpid, error = %why, "write failed");
                Reply::error(format!("ERR storage failure: {why}"))
            }
        })
    }

    /// A transaction's message (docs/TRANSACTIONS.md): routed like EXECUTE,
    /// then handed to the replica's participant. A body or command this
    /// build does not understand is refused, never run.
    async fn txn(self: Arc<Self>, req: TxnRequestMsg) -> Handled {
        let gpid = Gpid::new(req.table_id, req.partition_id);
        let Routed {
            replica,
            ballot,
            primary,
        } = match self.route(gpid, req.partition_count, Ballot(req.ballot)) {
            Ok(r) => r,
            Err(r) => return txn_refuse(r.code, r.ballot, r.primary, r.reason),
        };
        let bad =
            |reason: String| txn_refuse(ExecCode::Unavailable, ballot, primary.clone(), &reason);
        let Some(body) = req.body.as_ref() else {
            return bad("transaction message without a body".to_string());
        };
        let msg = match txn_wire::incoming(body, gpid.table) {
            Ok(Incoming::Execute(head)) => match calls_of(req.commands) {
                Ok(calls)
                    if calls.iter().any(|c| {
                        let current = replica.partition_count();
                        misrouted(gpid, req.partition_count, current, c.command, &c.args)
                    }) =>
                {
                    return txn_refuse(
                        ExecCode::StaleMap,
                        ballot,
                        primary,
                        "a key belongs to another partition (the table split)",
                    )
                }
                Ok(calls) => TxnIn::Execute { head, calls },
                Err(why) => return bad(why),
            },
            Ok(Incoming::Request(r)) if req.commands.is_empty() => TxnIn::Request(r),
            Ok(Incoming::Request(_)) => {
                return bad("commands sent with a request that is not an EXECUTE".to_string())
            }
            Err(e) => return bad(e.to_string()),
        };
        match replica.txn(msg).await {
            TxnOutcome::Answered { resp, replies } => encode(&TxnResponseMsg {
                code: ExecCode::Ok.into(),
                ballot: ballot.0,
                primary,
                reason: String::new(),
                body: Some(txn_wire::response(&resp)),
                replies: replies.iter().map(ReplyMsg::from).collect(),
            }),
            TxnOutcome::Refused(e) => match e {
                WriteError::NotPrimary { ballot, primary }
                | WriteError::Unknown { ballot, primary } => txn_refuse(
                    ExecCode::NotPrimary,
                    ballot,
                    primary.map(|p| p.0).unwrap_or_default(),
                    "not the primary",
                ),
                WriteError::LeaseExpired { ballot } => {
                    txn_refuse(ExecCode::Unavailable, ballot, primary, "lease expired")
                }
                WriteError::Busy { .. } => txn_refuse(ExecCode::Busy, ballot, primary, "busy"),
                WriteError::Moved { ballot } => txn_refuse(
                    ExecCode::StaleMap,
                    ballot,
                    primary,
                    "a key belongs to another partition (the table split)",
                ),
            },
            TxnOutcome::Unavailable(reason) => {
                txn_refuse(ExecCode::Unavailable, ballot, primary, reason)
            }
            TxnOutcome::Failed(why) => {
                error!(%gpid, error = %why, "transaction message failed");
                txn_refuse(
                    ExecCode::Unavailable,
                    ballot,
                    primary,
                    &format!("replica failed: {why}"),
                )
            }
        }
    }

    /// Peer messages: handed to each replica's task in the order they came.
    fn replica_messages(&self, batch: ReplicaBatchMsg) -> Handled {
        let from = NodeAddr(batch.from);
        for m in batch.messages {
            let gpid = wire::gpid_of(&m);
            let Some(replica) = self.node.replica(gpid) else {
                metrics::counter!("petrel_server_peer_messages_dropped_total").increment(1);
                continue;
            };
            match wire::decode(m) {
                Some(msg) => replica.send(Event::Peer {
                    from: from.clone(),
                    msg,
                }),
                None => metrics::counter!("petrel_server_peer_messages_dropped_total").increment(1),
            }
        }
        encode(&ReplicaBatchAck {})
    }

    /// The hosted replica of a partition, or the error an admin call gets.
    fn hosted(
        &self,
        table_id: u32,
        partition_id: u32,
    ) -> Result<(Gpid, Arc<Replica>), ServiceError> {
        let gpid = Gpid::new(table_id, partition_id);
        let replica = self.node.replica(gpid).ok_or_else(|| {
            ServiceError::NotFound(format!("partition {gpid} is not hosted here"))
        })?;
        Ok((gpid, replica))
    }

    /// A learner asks this primary for a checkpoint of its replica.
    async fn checkpoint_prepare(&self, req: CheckpointPrepareRequest) -> Handled {
        let (gpid, replica) = self.hosted(req.table_id, req.partition_id)?;
        let view = replica.view();
        if view.status != Status::Primary || view.config.ballot != Ballot(req.ballot) {
            return Err(ServiceError::Unavailable(format!(
                "not the primary of {gpid} at ballot {} (ballot {}, {})",
                req.ballot,
                view.config.ballot.0,
                role_of(view.status)
            )));
        }
        let store = self.node.checkpoints.clone();
        let resp = learn::serve::prepare(store, gpid, replica.engine())
            .await
            .map_err(learn_error)?;
        encode(&resp)
    }

    async fn digest(&self, req: ReplicaDigestRequest) -> Handled {
        let (gpid, replica) = self.hosted(req.table_id, req.partition_id)?;
        let view = replica.view();
        let r = replica.clone();
        let digest = tokio::task::spawn_blocking(move || r.digest())
            .await?
            .map_err(|e| ServiceError::Internal(format!("digest of {gpid} failed: {e}")))?;
        encode(
            &ReplicaDigestResponse {
                applied_decree: digest.applied.0,
                records: digest.records,
                digest: format!("{:016x}", digest.hash),
                ballot: view.config.ballot.0,
                ..Default::default()
            }
            .with_role(role_of(view.status)),
        )
    }
}

impl Service for ServerService {
    fn call(self: Arc<Self>, m: u16, body: Bytes) -> BoxFuture<'static, Handled> {
        async move {
            match m {
                method::EXECUTE => self.execute(decode(body)?).await,
                method::TXN => self.txn(decode(body)?).await,
                method::PUBSUB => self.pubsub(decode(body)?),
                method::PUBSUB_POLL => self.pubsub_poll(decode(body)?).await,
                method::SETTINGS_PUSH => {
                    let settings: SettingsMsg = decode(body)?;
                    let generation = self.node.notifier.apply(&settings);
                    encode(&SettingsPushResponse { generation })
                }
                method::REPLICA_MESSAGE => self.replica_messages(decode(body)?),
                method::CHECKPOINT_PREPARE => self.checkpoint_prepare(decode(body)?).await,
                method::CHECKPOINT_FETCH => {
                    let store = self.node.checkpoints.clone();
                    let resp = learn::serve::fetch(store, decode(body)?)
                        .await
                        .map_err(learn_error)?;
                    encode(&resp)
                }
                method::REPLICA_DIGEST => self.digest(decode(body)?).await,
                method::REPLICA_STATUS => {
                    let _: ReplicaStatusRequest = decode(body)?;
                    encode(&ReplicaStatusResponse {
                        replicas: self.node.replica_infos(),
                    })
                }
                other => Err(ServiceError::NoMethod(other)),
            }
        }
        .boxed()
    }
}

/// What a learner is told when serving its checkpoint failed.
fn learn_error(e: learn::LearnError) -> ServiceError {
    use learn::LearnError as L;
    match e {
        L::UnknownCheckpoint(_) | L::WrongPartition { .. } => ServiceError::NotFound(e.to_string()),
        L::File(_) => ServiceError::Invalid(e.to_string()),
        _ => ServiceError::Internal(e.to_string()),
    }
}

/// A transaction message not taken (nothing done for it here).
fn txn_refuse(code: ExecCode, ballot: Ballot, primary: String, reason: &str) -> Handled {
    metrics::counter!("petrel_server_txn_refused_total", "code" => (code as i32).to_string())
        .increment(1);
    encode(&TxnResponseMsg {
        code: code.into(),
        ballot: ballot.0,
        primary,
        reason: reason.to_string(),
        body: None,
        replies: Vec::new(),
    })
}

/// An EXECUTE's commands, each checked like EXECUTE's one: its id names a
/// command of this build's table and its arguments call that command.
fn calls_of(commands: Vec<TxnCommandMsg>) -> Result<Vec<Call>, String> {
    commands
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let command = u16::try_from(c.command)
                .ok()
                .and_then(|id| command::table().get(CommandId(id)))
                .filter(|cmd| !c.args.is_empty() && cmd.names_match(&c.args))
                .ok_or_else(|| {
                    format!(
                        "command {i} of the EXECUTE: id {} does not match the command named (proxy and server command tables differ)",
                        c.command
                    )
                })?;
            Ok(Call {
                command,
                args: c.args,
            })
        })
        .collect()
}

/// Reads wait while a key they read is held by a prepared transaction
/// (docs/TRANSACTIONS.md, participant rule 3), and reads of the whole
/// keyspace (a command without keys: DBSIZE, KEYS, SCAN's share) for every
/// transaction prepared when they arrive, at most `limit`; `Some` is
/// the error reply when the wait ran out. When nothing is prepared here
/// (nearly always) this is one atomic load: no key is even looked at.
async fn read_gate(
    replica: &Replica,
    command: &Command,
    args: &[Bytes],
    limit: std::time::Duration,
) -> Option<Reply> {
    if !replica.reads_may_wait() {
        return None;
    }
    let keys = crate::txn::keys::keys_of(command, args);
    match replica.read_gate(&keys, limit).await {
        Ok(()) => None,
        Err(e) => Some(Reply::error(e.to_string())),
    }
}

/// Deletes `keys`, which a read found expired but still stored, now rather
/// than at the next round of the sweep (which raises their `expired`
/// events), as Redis deletes an expired key the moment it is looked up.
fn sweep_soon(replica: &Arc<Replica>, keys: Vec<Bytes>) {
    if keys.is_empty() {
        return;
    }
    let mut args = Vec::with_capacity(keys.len() + 1);
    args.push(Bytes::from_static(b"petrel.sweep"));
    args.extend(keys);
    let sweep = command::table().internal(command::Internal::Sweep);
    let replica = replica.clone();
    tokio::spawn(async move {
        replica
            .write(sweep, args, petrel_common::time::now_unix_ms())
            .await
    });
}

/// Runs a blocking command (BLPOP...): tries it, and while it finds
/// nothing, waits for the replica's next applied write (from any client of
/// any proxy) and tries again, until its timeout or [`BLOCK_SLICE`]; in
/// the order the clients first asked ([`blocked`]).
async fn write_blocking(
    replica: &crate::replica::Replica,
    queue: &Arc<blocked::Queue>,
    ticket: u64,
    command: &'static Command,
    args: Vec<bytes::Bytes>,
) -> WriteOutcome {
    let wait = match cmd::blocking::timeout_of(command, &args) {
        Some(Some(t)) => t.min(BLOCK_SLICE),
        Some(None) => BLOCK_SLICE,
        // A bad timeout: the command answers with the error at once.
        None => std::time::Duration::ZERO,
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut applied = replica.applied_watch();
    let me = queue.join(ticket, crate::txn::keys::keys_of(command, &args));
    loop {
        let version = *applied.borrow_and_update();
        // First come, first served: earlier waiters on a shared key try first.
        me.turn(version, deadline).await;
        let outcome = replica
            .write(command, args.clone(), petrel_common::time::now_unix_ms())
            .await;
        me.tried(version);
        let empty = matches!(&outcome, WriteOutcome::Done(r) if cmd::blocking::would_block(r));
        if !empty || tokio::time::Instant::now() >= deadline {
            return outcome;
        }
        match tokio::time::timeout_at(deadline, applied.changed()).await {
            Ok(Ok(())) => {}
            // The replica closed, or the slice ended: answer what we have.
            Ok(Err(_)) | Err(_) => return outcome,
        }
    }
}
