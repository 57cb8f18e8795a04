//! Committed storage seen through the primary's prepared-but-uncommitted
//! mutations.
//!
//! The primary computes each new write against committed state plus every
//! write it prepared before (a client that sent `INCR k` twice must get 1 and
//! 2, even if the first is not committed yet), while reads are served from
//! committed state only. [`Pending`] holds the uncommitted mutations in decree
//! order; [`Overlay`] is the [`ReadView`] a write command executes against.

use std::collections::VecDeque;

use bytes::Bytes;
use petrel_common::ids::Decree;

use crate::log::decode_mutation;
use crate::replica::machine::Entry;
use crate::storage::merge::{Layered, PendingOps};
use crate::storage::{Mutation, StorageError, WriteOp};

/// Decoded uncommitted mutations, kept in step with the machine's tail,
/// then the staged writes: executed, to be proposed together as the next
/// decree (see the shell's write batching).
#[derive(Default)]
pub(crate) struct Pending {
    entries: VecDeque<(Decree, Bytes, Mutation)>,
    staged: Mutation,
}

impl Pending {
    /// Makes this list hold exactly `tail` (the machine's uncommitted
    /// entries, in decree order), decoding only what changed.
    pub(crate) fn sync<'a>(
        &mut self,
        tail: impl Iterator<Item = &'a Entry>,
    ) -> Result<(), StorageError> {
        let mut tail = tail.peekable();
        // Drop what has been committed since the last call.
        if let Some(first) = tail.peek() {
            while self
                .entries
                .front()
                .is_some_and(|(d, _, _)| *d < first.decree)
            {
                self.entries.pop_front();
            }
        } else {
            self.entries.clear();
            return Ok(());
        }
        let mut i = 0;
        for entry in tail {
            let same = self
                .entries
                .get(i)
                .is_some_and(|(d, b, _)| *d == entry.decree && *b == entry.mutation);
            if !same {
                self.entries.truncate(i);
                let m = decode_mutation(&entry.mutation)
                    .map_err(|e| StorageError::Corrupt(format!("log mutation: {e}")))?;
                self.entries
                    .push_back((entry.decree, entry.mutation.clone(), m));
            }
            i += 1;
        }
        self.entries.truncate(i);
        Ok(())
    }

    /// Records a mutation just proposed at `decree` (saves decoding it again).
    pub(crate) fn push(&mut self, decree: Decree, bytes: Bytes, mutation: Mutation) {
        if self.entries.back().is_none_or(|(d, _, _)| *d < decree) {
            self.entries.push_back((decree, bytes, mutation));
        }
    }

    /// The decoded mutation at `decree`, if held (saves decoding at apply).
    pub(crate) fn take_decoded(&self, decree: Decree, bytes: &Bytes) -> Option<&Mutation> {
        self.entries
            .iter()
            .find(|(d, b, _)| *d == decree && b == bytes)
            .map(|(_, _, m)| m)
    }

    /// Adds an executed write's mutation to the staged batch: later writes
    /// see it, reads of committed state do not.
    pub(crate) fn stage(&mut self, mutation: Mutation) {
        self.staged.ops.extend(mutation.ops);
    }

    /// Empties the staged batch and returns it (to be proposed, or dropped
    /// when its writes are refused).
    pub(crate) fn take_staged(&mut self) -> Mutation {
        std::mem::take(&mut self.staged)
    }
}

impl PendingOps for Pending {
    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.staged.is_empty()
    }

    fn newest_first(&self) -> impl Iterator<Item = &WriteOp> {
        self.staged.ops.iter().rev().chain(
            self.entries
                .iter()
                .rev()
                .flat_map(|(_, _, m)| m.ops.iter().rev()),
        )
    }

    fn oldest_first(&self) -> impl Iterator<Item = &WriteOp> {
        self.entries
            .iter()
            .flat_map(|(_, _, m)| m.ops.iter())
            .chain(self.staged.ops.iter())
    }
}

