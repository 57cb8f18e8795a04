//! Petrel's internal commands: sent by the proxy to partition primaries,
//! never accepted from a client and never listed by `COMMAND`.

use super::def::*;

const fn internal(
    name: &'static str,
    arity: i32,
    flags: CommandFlags,
    keys: (i32, i32, i32),
    key_specs: &'static [KeySpec],
    summary: &'static str,
) -> CommandDef {
    CommandDef {
        name,
        arity,
        flags,
        keys,
        acl: AclCategories::NONE,
        tips: &[],
        key_specs,
        doc: Doc {
            summary,
            since: "0.1.0",
            group: "petrel",
            complexity: None,
            doc_flags: DocFlags::SYSCMD,
            deprecated_since: None,
            replaced_by: None,
            history: &[],
            arguments: &[],
        },
        subcommands: &[],
    }
}

const KEY_AT_1: &[KeySpec] = &[KeySpec {
    notes: None,
    flags: KeySpecFlags::RO,
    begin_search: BeginSearch::Index(1),
    find_keys: FindKeys::Range {
        last_key: 0,
        key_step: 1,
        limit: 0,
    },
}];

/// Every internal command (ids follow Redis's commands).
pub(super) static COMMANDS: &[CommandDef] = &[
    internal(
        "petrel.scan",
        -3,
        CommandFlags::READONLY,
        (0, 0, 0),
        &[],
        "One partition's share of SCAN: `petrel.scan <cursor-key> <count> [MATCH p] [TYPE t]`",
    ),
    internal(
        "petrel.expired",
        3,
        CommandFlags::READONLY,
        (0, 0, 0),
        &[],
        "Keys whose expiry has passed, for the background sweep",
    ),
    internal(
        "petrel.dump",
        2,
        CommandFlags::READONLY,
        (1, 1, 1),
        KEY_AT_1,
        "A key's records, for MOVE between databases",
    ),
    internal(
        "petrel.restore",
        -3,
        CommandFlags::WRITE,
        (1, 1, 1),
        KEY_AT_1,
        "Writes records read by petrel.dump",
    ),
    internal(
        "petrel.sweep",
        -1,
        CommandFlags::WRITE,
        (0, 0, 0),
        &[],
        "Deletes keys whose expiry has passed",
    ),
    internal(
        "petrel.exec",
        -2,
        CommandFlags::WRITE,
        (0, 0, 0),
        &[],
        "A MULTI block whose keys share one partition, run as one mutation",
    ),
    internal(
        "petrel.fingerprint",
        2,
        CommandFlags::READONLY,
        (1, 1, 1),
        KEY_AT_1,
        "A digest of a key's records, for WATCH",
    ),
    internal(
        "petrel.txn.run",
        -4,
        CommandFlags::WRITE,
        (0, 0, 0),
        &[],
        "Inside a transaction: a command run at one partition with other partitions' keys brought along",
    ),
    internal(
        "petrel.txn.replace",
        -2,
        CommandFlags::WRITE,
        (1, 1, 1),
        KEY_AT_1,
        "Inside a transaction: sets a key to the state petrel.txn.run computed for it",
    ),
    internal(
        "petrel.eval",
        -6,
        CommandFlags::WRITE,
        (0, 0, 0),
        EVAL_KEYS,
        "A script whose keys are all in one partition, run as one mutation: `petrel.eval <partitions> <declared> <rw|ro> <body> <numkeys> <key>... <arg>...`",
    ),
    internal(
        "petrel.script.kill",
        1,
        CommandFlags::NONE,
        (0, 0, 0),
        &[],
        "Stops every script running at this server (SCRIPT KILL); its writes are not applied",
    ),
    internal(
        "petrel.fcall",
        -7,
        CommandFlags::WRITE,
        (0, 0, 0),
        FCALL_KEYS,
        "A function whose keys are all in one partition, run as one mutation: `petrel.fcall <partitions> <declared> <rw|ro> <library code> <function> <numkeys> <key>... <arg>...`",
    ),    internal(
        "petrel.moved",
        2,
        CommandFlags::WRITE,
        (1, 1, 1),
        KEY_AT_1,
        "MOVE's last step at the source database: deletes the key (raising `move_from`)",
    ),
    internal(
        "petrel.sort",
        -5,
        CommandFlags::WRITE,
        (0, 0, 0),
        &[],
        "SORT with the values its BY/GET patterns name read beforehand (in other partitions, inside a transaction): `petrel.sort <script 0|1> <n> (<s|h|s-|h-> <key> <field> <value>)... SORT ...`",
    ),
];

/// `petrel.fcall`'s keys: `numkeys` at index 6, then the keys.
const FCALL_KEYS: &[KeySpec] = &[KeySpec {
    notes: None,
    flags: KeySpecFlags::RW,
    begin_search: BeginSearch::Index(6),
    find_keys: FindKeys::Keynum {
        keynum_index: 0,
        first_key: 1,
        key_step: 1,
    },
}];

/// `petrel.eval`'s keys: `numkeys` at index 5, then the keys.
const EVAL_KEYS: &[KeySpec] = &[KeySpec {
    notes: None,
    flags: KeySpecFlags::RW,
    begin_search: BeginSearch::Index(5),
    find_keys: FindKeys::Keynum {
        keynum_index: 0,
        first_key: 1,
        key_step: 1,
    },
}];
