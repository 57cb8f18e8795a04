//! Scripts at a partition's primary: `petrel.eval`, sent by the proxy for
//! an `EVAL`/`EVALSHA` whose keys are all in this partition, runs the script
//! here as one mutation (docs/SCRIPTING.md).
//!
//! `petrel.eval <partitions> <declared> <rw|ro> <body> <numkeys> <key>... <arg>...`:
//! the table's partition count, how many of the keys the client declared
//! (the script's `KEYS`; the others are keys earlier attempts found it
//! touching), whether it is an `*_RO` call, the script, then the keys and
//! arguments. Every key is in this partition, and they are the keys the
//! transaction fast path checked for locks, so a `redis.call` may touch no
//! other: one that does stops the run with [`UNLISTED_KEY`] naming the key,
//! nothing is written, and the proxy tries again with the key listed (or
//! across partitions).
//!
//! `petrel.fcall <partitions> <declared> <rw|ro> <library code> <function>
//! <numkeys> <key>... <arg>...` runs a function of a library (`FCALL`) the
//! same way; the library travels with every call, and each thread loads it
//! once (again when its code changes).
//!
//! A script's `PUBLISH` and `SPUBLISH` are not run here: their messages
//! are held, in order, and carried back with the reply of a script that did
//! not fail ([`split_published`]); the proxy sends them to the channels'
//! brokers once the write has committed (docs/PUBSUB.md).
//!
//! Each runtime thread keeps its own Lua engines (compiled scripts are cached
//! by SHA1, libraries by name); a script runs off the async runtime's worker, and one running
//! past `script_time_limit_ms` is stopped, as is every running script on
//! `petrel.script.kill`. A stopped script writes nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use bytes::Bytes;
use petrel_common::command::{table, Command, Exec, Internal};
use petrel_common::hash::partition_of;
use petrel_common::pubsub::PublishMsg;
use petrel_common::reply::{errors, Reply, SCRIPT_REPLY_DEPTH};
use petrel_common::sync::lock;
use petrel_script::{
    held_publish, keyless_reply, past_budget, was_killed, with_thread_functions,
    with_thread_scripts, EngineConfig, Held, Host, LogLevel, Monitor, RunOptions,
    HELD_PUBLISH_REPLY,
};
use tracing::{info, warn};

use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::runner_of;
use crate::storage::StorageError;

pub(crate) use petrel_common::reply::errors::UNLISTED_KEY;

/// How long a script runs on the async runtime's worker before it is
/// run again off it (see `run_request`).
const INLINE_BUDGET: Duration = Duration::from_millis(20);

/// Longest a script may run before the server stops it
/// (`script_time_limit_ms`); set once at start.
static TIME_LIMIT_MS: AtomicU64 = AtomicU64::new(4_000);

/// Every thread's engine monitor, for the watchdog and `petrel.script.kill`.
static MONITORS: LazyLock<Mutex<Vec<Monitor>>> = LazyLock::new(|| {
    std::thread::Builder::new()
        .name("script-watchdog".into())
        .spawn(watchdog)
        .map_err(|e| warn!(error = %e, "no script watchdog: long scripts are not stopped"))
        .ok();
    Mutex::new(Vec::new())
});

/// Sets how long a script may run (`script_time_limit_ms`).
pub(crate) fn set_time_limit(limit: Duration) {
    TIME_LIMIT_MS.store(limit.as_millis() as u64, Ordering::Relaxed);
}

/// Stops scripts that ran past the limit, every 100 ms.
fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let limit = Duration::from_millis(TIME_LIMIT_MS.load(Ordering::Relaxed));
        for m in lock(&MONITORS).iter() {
            if m.is_busy(limit) && m.kill(false).is_ok() {
                warn!(
                    limit_ms = limit.as_millis() as u64,
                    "stopped a script that ran past script_time_limit_ms"
                );
            }
        }
    }
}

