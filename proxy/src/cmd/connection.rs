//! Connection commands, all answered by the proxy: PING, ECHO, QUIT, SELECT,
//! AUTH, HELLO (handlers below) and CLIENT (handlers in [`super::client`]).

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::client;
use crate::action::{Action, Ctx};
use crate::resp::Proto;
use crate::util::{c_str, parse_i64};

/// The Redis version the proxy reports, so clients enable the features it serves.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

/// `PING [message]`: `+PONG`, or the message as a bulk string; in RESP2
/// subscribed mode `["pong", message or ""]`.
pub(crate) fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() <= 2 && ctx.session.in_subscribed_mode() {
        let message = args.get(1).cloned().unwrap_or_default();
        return Action::Reply(Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"pong")),
            Reply::Bulk(message),
        ]));
    }
    match args.len() {
        1 => Action::Reply(Reply::Status("PONG".into())),
        2 => Action::Reply(Reply::Bulk(args[1].clone())),
        _ => Action::Reply(Reply::Error(errors::wrong_arity(ctx.name))),
    }
}

/// `ECHO message`.
pub(crate) fn echo(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Reply(Reply::Bulk(args[1].clone()))
}

/// `QUIT`: `+OK`, then the connection closes.
pub(crate) fn quit(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Close(Reply::ok())
}

/// `SELECT index`: database n is a table of its own (see
/// [`crate::databases`]), created on first use; the reply waits for it.
pub(crate) fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let db = match parse_i64(&args[1]) {
        Some(i) if i32::try_from(i).is_err() => {
            return Action::Reply(Reply::error(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ))
        }
        None => return Action::Reply(Reply::error(errors::NOT_INTEGER)),
        Some(i) if i < 0 || i >= i64::from(ctx.shared.config.databases) => {
            return Action::Reply(Reply::error("ERR DB index is out of range"))
        }
        Some(i) => i as u32,
    };
    ctx.session.db = db;
    ctx.session.handle.info().db = db;
    if db == 0 {
        return Action::Reply(Reply::ok());
    }
    let shared = ctx.shared.clone();
    Action::Later(Box::pin(async move {
        let deadline = std::time::Instant::now() + shared.router.timeout();
        match shared.databases.open(db, deadline).await {
            Ok(_) => Reply::ok(),
            Err(e) => Reply::error(crate::util::one_line(&format!(
                "ERR database {db} is not available: {e}"
            ))),
        }
    }))
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Checks `user`/`pass` against the ACL users; logs the connection in as
/// `user` when they match.
fn credentials_ok(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> bool {
    let requirepass = ctx.shared.runtime.load().requirepass.clone();
    if !ctx.shared.acl.authenticate(user, pass, &requirepass) {
        return false;
    }
    ctx.session.user = String::from_utf8_lossy(user).into_owned();
    ctx.session.handle.info().user = ctx.session.user.clone();
    true
}

/// `AUTH [username] password`.
pub(crate) fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let (user, pass): (&[u8], &[u8]) = match args.len() {
        2 => {
            if !ctx.shared.password_required() {
                return Action::Reply(Reply::error(
                    "ERR AUTH <password> called without any password configured for the default user. \
                     Are you sure your configuration is correct?",
                ));
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return Action::Reply(Reply::error(errors::SYNTAX)),
    };
    if credentials_ok(ctx, user, pass) {
        ctx.session.authenticated = true;
        Action::Reply(Reply::ok())
    } else {
        Action::Reply(Reply::error(WRONGPASS))
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
pub(crate) fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let err = |text: String| Action::Reply(Reply::Error(text));
    let mut proto = None;
    let mut next = 1;
    if let Some(v) = args.get(1) {
        next = 2;
        match parse_i64(v) {
            None => return err("ERR Protocol version is not an integer or out of range".into()),
            Some(2) => proto = Some(Proto::Resp2),
            Some(3) => proto = Some(Proto::Resp3),
            Some(_) => return err("NOPROTO unsupported protocol version".into()),
        }
    }
    let mut creds = None;
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            creds = Some((args[j + 1].clone(), args[j + 2].clone()));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if let Err(e) = client::validate_name(&args[j + 1]) {
                return err(e.into());
            }
            name = Some(args[j + 1].clone());
            j += 2;
        } else {
            return err(format!("ERR Syntax error in HELLO option '{}'", c_str(opt)));
        }
    }
    if let Some((user, pass)) = creds {
        if !credentials_ok(ctx, &user, &pass) {
            return err(WRONGPASS.into());
        }
        ctx.session.authenticated = true;
    }
    if !ctx.session.authenticated && ctx.shared.password_required() {
        return err("NOAUTH HELLO must be called with the client already authenticated, otherwise the \
                    HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
                    select the RESP protocol version at the same time"
            .into());
    }
    if let Some(name) = name {
        ctx.session.handle.info().name = String::from_utf8_lossy(&name).into_owned();
    }
    if let Some(p) = proto {
        ctx.session.set_proto(p);
    }
    let field = |k: &str, v: Reply| (Reply::bulk(k.to_string()), v);
    Action::Reply(Reply::Map(vec![
        field("server", Reply::bulk("redis")),
        field("version", Reply::bulk(REDIS_VERSION)),
        field("proto", Reply::Int(ctx.session.proto.number())),
        field("id", Reply::Int(ctx.session.id() as i64)),
        field("mode", Reply::bulk("standalone")),
        field("role", Reply::bulk("master")),
        field("modules", Reply::Array(vec![])),
    ]))
}
