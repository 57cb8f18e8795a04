//! Connection commands, all answered by the proxy: PING, ECHO, QUIT, SELECT,
//! AUTH, HELLO (handlers below) and CLIENT (handlers in [`super::client`]).
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`;
//! `CLIENT SETINFO` is Redis 7.2's, since current client libraries send it.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::{client, CommandSpec, Doc, Route};
use crate::dispatch::{Action, Ctx};
use crate::resp::Proto;
use crate::util::{c_str, parse_i64};

/// The Redis version the proxy reports, so clients enable the features it serves.
pub const REDIS_VERSION: &str = "7.0.15";

/// `PING [message]`: `+PONG`, or the message as a bulk string.
fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    match args.len() {
        1 => Action::Reply(Reply::Status("PONG".into())),
        2 => Action::Reply(Reply::Bulk(args[1].clone())),
        _ => Action::Reply(Reply::Error(errors::wrong_arity(ctx.name))),
    }
}

/// `ECHO message`.
fn echo(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Reply(Reply::Bulk(args[1].clone()))
}

/// `QUIT`: `+OK`, then the connection closes.
fn quit(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Close(Reply::ok())
}

/// `SELECT index`: database n is a table of its own (see
/// [`crate::databases`]), created on first use; the reply waits for it.
fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
    true
}

/// `AUTH [username] password`.
fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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
fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
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

/// The connection family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "ping",
        arity: -1,
        flags: &["fast"],
        keys: (0, 0, 0),
        acl: &["@fast", "@connection"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Ping the server",
            since: "1.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(ping),
        subcommands: &[],
    },
    CommandSpec {
        name: "echo",
        arity: 2,
        flags: &["loading", "stale", "fast"],
        keys: (0, 0, 0),
        acl: &["@fast", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Echo the given string",
            since: "1.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(echo),
        subcommands: &[],
    },
    CommandSpec {
        name: "quit",
        arity: -1,
        flags: &[
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy",
        ],
        keys: (0, 0, 0),
        acl: &["@fast", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Close the connection",
            since: "1.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(quit),
        subcommands: &[],
    },
    CommandSpec {
        name: "select",
        arity: 2,
        flags: &["loading", "stale", "fast"],
        keys: (0, 0, 0),
        acl: &["@fast", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Change the selected database for the current connection",
            since: "1.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(select),
        subcommands: &[],
    },
    CommandSpec {
        name: "auth",
        arity: -2,
        flags: &[
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy",
        ],
        keys: (0, 0, 0),
        acl: &["@fast", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Authenticate to the server",
            since: "1.0.0",
            group: "connection",
            complexity: "O(N) where N is the number of passwords defined for the user",
        },
        route: Route::Local(auth),
        subcommands: &[],
    },
    CommandSpec {
        name: "hello",
        arity: -1,
        flags: &[
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy",
        ],
        keys: (0, 0, 0),
        acl: &["@fast", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Handshake with Redis",
            since: "6.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(hello),
        subcommands: &[],
    },
    CommandSpec {
        name: "client",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "A container for client connection commands",
            since: "2.4.0",
            group: "connection",
            complexity: "Depends on subcommand.",
        },
        route: Route::Container,
        subcommands: CLIENT_SUBCOMMANDS,
    },
];

/// CLIENT's subcommands.
static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setname",
        arity: 3,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Set the current connection name",
            since: "2.6.9",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::setname),
        subcommands: &[],
    },
    CommandSpec {
        name: "getname",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Get the current connection name",
            since: "2.6.9",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::getname),
        subcommands: &[],
    },
    CommandSpec {
        name: "id",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Returns the client ID for the current connection",
            since: "5.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::id),
        subcommands: &[],
    },
    CommandSpec {
        name: "info",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["nondeterministic_output"],
        key_specs: &[],
        doc: Doc {
            summary: "Returns information about the current client connection.",
            since: "6.2.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::info),
        subcommands: &[],
    },
    CommandSpec {
        name: "list",
        arity: -2,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        tips: &["nondeterministic_output"],
        key_specs: &[],
        doc: Doc {
            summary: "Get the list of client connections",
            since: "2.4.0",
            group: "connection",
            complexity: "O(N) where N is the number of client connections",
        },
        route: Route::Local(client::list),
        subcommands: &[],
    },
    CommandSpec {
        name: "kill",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Kill the connection of a client",
            since: "2.4.0",
            group: "connection",
            complexity: "O(N) where N is the number of client connections",
        },
        route: Route::Local(client::kill),
        subcommands: &[],
    },
    CommandSpec {
        name: "no-evict",
        arity: 3,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Set client eviction mode for the current connection",
            since: "7.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::no_evict),
        subcommands: &[],
    },
    CommandSpec {
        name: "reply",
        arity: 3,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Instruct the server whether to reply to commands",
            since: "3.2.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::reply),
        subcommands: &[],
    },
    CommandSpec {
        name: "help",
        arity: 2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Show helpful text about the different subcommands",
            since: "5.0.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::help),
        subcommands: &[],
    },
    CommandSpec {
        name: "setinfo",
        arity: 4,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Set client or connection specific info",
            since: "7.2.0",
            group: "connection",
            complexity: "O(1)",
        },
        route: Route::Local(client::setinfo),
        subcommands: &[],
    },
    // PAUSE ... UNBLOCK: added with the server command surface (client.rs).
    CommandSpec {
        name: "pause",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Stop processing commands from clients for some time", since: "2.9.50", group: "connection", complexity: "O(1)" },
        route: Route::Local(client::pause),
        subcommands: &[],
    },
    CommandSpec {
        name: "unpause",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Resume processing of clients that were paused", since: "6.2.0", group: "connection", complexity: "O(N) Where N is the number of paused clients" },
        route: Route::Local(client::unpause),
        subcommands: &[],
    },
    CommandSpec {
        name: "tracking",
        arity: -3,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Enable or disable server assisted client side caching support", since: "6.0.0", group: "connection", complexity: "O(1). Some options may introduce additional complexity." },
        route: Route::Local(client::tracking),
        subcommands: &[],
    },
    CommandSpec {
        name: "caching",
        arity: 3,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Instruct the server about tracking or not keys in the next request", since: "6.0.0", group: "connection", complexity: "O(1)" },
        route: Route::Local(client::caching),
        subcommands: &[],
    },
    CommandSpec {
        name: "getredir",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Get tracking notifications redirection client ID if any", since: "6.0.0", group: "connection", complexity: "O(1)" },
        route: Route::Local(client::getredir),
        subcommands: &[],
    },
    CommandSpec {
        name: "trackinginfo",
        arity: 2,
        flags: &["noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Return information about server assisted client side caching for the current connection", since: "6.2.0", group: "connection", complexity: "O(1)" },
        route: Route::Local(client::trackinginfo),
        subcommands: &[],
    },
    CommandSpec {
        name: "unblock",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Unblock a client blocked in a blocking command from a different connection", since: "5.0.0", group: "connection", complexity: "O(log N) where N is the number of client connections" },
        route: Route::Local(client::unblock),
        subcommands: &[],
    },
];
