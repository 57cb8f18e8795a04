//! Redis command semantics, executed at a partition's primary.
//!
//! A command reads the replica's state and produces a typed [`Reply`] plus a
//! [`Mutation`] (empty for reads): the deterministic puts/deletes that the
//! replication log carries. INCR becomes "put 42"; relative expiry becomes an
//! absolute time. Nothing here does I/O beyond the [`ReadView`] it is given.
//!
//! - [`strings`]: GET, SET and the other string commands.
//! - [`keys`]: DEL, EXISTS, EXPIRE, TTL, TYPE and friends (any key type).
//! - [`server`]: per-partition DBSIZE and FLUSHALL.
//! - [`hashes`], [`lists`], [`sets`], [`zsets`]: the collection types, one
//!   record per element (see [`db`]).
//! - [`db`]: the keyspace one command sees, with its own pending writes.
//! - [`parse`], [`float`], [`errors`]: Redis's argument rules and texts.
//!
//! Every command is one row of its family's table (see [`families`]): its
//! name, arity, whether it writes, and the function that runs it.

pub mod bits;
pub mod blocking;
pub mod db;
pub mod errors;
pub mod float;
pub mod hashes;
pub mod keys;
pub mod keyspace;
pub mod lists;
pub mod memory;
pub mod multi;
pub mod parse;
pub mod server;
pub mod sets;
pub mod strings;
pub mod zsets;

#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use petrel_common::reply::{errors as redis_errors, Reply};

use crate::storage::{Mutation, ReadView, StorageError};
use db::Db;

/// The outcome of one command.
#[derive(Debug)]
pub struct Execution {
    /// What the client is told.
    pub reply: Reply,
    /// What the replicas must apply (empty for reads and no-op writes).
    pub mutation: Mutation,
}

/// Why a command stopped early: a Redis error reply, or a storage failure
/// (which the replica must treat as fatal, not answer and carry on).
#[derive(Debug)]
pub enum CmdError {
    /// A Redis error reply for the client; nothing is written.
    Reply(Reply),
    /// The replica's storage failed.
    Storage(StorageError),
}

impl CmdError {
    /// A Redis error reply with this text.
    pub fn reply(text: impl Into<String>) -> CmdError {
        CmdError::Reply(Reply::error(text))
    }
}

impl From<StorageError> for CmdError {
    fn from(e: StorageError) -> Self {
        CmdError::Storage(e)
    }
}

/// What a command function returns.
pub type CmdResult = Result<Reply, CmdError>;

