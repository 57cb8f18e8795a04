//! One replica of one partition hosted by this server.
//!
//! Today a partition has a single member, its primary, which executes
//! commands, appends each resulting mutation to the server's mutation log
//! under the next decree, and applies it to RocksDB with the applied decree in
//! the same batch; the reply waits until the log record is durable. On open,
//! a replica replays the log from its applied decree + 1. The PacificA roles
//! (secondary, learner) and the prepare/commit path are added by the
//! replication work on these same shapes (ballot, decree, configuration).

pub mod machine;

use petrel_common::sync::lock;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use petrel_common::ids::{Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;

use crate::cmd;
use crate::log::{decode_mutation, encode_mutation, LogEntry, LogError, MutationLog, Ticket};
use crate::storage::{Engine, StorageError};

/// Why a replica could not open or write.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("log of {gpid} has decree {found} where {expected} was expected")]
    LogGap {
        gpid: Gpid,
        expected: Decree,
        found: Decree,
    },
    #[error("log record of {gpid} at decree {decree} does not decode: {reason}")]
    BadRecord {
        gpid: Gpid,
        decree: Decree,
        reason: String,
    },
}

/// What this server's replica is in its partition's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Secondary,
    /// Not in the configuration (being removed).
    Inactive,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
            Role::Inactive => "inactive",
        }
    }
}

/// A hosted replica: its configuration as meta last sent it, and its storage.
pub struct Replica {
    pub gpid: Gpid,
    pub table_name: String,
    pub partition_count: u32,
    config: RwLock<PartitionConfig>,
    engine: Arc<dyn Engine>,
    log: Arc<MutationLog>,
    /// Serializes writes and holds the last applied decree: a write must see
    /// every earlier write of its partition.
    write: Mutex<Decree>,
}

impl Replica {
    /// Wraps an opened engine and brings it up to date with `logged`, this
    /// partition's entries from the log (sorted by decree): everything past
    /// the engine's applied decree is applied again, in order, without gaps.
    pub fn new(
        table_name: String,
        partition_count: u32,
        config: PartitionConfig,
        engine: Arc<dyn Engine>,
        log: Arc<MutationLog>,
        logged: &[LogEntry],
    ) -> Result<Self, ReplicaError> {
        let gpid = config.gpid;
        let start = engine.applied_decree()?;
        let mut applied = start;
        for entry in logged.iter().filter(|e| e.decree > start) {
            let expected = applied.next();
            if entry.decree != expected {
                return Err(ReplicaError::LogGap {
                    gpid,
                    expected,
                    found: entry.decree,
                });
            }
            let mutation =
                decode_mutation(&entry.mutation).map_err(|e| ReplicaError::BadRecord {
                    gpid,
                    decree: entry.decree,
                    reason: e.to_string(),
                })?;
            engine.apply(entry.decree, &mutation)?;
            applied = entry.decree;
        }
        Ok(Replica {
            gpid: config.gpid,
            table_name,
            partition_count,
            config: RwLock::new(config),
            engine,
            log,
            write: Mutex::new(applied),
        })
    }

    /// The configuration as meta last sent it.
    pub fn config(&self) -> PartitionConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adopts `config` if its ballot is not older than the one held.
    pub fn update_config(&self, config: PartitionConfig) {
        let mut held = self.config.write().unwrap_or_else(|p| p.into_inner());
        if config.ballot >= held.ballot {
            *held = config;
        }
    }

    /// This server's role, given its own address.
    pub fn role(&self, me: &NodeAddr) -> Role {
        let c = self.config();
        if c.primary.as_ref() == Some(me) {
            Role::Primary
        } else if c.secondaries.contains(me) {
            Role::Secondary
        } else {
            Role::Inactive
        }
    }

    /// The last decree applied to storage.
    pub fn applied_decree(&self) -> Decree {
        *lock(&self.write)
    }

    /// Executes a read-only command against committed state. Blocks.
    pub fn read(&self, args: &[Bytes], now_ms: u64) -> Reply {
        cmd::execute(self.engine.as_ref(), args, now_ms).reply
    }

