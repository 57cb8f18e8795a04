//! The retrying executor: sends one command to one partition's primary,
//! refreshing the map and trying again while the answer proves it did not
//! run (see the module documentation of [`crate::route`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::ids::PartitionId;
use petrel_common::msg::{
    method, ExecCode, ExecuteRequest, ExecuteResponse, ReplyMsg, TxnRequestMsg, TxnResponseMsg,
};
use petrel_common::partition::TableMap;
use petrel_common::pubsub::PublishMsg;
use petrel_common::reply::Reply;
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::RpcError;

use super::error::RouteError;
use super::map::MapCache;
use crate::stats::names;
use crate::txn::driver::Settings;

/// First retry backoff; doubled per attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(8);
/// Largest retry backoff: small, so a partition that fails over is found
/// again within a tenth of a second of meta publishing its new primary
/// (each retry refreshes the map; a proxy has one query to meta out at a
/// time, however many requests retry).
const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// How long a request waits for its primary before the proxy starts
/// asking meta whether the partition failed over meanwhile (every
/// [`WATCH_EVERY`]): a hung primary answers nothing that would tell it.
const WATCH_AFTER: Duration = Duration::from_millis(250);
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// How long a replaced primary may still answer once the proxy knows of
/// its successor: a live one answers at once (done, or refused under its
/// old ballot), so silence past it means it hangs.
const REPLACED_GRACE: Duration = Duration::from_millis(100);
/// Shortest time one read attempt gets before the proxy tries again.
const READ_ATTEMPT_MIN: Duration = Duration::from_secs(1);

/// First pause before asking a busy primary again; doubled per attempt up
/// to [`BUSY_BACKOFF_MAX`]. Busy is back-pressure, not a map problem.
const BUSY_BACKOFF_MIN: Duration = Duration::from_micros(500);
const BUSY_BACKOFF_MAX: Duration = Duration::from_millis(20);

/// Where one request goes.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// The partition holding this key (recomputed from the map on each attempt).
    Key(Bytes),
    /// A partition by index (fan-out).
    Partition(u32),
    /// Partition `pid` of the map that had `count` partitions: if the
    /// table has split since, nothing is sent and the call fails with
    /// [`RouteError::Split`] (a fan-out planned on the old map plans again).
    Planned { pid: u32, count: u32 },
}

/// Sends commands to partition primaries.
pub(crate) struct Router {
    maps: Arc<MapCache>,
    rpc: RpcClient,
    pub(super) timeout: Duration,
    /// How transactions across partitions run.
    txn: Settings,
}

impl Router {
    /// A router for `table`, reading maps from `meta`, with a per-request `timeout`.
    pub(crate) fn new(table: String, meta: Vec<String>, timeout: Duration, txn: Settings) -> Self {
        let rpc = RpcClient::new();
        Router {
            maps: Arc::new(MapCache::new(table, meta, rpc.clone())),
            rpc,
            timeout,
            txn,
        }
    }

    /// How transactions across partitions run.
    pub(crate) fn txn_settings(&self) -> &Settings {
        &self.txn
    }

    /// The map cache.
    pub(crate) fn maps(&self) -> &Arc<MapCache> {
        &self.maps
    }

    /// The per-request deadline.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Executes `command` (`args`, its name first) on `target`'s primary, retrying while the answer
    /// proves it did not run, until `deadline`.
    pub(crate) async fn call(
        &self,
        target: Target,
        command: &Command,
        args: Vec<Bytes>,
        write: bool,
        deadline: Instant,
    ) -> Result<Reply, RouteError> {
        let req = ExecuteRequest {
            args,
            command: u32::from(command.id.0),
            ..Default::default()
        };
        self.execute(target, req, write, deadline).await
    }

