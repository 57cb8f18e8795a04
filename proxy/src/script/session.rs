//! One run of a script at the proxy, for a script whose keys span
//! partitions (`crate::txn::script` drives the transaction around it).
//!
//! The script runs on a blocking thread with that thread's Lua engine; its
//! `redis.call`s leave as events for the transaction and wait for their
//! replies. A call whose keys are all in one partition runs there; one over
//! keys of several partitions runs by its plan (split or carried, as inside
//! MULTI: `crate::txn::plan`); `PING`, `ECHO` and `TIME` are answered here;
//! a command that needs every partition is refused with an error the
//! script sees. `PUBLISH` and `SPUBLISH` are held: the
//! run ends with its messages, sent once the transaction commits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use petrel_common::command::{table, Exec};
use petrel_common::hash::partition_of;
use petrel_common::pubsub::PublishMsg;
use petrel_common::reply::{errors, Reply, SCRIPT_REPLY_DEPTH};
use petrel_common::sync::lock;
use petrel_script::{
    held_publish, keyless_reply, was_killed, with_thread_functions, with_thread_scripts,
    EngineConfig, Held, Host, Monitor, RunOptions, HELD_PUBLISH_REPLY,
};
use tokio::sync::mpsc;

use crate::acl::{Denied, User};
use crate::program::Program;
use crate::pubsub::publish::Outgoing;
use crate::txn::plan::{plan, Planned};
use crate::txn::script::{Event, Session, Start};
use crate::txn::Call;

/// The monitor of every engine that runs scripts at this proxy.
static ENGINES: LazyLock<Mutex<Vec<Monitor>>> = LazyLock::new(Default::default);

/// `SCRIPT KILL` here: stops every script running at this proxy (scripts
/// across partitions); whether one was.
pub(crate) fn kill_running() -> bool {
    let mut killed = false;
    for m in lock(&ENGINES).iter() {
        killed |= kill(m);
    }
    killed
}

/// Stops what `m`'s engine runs, a script or a function; whether one ran.
fn kill(m: &Monitor) -> bool {
    m.kill(false).is_ok() || m.kill(true).is_ok()
}

/// A thread's new engine: `SCRIPT KILL` sees it.
fn register(m: &Monitor) {
    lock(&ENGINES).push(m.clone());
}

/// What the script is, and how it was called.
#[derive(Clone)]
pub(crate) struct Script {
    pub(crate) program: Program,
    pub(crate) keys: Vec<Bytes>,
    pub(crate) argv: Vec<Bytes>,
    pub(crate) read_only: bool,
    /// The calling user's rules when they limit anything
    /// (`crate::acl::Acl::limits`): each `redis.call` is checked.
    pub(crate) acl: Option<User>,
}

/// Makes runs of `script` on a table of `partitions` partitions.
pub(crate) fn starter(script: Script, partitions: u32) -> Start {
    Box::new(move || {
        let script = script.clone();
        start(partitions, script.acl.clone(), move |host, slot| {
            run_checked(host, &script, slot)
        })
    })
}

/// One item of a `MULTI` block that holds a script: the block runs here
/// as one transaction, in order.
#[derive(Clone)]
pub(crate) enum BlockItem {
    /// A data command (its words).
    Command(Vec<Bytes>),
    Script(Script),
    /// A queued `PUBLISH` or `SPUBLISH`: held, sent once the block
    /// commits, its receiver count then put in its place in the reply.
    Publish(PublishMsg),
    /// Answered already (a command the proxy answers, or refused).
    Reply(Reply),
}

