//! The hash commands: executed on the key's partition primary.
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`.

use super::{CommandSpec, Doc, KeySpec, Route};

/// The hash family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hset",
        arity: -4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Set the string value of a hash field", since: "2.0.0", group: "hash", complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hsetnx",
        arity: 4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Set the value of a hash field, only if the field does not exist", since: "2.0.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hget",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the value of a hash field", since: "2.0.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hmget",
        arity: -3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the values of all the given hash fields", since: "2.0.0", group: "hash", complexity: "O(N) where N is the number of fields being requested." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hmset",
        arity: -4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Set multiple hash fields to multiple values", since: "2.0.0", group: "hash", complexity: "O(N) where N is the number of fields being set." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hdel",
        arity: -3,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Delete one or more hash fields", since: "2.0.0", group: "hash", complexity: "O(N) where N is the number of fields to be removed." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hlen",
        arity: 2,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the number of fields in a hash", since: "2.0.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hstrlen",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the length of the value of a hash field", since: "3.2.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hexists",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Determine if a hash field exists", since: "2.0.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hgetall",
        arity: 2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get all the fields and values in a hash", since: "2.0.0", group: "hash", complexity: "O(N) where N is the size of the hash." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hkeys",
        arity: 2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get all the fields in a hash", since: "2.0.0", group: "hash", complexity: "O(N) where N is the size of the hash." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hvals",
        arity: 2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get all the values in a hash", since: "2.0.0", group: "hash", complexity: "O(N) where N is the size of the hash." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hincrby",
        arity: 4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Increment the integer value of a hash field by the given number", since: "2.0.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hincrbyfloat",
        arity: 4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@hash", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Increment the float value of a hash field by the given amount", since: "2.6.0", group: "hash", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hrandfield",
        arity: -2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@slow"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get one or multiple random fields from a hash", since: "6.2.0", group: "hash", complexity: "O(N) where N is the number of fields returned" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "hscan",
        arity: -3,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@hash", "@slow"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Incrementally iterate hash fields and associated values", since: "2.8.0", group: "hash", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.." },
        route: Route::SingleKey,
        subcommands: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::COMMANDS;
    use crate::cmd::{lookup, Route};

    #[test]
    fn every_hash_command_is_routed_by_its_key() {
        assert_eq!(COMMANDS.len(), 16);
        for c in COMMANDS {
            assert!(matches!(c.route, Route::SingleKey), "{}", c.name);
            assert_eq!(c.keys, (1, 1, 1), "{}", c.name);
            assert_eq!(c.doc.group, "hash");
            assert_eq!(
                lookup(c.name.to_ascii_uppercase().as_bytes()).map(|s| s.name),
                Some(c.name)
            );
        }
        let writes: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| c.is_write())
            .map(|c| c.name)
            .collect();
        assert_eq!(
            writes,
            ["hset", "hsetnx", "hmset", "hdel", "hincrby", "hincrbyfloat"]
        );
    }
}
