//! Redis command semantics, executed at a partition's primary.
//!
//! A command reads the replica's state and produces a typed [`Reply`] plus a
//! [`Mutation`](crate::storage::Mutation) (empty for reads): the deterministic puts/deletes that the
//! replication log carries. INCR becomes "put 42"; relative expiry becomes an
//! absolute time. Nothing here does I/O beyond the [`ReadView`] it is given.
//!
//! - [`strings`]: GET, SET and the other string commands.
//! - [`keys`]: DEL, EXISTS, EXPIRE, TTL, TYPE and friends (any key type).
//! - [`server`]: per-partition DBSIZE and FLUSHALL.
//! - [`hashes`], [`lists`], [`sets`], [`zsets`], [`streams`]: the
//!   collection types, one record per element (see [`db`]).
//! - [`bits`]: bit commands and LCS; [`hll`]: HyperLogLog (both on strings).
//! - [`geo`]: GEO commands, on sorted sets.
//! - [`sort`]: SORT and SORT_RO (and `petrel.sort`, their values read beforehand).
//! - [`dump`]: DUMP and RESTORE, any type in Redis's serialization.
//! - [`db`]: the keyspace one command sees, with its own pending writes.
//! - [`parse`], [`float`], [`errors`]: Redis's argument rules and texts.
//! - [`events`]: the keyspace notifications commands raise.
//!
//! Every command a partition runs is one row of its family's table (see
//! [`families`]): its full name in the one command table
//! (`petrel_common::command`, which holds its arity, flags and keys) and the
//! function that runs it.

pub(crate) mod bits;
pub(crate) mod blocking;
pub(crate) mod db;
pub(crate) mod dump;
pub(crate) mod errors;
pub(crate) mod events;
pub(crate) mod float;
pub(crate) mod geo;
pub(crate) mod hashes;
pub(crate) mod hll;
pub(crate) mod keys;
pub(crate) mod keyspace;
pub(crate) mod lists;
pub(crate) mod memory;
pub(crate) mod multi;
pub(crate) mod outcome;
pub(crate) mod parse;
pub(crate) mod runner;
pub(crate) mod scripting;
pub(crate) mod server;
pub(crate) mod sets;
pub(crate) mod sort;
pub(crate) mod streams;
pub(crate) mod strings;
pub(crate) mod zsets;

#[cfg(test)]
pub(crate) mod testing;

use std::sync::LazyLock;

use bytes::Bytes;
use petrel_common::command::{self, Command};
use petrel_common::reply::{errors as redis_errors, Reply};

use crate::storage::{ReadView, StorageError};
use db::Db;
pub(crate) use events::Notify;
pub(crate) use outcome::{CmdError, Execution};
pub(crate) use runner::{run, RunFn, Runner};

/// Every runner table, family by family.
pub(crate) fn families() -> [&'static [Runner]; 10] {
    [
        COMMANDS,
        bits::COMMANDS,
        geo::COMMANDS,
        hashes::COMMANDS,
        hll::COMMANDS,
        lists::COMMANDS,
        sets::COMMANDS,
        sort::COMMANDS,
        streams::COMMANDS,
        zsets::COMMANDS,
    ]
}

/// Every command a partition runs.
pub(crate) fn all() -> impl Iterator<Item = &'static Runner> {
    families().into_iter().flatten()
}

/// The implementation of `command`, by its id (names are resolved once, when
/// this index is built); `None` for commands partitions do not run.
pub(crate) fn runner_of(command: &Command) -> Option<RunFn> {
    static BY_ID: LazyLock<Vec<Option<RunFn>>> = LazyLock::new(|| {
        let table = command::table();
        let mut by_id = vec![None; table.len()];
        for r in all() {
            if let Some(c) = table.find(r.name.as_bytes()) {
                by_id[usize::from(c.id.0)] = Some(r.run);
            }
        }
        by_id
    });
    BY_ID.get(usize::from(command.id.0)).copied().flatten()
}

