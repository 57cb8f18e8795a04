//! From an argument vector to an [`Action`]: look the command up in the
//! table, check arity and authentication in Redis's order, then run it
//! locally or hand it to the router.

use std::sync::Arc;

use bytes::Bytes;
use petrel_common::command::{table, Command, CommandFlags, Exec};
use petrel_common::reply::{errors, Reply};

use crate::action::{Action, Ctx, Touches};
use crate::cmd;
use crate::pause;
use crate::session::Session;
use crate::state::Shared;
use crate::util::{unknown_command, unknown_subcommand};

/// A dispatched command: what to do and the name it is counted under.
pub(crate) struct Dispatched {
    pub(crate) action: Action,
    /// The command it resolved to; `None` for unknown commands.
    pub(crate) command: Option<&'static Command>,
    /// Full command name for stats; `"unknown"` for unknown commands.
    pub(crate) name: &'static str,
    /// For routed commands, what they touch (to keep one client's commands in order).
    pub(crate) touches: Option<Touches>,
    /// Refused before running (unknown, wrong arity, NOAUTH, ACL, not
    /// queueable): Redis leaves such commands out of the slow log.
    pub(crate) rejected: bool,
}

/// Decides what to do with one request (`args[0]` is the command name).
pub(crate) fn dispatch(
    session: &mut Session,
    shared: &Arc<Shared>,
    args: Vec<Bytes>,
) -> Dispatched {
    let reply = |command: Option<&'static Command>, r| Dispatched {
        action: Action::Reply(r),
        command,
        name: command.map_or("unknown", Command::name),
        touches: None,
        rejected: false,
    };
    // A command rejected inside MULTI makes EXEC fail.
    let reject = |session: &mut Session, command, r| {
        session.flag_transaction();
        Dispatched {
            rejected: true,
            ..reply(command, r)
        }
    };
    let table = table();
    // The one name lookup of a request: the command, then its subcommand.
    let top = match args.first().and_then(|n| table.find(n)) {
        Some(c) if c.is_served() && c.parent.is_none() => c,
        _ => return reject(session, None, Reply::Error(unknown_command(&args))),
    };
    if !top.arity_ok(args.len()) {
        return reject(
            session,
            Some(top),
            Reply::Error(errors::wrong_arity(top.name())),
        );
    }
    let command = match args.get(1) {
        Some(sub) if !top.subcommands.is_empty() => match table.subcommand(top, sub) {
            Some(c) if c.is_served() => c,
            _ => {
                return reject(
                    session,
                    Some(top),
                    Reply::Error(unknown_subcommand(top, sub)),
                )
            }
        },
        _ => top,
    };
    let name = command.name();
    if command.parent.is_some() && !command.arity_ok(args.len()) {
        return reject(
            session,
            Some(command),
            Reply::Error(errors::wrong_arity(name)),
        );
    }
    let open = command.has(CommandFlags::NO_AUTH);
    if !session.authenticated && !open && shared.password_required() {
        return reject(
            session,
            Some(command),
            Reply::error("NOAUTH Authentication required."),
        );
    }
    // ACL: AUTH and HELLO (no_auth) stay open so a user can switch.
    if !open {
        if let Err(denied) = shared.acl.check(&session.user, command, &args) {
            return reject(session, Some(command), Reply::Error(denied.text()));
        }
    }
    // RESP2 subscribed mode (RESP3 allows every command while subscribed).
    if session.in_subscribed_mode() && !allowed_when_subscribed(top.name()) {
        let why = format!(
            "Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        // Redis words a refused EXEC as the end of its transaction.
        let text = if name == "exec" {
            format!("EXECABORT Transaction discarded because of: {why}")
        } else {
            format!("ERR {why}")
        };
        return reject(session, Some(command), Reply::Error(text));
    }
    if session.tx.is_some() && !cmd::transactions::runs_inside_multi(top.name()) {
        if let Some(why) = cmd::transactions::cannot_queue(command) {
            return reject(session, Some(command), Reply::Error(why));
        }
        if let Some(tx) = &mut session.tx {
            tx.queued.push((command, args));
            session.handle.info().multi = tx.queued.len() as i64;
        }
        return reply(Some(command), Reply::Status("QUEUED".into()));
    }
    session.handle.info().last_cmd = name;
    if let Some(text) = shared.acl.sort_denied(&session.user, command, &args) {
        return reject(session, Some(command), Reply::Error(text));
    }
    let mut touches = None;
    let action = match command.exec() {
        Exec::Proxy => match cmd::local_handler(command) {
            Some(handler) => {
                let mut ctx = Ctx {
                    session,
                    shared,
                    handlers: cmd::local_handler,
                    name,
                    touches: None,
                };
                let action = handler(&mut ctx, &args);
                touches = ctx.touches;
                action
            }
            None => Action::Reply(Reply::Error(unknown_command(&args))),
        },
        Exec::Container | Exec::Unserved | Exec::Internal => {
            Action::Reply(Reply::Error(errors::wrong_arity(name)))
        }
        Exec::Partition | Exec::Split(_) | Exec::FanOut(_) | Exec::SameSlot => {
            touches = Some(Touches::of(command, &args));
            let router = shared.router_for(session.db);
            if command.blocks(&args) {
                Action::Later(blocked(
                    &session.handle,
                    router.run_unblockable(command, args, session.handle.unblock.clone()),
                ))
            } else if session.tracking.is_some() && command.has(CommandFlags::READONLY) {
                let keys = command
                    .key_positions(&args)
                    .into_iter()
                    .filter_map(|i| args.get(i).cloned())
                    .collect();
                let read = router.run(command, args);
                Action::Later(cmd::tracking::track_read(shared, session, keys, read))
            } else {
                Action::Later(router.run(command, args))
            }
        }
    };
    // CLIENT PAUSE: routed work (and EXEC's) waits while clients are paused.
    let write = command.is_write() || touches.as_ref().is_some_and(|t| t.write);
    let action = match action {
        Action::Later(work) => Action::Later(pause::gate(&shared.clients.pause, work, write)),
        other => other,
    };
    Dispatched {
        action,
        command: Some(command),
        name,
        touches,
        rejected: false,
    }
}

/// The commands a RESP2 connection may send while subscribed.
fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "ssubscribe"
            | "psubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "punsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// `work`, a blocking command, counted as such while it waits (CLIENT LIST
/// flag `b`, INFO's `blocked_clients`).
fn blocked(
    handle: &Arc<crate::state::ClientHandle>,
    work: futures::future::BoxFuture<'static, Reply>,
) -> futures::future::BoxFuture<'static, Reply> {
    struct Waiting(Arc<crate::state::ClientHandle>);
    impl Drop for Waiting {
        fn drop(&mut self) {
            let mut info = self.0.info();
            info.blocked = info.blocked.saturating_sub(1);
        }
    }
    handle.info().blocked += 1;
    // A request left over from an earlier command does not end this one.
    handle.unblock.take();
    let waiting = Waiting(handle.clone());
    Box::pin(async move {
        let _waiting = waiting;
        work.await
    })
}