    /// Executes a write: runs the command, appends its mutation to the log
    /// under the next decree and applies it. Blocks. The result is visible
    /// at once; the returned ticket (none when nothing changed) must be
    /// durable ([`MutationLog::wait_durable`]) before the write is acknowledged.
    pub fn write(
        &self,
        args: &[Bytes],
        now_ms: u64,
    ) -> Result<(Reply, Option<Ticket>), ReplicaError> {
        let mut applied = lock(&self.write);
        // A storage failure is not an answer: it fails the write, so the
        // replica can be taken out instead of acknowledging a lost write.
        let exec = cmd::try_execute(self.engine.as_ref(), args, now_ms)?;
        if exec.mutation.is_empty() {
            return Ok((exec.reply, None));
        }
        let decree = applied.next();
        let ticket = self.log.append(&LogEntry {
            gpid: self.gpid,
            ballot: self.config().ballot,
            decree,
            last_committed: *applied,
            mutation: encode_mutation(&exec.mutation),
        })?;
        self.engine.apply(decree, &exec.mutation)?;
        *applied = decree;
        Ok((exec.reply, Some(ticket)))
    }

    /// Persists applied state to disk; returns the decree now durable without the log. Blocks.
    pub fn flush(&self) -> Result<Decree, StorageError> {
        self.engine.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogOptions;
    use crate::storage::memory::MemEngine;
    use petrel_common::ids::Ballot;

    fn config() -> PartitionConfig {
        PartitionConfig {
            gpid: Gpid::new(1, 0),
            ballot: Ballot(1),
            primary: Some(NodeAddr::from("127.0.0.1:1")),
            secondaries: vec![],
        }
    }

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn open(dir: &std::path::Path) -> (Arc<MutationLog>, Vec<LogEntry>) {
        let (log, replay) = MutationLog::open(dir, LogOptions::default()).expect("log opens");
        let logged = replay
            .latest_per_partition()
            .remove(&Gpid::new(1, 0))
            .unwrap_or_default();
        (Arc::new(log), logged)
    }

    #[test]
    fn lost_memtables_are_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (log, logged) = open(dir.path());
            let r = Replica::new(
                "t".into(),
                1,
                config(),
                Arc::new(MemEngine::new()),
                log.clone(),
                &logged,
            )
            .expect("opens");
            for line in [
                "set a 1",
                "incrby a 41",
                "set b x",
                "append b yz",
                "del missing",
            ] {
                let (_, ticket) = r.write(&args(line), 1_000).expect("write");
                if let Some(t) = ticket {
                    log.sync(t).expect("durable");
                }
            }
            // "del missing" changed nothing: four decrees.
            assert_eq!(r.applied_decree(), Decree(4));
        }
        // A fresh engine stands for RocksDB memtables lost in a crash.
        let (log, logged) = open(dir.path());
        assert_eq!(logged.len(), 4);
        let r = Replica::new(
            "t".into(),
            1,
            config(),
            Arc::new(MemEngine::new()),
            log,
            &logged,
        )
        .expect("replays");
        assert_eq!(r.applied_decree(), Decree(4));
        assert_eq!(r.read(&args("get a"), 1_000), Reply::bulk("42"));
        assert_eq!(r.read(&args("get b"), 1_000), Reply::bulk("xyz"));
    }

    #[test]
    fn entries_already_applied_are_skipped_and_gaps_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = open(dir.path());
        let engine = Arc::new(MemEngine::new());
        let r =
            Replica::new("t".into(), 1, config(), engine.clone(), log.clone(), &[]).expect("opens");
        let (_, t) = r.write(&args("set a 1"), 0).expect("write");
        log.sync(t.expect("a change")).expect("durable");
        let (_, t) = r.write(&args("set a 2"), 0).expect("write");
        log.sync(t.expect("a change")).expect("durable");
        drop(r);
        let (log, logged) = open(dir.path());
        // The engine already applied both: nothing is applied twice.
        let r =
            Replica::new("t".into(), 1, config(), engine, log.clone(), &logged).expect("reopens");
        assert_eq!(r.applied_decree(), Decree(2));
        assert_eq!(r.read(&args("get a"), 0), Reply::bulk("2"));
        // A log missing decree 1 cannot rebuild an empty engine.
        let gap = Replica::new(
            "t".into(),
            1,
            config(),
            Arc::new(MemEngine::new()),
            log,
            &logged[1..],
        );
        assert!(matches!(
            gap,
            Err(ReplicaError::LogGap {
                expected: Decree(1),
                found: Decree(2),
                ..
            })
        ));
    }
}
