//! The lock table: shared and exclusive locks per user key, held by
//! transactions.
//!
//! Only bookkeeping: who holds what. Deciding who waits and who is wounded
//! is the participant's job (`participant.rs`). Iteration that can reach an
//! output goes through ordered maps, so a machine's outputs never depend on
//! a hash seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

use super::id::TxnId;

/// How a transaction holds a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    /// Read only (the command's key spec says `RO`): many holders.
    Shared,
    /// Written: one holder, no shared holders beside it.
    Exclusive,
}

#[derive(Debug, Default)]
struct KeyLocks {
    exclusive: Option<TxnId>,
    shared: BTreeSet<TxnId>,
}

/// Every lock at one participant.
#[derive(Debug, Default)]
pub(crate) struct LockTable {
    keys: HashMap<Bytes, KeyLocks>,
    held: HashMap<TxnId, BTreeMap<Bytes, LockMode>>,
}

impl LockTable {
    /// Holders that stop `txn` from taking `key` in `mode` (oldest first).
    pub(crate) fn conflicts(&self, txn: TxnId, key: &[u8], mode: LockMode) -> Vec<TxnId> {
        let Some(k) = self.keys.get(key) else {
            return Vec::new();
        };
        let mut out: Vec<TxnId> = k.exclusive.iter().copied().filter(|h| *h != txn).collect();
        if mode == LockMode::Exclusive {
            out.extend(k.shared.iter().copied().filter(|h| *h != txn));
        }
        out.sort();
        out
    }

    /// The transaction holding `key` exclusively, if any.
    pub(crate) fn exclusive_holder(&self, key: &[u8]) -> Option<TxnId> {
        self.keys.get(key).and_then(|k| k.exclusive)
    }

    /// True when any transaction holds `key`: the fast path's one lookup.
    pub(crate) fn is_locked(&self, key: &[u8]) -> bool {
        self.keys.contains_key(key)
    }

    /// Gives `txn` the key (it must have no conflicts); an exclusive request
    /// upgrades a shared lock, a shared request under an exclusive lock
    /// changes nothing.
    pub(crate) fn grant(&mut self, txn: TxnId, key: &Bytes, mode: LockMode) {
        let k = self.keys.entry(key.clone()).or_default();
        let held = self.held.entry(txn).or_default();
        match mode {
            LockMode::Exclusive => {
                k.shared.remove(&txn);
                k.exclusive = Some(txn);
                held.insert(key.clone(), LockMode::Exclusive);
            }
            LockMode::Shared if k.exclusive == Some(txn) => {}
            LockMode::Shared => {
                k.shared.insert(txn);
                held.insert(key.clone(), LockMode::Shared);
            }
        }
    }

    /// Drops one lock of `txn`'s.
    fn drop_lock(&mut self, txn: TxnId, key: &Bytes) {
        if let Some(k) = self.keys.get_mut(key) {
            if k.exclusive == Some(txn) {
                k.exclusive = None;
            }
            k.shared.remove(&txn);
            if k.exclusive.is_none() && k.shared.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// Releases every lock of `txn`; true if it held any.
    pub(crate) fn release(&mut self, txn: TxnId) -> bool {
        let Some(held) = self.held.remove(&txn) else {
            return false;
        };
        for key in held.keys() {
            self.drop_lock(txn, key);
        }
        true
    }

    /// Releases `txn`'s shared locks (at PREPARE: its reads are done);
    /// true if it held any.
    pub(crate) fn release_shared(&mut self, txn: TxnId) -> bool {
        let Some(held) = self.held.get_mut(&txn) else {
            return false;
        };
        let shared: Vec<Bytes> = held
            .iter()
            .filter(|(_, m)| **m == LockMode::Shared)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &shared {
            held.remove(k);
        }
        if held.is_empty() {
            self.held.remove(&txn);
        }
        for k in &shared {
            self.drop_lock(txn, k);
        }
        !shared.is_empty()
    }

    /// The keys `txn` holds exclusively, in key order.
    pub(crate) fn exclusive_keys(&self, txn: TxnId) -> Vec<Bytes> {
        self.held.get(&txn).map_or_else(Vec::new, |h| {
            h.iter()
                .filter(|(_, m)| **m == LockMode::Exclusive)
                .map(|(k, _)| k.clone())
                .collect()
        })
    }

    /// Number of locked keys.
    pub(crate) fn locked_keys(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u64) -> TxnId {
        TxnId {
            start_ms: n,
            nonce: 0,
        }
    }

    fn k(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn shared_share_exclusive_excludes() {
        let mut l = LockTable::default();
        l.grant(t(1), &k("a"), LockMode::Shared);
        assert!(l.conflicts(t(2), b"a", LockMode::Shared).is_empty());
        l.grant(t(2), &k("a"), LockMode::Shared);
        assert_eq!(
            l.conflicts(t(3), b"a", LockMode::Exclusive),
            vec![t(1), t(2)]
        );
        // An upgrade conflicts only with the other readers.
        assert_eq!(l.conflicts(t(1), b"a", LockMode::Exclusive), vec![t(2)]);
        assert!(l.release(t(2)));
        l.grant(t(1), &k("a"), LockMode::Exclusive);
        assert_eq!(l.exclusive_holder(b"a"), Some(t(1)));
        assert_eq!(l.conflicts(t(3), b"a", LockMode::Shared), vec![t(1)]);
        assert!(l.conflicts(t(1), b"a", LockMode::Shared).is_empty());
        // A shared request by the exclusive holder keeps it exclusive.
        l.grant(t(1), &k("a"), LockMode::Shared);
        assert_eq!(l.exclusive_keys(t(1)), vec![k("a")]);
    }

    #[test]
    fn release_shared_keeps_exclusive_and_empty_keys_vanish() {
        let mut l = LockTable::default();
        l.grant(t(1), &k("r"), LockMode::Shared);
        l.grant(t(1), &k("w"), LockMode::Exclusive);
        assert!(l.release_shared(t(1)));
        assert!(!l.is_locked(b"r"));
        assert!(l.is_locked(b"w"));
        assert!(!l.release_shared(t(1)));
        assert_eq!(l.locked_keys(), 1);
        assert!(l.release(t(1)));
        assert!(!l.release(t(1)));
        assert_eq!(l.locked_keys(), 0);
    }
}
