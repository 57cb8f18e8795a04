//! One replica of one partition hosted by this server.
//!
//! Today a partition has a single member, its primary, which executes
//! commands and applies their mutations to RocksDB with the applied decree in
//! the same batch. The PacificA roles (secondary, learner), the prepare/commit
//! path and the mutation log are added by the replication work on these same
//! shapes (ballot, decree, configuration).

pub mod machine;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use petrel_common::ids::{Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;

use crate::cmd;
use crate::storage::{Engine, StorageError};

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
    /// Serializes writes and holds the last applied decree: a write must see
    /// every earlier write of its partition.
    write: Mutex<Decree>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Replica {
    /// Wraps an opened engine.
    pub fn new(
        table_name: String,
        partition_count: u32,
        config: PartitionConfig,
        engine: Arc<dyn Engine>,
    ) -> Result<Self, StorageError> {
        let applied = engine.applied_decree()?;
        Ok(Replica {
            gpid: config.gpid,
            table_name,
            partition_count,
            config: RwLock::new(config),
            engine,
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

    /// Executes a write: runs the command, applies its mutation under the
    /// next decree. Blocks. The result is visible but not yet durable; call
    /// [`Replica::make_durable`] before acknowledging it.
    pub fn write(&self, args: &[Bytes], now_ms: u64) -> Result<Reply, StorageError> {
        let mut applied = lock(&self.write);
        // A storage failure is not an answer: it fails the write, so the
        // replica can be taken out instead of acknowledging a lost write.
        let exec = cmd::try_execute(self.engine.as_ref(), args, now_ms)?;
        if !exec.mutation.is_empty() {
            let decree = applied.next();
            self.engine.apply(decree, &exec.mutation)?;
            *applied = decree;
        }
        Ok(exec.reply)
    }

    /// Waits until everything applied so far is on disk (group commit).
    pub fn make_durable(&self) -> Result<(), StorageError> {
        self.engine.make_durable()
    }
}
