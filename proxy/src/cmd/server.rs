//! Server commands: DBSIZE / FLUSHALL / FLUSHDB fan out to every partition;
//! MEMORY USAGE runs on the key's primary; INFO, CONFIG, COMMAND, TIME,
//! LASTSAVE, WAIT, SLOWLOG, FUNCTION / SCRIPT housekeeping and the other
//! MEMORY subcommands are answered by the proxy ([`admin`], [`slowlog`],
//! [`scripting`], [`memory`]).
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`.

pub mod admin;
pub mod memory;
pub mod scripting;
pub mod slowlog;

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::{command, config, info, CommandSpec, Doc, KeySpec, Merge, Route};
use crate::util::{c_str, one_line};

/// Redis's `addReplySubcommandSyntaxError`: a subcommand given too many
/// arguments, named as the client typed it.
pub fn subcommand_syntax_error(args: &[Bytes]) -> Reply {
    let sub: String = c_str(args.get(1).map(|a| a.as_ref()).unwrap_or_default())
        .chars()
        .take(128)
        .collect();
    Reply::error(one_line(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        c_str(&args[0]).to_ascii_uppercase()
    )))
}

/// `FLUSHALL [ASYNC|SYNC]`: every database, i.e. database 0's table and
/// each `<table>.db<n>` that exists, every partition of each.
fn flushall(ctx: &mut crate::dispatch::Ctx<'_>, args: &[Bytes]) -> crate::dispatch::Action {
    ctx.touches = Some(crate::dispatch::Touches {
        keys: Vec::new(),
        all: true,
        write: true,
    });
    let Some(spec) = super::lookup(b"flushall") else {
        return crate::dispatch::Action::Reply(Reply::error("ERR flushall is not in the table"));
    };
    let shared = ctx.shared.clone();
    let args = args.to_vec();
    crate::dispatch::Action::Later(Box::pin(async move {
        let deadline = std::time::Instant::now() + shared.router.timeout();
        // Database 0 first: it also checks the arguments.
        let first =
            crate::route::split::fan_out(&shared.router, spec, Merge::Ok, args.clone(), deadline)
                .await;
        if first.is_error() {
            return first;
        }
        for db in 1..shared.config.databases {
            match shared.databases.exists(db).await {
                Ok(false) => continue,
                Ok(true) => {
                    let router = shared.databases.router(db);
                    let r = crate::route::split::fan_out(
                        &router,
                        spec,
                        Merge::Ok,
                        args.clone(),
                        deadline,
                    )
                    .await;
                    if r.is_error() {
                        return r;
                    }
                }
                Err(e) => {
                    return Reply::error(one_line(&format!(
                        "ERR FLUSHALL could not list database {db}: {e}"
                    )))
                }
            }
        }
        Reply::ok()
    }))
}

/// The server family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "dbsize",
        arity: 1,
        flags: &["readonly", "fast"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@read", "@fast"],
        tips: &["request_policy:all_shards", "response_policy:agg_sum"],
        key_specs: &[],
        doc: Doc {
            summary: "Return the number of keys in the selected database",
            since: "1.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::FanOut(Merge::Sum),
        subcommands: &[],
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: &["write"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@write", "@slow", "@dangerous"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Remove all keys from all databases",
            since: "1.0.0",
            group: "server",
            complexity: "O(N) where N is the total number of keys in all databases",
        },
        route: Route::Local(flushall),
        subcommands: &[],
    },
    CommandSpec {
        name: "flushdb",
        arity: -1,
        flags: &["write"],
        keys: (0, 0, 0),
        acl: &["@keyspace", "@write", "@slow", "@dangerous"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Remove all keys from the current database",
            since: "1.0.0",
            group: "server",
            complexity: "O(N) where N is the number of keys in the selected database",
        },
        route: Route::FanOut(Merge::Ok),
        subcommands: &[],
    },
    CommandSpec {
        name: "info",
        arity: -1,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@dangerous"],
        tips: &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
        key_specs: &[],
        doc: Doc {
            summary: "Get information and statistics about the server",
            since: "1.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(info::info),
        subcommands: &[],
    },
    CommandSpec {
        name: "config",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "A container for server configuration commands",
            since: "2.0.0",
            group: "server",
            complexity: "Depends on subcommand.",
        },
        route: Route::Container,
        subcommands: CONFIG_SUBCOMMANDS,
    },
    CommandSpec {
        name: "command",
        arity: -1,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
        doc: Doc {
            summary: "Get array of Redis command details",
            since: "2.8.13",
            group: "server",
            complexity: "O(N) where N is the total number of Redis commands",
        },
        route: Route::Local(command::command),
        subcommands: COMMAND_SUBCOMMANDS,
    },
    CommandSpec {
        name: "time",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        keys: (0, 0, 0),
        acl: &["@fast"],
        tips: &["nondeterministic_output"],
        key_specs: &[],
        doc: Doc { summary: "Return the current server time", since: "2.6.0", group: "server", complexity: "O(1)" },
        route: Route::Local(admin::time),
        subcommands: &[],
    },
    CommandSpec {
        name: "lastsave",
        arity: 1,
        flags: &["loading", "stale", "fast"],
        keys: (0, 0, 0),
        acl: &["@admin", "@fast", "@dangerous"],
        tips: &["nondeterministic_output"],
        key_specs: &[],
        doc: Doc { summary: "Get the UNIX time stamp of the last successful save to disk", since: "1.0.0", group: "server", complexity: "O(1)" },
        route: Route::Local(admin::lastsave),
        subcommands: &[],
    },
    CommandSpec {
        name: "wait",
        arity: 3,
        flags: &["noscript"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["request_policy:all_shards", "response_policy:agg_min"],
        key_specs: &[],
        doc: Doc { summary: "Wait for the synchronous replication of all the write commands sent in the context of the current connection", since: "3.0.0", group: "generic", complexity: "O(1)" },
        route: Route::Local(admin::wait),
        subcommands: &[],
    },
    CommandSpec {
        name: "function",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "A container for function commands", since: "7.0.0", group: "scripting", complexity: "Depends on subcommand." },
        route: Route::Container,
        subcommands: FUNCTION_SUBCOMMANDS,
    },
    CommandSpec {
        name: "script",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "A container for Lua scripts management commands", since: "2.6.0", group: "scripting", complexity: "Depends on subcommand." },
        route: Route::Container,
        subcommands: SCRIPT_SUBCOMMANDS,
    },
    CommandSpec {
        name: "memory",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "A container for memory diagnostics commands", since: "4.0.0", group: "server", complexity: "Depends on subcommand." },
        route: Route::Container,
        subcommands: MEMORY_SUBCOMMANDS,
    },
    CommandSpec {
        name: "slowlog",
        arity: -2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "A container for slow log commands", since: "2.2.12", group: "server", complexity: "Depends on subcommand." },
        route: Route::Container,
        subcommands: SLOWLOG_SUBCOMMANDS,
    },

];

/// CONFIG's subcommands.
static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: -3,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Get the values of configuration parameters",
            since: "2.0.0",
            group: "server",
            complexity: "O(N) when N is the number of configuration parameters provided",
        },
        route: Route::Local(config::get),
        subcommands: &[],
    },
    CommandSpec {
        name: "set",
        arity: -4,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous"],
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Set configuration parameters to the given values",
            since: "2.0.0",
            group: "server",
            complexity: "O(N) when N is the number of configuration parameters provided",
        },
        route: Route::Local(config::set),
        subcommands: &[],
    },
    CommandSpec {
        name: "resetstat",
        arity: 2,
        flags: &["admin", "noscript", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Reset the stats returned by INFO",
            since: "2.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(config::resetstat),
        subcommands: &[],
    },
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
            since: "5.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(config::help),
        subcommands: &[],
    },
];

/// COMMAND's subcommands.
static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "count",
        arity: 2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Get total number of Redis commands",
            since: "2.8.13",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(command::count),
        subcommands: &[],
    },
    CommandSpec {
        name: "docs",
        arity: -2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
        doc: Doc {
            summary: "Get array of specific Redis command documentation",
            since: "7.0.0",
            group: "server",
            complexity: "O(N) where N is the number of commands to look up",
        },
        route: Route::Local(command::docs),
        subcommands: &[],
    },
    CommandSpec {
        name: "info",
        arity: -2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
        doc: Doc {
            summary:
                "Get array of specific Redis command details, or all when no argument is given.",
            since: "2.8.13",
            group: "server",
            complexity: "O(N) where N is the number of commands to look up",
        },
        route: Route::Local(command::info),
        subcommands: &[],
    },
    CommandSpec {
        name: "list",
        arity: -2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
        doc: Doc {
            summary: "Get an array of Redis command names",
            since: "7.0.0",
            group: "server",
            complexity: "O(N) where N is the total number of Redis commands",
        },
        route: Route::Local(command::list),
        subcommands: &[],
    },
    CommandSpec {
        name: "getkeys",
        arity: -4,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@connection"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Extract keys given a full Redis command",
            since: "2.8.13",
            group: "server",
            complexity: "O(N) where N is the number of arguments to the command",
        },
        route: Route::Local(command::getkeys),
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
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(command::help),
        subcommands: &[],
    },
];

/// FUNCTION's subcommands.
static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "flush",
        arity: -2,
        flags: &["write", "noscript"],
        keys: (0, 0, 0),
        acl: &["@write", "@slow", "@scripting"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Deleting all functions",
            since: "7.0.0",
            group: "scripting",
            complexity: "O(N) where N is the number of functions deleted",
        },
        route: Route::Local(scripting::function_flush),
        subcommands: &[],
    },
    CommandSpec {
        name: "kill",
        arity: 2,
        flags: &["noscript", "allow_busy"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Kill the function currently in execution.",
            since: "7.0.0",
            group: "scripting",
            complexity: "O(1)",
        },
        route: Route::Local(scripting::kill),
        subcommands: &[],
    },
    CommandSpec {
        name: "list",
        arity: -2,
        flags: &["noscript"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[],
        doc: Doc {
            summary: "List information about all the functions",
            since: "7.0.0",
            group: "scripting",
            complexity: "O(N) where N is the number of functions",
        },
        route: Route::Local(scripting::function_list),
        subcommands: &[],
    },
    CommandSpec {
        name: "help",
        arity: 2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Show helpful text about the different subcommands",
            since: "7.0.0",
            group: "scripting",
            complexity: "O(1)",
        },
        route: Route::Local(scripting::function_help),
        subcommands: &[],
    },
];

/// SCRIPT's subcommands.
static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "flush",
        arity: -2,
        flags: &["noscript"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc { summary: "Remove all the scripts from the script cache.", since: "2.6.0", group: "scripting", complexity: "O(N) with N being the number of scripts in cache" },
        route: Route::Local(scripting::script_flush),
        subcommands: &[],
    },
    CommandSpec {
        name: "exists",
        arity: -3,
        flags: &["noscript"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &["request_policy:all_shards", "response_policy:agg_logical_and"],
        key_specs: &[],
        doc: Doc { summary: "Check existence of scripts in the script cache.", since: "2.6.0", group: "scripting", complexity: "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation)." },
        route: Route::Local(scripting::script_exists),
        subcommands: &[],
    },
    CommandSpec {
        name: "kill",
        arity: 2,
        flags: &["noscript", "allow_busy"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &["request_policy:all_shards", "response_policy:one_succeeded"],
        key_specs: &[],
        doc: Doc { summary: "Kill the script currently in execution.", since: "2.6.0", group: "scripting", complexity: "O(1)" },
        route: Route::Local(scripting::kill),
        subcommands: &[],
    },
    CommandSpec {
        name: "help",
        arity: 2,
        flags: &["loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@slow", "@scripting"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "scripting", complexity: "O(1)" },
        route: Route::Local(scripting::script_help),
        subcommands: &[],
    },
];

/// MEMORY's subcommands.
static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "usage",
        arity: -3,
        flags: &["readonly"],
        keys: (2, 2, 1),
        acl: &["@read", "@slow"],
        tips: &[],
        key_specs: &[KeySpec {
            flags: &["RO"],
            begin_index: 2,
            last_key: 0,
            key_step: 1,
            limit: 0,
        }],
        doc: Doc {
            summary: "Estimate the memory usage of a key",
            since: "4.0.0",
            group: "server",
            complexity: "O(N) where N is the number of samples.",
        },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "doctor",
        arity: 2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
        key_specs: &[],
        doc: Doc {
            summary: "Outputs memory problems report",
            since: "4.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(memory::doctor),
        subcommands: &[],
    },
    CommandSpec {
        name: "stats",
        arity: 2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
        key_specs: &[],
        doc: Doc {
            summary: "Show memory usage details",
            since: "4.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(memory::stats),
        subcommands: &[],
    },
    CommandSpec {
        name: "malloc-stats",
        arity: 2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ],
        key_specs: &[],
        doc: Doc {
            summary: "Show allocator internal stats",
            since: "4.0.0",
            group: "server",
            complexity: "Depends on how much memory is allocated, could be slow",
        },
        route: Route::Local(memory::malloc_stats),
        subcommands: &[],
    },
    CommandSpec {
        name: "purge",
        arity: 2,
        flags: &[],
        keys: (0, 0, 0),
        acl: &["@slow"],
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Ask the allocator to release memory",
            since: "4.0.0",
            group: "server",
            complexity: "Depends on how much memory is allocated, could be slow",
        },
        route: Route::Local(memory::purge),
        subcommands: &[],
    },
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
            since: "4.0.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(memory::help),
        subcommands: &[],
    },
];

/// SLOWLOG's subcommands.
static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: -2,
        flags: &["admin", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous"],
        tips: &["request_policy:all_nodes", "nondeterministic_output"],
        key_specs: &[],
        doc: Doc {
            summary: "Get the slow log's entries",
            since: "2.2.12",
            group: "server",
            complexity: "O(N) where N is the number of entries returned",
        },
        route: Route::Local(slowlog::get),
        subcommands: &[],
    },
    CommandSpec {
        name: "len",
        arity: 2,
        flags: &["admin", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous"],
        tips: &[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ],
        key_specs: &[],
        doc: Doc {
            summary: "Get the slow log's length",
            since: "2.2.12",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(slowlog::len),
        subcommands: &[],
    },
    CommandSpec {
        name: "reset",
        arity: 2,
        flags: &["admin", "loading", "stale"],
        keys: (0, 0, 0),
        acl: &["@admin", "@slow", "@dangerous"],
        tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
        key_specs: &[],
        doc: Doc {
            summary: "Clear all entries from the slow log",
            since: "2.2.12",
            group: "server",
            complexity: "O(N) where N is the number of entries in the slowlog",
        },
        route: Route::Local(slowlog::reset),
        subcommands: &[],
    },
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
            since: "6.2.0",
            group: "server",
            complexity: "O(1)",
        },
        route: Route::Local(slowlog::help),
        subcommands: &[],
    },
];
