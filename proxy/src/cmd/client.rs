//! `CLIENT` subcommands, with Redis 7's replies and error texts, and the
//! CLIENT PAUSE gate ([`gate`]) the dispatcher puts routed commands through.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::server::admin::timeout_ms;
use crate::dispatch::{Action, Ctx};
use crate::state::Shared;
use crate::util::{c_str, parse_i64};

/// Redis's rule for client names and library attributes: printable ASCII, no spaces.
fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Checks a client name (CLIENT SETNAME, HELLO SETNAME).
pub fn validate_name(name: &[u8]) -> Result<(), &'static str> {
    if valid_attr(name) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    }
}

/// `CLIENT SETNAME name` (an empty name clears it).
pub fn setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if let Err(e) = validate_name(&args[2]) {
        return Action::Reply(Reply::error(e));
    }
    ctx.session.handle.info().name = String::from_utf8_lossy(&args[2]).into_owned();
    Action::Reply(Reply::ok())
}

/// `CLIENT GETNAME`.
pub fn getname(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let name = ctx.session.handle.info().name.clone();
    Action::Reply(if name.is_empty() {
        Reply::Nil
    } else {
        Reply::bulk(name)
    })
}

/// `CLIENT ID`.
pub fn id(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int(ctx.session.id() as i64))
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2).
pub fn setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let attr = &args[2];
    let value = &args[3];
    let is_name = attr.eq_ignore_ascii_case(b"lib-name");
    if !is_name && !attr.eq_ignore_ascii_case(b"lib-ver") {
        return Action::Reply(Reply::error(format!(
            "ERR Unrecognized option '{}'",
            c_str(attr)
        )));
    }
    if !valid_attr(value) {
        return Action::Reply(Reply::error(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            c_str(attr)
        )));
    }
    let value = String::from_utf8_lossy(value).into_owned();
    let mut info = ctx.session.handle.info();
    if is_name {
        info.lib_name = value;
    } else {
        info.lib_ver = value;
    }
    Action::Reply(Reply::ok())
}

/// `CLIENT INFO`: this connection's CLIENT LIST line.
pub fn info(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let line = format!("{}\n", ctx.session.handle.describe());
    Action::Reply(Reply::Verbatim(Bytes::from(line)))
}

/// Which client types a `TYPE` filter selects: every proxy client is "normal".
fn type_matches(t: &[u8]) -> Option<bool> {
    let t = t.to_ascii_lowercase();
    match t.as_slice() {
        b"normal" => Some(true),
        b"master" | b"slave" | b"replica" | b"pubsub" => Some(false),
        _ => None,
    }
}

/// `CLIENT LIST [TYPE type] | [ID id ...]`.
pub fn list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let clients = ctx.shared.clients.snapshot();
    let mut out = String::new();
    if args.len() == 4 && args[2].eq_ignore_ascii_case(b"type") {
        match type_matches(&args[3]) {
            None => {
                return Action::Reply(Reply::error(format!(
                    "ERR Unknown client type '{}'",
                    c_str(&args[3])
                )))
            }
            Some(false) => {}
            Some(true) => {
                for c in &clients {
                    out.push_str(&c.describe());
                    out.push('\n');
                }
            }
        }
    } else if args.len() > 3 && args[2].eq_ignore_ascii_case(b"id") {
        for a in &args[3..] {
            let Some(id) = parse_i64(a) else {
                return Action::Reply(Reply::error("ERR Invalid client ID"));
            };
            if let Some(c) = clients.iter().find(|c| c.id as i64 == id) {
                out.push_str(&c.describe());
                out.push('\n');
            }
        }
    } else if args.len() != 2 {
        return Action::Reply(Reply::error(errors::SYNTAX));
    } else {
        for c in &clients {
            out.push_str(&c.describe());
            out.push('\n');
        }
    }
    Action::Reply(Reply::Verbatim(Bytes::from(out)))
}

