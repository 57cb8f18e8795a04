//! Routing data commands to partition primaries.
//!
//! - [`map`]: the cached partition map, refreshed from meta.
//! - [`split`]: multi-key split/merge and fan-out to every partition.
//!
//! One attempt sends `EXECUTE` to the primary the cached map names. An
//! answer that proves the command did not run (NOT_PRIMARY, NO_REPLICA,
//! STALE_MAP, UNAVAILABLE, or a connection that never opened) triggers a map
//! refresh, a backoff (8 ms << n, at most 250 ms) and another attempt, until
//! the request deadline. A write whose outcome is unknown (timeout, lost
//! connection) is never retried: blind retries break linearizability.
//!
//! Errors a client sees (see [`RouteError`]):
//! - `CLUSTERDOWN table '...' is not available: ...`: no map from meta yet,
//!   or the table does not exist.
//! - `CLUSTERDOWN partition N of table '...' has no primary`: meta lists no
//!   primary for the partition until the deadline.
//! - `TRYAGAIN partition N of table '...' is unavailable: ...`: a primary
//!   exists but kept refusing or was unreachable until the deadline; the
//!   command did not run (or it is a read), so retrying is safe.
//! - `ERR write outcome unknown on partition N (...)`: the write may or may
//!   not have been applied; the proxy does not retry it.

pub mod map;
pub mod split;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use petrel_common::msg::{exec_code, method, ExecuteRequest, ExecuteResponse};
use petrel_common::reply::Reply;
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::RpcError;

use crate::stats::names;
use map::MapCache;
use petrel_common::command::{Command, Exec, BLOCK_SLICE};

/// First retry backoff; doubled per attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(8);
/// Largest retry backoff: small, so a partition that fails over is found
/// again within a quarter second of meta publishing its new primary.
const BACKOFF_MAX: Duration = Duration::from_millis(250);
/// Shortest time one read attempt gets before the proxy tries again.
const READ_ATTEMPT_MIN: Duration = Duration::from_secs(1);

/// Answer codes that prove the command was not executed.
const NOT_EXECUTED: [i32; 5] = [
    exec_code::NOT_PRIMARY,
    exec_code::NO_REPLICA,
    exec_code::STALE_MAP,
    exec_code::UNAVAILABLE,
    exec_code::BUSY,
];

/// First pause before asking a busy primary again; doubled per attempt up
/// to [`BUSY_BACKOFF_MAX`]. Busy is back-pressure, not a map problem.
const BUSY_BACKOFF_MIN: Duration = Duration::from_micros(500);
const BUSY_BACKOFF_MAX: Duration = Duration::from_millis(20);

/// Why a routed command has no reply from a server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    /// No usable map: meta unreachable or the table missing.
    #[error("CLUSTERDOWN table '{table}' is not available: {why}")]
    NoMap { table: String, why: String },
    /// Meta lists no primary for the partition.
    #[error("CLUSTERDOWN partition {pid} of table '{table}' has no primary")]
    NoPrimary { table: String, pid: u32 },
    /// Every attempt until the deadline was refused or failed; not executed (or a read).
    #[error("TRYAGAIN partition {pid} of table '{table}' is unavailable: {last}")]
    Unavailable {
        table: String,
        pid: u32,
        last: String,
    },
    /// A write may or may not have been applied.
    #[error(
        "ERR write outcome unknown on partition {pid} (primary {node}): {cause}; it may or may not have been applied"
    )]
    Indeterminate {
        pid: u32,
        node: String,
        cause: String,
    },
    /// The server broke the contract (e.g. OK without a reply).
    #[error("ERR {0}")]
    Server(String),
}

impl RouteError {
    /// The error as the reply a client gets.
    pub fn into_reply(self) -> Reply {
        Reply::Error(crate::util::one_line(&self.to_string()))
    }
}

/// Where one request goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// The partition holding this key (recomputed from the map on each attempt).
    Key(Bytes),
    /// A partition by index (fan-out).
    Partition(u32),
}

/// Sends commands to partition primaries.
pub struct Router {
    maps: Arc<MapCache>,
    rpc: RpcClient,
    timeout: Duration,
}

impl Router {
    /// A router for `table`, reading maps from `meta`, with a per-request `timeout`.
    pub fn new(table: String, meta: Vec<String>, timeout: Duration) -> Self {
        let rpc = RpcClient::new();
        Router {
            maps: Arc::new(MapCache::new(table, meta, rpc.clone())),
            rpc,
            timeout,
        }
    }

    /// The map cache.
    pub fn maps(&self) -> &Arc<MapCache> {
        &self.maps
    }