    /// [`Router::call`] of a script (`petrel.eval`, `petrel.fcall`): its
    /// reply and the messages it published, in order, to send now that its
    /// writes committed.
    pub(crate) async fn call_script(
        &self,
        target: Target,
        command: &Command,
        args: Vec<Bytes>,
        deadline: Instant,
    ) -> Result<(Reply, Vec<PublishMsg>), RouteError> {
        let mut req = ExecuteRequest {
            args,
            command: u32::from(command.id.0),
            ..Default::default()
        };
        let (resp, node) = self.send(&target, &mut req, true, deadline).await?;
        let reply = Self::reply_of(resp.reply, &node)?;
        Ok((reply, resp.published))
    }

    async fn execute(
        &self,
        target: Target,
        mut req: ExecuteRequest,
        write: bool,
        deadline: Instant,
    ) -> Result<Reply, RouteError> {
        let (resp, node) = self.send(&target, &mut req, write, deadline).await?;
        Self::reply_of(resp.reply, &node)
    }

    fn reply_of(reply: Option<ReplyMsg>, node: &str) -> Result<Reply, RouteError> {
        reply
            .map(Reply::from)
            .ok_or_else(|| RouteError::Server(format!("server {node} answered OK without a reply")))
    }

    /// [`Router::call`] for a blocking command: `ticket` (when the client
    /// asked) keeps its place among the clients blocked on its keys.
    pub(crate) async fn call_blocking(
        &self,
        target: Target,
        command: &Command,
        args: Vec<Bytes>,
        ticket: u64,
        deadline: Instant,
    ) -> Result<Reply, RouteError> {
        let req = ExecuteRequest {
            args,
            command: u32::from(command.id.0),
            block_ticket: ticket,
            ..Default::default()
        };
        // A blocking read (XREAD) is asked again after a lost connection,
        // like any read; a blocking pop may have popped.
        self.execute(target, req, command.is_write(), deadline)
            .await
    }

