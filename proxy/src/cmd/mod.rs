//! The one table of every command the proxy serves, by family.
//!
//! Each [`CommandSpec`] states what Redis 7.0's `COMMAND INFO` says about the
//! command (arity, flags, keys, ACL categories, tips, key specs) plus how the
//! proxy serves it ([`Route`]). The dispatcher, the router and the `COMMAND`
//! command all read this table, so they cannot disagree.
//!
//! - [`strings`], [`keys`], [`hashes`], [`lists`], [`sets`], [`zsets`]: data
//!   commands, executed on partition primaries.
//! - [`server`]: DBSIZE/FLUSHALL (fan-out), INFO, CONFIG, COMMAND.
//! - [`connection`]: PING, ECHO, QUIT, SELECT, AUTH, HELLO, CLIENT.

pub mod acl;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod hashes;
pub mod info;
pub mod keys;
pub mod keyspace;
pub mod lists;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zsets;

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use bytes::Bytes;

use crate::dispatch::{Action, Ctx};

/// A handler for a command the proxy answers itself.
pub type LocalFn = fn(&mut Ctx<'_>, &[Bytes]) -> Action;

/// Positions of the keys in a command whose keys move (`ZUNIONSTORE dst
/// numkeys k1 k2 ...`). Empty when the arguments are malformed: the command
/// then goes to one partition, whose error reply the client gets.
pub type KeyFinder = fn(&[Bytes]) -> Vec<usize>;

/// How the proxy serves a command.
#[derive(Clone, Copy)]
pub enum Route {
    /// Answered by the proxy itself.
    Local(LocalFn),
    /// Only a holder of subcommands (`CLIENT`, `CONFIG`); never run itself.
    Container,
    /// Forwarded whole to the primary of its first key's partition.
    SingleKey,
    /// Split by partition, run in parallel, merged in argument order.
    MultiKey(Merge),
    /// Sent to every partition, merged.
    FanOut(Merge),
    /// Forwarded whole when every key (found by the function) is in one
    /// partition; Redis Cluster's CROSSSLOT error otherwise.
    SameSlot(KeyFinder),
}

/// How the per-partition replies of a split command are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// One element per key, put back in argument order (MGET).
    Array,
    /// `+OK` when every part said OK (MSET, FLUSHALL).
    Ok,
    /// The sum of the integer replies (DEL, EXISTS, DBSIZE...).
    Sum,
    /// Every partition's array reply, one after the other (KEYS).
    Concat,
    /// Forwarded only when every key is in one partition (MSETNX): its
    /// all-or-nothing promise cannot be kept across partitions without a
    /// distributed transaction, so other cases get Redis Cluster's CROSSSLOT.
    SamePartition,
}

/// One key specification, as `COMMAND INFO` shows it (index / range form).
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub flags: &'static [&'static str],
    pub begin_index: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub limit: i32,
}

/// The documentation `COMMAND DOCS` returns.
#[derive(Clone, Copy, Debug)]
pub struct Doc {
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
}

