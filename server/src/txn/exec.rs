//! One EXECUTE of a transaction at a participant: its commands run in
//! order, each seeing the writes of those before it (of this EXECUTE and
//! of the transaction's earlier ones at this partition), and their writes
//! are appended to the transaction's pending writes instead of being
//! proposed. A command answered with an error reply writes nothing and the
//! others still run, as in a Redis `MULTI` block.

use bytes::Bytes;
use petrel_common::command::{table, Command, Internal};
use petrel_common::reply::Reply;

use super::carry;
use crate::cmd::events::Events;
use crate::cmd::{try_execute_with, Notify};
use crate::storage::merge::OpsView;
use crate::storage::{Mutation, ReadView, StorageError};

/// One command of an EXECUTE: the command (by its id in the table) and its
/// arguments, name first.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) command: &'static Command,
    pub(crate) args: Vec<Bytes>,
}

/// Runs `calls` in order over `view` (committed state seen through the
/// uncommitted tail) and `pending` (the transaction's writes so far at this
/// partition), appending each command's writes to `pending`; returns the
/// replies in order, and the keyspace events `notify` asks for (published
/// when the transaction commits here).
pub(crate) fn execute(
    view: &dyn ReadView,
    pending: &mut Mutation,
    calls: &[Call],
    now_ms: u64,
    notify: Notify,
) -> Result<(Vec<Reply>, Events), StorageError> {
    let run = table().internal(Internal::TxnRun).id;
    let mut replies = Vec::with_capacity(calls.len());
    let mut events = Events::default();
    for call in calls {
        let seen = OpsView {
            base: view,
            ops: &pending.ops,
        };
        let done = if call.command.id == run {
            carry::run(&seen, &call.args, now_ms, notify)?
        } else {
            try_execute_with(&seen, call.command, &call.args, now_ms, notify)?
        };
        pending.ops.extend(done.mutation.ops);
        events.append(done.events);
        replies.push(done.reply);
    }
    Ok((replies, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::{bulk, int, ok};
    use crate::storage::memory::MemEngine;
    use crate::storage::Engine;
    use petrel_common::ids::Decree;

    pub(crate) fn call(args: &[&str]) -> Call {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let petrel_common::command::Resolved::Command(command) = table().resolve(&args) else {
            panic!("{:?} is not in the table", args[0]);
        };
        Call { command, args }
    }

    #[test]
    fn commands_see_earlier_pending_writes_and_storage_is_untouched() {
        let engine = MemEngine::new();
        let mut pending = Mutation::default();
        let replies = execute(
            &engine,
            &mut pending,
            &[call(&["set", "k", "1"]), call(&["incr", "k"])],
            1_000,
            Notify::default(),
        )
        .expect("execute")
        .0;
        assert_eq!(replies, vec![ok(), int(2)]);
        // A second EXECUTE of the same transaction sees the first's writes.
        let replies = execute(
            &engine,
            &mut pending,
            &[call(&["incrby", "k", "10"]), call(&["get", "k"])],
            1_000,
            Notify::default(),
        )
        .expect("execute")
        .0;
        assert_eq!(replies, vec![int(12), bulk("12")]);
        // Nothing reached storage: the writes wait for the decision.
        let fresh = execute(
            &engine,
            &mut Mutation::default(),
            &[call(&["get", "k"])],
            1_000,
            Notify::default(),
        )
        .expect("execute")
        .0;
        assert_eq!(fresh, vec![Reply::Nil]);
        // Applying the pending writes gives the transaction's result.
        engine.apply(Decree(1), &pending).expect("apply");
        let after = execute(
            &engine,
            &mut Mutation::default(),
            &[call(&["get", "k"])],
            1_000,
            Notify::default(),
        )
        .expect("execute")
        .0;
        assert_eq!(after, vec![bulk("12")]);
    }

    #[test]
    fn an_error_reply_writes_nothing_and_the_rest_run() {
        let engine = MemEngine::new();
        let mut pending = Mutation::default();
        let replies = execute(
            &engine,
            &mut pending,
            &[
                call(&["set", "s", "text"]),
                call(&["incr", "s"]),
                call(&["rpush", "l", "a", "b"]),
                call(&["lpop", "s"]),
                call(&["llen", "l"]),
            ],
            1_000,
            Notify::default(),
        )
        .expect("execute")
        .0;
        assert_eq!(replies[0], ok());
        assert!(replies[1].is_error());
        assert_eq!(replies[2], int(2));
        assert!(replies[3].is_error(), "WRONGTYPE");
        assert_eq!(replies[4], int(2));
        engine.apply(Decree(1), &pending).expect("apply");
        let after = execute(
            &engine,
            &mut Mutation::default(),
            &[call(&["get", "s"]), call(&["lrange", "l", "0", "-1"])],
            1_000,
            Notify::default(),
        )
        .expect("execute")
        .0;
        assert_eq!(
            after,
            vec![bulk("text"), Reply::Array(vec![bulk("a"), bulk("b")])]
        );
    }
}