/// Makes runs of a `MULTI` block: the watched keys (with what WATCH read)
/// are checked first, then each item runs; the reply is EXEC's.
pub(crate) fn block_starter(
    watched: Vec<(Bytes, i64)>,
    items: Vec<BlockItem>,
    acl: Option<User>,
    partitions: u32,
) -> Start {
    Box::new(move || {
        let (watched, items) = (watched.clone(), items.clone());
        start(partitions, acl.clone(), move |host, slot| {
            for (key, seen) in &watched {
                let now = host.call(vec![Bytes::from_static(b"petrel.fingerprint"), key.clone()]);
                match now {
                    Reply::Int(n) if n == *seen => {}
                    Reply::Int(_) => return Err(Reply::NilArray),
                    other => return Err(other),
                }
            }
            let mut replies = Vec::with_capacity(items.len());
            for (at, item) in items.iter().enumerate() {
                replies.push(match item {
                    BlockItem::Command(args) => {
                        host.scripted = false;
                        let reply = host.call(args.clone());
                        host.scripted = true;
                        reply
                    }
                    BlockItem::Reply(r) => r.clone(),
                    BlockItem::Script(script) => run_checked(host, script, slot)?,
                    BlockItem::Publish(message) => {
                        host.held.push(Outgoing {
                            message: message.clone(),
                            reply_at: Some(at),
                        });
                        Reply::Int(HELD_PUBLISH_REPLY)
                    }
                });
            }
            Ok(Reply::Array(replies))
        })
    })
}

/// Where a run's engine is, while it runs (for `stop`).
type MonitorSlot = Arc<Mutex<Option<Monitor>>>;

/// Starts one run on a blocking thread: `body` gets the host and answers
/// the run's reply (`Err`: stopped, nothing may apply).
fn start(
    partitions: u32,
    acl: Option<User>,
    body: impl FnOnce(&mut TxnHost, &MonitorSlot) -> Result<Reply, Reply> + Send + 'static,
) -> Session {
    let (events_tx, events) = mpsc::unbounded_channel();
    let (replies, replies_rx) = std::sync::mpsc::channel();
    let stopped = Arc::new(AtomicBool::new(false));
    let monitor_slot: MonitorSlot = Arc::new(Mutex::new(None));
    let stop = {
        let stopped = stopped.clone();
        let monitor_slot = monitor_slot.clone();
        Box::new(move || {
            stopped.store(true, Ordering::SeqCst);
            // Only while this run is on its thread: the slot is emptied
            // before the thread moves on to anything else.
            if let Some(m) = lock(&monitor_slot).as_ref() {
                kill(m);
            }
        })
    };
    tokio::task::spawn_blocking(move || {
        let done = events_tx.clone();
        let mut host = TxnHost {
            events: events_tx,
            replies: replies_rx,
            stopped,
            partitions,
            acl,
            held: Held::default(),
            scripted: true,
        };
        let _ = done.send(match body(&mut host, &monitor_slot) {
            Ok(reply) => Event::Done(reply, host.held.into_messages()),
            Err(reply) => Event::Stopped(reply),
        });
    });
    Session {
        events,
        replies,
        stop,
    }
}

/// Runs a script or function with `host` (see [`run_program`]): `Err`
/// when it was stopped (nothing it did may apply) or its reply is too deep
/// to carry (refused whole, as at a primary). What it published stays held
/// unless it failed.
fn run_checked(host: &mut TxnHost, script: &Script, slot: &MonitorSlot) -> Result<Reply, Reply> {
    let mark = host.held.mark();
    let reply = run_program(host, script, slot);
    if was_killed(&reply) {
        return Err(reply);
    }
    if reply.nests_deeper_than(SCRIPT_REPLY_DEPTH) {
        return Err(Reply::error(errors::SCRIPT_REPLY_TOO_DEEP));
    }
    host.held.settle(mark, &reply);
    Ok(reply)
}

/// Runs a script or function with `host`, its engine in `slot` meanwhile.
fn run_program(host: &mut TxnHost, script: &Script, slot: &MonitorSlot) -> Reply {
    let opts = RunOptions {
        read_only: script.read_only,
        cluster: false,
        budget: None,
    };
    let (keys, argv) = (&script.keys, &script.argv);
    let watched = |monitor: Monitor| *lock(slot) = Some(monitor);
    let ran = match &script.program {
        Program::Script(body) => with_thread_scripts(EngineConfig::default, register, |s| {
            watched(s.monitor());
            let reply = s.eval(host, body, keys, argv, opts);
            *lock(slot) = None;
            reply
        }),
        Program::Function { library_code, name } => {
            with_thread_functions(EngineConfig::default, register, |f| {
                watched(f.monitor());
                let reply = match (f.ensure(library_code), std::str::from_utf8(name)) {
                    (Err(e), _) => e,
                    (Ok(()), Err(_)) => Reply::error("ERR Function not found"),
                    (Ok(()), Ok(name)) => f.fcall(host, name, keys, argv, opts),
                };
                *lock(slot) = None;
                reply
            })
        }
    };
    ran.unwrap_or_else(|e| Reply::error(format!("ERR the script engine did not start: {e}")))
}

