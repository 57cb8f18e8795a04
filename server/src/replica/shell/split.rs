//! Splitting this partition in two (README "Online partition split").
//!
//! Meta doubles the table's partition count; the new count reaches the
//! replica with its assignment ([`Event::SplitTo`]). From then on the
//! replica is *splitting*: it takes requests routed with either count
//! (it still holds every key of both halves) and refuses new
//! transactions. Once its participant holds no transaction, the primary
//! proposes the split mutation ([`split_mutation`]) behind every write
//! already staged, and from that moment routes only the new count: a
//! request for a key that went to the child is refused with the routing
//! error, and the proxy sends it again there.
//!
//! Every replica applies the split mutation at the same decree
//! ([`Shell::apply_split`]): it builds the child's database beside its
//! own (when it is not there yet: a replayed split finds it) and drops
//! the child's keys from its own, in the decree's batch. The server opens
//! the child when meta assigns it, and never creates it empty.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::ids::{Decree, Gpid, PartitionId};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Shell, SplitRun};
use crate::cmd::events::Events;
use crate::replica::machine::{Output, Status};
use crate::replica::routing::misrouted;
use crate::replica::{db_path, Event, ReplicaError};
use crate::storage::split::{build_child, foreign_key_deletes, split_mutation};
use crate::storage::{Mutation, StorageError};

/// Longer encoded mutations are no split (one put of a 4-byte count).
const SPLIT_MUTATION_MAX_BYTES: usize = 64;

impl Shell {
    /// Meta's assignment says the table has `count` partitions: more than
    /// this replica serves starts the next split (one doubling at a time:
    /// a replica that missed two splits goes through both).
    pub(super) fn split_to(&mut self, count: u32) {
        let current = self.shared.partition_count();
        let next = current.saturating_mul(2);
        if count <= current || self.splitting == Some(next) {
            return;
        }
        if count < next || !count.is_power_of_two() {
            warn!(gpid = %self.gpid, current, count, "a partition count that is no doubling of this one; ignored");
            return;
        }
        info!(gpid = %self.gpid, from = current, to = next, "splitting: waiting for the partition's transactions to end");
        self.splitting = Some(next);
        self.shared.set_split_to(next);
    }

    /// Whether `command` names a key that a split made while this task ran
    /// moved to another partition: it was routed here before the split and
    /// must be refused, as the service refuses it now.
    pub(super) fn moved_by_split(&self, command: &Command, args: &[Bytes]) -> bool {
        let count = self.shared.partition_count();
        self.split_while_running && misrouted(self.gpid, count, count, command, args)
    }

    /// A mutation is being logged here: if it is a split, from now on
    /// this replica routes only the new count, even before the split
    /// commits. A secondary that becomes primary with the split in its
    /// uncommitted tail then never takes a request of the old map whose
    /// key the split moves.
    pub(super) fn note_logged_split(&mut self, mutation: &Bytes) {
        if mutation.len() > SPLIT_MUTATION_MAX_BYTES {
            return;
        }
        let Ok(m) = crate::log::decode_mutation(mutation) else {
            return;
        };
        let Some(count) = crate::storage::split::split_count(&m) else {
            return;
        };
        if count > self.shared.partition_count() {
            self.split_while_running = true;
            self.shared.set_partition_count(count);
        }
    }

    /// Whether a new transaction must wait for the split.
    pub(super) fn refuses_new_txns(&self) -> bool {
        self.splitting.is_some()
    }

    /// (Primary, at the end of a batch) proposes the split once nothing
    /// stands in its way.
    pub(super) fn maybe_split(&mut self) {
        let Some(count) = self.splitting else {
            return;
        };
        if self.shared.partition_count() >= count {
            // A learner's checkpoint (or a split from the log) got there.
            self.splitting = None;
            return;
        }
        if self.machine.status() != Status::Primary {
            // A secondary splits when the split mutation reaches it; a new
            // primary proposes it itself if it has to.
            return;
        }
        if !self.machine.can_serve_read() || !self.machine.lease_valid() || !self.txns_idle() {
            return;
        }
        if self.propose_staged().is_err() {
            return;
        }
        let (done, _ignored) = oneshot::channel();
        let mutation = split_mutation(count);
        self.stage_internal(mutation, Events::default(), done);
        if self.propose_staged().is_err() {
            return;
        }
        info!(gpid = %self.gpid, to = count, decree = self.machine.last_prepared().0, "split proposed");
        self.splitting = None;
        self.split_while_running = true;
        self.shared.set_partition_count(count);
    }

