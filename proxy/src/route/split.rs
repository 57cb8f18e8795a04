//! Multi-key commands, and commands fanned out to every partition, with
//! their replies merged.
//!
//! A multi-key command whose keys share one partition is forwarded
//! untouched; across partitions it runs as one transaction (`crate::txn`):
//! split by partition (MSET, MGET, DEL...) or with its data carried between
//! partitions (RENAME, LMOVE, MSETNX...), atomically, with Redis's reply.
//! A fan-out (FLUSHDB, DBSIZE, KEYS) is not atomic: when some partitions
//! succeed and another fails, the client gets an `ERR partially applied
//! ...` error naming how many succeeded.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::join_all;
use petrel_common::reply::Reply;

use petrel_common::command::{Command, Merge};

use super::error::RouteError;
use super::merge::{all_ok, concat, sum};
use super::router::{Router, Target};

/// Runs a multi-key command (MGET, MSET, MSETNX, DEL, UNLINK, EXISTS,
/// TOUCH): split into per-partition parts by the transaction's plan, which
/// answers Redis's errors for malformed arguments.
pub(crate) async fn multi_key(
    router: &Arc<Router>,
    spec: &'static Command,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    if let Err(reply) = super::merge::split_keys(spec, &args, |_| 0) {
        return reply;
    }
    crate::txn::run_command(router, spec, args, deadline).await
}

/// Runs a command whose keys all take part in one computation (RENAME,
/// LMOVE, SUNIONSTORE...): forwarded whole when they share a partition,
/// a transaction carrying the data between partitions otherwise.
pub(crate) async fn same_slot(
    router: &Arc<Router>,
    spec: &'static Command,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    if matches!(spec.name(), "sort" | "sort_ro") && crate::txn::sort::names_keys(spec, &args) {
        return crate::txn::sort::run(router, args, deadline).await;
    }
    crate::txn::run_command(router, spec, args, deadline).await
}

/// Runs a command on every partition (DBSIZE, FLUSHALL, FLUSHDB). When
/// the table splits meanwhile (a part finds the map changed), the whole
/// fan-out runs again on the new map: each of these commands may run twice.
pub(crate) async fn fan_out(
    router: &Router,
    spec: &'static Command,
    merge: Merge,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    let write = spec.is_write();
    let results = loop {
        let map = match router.maps().wait_for_map(deadline).await {
            Ok(m) => m,
            Err(e) => return e.into_reply(),
        };
        let count = map.partition_count;
        let results = join_all((0..count).map(|pid| {
            let target = Target::Planned { pid, count };
            router.call(target, spec, args.clone(), write, deadline)
        }))
        .await;
        let split = results
            .iter()
            .any(|r| matches!(r, Err(RouteError::Split { .. })));
        if !split || Instant::now() >= deadline {
            break results;
        }
    };
    if let Some(err) = first_failure(&results, write) {
        return err;
    }
    let replies: Vec<Reply> = results.into_iter().filter_map(Result::ok).collect();
    match merge {
        Merge::Sum => sum(&replies, spec.name()),
        Merge::Concat => concat(replies, spec.name()),
        _ => all_ok(&replies, spec.name()),
    }
}

/// Total of DBSIZE for INFO's keyspace line (errors become `None`).
pub(crate) async fn count_keys(router: &Router, deadline: Instant) -> Option<i64> {
    let spec = petrel_common::command::table().find(b"dbsize")?;
    match fan_out(
        router,
        spec,
        Merge::Sum,
        vec![Bytes::from_static(b"DBSIZE")],
        deadline,
    )
    .await
    {
        Reply::Int(n) => Some(n),
        _ => None,
    }
}

/// The reply to send when any part failed: the first failure, wrapped when
/// a write was applied by some parts but not all.
fn first_failure(results: &[Result<Reply, RouteError>], write: bool) -> Option<Reply> {
    let failed = |r: &Result<Reply, RouteError>| !matches!(r, Ok(reply) if !reply.is_error());
    let first = results.iter().find(|r| failed(r))?;
    let text = match first {
        Ok(Reply::Error(e)) => e.clone(),
        Err(e) => crate::util::one_line(&e.to_string()),
        Ok(_) => return None,
    };
    let applied = results.iter().filter(|r| !failed(r)).count();
    if write && applied > 0 {
        return Some(Reply::error(format!(
            "ERR partially applied ({applied} of {} partitions succeeded): {text}",
            results.len()
        )));
    }
    Some(Reply::Error(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_write_failure_is_reported() {
        let results = vec![
            Ok(Reply::ok()),
            Err(RouteError::NoPrimary {
                table: "t".into(),
                pid: 3,
            }),
        ];
        let r = first_failure(&results, true).expect("failure");
        assert_eq!(
            r,
            Reply::error(
                "ERR partially applied (1 of 2 partitions succeeded): CLUSTERDOWN partition 3 of table 't' has no primary"
            )
        );
        let r = first_failure(&results, false).expect("failure");
        assert_eq!(
            r,
            Reply::error("CLUSTERDOWN partition 3 of table 't' has no primary")
        );
        assert!(first_failure(&[Ok(Reply::Int(1))], true).is_none());
    }
}