    /// Sends `req` to `target`'s primary, retrying while the answer proves
    /// it was not executed, until `deadline`: the answer that was executed
    /// (its code OK) and the node that gave it. `write`: an attempt whose
    /// outcome is unknown is not retried (and gets the whole remaining time).
    pub(crate) async fn send<M: ToPrimary>(
        &self,
        target: &Target,
        req: &mut M,
        write: bool,
        deadline: Instant,
    ) -> Result<(M::Resp, String), RouteError> {
        let mut attempt: u32 = 0;
        // The ballot the last attempt was routed with: a new one (a
        // failover meta just published) starts the backoff over, so the
        // successor is asked again within milliseconds of becoming ready.
        let mut routed: Option<u64> = None;
        loop {
            let gen = self.maps.generation();
            let map = self.maps.wait_for_map(deadline).await?;
            let pid = match target {
                Target::Key(k) => map.partition_of_key(k),
                Target::Partition(p) => petrel_common::ids::PartitionId(*p),
                Target::Planned { count, .. } if *count != map.partition_count => {
                    return Err(RouteError::Split {
                        table: map.name.clone(),
                    })
                }
                Target::Planned { pid, .. } => petrel_common::ids::PartitionId(*pid),
            };
            let failure = match map
                .partition(pid)
                .and_then(|c| c.primary.as_ref().map(|p| (c, p)))
            {
                None => Failure::NoPrimary,
                Some((config, primary)) => {
                    if routed.is_some_and(|b| b != config.ballot.0) {
                        attempt = 0;
                    }
                    routed = Some(config.ballot.0);
                    req.route(map.id.0, pid.0, config.ballot.0, map.partition_count);
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Err(RouteError::Unavailable {
                            table: map.name.clone(),
                            pid: pid.0,
                            last: "request deadline passed".into(),
                        });
                    }
                    // A write gets the whole remaining time: a timed-out write
                    // cannot be retried anyway. A read gets a slice of it so a
                    // hung primary can be replaced within the deadline.
                    let budget = if write {
                        remaining
                    } else {
                        remaining.min(READ_ATTEMPT_MIN.max(self.timeout / 4))
                    };
                    let node = primary.as_str();
                    let call = self.rpc.call::<_, M::Resp>(node, M::METHOD, &*req, budget);
                    let resp = if req.watch_for_failover() {
                        self.unless_replaced(call, &map, pid).await
                    } else {
                        Ok(call.await)
                    };
                    let resp: Result<M::Resp, RpcError> = match resp {
                        Ok(resp) => resp,
                        Err(newer) if write => {
                            return Err(RouteError::Indeterminate {
                                pid: pid.0,
                                node: node.to_string(),
                                cause: format!("no answer, and meta replaced it ({newer})"),
                            })
                        }
                        Err(newer) => Err(RpcError::Timeout(format!("{node} ({newer})"))),
                    };
                    match resp {
                        Ok(r) => {
                            let (code, reason) = M::code_of(&r);
                            match ExecCode::try_from(code) {
                                Ok(ExecCode::Ok) => return Ok((r, node.to_string())),
                                // An unknown code proves nothing: never retry on it.
                                Err(_) => {
                                    return Err(RouteError::Server(format!(
                                        "server {node} answered with unknown code {code}: {reason}"
                                    )))
                                }
                                Ok(ExecCode::Busy) => {
                                    Failure::Busy(format!("BUSY from {node} ({reason})"))
                                }
                                Ok(c) => Failure::Refused(format!(
                                    "{} from {node}{}",
                                    c.name(),
                                    if reason.is_empty() {
                                        String::new()
                                    } else {
                                        format!(" ({reason})")
                                    }
                                )),
                            }
                        }
                        Err(e) if e.never_sent() => Failure::Refused(e.to_string()),
                        Err(e) if write => {
                            return Err(RouteError::Indeterminate {
                                pid: pid.0,
                                node: node.to_string(),
                                cause: e.to_string(),
                            })
                        }
                        Err(e) => Failure::Refused(e.to_string()),
                    }
                }
            };
            let busy = matches!(failure, Failure::Busy(_));
            let (min, max) = if busy {
                (BUSY_BACKOFF_MIN, BUSY_BACKOFF_MAX)
            } else {
                (BACKOFF_MIN, BACKOFF_MAX)
            };
            let delay = min.saturating_mul(1u32 << attempt.min(10)).min(max);
            attempt += 1;
            if Instant::now() + delay >= deadline {
                let table = map.name.clone();
                return Err(match failure {
                    Failure::NoPrimary => RouteError::NoPrimary { table, pid: pid.0 },
                    Failure::Refused(last) | Failure::Busy(last) => RouteError::Unavailable {
                        table,
                        pid: pid.0,
                        last,
                    },
                });
            }
            metrics::counter!(names::RETRIES, "reason" => failure.kind()).increment(1);
            if busy {
                tracing::debug!(pid = pid.0, attempt, reason = %failure.text(), "primary busy; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            tracing::debug!(pid = pid.0, attempt, reason = %failure.text(), "retrying after map refresh");
            let remaining = deadline.saturating_duration_since(Instant::now());
            let refresh = tokio::time::timeout(remaining, self.maps.refresh(gen));
            let (_, _) = tokio::join!(refresh, tokio::time::sleep(delay));
        }
    }
}

impl Router {
    /// Awaits `call`, sent to partition `pid`'s primary as `sent` routes
    /// it, unless meta replaces that configuration meanwhile and the old
    /// primary stays silent for [`REPLACED_GRACE`] after the proxy learns
    /// of it: then the new configuration, described. A primary that hangs
    /// (SIGSTOP, a stalled machine) would otherwise hold its requests until
    /// their deadline, long after its successor serves; one that is alive
    /// answers within the grace (done, or refused under the old ballot).
    async fn unless_replaced<T>(
        &self,
        call: impl std::future::Future<Output = T>,
        sent: &TableMap,
        pid: PartitionId,
    ) -> Result<T, String> {
        let mut call = std::pin::pin!(call);
        let newer = tokio::select! {
            biased;
            done = &mut call => return Ok(done),
            newer = self.maps.moved_on(sent, pid, WATCH_AFTER, WATCH_EVERY) => newer,
        };
        match tokio::time::timeout(REPLACED_GRACE, call).await {
            Ok(done) => Ok(done),
            Err(_) => {
                let what = match newer.partition(pid) {
                    Some(c) if newer.id == sent.id => format!(
                        "ballot {}, primary {}",
                        c.ballot.0,
                        c.primary.as_ref().map_or("none yet", |p| p.0.as_str())
                    ),
                    _ => "the table's map changed".to_string(),
                };
                tracing::debug!(pid = pid.0, %what, "primary silent after meta replaced it; not waiting for it");
                Err(what)
            }
        }
    }
}

/// A request the router delivers to a partition's primary: it carries the
/// routing fields the server checks, and its answer an [`ExecCode`].
pub(crate) trait ToPrimary: prost::Message {
    /// The answer's type.
    type Resp: prost::Message + Default;
    /// The RPC method.
    const METHOD: u16;
    /// Sets the routing fields for one attempt (table, partition, the
    /// map's ballot for it, the partition count routed with).
    fn route(&mut self, table: u32, pid: u32, ballot: u64, partition_count: u32);
    /// The answer's raw code and reason.
    fn code_of(resp: &Self::Resp) -> (i32, &str);
    /// Whether to stop waiting for a primary that meta replaced while the
    /// request was out (see [`Router::unless_replaced`]); not for requests
    /// that may wait on purpose (blocking commands, lock waits, long polls).
    fn watch_for_failover(&self) -> bool {
        false
    }
}

impl ToPrimary for ExecuteRequest {
    type Resp = ExecuteResponse;
    const METHOD: u16 = method::EXECUTE;
    fn route(&mut self, table: u32, pid: u32, ballot: u64, partition_count: u32) {
        self.table_id = table;
        self.partition_id = pid;
        self.ballot = ballot;
        self.partition_count = partition_count;
    }
    fn code_of(resp: &ExecuteResponse) -> (i32, &str) {
        (resp.code, &resp.reason)
    }
    fn watch_for_failover(&self) -> bool {
        self.block_ticket == 0
    }
}

impl ToPrimary for TxnRequestMsg {
    type Resp = TxnResponseMsg;
    const METHOD: u16 = method::TXN;
    fn route(&mut self, table: u32, pid: u32, ballot: u64, partition_count: u32) {
        self.table_id = table;
        self.partition_id = pid;
        self.ballot = ballot;
        self.partition_count = partition_count;
    }
    fn code_of(resp: &TxnResponseMsg) -> (i32, &str) {
        (resp.code, &resp.reason)
    }
}

impl ToPrimary for petrel_common::pubsub::PubSubRequest {
    type Resp = petrel_common::pubsub::PubSubResponse;
    const METHOD: u16 = method::PUBSUB;
    fn route(&mut self, table: u32, pid: u32, ballot: u64, partition_count: u32) {
        self.table_id = table;
        self.partition_id = pid;
        self.ballot = ballot;
        self.partition_count = partition_count;
    }
    fn code_of(resp: &Self::Resp) -> (i32, &str) {
        (resp.code, &resp.reason)
    }
}

/// Why one attempt did not execute.
enum Failure {
    NoPrimary,
    Refused(String),
    /// The primary has too many writes in flight.
    Busy(String),
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::NoPrimary => "no_primary",
            Failure::Refused(_) => "refused",
            Failure::Busy(_) => "busy",
        }
    }

    fn text(&self) -> &str {
        match self {
            Failure::NoPrimary => "no primary in map",
            Failure::Refused(s) | Failure::Busy(s) => s,
        }
    }
}
