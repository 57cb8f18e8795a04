//! Data flowing between partitions inside a transaction.
//!
//! A command whose keys lie in several partitions and whose result at one
//! key depends on another (`RENAME a b`, `LMOVE a b`, `SUNIONSTORE d a b`,
//! `MSETNX`...) runs whole at one partition, its **home** (the partition of
//! its first key). The coordinator reads every other key at its own
//! partition with `petrel.dump` (under the transaction's lock), and sends
//! the command to the home with those keys **carried** along:
//!
//! ```text
//! petrel.txn.run <ncarried> (<key> <nitems> <item>...)... <id> <argc> <arg>...
//! ```
//!
//! where the items are what `petrel.dump` answered (none: the key does not
//! exist) and `<id> <argc> <arg>...` is the command as in `petrel.exec`. The
//! home runs the command over its own keys with the carried keys laid over
//! them, keeps the writes to its own keys as the transaction's pending
//! writes, and answers
//!
//! ```text
//! [reply, key, state, key, state...]
//! ```
//!
//! naming each carried key the command changed and the state it left it in
//! (`petrel.dump`'s items, or nil when it is gone). The coordinator then
//! sends `petrel.txn.replace <key> [<item>...]` to that key's partition,
//! which sets the key to exactly that state, as the transaction's write
//! there. The cost is shipping the carried keys whole: fine for the keys
//! queues and counters use, linear in a big collection's size.

use std::collections::HashSet;

use bytes::Bytes;
use petrel_common::command::{table, CommandId};
use petrel_common::reply::Reply;

use crate::cmd::db::Db;
use crate::cmd::keyspace::dump_items;
use crate::cmd::{try_execute_with, Execution, Notify};
use crate::storage::layout::{self, KeyType};
use crate::storage::merge::OpsView;
use crate::storage::{Mutation, ReadView, StorageError, WriteOp};

/// A malformed `petrel.txn.run` (only a buggy proxy sends one).
/// The internal commands a carry may run: `petrel.sort` (SORT with its
/// patterns' values, whose STORE destination lies elsewhere).
fn carries_internal(c: &petrel_common::command::Command) -> bool {
    c.id == table().internal(petrel_common::command::Internal::Sort).id
}

fn malformed(what: &str) -> Reply {
    Reply::error(format!("ERR malformed petrel.txn.run: {what}"))
}

fn count(arg: Option<&Bytes>) -> Option<usize> {
    std::str::from_utf8(arg?).ok()?.parse().ok()
}

/// A carried key: its name and `petrel.dump`'s items (empty: absent).
struct Carried {
    key: Bytes,
    items: Vec<Bytes>,
}

/// Runs `petrel.txn.run` over `view`: the reply (see the module
/// documentation), the writes to the home's own keys, and the command's
/// keyspace events, those of the carried keys included (their partitions
/// raise none for the state they are sent).
pub(crate) fn run(
    view: &dyn ReadView,
    args: &[Bytes],
    now_ms: u64,
    notify: Notify,
) -> Result<Execution, StorageError> {
    let none = |reply| Ok(Execution::only(reply));
    let Some(ncarried) = count(args.get(1)) else {
        return none(malformed("carried key count"));
    };
    let mut at = 2;
    let mut carried = Vec::new();
    for _ in 0..ncarried {
        let (Some(key), Some(nitems)) = (args.get(at), count(args.get(at + 1))) else {
            return none(malformed("carried key"));
        };
        let Some(items) = args.get(at + 2..at + 2 + nitems) else {
            return none(malformed("carried items"));
        };
        carried.push(Carried {
            key: key.clone(),
            items: items.to_vec(),
        });
        at += 2 + nitems;
    }
    let (Some(id), Some(argc)) = (count(args.get(at)), count(args.get(at + 1))) else {
        return none(malformed("command"));
    };
    let Some(call) = args.get(at + 2..at + 2 + argc) else {
        return none(malformed("command arguments"));
    };
    let command = u16::try_from(id)
        .ok()
        .and_then(|id| table().get(CommandId(id)))
        .filter(|c| c.names_match(call) && (!c.is_internal() || carries_internal(c)));
    let Some(command) = command else {
        return none(Reply::error(crate::cmd::errors::unknown_call(call)));
    };
    let laid = match lay(&carried) {
        Ok(ops) => ops,
        Err(e) => return none(Reply::error(format!("ERR bad carried key: {e}"))),
    };
    let with_carried = OpsView {
        base: view,
        ops: &laid,
    };
    let done = try_execute_with(&with_carried, command, call, now_ms, notify)?;
    // What the command left the carried keys as; its writes to them go back
    // to their partitions as states, not as this partition's writes.
    let after = OpsView {
        base: &with_carried,
        ops: &done.mutation.ops,
    };
    let db = Db::new(&after, now_ms);
    let mut out = vec![done.reply];
    for c in &carried {
        let now = dump_items(&db, &c.key)?;
        if now.as_deref().unwrap_or_default() != c.items.as_slice() {
            out.push(Reply::Bulk(c.key.clone()));
            out.push(match now {
                Some(items) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
                None => Reply::NilArray,
            });
        }
    }
    let keys: HashSet<&[u8]> = carried.iter().map(|c| c.key.as_ref()).collect();
    let own = done
        .mutation
        .ops
        .into_iter()
        .filter(|op| {
            let raw = match op {
                WriteOp::Put(k, _) | WriteOp::Delete(k) | WriteOp::DeleteRange(k, _) => k,
            };
            !layout::user_key_of(raw).is_some_and(|k| keys.contains(k))
        })
        .collect();
    Ok(Execution {
        reply: Reply::Array(out),
        mutation: Mutation { ops: own },
        events: done.events,
        expired: Vec::new(),
    })
}

