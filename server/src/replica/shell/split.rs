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

use super::Shell;
use crate::cmd::events::Events;
use crate::replica::machine::Status;
use crate::replica::routing::misrouted;
use crate::replica::{db_path, ReplicaError};
use crate::storage::split::{build_child, foreign_key_deletes, split_mutation};
use crate::storage::{Mutation, StorageError};

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

    /// Applies the split mutation `split` at `decree`: builds the child's
    /// database (unless it exists), then applies the decree here with the
    /// deletion of every key that went to the child. Blocks.
    pub(super) fn apply_split(
        &mut self,
        decree: Decree,
        split: &Mutation,
        count: u32,
    ) -> Result<(), ReplicaError> {
        let engine = self.shared.engine();
        let pid = self.gpid.partition.0;
        let half = count / 2;
        let fail = |source: StorageError| ReplicaError::Apply { decree, source };
        if pid >= half || half * 2 != count {
            return Err(fail(StorageError::Corrupt(format!(
                "split of partition {pid} to {count} partitions"
            ))));
        }
        let child = Gpid::new(self.gpid.table.0, pid + half);
        if let Some(parent) = engine.as_rocks() {
            let dir = child_dir(&self.shared.dir, child);
            if !dir.exists() {
                let staging = staging_dir(&self.shared.dir, child);
                build_child_dir(
                    parent,
                    &staging,
                    &dir,
                    &self.env.rocks,
                    child,
                    count,
                    decree,
                    split,
                )
                .map_err(fail)?;
                info!(gpid = %self.gpid, %child, decree = decree.0, "child partition built");
            }
        }
        let mut ops = split.ops.clone();
        ops.extend(foreign_key_deletes(engine.as_view(), pid, count).map_err(fail)?);
        engine.apply(decree, &Mutation { ops }).map_err(fail)?;
        self.split_while_running = true;
        self.shared.set_partition_count(count);
        if self.splitting.is_some_and(|c| c <= count) {
            self.splitting = None;
        }
        self.env.beacon_now.notify_one();
        Ok(())
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
    super::perform::off_the_runtime(true, || {
        build_child(
            parent,
            &db_path(staging),
            options,
            pid,
            count,
            decree,
            split,
        )
    })?;
    std::fs::rename(staging, dir)?;
    std::fs::File::open(dir.parent().unwrap_or(Path::new(".")))?.sync_all()?;
    Ok(())
}