/// `base` as it will be once every pending mutation is applied.
pub(crate) type Overlay<'a> = Layered<'a, Pending>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::encode_mutation;
    use crate::storage::memory::MemEngine;
    use crate::storage::test_util::put;
    use crate::storage::{Engine, ReadView};
    use petrel_common::ids::Ballot;

    fn entry(decree: u64, ops: Vec<WriteOp>) -> Entry {
        Entry {
            ballot: Ballot(1),
            decree: Decree(decree),
            mutation: encode_mutation(&Mutation { ops }),
        }
    }

    fn all(view: &dyn ReadView) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        // From 0x01: past the internal records (the applied decree).
        view.scan(b"\x01", b"\xff", &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .expect("scan");
        out
    }

    #[test]
    fn pending_writes_shadow_committed_state_in_order() {
        let base = MemEngine::new();
        base.apply(
            Decree(1),
            &Mutation {
                ops: vec![
                    put(b"a", b"0"),
                    put(b"b", b"0"),
                    put(b"c", b"0"),
                    put(b"e", b"0"),
                ],
            },
        )
        .expect("apply");
        let tail = [
            entry(2, vec![put(b"a", b"1"), WriteOp::Delete(b"c".to_vec())]),
            entry(3, vec![WriteOp::DeleteRange(b"b".to_vec(), b"f".to_vec())]),
            entry(4, vec![put(b"d", b"4"), put(b"a", b"2")]),
        ];
        let mut pending = Pending::default();
        pending.sync(tail.iter()).expect("sync");
        let view = Overlay {
            base: &base,
            ops: &pending,
        };
        assert_eq!(view.get(b"a").expect("get"), Some(b"2".to_vec()));
        assert_eq!(view.get(b"b").expect("get"), None);
        assert_eq!(view.get(b"d").expect("get"), Some(b"4".to_vec()));
        assert_eq!(
            all(&view),
            vec![
                (b"a".to_vec(), b"2".to_vec()),
                (b"d".to_vec(), b"4".to_vec())
            ]
        );
        // Once 2 and 3 commit (applied to the base), only 4 stays pending.
        base.apply(Decree(2), &decode_mutation(&tail[0].mutation).expect("m"))
            .expect("apply");
        base.apply(Decree(3), &decode_mutation(&tail[1].mutation).expect("m"))
            .expect("apply");
        pending.sync(tail[2..].iter()).expect("sync");
        let view = Overlay {
            base: &base,
            ops: &pending,
        };
        assert_eq!(
            all(&view),
            vec![
                (b"a".to_vec(), b"2".to_vec()),
                (b"d".to_vec(), b"4".to_vec())
            ]
        );
    }

    #[test]
    fn scan_interleaves_and_stops_when_told() {
        let base = MemEngine::new();
        base.apply(
            Decree(1),
            &Mutation {
                ops: vec![put(b"b", b"0"), put(b"d", b"0")],
            },
        )
        .expect("apply");
        let tail = [entry(
            2,
            vec![put(b"a", b"1"), put(b"c", b"1"), put(b"e", b"1")],
        )];
        let mut pending = Pending::default();
        pending.sync(tail.iter()).expect("sync");
        let view = Overlay {
            base: &base,
            ops: &pending,
        };
        let keys: Vec<Vec<u8>> = all(&view).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                b"a".to_vec(),
                b"b".to_vec(),
                b"c".to_vec(),
                b"d".to_vec(),
                b"e".to_vec()
            ]
        );
        let mut seen = Vec::new();
        view.scan(b"\x01", b"\xff", &mut |k, _| {
            seen.push(k.to_vec());
            seen.len() < 3
        })
        .expect("scan");
        assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_replaced_tail_entry_is_decoded_again() {
        let mut pending = Pending::default();
        pending
            .sync(
                [
                    entry(1, vec![put(b"a", b"1")]),
                    entry(2, vec![put(b"a", b"2")]),
                ]
                .iter(),
            )
            .expect("sync");
        pending
            .sync(
                [
                    entry(1, vec![put(b"a", b"1")]),
                    entry(2, vec![put(b"a", b"9")]),
                ]
                .iter(),
            )
            .expect("sync");
        let base = MemEngine::new();
        let view = Overlay {
            base: &base,
            ops: &pending,
        };
        assert_eq!(view.get(b"a").expect("get"), Some(b"9".to_vec()));
        pending.sync(std::iter::empty()).expect("sync");
        assert!(pending.is_empty());
    }
}
