//! The replica task: feeds the PacificA machine and performs its outputs.
//!
//! One task per hosted replica owns its [`ReplicaMachine`]; everything that
//! reaches the replica (client writes, peer messages, meta's configuration,
//! lease renewals, log durability, clock ticks) arrives as an [`Event`] on
//! one channel, so the machine sees one ordered stream of inputs. The task
//! performs each output in order, as the machine's contract demands.
//!
//! The task's code is split by job, each an `impl Shell` of its own:
//!
//! - [`driver`]: the event loop: events into the machine, clock ticks, the
//!   end of each batch of events (waiting for the log, sending frames,
//!   publishing the [`View`]), failure and shutdown.
//! - [`perform`]: carrying out the machine's outputs: configuration fsync,
//!   log appends, frames to peers, applying to RocksDB, answers.
//! - [`writes`]: client writes: executed, batched into one decree per batch
//!   of events, answered at commit.
//! - [`txn`]: the transaction participant (docs/TRANSACTIONS.md) while the
//!   replica is a reconciled primary: its messages, its proposals (batched
//!   with client writes), the fast-path gate writes pass, the read gate.
//! - [`install`]: a learner's checkpoint: copying it when the primary
//!   offers one and swapping it in for the replica's storage (the mechanism
//!   is [`crate::learn`]'s).

mod driver;
mod install;
mod perform;
mod split;
#[cfg(test)]
mod tests;
mod txn;
#[cfg(test)]
mod txn_tests;
mod writes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use petrel_common::ids::{Ballot, Gpid, NodeAddr};
use petrel_common::msg::ReplicaMessageMsg;
use petrel_common::partition::PartitionConfig;
use petrel_common::rpc::client::RpcClient;
use tokio::sync::mpsc;
use tracing::info;

use super::machine::{Entry, LogSeq, Options, Recovered, ReplicaMachine};
use super::{status_name, Event, Replica, Shared, View};
use crate::log::{LogEntry, MutationLog, Ticket};
use crate::notify::Place;
use crate::storage::rocks::RocksOptions;
use crate::storage::Engine;
use petrel_common::txn::participant::{Options as ParticipantOptions, ProposalId};
use txn::Txns;
use writes::Writes;

use crate::txn::peers::Peers;

/// What every replica task of a server shares.
pub(crate) struct Env {
    pub(crate) me: NodeAddr,
    pub(crate) log: Arc<MutationLog>,
    pub(crate) rpc: RpcClient,
    /// To reopen RocksDB after installing a checkpoint.
    pub(crate) rocks: RocksOptions,
    pub(crate) machine: Options,
    /// The transaction participant's tunables.
    pub(crate) txn: ParticipantOptions,
    /// Routes a participant's messages to other primaries.
    pub(crate) peers: Arc<Peers>,
    /// The server's channel brokers: a primary's applied writes invalidate
    /// tracked keys there.
    pub(crate) broker: Arc<crate::pubsub::Broker>,
    /// Keyspace notifications: which to raise, where to publish them.
    pub(crate) notifier: Arc<crate::notify::Notifier>,
    /// Wakes the server's beacon loop (a split built a child to open).
    pub(crate) beacon_now: Arc<tokio::sync::Notify>,
}

/// Everything a replica needs to start.
pub(crate) struct Opening {
    pub(crate) table_name: String,
    pub(crate) partition_count: u32,
    pub(crate) gpid: Gpid,
    pub(crate) dir: PathBuf,
    pub(crate) engine: Arc<dyn Engine>,
    /// The configuration persisted by an earlier run, if any.
    pub(crate) persisted: Option<PartitionConfig>,
    /// This partition's log entries (one per decree, in order).
    pub(crate) logged: Vec<LogEntry>,
}