    /// The per-request deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs a routed command to completion; failures become error replies.
    pub fn run(
        self: Arc<Self>,
        command: &'static Command,
        args: Vec<Bytes>,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            if command.timeout_arg().is_some() {
                return self.run_blocking(command, args).await;
            }
            // A big request gets longer: moving it through the replicas
            // takes time in proportion (10 MB/s assumed at worst).
            let bytes: usize = args.iter().map(Bytes::len).sum();
            let deadline =
                Instant::now() + self.timeout + Duration::from_millis(bytes as u64 / 10_000);
            match command.exec() {
                Exec::Partition => {
                    let Some(key) = command.first_key(&args).and_then(|i| args.get(i)).cloned()
                    else {
                        return Reply::Error(petrel_common::reply::errors::wrong_arity(
                            command.name(),
                        ));
                    };
                    self.call(
                        Target::Key(key),
                        command,
                        args,
                        command.is_write(),
                        deadline,
                    )
                    .await
                    .unwrap_or_else(RouteError::into_reply)
                }
                Exec::Split(merge) => split::multi_key(&self, command, merge, args, deadline).await,
                Exec::FanOut(merge) => split::fan_out(&self, command, merge, args, deadline).await,
                Exec::SameSlot => split::same_slot(&self, command, args, deadline).await,
                Exec::Proxy | Exec::Container | Exec::Unserved | Exec::Internal => {
                    Reply::error("ERR internal error: command is not routed")
                }
            }
        })
    }

    /// Runs a blocking command (BLPOP...). Each request asks the primary to
    /// wait up to [`BLOCK_SLICE`] for something to pop (it retries after
    /// every applied write, whichever proxy sent it) with the command's
    /// timeout rewritten to what is left of the client's; on an empty
    /// answer the proxy asks again, so a failover during the wait is
    /// followed, until the client's timeout (forever for 0).
    async fn run_blocking(&self, command: &'static Command, mut args: Vec<Bytes>) -> Reply {
        let Some(at) = command.timeout_arg().and_then(|t| t.index(args.len())) else {
            return Reply::Error(petrel_common::reply::errors::wrong_arity(command.name()));
        };
        let client_timeout = args
            .get(at)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<f64>().ok())
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            // Redis refuses timeouts past 2^63 ms; those go as written.
            .filter(|t| t.as_millis() < 1 << 62);
        // An unusual timeout (hex, out of range...) goes once, as written:
        // the server answers it as Redis would.
        let Some(timeout) = client_timeout else {
            let deadline = Instant::now() + self.timeout;
            return split::same_slot(self, command, args, deadline).await;
        };
        // Beyond what the clock can count is forever.
        let until = if timeout.is_zero() {
            None
        } else {
            Instant::now().checked_add(timeout)
        };
        loop {
            if let Some(until) = until {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Reply::NilArray;
                }
                // Milliseconds, rounded up, so the server never waits past it.
                let ms = left.as_millis().max(1);
                args[at] = Bytes::from(format!("{}.{:03}", ms / 1000, ms % 1000));
            }
            let deadline = Instant::now() + BLOCK_SLICE + self.timeout;
            let reply = split::same_slot(self, command, args.clone(), deadline).await;
            let empty = matches!(reply, Reply::Nil | Reply::NilArray);
            if !empty || until.is_some_and(|u| Instant::now() >= u) {
                return reply;
            }
        }
    }

    /// Executes `command` (`args`, its name first) on `target`'s primary, retrying while the answer
    /// proves it did not run, until `deadline`.
    pub async fn call(
        &self,
        target: Target,
        command: &Command,
        mut args: Vec<Bytes>,
        write: bool,
        deadline: Instant,
    ) -> Result<Reply, RouteError> {
        let mut attempt: u32 = 0;
        loop {
            let gen = self.maps.generation();
            let map = self.maps.wait_for_map(deadline).await?;
            let pid = match &target {
                Target::Key(k) => map.partition_of_key(k),
                Target::Partition(p) => petrel_common::ids::PartitionId(*p),
            };
            let failure = match map
                .partition(pid)
                .and_then(|c| c.primary.as_ref().map(|p| (c, p)))
            {
                None => Failure::NoPrimary,
                Some((config, primary)) => {
                    // The request owns the arguments while it is encoded and
                    // sent; a retry takes them back instead of copying them
                    // for every attempt.
                    let req = ExecuteRequest {
                        table_id: map.id.0,
                        partition_id: pid.0,
                        ballot: config.ballot.0,
                        args: std::mem::take(&mut args),
                        partition_count: map.partition_count,
                        command: u32::from(command.id.0),
                    };
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
                    let resp: Result<ExecuteResponse, RpcError> =
                        self.rpc.call(node, method::EXECUTE, &req, budget).await;
                    args = req.args;
                    match resp {
                        Ok(r) if r.code == exec_code::OK => {
                            return r.reply.map(Reply::from).ok_or_else(|| {
                                RouteError::Server(format!(
                                    "server {node} answered OK without a reply"
                                ))
                            });
                        }
                        Ok(r) if !NOT_EXECUTED.contains(&r.code) => {
                            // An unknown code proves nothing: never retry on it.
                            return Err(RouteError::Server(format!(
                                "server {node} answered with unknown code {}: {}",
                                r.code, r.reason
                            )));
                        }
                        Ok(r) if r.code == exec_code::BUSY => {
                            Failure::Busy(format!("BUSY from {node} ({})", r.reason))
                        }
                        Ok(r) => Failure::Refused(format!(
                            "{} from {node}{}",
                            code_name(r.code),
                            if r.reason.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", r.reason)
                            }
                        )),
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

fn code_name(code: i32) -> String {
    match code {
        exec_code::NOT_PRIMARY => "NOT_PRIMARY".into(),
        exec_code::NO_REPLICA => "NO_REPLICA".into(),
        exec_code::STALE_MAP => "STALE_MAP".into(),
        exec_code::UNAVAILABLE => "UNAVAILABLE".into(),
        exec_code::BUSY => "BUSY".into(),
        other => format!("code {other}"),
    }
}
