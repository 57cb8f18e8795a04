//! Subcommands of Redis versions newer than the generated table's that
//! Petrel serves because current client libraries send them on connect.
//! Each is written as that Redis version's `COMMAND INFO`/`DOCS` shows it.

use super::def::*;

/// (parent, subcommand).
pub(super) static SUBCOMMANDS: &[(&str, CommandDef)] = &[
    (
    "client",
    CommandDef {
        name: "setinfo",
        arity: 4,
        flags: CommandFlags::of(&[
            CommandFlags::NOSCRIPT,
            CommandFlags::LOADING,
            CommandFlags::STALE,
        ]),
        keys: (0, 0, 0),
        acl: AclCategories::of(&[AclCategories::SLOW, AclCategories::CONNECTION]),
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Set client or connection specific info",
            since: "7.2.0",
            group: "connection",
            complexity: Some("O(1)"),
            doc_flags: DocFlags::NONE,
            deprecated_since: None,
            replaced_by: None,
            history: &[],
            arguments: &[Arg {
                name: "attr",
                kind: ArgType::OneOf,
                key_spec_index: None,
                token: None,
                since: None,
                flags: ArgFlags::NONE,
                deprecated_since: None,
                arguments: &[
                    Arg {
                        name: "libname",
                        kind: ArgType::String,
                        key_spec_index: None,
                        token: Some("LIB-NAME"),
                        since: None,
                        flags: ArgFlags::NONE,
                        deprecated_since: None,
                        arguments: &[],
                    },
                    Arg {
                        name: "libver",
                        kind: ArgType::String,
                        key_spec_index: None,
                        token: Some("LIB-VER"),
                        since: None,
                        flags: ArgFlags::NONE,
                        deprecated_since: None,
                        arguments: &[],
                    },
                ],
            }],
        },
        subcommands: &[],
    },
),
    (
        "client",
        CommandDef {
            name: "no-touch",
            arity: 3,
            flags: CommandFlags::of(&[
                CommandFlags::NOSCRIPT,
                CommandFlags::LOADING,
                CommandFlags::STALE,
            ]),
            keys: (0, 0, 0),
            acl: AclCategories::of(&[AclCategories::SLOW, AclCategories::CONNECTION]),
            tips: &[],
            key_specs: &[],
            doc: Doc {
                summary: "Controls whether commands sent by the client will alter the LRU/LFU of the keys they access.",
                since: "7.2.0",
                group: "connection",
                complexity: Some("O(1)"),
                doc_flags: DocFlags::NONE,
                deprecated_since: None,
                replaced_by: None,
                history: &[],
                arguments: &[Arg {
                    name: "enabled",
                    kind: ArgType::OneOf,
                    key_spec_index: None,
                    token: None,
                    since: None,
                    flags: ArgFlags::NONE,
                    deprecated_since: None,
                    arguments: &[
                        Arg {
                            name: "on",
                            kind: ArgType::PureToken,
                            key_spec_index: None,
                            token: Some("ON"),
                            since: None,
                            flags: ArgFlags::NONE,
                            deprecated_since: None,
                            arguments: &[],
                        },
                        Arg {
                            name: "off",
                            kind: ArgType::PureToken,
                            key_spec_index: None,
                            token: Some("OFF"),
                            since: None,
                            flags: ArgFlags::NONE,
                            deprecated_since: None,
                            arguments: &[],
                        },
                    ],
                }],
            },
            subcommands: &[],
        },
    ),
];

/// `ZRANK`'s and `ZREVRANK`'s one key.
static RANK_KEY_SPECS: &[KeySpec] = &[KeySpec {
    notes: None,
    flags: KeySpecFlags::of(&[KeySpecFlags::RO, KeySpecFlags::ACCESS]),
    begin_search: BeginSearch::Index(1),
    find_keys: FindKeys::Range {
        last_key: 0,
        key_step: 1,
        limit: 0,
    },
}];

/// An argument without children, history or deprecation.
const fn arg(
    name: &'static str,
    kind: ArgType,
    key_spec_index: Option<i32>,
    token: Option<&'static str>,
    flags: ArgFlags,
) -> Arg {
    Arg {
        name,
        kind,
        key_spec_index,
        token,
        since: None,
        flags,
        deprecated_since: None,
        arguments: &[],
    }
}

/// `key member [WITHSCORE]`.
static RANK_ARGS: &[Arg] = &[
    arg("key", ArgType::Key, Some(0), None, ArgFlags::NONE),
    arg("member", ArgType::String, None, None, ArgFlags::NONE),
    arg(
        "withscore",
        ArgType::PureToken,
        None,
        Some("WITHSCORE"),
        ArgFlags::of(&[ArgFlags::OPTIONAL]),
    ),
];

/// `ZRANK`/`ZREVRANK` as Redis 7.2 defines them (`WITHSCORE`), from its
/// command JSON; `summary` is the 7.2 text.
const fn rank_def(name: &'static str, summary: &'static str) -> CommandDef {
    CommandDef {
        name,
        arity: -3,
        flags: CommandFlags::of(&[CommandFlags::READONLY, CommandFlags::FAST]),
        keys: (1, 1, 1),
        acl: AclCategories::of(&[
            AclCategories::READ,
            AclCategories::SORTEDSET,
            AclCategories::FAST,
        ]),
        tips: &[],
        key_specs: RANK_KEY_SPECS,
        doc: Doc {
            summary,
            since: "2.0.0",
            group: "sorted-set",
            complexity: Some("O(log(N))"),
            doc_flags: DocFlags::NONE,
            deprecated_since: None,
            replaced_by: None,
            history: &[("7.2.0", "Added the optional `WITHSCORE` argument.")],
            arguments: RANK_ARGS,
        },
        subcommands: &[],
    }
}

/// Commands whose newer definition replaces the generated one: what they
/// gained after 7.0 is what current clients and test suites send.
pub(super) static REPLACED: &[CommandDef] = &[
    rank_def(
        "zrank",
        "Returns the index of a member in a sorted set ordered by ascending scores.",
    ),
    rank_def(
        "zrevrank",
        "Returns the index of a member in a sorted set ordered by descending scores.",
    ),
];
