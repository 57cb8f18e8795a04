//! `CLIENT` subcommands, with Redis 7's replies and error texts, and the
//! CLIENT PAUSE gate ([`gate`]) the dispatcher puts routed commands through.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::help::help_reply;
use super::server::admin::timeout_ms;
use crate::action::{Action, Ctx};
use crate::state::ClientInfo;
use crate::util::{c_str, parse_i64};

/// Redis's rule for client names and library attributes: printable ASCII, no spaces.
fn valid_attr(v: &[u8]) -> bool {
    v.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

/// Checks a client name (CLIENT SETNAME, HELLO SETNAME).
pub(crate) fn validate_name(name: &[u8]) -> Result<(), &'static str> {
    if valid_attr(name) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    }
}

/// `CLIENT SETNAME name` (an empty name clears it).
pub(crate) fn setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if let Err(e) = validate_name(&args[2]) {
        return Action::Reply(Reply::error(e));
    }
    ctx.session.handle.info().name = String::from_utf8_lossy(&args[2]).into_owned();
    Action::Reply(Reply::ok())
}

/// `CLIENT GETNAME`.
pub(crate) fn getname(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let name = ctx.session.handle.info().name.clone();
    Action::Reply(if name.is_empty() {
        Reply::Nil
    } else {
        Reply::bulk(name)
    })
}

/// `CLIENT ID`.
pub(crate) fn id(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int(ctx.session.id() as i64))
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2).
pub(crate) fn setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
pub(crate) fn info(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let line = format!("{}\n", ctx.session.handle.describe());
    Action::Reply(Reply::Verbatim(Bytes::from(line)))
}

/// Which client types a `TYPE` filter selects: every proxy client is "normal".
/// A client type as CLIENT LIST and CLIENT KILL name them; `None` for an
/// unknown name. A proxy's clients are `normal`, or `pubsub` while
/// subscribed; never `master` or `replica`.
fn client_type(t: &[u8]) -> Option<Option<bool>> {
    let t = t.to_ascii_lowercase();
    match t.as_slice() {
        b"normal" => Some(Some(false)),
        b"pubsub" => Some(Some(true)),
        b"master" | b"slave" | b"replica" => Some(None),
        _ => None,
    }
}

/// Whether `c` is of the type `want` (`Some(subscribed)`; `None`: a type no client has).
fn is_type(c: &crate::state::ClientHandle, want: Option<bool>) -> bool {
    want.is_some_and(|pubsub| c.is_pubsub() == pubsub)
}

/// `CLIENT LIST [TYPE type] | [ID id ...]`.
pub(crate) fn list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let clients = ctx.shared.clients.snapshot();
    let mut out = String::new();
    if args.len() == 4 && args[2].eq_ignore_ascii_case(b"type") {
        let Some(want) = client_type(&args[3]) else {
            return Action::Reply(Reply::error(format!(
                "ERR Unknown client type '{}'",
                c_str(&args[3])
            )));
        };
        for c in clients.iter().filter(|c| is_type(c, want)) {
            out.push_str(&c.describe());
            out.push('\n');
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
pub(crate) fn kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
    let mut kind: Option<Option<bool>> = None;
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
            b"type" => match client_type(value) {
                Some(want) => kind = Some(want),
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
    for c in clients
        .iter()
        .filter(|c| kind.is_none_or(|want| is_type(c, want)))
    {
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
pub(crate) fn no_evict(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    set_flag(ctx, &args[2], |info, on| info.no_evict = on)
}

/// `ON`/`OFF` into a CLIENT LIST flag; a syntax error otherwise.
fn set_flag(ctx: &mut Ctx<'_>, arg: &[u8], set: fn(&mut ClientInfo, bool)) -> Action {
    let on = if arg.eq_ignore_ascii_case(b"on") {
        true
    } else if arg.eq_ignore_ascii_case(b"off") {
        false
    } else {
        return Action::Reply(Reply::error(errors::SYNTAX));
    };
    set(&mut ctx.session.handle.info(), on);
    Action::Reply(Reply::ok())
}

/// `CLIENT NO-TOUCH ON|OFF` (Redis 7.2): Petrel keeps no access times
/// (`OBJECT IDLETIME` is 0), so no command touches a key; the flag is kept
/// for CLIENT LIST.
pub(crate) fn no_touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    set_flag(ctx, &args[2], |info, on| info.no_touch = on)
}

/// `CLIENT REPLY ON|OFF|SKIP`.
pub(crate) fn reply(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
pub(crate) fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
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

/// `CLIENT PAUSE timeout [WRITE|ALL]`.
pub(crate) fn pause(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 4 {
        return Action::Reply(super::help::subcommand_syntax_error(args));
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
pub(crate) fn unpause(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    ctx.shared.clients.pause.unpause();
    Action::Reply(Reply::ok())
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: 1 when client `id` has a blocking
/// command waiting, which then answers as if timed out (or with an error)
/// once its current wait at the primary ends (at most `BLOCK_SLICE`).
pub(crate) fn unblock(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 4 {
        return Action::Reply(super::help::subcommand_syntax_error(args));
    }
    let mut reason = crate::unblock::Reason::Timeout;
    if let Some(r) = args.get(3) {
        if r.eq_ignore_ascii_case(b"error") {
            reason = crate::unblock::Reason::Error;
        } else if !r.eq_ignore_ascii_case(b"timeout") {
            return Action::Reply(Reply::error(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let Some(id) = parse_i64(&args[2]) else {
        return Action::Reply(Reply::error(errors::NOT_INTEGER));
    };
    let target = ctx
        .shared
        .clients
        .snapshot()
        .into_iter()
        .find(|c| c.id as i64 == id && c.is_blocked());
    match target {
        Some(c) => {
            c.unblock.request(reason);
            Action::Reply(Reply::Int(1))
        }
        None => Action::Reply(Reply::Int(0)),
    }
}