/// String, keyspace and server commands, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    // strings
    run("get", strings::get),
    run("set", strings::set),
    run("setnx", strings::setnx),
    run("setex", strings::setex),
    run("psetex", strings::psetex),
    run("getset", strings::getset),
    run("getdel", strings::getdel),
    run("getex", strings::getex),
    run("append", strings::append),
    run("strlen", strings::strlen),
    run("getrange", strings::getrange),
    run("substr", strings::getrange),
    run("setrange", strings::setrange),
    run("incr", strings::incr),
    run("decr", strings::decr),
    run("incrby", strings::incrby),
    run("decrby", strings::decrby),
    run("incrbyfloat", strings::incrbyfloat),
    run("mget", strings::mget),
    run("mset", strings::mset),
    run("msetnx", strings::msetnx),
    // keys
    run("del", keys::del),
    run("unlink", keys::del),
    run("exists", keys::exists),
    run("touch", keys::touch),
    run("expire", keys::expire),
    run("pexpire", keys::pexpire),
    run("expireat", keys::expireat),
    run("pexpireat", keys::pexpireat),
    run("expiretime", keys::expiretime),
    run("pexpiretime", keys::pexpiretime),
    run("ttl", keys::ttl),
    run("pttl", keys::pttl),
    run("persist", keys::persist),
    run("type", keys::key_type),
    // server (per partition; the proxy fans out and merges)
    run("dbsize", server::dbsize),
    run("flushdb", server::flushall),
    // blocking (see [`blocking`]: the service waits and retries)
    run("blpop", blocking::blpop),
    run("brpop", blocking::brpop),
    run("brpoplpush", blocking::brpoplpush),
    run("blmove", blocking::blmove),
    run("blmpop", blocking::blmpop),
    // keyspace
    run("keys", keyspace::keys),
    run("randomkey", keyspace::randomkey),
    run("rename", keyspace::rename),
    run("renamenx", keyspace::renamenx),
    run("copy", keyspace::copy),
    run("dump", dump::dump),
    run("restore", dump::restore),
    // One function serves the OBJECT subcommands a partition answers.
    run("object|encoding", keyspace::object),
    run("object|freq", keyspace::object),
    run("object|idletime", keyspace::object),
    run("object|refcount", keyspace::object),
    run("memory|usage", memory::usage),
    run("petrel.scan", keyspace::scan),
    run("petrel.expired", keyspace::expired),
    run("petrel.dump", keyspace::dump),
    run("petrel.restore", keyspace::restore),
    run("petrel.moved", keyspace::moved),
    run("petrel.sweep", keyspace::sweep),
    // internal, sent by the proxy only (see [`multi`])
    run("petrel.exec", multi::exec),
    run("petrel.txn.run", multi::txn_run_outside),
    run("petrel.txn.replace", keyspace::replace),
    run("petrel.fingerprint", multi::fingerprint_cmd),
    run("petrel.eval", scripting::eval),
    run("petrel.script.kill", scripting::kill),
    run("petrel.fcall", scripting::fcall),
];

/// Runs `command` with `args` (its name first) against `view` at wall-clock
/// `now_ms`.
///
/// A storage failure becomes an `ERR` reply; the replica should prefer
/// [`try_execute`], which hands it the failure to act on.
#[cfg(test)]
pub(crate) fn execute(
    view: &dyn ReadView,
    command: &Command,
    args: &[Bytes],
    now_ms: u64,
) -> Execution {
    execute_with(view, command, args, now_ms, Notify::default())
}

/// [`execute`], raising the keyspace events `notify` asks for.
pub(crate) fn execute_with(
    view: &dyn ReadView,
    command: &Command,
    args: &[Bytes],
    now_ms: u64,
    notify: Notify,
) -> Execution {
    match try_execute_with(view, command, args, now_ms, notify) {
        Ok(execution) => execution,
        Err(e) => Execution::only(Reply::error(errors::sanitize(&format!(
            "ERR storage failure: {e}"
        )))),
    }
}

/// Runs `command` like [`execute`], but returns storage failures as errors.
/// A command that fails with a Redis error reply writes nothing.
#[cfg(test)]
pub(crate) fn try_execute(
    view: &dyn ReadView,
    command: &Command,
    args: &[Bytes],
    now_ms: u64,
) -> Result<Execution, StorageError> {
    try_execute_with(view, command, args, now_ms, Notify::default())
}

