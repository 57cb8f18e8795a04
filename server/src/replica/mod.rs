//! One replica of one partition hosted by this server.
//!
//! A [`Replica`] is a handle; the replica itself is a task ([`shell`]) that
//! owns the PacificA state machine ([`machine`]) and performs what it asks:
//! log writes (group-committed by the server's mutation log), messages to the
//! other replicas, applying committed mutations to RocksDB, answering
//! clients. Writes go through the task; reads are served from committed
//! storage directly, only while the task says this replica may serve them
//! (primary, reconciled, lease valid).
//!
//! On disk a replica is a directory `replicas/<table>.<partition>/` holding
//! `db/` (its RocksDB) and `config.pb` (the last configuration it adopted,
//! replaced atomically and fsynced before it acts on it).

pub(crate) mod machine;
pub(crate) mod overlay;
pub(crate) mod routing;
pub(crate) mod shell;
pub(crate) mod wire;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::fsutil;
use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::msg::{PartitionConfigMsg, ReplicaRole};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;
use petrel_common::sync::lock;
use petrel_common::txn::{ExecuteHeader, Request as TxnRequest, Response as TxnResponse};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use crate::learn::LearnError;
use crate::log::{CodecError, LogError};
use crate::storage::{Digest, Engine, StorageError};

pub(crate) use machine::{Status, WriteError};

/// Why a replica could not open, or failed (and must be replaced).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplicaError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Log(#[from] LogError),
    /// A write's command could not read committed storage.
    #[error("storage failure: {0}")]
    Read(StorageError),
    #[error("log append failed: {0}")]
    Append(LogError),
    #[error("log truncation failed: {0}")]
    Truncate(LogError),
    /// Waiting for the log to make a write durable failed.
    #[error("mutation log failed: {0}")]
    Durability(LogError),
    #[error("mutation at decree {decree} is corrupt: {source}")]
    CorruptMutation { decree: Decree, source: CodecError },
    #[error("applying decree {decree} failed: {source}")]
    Apply {
        decree: Decree,
        source: StorageError,
    },
    /// Settling a checkpoint install a crash interrupted, before opening.
    #[error("recovering from an interrupted checkpoint install: {0}")]
    Recover(LearnError),
    #[error("installing a checkpoint failed: {0}")]
    Install(LearnError),
    /// A learner's old storage stayed in use too long to be replaced.
    #[error("installing a checkpoint failed: the old storage is still in use")]
    StorageInUse,
    #[error("replica {gpid}: cannot read or write {path}: {source}")]
    ConfigFile {
        gpid: Gpid,
        path: String,
        source: std::io::Error,
    },
    #[error("replica {gpid}: {path} does not decode: {reason}")]
    BadConfigFile {
        gpid: Gpid,
        path: String,
        reason: String,
    },
    #[error("replica {0} is closed")]
    Closed(Gpid),
}

/// The role a status is reported as (beacons, digests, `petrel partitions`).
pub(crate) fn role_of(s: Status) -> ReplicaRole {
    match s {
        Status::Primary => ReplicaRole::Primary,
        Status::Secondary => ReplicaRole::Secondary,
        Status::Learner => ReplicaRole::Learner,
        Status::Inactive => ReplicaRole::Inactive,
        Status::Error => ReplicaRole::Error,
    }
}

/// The name a status is logged under.
pub(crate) fn status_name(s: Status) -> &'static str {
    role_of(s).name()
}

/// What the replica task publishes for request handlers and beacons.
#[derive(Clone, Debug)]
pub(crate) struct View {
    pub(crate) config: PartitionConfig,
    pub(crate) status: Status,
    /// Reads may be served now (primary, reconciled, lease valid).
    pub(crate) can_serve_read: bool,
    pub(crate) last_committed: Decree,
    pub(crate) last_prepared: Decree,
    /// (Primary) learners that caught up and count for commit.
    pub(crate) ready_learners: Vec<NodeAddr>,
    /// (Primary) learners being fed.
    pub(crate) learners: Vec<NodeAddr>,
    /// (Primary) members or learners it asks meta to remove.
    pub(crate) unreachable: Vec<NodeAddr>,
}

