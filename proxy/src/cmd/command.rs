//! `COMMAND` and its subcommands, answered from the command table in the
//! shapes Redis 7 uses (client libraries and redis-cli read them).
//!
//! COMMAND DOCS carries summary, since, group, complexity and subcommands;
//! the per-argument documentation Redis adds is left out.

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::client::help_reply;
use super::{all, full_name, lookup, CommandSpec, KeySpec, Route};
use crate::dispatch::{Action, Ctx};
use crate::util::glob_match;

fn statuses(items: &[&str]) -> Reply {
    Reply::Set(
        items
            .iter()
            .map(|s| Reply::Status((*s).to_string()))
            .collect(),
    )
}

fn map(pairs: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk(k.to_string()), v))
            .collect(),
    )
}

fn key_spec(k: &KeySpec) -> Reply {
    map(vec![
        ("flags", statuses(k.flags)),
        (
            "begin_search",
            map(vec![
                ("type", Reply::bulk("index")),
                (
                    "spec",
                    map(vec![("index", Reply::Int(k.begin_index.into()))]),
                ),
            ]),
        ),
        (
            "find_keys",
            map(vec![
                ("type", Reply::bulk("range")),
                (
                    "spec",
                    map(vec![
                        ("lastkey", Reply::Int(k.last_key.into())),
                        ("keystep", Reply::Int(k.key_step.into())),
                        ("limit", Reply::Int(k.limit.into())),
                    ]),
                ),
            ]),
        ),
    ])
}

/// One `COMMAND INFO` entry: name, arity, flags, first, last, step, ACL
/// categories, tips, key specs, subcommands.
pub fn info_entry(parent: Option<&CommandSpec>, c: &CommandSpec) -> Reply {
    let subs = if c.subcommands.is_empty() {
        Reply::Set(vec![])
    } else {
        Reply::Array(
            c.subcommands
                .iter()
                .map(|s| info_entry(Some(c), s))
                .collect(),
        )
    };
    Reply::Array(vec![
        Reply::bulk(full_name(parent, c)),
        Reply::Int(c.arity.into()),
        statuses(c.flags),
        Reply::Int(c.keys.0.into()),
        Reply::Int(c.keys.1.into()),
        Reply::Int(c.keys.2.into()),
        statuses(c.acl),
        Reply::Set(c.tips.iter().map(|t| Reply::bulk(t.to_string())).collect()),
        Reply::Set(c.key_specs.iter().map(key_spec).collect()),
        subs,
    ])
}

fn doc_entry(parent: Option<&CommandSpec>, c: &CommandSpec) -> Reply {
    let mut fields = vec![
        ("summary", Reply::bulk(c.doc.summary)),
        ("since", Reply::bulk(c.doc.since)),
        ("group", Reply::bulk(c.doc.group)),
        ("complexity", Reply::bulk(c.doc.complexity)),
    ];
    if !c.subcommands.is_empty() {
        fields.push((
            "subcommands",
            Reply::Map(
                c.subcommands
                    .iter()
                    .map(|s| (Reply::bulk(full_name(Some(c), s)), doc_entry(Some(c), s)))
                    .collect(),
            ),
        ));
    }
    let _ = parent;
    map(fields)
}

/// Finds `name` or `parent|sub`.
fn resolve(name: &[u8]) -> Option<(Option<&'static CommandSpec>, &'static CommandSpec)> {
    match name.iter().position(|&b| b == b'|') {
        Some(bar) => {
            let parent = lookup(&name[..bar])?;
            Some((Some(parent), parent.subcommand(&name[bar + 1..])?))
        }
        None => lookup(name).map(|c| (None, c)),
    }
}

/// `COMMAND`: every command's info.
pub fn command(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(all().map(|c| info_entry(None, c)).collect()))
}

/// `COMMAND COUNT`.
pub fn count(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int(all().count() as i64))
}

/// `COMMAND INFO [name ...]`: unknown names give nil.
pub fn info(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() == 2 {
        return Action::Reply(Reply::Array(all().map(|c| info_entry(None, c)).collect()));
    }
    Action::Reply(Reply::Array(
        args[2..]
            .iter()
            .map(|n| match resolve(n) {
                Some((parent, c)) => info_entry(parent, c),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

/// `COMMAND DOCS [name ...]`: a map of name to documentation; unknown names are left out.
pub fn docs(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let entries: Vec<(Reply, Reply)> = if args.len() == 2 {
        all()
            .map(|c| (Reply::bulk(c.name), doc_entry(None, c)))
            .collect()
    } else {
        args[2..]
            .iter()
            .filter_map(|n| resolve(n))
            .map(|(parent, c)| (Reply::bulk(full_name(parent, c)), doc_entry(parent, c)))
            .collect()
    };
    Action::Reply(Reply::Map(entries))
}

/// A COMMAND LIST filter over (full name, spec).
type Filter = Box<dyn Fn(&str, &CommandSpec) -> bool>;

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`.
pub fn list(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut names: Vec<(String, &'static CommandSpec)> = Vec::new();
    for c in all() {
        names.push((c.name.to_string(), c));
        for s in c.subcommands {
            names.push((full_name(Some(c), s), s));
        }
    }
    let keep: Filter = match args.len() {
        2 => Box::new(|_, _| true),
        5 if args[2].eq_ignore_ascii_case(b"filterby") => {
            let value = args[4].clone();
            let how = args[3].to_ascii_lowercase();
            match how.as_slice() {
                b"module" => Box::new(|_, _| false),
                b"aclcat" => Box::new(move |_, c| {
                    c.acl.iter().any(|a| {
                        a.trim_start_matches('@')
                            .as_bytes()
                            .eq_ignore_ascii_case(&value)
                    })
                }),
                b"pattern" => Box::new(move |n, _| glob_match(&value, n.as_bytes(), true)),
                _ => return Action::Reply(Reply::error(petrel_common::reply::errors::SYNTAX)),
            }
        }
        _ => return Action::Reply(Reply::error(petrel_common::reply::errors::SYNTAX)),
    };
    Action::Reply(Reply::Array(
        names
            .into_iter()
            .filter(|(n, c)| keep(n, c))
            .map(|(n, _)| Reply::bulk(n))
            .collect(),
    ))
}

/// `COMMAND GETKEYS command arg ...`: the key arguments, from the key spec.
pub fn getkeys(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let cmd_args = &args[2..];
    let Some(top) = lookup(&cmd_args[0]) else {
        return Action::Reply(Reply::error("ERR Invalid command specified"));
    };
    let spec = match (top.subcommands.is_empty(), cmd_args.get(1)) {
        (false, Some(sub)) => match top.subcommand(sub) {
            Some(s) => s,
            None => return Action::Reply(Reply::error("ERR Invalid command specified")),
        },
        _ => top,
    };
    if !top.arity_ok(cmd_args.len()) {
        return Action::Reply(Reply::error(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions = spec.keys_of(cmd_args);
    if positions.is_empty() || matches!(spec.route, Route::Local(_) | Route::Container) {
        return Action::Reply(Reply::error("ERR The command has no key arguments"));
    }
    Action::Reply(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Bulk(cmd_args[i].clone()))
            .collect(),
    ))
}

/// `COMMAND HELP`.
pub fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    )
}
