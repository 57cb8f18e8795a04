//! Running a routed command by the way the command table says it is
//! served: one partition, split by partition, every partition, or one
//! partition for all its keys; blocking commands a slice at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use petrel_common::command::{Command, Exec, BLOCK_SLICE};
use petrel_common::reply::Reply;

use super::error::RouteError;
use super::router::{Router, Target};
use super::split;
use crate::unblock::Unblock;

impl Router {
    /// Runs a routed command to completion; failures become error replies.
    pub(crate) fn run(
        self: Arc<Self>,
        command: &'static Command,
        args: Vec<Bytes>,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move {
            if command.blocks(&args) {
                return self.run_blocking(command, args, &Unblock::default()).await;
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
                Exec::Split(_) => split::multi_key(&self, command, args, deadline).await,
                Exec::FanOut(merge) => split::fan_out(&self, command, merge, args, deadline).await,
                Exec::SameSlot => split::same_slot(&self, command, args, deadline).await,
                Exec::Proxy | Exec::Container | Exec::Unserved | Exec::Internal => {
                    Reply::error("ERR internal error: command is not routed")
                }
            }
        })
    }

    /// Runs a blocking command for a client that `CLIENT UNBLOCK` may
    /// release through `unblock`.
    pub(crate) fn run_unblockable(
        self: Arc<Self>,
        command: &'static Command,
        args: Vec<Bytes>,
        unblock: Arc<Unblock>,
    ) -> BoxFuture<'static, Reply> {
        Box::pin(async move { self.run_blocking(command, args, &unblock).await })
    }

    /// Runs a blocking command (BLPOP...). Keys in several partitions:
    /// see [`crate::txn::run_blocking`]. Each request asks the primary to
    /// wait up to [`BLOCK_SLICE`] for something to pop (it retries after
    /// every applied write, whichever proxy sent it) with the command's
    /// timeout rewritten to what is left of the client's; on an empty
    /// answer the proxy asks again, so a failover during the wait is
    /// followed, until the client's timeout (forever for 0).
    async fn run_blocking(
        self: &Arc<Self>,
        command: &'static Command,
        mut args: Vec<Bytes>,
        unblock: &Unblock,
    ) -> Reply {
        let Some(at) = command.block_timeout_at(&args) else {
            return Reply::Error(petrel_common::reply::errors::wrong_arity(command.name()));
        };
        let millis = command.timeout_arg().is_some_and(|t| t.in_millis());
        let client_timeout = args
            .get(at)
            .and_then(|t| client_timeout(t, millis))
            // Redis refuses timeouts past 2^63 ms; those go as written.
            .filter(|t| t.as_millis() < 1 << 62);
        // An unusual timeout (hex, out of range...) goes once, as written:
        // the server answers it as Redis would.
        let Some(timeout) = client_timeout else {
            let deadline = Instant::now() + self.timeout;
            return split::same_slot(self, command, args, deadline).await;
        };
        // XREAD's `$` is the stream's last entry when the client asked;
        // the slices after the first must wait for what comes after it.
        super::streams::resolve_last_ids(self, command, &mut args).await;
        // Beyond what the clock can count is forever.
        let until = if timeout.is_zero() {
            None
        } else {
            Instant::now().checked_add(timeout)
        };
        if let Some(reply) = crate::txn::run_blocking(self, command, &args, until, unblock).await {
            return reply;
        }
        // Every key is in one partition: the first key's.
        let key = command
            .first_key(&args)
            .and_then(|i| args.get(i))
            .cloned()
            .unwrap_or_default();
        // When the client asked, in microseconds: its place in line.
        let ticket = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros().min(u128::from(u64::MAX)) as u64);
        loop {
            if let Some(reason) = unblock.take() {
                return reason.reply(Reply::NilArray);
            }
            if let Some(until) = until {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Reply::NilArray;
                }
                // Milliseconds, rounded up, so the server never waits past it.
                let ms = left.as_millis().max(1);
                args[at] = if millis {
                    Bytes::from(ms.to_string())
                } else {
                    Bytes::from(format!("{}.{:03}", ms / 1000, ms % 1000))
                };
            }
            let deadline = Instant::now() + BLOCK_SLICE + self.timeout;
            let reply = match self
                .call_blocking(
                    Target::Key(key.clone()),
                    command,
                    args.clone(),
                    ticket,
                    deadline,
                )
                .await
            {
                Ok(reply) => reply,
                // A blocking read whose partition has no primary for now (a
                // failover) waits on: asking again cannot change anything.
                Err(RouteError::NoPrimary { .. } | RouteError::Unavailable { .. })
                    if !command.is_write() =>
                {
                    Reply::NilArray
                }
                Err(e) => e.into_reply(),
            };
            let empty = matches!(reply, Reply::Nil | Reply::NilArray);
            if !empty || until.is_some_and(|u| Instant::now() >= u) {
                return reply;
            }
            if let Some(reason) = unblock.take() {
                return reason.reply(reply);
            }
        }
    }
}

/// A client's blocking timeout as the proxy counts it down: seconds (a
/// decimal) or, for XREAD's BLOCK, whole milliseconds; `None` for anything
/// unusual, which goes to the server once, as written.
fn client_timeout(arg: &[u8], millis: bool) -> Option<Duration> {
    if millis {
        let ms = petrel_common::num::parse_i64(arg)?;
        return u64::try_from(ms).ok().map(Duration::from_millis);
    }
    let secs = std::str::from_utf8(arg).ok()?.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}
