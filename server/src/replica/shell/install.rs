//! A learner's checkpoint, as this replica's task sees it: when the
//! primary offers one (and the machine is a learner at that ballot) the copy
//! starts in the background; when it is done and the machine still wants
//! it, the task closes its storage, has [`crate::learn`] swap the copy in
//! and reopen it, and tells the machine.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use petrel_common::ids::{Ballot, Decree, NodeAddr};
use tracing::{info, warn};

use super::Shell;
use crate::learn::download::download;
use crate::learn::install::{install_and_open, staging_dir, Installed};
use crate::replica::machine::{Input, Status};
use crate::replica::{db_path, CheckpointDone, Event, ReplicaError};
use crate::storage::memory::MemEngine;

impl Shell {
    pub(super) fn checkpoint_offered(&mut self, from: NodeAddr, ballot: Ballot) {
        if self.machine.status() != Status::Learner
            || ballot != self.machine.ballot()
            || self.checkpoint_running
        {
            return;
        }
        let staging = match staging_dir(&db_path(&self.shared.dir)) {
            Ok(s) => s,
            Err(e) => {
                warn!(gpid = %self.gpid, error = %e, "no staging directory for a checkpoint");
                return;
            }
        };
        self.checkpoint_running = true;
        let rpc = self.env.rpc.clone();
        let gpid = self.gpid;
        let tx = self.tx.clone();
        info!(%gpid, primary = %from, ballot = ballot.0, "copying a checkpoint from the primary");
        tokio::spawn(async move {
            let result = download(&rpc, &from.0, gpid, ballot, &staging)
                .await
                .map(|decree| (staging, decree));
            let _ = tx.send(Event::Checkpoint(CheckpointDone { ballot, result }));
        });
    }

    pub(super) fn checkpoint_done(&mut self, done: CheckpointDone) {
        self.checkpoint_running = false;
        let (staging, decree) = match done.result {
            Ok(x) => x,
            Err(e) => {
                warn!(gpid = %self.gpid, error = %e, "checkpoint copy failed; the primary will offer again");
                return;
            }
        };
        if !self.machine.accepts_checkpoint(done.ballot, decree) {
            let _ = std::fs::remove_dir_all(&staging);
            return;
        }
        match self.install(&staging, decree) {
            Ok(()) => {
                info!(gpid = %self.gpid, decree = decree.0, "checkpoint installed");
                self.writes.forget_tail();
                self.feed(Input::CheckpointInstalled {
                    ballot: done.ballot,
                    decree,
                });
            }
            Err(e) => self.fail(e),
        }
    }

    /// Swaps the replica's RocksDB for the downloaded checkpoint.
    fn install(&mut self, staging: &Path, decree: Decree) -> Result<(), ReplicaError> {
        let shared = self.shared.clone();
        let rocks = self.env.rocks.clone();
        let db = db_path(&shared.dir);
        tokio::task::block_in_place(|| {
            // Close our RocksDB: nobody else reads a learner's storage, but a
            // flush or a digest may hold it for a moment.
            let old = shared.engine();
            shared.set_engine(Arc::new(MemEngine::new()));
            let started = Instant::now();
            while Arc::strong_count(&old) > 1 {
                if started.elapsed() > Duration::from_secs(30) {
                    shared.set_engine(old);
                    return Err(ReplicaError::StorageInUse);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(old);
            // Even when the swap fails, the directory is settled (old or
            // new database, never neither) and what is there reopened.
            match install_and_open(staging, &db, &rocks, decree) {
                Ok(Installed::New(engine)) => {
                    // The copy says which split it is past.
                    let recorded = crate::storage::split::recorded_count(&engine);
                    if let Some(count) = recorded.map_err(ReplicaError::Storage)? {
                        shared.set_partition_count(count);
                    }
                    shared.set_engine(Arc::new(engine));
                    Ok(())
                }
                Ok(Installed::Old(engine, e)) => {
                    shared.set_engine(Arc::new(engine));
                    Err(ReplicaError::Install(e))
                }
                Err(e) => Err(ReplicaError::Install(e)),
            }
        })
    }
}