/// `petrel.script.kill`: stops every script running here. `OK` when one
/// was, Redis's `NOTBUSY` error otherwise.
pub(crate) fn kill(_: &mut Db<'_>, _: &[Bytes]) -> CmdResult {
    let mut killed = false;
    for m in lock(&MONITORS).iter() {
        killed |= m.kill(false).is_ok();
    }
    if killed {
        info!("SCRIPT KILL stopped a running script");
        Ok(Reply::ok())
    } else {
        Err(CmdError::reply(
            "NOTBUSY No scripts in execution right now.",
        ))
    }
}

fn malformed(what: &str) -> CmdError {
    CmdError::reply(format!("ERR malformed petrel.eval/petrel.fcall: {what}"))
}

fn number(arg: Option<&Bytes>, what: &str) -> Result<usize, CmdError> {
    arg.and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|a| a.parse::<usize>().ok())
        .ok_or_else(|| malformed(what))
}

/// What `petrel.eval` and `petrel.fcall` share: the header before the
/// program, and the keys and arguments after it.
struct Request<'a> {
    declared: usize,
    read_only: bool,
    /// The words between the mode and `numkeys` (`<body>`, or `<code> <function>`).
    program: &'a [Bytes],
    keys: &'a [Bytes],
    args: &'a [Bytes],
}

/// Parses `<name> <partitions> <declared> <rw|ro> <program: words>
/// <numkeys> <key>... <arg>...` and checks every key is in one partition.
fn request(args: &[Bytes], words: usize) -> Result<Request<'_>, CmdError> {
    let partitions = u32::try_from(number(args.get(1), "partition count")?)
        .map_err(|_| malformed("partition count"))?;
    let declared = number(args.get(2), "declared key count")?;
    let read_only = match args.get(3).map(|a| a.as_ref()) {
        Some(b"rw") => false,
        Some(b"ro") => true,
        _ => return Err(malformed("mode")),
    };
    let program = args.get(4..4 + words).ok_or_else(|| malformed("body"))?;
    let first_key = 5 + words;
    let numkeys = number(args.get(first_key - 1), "key count")?;
    let keys = args
        .get(first_key..first_key + numkeys)
        .ok_or_else(|| malformed("keys"))?;
    if declared > numkeys || partitions == 0 {
        return Err(malformed("declared key count"));
    }
    let home = keys.first().map(|k| partition_of(k, partitions));
    if keys
        .iter()
        .any(|k| Some(partition_of(k, partitions)) != home)
    {
        return Err(malformed("keys of several partitions"));
    }
    Ok(Request {
        declared,
        read_only,
        program,
        keys,
        args: &args[first_key + numkeys..],
    })
}

/// `petrel.eval`: see the module documentation.
pub(crate) fn eval(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let req = request(args, 1)?;
    run_request(db, &req, |host, opts| {
        with_thread_scripts(EngineConfig::default, register, |scripts| {
            scripts.eval(
                host,
                &req.program[0],
                &req.keys[..req.declared],
                req.args,
                opts,
            )
        })
        .map_err(|e| e.to_string())
    })
}

/// `petrel.fcall <partitions> <declared> <rw|ro> <library code> <function>
/// <numkeys> <key>... <arg>...`: `FCALL`/`FCALL_RO` of a function of that
/// library, run like `petrel.eval`. This thread's engine loads the library
/// first unless it has this very code already.
pub(crate) fn fcall(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let req = request(args, 2)?;
    let (code, function) = (&req.program[0], &req.program[1]);
    let function = std::str::from_utf8(function).map_err(|_| malformed("function name"))?;
    run_request(db, &req, |host, opts| {
        with_thread_functions(EngineConfig::default, register, |functions| {
            if let Err(e) = functions.ensure(code) {
                return e;
            }
            functions.fcall(host, function, &req.keys[..req.declared], req.args, opts)
        })
        .map_err(|e| e.to_string())
    })
}