/// [`try_execute`], raising the keyspace events `notify` asks for.
pub(crate) fn try_execute_with(
    view: &dyn ReadView,
    command: &Command,
    args: &[Bytes],
    now_ms: u64,
    notify: Notify,
) -> Result<Execution, StorageError> {
    let only_reply = |reply| Ok(Execution::only(reply));
    let Some(run) = runner_of(command) else {
        return only_reply(Reply::error(errors::unknown_call(args)));
    };
    // The proxy checked the arity; a malformed request must still not reach
    // a command that indexes its arguments.
    if !command.arity_ok(args.len()) {
        return only_reply(Reply::error(redis_errors::wrong_arity(command.name())));
    }
    let mut db = Db::new(view, now_ms);
    if notify.flags != 0 && events::raises_events(command) {
        db.set_notify(notify.flags, notify.reading);
        db.before_command(command, args)?;
    }
    match run(&mut db, args) {
        Ok(reply) => Ok(Execution {
            reply,
            events: db.take_events(),
            expired: db.take_expired_seen(),
            mutation: db.into_mutation(),
        }),
        Err(CmdError::Reply(reply)) => only_reply(reply),
        Err(CmdError::Storage(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::storage::memory::MemEngine;

    #[test]
    fn unknown_command_is_an_error_reply() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["foo", "bar", "baz"]),
            err("ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ")
        );
        // A command of the table that partitions do not run.
        let ping = command::table().find(b"ping").expect("ping");
        let engine = MemEngine::new();
        let exec = execute(&engine, ping, &[Bytes::from_static(b"ping")], 0);
        assert_eq!(
            exec.reply,
            err("ERR unknown command 'ping', with args beginning with: ")
        );
        assert!(exec.mutation.is_empty());
    }

    #[test]
    fn runners_and_the_table_agree() {
        use petrel_common::command::Exec;
        let table = command::table();
        let mut seen = std::collections::HashSet::new();
        for r in all() {
            assert!(seen.insert(r.name), "{} runs twice", r.name);
            let c = table
                .find(r.name.as_bytes())
                .unwrap_or_else(|| panic!("{} is not in the command table", r.name));
            assert_eq!(c.name(), r.name);
            // The proxy may send a command it answers itself to each
            // partition for its share (RANDOMKEY).
            assert!(
                !matches!(c.exec(), Exec::Container | Exec::Unserved),
                "{} runs at partitions but the table says {:?}",
                r.name,
                c.exec()
            );
        }
        for c in table.iter() {
            if matches!(
                c.exec(),
                Exec::Partition
                    | Exec::Split(_)
                    | Exec::FanOut(_)
                    | Exec::SameSlot
                    | Exec::Internal
            ) {
                assert!(runner_of(c).is_some(), "{} has no runner", c.name());
            }
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SeT", "k", "v"]), ok());
        assert_eq!(h.run(&["GET", "k"]), bulk("v"));
    }

    #[test]
    fn wrong_arity_uses_redis_text() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["GET"]),
            err("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            h.run(&["get", "a", "b"]),
            err("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            h.run(&["SET", "a"]),
            err("ERR wrong number of arguments for 'set' command")
        );
        assert_eq!(
            h.run(&["dbsize", "foo"]),
            err("ERR wrong number of arguments for 'dbsize' command")
        );
        assert_eq!(
            h.run(&["del"]),
            err("ERR wrong number of arguments for 'del' command")
        );
    }

    #[test]
    fn reads_never_write() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v", "px", "5"]);
        h.now += 100; // expired now
        let table = command::table();
        // PFCOUNT writes the cache it computed, as Redis's does (run again
        // as a write; see `hll`).
        for cmd in table
            .iter()
            .filter(|c| !c.is_write() && !c.may_replicate() && runner_of(c).is_some())
        {
            let mut args: Vec<String> = cmd.name().split('|').map(String::from).collect();
            for _ in args.len()..cmd.def.arity.unsigned_abs() as usize {
                args.push("k".into());
            }
            if cmd.name() == "getrange" || cmd.name() == "substr" {
                args = vec![cmd.name().into(), "k".into(), "0".into(), "-1".into()];
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(h.exec(&argv).mutation.is_empty(), "{}", cmd.name());
        }
    }

    #[test]
    fn failed_commands_write_nothing() {
        let mut h = Harness::new();
        h.seed_hash("h", 0);
        let exec = h.exec(&["set", "h", "v", "get"]);
        assert_eq!(exec.reply, err(redis_errors::WRONGTYPE));
        assert!(exec.mutation.is_empty());
    }

    #[test]
    fn storage_failures_surface() {
        let broken = BrokenView;
        let args = [Bytes::from_static(b"get"), Bytes::from_static(b"k")];
        let get = command::table().find(b"get").expect("get");
        assert!(matches!(
            try_execute(&broken, get, &args, 0),
            Err(StorageError::Corrupt(_))
        ));
        let exec = execute(&broken, get, &args, 0);
        assert!(matches!(&exec.reply, Reply::Error(e) if e.starts_with("ERR storage failure")));
        assert!(exec.mutation.is_empty());
    }
}
