//! `COMMAND` and its subcommands, answered from the one command table in the
//! shapes Redis 7.0 uses (client libraries and redis-cli read them): every
//! command Redis 7.0 has, including those Petrel does not serve yet, with
//! its full documentation.

use bytes::Bytes;
use petrel_common::command::{
    table, AclCategories, Arg, BeginSearch, Command, CommandFlags, FindKeys, KeySpec, KeySpecFlags,
    Resolved,
};
use petrel_common::reply::Reply;

use super::help::help_reply;
use crate::action::{Action, Ctx};
use crate::util::glob_match;

fn statuses<'a>(items: impl Iterator<Item = &'a str>) -> Reply {
    Reply::Set(items.map(|s| Reply::Status(s.to_string())).collect())
}

fn map(pairs: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk(k.to_string()), v))
            .collect(),
    )
}

fn int(n: i32) -> Reply {
    Reply::Int(n.into())
}

fn key_spec(k: &KeySpec) -> Reply {
    let (begin_type, begin) = match k.begin_search {
        BeginSearch::Index(i) => ("index", vec![("index", int(i))]),
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => (
            "keyword",
            vec![
                ("keyword", Reply::bulk(keyword)),
                ("startfrom", int(start_from)),
            ],
        ),
        BeginSearch::Unknown => ("unknown", vec![]),
    };
    let (find_type, find) = match k.find_keys {
        FindKeys::Range {
            last_key,
            key_step,
            limit,
        } => (
            "range",
            vec![
                ("lastkey", int(last_key)),
                ("keystep", int(key_step)),
                ("limit", int(limit)),
            ],
        ),
        FindKeys::Keynum {
            keynum_index,
            first_key,
            key_step,
        } => (
            "keynum",
            vec![
                ("keynumidx", int(keynum_index)),
                ("firstkey", int(first_key)),
                ("keystep", int(key_step)),
            ],
        ),
        FindKeys::Unknown => ("unknown", vec![]),
    };
    let mut fields = Vec::new();
    if let Some(notes) = k.notes {
        fields.push(("notes", Reply::bulk(notes)));
    }
    fields.push(("flags", statuses(k.flags.names())));
    fields.push((
        "begin_search",
        map(vec![
            ("type", Reply::bulk(begin_type)),
            ("spec", map(begin)),
        ]),
    ));
    fields.push((
        "find_keys",
        map(vec![("type", Reply::bulk(find_type)), ("spec", map(find))]),
    ));
    map(fields)
}

/// One `COMMAND INFO` entry: name, arity, flags, first, last, step, ACL
/// categories, tips, key specs, subcommands.
pub(crate) fn info_entry(c: &Command) -> Reply {
    let subs = if c.subcommands.is_empty() {
        Reply::Set(vec![])
    } else {
        Reply::Array(table().subcommands(c).map(info_entry).collect())
    };
    let d = c.def;
    Reply::Array(vec![
        Reply::bulk(c.name()),
        int(d.arity),
        statuses(d.flags.names()),
        int(d.keys.0),
        int(d.keys.1),
        int(d.keys.2),
        Reply::Set(
            d.acl
                .names()
                .map(|a| Reply::Status(format!("@{a}")))
                .collect(),
        ),
        Reply::Set(d.tips.iter().map(|t| Reply::bulk(*t)).collect()),
        Reply::Set(d.key_specs.iter().map(key_spec).collect()),
        subs,
    ])
}

fn arg_entry(a: &Arg) -> Reply {
    let mut fields = vec![
        ("name", Reply::bulk(a.name)),
        ("type", Reply::bulk(a.kind.name())),
    ];
    if let Some(i) = a.key_spec_index {
        fields.push(("key_spec_index", int(i)));
    }
    if let Some(t) = a.token {
        fields.push(("token", Reply::bulk(t)));
    }
    if let Some(v) = a.since {
        fields.push(("since", Reply::bulk(v)));
    }
    if a.flags.0 != 0 {
        fields.push(("flags", statuses(a.flags.names())));
    }
    if let Some(v) = a.deprecated_since {
        fields.push(("deprecated_since", Reply::bulk(v)));
    }
    if !a.arguments.is_empty() {
        fields.push((
            "arguments",
            Reply::Array(a.arguments.iter().map(arg_entry).collect()),
        ));
    }
    map(fields)
}

