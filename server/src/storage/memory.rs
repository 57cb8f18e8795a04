//! An in-memory [`Engine`]: a sorted map behind a mutex, for fast tests of
//! command semantics and of the replica state machine.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use petrel_common::ids::Decree;

use crate::storage::layout::{self, APPLIED_DECREE_KEY};
use crate::storage::{Digest, Digester, Engine, Mutation, ReadView, StorageError, WriteOp};

/// A volatile engine with the same key/value semantics as [`super::rocks::RocksEngine`].
#[derive(Debug, Default)]
pub(crate) struct MemEngine {
    map: Mutex<Records>,
}

/// Every record, sorted by key like RocksDB's default comparator.
type Records = BTreeMap<Vec<u8>, Vec<u8>>;

impl MemEngine {
    /// An empty engine.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Records>, StorageError> {
        // A poisoned lock means a panic mid-apply: the map may be half-written.
        self.map
            .lock()
            .map_err(|_| StorageError::Corrupt("memory engine lock poisoned".into()))
    }
}

impl ReadView for MemEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock()?.get(key).cloned())
    }

    /// `visit` runs under the engine's lock: it must not call the engine.
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.scan_in(start, end, false, visit)
    }

    /// `visit` runs under the engine's lock: it must not call the engine.
    fn scan_rev(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.scan_in(start, end, true, visit)
    }
}

impl MemEngine {
    /// Visits `[start, end)` in key order, descending when `reverse`.
    fn scan_in(
        &self,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if start >= end {
            return Ok(());
        }
        let map = self.lock()?;
        let range = map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
        let items: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        for (key, value) in items {
            if !visit(key, value) {
                break;
            }
        }
        Ok(())
    }
}

impl Engine for MemEngine {
    fn as_view(&self) -> &dyn ReadView {
        // Applies hold the map's lock for a whole mutation, but a command's
        // reads take it one at a time: tests only, where nothing applies
        // concurrently with a read.
        self
    }

    fn apply(&self, decree: Decree, mutation: &Mutation) -> Result<(), StorageError> {
        let mut map = self.lock()?;
        for op in &mutation.ops {
            match op {
                WriteOp::Put(key, value) => {
                    map.insert(key.clone(), value.clone());
                }
                WriteOp::Delete(key) => {
                    map.remove(key);
                }
                WriteOp::DeleteRange(start, end) => {
                    if start < end {
                        let doomed: Vec<Vec<u8>> = map
                            .range::<[u8], _>((
                                Bound::Included(start.as_slice()),
                                Bound::Excluded(end.as_slice()),
                            ))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for key in doomed {
                            map.remove(&key);
                        }
                    }
                }
            }
        }
        map.insert(
            APPLIED_DECREE_KEY.to_vec(),
            layout::encode_decree(decree.0).to_vec(),
        );
        Ok(())
    }

    fn applied_decree(&self) -> Result<Decree, StorageError> {
        layout::applied_decree(self.lock()?.get(APPLIED_DECREE_KEY).map(Vec::as_slice))
    }

    fn flush(&self) -> Result<Decree, StorageError> {
        self.applied_decree()
    }

    fn digest(&self) -> Result<Digest, StorageError> {
        let map = self.lock()?;
        let applied = layout::applied_decree(map.get(APPLIED_DECREE_KEY).map(Vec::as_slice))?;
        let mut digester = Digester::default();
        for (k, v) in map.iter() {
            digester.add(k, v);
        }
        Ok(digester.finish(applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::test_util::{keys, put};

    #[test]
    fn apply_get_and_decree() {
        let engine = MemEngine::new();
        assert_eq!(engine.applied_decree().unwrap(), Decree(0));
        let mutation = Mutation {
            ops: vec![put(b"\x01a", b"1"), put(b"\x01b", b"2")],
        };
        engine.apply(Decree(1), &mutation).unwrap();
        assert_eq!(engine.get(b"\x01a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(engine.applied_decree().unwrap(), Decree(1));
        let delete = Mutation {
            ops: vec![WriteOp::Delete(b"\x01a".to_vec())],
        };
        engine.apply(Decree(2), &delete).unwrap();
        assert_eq!(engine.get(b"\x01a").unwrap(), None);
        assert_eq!(engine.applied_decree().unwrap(), Decree(2));
        engine.flush().unwrap();
    }

    #[test]
    fn ops_apply_in_order() {
        let engine = MemEngine::new();
        let mutation = Mutation {
            ops: vec![
                put(b"\x01a", b"1"),
                WriteOp::DeleteRange(b"\x01".to_vec(), b"\x02".to_vec()),
                put(b"\x01b", b"2"),
            ],
        };
        engine.apply(Decree(1), &mutation).unwrap();
        assert_eq!(engine.get(b"\x01a").unwrap(), None);
        assert_eq!(engine.get(b"\x01b").unwrap(), Some(b"2".to_vec()));
    }

    #[test]
    fn delete_range_spares_other_spaces() {
        let engine = MemEngine::new();
        let seed = Mutation {
            ops: vec![
                put(b"\x01a", b"1"),
                put(b"\x01z", b"2"),
                put(b"\x02x", b"3"),
            ],
        };
        engine.apply(Decree(1), &seed).unwrap();
        let flush = Mutation {
            ops: vec![WriteOp::DeleteRange(b"\x01".to_vec(), b"\x02".to_vec())],
        };
        engine.apply(Decree(2), &flush).unwrap();
        assert!(keys(&engine, b"\x01", b"\x02").is_empty());
        assert_eq!(keys(&engine, b"\x02", b"\x03"), vec![b"\x02x".to_vec()]);
        assert_eq!(engine.applied_decree().unwrap(), Decree(2));
    }

    #[test]
    fn scan_is_bounded_ordered_and_stoppable() {
        let engine = MemEngine::new();
        let seed = Mutation {
            ops: vec![
                put(b"\x01c", b""),
                put(b"\x01a", b""),
                put(b"\x01b", b""),
                put(b"\x01d", b""),
            ],
        };
        engine.apply(Decree(1), &seed).unwrap();
        assert_eq!(
            keys(&engine, b"\x01a", b"\x01d"),
            vec![b"\x01a".to_vec(), b"\x01b".to_vec(), b"\x01c".to_vec()]
        );
        let mut seen = 0;
        engine
            .scan(b"\x01", b"\x02", &mut |_, _| {
                seen += 1;
                seen < 2
            })
            .unwrap();
        assert_eq!(seen, 2);
        assert!(keys(&engine, b"\x02", b"\x01").is_empty());
    }
}
