//! A scan of a [`ReadView`] seen through writes not applied to it yet: the
//! replica's uncommitted tail ([`crate::replica::overlay`]) and one
//! command's own pending element writes ([`crate::cmd::db`]) both read this
//! way.

use std::collections::BTreeMap;

use super::{ReadView, StorageError, WriteOp};

/// Writes layered over a view, for keys in one scan range.
#[derive(Clone, Default)]
pub(crate) struct Layer {
    /// The final value of each written key: `None` is a delete.
    pub(crate) written: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Ranges `[start, end)` whose base keys are all deleted (writes in
    /// `written` win over them: record those after the range delete).
    pub(crate) erased: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Pending writes in scan order.
type Writes<'a> = Box<dyn Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)> + 'a>;

fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    start <= key && key < end
}

/// What `ops` (newest first) say `key` holds: `Some(None)` when they delete
/// it, `None` when they do not touch it (the base decides).
pub(crate) fn latest<'a>(
    mut ops_newest_first: impl Iterator<Item = &'a WriteOp>,
    key: &[u8],
) -> Option<Option<Vec<u8>>> {
    ops_newest_first.find_map(|op| match op {
        WriteOp::Put(k, v) if k.as_slice() == key => Some(Some(v.clone())),
        WriteOp::Delete(k) if k.as_slice() == key => Some(None),
        WriteOp::DeleteRange(s, e) if in_range(key, s, e) => Some(None),
        _ => None,
    })
}

/// Writes not applied yet, in the order they will apply: what a
/// [`Layered`] view lays over its base.
pub(crate) trait PendingOps {
    /// Every write, the newest first.
    fn newest_first(&self) -> impl Iterator<Item = &WriteOp>;
    /// Every write, the oldest first.
    fn oldest_first(&self) -> impl Iterator<Item = &WriteOp>;
    /// Whether there is no write at all.
    fn is_empty(&self) -> bool;
}

impl PendingOps for [WriteOp] {
    fn newest_first(&self) -> impl Iterator<Item = &WriteOp> {
        self.iter().rev()
    }

    fn oldest_first(&self) -> impl Iterator<Item = &WriteOp> {
        self.iter()
    }

    fn is_empty(&self) -> bool {
        <[WriteOp]>::is_empty(self)
    }
}

/// Writes layered over a view: `base` as it will be once `ops` are applied
/// in order. The primary's uncommitted tail ([`crate::replica::overlay`])
/// and a transaction's pending writes at a participant are both read so.
pub(crate) struct Layered<'a, P: PendingOps + ?Sized> {
    pub(crate) base: &'a dyn ReadView,
    pub(crate) ops: &'a P,
}

/// A plain list of writes over a view (a transaction's pending writes).
pub(crate) type OpsView<'a> = Layered<'a, [WriteOp]>;

impl<P: PendingOps + ?Sized> ReadView for Layered<'_, P> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        match latest(self.ops.newest_first(), key) {
            Some(found) => Ok(found),
            None => self.base.get(key),
        }
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if self.ops.is_empty() {
            return self.base.scan(start, end, visit);
        }
        Layer::of(self.ops.oldest_first(), start, end).scan(self.base, start, end, false, visit)
    }

    fn scan_rev(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if self.ops.is_empty() {
            return self.base.scan_rev(start, end, visit);
        }
        Layer::of(self.ops.oldest_first(), start, end).scan(self.base, start, end, true, visit)
    }
}

