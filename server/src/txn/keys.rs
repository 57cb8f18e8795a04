//! Which keys a call touches, and how: the locks an EXECUTE takes and the
//! keys a fast-path command waits on (docs/TRANSACTIONS.md, participant
//! rules 1 and 3).
//!
//! A key found by a key spec flagged `RO` is read (a shared lock); any
//! other key is written (exclusive). Petrel's internal commands that carry
//! other calls inside them are looked into: `petrel.exec` (a MULTI block:
//! its watched keys are read, its commands' keys as each command says) and
//! `petrel.txn.run` (its carried keys are read, or written when its
//! command writes, and its command's own keys). Internal writes whose key
//! spec is a shared read-only constant (`petrel.txn.replace`,
//! `petrel.restore`) and `petrel.sweep` (its arguments are keys) write.

use std::collections::BTreeMap;

use bytes::Bytes;
use petrel_common::command::{table, Command, CommandId, Internal, KeySpecFlags};
use petrel_common::txn::LockMode;

/// The keys of one call with the strongest mode each is used in, in key
/// order. Arguments too malformed to find keys in give fewer keys: the
/// command itself then answers with its error and touches nothing.
pub(crate) fn locks_of(command: &Command, args: &[Bytes]) -> Vec<(Bytes, LockMode)> {
    let mut found = BTreeMap::new();
    add(&mut found, command, args, 0);
    found.into_iter().collect()
}