/// `redis.call` from a script run by the proxy.
struct TxnHost {
    /// Rules each call is checked against (`None`: the user may do all).
    acl: Option<User>,
    events: mpsc::UnboundedSender<Event>,
    replies: std::sync::mpsc::Receiver<Reply>,
    stopped: Arc<AtomicBool>,
    partitions: u32,
    /// What the run published so far, in order.
    held: Held<Outgoing>,
    /// Whether calls come from a script (not a MULTI block's own
    /// commands): SORT then sorts a set even `BY nosort`, as Redis does.
    scripted: bool,
}

impl Host for TxnHost {
    fn acl_check(&mut self, args: &[Bytes]) -> Result<(), String> {
        let (Some(user), Some(command)) = (&self.acl, table().command_of(args)) else {
            return Ok(());
        };
        // Redis's words inside scripts (its NOPERM texts are for clients).
        user.check(command, args).map_err(|denied| match denied {
            Denied::Command(_) => "can't run this command or subcommand".into(),
            Denied::Keys => {
                "can't access at least one of the keys mentioned in the command arguments".into()
            }
        })
    }

    fn call(&mut self, args: Vec<Bytes>) -> Reply {
        if self.stopped.load(Ordering::SeqCst) {
            return Reply::error("ERR the script was stopped");
        }
        let Some(command) = table().command_of(&args) else {
            return Reply::error(format!(
                "ERR unknown command '{}'",
                String::from_utf8_lossy(args.first().map_or(&[][..], |a| a))
            ));
        };
        // Before the keys: SPUBLISH's shard channel is not a key.
        if let Some(message) = held_publish(command.name(), &args) {
            self.held.push(Outgoing::of_script(message));
            return Reply::Int(HELD_PUBLISH_REPLY);
        }
        if matches!(command.name(), "sort" | "sort_ro") {
            let n = self.partitions;
            let scripted = self.scripted;
            return crate::txn::sort::steps(&args, scripted, n, &mut |event| self.ask(event));
        }
        let mut partitions = Vec::new();
        let _ = command.for_each_key(&args, |i, _| {
            if let Some(k) = args.get(i) {
                partitions.push(partition_of(k, self.partitions));
            }
        });
        partitions.sort_unstable();
        partitions.dedup();
        if partitions.is_empty() {
            if let Some(reply) = keyless_reply(command.name(), &args) {
                return reply;
            }
        }
        let runs_at_partitions = !matches!(command.exec(), Exec::FanOut(_) | Exec::Proxy);
        let call = Call { command, args };
        let event = match partitions.as_slice() {
            [partition] if runs_at_partitions => Event::Call {
                partition: *partition,
                call,
            },
            // Split or carried across partitions as inside MULTI.
            [_, _, ..] if runs_at_partitions => {
                let n = self.partitions;
                match plan(&[call], &[], |k| partition_of(k, n)) {
                    Planned::Txn(plan) => Event::Planned(plan),
                    Planned::OnePartition => {
                        return Reply::error("ERR Petrel could not plan a script's call")
                    }
                }
            }
            _ => {
                return Reply::error(format!(
                    "ERR Petrel does not run '{}' inside scripts yet",
                    command.name()
                ))
            }
        };
        self.ask(event)
    }
}

impl TxnHost {
    /// Runs `event` in the transaction and waits for its reply.
    fn ask(&mut self, event: Event) -> Reply {
        if self.events.send(event).is_err() {
            self.stopped.store(true, Ordering::SeqCst);
            return Reply::error("ERR the script was stopped");
        }
        match self.replies.recv() {
            Ok(reply) => reply,
            Err(_) => {
                self.stopped.store(true, Ordering::SeqCst);
                Reply::error("ERR the script was stopped")
            }
        }
    }
}
