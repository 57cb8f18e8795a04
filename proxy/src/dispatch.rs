//! From an argument vector to an [`Action`]: look the command up in the
//! table, check arity and authentication in Redis's order, then run it
//! locally or hand it to the router.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use petrel_common::reply::{errors, Reply};

use petrel_common::command::{table, Command, CommandFlags, Exec};

use crate::cmd;
use crate::session::Session;
use crate::state::Shared;
use crate::util::c_str;

/// What the connection does with a command.
pub enum Action {
    /// Reply now.
    Reply(Reply),
    /// Reply when the future completes (routed commands, INFO).
    Later(BoxFuture<'static, Reply>),
    /// Reply, then close the connection (QUIT).
    Close(Reply),
    /// Send nothing (CLIENT REPLY OFF / SKIP).
    NoReply,
}

/// What a local command handler may use.
pub struct Ctx<'a> {
    pub session: &'a mut Session,
    pub shared: &'a Arc<Shared>,
    /// Full name of the running command (`client|list`).
    pub name: &'static str,
    /// Keys a handler's `Action::Later` touches (EXEC, WATCH), to keep one
    /// client's commands in order.
    pub touches: Option<Touches>,
}

/// A dispatched command: what to do and the name it is counted under.
pub struct Dispatched {
    pub action: Action,
    /// The command it resolved to; `None` for unknown commands.
    pub command: Option<&'static Command>,
    /// Full command name for stats; `"unknown"` for unknown commands.
    pub name: &'static str,
    /// For routed commands, what they touch (to keep one client's commands in order).
    pub touches: Option<Touches>,
}

/// The data a routed command reads or writes.
///
/// Servers run requests concurrently, so two pipelined commands of one
/// client on the same key must not both be in flight: the later one waits
/// for the earlier one, as Redis's one-command-at-a-time order promises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touches {
    /// Sorted hashes of the keys.
    pub keys: Vec<u64>,
    /// Every key (DBSIZE, FLUSHALL).
    pub all: bool,
    pub write: bool,
}

impl Touches {
    /// Whether running `self` concurrently with `other` could reorder their effects.
    pub fn conflicts(&self, other: &Touches) -> bool {
        if !self.write && !other.write {
            return false;
        }
        if self.all || other.all {
            return true;
        }
        let (small, big) = if self.keys.len() <= other.keys.len() {
            (&self.keys, &other.keys)
        } else {
            (&other.keys, &self.keys)
        };
        small.iter().any(|k| big.binary_search(k).is_ok())
    }

    fn of(command: &Command, args: &[Bytes]) -> Touches {
        let mut hashes = Vec::new();
        // Every routed request comes through here: keys are hashed as the
        // key specs find them, with no list of positions in between.
        let _ = command.for_each_key(args, |i, _| {
            if let Some(k) = args.get(i) {
                hashes.push(Touches::hash(k));
            }
        });
        hashes.sort_unstable();
        hashes.dedup();
        Touches {
            keys: hashes,
            all: matches!(command.exec(), Exec::FanOut(_)),
            write: command.is_write(),
        }
    }

    /// What touching `keys` (writing them or not) amounts to.
    pub fn keys<K: AsRef<[u8]>>(keys: &[K], write: bool) -> Touches {
        Touches::hashed(keys.iter(), write)
    }

    fn hash(key: &[u8]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(key, &mut h);
        std::hash::Hasher::finish(&h)
    }

    fn hashed<K: AsRef<[u8]>>(keys: impl Iterator<Item = K>, write: bool) -> Touches {
        let mut hashes: Vec<u64> = keys.map(|k| Touches::hash(k.as_ref())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        Touches {
            keys: hashes,
            all: false,
            write,
        }
    }
}

/// Decides what to do with one request (`args[0]` is the command name).
pub fn dispatch(session: &mut Session, shared: &Arc<Shared>, args: Vec<Bytes>) -> Dispatched {
    let reply = |command: Option<&'static Command>, r| Dispatched {
        action: Action::Reply(r),
        command,
        name: command.map_or("unknown", Command::name),
        touches: None,
    };
    // A command rejected inside MULTI makes EXEC fail.
    let reject = |session: &mut Session, command, r| {
        session.flag_transaction();
        reply(command, r)
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
    let mut touches = None;
    let action = match command.exec() {
        Exec::Proxy => match cmd::local_handler(command) {
            Some(handler) => {
                let mut ctx = Ctx {
                    session,
                    shared,
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
            Action::Later(shared.router_for(session.db).run(command, args))
        }
    };
    // CLIENT PAUSE: routed work (and EXEC's) waits while clients are paused.
    let write = command.is_write() || touches.as_ref().is_some_and(|t| t.write);
    let action = cmd::client::gate(shared, action, write);
    Dispatched {
        action,
        command: Some(command),
        name,
        touches,
    }
}

/// Redis 7's text: `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
pub fn unknown_command(args: &[Bytes]) -> String {
    let name = args.first().map(|n| c_str(n)).unwrap_or_default();
    let mut listed = String::new();
    for a in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let a = c_str(a);
        let a: String = truncate_bytes(&a, room);
        listed.push_str(&format!("'{a}' "));
    }
    crate::util::one_line(&format!(
        "ERR unknown command '{}', with args beginning with: {listed}",
        truncate_bytes(&name, 128)
    ))
}

/// Redis 7's text: `ERR unknown subcommand 'foo'. Try CLIENT HELP.`.
pub fn unknown_subcommand(parent: &Command, sub: &[u8]) -> String {
    crate::util::one_line(&format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate_bytes(&c_str(sub), 128),
        parent.name().to_ascii_uppercase()
    ))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn unknown_command_text_matches_redis() {
        assert_eq!(
            unknown_command(&args(&["foo", "a", "b"])),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            unknown_command(&args(&["foo"])),
            "ERR unknown command 'foo', with args beginning with: "
        );
        let long = "x".repeat(300);
        let text = unknown_command(&args(&["foo", &long, "next"]));
        assert_eq!(
            text,
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "x".repeat(128)
            )
        );
        assert_eq!(
            unknown_command(&args(&["a\r\nb"])),
            "ERR unknown command 'a  b', with args beginning with: "
        );
    }

    #[test]
    fn conflicts_need_a_shared_key_and_a_write() {
        let t = |name: &str, a: &[&str]| {
            let spec = table().find(name.as_bytes()).expect("known");
            let mut v = args(&[name]);
            v.extend(args(a));
            Touches::of(spec, &v)
        };
        assert!(t("set", &["k", "v"]).conflicts(&t("get", &["k"])));
        assert!(!t("set", &["k", "v"]).conflicts(&t("get", &["j"])));
        assert!(!t("get", &["k"]).conflicts(&t("mget", &["j", "k"])));
        assert!(t("mset", &["a", "1", "k", "2"]).conflicts(&t("get", &["k"])));
        assert!(!t("mset", &["a", "1", "k", "2"]).conflicts(&t("get", &["1"])));
        assert!(t("flushdb", &[]).conflicts(&t("get", &["x"])));
        assert!(!t("dbsize", &[]).conflicts(&t("get", &["x"])));
        assert!(t("dbsize", &[]).conflicts(&t("set", &["x", "y"])));
    }

    #[test]
    fn unknown_subcommand_text_matches_redis() {
        let client = table().find(b"client").expect("client");
        assert_eq!(
            unknown_subcommand(client, b"foo"),
            "ERR unknown subcommand 'foo'. Try CLIENT HELP."
        );
    }
}