impl Layer {
    /// The effects of `ops` (oldest first) inside `[start, end)`: the last
    /// write of each key wins; a range delete hides older writes and every
    /// base key it covers.
    pub(crate) fn of<'a>(
        ops_oldest_first: impl Iterator<Item = &'a WriteOp>,
        start: &[u8],
        end: &[u8],
    ) -> Layer {
        let mut layer = Layer::default();
        for op in ops_oldest_first {
            match op {
                WriteOp::Put(k, v) if in_range(k, start, end) => {
                    layer.written.insert(k.clone(), Some(v.clone()));
                }
                WriteOp::Delete(k) if in_range(k, start, end) => {
                    layer.written.insert(k.clone(), None);
                }
                WriteOp::DeleteRange(s, e) => {
                    for (_, v) in layer.written.range_mut(s.clone()..e.clone()) {
                        *v = None;
                    }
                    layer.erased.push((s.clone(), e.clone()));
                }
                _ => {}
            }
        }
        layer
    }

    /// Whether the layer hides the base value of `key`.
    fn hides(&self, key: &[u8]) -> bool {
        self.erased.iter().any(|(s, e)| in_range(key, s, e))
    }

    /// Visits `[start, end)` of `base` with this layer on top, in key order
    /// (descending when `reverse`), until `visit` returns `false`.
    pub(crate) fn scan(
        &self,
        base: &dyn ReadView,
        start: &[u8],
        end: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        if start >= end {
            return Ok(());
        }
        let range = self.written.range(start.to_vec()..end.to_vec());
        let mut own: Writes<'_> = if reverse {
            Box::new(range.rev())
        } else {
            Box::new(range)
        };
        let mut next_own = own.next();
        // Whether pending key `pk` comes before base key `k` in scan order.
        let before = |pk: &[u8], k: &[u8]| if reverse { pk > k } else { pk < k };
        let mut stopped = false;
        let mut on_base = |k: &[u8], v: &[u8]| -> bool {
            while let Some((pk, pv)) = next_own {
                if !before(pk, k) {
                    break;
                }
                if let Some(pv) = pv {
                    if !visit(pk, pv) {
                        stopped = true;
                        return false;
                    }
                }
                next_own = own.next();
            }
            if let Some((pk, pv)) = next_own {
                if pk.as_slice() == k {
                    next_own = own.next();
                    let go_on = match pv {
                        Some(pv) => visit(pk, pv),
                        None => true,
                    };
                    stopped = !go_on;
                    return go_on;
                }
            }
            if self.hides(k) {
                return true;
            }
            let go_on = visit(k, v);
            stopped = !go_on;
            go_on
        };
        if reverse {
            base.scan_rev(start, end, &mut on_base)?;
        } else {
            base.scan(start, end, &mut on_base)?;
        }
        if stopped {
            return Ok(());
        }
        while let Some((pk, pv)) = next_own {
            if let Some(pv) = pv {
                if !visit(pk, pv) {
                    break;
                }
            }
            next_own = own.next();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemEngine;
    use crate::storage::test_util::put;
    use crate::storage::{Engine, Mutation, WriteOp};
    use petrel_common::ids::Decree;

    fn base() -> MemEngine {
        let e = MemEngine::new();
        let ops = ["a", "c", "e", "g"]
            .iter()
            .map(|k| put(k.as_bytes(), b"base"))
            .collect();
        e.apply(Decree(1), &Mutation { ops }).expect("apply");
        e
    }

    fn collect(layer: &Layer, e: &MemEngine, reverse: bool, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        layer
            .scan(e, b"a", b"z", reverse, &mut |k, v| {
                out.push(format!(
                    "{}={}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                ));
                out.len() < limit
            })
            .expect("scan");
        out
    }

    #[test]
    fn pending_writes_interleave_both_ways() {
        let e = base();
        let mut layer = Layer::default();
        layer.written.insert(b"b".to_vec(), Some(b"new".to_vec()));
        layer.written.insert(b"c".to_vec(), None);
        layer.written.insert(b"e".to_vec(), Some(b"over".to_vec()));
        layer.written.insert(b"h".to_vec(), Some(b"new".to_vec()));
        layer.erased.push((b"f".to_vec(), b"h".to_vec()));
        let fwd = collect(&layer, &e, false, 100);
        assert_eq!(fwd, ["a=base", "b=new", "e=over", "h=new"]);
        let rev = collect(&layer, &e, true, 100);
        assert_eq!(rev, ["h=new", "e=over", "b=new", "a=base"]);
        assert_eq!(collect(&layer, &e, false, 2), ["a=base", "b=new"]);
        assert_eq!(collect(&layer, &e, true, 1), ["h=new"]);
    }

    #[test]
    fn an_empty_layer_is_the_base() {
        let e = base();
        let layer = Layer::default();
        assert_eq!(collect(&layer, &e, false, 100).len(), 4);
        assert_eq!(
            collect(&layer, &e, true, 100),
            ["g=base", "e=base", "c=base", "a=base"]
        );
        let _ = WriteOp::Delete(Vec::new());
    }
}
