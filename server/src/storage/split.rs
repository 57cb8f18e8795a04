//! A partition's data split in two by the next bit of the key hash
//! (README "Online partition split"; docs/ARCHITECTURE.md).
//!
//! The split is one replicated mutation: a put of [`PARTITION_COUNT_KEY`]
//! with the doubled count. Every replica applies it at the same decree, and
//! applying it (see `replica::shell::split`) does what is here:
//!
//! - the child (`p + n` of `2n`) is a RocksDB checkpoint of the parent as
//!   it stood before that decree, minus every key that stays with the
//!   parent, with the split decree recorded as applied;
//! - the parent applies the decree together with the deletion of every key
//!   that went to the child.
//!
//! Both are deterministic functions of the same state, so every replica of
//! the parent and of the child ends identical, and no replica ever shows a
//! key that is not its own.

use std::path::Path;

use petrel_common::hash::partition_of;
use petrel_common::ids::Decree;

use super::layout::{self, KeyType};
use super::rocks::{RocksEngine, RocksOptions};
use super::{Engine, Mutation, ReadView, StorageError, WriteOp};

/// The internal record holding the table's partition count, written by a
/// split (absent before the first one).
pub(crate) const PARTITION_COUNT_KEY: &[u8] = b"\x00partition_count";

/// The mutation that splits a partition into a table of `count` partitions.
pub(crate) fn split_mutation(count: u32) -> Mutation {
    Mutation {
        ops: vec![WriteOp::Put(
            PARTITION_COUNT_KEY.to_vec(),
            count.to_be_bytes().to_vec(),
        )],
    }
}

/// The partition count `mutation` splits to, if it is a split.
pub(crate) fn split_count(mutation: &Mutation) -> Option<u32> {
    mutation.ops.iter().find_map(|op| match op {
        WriteOp::Put(k, v) if k == PARTITION_COUNT_KEY => {
            Some(u32::from_be_bytes(v.as_slice().try_into().ok()?))
        }
        _ => None,
    })
}