/// A thread's new engine: the watchdog and `petrel.script.kill` see it.
fn register(monitor: &Monitor) {
    lock(&MONITORS).push(monitor.clone());
}

/// Runs one script or function with the request's keys (`run` gets the
/// host; `Err` when the engine did not start), off the async runtime's
/// worker, then turns what the host saw into the answer (see the module
/// documentation).
fn run_request(
    db: &mut Db<'_>,
    req: &Request<'_>,
    run: impl Fn(&mut PartitionHost<'_, '_, '_>, RunOptions) -> Result<Reply, String>,
) -> CmdResult {
    let mut host = PartitionHost {
        db,
        keys: req.keys,
        unlisted: None,
        storage: None,
        held: Held::default(),
    };
    let opts = RunOptions {
        read_only: req.read_only,
        cluster: false,
        budget: None,
    };
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    // Most scripts are short: run on the runtime's worker, where a hand-off
    // to a blocking thread would cost more than the script, but only for
    // INLINE_BUDGET. One that runs longer is stopped, its writes dropped,
    // and run again off the worker, so it cannot hold up the server's
    // other tasks (beacons among them).
    let ran = if multi {
        let savepoint = host.db.savepoint();
        let inline = RunOptions {
            budget: Some(INLINE_BUDGET),
            ..opts
        };
        match run(&mut host, inline) {
            Ok(reply) if past_budget(&reply) => {
                host.db.rollback(savepoint);
                host.unlisted = None;
                host.held.clear();
                tokio::task::block_in_place(|| run(&mut host, opts))
            }
            other => other,
        }
    } else {
        run(&mut host, opts)
    };
    let reply =
        ran.map_err(|e| CmdError::reply(format!("ERR the script engine did not start: {e}")))?;
    if let Some(e) = host.storage {
        return Err(CmdError::Storage(e));
    }
    if let Some(key) = host.unlisted {
        return Err(CmdError::reply(format!("{UNLISTED_KEY} {}", hex(&key))));
    }
    match &reply {
        // Stopped: nothing it wrote applies.
        _ if was_killed(&reply) => Err(CmdError::Reply(reply)),
        // Not to be carried back (nor written, as the client hears of no
        // success): refused whole.
        _ if reply.nests_deeper_than(SCRIPT_REPLY_DEPTH) => {
            Err(CmdError::reply(errors::SCRIPT_REPLY_TOO_DEEP))
        }
        // Like Redis: a script that fails keeps what it wrote before (but
        // publishes nothing).
        _ => {
            host.held.settle(0, &reply);
            Ok(with_published(reply, host.held.into_messages()))
        }
    }
}

/// The reply of a script that published `messages`: a push (which no
/// script's reply can be: Lua values never convert to one) of the reply,
/// then each message as `[channel, message, shard]`. It passes the write
/// path as any reply; [`split_published`] takes it apart at the end.
fn with_published(reply: Reply, messages: Vec<PublishMsg>) -> Reply {
    if messages.is_empty() {
        return reply;
    }
    let mut items = Vec::with_capacity(1 + messages.len());
    items.push(reply);
    items.extend(messages.into_iter().map(|m| {
        Reply::Array(vec![
            Reply::Bulk(m.channel),
            Reply::Bulk(m.message),
            Reply::Int(i64::from(m.shard)),
        ])
    }));
    Reply::Push(items)
}

/// The client's reply to `command` and the messages it published (a
/// script's, see [`with_published`]; none for any other command).
pub(crate) fn split_published(command: &Command, reply: Reply) -> (Reply, Vec<PublishMsg>) {
    let scripting = [Internal::Eval, Internal::Fcall]
        .iter()
        .any(|&i| table().internal(i).id == command.id);
    let Reply::Push(items) = reply else {
        return (reply, Vec::new());
    };
    if !scripting {
        return (Reply::Push(items), Vec::new());
    }
    let mut items = items.into_iter();
    let reply = items.next().unwrap_or(Reply::Nil);
    let messages = items
        .filter_map(|m| match m {
            Reply::Array(parts) => match <[Reply; 3]>::try_from(parts) {
                Ok([Reply::Bulk(channel), Reply::Bulk(message), Reply::Int(shard)]) => {
                    Some(PublishMsg {
                        channel,
                        message,
                        shard: shard != 0,
                        ..PublishMsg::default()
                    })
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    (reply, messages)
}

/// Lowercase hex of a key, as [`UNLISTED_KEY`] carries it.
fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// `redis.call` at this partition: the listed keys only.
struct PartitionHost<'d, 'v, 'k> {
    db: &'d mut Db<'v>,
    keys: &'k [Bytes],
    /// The first key a call touched that is not listed.
    unlisted: Option<Bytes>,
    storage: Option<StorageError>,
    /// What the script published so far.
    held: Held,
}

impl Host for PartitionHost<'_, '_, '_> {
    fn call(&mut self, args: Vec<Bytes>) -> Reply {
        if self.unlisted.is_some() || self.storage.is_some() {
            return Reply::error("ERR the script is being retried");
        }
        let Some(command) = table().command_of(&args) else {
            return Reply::error(crate::cmd::errors::unknown_call(&args));
        };
        // Before the keys: SPUBLISH's shard channel is not a key.
        if let Some(message) = held_publish(command.name(), &args) {
            self.held.push(message);
            return Reply::Int(HELD_PUBLISH_REPLY);
        }
        let mut unlisted = None;
        let _ = command.for_each_key(&args, |i, _| {
            if let Some(k) = args.get(i) {
                if unlisted.is_none() && !self.keys.contains(k) {
                    unlisted = Some(k.clone());
                }
            }
        });
        if let Some(k) = unlisted {
            self.unlisted = Some(k);
            return Reply::error("ERR the script touches a key it did not list; retried");
        }
        if let Some(reply) = keyless_reply(command.name(), &args) {
            return reply;
        }
        let run = match command.exec() {
            Exec::Partition | Exec::Split(_) | Exec::SameSlot | Exec::FanOut(_) => {
                runner_of(command)
            }
            _ => None,
        };
        let Some(run) = run else {
            return Reply::error(format!(
                "ERR Petrel does not run '{}' inside scripts yet",
                command.name()
            ));
        };
        let savepoint = self.db.savepoint();
        if let Err(e) = self.db.before_command(command, &args) {
            self.storage = Some(e);
            return Reply::error("ERR storage failure");
        }
        // SORT's patterns read keys found only as it runs: listed ones only.
        let ran = if matches!(command.name(), "sort" | "sort_ro") {
            let (ran, unlisted) = crate::cmd::sort::in_script(self.db, &args, self.keys);
            if unlisted.is_some() {
                self.db.rollback(savepoint);
                self.unlisted = unlisted;
                return Reply::error("ERR the script touches a key it did not list; retried");
            }
            ran
        } else {
            run(self.db, &args)
        };
        match ran {
            Ok(reply) => reply,
            Err(CmdError::Reply(reply)) => {
                self.db.rollback(savepoint);
                reply
            }
            Err(CmdError::Storage(e)) => {
                self.storage = Some(e);
                Reply::error("ERR storage failure")
            }
        }
    }

    fn log(&mut self, level: LogLevel, message: &[u8]) {
        let message = String::from_utf8_lossy(message);
        match level {
            LogLevel::Warning => warn!(target: "script", "{message}"),
            _ => info!(target: "script", "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    fn eval(
        h: &mut Harness,
        body: &str,
        keys: &[&str],
        args: &[&str],
    ) -> petrel_common::reply::Reply {
        let n = keys.len().to_string();
        let mut call = vec!["petrel.eval", "1", &n, "rw", body, &n];
        call.extend_from_slice(keys);
        call.extend_from_slice(args);
        h.run(&call)
    }

    #[test]
    fn a_script_reads_and_writes_its_keys() {
        let mut h = Harness::new();
        let r = eval(
            &mut h,
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[1])",
            &["k"],
            &["41"],
        );
        assert_eq!(r, int(42));
        assert_eq!(h.run(&["get", "k"]), bulk("42"));
    }

    #[test]
    fn an_unlisted_key_stops_the_run_and_writes_nothing() {
        let mut h = Harness::new();
        let r = eval(
            &mut h,
            "redis.call('SET', KEYS[1], 1); pcall(redis.call, 'SET', 'other', 2); return 1",
            &["k"],
            &[],
        );
        assert_eq!(r, err("PETRELKEY 6f74686572"));
        assert_eq!(h.run(&["get", "k"]), petrel_common::reply::Reply::Nil);
    }

    #[test]
    fn a_failing_script_keeps_earlier_writes_like_redis() {
        let mut h = Harness::new();
        let r = eval(
            &mut h,
            "redis.call('SET', KEYS[1], 1); return redis.call('HGET', KEYS[1], 'f')",
            &["k"],
            &[],
        );
        assert!(
            matches!(&r, petrel_common::reply::Reply::Error(e) if e.starts_with("WRONGTYPE")),
            "{r:?}"
        );
        assert_eq!(h.run(&["get", "k"]), bulk("1"));
    }

    fn fcall(
        h: &mut Harness,
        code: &str,
        function: &str,
        keys: &[&str],
    ) -> petrel_common::reply::Reply {
        let n = keys.len().to_string();
        let mut call = vec!["petrel.fcall", "1", &n, "rw", code, function, &n];
        call.extend_from_slice(keys);
        h.run(&call)
    }

    #[test]
    fn a_function_runs_and_a_new_library_code_replaces_the_old() {
        let mut h = Harness::new();
        let v1 = "#!lua name=lib\nredis.register_function('f', function(keys) return redis.call('INCR', keys[1]) end)";
        assert_eq!(fcall(&mut h, v1, "f", &["k"]), int(1));
        assert_eq!(fcall(&mut h, v1, "f", &["k"]), int(2));
        let v2 = "#!lua name=lib\nredis.register_function('f', function(keys) return redis.call('INCRBY', keys[1], 10) end)";
        assert_eq!(fcall(&mut h, v2, "f", &["k"]), int(12));
        // Another library now owns `f` (the first one was deleted elsewhere).
        let other = "#!lua name=other\nredis.register_function('f', function() return 'other' end)";
        assert_eq!(fcall(&mut h, other, "f", &[]), bulk("other"));
        assert_eq!(
            fcall(&mut h, other, "g", &[]),
            err("ERR Function not found")
        );
        let r = fcall(&mut h, v1, "f", &["x"]);
        assert_eq!(r, int(1));
        let r = fcall(&mut h, v1, "f", &["k", "unlisted"]);
        assert_eq!(r, int(13));
        let sneaky = "#!lua name=s\nredis.register_function('s', function() return redis.call('GET', 'zz') end)";
        assert_eq!(fcall(&mut h, sneaky, "s", &[]), err("PETRELKEY 7a7a"));
    }

    #[test]
    fn replies_too_deep_to_carry_are_refused_and_write_nothing() {
        let mut h = Harness::new();
        for body in [
            "redis.call('SET', KEYS[1], 1) local t = {} t[1] = t return t",
            "redis.call('SET', KEYS[1], 1) local t = {} local c = t for i = 1, 100 do c[1] = {} c = c[1] end return t",
        ] {
            assert_eq!(
                eval(&mut h, body, &["k"], &[]),
                err(petrel_common::reply::errors::SCRIPT_REPLY_TOO_DEEP)
            );
            assert_eq!(h.run(&["get", "k"]), petrel_common::reply::Reply::Nil);
        }
        let ok = "local t = {} local c = t for i = 1, 63 do c[1] = {} c = c[1] end return t";
        assert!(!eval(&mut h, ok, &["k"], &[]).is_error());
    }

    /// Past the inline budget a script runs again off the worker: its
    /// first run's writes are dropped, so it writes once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_script_runs_again_off_the_worker_and_writes_once() {
        // The loop must outlast the inline budget, not the watchdog's limit
        // (on a loaded machine it can take seconds): no other test here
        // relies on that limit. Tests that run `petrel.script.kill` stop
        // every script of this process, this one too: a killed run writes
        // nothing, so it is run again.
        super::set_time_limit(std::time::Duration::from_secs(120));
        let mut h = Harness::new();
        let body = "local n = redis.call('INCR', KEYS[1]) local x = 0 \
                    for i = 1, 30000000 do x = x + i end return n";
        let mut reply = eval(&mut h, body, &["k"], &[]);
        for _ in 0..5 {
            if !petrel_script::was_killed(&reply) {
                break;
            }
            reply = eval(&mut h, body, &["k"], &[]);
        }
        assert_eq!(reply, int(1));
        assert_eq!(h.run(&["get", "k"]), bulk("1"));
    }

    #[test]
    fn messages_are_held_and_carried_with_the_reply_and_dropped_on_failure() {
        use petrel_common::command::{table, Internal};
        use petrel_common::pubsub::PublishMsg;
        let mut h = Harness::new();
        let eval_cmd = table().internal(Internal::Eval);
        let message = |channel: &str, text: &str, shard| PublishMsg {
            channel: bytes::Bytes::copy_from_slice(channel.as_bytes()),
            message: bytes::Bytes::copy_from_slice(text.as_bytes()),
            shard,
            ..PublishMsg::default()
        };
        // SPUBLISH's shard channel is no key: not an unlisted one.
        let body = "redis.call('SET', KEYS[1], 'v') local n = redis.call('PUBLISH', 'ch', 'one') \
                    redis.call('SPUBLISH', 'elsewhere', 'two') return n";
        let reply = eval(&mut h, body, &["k"], &[]);
        let (reply, published) = super::split_published(eval_cmd, reply);
        assert_eq!(reply, int(0));
        assert_eq!(
            published,
            vec![
                message("ch", "one", false),
                message("elsewhere", "two", true)
            ]
        );
        let (reply, published) =
            super::split_published(eval_cmd, eval(&mut h, "return 1", &[], &[]));
        assert_eq!((reply, published), (int(1), Vec::new()));
        // A failing script keeps its writes but publishes nothing.
        let body =
            "redis.call('SET', KEYS[1], 'w') redis.call('PUBLISH', 'ch', 'lost') error('boom')";
        let (reply, published) = super::split_published(eval_cmd, eval(&mut h, body, &["k"], &[]));
        assert!(reply.is_error(), "{reply:?}");
        assert!(published.is_empty());
        assert_eq!(h.run(&["get", "k"]), bulk("w"));
        // Only a script's reply is taken apart.
        let push = petrel_common::reply::Reply::Push(vec![int(1), int(2)]);
        let get = table().find(b"get").expect("get");
        assert_eq!(
            super::split_published(get, push.clone()),
            (push, Vec::new())
        );
    }

    #[test]
    fn malformed_requests_are_errors() {
        let mut h = Harness::new();
        for bad in [
            vec!["petrel.eval", "x", "0", "rw", "return 1", "0"],
            vec!["petrel.eval", "1", "2", "rw", "return 1", "1", "k"],
            vec!["petrel.eval", "1", "0", "zz", "return 1", "0"],
            vec!["petrel.eval", "1", "0", "rw", "return 1", "3", "k"],
            vec!["petrel.eval", "0", "0", "rw", "return 1", "0"],
            vec!["petrel.fcall", "1", "0", "rw", "#!lua name=x", "0"],
        ] {
            assert!(h.run(&bad).is_error(), "{bad:?}");
        }
    }
}