    /// Starts applying the split mutation `split` at `decree`, off the
    /// task: building the child's database (unless it exists: a replayed
    /// split) and applying the decree here with the deletion of every key
    /// that went to the child take time in proportion to the partition.
    /// Meanwhile the task goes on logging and acknowledging (so its peers
    /// do not take it for dead), but defers its later applies and answers
    /// and holds new writes and transaction messages, which would read
    /// storage that is behind the commit point ([`Shell::split_applied`]).
    pub(super) fn start_split(
        &mut self,
        decree: Decree,
        split: Mutation,
        count: u32,
    ) -> Result<(), ReplicaError> {
        let pid = self.gpid.partition.0;
        let half = count / 2;
        if pid >= half || half * 2 != count {
            return Err(ReplicaError::Apply {
                decree,
                source: StorageError::Corrupt(format!(
                    "split of partition {pid} to {count} partitions"
                )),
            });
        }
        let child = Gpid::new(self.gpid.table.0, pid + half);
        let engine = self.shared.engine();
        let dir = child_dir(&self.shared.dir, child);
        let staging = staging_dir(&self.shared.dir, child);
        let rocks = self.env.rocks.clone();
        let gpid = self.gpid;
        let tx = self.tx.clone();
        self.split_running = Some(SplitRun::default());
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                if let Some(parent) = engine.as_rocks() {
                    if !dir.exists() {
                        build_child_dir(
                            parent, &staging, &dir, &rocks, child, count, decree, &split,
                        )?;
                        info!(%gpid, %child, decree = decree.0, "child partition built");
                    }
                }
                let mut ops = split.ops.clone();
                ops.extend(foreign_key_deletes(engine.as_view(), pid, count)?);
                engine.apply(decree, &Mutation { ops })
            })();
            let _ = tx.send(Event::SplitApplied {
                decree,
                count,
                result,
            });
        });
        Ok(())
    }

    /// Whether the task holds `event` until the split being applied is
    /// done (a client write or a transaction message: both execute against
    /// storage), and if so holds it.
    pub(super) fn hold_during_split(&mut self, event: Event) -> Option<Event> {
        match (&mut self.split_running, event) {
            (Some(run), ev @ (Event::Write { .. } | Event::Txn { .. })) => {
                run.held.push(ev);
                None
            }
            (_, ev) => Some(ev),
        }
    }

    /// Whether `output` waits for the split being applied (applies and
    /// answers keep their order after it), and if so defers it.
    pub(super) fn defer_during_split(&mut self, output: Output) -> Option<Output> {
        match (&mut self.split_running, output) {
            (Some(run), o @ (Output::Apply { .. } | Output::Reply { .. })) => {
                run.deferred.push(o);
                None
            }
            (_, o) => Some(o),
        }
    }

    /// The split applied at `decree` is done: the replica serves `count`
    /// partitions, and what waited for it goes on in order.
    pub(super) fn split_applied(
        &mut self,
        decree: Decree,
        count: u32,
        result: Result<(), StorageError>,
    ) {
        let run = self.split_running.take().unwrap_or_default();
        if let Err(source) = result {
            self.fail(ReplicaError::Apply { decree, source });
            return;
        }
        self.split_while_running = true;
        self.shared.set_partition_count(count);
        if self.splitting.is_some_and(|c| c <= count) {
            self.splitting = None;
        }
        self.shared.applied.send_replace(decree.0);
        self.env.beacon_now.notify_one();
        for output in run.deferred {
            self.perform(vec![output]);
            if self.failed {
                return;
            }
        }
        for event in run.held {
            self.on_event(event);
        }
    }
}

/// The directory of `child`, beside this replica's `dir`.
fn child_dir(dir: &Path, child: Gpid) -> PathBuf {
    sibling(dir, &format!("{}.{}", child.table.0, child.partition.0))
}

/// Where the child is built before it is renamed into place.
fn staging_dir(dir: &Path, child: Gpid) -> PathBuf {
    sibling(
        dir,
        &format!(".split-{}.{}", child.table.0, child.partition.0),
    )
}

fn sibling(dir: &Path, name: &str) -> PathBuf {
    dir.parent().unwrap_or(Path::new(".")).join(name)
}

/// Builds the child in `staging` (replacing what an interrupted build
/// left), then renames it to `dir`: a child directory is whole or absent.
/// Blocks.
#[allow(clippy::too_many_arguments)]
fn build_child_dir(
    parent: &crate::storage::rocks::RocksEngine,
    staging: &Path,
    dir: &Path,
    options: &crate::storage::rocks::RocksOptions,
    child: Gpid,
    count: u32,
    decree: Decree,
    split: &Mutation,
) -> Result<(), StorageError> {
    if staging.exists() {
        std::fs::remove_dir_all(staging)?;
    }
    std::fs::create_dir_all(staging)?;
    let PartitionId(pid) = child.partition;
    build_child(
        parent,
        &db_path(staging),
        options,
        pid,
        count,
        decree,
        split,
    )?;
    std::fs::rename(staging, dir)?;
    std::fs::File::open(dir.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(())
}