/// The partition count the last split applied to this database recorded
/// (`None` before its first split).
pub(crate) fn recorded_count(view: &dyn ReadView) -> Result<Option<u32>, StorageError> {
    let Some(raw) = view.get(PARTITION_COUNT_KEY)? else {
        return Ok(None);
    };
    let bytes: [u8; 4] = raw
        .as_slice()
        .try_into()
        .map_err(|_| StorageError::Corrupt("partition count record is not 4 bytes".into()))?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

/// The deletes that remove from `view` every user key that does not belong
/// to partition `pid` of `count` (its metadata record and every element
/// of every incarnation).
pub(crate) fn foreign_key_deletes(
    view: &dyn ReadView,
    pid: u32,
    count: u32,
) -> Result<Vec<WriteOp>, StorageError> {
    let (start, end) = layout::meta_space();
    let mut ops = Vec::new();
    let mut failure = None;
    view.scan(&start, &end, &mut |raw, value| {
        let user_key = match layout::decode_meta_key(raw) {
            Ok(k) => k,
            Err(e) => {
                failure = Some(e);
                return false;
            }
        };
        if partition_of(user_key, count) == pid {
            return true;
        }
        let collection = match layout::decode_meta(value) {
            Ok((header, _)) => header.key_type != KeyType::String,
            Err(e) => {
                failure = Some(e);
                return false;
            }
        };
        ops.push(WriteOp::Delete(raw.to_vec()));
        if collection {
            let (from, to) = layout::element_range_all_versions(user_key);
            ops.push(WriteOp::DeleteRange(from, to));
        }
        true
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(ops),
    }
}

/// Builds the child replica's database at `dir` (which must not exist):
/// a checkpoint of `parent` as it stands (the decree before the split),
/// without the keys that stay with the parent, with `split` (the split
/// mutation) applied at `decree`. Blocks.
pub(crate) fn build_child(
    parent: &RocksEngine,
    dir: &Path,
    options: &RocksOptions,
    child: u32,
    count: u32,
    decree: Decree,
    split: &Mutation,
) -> Result<(), StorageError> {
    parent.checkpoint(dir)?;
    let engine = RocksEngine::open(dir, options)?;
    let mut ops = foreign_key_deletes(engine.as_view(), child, count)?;
    ops.extend(split.ops.iter().cloned());
    engine.apply(decree, &Mutation { ops })?;
    engine.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemEngine;
    use crate::storage::test_util::keys;

    fn string_record(key: &[u8]) -> WriteOp {
        WriteOp::Put(layout::meta_key(key), layout::encode_string(0, 1, b"v"))
    }

    #[test]
    fn a_split_mutation_names_its_count_and_nothing_else_is_one() {
        assert_eq!(split_count(&split_mutation(16)), Some(16));
        let plain = Mutation {
            ops: vec![WriteOp::Put(b"\x04k".to_vec(), b"v".to_vec())],
        };
        assert_eq!(split_count(&plain), None);
    }

    #[test]
    fn foreign_keys_are_those_of_the_other_half() {
        let engine = MemEngine::new();
        let names: Vec<Vec<u8>> = (0..200).map(|i| format!("key:{i}").into_bytes()).collect();
        let ops = names.iter().map(|k| string_record(k)).collect();
        engine.apply(Decree(1), &Mutation { ops }).unwrap();
        // Partition 3 of 8 splits into 3 and 11 of 16.
        let mine: Vec<&Vec<u8>> = names.iter().filter(|k| partition_of(k, 8) == 3).collect();
        assert!(mine.len() > 10, "enough keys in partition 3");
        for (pid, other) in [(3u32, 11u32), (11, 3)] {
            let deletes = foreign_key_deletes(engine.as_view(), pid, 16).unwrap();
            let deleted: Vec<Vec<u8>> = deletes
                .iter()
                .filter_map(|op| match op {
                    WriteOp::Delete(raw) => Some(layout::decode_meta_key(raw).unwrap().to_vec()),
                    _ => None,
                })
                .collect();
            for k in &names {
                let p16 = partition_of(k, 16);
                assert_eq!(deleted.contains(k), p16 != pid, "key {k:?} in {p16}");
            }
            // Every key of partition 3 of 8 goes to exactly one half.
            for k in &mine {
                let p16 = partition_of(k, 16);
                assert!(p16 == pid || p16 == other);
            }
        }
        let (start, end) = layout::meta_space();
        assert_eq!(keys(engine.as_view(), &start, &end).len(), 200);
    }

    #[test]
    fn the_child_is_the_parent_before_the_split_minus_the_parents_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = RocksOptions::default();
        let parent = RocksEngine::open(&dir.path().join("parent"), &options).expect("open");
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("k{i}").into_bytes()).collect();
        let mut ops: Vec<WriteOp> = names.iter().map(|k| string_record(k)).collect();
        // A collection: its element goes with its key.
        let hash = b"{h}hash".to_vec();
        let mut header = layout::decode_meta(&layout::encode_string(0, 7, b""))
            .unwrap()
            .0;
        header.key_type = KeyType::Hash;
        header.size = 1;
        ops.push(WriteOp::Put(
            layout::meta_key(&hash),
            layout::encode_meta(&header, b""),
        ));
        ops.push(WriteOp::Put(
            layout::element_key(&hash, 7, b"f"),
            b"v".to_vec(),
        ));
        parent.apply(Decree(5), &Mutation { ops }).expect("apply");
        let split = split_mutation(2);
        let child_dir = dir.path().join("child");
        build_child(&parent, &child_dir, &options, 1, 2, Decree(6), &split).expect("build");
        let child = RocksEngine::open(&child_dir, &options).expect("open child");
        assert_eq!(child.applied_decree().unwrap(), Decree(6));
        assert_eq!(
            split_count(&Mutation {
                ops: vec![WriteOp::Put(
                    PARTITION_COUNT_KEY.to_vec(),
                    child.get(PARTITION_COUNT_KEY).unwrap().unwrap()
                )]
            }),
            Some(2)
        );
        let (start, end) = layout::meta_space();
        let held: Vec<Vec<u8>> = keys(child.as_view(), &start, &end)
            .iter()
            .map(|raw| layout::decode_meta_key(raw).unwrap().to_vec())
            .collect();
        let mut all = names.clone();
        all.push(hash.clone());
        let want: Vec<&Vec<u8>> = all.iter().filter(|k| partition_of(k, 2) == 1).collect();
        assert_eq!(held.len(), want.len());
        assert!(held.iter().all(|k| partition_of(k, 2) == 1));
        let (es, ee) = layout::element_space();
        let elements = keys(child.as_view(), &es, &ee).len();
        assert_eq!(elements, usize::from(partition_of(&hash, 2) == 1));
        // The parent is untouched until it applies the split itself.
        assert_eq!(keys(parent.as_view(), &start, &end).len(), 301);
        assert_eq!(parent.applied_decree().unwrap(), Decree(5));
    }
}