/// One command: its name, Redis arity (negative = at least that many
/// arguments, name included), whether it may write, and its implementation.
pub struct Command {
    /// Lower-case name, as Redis spells it in errors.
    pub name: &'static str,
    /// Redis arity: exact count, or at least `-arity` when negative.
    pub arity: i32,
    /// Whether the command may produce a mutation.
    pub write: bool,
    /// The implementation; `args` includes the command name.
    pub run: fn(&mut Db<'_>, &[Bytes]) -> CmdResult,
}

impl Command {
    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

pub(crate) const fn read(
    name: &'static str,
    arity: i32,
    run: fn(&mut Db<'_>, &[Bytes]) -> CmdResult,
) -> Command {
    Command {
        name,
        arity,
        write: false,
        run,
    }
}

pub(crate) const fn write(
    name: &'static str,
    arity: i32,
    run: fn(&mut Db<'_>, &[Bytes]) -> CmdResult,
) -> Command {
    Command {
        name,
        arity,
        write: true,
        run,
    }
}

/// Every command table, family by family.
pub fn families() -> [&'static [Command]; 6] {
    [
        COMMANDS,
        bits::COMMANDS,
        hashes::COMMANDS,
        lists::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
    ]
}

/// Every command a partition serves.
pub fn all() -> impl Iterator<Item = &'static Command> {
    families().into_iter().flatten()
}

/// String, keyspace and server commands, with Redis 7.0's arities.
pub static COMMANDS: &[Command] = &[
    // strings
    read("get", 2, strings::get),
    write("set", -3, strings::set),
    write("setnx", 3, strings::setnx),
    write("setex", 4, strings::setex),
    write("psetex", 4, strings::psetex),
    write("getset", 3, strings::getset),
    write("getdel", 2, strings::getdel),
    write("getex", -2, strings::getex),
    write("append", 3, strings::append),
    read("strlen", 2, strings::strlen),
    read("getrange", 4, strings::getrange),
    read("substr", 4, strings::getrange),
    write("setrange", 4, strings::setrange),
    write("incr", 2, strings::incr),
    write("decr", 2, strings::decr),
    write("incrby", 3, strings::incrby),
    write("decrby", 3, strings::decrby),
    write("incrbyfloat", 3, strings::incrbyfloat),
    read("mget", -2, strings::mget),
    write("mset", -3, strings::mset),
    write("msetnx", -3, strings::msetnx),
    // keys
    write("del", -2, keys::del),
    write("unlink", -2, keys::del),
    read("exists", -2, keys::exists),
    read("touch", -2, keys::touch),
    write("expire", -3, keys::expire),
    write("pexpire", -3, keys::pexpire),
    write("expireat", -3, keys::expireat),
    write("pexpireat", -3, keys::pexpireat),
    read("expiretime", 2, keys::expiretime),
    read("pexpiretime", 2, keys::pexpiretime),
    read("ttl", 2, keys::ttl),
    read("pttl", 2, keys::pttl),
    write("persist", 2, keys::persist),
    read("type", 2, keys::key_type),
    // server (per partition; the proxy fans out and merges)
    read("dbsize", 1, server::dbsize),
    write("flushall", -1, server::flushall),
    write("flushdb", -1, server::flushall),
    // blocking (see [`blocking`]: the service waits and retries)
    write("blpop", -3, blocking::blpop),
    write("brpop", -3, blocking::brpop),
    write("brpoplpush", 4, blocking::brpoplpush),
    write("blmove", 6, blocking::blmove),
    write("blmpop", -5, blocking::blmpop),
    // keyspace
    read("keys", 2, keyspace::keys),
    read("randomkey", 1, keyspace::randomkey),
    write("rename", 3, keyspace::rename),
    write("renamenx", 3, keyspace::renamenx),
    write("copy", -3, keyspace::copy),
    read("object", -2, keyspace::object),
    read("memory", -3, memory::usage),
    read("petrel.scan", -3, keyspace::scan),
    read("petrel.expired", 3, keyspace::expired),
    read("petrel.dump", 2, keyspace::dump),
    write("petrel.restore", -3, keyspace::restore),
    write("petrel.sweep", -1, keyspace::sweep),
    // internal, sent by the proxy only (see [`multi`])
    write("petrel.exec", -2, multi::exec),
    read("petrel.fingerprint", 2, multi::fingerprint_cmd),
];

/// Longest command name in any table (the lookup key buffer's size).
const MAX_NAME: usize = 32;

/// Every command by lower-case name, built on first use (the lookup runs
/// several times per request; a scan of ~200 names showed in profiles).
static BY_NAME: LazyLock<HashMap<&'static [u8], &'static Command>> =
    LazyLock::new(|| all().map(|c| (c.name.as_bytes(), c)).collect());

/// The command named `name` (any ASCII case).
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > MAX_NAME {
        return None;
    }
    let mut lower = [0u8; MAX_NAME];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    BY_NAME.get(&*lower).copied()
}

/// Whether `name` is a read that touches a bounded number of records (one
/// key, or the keys it names), so it may run on the async runtime instead
/// of a blocking thread: the hand-off costs more than such a read.
pub fn is_point_read(name: &[u8]) -> bool {
    lookup(name).is_some_and(|c| POINT_READS.contains(&c.name))
}

/// The reads [`is_point_read`] accepts.
const POINT_READS: &[&str] = &[
    "get",
    "mget",
    "strlen",
    "getrange",
    "substr",
    "getbit",
    "exists",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "type",
    "touch",
    "hget",
    "hmget",
    "hexists",
    "hlen",
    "hstrlen",
    "llen",
    "lindex",
    "scard",
    "sismember",
    "smismember",
    "zscore",
    "zmscore",
    "zcard",
];

/// Runs `args` (command name first) against `view` at wall-clock `now_ms`.
///
/// A storage failure becomes an `ERR` reply; the replica should prefer
/// [`try_execute`], which hands it the failure to act on.
pub fn execute(view: &dyn ReadView, args: &[Bytes], now_ms: u64) -> Execution {
    match try_execute(view, args, now_ms) {
        Ok(execution) => execution,
        Err(e) => Execution {
            reply: Reply::error(errors::sanitize(&format!("ERR storage failure: {e}"))),
            mutation: Mutation::default(),
        },
    }
}

/// Runs `args` like [`execute`], but returns storage failures as errors.
/// A command that fails with a Redis error reply writes nothing.
pub fn try_execute(
    view: &dyn ReadView,
    args: &[Bytes],
    now_ms: u64,
) -> Result<Execution, StorageError> {
    let only_reply = |reply| {
        Ok(Execution {
            reply,
            mutation: Mutation::default(),
        })
    };
    let Some((name, rest)) = args.split_first() else {
        let none: [&[u8]; 0] = [];
        return only_reply(Reply::error(errors::unknown_command(b"", &none)));
    };
    let Some(command) = lookup(name) else {
        return only_reply(Reply::error(errors::unknown_command(name, rest)));
    };
    if !command.arity_ok(args.len()) {
        return only_reply(Reply::error(redis_errors::wrong_arity(command.name)));
    }
    let mut db = Db::new(view, now_ms);
    match (command.run)(&mut db, args) {
        Ok(reply) => Ok(Execution {
            reply,
            mutation: db.into_mutation(),
        }),
        Err(CmdError::Reply(reply)) => only_reply(reply),
        Err(CmdError::Storage(e)) => Err(e),
    }
}

/// Whether the command may write (and so must be serialized per partition).
pub fn is_write(name: &[u8]) -> bool {
    lookup(name).is_some_and(|c| c.write)
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
        let engine = MemEngine::new();
        let exec = execute(&engine, &[], 0);
        assert!(exec.reply.is_error());
        assert!(exec.mutation.is_empty());
    }