/// The outcome of a write sent to the replica task.
#[derive(Debug)]
pub(crate) enum WriteOutcome {
    /// Executed, committed on every member and applied.
    Done(Reply),
    /// Not executed ([`WriteError::Unknown`] excepted: outcome unknown).
    Refused(WriteError),
    /// The replica failed (storage or log); the write did not complete.
    /// Shared: one failure answers every write it caught.
    Failed(Arc<ReplicaError>),
}

/// What the server feeds a replica task.
#[derive(Debug)]
pub(crate) enum Event {
    /// A client write: `command` (from the one command table) with `args`.
    Write {
        command: &'static Command,
        args: Vec<Bytes>,
        now_ms: u64,
        done: oneshot::Sender<WriteOutcome>,
    },
    /// A message from the replica on `from`.
    Peer { from: NodeAddr, msg: wire::Incoming },
    /// Meta's configuration for this partition, from a beacon answer.
    Config(PartitionConfig),
    /// (Primary) the learners meta wants, at `ballot`.
    Learners {
        ballot: Ballot,
        nodes: Vec<NodeAddr>,
    },
    /// The server's lease now runs until `until` (sent after `Config`).
    Lease { until: Instant },
    /// The log is durable up to this write of the machine (or failed).
    Durable(Result<machine::LogSeq, LogError>),
    /// A checkpoint download finished (or failed).
    Checkpoint(CheckpointDone),
    /// A transaction's message for this primary's participant
    /// (docs/TRANSACTIONS.md).
    Txn {
        msg: TxnIn,
        done: oneshot::Sender<TxnOutcome>,
    },
    /// Another primary answered a message this replica's participant sent.
    TxnAnswer { from: Gpid, resp: TxnResponse },
    /// Meta's assignment gives the table this many partitions (a split,
    /// when more than the replica's: `shell::split`).
    SplitTo(u32),
    /// Applying the split mutation at `decree` (to `count` partitions)
    /// finished, off the task (`shell::split`).
    SplitApplied {
        decree: Decree,
        count: u32,
        result: Result<(), StorageError>,
    },
    /// Stop the task.
    Close,
}

/// A transaction message, as the replica task takes it.
#[derive(Debug)]
pub(crate) enum TxnIn {
    /// Run these commands for the transaction (their locks are taken first).
    Execute {
        head: ExecuteHeader,
        calls: Vec<crate::txn::exec::Call>,
    },
    /// Any other request (from a coordinator, or another participant).
    Request(TxnRequest),
}

/// How the replica task answered a transaction message.
#[derive(Debug)]
pub(crate) enum TxnOutcome {
    /// The participant's answer; an EXECUTE that ran carries its commands'
    /// replies, in order.
    Answered {
        resp: TxnResponse,
        replies: Vec<Reply>,
    },
    /// Not taken: not the primary (or no longer), or no lease. Whatever
    /// the replica held of the transaction is gone with its primaryship.
    Refused(WriteError),
    /// The primary is not ready yet (reconciling after a failover).
    Unavailable(&'static str),
    /// The replica failed (storage or log).
    Failed(Arc<ReplicaError>),
}

/// A finished checkpoint download (a learner's).
#[derive(Debug)]
pub(crate) struct CheckpointDone {
    pub(crate) ballot: Ballot,
    /// The staging directory and the decree the checkpoint holds.
    pub(crate) result: Result<(PathBuf, Decree), LearnError>,
}

/// State shared by the handle and the task.
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    engine: RwLock<Arc<dyn Engine>>,
    view: Mutex<View>,
    /// The last decree applied to storage, for blocked commands to wait on.
    pub(crate) applied: tokio::sync::watch::Sender<u64>,
    /// Keys of prepared transactions, which reads wait on.
    pub(crate) prepared: crate::txn::gate::PreparedKeys,
    /// The table's partition count requests must be routed with (shared
    /// with the replica's [`crate::notify::Place`]).
    partition_count: Arc<AtomicU32>,
    /// While a split is pending (`shell::split`), the count it splits to,
    /// which requests may be routed with too; else 0.
    split_to: AtomicU32,
}

