//! `ACL SETUSER DELUSER LIST USERS WHOAMI GETUSER CAT GENPASS HELP` over the
//! proxy's users ([`crate::acl`]).
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`.

use bytes::Bytes;
use petrel_common::reply::Reply;
use rand::Rng;

use super::client::help_reply;
use super::{CommandSpec, Doc, Route};
use crate::dispatch::{Action, Ctx};
use crate::util::c_str;

fn text_args(args: &[Bytes]) -> Vec<String> {
    args.iter().map(|a| c_str(a)).collect()
}

fn setuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let args = text_args(args);
    let rules: Vec<&str> = args[3..].iter().map(String::as_str).collect();
    Action::Reply(match ctx.shared.acl.set_user(&args[2], &rules) {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::Error(crate::util::one_line(&e)),
    })
}

fn deluser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let args = text_args(args);
    let names: Vec<&str> = args[2..].iter().map(String::as_str).collect();
    Action::Reply(match ctx.shared.acl.delete(&names) {
        Ok(n) => Reply::Int(n),
        Err(e) => Reply::Error(e),
    })
}

fn list(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(
        ctx.shared.acl.list().into_iter().map(Reply::bulk).collect(),
    ))
}

fn users(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(
        ctx.shared
            .acl
            .names()
            .into_iter()
            .map(Reply::bulk)
            .collect(),
    ))
}

fn whoami(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::bulk(ctx.session.user.clone()))
}

fn getuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(u) = ctx.shared.acl.user(&c_str(&args[2])) else {
        return Action::Reply(Reply::Nil);
    };
    let bulks = |v: Vec<String>| Reply::Array(v.into_iter().map(Reply::bulk).collect());
    let mut flags = u.flags();
    if u.nopass {
        flags.push("nopass".into());
    }
    let channels = if u.all_channels {
        "&*".to_string()
    } else {
        u.channels.join(" ")
    };
    let field = |k: &str, v: Reply| (Reply::bulk(k.to_string()), v);
    Action::Reply(Reply::Map(vec![
        field("flags", bulks(flags)),
        field("passwords", bulks(u.passwords.iter().cloned().collect())),
        field("commands", Reply::bulk(u.commands())),
        field("keys", Reply::bulk(u.keys.join(" "))),
        field("channels", Reply::bulk(channels)),
        field("selectors", Reply::Array(Vec::new())),
    ]))
}

fn cat(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let all = crate::acl::categories();
    let Some(wanted) = args.get(2) else {
        return Action::Reply(Reply::Array(all.into_iter().map(Reply::bulk).collect()));
    };
    let wanted = c_str(wanted).to_ascii_lowercase();
    if !all.contains(wanted.as_str()) {
        return Action::Reply(Reply::Error(format!(
            "ERR Unknown category '{}'",
            c_str(&args[2])
        )));
    }
    let tag = format!("@{wanted}");
    let mut names = Vec::new();
    for c in super::all() {
        if c.acl.contains(&tag.as_str()) {
            names.push(Reply::bulk(c.name.to_string()));
        }
        for s in c
            .subcommands
            .iter()
            .filter(|s| s.acl.contains(&tag.as_str()))
        {
            names.push(Reply::bulk(super::full_name(Some(c), s)));
        }
    }
    Action::Reply(Reply::Array(names))
}

fn genpass(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let bits = match args.get(2) {
        None => 256,
        Some(b) => match crate::util::parse_i64(b) {
            Some(n) if (1..=4096).contains(&n) => n,
            _ => {
                return Action::Reply(Reply::error(
                    "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                ))
            }
        },
    };
    let chars = (bits as usize).div_ceil(4);
    let mut rng = rand::thread_rng();
    let pass: String = (0..chars)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect();
    Action::Reply(Reply::bulk(pass))
}

fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    )
}

const ADMIN_FLAGS: &[&str] = &["admin", "noscript", "loading", "stale"];
const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

const fn sub(
    name: &'static str,
    arity: i32,
    admin: bool,
    summary: &'static str,
    complexity: &'static str,
    run: super::LocalFn,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: if admin {
            ADMIN_FLAGS
        } else {
            &["noscript", "loading", "stale"]
        },
        keys: (0, 0, 0),
        acl: if admin { ADMIN_ACL } else { &["@slow"] },
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary,
            since: "6.0.0",
            group: "server",
            complexity,
        },
        route: Route::Local(run),
        subcommands: &[],
    }
}

static ACL_SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "setuser",
        -3,
        true,
        "Modify or create the rules for a specific ACL user",
        "O(N). Where N is the number of rules provided.",
        setuser,
    ),
    sub(
        "deluser",
        -3,
        true,
        "Remove the specified ACL users and the associated rules",
        "O(1) amortized time considering the typical user.",
        deluser,
    ),
    sub(
        "list",
        2,
        true,
        "List the current ACL rules in ACL config file format",
        "O(N). Where N is the number of configured users.",
        list,
    ),
    sub(
        "users",
        2,
        true,
        "List the username of all the configured ACL rules",
        "O(N). Where N is the number of configured users.",
        users,
    ),
    sub(
        "whoami",
        2,
        false,
        "Return the name of the user associated to the current connection",
        "O(1)",
        whoami,
    ),
    sub(
        "getuser",
        3,
        true,
        "Get the rules for a specific ACL user",
        "O(N). Where N is the number of password, command and pattern rules that the user has.",
        getuser,
    ),
    sub(
        "cat",
        -2,
        false,
        "List the ACL categories or the commands inside a category",
        "O(1) since the categories and commands are a fixed set.",
        cat,
    ),
    sub(
        "genpass",
        -2,
        false,
        "Generate a pseudorandom secure password to use for ACL users",
        "O(1)",
        genpass,
    ),
    CommandSpec {
        name: "help",
        arity: 2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Show helpful text about the different subcommands",
            since: "6.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(help),
        subcommands: &[],
    },
];

/// The ACL family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "acl",
    arity: -2,
    flags: &[],
    keys: (0, 0, 0),
    acl: &["@slow"],
    tips: &[],
    key_specs: &[],
    doc: Doc {
        summary: "A container for Access List Control commands ",
        since: "6.0.0",
        group: "server",
        complexity: "Depends on subcommand.",
    },
    route: Route::Container,
    subcommands: ACL_SUBCOMMANDS,
}];
