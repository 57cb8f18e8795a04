//! Transactions across partitions, the coordinator's side
//! (docs/TRANSACTIONS.md "The coordinator"): a MULTI block or multi-key
//! command whose keys lie in several partitions runs atomically, with the
//! replies Redis gives, instead of being refused with `CROSSSLOT`.
//!
//! - [`call`]: one command (its table entry and arguments).
//! - [`plan`]: which commands go to which partition in which round
//!   (split commands, data carried between partitions, WATCH checks).
//! - [`driver`]: runs a plan with the coordinator machine
//!   (`petrel_common::txn::coordinator`) over a [`driver::Transport`].
//! - [`transport`]: the real transport, `TXN` RPCs through the router.
//! - [`script`]: a Lua script across partitions, each `redis.call` a round.
//! - [`sort`]: SORT whose patterns name keys, in rounds of the script driver.
//!
//! Keys of one partition keep the one-partition fast path (`petrel.exec`,
//! or the command sent whole); the callers decide with [`plan::plan`].

pub(crate) mod call;
pub(crate) mod driver;
pub(crate) mod plan;
pub(crate) mod script;
pub(crate) mod sort;
#[cfg(test)]
mod testing;
pub(crate) mod transport;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::reply::Reply;

pub(crate) use call::Call;
pub(crate) use driver::{Ending, Kind};

use crate::route::error::RouteError;
use crate::route::router::{Router, Target};
use plan::Planned;
use transport::RouterTransport;

/// What [`run`] did.
pub(crate) enum Ran {
    /// Every key is in one partition, or there is none: nothing was run;
    /// the caller takes the fast path.
    OnePartition,
    /// It ran as a transaction.
    Txn(Ending),
}

/// Runs `calls` (with the `watched` keys and what WATCH read of them) as
/// one transaction if their keys span partitions, by `deadline`.
pub(crate) async fn run(
    router: &Arc<Router>,
    calls: &[Call],
    watched: &[(Bytes, i64)],
    kind: Kind,
    deadline: Instant,
) -> Result<Ran, RouteError> {
    let map = router.maps().wait_for_map(deadline).await?;
    let plan = match plan::plan(calls, watched, |k| map.partition_of_key(k).0) {
        Planned::OnePartition => return Ok(Ran::OnePartition),
        Planned::Txn(plan) => plan,
    };
    let settings = router.txn_settings().clone();
    let transport = Arc::new(RouterTransport {
        router: router.clone(),
        timeout: std::time::Duration::from_millis(settings.opts.execute_timeout_ms),
    });
    let ending = driver::drive(driver::Job {
        plan,
        table: map.id,
        transport,
        settings,
        kind,
        deadline,
    })
    .await;
    Ok(Ran::Txn(ending))
}

/// Runs one command (`args`, name first), as a transaction when its keys
/// span partitions, otherwise whole at its partition.
pub(crate) async fn run_command(
    router: &Arc<Router>,
    spec: &'static Command,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    let calls = [Call {
        command: spec,
        args,
    }];
    match run(router, &calls, &[], Kind::Command, deadline).await {
        Err(e) => e.into_reply(),
        Ok(Ran::Txn(ending)) => one_reply(ending),
        Ok(Ran::OnePartition) => {
            let [Call { args, .. }] = calls;
            // With no key found (malformed arguments) it goes to the
            // partition of its first argument, which answers with Redis's
            // error for them.
            let target = spec
                .first_key(&args)
                .and_then(|i| args.get(i))
                .or_else(|| args.get(1))
                .cloned()
                .unwrap_or_default();
            router
                .call(Target::Key(target), spec, args, spec.is_write(), deadline)
                .await
                .unwrap_or_else(RouteError::into_reply)
        }
    }
}

/// A one-command transaction's reply.
fn one_reply(ending: Ending) -> Reply {
    match ending {
        Ending::Replies(r) => r
            .into_iter()
            .next()
            .unwrap_or_else(|| Reply::error("ERR transaction across partitions: no reply")),
        Ending::WatchFailed => Reply::NilArray,
        Ending::Failed(e) => e,
    }
}

/// Runs a script whose keys span partitions as one transaction
/// ([`script`]); `start` makes a run of the script for the table's map.
pub(crate) async fn run_script(
    router: &Arc<Router>,
    start: impl FnOnce(&petrel_common::partition::TableMap) -> script::Start,
    deadline: Instant,
) -> script::Ended {
    let map = match router.maps().wait_for_map(deadline).await {
        Ok(m) => m,
        Err(e) => return script::Ended::reply(e.into_reply()),
    };
    let settings = router.txn_settings().clone();
    let transport = Arc::new(RouterTransport {
        router: router.clone(),
        timeout: std::time::Duration::from_millis(settings.opts.execute_timeout_ms),
    });
    script::drive(script::ScriptJob {
        start: start(&map),
        table: map.id,
        transport,
        settings,
        deadline,
    })
    .await
}

/// A blocking pop (BLPOP, BLMOVE...) whose keys span partitions: run
/// once as a transaction (the participants never block: nothing to pop
/// is the timeout reply, as inside MULTI), tried again every
/// `txn_block_poll_ms` while there is nothing to pop, until `until`
/// (forever for `None`); then the timeout reply. `None` when its keys
/// share a partition (the caller blocks at the server as usual).
pub(crate) async fn run_blocking(
    router: &Arc<Router>,
    spec: &'static Command,
    args: &[Bytes],
    until: Option<Instant>,
    unblock: &crate::unblock::Unblock,
) -> Option<Reply> {
    let calls = [Call {
        command: spec,
        args: args.to_vec(),
    }];
    loop {
        let deadline = Instant::now() + router.timeout();
        let reply = match run(router, &calls, &[], Kind::Command, deadline).await {
            Err(e) => return Some(e.into_reply()),
            Ok(Ran::OnePartition) => return None,
            Ok(Ran::Txn(ending)) => one_reply(ending),
        };
        if !matches!(reply, Reply::Nil | Reply::NilArray) {
            return Some(reply);
        }
        let poll = router.txn_settings().block_poll;
        let wake = match until {
            Some(u) if Instant::now() >= u => return Some(Reply::NilArray),
            Some(u) => u.min(Instant::now() + poll),
            None => Instant::now() + poll,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = unblock.requested() => {}
        }
        if let Some(reason) = unblock.take() {
            return Some(reason.reply(reply));
        }
    }
}

/// The reply to EXEC of a transaction across partitions: the queued data
/// commands' replies in order, or what ended it.
pub(crate) fn exec_replies(ending: Ending, expected: usize) -> Result<Vec<Reply>, Reply> {
    match ending {
        Ending::Replies(r) if r.len() == expected => Ok(r),
        Ending::Replies(_) => Err(Reply::error("ERR unexpected reply to a transaction")),
        Ending::WatchFailed => Err(Reply::NilArray),
        Ending::Failed(e) => Err(e),
    }
}