    #[test]
    fn every_command_is_found_by_name_and_point_reads_are_reads() {
        for c in all() {
            assert!(
                c.name.len() <= MAX_NAME,
                "{} is longer than MAX_NAME",
                c.name
            );
            let upper = c.name.to_ascii_uppercase();
            assert!(
                std::ptr::eq(lookup(upper.as_bytes()).unwrap(), c),
                "{}",
                c.name
            );
        }
        assert_eq!(BY_NAME.len(), all().count(), "no name is in two tables");
        for name in POINT_READS {
            let c = lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} is a command"));
            assert!(!c.write, "{name} must be a read");
        }
        assert!(is_point_read(b"GET") && !is_point_read(b"keys") && !is_point_read(b"set"));
        assert!(lookup(&[b'g'; MAX_NAME + 1]).is_none());
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
    fn write_classification() {
        for name in [
            "set",
            "SET",
            "setnx",
            "setex",
            "psetex",
            "getset",
            "getdel",
            "getex",
            "append",
            "setrange",
            "incr",
            "decr",
            "incrby",
            "decrby",
            "incrbyfloat",
            "mset",
            "msetnx",
            "del",
            "unlink",
            "expire",
            "pexpire",
            "expireat",
            "pexpireat",
            "persist",
            "flushall",
            "flushdb",
        ] {
            assert!(is_write(name.as_bytes()), "{name}");
        }
        for name in [
            "get",
            "strlen",
            "getrange",
            "mget",
            "exists",
            "touch",
            "ttl",
            "pttl",
            "type",
            "dbsize",
            "expiretime",
            "pexpiretime",
            "nosuch",
        ] {
            assert!(!is_write(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn reads_never_write() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v", "px", "5"]);
        h.now += 100; // expired now
        for cmd in all().filter(|c| !c.write) {
            let mut args = vec![cmd.name.to_string()];
            for _ in 1..cmd.arity.unsigned_abs() {
                args.push("k".into());
            }
            if cmd.name == "getrange" || cmd.name == "substr" {
                args = vec![cmd.name.into(), "k".into(), "0".into(), "-1".into()];
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(h.exec(&argv).mutation.is_empty(), "{}", cmd.name);
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
        assert!(matches!(
            try_execute(&broken, &args, 0),
            Err(StorageError::Corrupt(_))
        ));
        let exec = execute(&broken, &args, 0);
        assert!(matches!(&exec.reply, Reply::Error(e) if e.starts_with("ERR storage failure")));
        assert!(exec.mutation.is_empty());
    }
}
