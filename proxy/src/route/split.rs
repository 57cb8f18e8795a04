//! Multi-key commands split by partition, and commands fanned out to every
//! partition, with their replies merged.
//!
//! Keys of one partition travel together in one sub-command (same name, the
//! keys and their values in argument order); the sub-commands run in
//! parallel. When every key is in one partition the original command is
//! forwarded untouched. A multi-partition write is not atomic: when some
//! parts succeed and another fails, the client gets an `ERR partially
//! applied ...` error naming how many parts succeeded.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use futures::future::join_all;
use petrel_common::reply::{errors, Reply};

use petrel_common::command::{Command, Merge};

use super::error::RouteError;
use super::router::{Router, Target};

/// One partition's share of a multi-key command.
struct Part {
    /// Ordinals (0-based, among the keys) of the keys it carries.
    keys: Vec<usize>,
    args: Vec<Bytes>,
}

/// Runs a multi-key command (MGET, MSET, MSETNX, DEL, UNLINK, EXISTS, TOUCH).
pub(crate) async fn multi_key(
    router: &Router,
    spec: &'static Command,
    merge: Merge,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    let step = spec.def.keys.2.max(1) as usize;
    // MSET-style commands take key/value pairs; Redis checks the count itself.
    if step > 1 && !(args.len() - 1).is_multiple_of(step) {
        return Reply::Error(errors::wrong_arity(spec.name()));
    }
    let positions = spec.key_positions(&args);
    let Some(&first) = positions.first() else {
        return Reply::Error(errors::wrong_arity(spec.name()));
    };
    let map = match router.maps().wait_for_map(deadline).await {
        Ok(m) => m,
        Err(e) => return e.into_reply(),
    };
    let mut order: Vec<u32> = Vec::new();
    let mut parts: HashMap<u32, Part> = HashMap::new();
    for (ordinal, &pos) in positions.iter().enumerate() {
        let pid = map.partition_of_key(&args[pos]).0;
        let part = parts.entry(pid).or_insert_with(|| {
            order.push(pid);
            Part {
                keys: Vec::new(),
                args: vec![args[0].clone()],
            }
        });
        part.keys.push(ordinal);
        part.args.extend(args[pos..pos + step].iter().cloned());
    }
    let write = spec.is_write();
    if parts.len() == 1 {
        let key = args[first].clone();
        return router
            .call(Target::Key(key), spec, args, write, deadline)
            .await
            .unwrap_or_else(RouteError::into_reply);
    }
    if merge == Merge::SamePartition {
        return Reply::error(errors::CROSSSLOT);
    }
    let parts: Vec<Part> = order.iter().filter_map(|pid| parts.remove(pid)).collect();
    let results = join_all(parts.iter().map(|p| {
        let key = p.args[1].clone();
        router.call(Target::Key(key), spec, p.args.clone(), write, deadline)
    }))
    .await;
    if let Some(err) = first_failure(&results, write) {
        return err;
    }
    let replies: Vec<Reply> = results.into_iter().filter_map(Result::ok).collect();
    match merge {
        Merge::Array => {
            let mut out = vec![Reply::Nil; positions.len()];
            for (part, reply) in parts.iter().zip(replies) {
                let Reply::Array(items) = reply else {
                    return Reply::error(format!(
                        "ERR unexpected reply to {} from a partition",
                        spec.name()
                    ));
                };
                if items.len() != part.keys.len() {
                    return Reply::error(format!(
                        "ERR partition answered {} with the wrong count",
                        spec.name()
                    ));
                }
                for (ordinal, item) in part.keys.iter().zip(items) {
                    out[*ordinal] = item;
                }
            }
            Reply::Array(out)
        }
        Merge::Sum => sum(&replies, spec.name()),
        Merge::Concat => concat(replies, spec.name()),
        Merge::Ok | Merge::SamePartition => all_ok(&replies, spec.name()),
    }
}

/// Runs a command whose keys must share a partition: forwarded whole to
/// it, or CROSSSLOT. With no keys found (malformed arguments) it goes to the
/// partition of its first argument, which answers with Redis's error for them.
pub(crate) async fn same_slot(
    router: &Router,
    spec: &'static Command,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    let positions = spec.key_positions(&args);
    let keys: Vec<&Bytes> = positions.iter().filter_map(|&i| args.get(i)).collect();
    let target = match keys.first() {
        Some(k) => (*k).clone(),
        None => args.get(1).cloned().unwrap_or_default(),
    };
    if keys.len() > 1 {
        let map = match router.maps().wait_for_map(deadline).await {
            Ok(m) => m,
            Err(e) => return e.into_reply(),
        };
        let first = map.partition_of_key(&target);
        if keys.iter().any(|k| map.partition_of_key(k) != first) {
            return Reply::error(errors::CROSSSLOT);
        }
    }
    router
        .call(Target::Key(target), spec, args, spec.is_write(), deadline)
        .await
        .unwrap_or_else(RouteError::into_reply)
}

/// Runs a command on every partition (DBSIZE, FLUSHALL, FLUSHDB).
pub(crate) async fn fan_out(
    router: &Router,
    spec: &'static Command,
    merge: Merge,
    args: Vec<Bytes>,
    deadline: Instant,
) -> Reply {
    let map = match router.maps().wait_for_map(deadline).await {
        Ok(m) => m,
        Err(e) => return e.into_reply(),
    };
    let write = spec.is_write();
    let results = join_all(
        (0..map.partition_count)
            .map(|pid| router.call(Target::Partition(pid), spec, args.clone(), write, deadline)),
    )
    .await;
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

/// The elements of every partition's array reply, partition by partition.
fn concat(replies: Vec<Reply>, name: &str) -> Reply {
    let mut out = Vec::new();
    for r in replies {
        match r {
            Reply::Array(items) => out.extend(items),
            _ => return Reply::error(format!("ERR unexpected reply to {name} from a partition")),
        }
    }
    Reply::Array(out)
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

fn sum(replies: &[Reply], name: &str) -> Reply {
    let mut total: i64 = 0;
    for r in replies {
        match r {
            Reply::Int(n) => total = total.saturating_add(*n),
            _ => return Reply::error(format!("ERR unexpected reply to {name} from a partition")),
        }
    }
    Reply::Int(total)
}

fn all_ok(replies: &[Reply], name: &str) -> Reply {
    if replies
        .iter()
        .all(|r| matches!(r, Reply::Status(s) if s == "OK"))
    {
        Reply::ok()
    } else {
        Reply::error(format!("ERR unexpected reply to {name} from a partition"))
    }
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

    #[test]
    fn merges() {
        assert_eq!(sum(&[Reply::Int(2), Reply::Int(3)], "del"), Reply::Int(5));
        assert!(sum(&[Reply::Int(2), Reply::ok()], "del").is_error());
        assert_eq!(all_ok(&[Reply::ok(), Reply::ok()], "mset"), Reply::ok());
        assert!(all_ok(&[Reply::ok(), Reply::Int(1)], "mset").is_error());
    }
}