/// The carried keys as writes over the home's view: each key exactly as
/// its partition holds it (nothing of it that the home may hold shows).
fn lay(carried: &[Carried]) -> Result<Vec<WriteOp>, StorageError> {
    let mut ops = Vec::new();
    for c in carried {
        let (start, end) = layout::element_range_all_versions(&c.key);
        ops.push(WriteOp::DeleteRange(start, end));
        ops.push(WriteOp::Delete(layout::meta_key(&c.key)));
        let Some((record, elements)) = c.items.split_first() else {
            continue;
        };
        let (header, _) = layout::decode_meta(record)?;
        if elements.len() % 2 != 0 {
            return Err(StorageError::Corrupt("unpaired element".into()));
        }
        if header.key_type != KeyType::String {
            for pair in elements.chunks(2) {
                ops.push(WriteOp::Put(
                    layout::element_key(&c.key, header.version, &pair[0]),
                    pair[1].to_vec(),
                ));
            }
        }
        ops.push(WriteOp::Put(layout::meta_key(&c.key), record.to_vec()));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{bulk, int, ok};
    use crate::storage::memory::MemEngine;
    use crate::storage::Engine;
    use crate::txn::exec::{execute, Call};
    use petrel_common::command::Resolved;
    use petrel_common::ids::Decree;

    const NOW: u64 = 1_000_000;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn call(words: Vec<Bytes>) -> Call {
        let Resolved::Command(command) = table().resolve(&words) else {
            panic!("{:?} is not in the table", words[0]);
        };
        Call {
            command,
            args: words,
        }
    }

    /// Runs one call on `engine` and applies its writes (a partition
    /// committing a transaction with that one call).
    fn run_at(engine: &MemEngine, words: Vec<Bytes>) -> Reply {
        let mut pending = Mutation::default();
        let (mut replies, _) = execute(
            engine,
            &mut pending,
            &[call(words)],
            NOW,
            crate::cmd::Notify::default(),
        )
        .expect("execute");
        engine.apply(Decree(1), &pending).expect("apply");
        replies.remove(0)
    }

    fn dump_of(engine: &MemEngine, key: &str) -> Vec<Bytes> {
        match run_at(engine, args(&["petrel.dump", key])) {
            Reply::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Reply::Bulk(b) => b,
                    other => panic!("dump item {other:?}"),
                })
                .collect(),
            Reply::NilArray => Vec::new(),
            other => panic!("dump {other:?}"),
        }
    }

    /// `petrel.txn.run` of `command` at `home`, carrying `key` from `other`.
    fn run_carrying(home: &MemEngine, other: &MemEngine, key: &str, command: &[&str]) -> Reply {
        let items = dump_of(other, key);
        let inner = call(args(command));
        let mut words = args(&["petrel.txn.run", "1", key]);
        words.push(Bytes::from(items.len().to_string()));
        words.extend(items);
        words.push(Bytes::from(inner.command.id.0.to_string()));
        words.push(Bytes::from(inner.args.len().to_string()));
        words.extend(inner.args);
        run_at(home, words)
    }

    /// Sends what `petrel.txn.run` said about carried keys back to `other`.
    fn write_back(other: &MemEngine, reply: &Reply) -> Reply {
        let Reply::Array(items) = reply else {
            panic!("txn.run reply {reply:?}");
        };
        for pair in items[1..].chunks(2) {
            let Reply::Bulk(key) = &pair[0] else {
                panic!("key {pair:?}");
            };
            let mut words = vec![Bytes::from_static(b"petrel.txn.replace"), key.clone()];
            if let Reply::Array(state) = &pair[1] {
                for item in state {
                    let Reply::Bulk(b) = item else {
                        panic!("state item {item:?}");
                    };
                    words.push(b.clone());
                }
            }
            assert_eq!(run_at(other, words), ok());
        }
        items[0].clone()
    }

    #[test]
    fn lmove_between_partitions_moves_one_item() {
        let (src, dst) = (MemEngine::new(), MemEngine::new());
        run_at(&src, args(&["rpush", "a", "x", "y", "z"]));
        run_at(&dst, args(&["rpush", "b", "1"]));
        let reply = run_carrying(&dst, &src, "a", &["lmove", "a", "b", "LEFT", "RIGHT"]);
        assert_eq!(write_back(&src, &reply), bulk("x"));
        assert_eq!(
            run_at(&src, args(&["lrange", "a", "0", "-1"])),
            Reply::Array(vec![bulk("y"), bulk("z")])
        );
        assert_eq!(
            run_at(&dst, args(&["lrange", "b", "0", "-1"])),
            Reply::Array(vec![bulk("1"), bulk("x")])
        );
        // The home keeps nothing of the carried key.
        assert_eq!(run_at(&dst, args(&["exists", "a"])), int(0));
    }

    #[test]
    fn rename_deletes_the_carried_source_and_keeps_its_ttl() {
        let (src, dst) = (MemEngine::new(), MemEngine::new());
        run_at(&src, args(&["hset", "h", "f", "v", "g", "w"]));
        run_at(&src, args(&["pexpire", "h", "50000"]));
        let reply = run_carrying(&dst, &src, "h", &["rename", "h", "n"]);
        assert_eq!(write_back(&src, &reply), ok());
        assert_eq!(run_at(&src, args(&["exists", "h"])), int(0));
        assert_eq!(run_at(&dst, args(&["hget", "n", "g"])), bulk("w"));
        assert!(matches!(run_at(&dst, args(&["pttl", "n"])), Reply::Int(t) if t > 0 && t <= 50000));
    }

    #[test]
    fn a_read_only_carry_sends_nothing_back() {
        let (a, home) = (MemEngine::new(), MemEngine::new());
        run_at(&a, args(&["sadd", "s1", "x", "y"]));
        run_at(&home, args(&["sadd", "s2", "y", "z"]));
        let reply = run_carrying(&home, &a, "s1", &["sinterstore", "d", "s1", "s2"]);
        let Reply::Array(items) = &reply else {
            panic!("{reply:?}");
        };
        assert_eq!(
            items.as_slice(),
            &[int(1)],
            "s1 unchanged: no state sent back"
        );
        assert_eq!(
            run_at(&home, args(&["smembers", "d"])),
            Reply::Set(vec![bulk("y")])
        );
    }

    #[test]
    fn malformed_runs_are_errors() {
        let home = MemEngine::new();
        for bad in [
            vec!["petrel.txn.run", "x", "get"],
            vec!["petrel.txn.run", "1", "k", "5", "get"],
            vec!["petrel.txn.run", "0", "99999", "2", "get", "k"],
            vec!["petrel.txn.run", "1", "k", "1", "garbage", "0", "1", "get"],
        ] {
            assert!(run_at(&home, args(&bad)).is_error(), "{bad:?}");
        }
        // Outside a transaction's executor it refuses to run.
        let mut h = crate::cmd::testing::Harness::new();
        assert!(h.run(&["petrel.txn.run", "0", "1", "1", "get"]).is_error());
    }
}
