//! The list commands: executed on the key's partition primary.
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`.
//!
//! LMOVE and RPOPLPUSH name two keys and LMPOP a counted list of keys: they
//! are forwarded whole when every key is in one partition (Redis Cluster's
//! CROSSSLOT otherwise), so one partition runs them atomically. LMPOP's key
//! spec is of Redis's `keynum` form, which [`KeySpec`] cannot state: its
//! `COMMAND INFO` entry lists no key spec (its first/last/step are 0, as in
//! Redis, and the `movablekeys` flag says to ask `COMMAND GETKEYS`).

use bytes::Bytes;

use super::{CommandSpec, Doc, KeySpec, Route};

/// The keys of `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT n]`.
fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    super::numkeys_keys(args, 1)
}

/// The keys of `BLPOP key [key ...] timeout` (every argument but the last).
pub(crate) fn all_but_timeout(args: &[Bytes]) -> Vec<usize> {
    (1..args.len().saturating_sub(1)).collect()
}

/// The keys of `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT n]`.
pub(crate) fn blocking_mpop_keys(args: &[Bytes]) -> Vec<usize> {
    super::numkeys_keys(args, 2)
}

const fn list_doc(summary: &'static str, since: &'static str, complexity: &'static str) -> Doc {
    Doc {
        summary,
        since,
        group: "list",
        complexity,
    }
}

const POP_KEYS: &[KeySpec] = &[KeySpec {
    flags: &["RW", "access", "delete"],
    begin_index: 1,
    last_key: -2,
    key_step: 1,
    limit: 0,
}];

const MOVE_KEYS: &[KeySpec] = &[
    KeySpec {
        flags: &["RW", "access", "delete"],
        begin_index: 1,
        last_key: 0,
        key_step: 1,
        limit: 0,
    },
    KeySpec {
        flags: &["RW", "insert"],
        begin_index: 2,
        last_key: 0,
        key_step: 1,
        limit: 0,
    },
];

/// The list family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "blpop",
        arity: -3,
        flags: &["write", "noscript", "blocking"],
        keys: (1, -2, 1),
        acl: &["@write", "@list", "@slow", "@blocking"],
        tips: &[],
        key_specs: POP_KEYS,
        doc: list_doc(
            "Remove and get the first element in a list, or block until one is available",
            "2.0.0",
            "O(N) where N is the number of provided keys.",
        ),
        route: Route::SameSlot(all_but_timeout),
        subcommands: &[],
    },
    CommandSpec {
        name: "brpop",
        arity: -3,
        flags: &["write", "noscript", "blocking"],
        keys: (1, -2, 1),
        acl: &["@write", "@list", "@slow", "@blocking"],
        tips: &[],
        key_specs: POP_KEYS,
        doc: list_doc(
            "Remove and get the last element in a list, or block until one is available",
            "2.0.0",
            "O(N) where N is the number of provided keys.",
        ),
        route: Route::SameSlot(all_but_timeout),
        subcommands: &[],
    },
    CommandSpec {
        name: "brpoplpush",
        arity: 4,
        flags: &["write", "denyoom", "noscript", "blocking"],
        keys: (1, 2, 1),
        acl: &["@write", "@list", "@slow", "@blocking"],
        tips: &[],
        key_specs: MOVE_KEYS,
        doc: list_doc(
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "2.2.0",
            "O(1)",
        ),
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "blmove",
        arity: 6,
        flags: &["write", "denyoom", "noscript", "blocking"],
        keys: (1, 2, 1),
        acl: &["@write", "@list", "@slow", "@blocking"],
        tips: &[],
        key_specs: MOVE_KEYS,
        doc: list_doc(
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "6.2.0",
            "O(1)",
        ),
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "blmpop",
        arity: -5,
        flags: &["write", "blocking", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@write", "@list", "@slow", "@blocking"],
        tips: &[],
        key_specs: &[],
        doc: list_doc(
            "Pop elements from a list, or block until one is available",
            "7.0.0",
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        ),
        route: Route::SameSlot(blocking_mpop_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "lpush",
        arity: -3,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Prepend one or multiple elements to a list", since: "1.0.0", group: "list", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "rpush",
        arity: -3,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Append one or multiple elements to a list", since: "1.0.0", group: "list", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lpushx",
        arity: -3,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Prepend an element to a list, only if the list exists", since: "2.2.0", group: "list", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "rpushx",
        arity: -3,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Append an element to a list, only if the list exists", since: "2.2.0", group: "list", complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lpop",
        arity: -2,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove and get the first elements in a list", since: "1.0.0", group: "list", complexity: "O(N) where N is the number of elements returned" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "rpop",
        arity: -2,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove and get the last elements in a list", since: "1.0.0", group: "list", complexity: "O(N) where N is the number of elements returned" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "llen",
        arity: 2,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@list", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the length of a list", since: "1.0.0", group: "list", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lrange",
        arity: 4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get a range of elements from a list", since: "1.0.0", group: "list", complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lindex",
        arity: 3,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get an element from a list by its index", since: "1.0.0", group: "list", complexity: "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lset",
        arity: 4,
        flags: &["write", "denyoom"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Set the value of an element in a list by its index", since: "1.0.0", group: "list", complexity: "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lrem",
        arity: 4,
        flags: &["write"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove elements from a list", since: "1.0.0", group: "list", complexity: "O(N+M) where N is the length of the list and M is the number of elements removed." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "ltrim",
        arity: 4,
        flags: &["write"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Trim a list to the specified range", since: "1.0.0", group: "list", complexity: "O(N) where N is the number of elements to be removed by the operation." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "linsert",
        arity: 5,
        flags: &["write", "denyoom"],
        keys: (1, 1, 1),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "insert"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Insert an element before or after another element in a list", since: "2.2.0", group: "list", complexity: "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lpos",
        arity: -3,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return the index of matching elements on a list", since: "6.0.6", group: "list", complexity: "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "lmove",
        arity: 5,
        flags: &["write", "denyoom"],
        keys: (1, 2, 1),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RW", "insert"], begin_index: 2, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Pop an element from a list, push it to another list and return it", since: "6.2.0", group: "list", complexity: "O(1)" },
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "rpoplpush",
        arity: 3,
        flags: &["write", "denyoom"],
        keys: (1, 2, 1),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RW", "insert"], begin_index: 2, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove the last element in a list, prepend it to another list and return it", since: "1.2.0", group: "list", complexity: "O(1)" },
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "lmpop",
        arity: -4,
        flags: &["write", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@write", "@list", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Pop elements from a list", since: "7.0.0", group: "list", complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned." },
        route: Route::SameSlot(lmpop_keys),
        subcommands: &[],
    },
];

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
    fn moving_commands_find_their_keys() {
        let lmove = lookup(b"LMOVE").expect("lmove");
        assert_eq!(
            lmove.keys_of(&args(&["lmove", "a", "b", "left", "right"])),
            vec![1, 2]
        );
        let rpoplpush = lookup(b"rpoplpush").expect("rpoplpush");
        assert_eq!(
            rpoplpush.keys_of(&args(&["rpoplpush", "a", "b"])),
            vec![1, 2]
        );
        let lmpop = lookup(b"lmpop").expect("lmpop");
        assert_eq!(
            lmpop.keys_of(&args(&["lmpop", "2", "a", "b", "left", "count", "3"])),
            vec![2, 3]
        );
        // Malformed counts find no keys: one partition answers with Redis's error.
        assert!(lmpop
            .keys_of(&args(&["lmpop", "0", "a", "left"]))
            .is_empty());
        assert!(lmpop
            .keys_of(&args(&["lmpop", "x", "a", "left"]))
            .is_empty());
    }

    #[test]
    fn single_key_commands_are_routed_by_their_key() {
        for name in [
            "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex",
            "lset", "lrem", "ltrim", "linsert", "lpos",
        ] {
            let c = lookup(name.as_bytes()).expect(name);
            assert!(matches!(c.route, Route::SingleKey), "{name}");
            assert_eq!(c.keys, (1, 1, 1), "{name}");
        }
        assert!(lookup(b"lpush").expect("lpush").is_write());
        assert!(!lookup(b"lrange").expect("lrange").is_write());
        assert!(lookup(b"lmpop").expect("lmpop").is_write());
    }
}
