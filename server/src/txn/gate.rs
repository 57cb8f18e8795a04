//! The read gate: reads are served outside the replica task, from committed
//! storage, so they cannot ask the participant machine. Its task publishes
//! here the keys locked exclusively by transactions whose PREPARE is
//! proposed or durable (their writes may become visible any moment, and a
//! committed transaction's writes are applied only at DECIDE); a read of
//! such a key waits until the decision is applied (docs/TRANSACTIONS.md,
//! participant rule 3).
//!
//! The set is almost always empty, so the unlocked case costs one atomic
//! load; only a non-empty set takes the lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use petrel_common::sync::lock;
use tokio::sync::watch;

/// Keys prepared transactions hold exclusively at one primary.
pub(crate) struct PreparedKeys {
    /// Number of keys in `keys` (read without the lock).
    count: AtomicUsize,
    /// Key -> how many prepared transactions hold it (at most one, unless
    /// a new primary's recovery and a late removal overlap).
    keys: Mutex<HashMap<Bytes, u32>>,
    /// Bumped whenever keys leave: waiting readers look again.
    changed: watch::Sender<u64>,
}

/// A read waited for a prepared transaction's lock as long as it may.
#[derive(Debug, thiserror::Error)]
#[error(
    "ERR timed out after {waited_ms} ms waiting for a transaction's lock on a key of this command; not executed"
)]
pub(crate) struct ReadTimedOut {
    pub(crate) waited_ms: u64,
}

impl Default for PreparedKeys {
    fn default() -> Self {
        PreparedKeys {
            count: AtomicUsize::new(0),
            keys: Mutex::new(HashMap::new()),
            changed: watch::Sender::new(0),
        }
    }
}

impl PreparedKeys {
    /// Marks `keys` prepared (one more holder each).
    pub(crate) fn add(&self, keys: &[Bytes]) {
        let mut map = lock(&self.keys);
        for k in keys {
            *map.entry(k.clone()).or_insert(0) += 1;
        }
        self.count.store(map.len(), Ordering::Release);
    }

    /// One holder of each of `keys` is gone.
    pub(crate) fn remove(&self, keys: &[Bytes]) {
        let mut map = lock(&self.keys);
        for k in keys {
            if let Some(n) = map.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(k);
                }
            }
        }
        self.count.store(map.len(), Ordering::Release);
        drop(map);
        self.changed.send_modify(|g| *g += 1);
    }

    /// Forgets every key (the replica stopped being primary).
    pub(crate) fn clear(&self) {
        lock(&self.keys).clear();
        self.count.store(0, Ordering::Release);
        self.changed.send_modify(|g| *g += 1);
    }

    /// Whether a read of `keys` must wait now.
    pub(crate) fn blocks<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let map = lock(&self.keys);
        keys.into_iter().any(|k| map.contains_key(k.as_ref()))
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Whether no key is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until every key prepared now has been released, at most
    /// `limit`: a read of the whole keyspace (DBSIZE, KEYS, SCAN) must see
    /// every transaction acknowledged before it. Keys prepared after this
    /// call do not make it wait longer.
    pub(crate) async fn wait_all(&self, limit: Duration) -> Result<(), ReadTimedOut> {
        if self.is_empty() {
            return Ok(());
        }
        let held: Vec<Bytes> = lock(&self.keys).keys().cloned().collect();
        self.wait(&held, limit).await
    }

    /// Waits until no key of `keys` is prepared, at most `limit`.
    pub(crate) async fn wait(&self, keys: &[Bytes], limit: Duration) -> Result<(), ReadTimedOut> {
        if !self.blocks(keys) {
            return Ok(());
        }
        metrics::counter!("petrel_server_txn_read_waits_total").increment(1);
        let started = std::time::Instant::now();
        let mut changed = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            changed.borrow_and_update();
            if !self.blocks(keys) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    if !self.blocks(keys) {
                        return Ok(());
                    }
                    metrics::counter!("petrel_server_txn_read_wait_timeouts_total").increment(1);
                    return Err(ReadTimedOut {
                        waited_ms: started.elapsed().as_millis() as u64,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[tokio::test]
    async fn reads_wait_for_prepared_keys_only_and_for_a_bounded_time() {
        let gate = std::sync::Arc::new(PreparedKeys::default());
        assert!(!gate.blocks([b"a"]));
        gate.add(&[k("a"), k("b")]);
        assert!(gate.blocks([b"a"]) && !gate.blocks([b"c"]));
        gate.wait(&[k("c")], Duration::ZERO)
            .await
            .expect("c is free");
        let err = gate
            .wait(&[k("a")], Duration::from_millis(20))
            .await
            .expect_err("a is prepared");
        assert!(err.to_string().contains("transaction's lock"), "{err}");
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.wait(&[k("b")], Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.remove(&[k("a"), k("b")]);
        waiter.await.expect("joins").expect("released");
        assert!(gate.is_empty());
        // A read of the whole keyspace waits for what is held now only.
        gate.add(&[k("p")]);
        let g = gate.clone();
        let all = tokio::spawn(async move { g.wait_all(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!all.is_finished(), "p is still prepared");
        gate.add(&[k("q")]);
        gate.remove(&[k("p")]);
        all.await.expect("joins").expect("p released; q came later");
        gate.add(&[k("x")]);
        gate.clear();
        assert!(!gate.blocks([b"x"]));
    }
}
