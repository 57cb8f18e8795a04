//! Carrying out the machine's outputs, in order, as its contract demands:
//!
//! - `PersistConfig`: written and fsynced (`config.pb`) before the next output;
//! - `AppendLog`/`TruncateLog`: written to the server's mutation log; one
//!   waiter per batch of events reports the last of them durable (the log's
//!   group commit covers every replica of the server with one fdatasync);
//! - `Send`: queued per destination and sent as one frame per batch, in order;
//! - `Apply`: written to RocksDB (WAL off: the log is the WAL);
//! - `Reply`: the client's answer, computed when the write executed and
//!   released only now, after the commit and the apply.

use bytes::Bytes;
use petrel_common::ids::Decree;
use petrel_common::msg::{method, ReplicaBatchMsg};
use prost::Message as _;
use tracing::{debug, info, warn};

use super::Shell;
use crate::log::{decode_mutation, LogEntry};
use crate::notify::Publisher;
use crate::replica::machine::Output;
use crate::replica::{save_config, wire, ReplicaError};
use crate::storage::{Engine, Mutation, StorageError};

impl Shell {
    pub(super) fn perform(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            if let Err(why) = self.perform_one(output) {
                self.fail(why);
                return;
            }
        }
    }

    fn perform_one(&mut self, output: Output) -> Result<(), ReplicaError> {
        let Some(output) = self.defer_during_split(output) else {
            return Ok(());
        };
        match output {
            Output::PersistConfig(config) => {
                save_config(&self.shared.dir, &config)?;
                info!(
                    gpid = %self.gpid,
                    ballot = config.ballot.0,
                    primary = ?config.primary.as_ref().map(|p| p.0.as_str()),
                    secondaries = ?config.secondaries.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
                    "configuration adopted"
                );
                self.shared.publish(|v| v.config = config);
            }
            Output::AppendLog { seq, entry } => {
                self.note_logged_split(&entry.mutation);
                let record = LogEntry {
                    gpid: self.gpid,
                    ballot: entry.ballot,
                    decree: entry.decree,
                    last_committed: self.machine.last_committed(),
                    mutation: entry.mutation,
                };
                let big = record.mutation.len() >= BIG_ENTRY;
                let ticket = off_the_runtime(big, || self.env.log.append(&record))
                    .map_err(ReplicaError::Append)?;
                self.last_log = Some((seq, ticket));
            }
            Output::TruncateLog { seq, after } => {
                let ticket = self
                    .env
                    .log
                    .truncate_after(self.gpid, after, self.machine.ballot())
                    .map_err(ReplicaError::Truncate)?;
                self.last_log = Some((seq, ticket));
            }
            Output::Send { to, msg } => {
                let wire = wire::encode(self.gpid, &msg);
                self.outbox.entry(to).or_default().push(wire);
            }
            Output::Apply { decree, mutation } => {
                let engine = self.shared.engine();
                let big = mutation.len() >= BIG_ENTRY;
                let decoded;
                let m = match self.writes.decoded(decree, &mutation) {
                    Some(m) => m,
                    None => {
                        decoded = decode_mutation(&mutation)
                            .map_err(|source| ReplicaError::CorruptMutation { decree, source })?;
                        &decoded
                    }
                };
                if let Some(count) = crate::storage::split::split_count(m) {
                    let split = m.clone();
                    drop(engine);
                    return self.start_split(decree, split, count);
                }
                apply_on_the_runtime(&*engine, big, decree, m)
                    .map_err(|source| ReplicaError::Apply { decree, source })?;
                if self.env.broker.tracking() {
                    let config = self.machine.config();
                    if config.primary.as_ref() == Some(&self.env.me) {
                        let (keys, everything) = crate::pubsub::written_keys(m);
                        self.env
                            .broker
                            .invalidate(self.gpid, config.ballot, &keys, everything);
                    }
                }
                self.shared.applied.send_replace(decree.0);
            }
            Output::Reply { token, result } => {
                let out = Publisher {
                    notifier: &self.env.notifier,
                    place: &self.place,
                    ballot: self.machine.ballot(),
                };
                self.writes.answer(token, &result, &out);
            }
            Output::ReportFailure { ballot, node } => {
                if self.reported.insert(node.clone(), ballot) != Some(ballot) {
                    warn!(gpid = %self.gpid, %node, ballot = ballot.0, "asking meta to remove an unresponsive replica");
                }
            }
            Output::LearnerReady { .. } => {}
            Output::SendCheckpoint { ballot, to } => {
                let wire = wire::encode_checkpoint_offer(self.gpid, ballot);
                self.outbox.entry(to).or_default().push(wire);
            }
        }
        Ok(())
    }

    pub(super) fn flush_outbox(&mut self) {
        for (to, messages) in std::mem::take(&mut self.outbox) {
            let body = ReplicaBatchMsg {
                from: self.env.me.0.clone(),
                messages,
            }
            .encode_to_vec();
            metrics::counter!("petrel_server_replica_frames_sent_total").increment(1);
            // One way: lost frames are the machine's business (it resends),
            // so a response would only cost a frame, a slot and a timer.
            let sent = self
                .env
                .rpc
                .send_one_way(&to.0, method::REPLICA_MESSAGE, Bytes::from(body));
            if let Err(e) = sent {
                debug!(gpid = %self.gpid, peer = %to, error = %e, "replica frame not sent");
            }
        }
    }
}