/// Builds the machine from what is on disk and starts the task.
pub(crate) fn spawn(env: Arc<Env>, o: Opening) -> Result<Replica, super::ReplicaError> {
    let applied = o.engine.applied_decree()?;
    let entries: Vec<Entry> = o
        .logged
        .into_iter()
        .filter(|e| e.decree > applied)
        .map(|e| Entry {
            ballot: e.ballot,
            decree: e.decree,
            mutation: e.mutation,
        })
        .collect();
    let tail = entries.len();
    let config = o.persisted.unwrap_or(PartitionConfig {
        gpid: o.gpid,
        ballot: Ballot(0),
        primary: None,
        secondaries: Vec::new(),
    });
    let machine = ReplicaMachine::recover(
        env.me.clone(),
        env.machine.clone(),
        Recovered {
            config: config.clone(),
            applied,
            entries,
        },
    );
    info!(
        gpid = %o.gpid,
        ballot = config.ballot.0,
        applied = applied.0,
        log_tail = tail,
        status = status_name(machine.status()),
        "replica recovered"
    );
    let view = View {
        config,
        status: machine.status(),
        can_serve_read: false,
        last_committed: machine.last_committed(),
        last_prepared: machine.last_prepared(),
        ready_learners: Vec::new(),
        learners: Vec::new(),
        unreachable: Vec::new(),
    };
    let place = Place::new(o.gpid, &o.table_name, o.partition_count);
    let shared = Arc::new(Shared {
        dir: o.dir,
        engine: RwLock::new(o.engine),
        view: Mutex::new(view),
        applied: tokio::sync::watch::Sender::new(0),
        prepared: Default::default(),
        partition_count: place.partition_count.clone(),
        split_to: AtomicU32::new(0),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let shell = Shell {
        gpid: o.gpid,
        place: place.clone(),
        env,
        shared: shared.clone(),
        tx: tx.clone(),
        machine,
        writes: Writes::new(),
        txns: Txns::new(),
        table_name: o.table_name,
        lease_until: None,
        epoch: Instant::now(),
        last_tick: Instant::now(),
        last_log: None,
        outbox: BTreeMap::new(),
        reported: BTreeMap::new(),
        checkpoint_running: false,
        failed: false,
        splitting: None,
        split_running: None,
        split_while_running: false,
    };
    let task = tokio::spawn(shell.run(rx));
    Ok(Replica {
        gpid: o.gpid,
        place,
        shared,
        tx,
        task: Mutex::new(Some(task)),
    })
}

/// What a replica task defers and holds while it applies a split
/// ([`split`]).
#[derive(Default)]
struct SplitRun {
    deferred: Vec<super::machine::Output>,
    held: Vec<Event>,
}

/// One replica task's state; what it does with it is in the modules above.
struct Shell {
    gpid: Gpid,
    /// Where the keyspace events of its writes go.
    place: Place,
    env: Arc<Env>,
    shared: Arc<Shared>,
    /// To hand log-durability and checkpoint results back to ourselves.
    tx: mpsc::UnboundedSender<Event>,
    machine: ReplicaMachine,
    /// Client writes, from execution to their answer ([`writes`]).
    writes: Writes,
    /// The transaction participant while primary ([`txn`]).
    txns: Txns,
    /// The table's name (a participant's messages are routed by it).
    table_name: String,
    lease_until: Option<Instant>,
    epoch: Instant,
    last_tick: Instant,
    /// The last log write of this batch, to wait for.
    last_log: Option<(LogSeq, Ticket)>,
    outbox: BTreeMap<NodeAddr, Vec<ReplicaMessageMsg>>,
    /// Nodes reported to meta as unreachable, with the ballot of the report.
    reported: BTreeMap<NodeAddr, Ballot>,
    /// A checkpoint download is under way ([`install`]).
    checkpoint_running: bool,
    /// The log or storage failed: never log or apply again.
    failed: bool,
    /// A split is pending to this many partitions ([`split`]).
    splitting: Option<u32>,
    /// A split mutation is being applied off the task ([`split`]).
    split_running: Option<SplitRun>,
    /// The partition count changed while the task ran (a split): requests
    /// the service checked on the old count may still be queued, so writes
    /// and transactions check their keys again (`replica::routing`).
    split_while_running: bool,
}