impl Shared {
    /// The replica's storage as it is now (replaced when a checkpoint is installed).
    pub(crate) fn engine(&self) -> Arc<dyn Engine> {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_engine(&self, engine: Arc<dyn Engine>) {
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = engine;
    }

    fn publish(&self, f: impl FnOnce(&mut View)) {
        f(&mut lock(&self.view));
    }

    pub(crate) fn partition_count(&self) -> u32 {
        self.partition_count.load(Ordering::SeqCst)
    }

    /// The split is proposed or applied: only `count` routes from now on.
    fn set_partition_count(&self, count: u32) {
        self.partition_count.store(count, Ordering::SeqCst);
        self.split_to.store(0, Ordering::SeqCst);
    }

    fn set_split_to(&self, count: u32) {
        self.split_to.store(count, Ordering::SeqCst);
    }

    /// Whether requests routed with `count` partitions may be served.
    pub(crate) fn routes_with(&self, count: u32) -> bool {
        count == self.partition_count() || count == self.split_to.load(Ordering::SeqCst)
    }
}

/// A hosted replica (a handle on its task).
pub(crate) struct Replica {
    pub(crate) gpid: Gpid,
    /// Where the keyspace events of its commands go.
    pub(crate) place: crate::notify::Place,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Event>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Replica {
    /// The published state.
    pub(crate) fn view(&self) -> View {
        lock(&self.shared.view).clone()
    }

    /// The table's partition count this replica serves (the old one while
    /// a split is pending).
    pub(crate) fn partition_count(&self) -> u32 {
        self.shared.partition_count()
    }

    /// Whether requests routed with `count` partitions may be served here
    /// (two counts while a split is pending).
    pub(crate) fn routes_with(&self, count: u32) -> bool {
        self.shared.routes_with(count)
    }

    /// Meta's assignment says the table has `count` partitions: more than
    /// this replica's starts a split.
    pub(crate) fn offer_partition_count(&self, count: u32) {
        if count > self.shared.partition_count() && !self.shared.routes_with(count) {
            self.send(Event::SplitTo(count));
        }
    }

    /// The configuration the replica holds.
    pub(crate) fn config(&self) -> PartitionConfig {
        lock(&self.shared.view).config.clone()
    }

    /// Changes whenever a mutation is applied (blocked commands retry then).
    pub(crate) fn applied_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.applied.subscribe()
    }

