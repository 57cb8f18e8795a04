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