/// Mutations at least this big are logged and applied off the async
/// runtime's worker threads (a 100 MB write takes long enough to starve
/// beacons and other replicas' tasks otherwise).
const BIG_ENTRY: usize = 1 << 20;

/// Runs `f` here, telling a multi-threaded runtime first (when `big`) so
/// it moves other tasks off this worker while `f` blocks.
fn off_the_runtime<T>(big: bool, f: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if big && multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Applies a committed mutation from a runtime worker. Big ones go off the
/// worker at once. Small ones are tried without stalling, and only a write
/// RocksDB would stall (flushes or compactions behind) moves off the
/// worker: with one worker per process, a stall there would stop the whole
/// server, beacons to meta included, for as long as it lasts.
fn apply_on_the_runtime(
    engine: &dyn Engine,
    big: bool,
    decree: Decree,
    mutation: &Mutation,
) -> Result<(), StorageError> {
    if !big {
        if engine.apply_without_stalling(decree, mutation)? {
            return Ok(());
        }
        metrics::counter!("petrel_server_write_stalls_total").increment(1);
        debug!(%decree, "RocksDB would stall this write; waiting off the runtime");
    }
    off_the_runtime(true, || engine.apply(decree, mutation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemEngine;
    use crate::storage::ReadView;

    /// A memory engine that reports `stalls` write stalls before it lets
    /// writes through without waiting.
    struct Stalling {
        inner: MemEngine,
        stalls: std::sync::atomic::AtomicUsize,
        tries: std::sync::atomic::AtomicUsize,
    }

    impl ReadView for Stalling {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
            self.inner.get(key)
        }
        fn scan(
            &self,
            start: &[u8],
            end: &[u8],
            visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
        ) -> Result<(), StorageError> {
            self.inner.scan(start, end, visit)
        }
        fn scan_rev(
            &self,
            start: &[u8],
            end: &[u8],
            visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
        ) -> Result<(), StorageError> {
            self.inner.scan_rev(start, end, visit)
        }
    }

    impl Engine for Stalling {
        fn apply(&self, decree: Decree, mutation: &Mutation) -> Result<(), StorageError> {
            self.inner.apply(decree, mutation)
        }
        fn apply_without_stalling(
            &self,
            decree: Decree,
            mutation: &Mutation,
        ) -> Result<bool, StorageError> {
            use std::sync::atomic::Ordering::SeqCst;
            self.tries.fetch_add(1, SeqCst);
            if self
                .stalls
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Ok(false);
            }
            self.inner.apply(decree, mutation).map(|()| true)
        }
        fn applied_decree(&self) -> Result<Decree, StorageError> {
            self.inner.applied_decree()
        }
        fn flush(&self) -> Result<Decree, StorageError> {
            self.inner.flush()
        }
        fn digest(&self) -> Result<crate::storage::Digest, StorageError> {
            self.inner.digest()
        }
        fn as_view(&self) -> &dyn crate::storage::ReadView {
            self
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_write_the_engine_would_stall_is_applied_off_the_worker_and_only_once() {
        use std::sync::atomic::Ordering::SeqCst;
        let engine = Stalling {
            inner: MemEngine::new(),
            stalls: 1.into(),
            tries: 0.into(),
        };
        let put = |k: &[u8]| Mutation {
            ops: vec![crate::storage::WriteOp::Put(k.to_vec(), b"v".to_vec())],
        };
        // Stalled: tried once without waiting, then applied (off the worker).
        apply_on_the_runtime(&engine, false, Decree(1), &put(b"\x01a")).unwrap();
        assert_eq!(engine.tries.load(SeqCst), 1);
        assert_eq!(engine.applied_decree().unwrap(), Decree(1));
        assert_eq!(engine.get(b"\x01a").unwrap(), Some(b"v".to_vec()));
        // Not stalled: applied by the first try.
        apply_on_the_runtime(&engine, false, Decree(2), &put(b"\x01b")).unwrap();
        assert_eq!(engine.tries.load(SeqCst), 2);
        assert_eq!(engine.applied_decree().unwrap(), Decree(2));
        // Big: straight off the worker, no try.
        apply_on_the_runtime(&engine, true, Decree(3), &put(b"\x01c")).unwrap();
        assert_eq!(engine.tries.load(SeqCst), 2);
        assert_eq!(engine.applied_decree().unwrap(), Decree(3));
    }
}
