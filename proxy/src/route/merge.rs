//! Splitting a multi-key command's arguments by partition, and merging the
//! partitions' replies back into the one reply Redis gives: shared by the
//! non-transactional fan-out ([`super::split`]) and the transactions across
//! partitions (`crate::txn`), so both answer alike.

use bytes::Bytes;
use petrel_common::command::{Command, Merge};
use petrel_common::reply::{errors, Reply};

/// One partition's share of a multi-key command.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeyPart {
    /// The partition.
    pub(crate) pid: u32,
    /// Ordinals (0-based, among the keys) of the keys it carries.
    pub(crate) keys: Vec<usize>,
    /// The sub-command: the name, then its keys (and their values) in
    /// argument order.
    pub(crate) args: Vec<Bytes>,
}

/// A multi-key command split by partition, in order of first appearance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Split {
    /// How many keys the command names.
    pub(crate) nkeys: usize,
    pub(crate) parts: Vec<KeyPart>,
}

/// Splits `args` (a `Split` command: MSET, MGET, DEL...) by the partition
/// `partition_of` gives each key; `Err` is Redis's reply to malformed
/// arguments.
pub(crate) fn split_keys(
    spec: &Command,
    args: &[Bytes],
    partition_of: impl Fn(&[u8]) -> u32,
) -> Result<Split, Reply> {
    let step = spec.def.keys.2.max(1) as usize;
    // MSET-style commands take key/value pairs; Redis checks the count itself.
    if step > 1 && !(args.len() - 1).is_multiple_of(step) {
        return Err(Reply::Error(errors::wrong_arity(spec.name())));
    }
    let positions = spec.key_positions(args);
    if positions.is_empty() {
        return Err(Reply::Error(errors::wrong_arity(spec.name())));
    }
    let mut parts: Vec<KeyPart> = Vec::new();
    for (ordinal, &pos) in positions.iter().enumerate() {
        let pid = partition_of(&args[pos]);
        let at = match parts.iter().position(|p| p.pid == pid) {
            Some(at) => at,
            None => {
                parts.push(KeyPart {
                    pid,
                    keys: Vec::new(),
                    args: vec![args[0].clone()],
                });
                parts.len() - 1
            }
        };
        let part = &mut parts[at];
        part.keys.push(ordinal);
        part.args.extend(args[pos..pos + step].iter().cloned());
    }
    Ok(Split {
        nkeys: positions.len(),
        parts,
    })
}

/// The command's reply from its parts' replies (one per part, in order).
/// A part's error reply is the answer (Redis stops at its first error).
pub(crate) fn merge(name: &str, merge: Merge, split: &Split, replies: Vec<Reply>) -> Reply {
    if let Some(e) = replies.iter().find(|r| r.is_error()) {
        return e.clone();
    }
    match merge {
        Merge::Array => {
            let mut out = vec![Reply::Nil; split.nkeys];
            for (part, reply) in split.parts.iter().zip(replies) {
                let Reply::Array(items) = reply else {
                    return unexpected(name);
                };
                if items.len() != part.keys.len() {
                    return Reply::error(format!(
                        "ERR partition answered {name} with the wrong count"
                    ));
                }
                for (ordinal, item) in part.keys.iter().zip(items) {
                    if let Some(slot) = out.get_mut(*ordinal) {
                        *slot = item;
                    }
                }
            }
            Reply::Array(out)
        }
        Merge::Sum => sum(&replies, name),
        Merge::Concat => concat(replies, name),
        Merge::Ok | Merge::SamePartition => all_ok(&replies, name),
    }
}

fn unexpected(name: &str) -> Reply {
    Reply::error(format!("ERR unexpected reply to {name} from a partition"))
}

/// The elements of every partition's array reply, partition by partition.
pub(crate) fn concat(replies: Vec<Reply>, name: &str) -> Reply {
    let mut out = Vec::new();
    for r in replies {
        match r {
            Reply::Array(items) => out.extend(items),
            _ => return unexpected(name),
        }
    }
    Reply::Array(out)
}

/// The total of the partitions' integer replies.
pub(crate) fn sum(replies: &[Reply], name: &str) -> Reply {
    let mut total: i64 = 0;
    for r in replies {
        match r {
            Reply::Int(n) => total = total.saturating_add(*n),
            _ => return unexpected(name),
        }
    }
    Reply::Int(total)
}

/// `+OK` when every partition said OK.
pub(crate) fn all_ok(replies: &[Reply], name: &str) -> Reply {
    if replies
        .iter()
        .all(|r| matches!(r, Reply::Status(s) if s == "OK"))
    {
        Reply::ok()
    } else {
        unexpected(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::command::table;

    fn words(w: &[&str]) -> Vec<Bytes> {
        w.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    /// Keys named `<partition>...`: the first byte's digit is the partition.
    fn by_digit(k: &[u8]) -> u32 {
        u32::from(k[0] - b'0')
    }

    #[test]
    fn mset_splits_pairs_and_mget_merges_in_key_order() {
        let mset = table().find(b"mset").expect("mset");
        let s = split_keys(
            mset,
            &words(&["MSET", "1a", "x", "2b", "y", "1c", "z"]),
            by_digit,
        )
        .expect("split");
        assert_eq!(s.nkeys, 3);
        assert_eq!(s.parts[0].args, words(&["MSET", "1a", "x", "1c", "z"]));
        assert_eq!(s.parts[1].args, words(&["MSET", "2b", "y"]));
        assert_eq!(
            merge("mset", Merge::Ok, &s, vec![Reply::ok(), Reply::ok()]),
            Reply::ok()
        );
        assert!(split_keys(mset, &words(&["MSET", "1a", "x", "2b"]), by_digit).is_err());
        let mget = table().find(b"mget").expect("mget");
        let s = split_keys(mget, &words(&["MGET", "1a", "2b", "1c"]), by_digit).expect("split");
        let b = |v: &str| Reply::Bulk(Bytes::from(v.to_string()));
        let merged = merge(
            "mget",
            Merge::Array,
            &s,
            vec![
                Reply::Array(vec![b("A"), Reply::Nil]),
                Reply::Array(vec![b("B")]),
            ],
        );
        assert_eq!(merged, Reply::Array(vec![b("A"), b("B"), Reply::Nil]));
    }

    #[test]
    fn merges() {
        assert_eq!(sum(&[Reply::Int(2), Reply::Int(3)], "del"), Reply::Int(5));
        assert!(sum(&[Reply::Int(2), Reply::ok()], "del").is_error());
        assert_eq!(all_ok(&[Reply::ok(), Reply::ok()], "mset"), Reply::ok());
        assert!(all_ok(&[Reply::ok(), Reply::Int(1)], "mset").is_error());
        let s = Split {
            nkeys: 2,
            parts: vec![],
        };
        let e = Reply::error("WRONGTYPE x");
        assert_eq!(
            merge("del", Merge::Sum, &s, vec![Reply::Int(1), e.clone()]),
            e
        );
    }
}