/// Just the keys (the fast path's question needs no modes).
pub(crate) fn keys_of(command: &Command, args: &[Bytes]) -> Vec<Bytes> {
    locks_of(command, args)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// How deep internal commands may nest (a MULTI block holds no MULTI
/// block, but a malformed request must not recurse without end).
const MAX_DEPTH: usize = 2;

fn note(found: &mut BTreeMap<Bytes, LockMode>, key: &Bytes, mode: LockMode) {
    let m = found.entry(key.clone()).or_insert(mode);
    *m = (*m).max(mode);
}

fn add(found: &mut BTreeMap<Bytes, LockMode>, command: &Command, args: &[Bytes], depth: usize) {
    let t = table();
    if depth <= MAX_DEPTH && command.id == t.internal(Internal::Exec).id {
        return add_exec(found, args, depth);
    }
    if depth <= MAX_DEPTH && command.id == t.internal(Internal::TxnRun).id {
        return add_txn_run(found, args, depth);
    }
    if command.id == t.internal(Internal::Sweep).id {
        for key in args.iter().skip(1) {
            note(found, key, LockMode::Exclusive);
        }
        return;
    }
    let internal_write = command.is_internal() && command.is_write();
    let _ = command.for_each_key(args, |i, flags| {
        let Some(key) = args.get(i) else {
            return;
        };
        let mode = if flags.contains(KeySpecFlags::RO) && !internal_write {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        note(found, key, mode);
    });
}

fn number(arg: Option<&Bytes>) -> Option<usize> {
    std::str::from_utf8(arg?).ok()?.parse().ok()
}

/// A command named `<id> <argc> <arg>...` at `at`: the command, its
/// arguments, and where the next item starts.
fn inner_call(args: &[Bytes], at: usize) -> Option<(&'static Command, &[Bytes], usize)> {
    let id = number(args.get(at))?;
    let argc = number(args.get(at + 1))?;
    let call = args.get(at + 2..(at + 2).checked_add(argc)?)?;
    let command = u16::try_from(id)
        .ok()
        .and_then(|id| table().get(CommandId(id)))
        .filter(|c| c.names_match(call))?;
    Some((command, call, at + 2 + argc))
}

/// `petrel.exec <nwatch> [<key> <fingerprint>]... [<id> <argc> <arg>...]...`
fn add_exec(found: &mut BTreeMap<Bytes, LockMode>, args: &[Bytes], depth: usize) {
    let Some(watches) = number(args.get(1)) else {
        return;
    };
    let mut at = 2;
    for _ in 0..watches {
        let Some(key) = args.get(at) else {
            return;
        };
        note(found, key, LockMode::Shared);
        at += 2;
    }
    while let Some((command, call, next)) = inner_call(args, at) {
        add(found, command, call, depth + 1);
        at = next;
    }
}

/// `petrel.txn.run <ncarried> (<key> <nitems> <item>...)... <id> <argc> <arg>...`
fn add_txn_run(found: &mut BTreeMap<Bytes, LockMode>, args: &[Bytes], depth: usize) {
    let Some(ncarried) = number(args.get(1)) else {
        return;
    };
    let mut at = 2;
    let mut carried = Vec::new();
    for _ in 0..ncarried {
        let (Some(key), Some(items)) = (args.get(at), number(args.get(at + 1))) else {
            return;
        };
        carried.push(key.clone());
        at = at.saturating_add(2).saturating_add(items);
    }
    let inner = inner_call(args, at);
    let mode = match inner {
        Some((command, _, _)) if !command.is_write() => LockMode::Shared,
        _ => LockMode::Exclusive,
    };
    for key in &carried {
        note(found, key, mode);
    }
    if let Some((command, call, _)) = inner {
        add(found, command, call, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::testing::exec_batch;

    fn call(args: &[&str]) -> (&'static Command, Vec<Bytes>) {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let petrel_common::command::Resolved::Command(c) = table().resolve(&args) else {
            panic!("{:?} is not a command", args[0]);
        };
        (c, args)
    }

    fn locks(args: &[&str]) -> Vec<(String, LockMode)> {
        let (c, args) = call(args);
        locks_of(c, &args)
            .into_iter()
            .map(|(k, m)| (String::from_utf8_lossy(&k).into_owned(), m))
            .collect()
    }

    fn id(name: &str) -> String {
        table()
            .find(name.as_bytes())
            .expect("command")
            .id
            .0
            .to_string()
    }

    use LockMode::{Exclusive as X, Shared as S};

    fn l(pairs: &[(&str, LockMode)]) -> Vec<(String, LockMode)> {
        pairs.iter().map(|(k, m)| (k.to_string(), *m)).collect()
    }

    #[test]
    fn key_specs_give_the_modes() {
        assert_eq!(locks(&["get", "a"]), l(&[("a", S)]));
        assert_eq!(locks(&["set", "a", "1"]), l(&[("a", X)]));
        assert_eq!(
            locks(&["mset", "b", "1", "a", "2"]),
            l(&[("a", X), ("b", X)])
        );
        // Sources read, the destination written.
        assert_eq!(
            locks(&["sunionstore", "d", "s1", "s2"]),
            l(&[("d", X), ("s1", S), ("s2", S)])
        );
        // A key both read and written is written.
        assert_eq!(locks(&["sunionstore", "s", "s"]), l(&[("s", X)]));
        assert_eq!(
            locks(&["lmove", "a", "b", "left", "right"]),
            l(&[("a", X), ("b", X)])
        );
        assert_eq!(locks(&["petrel.txn.replace", "k", "x"]), l(&[("k", X)]));
        assert_eq!(locks(&["petrel.sweep", "a", "b"]), l(&[("a", X), ("b", X)]));
        assert_eq!(locks(&["petrel.dump", "k"]), l(&[("k", S)]));
        // The rest of the keys cannot be found: those found so far (the
        // command answers its own error).
        assert_eq!(locks(&["zunionstore", "d", "x", "a"]), l(&[("d", X)]));
    }

    #[test]
    fn multi_blocks_and_carried_calls_are_looked_into() {
        let batch = exec_batch(&["w", "123"], &[&["get", "a"], &["set", "b", "1"]]);
        let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
        assert_eq!(locks(&batch), l(&[("a", S), ("b", X), ("w", S)]));
        // RENAME at its home with `src` carried from elsewhere.
        let run = [
            "petrel.txn.run",
            "1",
            "src",
            "1",
            "item",
            &id("rename"),
            "3",
            "rename",
            "src",
            "dst",
        ];
        assert_eq!(locks(&run), l(&[("dst", X), ("src", X)]));
        // A read-only command carried along reads its carried keys.
        let run = [
            "petrel.txn.run",
            "1",
            "k2",
            "0",
            &id("sunion"),
            "3",
            "sunion",
            "k1",
            "k2",
        ];
        assert_eq!(locks(&run), l(&[("k1", S), ("k2", S)]));
        // Malformed: what could be found, no panic.
        assert!(locks(&["petrel.txn.run", "9", "k"]).is_empty());
        assert!(locks(&["petrel.exec", "x"]).is_empty());
        assert_eq!(locks(&["petrel.exec", "1", "w"]), l(&[("w", S)]));
    }
}
