//! The set commands: executed on the key's partition primary. The commands
//! that name several keys (SMOVE, SINTER, SUNION, SDIFF, the *STORE forms,
//! SINTERCARD) are forwarded whole when all their keys are in one partition
//! and refused with Redis Cluster's CROSSSLOT otherwise.
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`, except
//! SINTERCARD's key spec: Redis gives it a `keynum` find_keys spec, which
//! [`KeySpec`] (index/range only) cannot state, so it lists none.

use bytes::Bytes;

use super::{numkeys_keys, CommandSpec, Doc, KeySpec, Route};

/// The set family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sadd",
        arity: -3,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@set", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Add one or more members to a set", since: "1.0.0", group: "set", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "srem",
        arity: -3,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@set", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove one or more members from a set", since: "1.0.0", group: "set", complexity: "O(N) where N is the number of members to be removed." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "smembers",
        arity: 2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@set", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get all the members in a set", since: "1.0.0", group: "set", complexity: "O(N) where N is the set cardinality." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "sismember",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@set", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Determine if a given value is a member of a set", since: "1.0.0", group: "set", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "smismember",
        arity: -3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@set", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Returns the membership associated with the given elements for a set", since: "6.2.0", group: "set", complexity: "O(N) where N is the number of elements being checked for membership" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "scard",
        arity: 2,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@set", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the number of members in a set", since: "1.0.0", group: "set", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "spop",
        arity: -2,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@set", "@fast"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove and return one or multiple random members from a set", since: "1.0.0", group: "set", complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "srandmember",
        arity: -2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@set", "@slow"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get one or multiple random members from a set", since: "1.0.0", group: "set", complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "smove",
        arity: 4,
        flags: &["write", "fast"],
        keys: (1, 2, 1),
        acl: &["@write", "@set", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RW", "insert"], begin_index: 2, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Move a member from one set to another", since: "1.0.0", group: "set", complexity: "O(1)" },
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sinter",
        arity: -2,
        flags: &["readonly"],
        keys: (1, -1, 1),
        acl: &["@read", "@set", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: -1, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Intersect multiple sets", since: "1.0.0", group: "set", complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets." },
        route: Route::SameSlot(all_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sintercard",
        arity: -3,
        flags: &["readonly", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@read", "@set", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Intersect multiple sets and return the cardinality of the result", since: "7.0.0", group: "set", complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets." },
        route: Route::SameSlot(sintercard_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sunion",
        arity: -2,
        flags: &["readonly"],
        keys: (1, -1, 1),
        acl: &["@read", "@set", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: -1, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Add multiple sets", since: "1.0.0", group: "set", complexity: "O(N) where N is the total number of elements in all given sets." },
        route: Route::SameSlot(all_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sdiff",
        arity: -2,
        flags: &["readonly"],
        keys: (1, -1, 1),
        acl: &["@read", "@set", "@slow"],
        tips: &["nondeterministic_output_order"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: -1, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Subtract multiple sets", since: "1.0.0", group: "set", complexity: "O(N) where N is the total number of elements in all given sets." },
        route: Route::SameSlot(all_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sinterstore",
        arity: -3,
        flags: &["write", "denyoom"],
        keys: (1, -1, 1),
        acl: &["@write", "@set", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RO", "access"], begin_index: 2, last_key: -1, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Intersect multiple sets and store the resulting set in a key", since: "1.0.0", group: "set", complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets." },
        route: Route::SameSlot(all_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sunionstore",
        arity: -3,
        flags: &["write", "denyoom"],
        keys: (1, -1, 1),
        acl: &["@write", "@set", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["OW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RO", "access"], begin_index: 2, last_key: -1, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Add multiple sets and store the resulting set in a key", since: "1.0.0", group: "set", complexity: "O(N) where N is the total number of elements in all given sets." },
        route: Route::SameSlot(all_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sdiffstore",
        arity: -3,
        flags: &["write", "denyoom"],
        keys: (1, -1, 1),
        acl: &["@write", "@set", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["OW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RO", "access"], begin_index: 2, last_key: -1, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Subtract multiple sets and store the resulting set in a key", since: "1.0.0", group: "set", complexity: "O(N) where N is the total number of elements in all given sets." },
        route: Route::SameSlot(all_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "sscan",
        arity: -3,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@set", "@slow"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Incrementally iterate Set elements", since: "2.8.0", group: "set", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.." },
        route: Route::SingleKey,
        subcommands: &[],
    },
];

/// Every argument after the name is a key (SINTER, SUNIONSTORE dst k1 k2 ...).
fn all_keys(args: &[Bytes]) -> Vec<usize> {
    (1..args.len()).collect()
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_keys(args, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::lookup;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn every_set_command_is_served() {
        for name in [
            "sadd",
            "srem",
            "smembers",
            "sismember",
            "smismember",
            "scard",
            "spop",
            "srandmember",
            "smove",
            "sinter",
            "sintercard",
            "sunion",
            "sdiff",
            "sinterstore",
            "sunionstore",
            "sdiffstore",
            "sscan",
        ] {
            let spec = lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(spec.doc.group, "set", "{name}");
        }
    }

    #[test]
    fn multi_key_commands_find_their_keys() {
        let keys = |list: &[&str]| {
            let a = args(list);
            lookup(&a[0]).expect("known").keys_of(&a)
        };
        assert_eq!(keys(&["smove", "a", "b", "m"]), vec![1, 2]);
        assert_eq!(keys(&["sinter", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys(&["sdiffstore", "d", "a", "b"]), vec![1, 2, 3]);
        assert_eq!(
            keys(&["sintercard", "2", "a", "b", "LIMIT", "1"]),
            vec![2, 3]
        );
        assert!(keys(&["sintercard", "3", "a", "b"]).is_empty());
        assert_eq!(keys(&["sadd", "a", "m", "n"]), vec![1]);
    }

    #[test]
    fn write_flags() {
        for name in [
            "sadd",
            "srem",
            "spop",
            "smove",
            "sinterstore",
            "sunionstore",
            "sdiffstore",
        ] {
            assert!(lookup(name.as_bytes()).expect(name).is_write(), "{name}");
        }
        for name in ["smembers", "sinter", "sintercard", "sscan", "srandmember"] {
            assert!(!lookup(name.as_bytes()).expect(name).is_write(), "{name}");
        }
    }
}