/// `CLIENT KILL ip:port` or `CLIENT KILL <filter> <value> ...` (ID, ADDR,
/// LADDR, TYPE, USER, SKIPME).
pub fn kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let me = ctx.session.id();
    let clients = ctx.shared.clients.snapshot();
    if args.len() == 3 {
        // Old form: by address, replies OK.
        let addr = c_str(&args[2]);
        let Some(c) = clients.iter().find(|c| c.addr.to_string() == addr) else {
            return Action::Reply(Reply::error("ERR No such client"));
        };
        if c.id == me {
            return Action::Close(Reply::ok());
        }
        c.kill.cancel();
        return Action::Reply(Reply::ok());
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut type_ok = true;
    let mut skipme = true;
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Action::Reply(Reply::error(errors::SYNTAX));
        };
        let opt = args[i].to_ascii_lowercase();
        match opt.as_slice() {
            b"id" => match parse_i64(value) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Action::Reply(Reply::error("ERR client-id should be greater than 0")),
            },
            b"type" => match type_matches(value) {
                Some(ok) => type_ok = ok,
                None => {
                    return Action::Reply(Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        c_str(value)
                    )))
                }
            },
            b"addr" => addr = Some(c_str(value)),
            b"laddr" => laddr = Some(c_str(value)),
            b"user" => {
                if value.as_ref() != b"default" {
                    return Action::Reply(Reply::error(format!(
                        "ERR No such user '{}'",
                        c_str(value)
                    )));
                }
            }
            b"skipme" => {
                if value.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if value.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    return Action::Reply(Reply::error(errors::SYNTAX));
                }
            }
            _ => return Action::Reply(Reply::error(errors::SYNTAX)),
        }
        i += 2;
    }
    let mut killed = 0;
    let mut close_me = false;
    for c in clients.iter().filter(|_| type_ok) {
        if id.is_some_and(|id| c.id != id)
            || addr.as_ref().is_some_and(|a| c.addr.to_string() != *a)
            || laddr.as_ref().is_some_and(|a| c.laddr.to_string() != *a)
        {
            continue;
        }
        if c.id == me {
            if skipme {
                continue;
            }
            close_me = true;
        } else {
            c.kill.cancel();
        }
        killed += 1;
    }
    if close_me {
        Action::Close(Reply::Int(killed))
    } else {
        Action::Reply(Reply::Int(killed))
    }
}

/// `CLIENT NO-EVICT ON|OFF` (the proxy evicts no one; the flag is kept for CLIENT LIST).
pub fn no_evict(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let on = if args[2].eq_ignore_ascii_case(b"on") {
        true
    } else if args[2].eq_ignore_ascii_case(b"off") {
        false
    } else {
        return Action::Reply(Reply::error(errors::SYNTAX));
    };
    ctx.session.handle.info().no_evict = on;
    Action::Reply(Reply::ok())
}

/// `CLIENT REPLY ON|OFF|SKIP`.
pub fn reply(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mode = &args[2];
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.session.reply_off = false;
        ctx.session.skip_next = false;
        Action::Reply(Reply::ok())
    } else if mode.eq_ignore_ascii_case(b"off") {
        ctx.session.reply_off = true;
        Action::NoReply
    } else if mode.eq_ignore_ascii_case(b"skip") {
        if !ctx.session.reply_off {
            ctx.session.skip_next = true;
        }
        Action::NoReply
    } else {
        Action::Reply(Reply::error(errors::SYNTAX))
    }
}

/// `CLIENT HELP`.
pub fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client library name or version.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    )
}

/// Redis's HELP layout: a header line, the entries, then HELP itself, as status lines.
pub fn help_reply(command: &str, lines: &[&str]) -> Action {
    let mut out = vec![Reply::Status(format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    out.extend(lines.iter().map(|l| Reply::Status((*l).to_string())));
    out.push(Reply::Status("HELP".into()));
    out.push(Reply::Status("    Prints this help.".into()));
    Action::Reply(Reply::Array(out))
}

/// Why client-side caching is refused: the proxy cannot see other clients'
/// writes on the servers, so it could never send invalidations.
const NO_TRACKING: &str =
    "ERR client-side caching is not supported by Petrel: CLIENT TRACKING can only be OFF";

/// A `CLIENT PAUSE` in force: until when, and whether only writes wait.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Paused {
    until: Instant,
    writes_only: bool,
}

/// `CLIENT PAUSE` state shared by every connection.
#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<Paused>>,
    /// Woken whenever the pause changes (UNPAUSE, a longer or wider pause).
    changed: tokio::sync::Notify,
}

impl Pause {
    /// Pauses clients for `ms`; like Redis, a pause already in force keeps
    /// the later end and the wider kind.
    pub fn pause(&self, ms: u64, writes_only: bool) {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut s = petrel_common::sync::lock(&self.state);
        let next = match *s {
            Some(p) if p.until > Instant::now() => Paused {
                until: p.until.max(until),
                writes_only: p.writes_only && writes_only,
            },
            _ => Paused { until, writes_only },
        };
        *s = Some(next);
        drop(s);
        self.changed.notify_waiters();
    }

    /// Ends the pause at once.
    pub fn unpause(&self) {
        *petrel_common::sync::lock(&self.state) = None;
        self.changed.notify_waiters();
    }

    /// Until when a command (a write or not) must wait; `None` to run now.
    fn holds(&self, write: bool) -> Option<Instant> {
        let s = *petrel_common::sync::lock(&self.state);
        s.filter(|p| p.until > Instant::now() && (write || !p.writes_only))
            .map(|p| p.until)
    }

    /// Waits until a command (a write or not) may run.
    async fn wait(&self, write: bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so an UNPAUSE in between is not missed.
            changed.as_mut().enable();
            let Some(until) = self.holds(write) else {
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = changed => {}
            }
        }
    }
}