    /// Feeds an event to the task (dropped if the task stopped).
    pub(crate) fn send(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// Runs a write through the task: executed against committed state plus
    /// the uncommitted tail, prepared on every member, committed, applied.
    pub(crate) async fn write(
        &self,
        command: &'static Command,
        args: Vec<Bytes>,
        now_ms: u64,
    ) -> WriteOutcome {
        let (done, rx) = oneshot::channel();
        let closed = || WriteOutcome::Failed(Arc::new(ReplicaError::Closed(self.gpid)));
        let write = Event::Write {
            command,
            args,
            now_ms,
            done,
        };
        if self.tx.send(write).is_err() {
            return closed();
        }
        rx.await.unwrap_or_else(|_| closed())
    }

    /// Sends a transaction message to the task and waits for its answer.
    pub(crate) async fn txn(&self, msg: TxnIn) -> TxnOutcome {
        let (done, rx) = oneshot::channel();
        let closed = || TxnOutcome::Failed(Arc::new(ReplicaError::Closed(self.gpid)));
        if self.tx.send(Event::Txn { msg, done }).is_err() {
            return closed();
        }
        rx.await.unwrap_or_else(|_| closed())
    }

    /// Waits (at most `limit`) until no key of `keys` is held exclusively
    /// by a transaction whose PREPARE is proposed or durable: a read must
    /// not return the old value of a key a committed transaction is about
    /// to change. One atomic load when no transaction is prepared here.
    pub(crate) async fn read_gate(
        &self,
        keys: &[Bytes],
        limit: std::time::Duration,
    ) -> Result<(), crate::txn::gate::ReadTimedOut> {
        if keys.is_empty() {
            // A command with no key reads the whole keyspace.
            return self.shared.prepared.wait_all(limit).await;
        }
        self.shared.prepared.wait(keys, limit).await
    }

    /// Whether any transaction is prepared here (reads may have to wait).
    pub(crate) fn reads_may_wait(&self) -> bool {
        !self.shared.prepared.is_empty()
    }

    /// Executes a read-only command against committed storage, all of its
    /// reads from one consistent snapshot. Blocks.
    pub(crate) fn read(&self, command: &Command, args: &[Bytes], now_ms: u64) -> Reply {
        self.read_with(command, args, now_ms, crate::cmd::Notify::default())
            .reply
    }

    /// [`Replica::read`], raising the keyspace events `notify` asks for
    /// (`keymiss`), and noting the expired keys it met for the sweep.
    pub(crate) fn read_with(
        &self,
        command: &Command,
        args: &[Bytes],
        now_ms: u64,
        notify: crate::cmd::Notify,
    ) -> crate::cmd::Execution {
        let engine = self.shared.engine();
        let mut done = None;
        engine.read_consistent(&mut |view| {
            done = Some(crate::cmd::execute_with(
                view, command, args, now_ms, notify,
            ));
        });
        done.unwrap_or_else(|| crate::cmd::Execution::only(Reply::Nil))
    }

    /// The replica's storage as it is now.
    pub(crate) fn engine(&self) -> Arc<dyn Engine> {
        self.shared.engine()
    }

    /// Persists applied state to disk; returns the decree now durable without the log. Blocks.
    pub(crate) fn flush(&self) -> Result<Decree, StorageError> {
        self.shared.engine().flush()
    }

    /// A digest of committed contents. Blocks.
    pub(crate) fn digest(&self) -> Result<Digest, StorageError> {
        self.shared.engine().digest()
    }

    /// The replica's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Stops the task and waits for it, then for every other user of the
    /// storage to let go (up to `patience`); returns whether storage is closed.
    pub(crate) async fn close(&self, patience: std::time::Duration) -> bool {
        let _ = self.tx.send(Event::Close);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let started = Instant::now();
        loop {
            let engine = self.shared.engine();
            // Ours, plus the one in `Shared`.
            if Arc::strong_count(&engine) <= 2 {
                // Replace it so the RocksDB handle is dropped now.
                self.shared
                    .set_engine(Arc::new(crate::storage::memory::MemEngine::new()));
                return true;
            }
            drop(engine);
            if started.elapsed() > patience {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Where the configuration file of a replica lives.
pub(crate) fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.pb")
}

/// Where a replica's RocksDB lives.
pub(crate) fn db_path(dir: &Path) -> PathBuf {
    dir.join("db")
}

/// Reads the persisted configuration, if any.
pub(crate) fn load_config(gpid: Gpid, dir: &Path) -> Result<Option<PartitionConfig>, ReplicaError> {
    let path = config_path(dir);
    let raw = fsutil::read_if_exists(&path).map_err(|source| ReplicaError::ConfigFile {
        gpid,
        path: path.display().to_string(),
        source,
    })?;
    let Some(raw) = raw else {
        return Ok(None);
    };
    let msg =
        PartitionConfigMsg::decode(raw.as_slice()).map_err(|e| ReplicaError::BadConfigFile {
            gpid,
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    let config = PartitionConfig::from(&msg);
    if config.gpid != gpid {
        return Err(ReplicaError::BadConfigFile {
            gpid,
            path: path.display().to_string(),
            reason: format!("it belongs to partition {}", config.gpid),
        });
    }
    Ok(Some(config))
}

/// Persists `config` durably (fsync of file and directory).
pub(crate) fn save_config(dir: &Path, config: &PartitionConfig) -> Result<(), ReplicaError> {
    let path = config_path(dir);
    fsutil::write_atomic(&path, &PartitionConfigMsg::from(config).encode_to_vec()).map_err(
        |source| ReplicaError::ConfigFile {
            gpid: config.gpid,
            path: path.display().to_string(),
            source,
        },
    )
}