/// Everything the proxy knows about one command (or subcommand).
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lower-case name; for a subcommand, the part after `|`.
    pub name: &'static str,
    /// Redis arity: positive = exact, negative = minimum, counting the name.
    pub arity: i32,
    pub flags: &'static [&'static str],
    /// First key, last key (negative counts from the end), step.
    pub keys: (i32, i32, i32),
    pub acl: &'static [&'static str],
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub doc: Doc,
    pub route: Route,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// Whether the command changes data (decides whether it may be retried).
    pub fn is_write(&self) -> bool {
        self.has_flag("write")
    }

    /// Whether the command carries `flag` (e.g. `"no_auth"`).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        (arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)
    }

    /// The subcommand named `name`, case-insensitively.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Positions of the key arguments of this call: from the command's key
    /// finder when its keys move, from the (first, last, step) spec otherwise.
    pub fn keys_of(&self, args: &[Bytes]) -> Vec<usize> {
        match self.route {
            Route::SameSlot(find) => find(args).into_iter().filter(|&i| i < args.len()).collect(),
            _ => self.key_positions(args.len()),
        }
    }

    /// Positions of the key arguments in `args`, from the (first, last, step) spec.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        self.key_positions_iter(argc).collect()
    }

    /// The first of [`CommandSpec::key_positions`], without collecting them.
    pub fn first_key_position(&self, argc: usize) -> Option<usize> {
        self.key_positions_iter(argc).next()
    }

    /// [`CommandSpec::key_positions`] as an iterator (no allocation: the
    /// router and the ordering of a client's commands ask on every request).
    pub fn key_positions_iter(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, last, step) = self.keys;
        let last = if last < 0 {
            argc as i64 + i64::from(last)
        } else {
            i64::from(last)
        }
        .min(argc as i64 - 1);
        // No keys: an empty range.
        let (first, last) = if first <= 0 || step <= 0 {
            (1, 0)
        } else {
            (i64::from(first), last)
        };
        (first..=last)
            .step_by(step.max(1) as usize)
            .map(|i| i as usize)
    }
}

/// Every top-level command, family by family.
pub fn families() -> [(&'static str, &'static [CommandSpec]); 11] {
    [
        ("acl", acl::COMMANDS),
        ("strings", strings::COMMANDS),
        ("keys", keys::COMMANDS),
        ("keyspace", keyspace::COMMANDS),
        ("hashes", hashes::COMMANDS),
        ("lists", lists::COMMANDS),
        ("sets", sets::COMMANDS),
        ("zsets", zsets::COMMANDS),
        ("transactions", transactions::COMMANDS),
        ("server", server::COMMANDS),
        ("connection", connection::COMMANDS),
    ]
}

/// Every top-level command.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    families().into_iter().flat_map(|(_, cmds)| cmds.iter())
}

/// Longest top-level command name (the lookup key buffer's size).
const MAX_NAME: usize = 32;

/// Every top-level command by lower-case name, built on first use: the
/// lookup runs for every request, and a scan of ~240 names showed in profiles.
static BY_NAME: LazyLock<HashMap<&'static [u8], &'static CommandSpec>> =
    LazyLock::new(|| all().map(|c| (c.name.as_bytes(), c)).collect());

/// The command named `name`, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > MAX_NAME {
        return None;
    }
    let mut lower = [0u8; MAX_NAME];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    BY_NAME.get(&*lower).copied()
}

/// For [`KeyFinder`]s: the keys counted by a `numkeys` argument at `at`,
/// which follow it. Empty when the count is not a positive integer or runs
/// past the arguments.
pub fn numkeys_keys(args: &[Bytes], at: usize) -> Vec<usize> {
    let Some(n) = args
        .get(at)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|a| a.parse::<usize>().ok())
    else {
        return Vec::new();
    };
    if n == 0 || at + n >= args.len() {
        return Vec::new();
    }
    (at + 1..=at + n).collect()
}

/// The command (or subcommand) `args` names, with its parent for a
/// subcommand; `None` when unknown.
pub fn resolve(args: &[Bytes]) -> Option<(&'static CommandSpec, Option<&'static CommandSpec>)> {
    let top = lookup(args.first()?)?;
    if top.subcommands.is_empty() || args.len() < 2 {
        return Some((top, None));
    }
    top.subcommand(&args[1]).map(|sub| (sub, Some(top)))
}

/// For [`KeyFinder`]s: the first two arguments are keys (source and
/// destination of RENAME, COPY, LMOVE, LCS, SMOVE...).
pub fn first_two_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() >= 3 {
        vec![1, 2]
    } else {
        Vec::new()
    }
}

/// `parent|sub` for subcommands, the plain name otherwise.
pub fn full_name(parent: Option<&CommandSpec>, spec: &CommandSpec) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