/// One `COMMAND DOCS` entry, in Redis's field order.
fn doc_entry(c: &Command) -> Reply {
    let d = &c.def.doc;
    let mut fields = vec![
        ("summary", Reply::bulk(d.summary)),
        ("since", Reply::bulk(d.since)),
        ("group", Reply::bulk(d.group)),
    ];
    if let Some(x) = d.complexity {
        fields.push(("complexity", Reply::bulk(x)));
    }
    if d.doc_flags.0 != 0 {
        fields.push(("doc_flags", statuses(d.doc_flags.names())));
    }
    if let Some(v) = d.deprecated_since {
        fields.push(("deprecated_since", Reply::bulk(v)));
    }
    if let Some(v) = d.replaced_by {
        fields.push(("replaced_by", Reply::bulk(v)));
    }
    if !d.history.is_empty() {
        fields.push((
            "history",
            Reply::Set(
                d.history
                    .iter()
                    .map(|(v, t)| Reply::Array(vec![Reply::bulk(*v), Reply::bulk(*t)]))
                    .collect(),
            ),
        ));
    }
    if !d.arguments.is_empty() {
        fields.push((
            "arguments",
            Reply::Array(d.arguments.iter().map(arg_entry).collect()),
        ));
    }
    if !c.subcommands.is_empty() {
        fields.push((
            "subcommands",
            Reply::Map(
                table()
                    .subcommands(c)
                    .map(|s| (Reply::bulk(s.name()), doc_entry(s)))
                    .collect(),
            ),
        ));
    }
    map(fields)
}

/// Every command `COMMAND` lists: Redis's, not Petrel's internal ones.
fn listed() -> impl Iterator<Item = &'static Command> {
    table().top_level().filter(|c| !c.is_internal())
}

/// `name` or `parent|sub`, as `COMMAND INFO/DOCS` take them.
fn named(name: &[u8]) -> Option<&'static Command> {
    table().find(name).filter(|c| !c.is_internal())
}

/// `COMMAND`: every command's info.
pub(crate) fn command(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(listed().map(info_entry).collect()))
}

/// `COMMAND COUNT`.
pub(crate) fn count(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::Int(listed().count() as i64))
}

/// `COMMAND INFO [name ...]`: unknown names give nil.
pub(crate) fn info(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() == 2 {
        return Action::Reply(Reply::Array(listed().map(info_entry).collect()));
    }
    Action::Reply(Reply::Array(
        args[2..]
            .iter()
            .map(|n| named(n).map_or(Reply::Nil, info_entry))
            .collect(),
    ))
}

/// `COMMAND DOCS [name ...]`: a map of name to documentation; unknown names are left out.
pub(crate) fn docs(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let entries: Vec<(Reply, Reply)> = if args.len() == 2 {
        listed()
            .map(|c| (Reply::bulk(c.name()), doc_entry(c)))
            .collect()
    } else {
        args[2..]
            .iter()
            .filter_map(|n| named(n))
            .map(|c| (Reply::bulk(c.name()), doc_entry(c)))
            .collect()
    };
    Action::Reply(Reply::Map(entries))
}

/// A COMMAND LIST filter.
type Filter = Box<dyn Fn(&Command) -> bool>;

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`.
pub(crate) fn list(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let keep: Filter = match args.len() {
        2 => Box::new(|_| true),
        5 if args[2].eq_ignore_ascii_case(b"filterby") => {
            let value = args[4].clone();
            let how = args[3].to_ascii_lowercase();
            match how.as_slice() {
                b"module" => Box::new(|_| false),
                b"aclcat" => {
                    let cat = std::str::from_utf8(&value)
                        .ok()
                        .and_then(AclCategories::named);
                    Box::new(move |c| cat.is_some_and(|cat| c.def.acl.contains(cat)))
                }
                b"pattern" => Box::new(move |c| glob_match(&value, c.name().as_bytes(), true)),
                _ => return Action::Reply(Reply::error(petrel_common::reply::errors::SYNTAX)),
            }
        }
        _ => return Action::Reply(Reply::error(petrel_common::reply::errors::SYNTAX)),
    };
    let table = table();
    Action::Reply(Reply::Array(
        listed()
            .flat_map(|c| std::iter::once(c).chain(table.subcommands(c)))
            .filter(|c| keep(c))
            .map(|c| Reply::bulk(c.name()))
            .collect(),
    ))
}

/// Whether Redis's `COMMAND GETKEYS` would look for keys in the command.
fn has_keys(c: &Command) -> bool {
    c.has(CommandFlags::MOVABLEKEYS)
        || c.def
            .key_specs
            .iter()
            .any(|k| !k.flags.contains(KeySpecFlags::NOT_KEY))
}

/// `COMMAND GETKEYS command arg ...`: the key arguments, from the key specs.
pub(crate) fn getkeys(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let cmd_args = &args[2..];
    let spec = match table().resolve(cmd_args) {
        Resolved::Command(c) if !c.is_internal() => c,
        _ => return Action::Reply(Reply::error("ERR Invalid command specified")),
    };
    if !has_keys(spec) {
        return Action::Reply(Reply::error("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd_args.len()) {
        return Action::Reply(Reply::error(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions = spec.key_positions(cmd_args);
    if positions.is_empty() && !spec.has(CommandFlags::NO_MANDATORY_KEYS) {
        return Action::Reply(Reply::error("ERR Invalid arguments specified for command"));
    }
    Action::Reply(Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Bulk(cmd_args[i].clone()))
            .collect(),
    ))
}

/// `COMMAND HELP`.
pub(crate) fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
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
