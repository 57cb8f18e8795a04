//! The sorted set commands: executed on the key's partition primary.
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`. Key
//! specs of the `keynum` kind (the counted keys of ZUNIONSTORE, ZUNION,
//! ZMPOP...) have no [`KeySpec`] form yet and are left out; those commands
//! find their keys with a [`super::KeyFinder`] and go to one partition
//! ([`Route::SameSlot`]).

use bytes::Bytes;

use super::{numkeys_keys, CommandSpec, Doc, KeySpec, Route};

/// `ZUNIONSTORE dst numkeys key...` (and ZINTERSTORE, ZDIFFSTORE): the
/// destination and the counted keys.
fn store_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(numkeys_keys(args, 2));
    keys
}

/// `ZUNION numkeys key...` (and ZINTER, ZDIFF, ZINTERCARD, ZMPOP).
fn numkeys_first(args: &[Bytes]) -> Vec<usize> {
    numkeys_keys(args, 1)
}

const BZPOP_KEYS: &[KeySpec] = &[KeySpec {
    flags: &["RW", "access", "delete"],
    begin_index: 1,
    last_key: -2,
    key_step: 1,
    limit: 0,
}];

/// The sorted set family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "bzpopmin",
        arity: -3,
        flags: &["write", "noscript", "blocking", "fast"],
        keys: (1, -2, 1),
        acl: &["@write", "@sortedset", "@fast", "@blocking"],
        tips: &[],
        key_specs: BZPOP_KEYS,
        doc: Doc {
            summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
            since: "5.0.0",
            group: "sorted-set",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        },
        route: Route::SameSlot(super::lists::all_but_timeout),
        subcommands: &[],
    },
    CommandSpec {
        name: "bzpopmax",
        arity: -3,
        flags: &["write", "noscript", "blocking", "fast"],
        keys: (1, -2, 1),
        acl: &["@write", "@sortedset", "@fast", "@blocking"],
        tips: &[],
        key_specs: BZPOP_KEYS,
        doc: Doc {
            summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
            since: "5.0.0",
            group: "sorted-set",
            complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        },
        route: Route::SameSlot(super::lists::all_but_timeout),
        subcommands: &[],
    },
    CommandSpec {
        name: "bzmpop",
        arity: -5,
        flags: &["write", "blocking", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@write", "@sortedset", "@slow", "@blocking"],
        tips: &[],
        key_specs: &[],
        doc: Doc {
            summary: "Remove and return members with scores in a sorted set or block until one is available",
            since: "7.0.0",
            group: "sorted-set",
            complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        },
        route: Route::SameSlot(super::lists::blocking_mpop_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "zadd",
        arity: -4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Add one or more members to a sorted set, or update its score if it already exists", since: "1.2.0", group: "sorted-set", complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zincrby",
        arity: 4,
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Increment the score of a member in a sorted set", since: "1.2.0", group: "sorted-set", complexity: "O(log(N)) where N is the number of elements in the sorted set." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrem",
        arity: -3,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove one or more members from a sorted set", since: "1.2.0", group: "sorted-set", complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zscore",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the score associated with the given member in a sorted set", since: "1.2.0", group: "sorted-set", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zmscore",
        arity: -3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the score associated with the given members in a sorted set", since: "6.2.0", group: "sorted-set", complexity: "O(N) where N is the number of members being requested." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zcard",
        arity: 2,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get the number of members in a sorted set", since: "1.2.0", group: "sorted-set", complexity: "O(1)" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zcount",
        arity: 4,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Count the members in a sorted set with scores within the given values", since: "2.0.0", group: "sorted-set", complexity: "O(log(N)) with N being the number of elements in the sorted set." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrange",
        arity: -4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return a range of members in a sorted set", since: "1.2.0", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrangebyscore",
        arity: -4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return a range of members in a sorted set, by score", since: "1.0.5", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrevrangebyscore",
        arity: -4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return a range of members in a sorted set, by score, with scores ordered from high to low", since: "2.2.0", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrangebylex",
        arity: -4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return a range of members in a sorted set, by lexicographical range", since: "2.8.9", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrevrangebylex",
        arity: -4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", since: "2.8.9", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrevrange",
        arity: -4,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Return a range of members in a sorted set, by index, with scores ordered from high to low", since: "1.2.0", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrank",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Determine the index of a member in a sorted set", since: "2.0.0", group: "sorted-set", complexity: "O(log(N))" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrevrank",
        arity: 3,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Determine the index of a member in a sorted set, with scores ordered from high to low", since: "2.0.0", group: "sorted-set", complexity: "O(log(N))" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zlexcount",
        arity: 4,
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Count the number of members in a sorted set between a given lexicographical range", since: "2.8.9", group: "sorted-set", complexity: "O(log(N)) with N being the number of elements in the sorted set." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zpopmin",
        arity: -2,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove and return members with the lowest scores in a sorted set", since: "5.0.0", group: "sorted-set", complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zpopmax",
        arity: -2,
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@fast"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "access", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove and return members with the highest scores in a sorted set", since: "5.0.0", group: "sorted-set", complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zremrangebyrank",
        arity: 4,
        flags: &["write"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove all members in a sorted set within the given indexes", since: "2.0.0", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zremrangebyscore",
        arity: 4,
        flags: &["write"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove all members in a sorted set within the given scores", since: "1.2.0", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zremrangebylex",
        arity: 4,
        flags: &["write"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["RW", "delete"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Remove all members in a sorted set between the given lexicographical range", since: "2.8.9", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrandmember",
        arity: -2,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Get one or multiple random elements from a sorted set", since: "6.2.0", group: "sorted-set", complexity: "O(N) where N is the number of elements returned" },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zscan",
        arity: -3,
        flags: &["readonly"],
        keys: (1, 1, 1),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &["nondeterministic_output"],
        key_specs: &[KeySpec { flags: &["RO", "access"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Incrementally iterate sorted sets elements and associated scores", since: "2.8.0", group: "sorted-set", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.." },
        route: Route::SingleKey,
        subcommands: &[],
    },
    CommandSpec {
        name: "zrangestore",
        arity: -5,
        flags: &["write", "denyoom"],
        keys: (1, 2, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["OW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }, KeySpec { flags: &["RO", "access"], begin_index: 2, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Store a range of members from sorted set into another key", since: "6.2.0", group: "sorted-set", complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key." },
        route: Route::SameSlot(super::first_two_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "zunionstore",
        arity: -4,
        flags: &["write", "denyoom", "movablekeys"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["OW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Add multiple sorted sets and store the resulting sorted set in a new key", since: "2.0.0", group: "sorted-set", complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set." },
        route: Route::SameSlot(store_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "zinterstore",
        arity: -4,
        flags: &["write", "denyoom", "movablekeys"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["OW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Intersect multiple sorted sets and store the resulting sorted set in a new key", since: "2.0.0", group: "sorted-set", complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set." },
        route: Route::SameSlot(store_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "zdiffstore",
        arity: -4,
        flags: &["write", "denyoom", "movablekeys"],
        keys: (1, 1, 1),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[KeySpec { flags: &["OW", "update"], begin_index: 1, last_key: 0, key_step: 1, limit: 0 }],
        doc: Doc { summary: "Subtract multiple sorted sets and store the resulting sorted set in a new key", since: "6.2.0", group: "sorted-set", complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set." },
        route: Route::SameSlot(store_keys),
        subcommands: &[],
    },
    CommandSpec {
        name: "zunion",
        arity: -3,
        flags: &["readonly", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Add multiple sorted sets", since: "6.2.0", group: "sorted-set", complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set." },
        route: Route::SameSlot(numkeys_first),
        subcommands: &[],
    },
    CommandSpec {
        name: "zinter",
        arity: -3,
        flags: &["readonly", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Intersect multiple sorted sets", since: "6.2.0", group: "sorted-set", complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set." },
        route: Route::SameSlot(numkeys_first),
        subcommands: &[],
    },
    CommandSpec {
        name: "zintercard",
        arity: -3,
        flags: &["readonly", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Intersect multiple sorted sets and return the cardinality of the result", since: "7.0.0", group: "sorted-set", complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets." },
        route: Route::SameSlot(numkeys_first),
        subcommands: &[],
    },
    CommandSpec {
        name: "zdiff",
        arity: -3,
        flags: &["readonly", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@read", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Subtract multiple sorted sets", since: "6.2.0", group: "sorted-set", complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set." },
        route: Route::SameSlot(numkeys_first),
        subcommands: &[],
    },
    CommandSpec {
        name: "zmpop",
        arity: -4,
        flags: &["write", "movablekeys"],
        keys: (0, 0, 0),
        acl: &["@write", "@sortedset", "@slow"],
        tips: &[],
        key_specs: &[],
        doc: Doc { summary: "Remove and return members with scores in a sorted set", since: "7.0.0", group: "sorted-set", complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped." },
        route: Route::SameSlot(numkeys_first),
        subcommands: &[],
    },];

#[cfg(test)]
mod tests {
    use super::*;

    fn a(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn keys(name: &str, args: &[&str]) -> Vec<usize> {
        let spec = COMMANDS.iter().find(|c| c.name == name).expect(name);
        spec.keys_of(&a(args))
    }

    #[test]
    fn moving_keys_are_found() {
        assert_eq!(
            keys(
                "zunionstore",
                &["zunionstore", "d", "2", "a", "b", "weights", "1", "2"]
            ),
            vec![1, 3, 4]
        );
        assert_eq!(
            keys("zdiffstore", &["zdiffstore", "d", "1", "a"]),
            vec![1, 3]
        );
        assert_eq!(
            keys("zunion", &["zunion", "2", "a", "b", "withscores"]),
            vec![2, 3]
        );
        assert_eq!(
            keys("zintercard", &["zintercard", "1", "a", "limit", "3"]),
            vec![2]
        );
        assert_eq!(keys("zmpop", &["zmpop", "2", "a", "b", "min"]), vec![2, 3]);
        assert_eq!(
            keys("zrangestore", &["zrangestore", "d", "s", "0", "-1"]),
            vec![1, 2]
        );
        assert_eq!(keys("zadd", &["zadd", "z", "1", "m"]), vec![1]);
        // Malformed counts leave only the destination (the server answers the error).
        assert_eq!(
            keys("zinterstore", &["zinterstore", "d", "x", "a"]),
            vec![1]
        );
    }

    #[test]
    fn every_command_is_in_the_server_table() {
        // 32 commands plus the three blocking pops.
        assert_eq!(COMMANDS.len(), 35);
    }
}