/// [`full_name`] as a `&'static str` (metric labels need one).
///
/// The few subcommand names are built once and kept for the process's life.
pub fn static_name(parent: Option<&CommandSpec>, spec: &'static CommandSpec) -> &'static str {
    static NAMES: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let Some(parent) = parent else {
        return spec.name;
    };
    let names = NAMES.get_or_init(|| {
        let mut m = HashMap::new();
        for c in all() {
            for s in c.subcommands {
                let n = full_name(Some(c), s);
                let leaked: &'static str = Box::leak(n.clone().into_boxed_str());
                m.insert(n, leaked);
            }
        }
        m
    });
    names
        .get(&full_name(Some(parent), spec))
        .copied()
        .unwrap_or(spec.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for c in all() {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(seen.insert(c.name), "duplicate {}", c.name);
            let mut subs = std::collections::HashSet::new();
            for s in c.subcommands {
                assert!(subs.insert(s.name), "duplicate {}|{}", c.name, s.name);
            }
        }
    }

    #[test]
    fn routes_match_the_key_specs() {
        for c in all() {
            match c.route {
                Route::SingleKey | Route::MultiKey(_) => {
                    assert!(c.keys.0 > 0, "{} is routed by key but has no keys", c.name)
                }
                Route::Container => assert!(!c.subcommands.is_empty(), "{}", c.name),
                _ => {}
            }
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").map(|c| c.name), Some("get"));
        for c in all() {
            assert!(
                c.name.len() <= MAX_NAME,
                "{} is longer than MAX_NAME",
                c.name
            );
            assert!(
                c.name.bytes().all(|b| !b.is_ascii_uppercase()),
                "{}",
                c.name
            );
            let upper = c.name.to_ascii_uppercase();
            assert!(
                std::ptr::eq(lookup(upper.as_bytes()).unwrap(), c),
                "{}",
                c.name
            );
        }
        assert_eq!(BY_NAME.len(), all().count(), "no name is in two tables");
        assert!(lookup(&[b'g'; MAX_NAME + 1]).is_none());
        assert!(lookup(b"nosuch").is_none());
        let client = lookup(b"client").expect("client");
        assert_eq!(
            client.subcommand(b"SETNAME").map(|c| c.name),
            Some("setname")
        );
    }

    #[test]
    fn key_positions() {
        let mset = lookup(b"mset").expect("mset");
        assert_eq!(mset.key_positions(5), vec![1, 3]);
        let del = lookup(b"del").expect("del");
        assert_eq!(del.key_positions(4), vec![1, 2, 3]);
        let get = lookup(b"get").expect("get");
        assert_eq!(get.key_positions(2), vec![1]);
        assert_eq!(get.first_key_position(2), Some(1));
        assert_eq!(mset.first_key_position(5), Some(1));
        let ping = lookup(b"ping").expect("ping");
        assert!(ping.key_positions(1).is_empty());
    }

    #[test]
    fn numkeys_finds_counted_keys() {
        let a = |list: &[&str]| -> Vec<Bytes> {
            list.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        assert_eq!(
            numkeys_keys(&a(&["zunion", "2", "a", "b", "withscores"]), 1),
            vec![2, 3]
        );
        assert!(numkeys_keys(&a(&["zunion", "3", "a", "b"]), 1).is_empty());
        assert!(numkeys_keys(&a(&["zunion", "0", "a"]), 1).is_empty());
        assert!(numkeys_keys(&a(&["zunion", "x", "a"]), 1).is_empty());
    }

    #[test]
    fn arity() {
        let get = lookup(b"get").expect("get");
        assert!(get.arity_ok(2));
        assert!(!get.arity_ok(1));
        assert!(!get.arity_ok(3));
        let mset = lookup(b"mset").expect("mset");
        assert!(!mset.arity_ok(2));
        assert!(mset.arity_ok(3));
        assert!(mset.arity_ok(9));
    }
}