/// The CLIENT PAUSE gate: while clients are paused (all commands, or only
/// writes with `WRITE`), the work of a routed command (or EXEC) waits until
/// the pause ends. Commands the proxy answers itself are not held, so
/// CLIENT UNPAUSE, PING and INFO keep working.
pub fn gate(shared: &Arc<Shared>, action: Action, write: bool) -> Action {
    match action {
        Action::Later(work) if shared.clients.pause.holds(write).is_some() => {
            let shared = shared.clone();
            Action::Later(Box::pin(async move {
                shared.clients.pause.wait(write).await;
                work.await
            }))
        }
        other => other,
    }
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`.
pub fn pause(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 4 {
        return Action::Reply(super::server::subcommand_syntax_error(args));
    }
    let writes_only = match args.get(3) {
        None => false,
        Some(m) if m.eq_ignore_ascii_case(b"all") => false,
        Some(m) if m.eq_ignore_ascii_case(b"write") => true,
        Some(_) => {
            return Action::Reply(Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"))
        }
    };
    let ms = match timeout_ms(&args[2]) {
        Ok(ms) => ms,
        Err(e) => return Action::Reply(Reply::error(e)),
    };
    ctx.shared.clients.pause.pause(ms, writes_only);
    Action::Reply(Reply::ok())
}

/// `CLIENT UNPAUSE`.
pub fn unpause(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    ctx.shared.clients.pause.unpause();
    Action::Reply(Reply::ok())
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`: options are checked like Redis; OFF is accepted,
/// ON is refused ([`NO_TRACKING`]).
pub fn tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let err = |e: &str| Action::Reply(Reply::error(e));
    let (mut bcast, mut optin, mut optout, mut prefixes, mut redirect) =
        (false, false, false, 0, None);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = args[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"redirect" if more => {
                j += 1;
                if redirect.is_some() {
                    return err("ERR A client can only redirect to a single other client");
                }
                let Some(id) = parse_i64(&args[j]) else {
                    return err(errors::NOT_INTEGER);
                };
                if !ctx
                    .shared
                    .clients
                    .snapshot()
                    .iter()
                    .any(|c| c.id as i64 == id)
                {
                    return err("ERR The client ID you want redirect to does not exist");
                }
                redirect = Some(id);
            }
            b"bcast" => bcast = true,
            b"optin" => optin = true,
            b"optout" => optout = true,
            b"noloop" => {}
            b"prefix" if more => {
                j += 1;
                prefixes += 1;
            }
            _ => return err(errors::SYNTAX),
        }
        j += 1;
    }
    if args[2].eq_ignore_ascii_case(b"on") {
        if !bcast && prefixes > 0 {
            return err("ERR PREFIX option requires BCAST mode to be enabled");
        }
        if bcast && (optin || optout) {
            return err("ERR OPTIN and OPTOUT are not compatible with BCAST");
        }
        if optin && optout {
            return err("ERR You can't specify both OPTIN mode and OPTOUT mode");
        }
        err(NO_TRACKING)
    } else if args[2].eq_ignore_ascii_case(b"off") {
        Action::Reply(Reply::ok())
    } else {
        err(errors::SYNTAX)
    }
}

/// `CLIENT CACHING YES|NO`: tracking is never on, so Redis's error.
pub fn caching(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
    ))
}

/// `CLIENT GETREDIR`: -1, tracking is off.
pub fn getredir(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int(-1))
}

/// `CLIENT TRACKINGINFO`: tracking is off.
pub fn trackinginfo(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Map(vec![
        (Reply::bulk("flags"), Reply::Set(vec![Reply::bulk("off")])),
        (Reply::bulk("redirect"), Reply::Int(-1)),
        (Reply::bulk("prefixes"), Reply::Array(vec![])),
    ]))
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: no command blocks in Petrel, so 0.
pub fn unblock(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 4 {
        return Action::Reply(super::server::subcommand_syntax_error(args));
    }
    if let Some(reason) = args.get(3) {
        if !reason.eq_ignore_ascii_case(b"timeout") && !reason.eq_ignore_ascii_case(b"error") {
            return Action::Reply(Reply::error(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    if parse_i64(&args[2]).is_none() {
        return Action::Reply(Reply::error(errors::NOT_INTEGER));
    }
    Action::Reply(Reply::Int(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pause_holds_until_unpause() {
        let p = Arc::new(Pause::default());
        assert!(p.holds(true).is_none());
        p.pause(60_000, false);
        assert!(p.holds(false).is_some());
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.wait(false).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        p.unpause();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released by UNPAUSE")
            .expect("no panic");
    }

    #[tokio::test]
    async fn write_pause_lets_reads_through_and_ends_by_itself() {
        let p = Pause::default();
        p.pause(50, true);
        assert!(p.holds(false).is_none());
        assert!(p.holds(true).is_some());
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), p.wait(true))
            .await
            .expect("the pause ends");
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn overlapping_pauses_keep_the_later_end_and_wider_kind() {
        let p = Pause::default();
        p.pause(60_000, false);
        p.pause(10, true);
        // Still ALL, still long.
        assert!(p.holds(false).is_some());
        let s = petrel_common::sync::lock(&p.state).expect("paused");
        assert!(s.until > Instant::now() + Duration::from_secs(30));
        assert!(!s.writes_only);
    }
}
