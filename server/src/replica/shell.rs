//! The replica task: feeds the PacificA machine and performs its outputs.
//!
//! One task per hosted replica owns its [`ReplicaMachine`]; everything that
//! reaches the replica (client writes, peer messages, meta's configuration,
//! lease renewals, log durability, clock ticks) arrives as an [`Event`] on
//! one channel, so the machine sees one ordered stream of inputs. The task
//! performs each output in order, as the machine's contract demands:
//!
//! - `PersistConfig`: written and fsynced (`config.pb`) before the next output;
//! - `AppendLog`/`TruncateLog`: written to the server's mutation log; one
//!   waiter per batch of events reports the last of them durable (the log's
//!   group commit covers every replica of the server with one fdatasync);
//! - `Send`: queued per destination and sent as one frame per batch, in order;
//! - `Apply`: written to RocksDB (WAL off: the log is the WAL);
//! - `Reply`: the client's answer, computed when the write executed and
//!   released only now, after the commit and the apply.
//!
//! Writes execute here, one at a time, against committed storage seen through
//! the uncommitted tail ([`Overlay`]). A write that changes nothing but read
//! uncommitted state is answered only once that state commits.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::command::Command;
use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::msg::{method, ReplicaBatchMsg, ReplicaMessageMsg};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;
use petrel_common::rpc::client::RpcClient;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::machine::{
    Entry, Input, LogSeq, Options, Output, Recovered, ReplicaMachine, Status, Token, WriteError,
};
use super::overlay::{Overlay, Pending};
use super::{save_config, status_name, wire, Event, Replica, Shared, View, WriteOutcome};
use crate::log::{decode_mutation, encode_mutation, LogEntry, MutationLog, Ticket};
use crate::storage::rocks::{RocksEngine, RocksOptions};
use crate::storage::{Engine, Mutation, StorageError};

/// How often the machine's clock advances (resends, group checks, failure
/// detection, lease expiry).
const TICK: Duration = Duration::from_millis(50);

/// Events handled before log waiters and peer frames are flushed.
const MAX_DRAIN: usize = 256;

/// What every replica task of a server shares.
pub struct Env {
    pub me: NodeAddr,
    pub log: Arc<MutationLog>,
    pub rpc: RpcClient,
    /// To reopen RocksDB after installing a checkpoint.
    pub rocks: RocksOptions,
    pub machine: Options,
}

/// A finished checkpoint download.
pub struct CheckpointDone {
    pub ballot: Ballot,
    /// The staging directory and the decree the checkpoint holds.
    pub result: Result<(PathBuf, Decree), String>,
}

/// Everything a replica needs to start.
pub struct Opening {
    pub table_name: String,
    pub partition_count: u32,
    pub gpid: Gpid,
    pub dir: PathBuf,
    pub engine: Arc<dyn Engine>,
    /// The configuration persisted by an earlier run, if any.
    pub persisted: Option<PartitionConfig>,
    /// This partition's log entries (one per decree, in order).
    pub logged: Vec<LogEntry>,
}

/// Builds the machine from what is on disk and starts the task.
pub fn spawn(env: Arc<Env>, o: Opening) -> Result<Replica, super::ReplicaError> {
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
    let shared = Arc::new(Shared {
        gpid: o.gpid,
        dir: o.dir,
        engine: RwLock::new(o.engine),
        view: Mutex::new(view),
        applied: tokio::sync::watch::Sender::new(0),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let shell = Shell {
        gpid: o.gpid,
        env,
        shared: shared.clone(),
        tx: tx.clone(),
        machine,
        pending: Pending::default(),
        writes: HashMap::new(),
        staged: Vec::new(),
        staged_bytes: 0,
        staged_ballot: Ballot(0),
        next_token: 1,
        barriers: Vec::new(),
        lease_until: None,
        epoch: Instant::now(),
        last_tick: Instant::now(),
        last_log: None,
        outbox: BTreeMap::new(),
        reported: BTreeMap::new(),
        checkpoint_running: false,
        failed: false,
    };
    let task = tokio::spawn(shell.run(rx));
    Ok(Replica {
        gpid: o.gpid,
        table_name: o.table_name,
        partition_count: o.partition_count,
        shared,
        tx,
        task: Mutex::new(Some(task)),
    })
}

struct Shell {
    gpid: Gpid,
    env: Arc<Env>,
    shared: Arc<Shared>,
    /// To hand log-durability and checkpoint results back to ourselves.
    tx: mpsc::UnboundedSender<Event>,
    machine: ReplicaMachine,
    pending: Pending,
    /// Proposed writes, by the token of the decree that carries them: the
    /// reply each computed at execution, waiting for commit.
    writes: HashMap<Token, Waiting>,
    /// Writes executed since the last proposal, their mutations staged in
    /// `pending`: proposed together as one decree at the end of the batch
    /// of events (one log record, one prepare, one apply for all of them).
    staged: Waiting,
    /// Encoded size of the staged mutations.
    staged_bytes: usize,
    /// The ballot the staged writes executed under.
    staged_ballot: Ballot,
    next_token: Token,
    /// Writes that changed nothing but read the uncommitted tail up to a
    /// decree: answered once it commits.
    barriers: Vec<(Decree, Reply, oneshot::Sender<WriteOutcome>)>,
    lease_until: Option<Instant>,
    epoch: Instant,
    last_tick: Instant,
    /// The last log write of this batch, to wait for.
    last_log: Option<(LogSeq, Ticket)>,
    outbox: BTreeMap<NodeAddr, Vec<ReplicaMessageMsg>>,
    /// Nodes reported to meta as unreachable, with the ballot of the report.
    reported: BTreeMap<NodeAddr, Ballot>,
    checkpoint_running: bool,
    failed: bool,
}

impl Shell {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'outer: loop {
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    if !self.on_event(ev) {
                        break;
                    }
                    for _ in 0..MAX_DRAIN {
                        match rx.try_recv() {
                            Ok(ev) => {
                                if !self.on_event(ev) {
                                    break 'outer;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
                _ = ticker.tick() => {}
            }
            if self.last_tick.elapsed() >= TICK {
                self.tick();
            }
            self.end_of_batch();
        }
        self.stop();
    }

    /// Handles one event; `false` stops the task.
    fn on_event(&mut self, ev: Event) -> bool {
        match ev {
            Event::Write {
                command,
                args,
                now_ms,
                done,
            } => self.write(command, args, now_ms, done),
            Event::Peer { from, msg } => match msg {
                wire::Incoming::Machine(msg) => self.feed(Input::Message { from, msg }),
                wire::Incoming::CheckpointOffer { ballot } => self.checkpoint_offered(from, ballot),
            },
            Event::Config(config) => self.feed(Input::ConfigChanged(config)),
            Event::Learners { ballot, nodes } => {
                if self.machine.status() == Status::Primary && ballot == self.machine.ballot() {
                    self.feed(Input::RetainLearners {
                        ballot,
                        keep: nodes.clone(),
                    });
                    let known: Vec<NodeAddr> =
                        self.machine.learners().map(|(n, _)| n.clone()).collect();
                    for node in nodes.into_iter().filter(|n| !known.contains(n)) {
                        info!(gpid = %self.gpid, learner = %node, "inviting a learner");
                        // A new learner on a node reported earlier under this
                        // ballot gets a fresh start: otherwise the old report
                        // makes meta drop every new learner there at once.
                        self.reported.remove(&node);
                        self.feed(Input::AddLearner { ballot, node });
                    }
                }
            }
            Event::Lease { until } => {
                self.lease_until = Some(until);
                if Instant::now() < until && !self.machine.lease_valid() {
                    self.feed(Input::LeaseChanged { valid: true });
                }
            }
            Event::Durable(Ok(seq)) => self.feed(Input::LogDurable { seq }),
            Event::Durable(Err(e)) => self.fail(&format!("mutation log failed: {e}")),
            Event::Checkpoint(done) => self.checkpoint_done(done),
            Event::Close => return false,
        }
        true
    }

    fn feed(&mut self, input: Input) {
        let out = self.machine.handle(input);
        self.perform(out);
    }

    fn tick(&mut self) {
        self.last_tick = Instant::now();
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        if self.machine.lease_valid() && self.lease_until.is_none_or(|t| Instant::now() >= t) {
            warn!(gpid = %self.gpid, "lease expired: not serving until meta answers again");
            self.feed(Input::LeaseChanged { valid: false });
        }
        self.feed(Input::Tick { now_ms });
    }

    /// Proposes the staged writes as one decree. `Err` when the machine
    /// refused them (every one of them is answered so): nothing they did
    /// will ever apply.
    fn propose_staged(&mut self) -> Result<(), WriteError> {
        let waiting = std::mem::take(&mut self.staged);
        let mutation = self.pending.take_staged();
        self.staged_bytes = 0;
        if waiting.is_empty() {
            return Ok(());
        }
        if self.machine.ballot() != self.staged_ballot {
            // The configuration changed after they executed: what they read
            // may be gone. Not executed; the client may retry.
            let e = WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: self.machine.config().primary.clone(),
            };
            for (_, done) in waiting {
                let _ = done.send(WriteOutcome::Refused(e.clone()));
            }
            return Err(e);
        }
        let bytes = encode_mutation(&mutation);
        let token = self.next_token;
        self.next_token += 1;
        self.writes.insert(token, waiting);
        let before = self.machine.last_prepared();
        let out = self.machine.handle(Input::Propose {
            token,
            mutation: bytes.clone(),
        });
        let after = self.machine.last_prepared();
        let refused = out.iter().find_map(|o| match o {
            Output::Reply {
                token: t,
                result: Err(e),
            } if *t == token => Some(e.clone()),
            _ => None,
        });
        if after > before {
            self.pending.push(after, bytes, mutation);
        }
        self.perform(out);
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write(
        &mut self,
        command: &'static Command,
        args: Vec<Bytes>,
        now_ms: u64,
        done: oneshot::Sender<WriteOutcome>,
    ) {
        let refuse = |e| WriteOutcome::Refused(e);
        if self.machine.status() != Status::Primary {
            let _ = done.send(refuse(WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: self.machine.config().primary.clone(),
            }));
            return;
        }
        if !self.machine.lease_valid() {
            let _ = done.send(refuse(WriteError::LeaseExpired {
                ballot: self.machine.ballot(),
            }));
            return;
        }
        if let Err(e) = self.pending.sync(self.machine.uncommitted()) {
            let _ = done.send(WriteOutcome::Failed(e.to_string()));
            return;
        }
        let engine = self.shared.engine();
        let view = Overlay {
            base: engine.as_ref(),
            pending: &self.pending,
        };
        let exec = match crate::cmd::try_execute(&view, command, &args, now_ms) {
            Ok(exec) => exec,
            Err(e) => {
                let _ = done.send(WriteOutcome::Failed(format!("storage failure: {e}")));
                self.fail(&format!("storage read failed: {e}"));
                return;
            }
        };
        drop(engine);
        if exec.mutation.is_empty() {
            // It may have read staged writes: they go first, and it waits
            // for them like for any uncommitted state it read.
            if let Err(e) = self.propose_staged() {
                let _ = done.send(WriteOutcome::Refused(e));
                return;
            }
            if self.machine.in_flight() == 0 {
                let _ = done.send(WriteOutcome::Done(exec.reply));
            } else {
                self.barriers
                    .push((self.machine.last_prepared(), exec.reply, done));
            }
            return;
        }
        let bytes = encode_mutation(&exec.mutation);
        // The log refuses a record past MAX_PAYLOAD (and a refused append
        // fails the replica): refuse the write instead, nothing executed.
        // The entry header and the record framing take a few dozen bytes.
        if bytes.len() > crate::log::MAX_PAYLOAD - 1024 {
            let _ = done.send(WriteOutcome::Done(Reply::error(format!(
                "ERR the write is too big to replicate ({} bytes of changes, at most {})",
                bytes.len(),
                crate::log::MAX_PAYLOAD - 1024
            ))));
            return;
        }
        // Together they would make one record past the log's limit: the
        // earlier ones go first (this one read them, so it fails with them).
        if !self.staged.is_empty() && self.staged_bytes + bytes.len() > STAGE_MAX_BYTES {
            if let Err(e) = self.propose_staged() {
                let _ = done.send(WriteOutcome::Refused(e));
                return;
            }
        }
        if self.staged.is_empty() {
            self.staged_ballot = self.machine.ballot();
        }
        self.staged_bytes += bytes.len();
        self.pending.stage(exec.mutation);
        self.staged.push((exec.reply, done));
        // A big batch goes now: it would be one record past the log's limit,
        // or hold up the writes behind it.
        if self.staged_bytes >= STAGE_MAX_BYTES || self.staged.len() >= STAGE_MAX_WRITES {
            let _ = self.propose_staged();
        }
    }

    fn perform(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            if let Err(why) = self.perform_one(output) {
                self.fail(&why);
                return;
            }
        }
    }

    fn perform_one(&mut self, output: Output) -> Result<(), String> {
        match output {
            Output::PersistConfig(config) => {
                save_config(&self.shared.dir, &config).map_err(|e| e.to_string())?;
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
                let record = LogEntry {
                    gpid: self.gpid,
                    ballot: entry.ballot,
                    decree: entry.decree,
                    last_committed: self.machine.last_committed(),
                    mutation: entry.mutation,
                };
                let big = record.mutation.len() >= BIG_ENTRY;
                let ticket = off_the_runtime(big, || self.env.log.append(&record))
                    .map_err(|e| format!("log append failed: {e}"))?;
                self.last_log = Some((seq, ticket));
            }
            Output::TruncateLog { seq, after } => {
                let ticket = self
                    .env
                    .log
                    .truncate_after(self.gpid, after, self.machine.ballot())
                    .map_err(|e| format!("log truncation failed: {e}"))?;
                self.last_log = Some((seq, ticket));
            }
            Output::Send { to, msg } => {
                let wire = wire::encode(self.gpid, &msg);
                self.outbox.entry(to).or_default().push(wire);
            }
            Output::Apply { decree, mutation } => {
                let engine = self.shared.engine();
                let big = mutation.len() >= BIG_ENTRY;
                let result = match self.pending.take_decoded(decree, &mutation) {
                    Some(m) => apply_on_the_runtime(&*engine, big, decree, m),
                    None => {
                        let m = decode_mutation(&mutation)
                            .map_err(|e| format!("mutation at decree {decree} is corrupt: {e}"))?;
                        apply_on_the_runtime(&*engine, big, decree, &m)
                    }
                };
                result.map_err(|e| format!("applying decree {decree} failed: {e}"))?;
                self.shared.applied.send_replace(decree.0);
            }
            Output::Reply { token, result } => {
                for (reply, done) in self.writes.remove(&token).unwrap_or_default() {
                    let outcome = match &result {
                        Ok(_) => WriteOutcome::Done(reply),
                        Err(e) => WriteOutcome::Refused(e.clone()),
                    };
                    let _ = done.send(outcome);
                }
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

    /// The log or storage failed: the replica stops taking part.
    fn fail(&mut self, why: &str) {
        if !self.failed {
            error!(gpid = %self.gpid, reason = why, "replica failed; it must be replaced");
            metrics::counter!("petrel_server_replica_failures_total").increment(1);
        }
        self.failed = true;
        // Never proposed: not executed.
        self.pending.take_staged();
        self.staged_bytes = 0;
        for (_, done) in self.staged.drain(..) {
            let _ = done.send(WriteOutcome::Refused(WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: None,
            }));
        }
        let out = self.machine.handle(Input::LogFailed);
        // Only replies can follow a failure; never log or apply again.
        for o in out {
            if let Output::Reply { token, result } = o {
                for (_, done) in self.writes.remove(&token).unwrap_or_default() {
                    let outcome = match &result {
                        Ok(_) => WriteOutcome::Failed(why.to_string()),
                        Err(e) => WriteOutcome::Refused(e.clone()),
                    };
                    let _ = done.send(outcome);
                }
            }
        }
    }

    /// After a batch of events: wait for the log, send frames, release
    /// barriers, publish the state.
    fn end_of_batch(&mut self) {
        // Refusals are answered inside.
        let _ = self.propose_staged();
        if let Some((seq, ticket)) = self.last_log.take() {
            // Already durable (async mode, or a sync that covered it): no task.
            let mut durable = Box::pin(self.env.log.wait_durable(ticket));
            match (&mut durable).now_or_never() {
                Some(Ok(())) => self.feed(Input::LogDurable { seq }),
                Some(Err(e)) => self.fail(&format!("mutation log failed: {e}")),
                None => {
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let r = durable.await.map(|()| seq).map_err(|e| e.to_string());
                        let _ = tx.send(Event::Durable(r));
                    });
                }
            }
            // A durable log may have produced more log writes (a secondary's
            // acks do not, a primary's commit does not): nothing to re-check.
        }
        self.flush_outbox();
        self.release_barriers();
        self.publish();
    }

    fn flush_outbox(&mut self) {
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

    fn release_barriers(&mut self) {
        if self.barriers.is_empty() {
            return;
        }
        let primary = self.machine.status() == Status::Primary;
        let committed = self.machine.last_committed();
        let not_primary = || WriteError::NotPrimary {
            ballot: self.machine.ballot(),
            primary: self.machine.config().primary.clone(),
        };
        let mut waiting = Vec::new();
        for (decree, reply, done) in std::mem::take(&mut self.barriers) {
            if !primary {
                // What it read may never commit; it wrote nothing: not executed.
                let _ = done.send(WriteOutcome::Refused(not_primary()));
            } else if committed >= decree {
                let _ = done.send(WriteOutcome::Done(reply));
            } else {
                waiting.push((decree, reply, done));
            }
        }
        self.barriers = waiting;
    }

    fn publish(&mut self) {
        let m = &self.machine;
        let lease_ok = self.lease_until.is_some_and(|t| Instant::now() < t);
        let ballot = m.ballot();
        let primary = m.status() == Status::Primary;
        let (learners, ready): (Vec<NodeAddr>, Vec<NodeAddr>) = if primary {
            let all: Vec<(NodeAddr, bool)> = m.learners().map(|(n, r)| (n.clone(), r)).collect();
            (
                all.iter().map(|(n, _)| n.clone()).collect(),
                all.into_iter()
                    .filter(|(_, r)| *r)
                    .map(|(n, _)| n)
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        self.reported.retain(|_, b| *b == ballot);
        // A primary that lost its lease (a pause, a partition from meta) has
        // no business judging others: its silence came from its own side.
        let unreachable: Vec<NodeAddr> = if primary && m.lease_valid() {
            self.reported.keys().cloned().collect()
        } else {
            Vec::new()
        };
        let status = if self.failed {
            Status::Error
        } else {
            m.status()
        };
        self.shared.publish(|v| {
            if v.config.ballot != ballot {
                v.config = m.config().clone();
            }
            v.status = status;
            v.can_serve_read = m.can_serve_read() && lease_ok && !self.failed;
            v.last_committed = m.last_committed();
            v.last_prepared = m.last_prepared();
            v.learners = learners;
            v.ready_learners = ready;
            v.unreachable = unreachable;
        });
    }

    /// Answers everything still waiting when the task stops.
    fn stop(&mut self) {
        let unknown = WriteError::Unknown {
            ballot: self.machine.ballot(),
            primary: self.machine.config().primary.clone(),
        };
        for (_, done) in self.writes.drain().flat_map(|(_, w)| w) {
            let _ = done.send(WriteOutcome::Refused(unknown.clone()));
        }
        // Staged writes were never proposed: not executed.
        self.pending.take_staged();
        for (_, done) in self.staged.drain(..) {
            let _ = done.send(WriteOutcome::Refused(WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: None,
            }));
        }
        for (_, _, done) in self.barriers.drain(..) {
            let _ = done.send(WriteOutcome::Refused(WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: None,
            }));
        }
        info!(gpid = %self.gpid, "replica task stopped");
    }

    // ---- learning from a checkpoint -------------------------------------

    fn checkpoint_offered(&mut self, from: NodeAddr, ballot: Ballot) {
        if self.machine.status() != Status::Learner
            || ballot != self.machine.ballot()
            || self.checkpoint_running
        {
            return;
        }
        let staging = match crate::learn::staging_dir(&super::db_path(&self.shared.dir)) {
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
            let result = crate::learn::download(&rpc, &from.0, gpid, ballot, &staging)
                .await
                .map(|decree| (staging, decree))
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::Checkpoint(CheckpointDone { ballot, result }));
        });
    }

    fn checkpoint_done(&mut self, done: CheckpointDone) {
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
                self.pending = Pending::default();
                self.feed(Input::CheckpointInstalled {
                    ballot: done.ballot,
                    decree,
                });
            }
            Err(e) => self.fail(&format!("installing a checkpoint failed: {e}")),
        }
    }

    /// Swaps the replica's RocksDB for the downloaded checkpoint.
    fn install(&mut self, staging: &std::path::Path, decree: Decree) -> Result<(), String> {
        let shared = self.shared.clone();
        let rocks = self.env.rocks.clone();
        let db = super::db_path(&shared.dir);
        tokio::task::block_in_place(|| {
            // Close our RocksDB: nobody else reads a learner's storage, but a
            // flush or a digest may hold it for a moment.
            let old = shared.engine();
            shared.set_engine(Arc::new(crate::storage::memory::MemEngine::new()));
            let started = Instant::now();
            while Arc::strong_count(&old) > 1 {
                if started.elapsed() > Duration::from_secs(30) {
                    shared.set_engine(old);
                    return Err("the old storage is still in use".to_string());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(old);
            // Even when install fails, settle the directory (old or new
            // database, never neither) and open what is there.
            let installed = crate::learn::install(staging, &db);
            crate::learn::recover(&db).map_err(|e| e.to_string())?;
            let engine = RocksEngine::open(&db, &rocks).map_err(|e| e.to_string())?;
            let engine: Arc<dyn Engine> = Arc::new(engine);
            if let Err(e) = installed {
                shared.set_engine(engine);
                return Err(e.to_string());
            }
            let applied = engine.applied_decree().map_err(|e| e.to_string())?;
            if applied != decree {
                return Err(format!(
                    "checkpoint holds decree {applied}, {decree} was announced"
                ));
            }
            shared.set_engine(engine);
            Ok(())
        })
    }
}

impl std::fmt::Debug for CheckpointDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointDone({:?})", self.ballot)
    }
}

/// Mutations at least this big are logged and applied off the async
/// runtime's worker threads (a 100 MB write takes long enough to starve
/// beacons and other replicas' tasks otherwise).
const BIG_ENTRY: usize = 1 << 20;

/// Staged writes are proposed early once their mutations reach this size…
const STAGE_MAX_BYTES: usize = 1 << 20;
/// …or this many writes.
const STAGE_MAX_WRITES: usize = 256;

/// Writes carried by one decree: each one's reply and where to send it.
type Waiting = Vec<(Reply, oneshot::Sender<WriteOutcome>)>;

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
    use crate::log::LogOptions;
    use crate::storage::memory::MemEngine;
    use crate::storage::ReadView;

    /// The command `line` calls.
    fn cmd(line: &str) -> &'static Command {
        let name = line.split(' ').next().unwrap_or_default();
        petrel_common::command::table()
            .find(name.as_bytes())
            .expect("a command")
    }

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn me() -> NodeAddr {
        NodeAddr::from("127.0.0.1:1")
    }

    fn config(ballot: u64) -> PartitionConfig {
        PartitionConfig {
            gpid: Gpid::new(1, 0),
            ballot: Ballot(ballot),
            primary: Some(me()),
            secondaries: vec![],
        }
    }

    struct Opened {
        replica: Replica,
        log: Arc<MutationLog>,
    }

    /// Opens the replica over the log in `dir` with a fresh memory engine
    /// (standing for RocksDB memtables lost in a crash).
    fn open(dir: &std::path::Path, engine: Arc<dyn Engine>) -> Opened {
        let (log, replay) =
            MutationLog::open(dir.join("log"), LogOptions::default()).expect("log opens");
        let log = Arc::new(log);
        let logged = replay
            .latest_per_partition()
            .remove(&Gpid::new(1, 0))
            .unwrap_or_default();
        let rdir = dir.join("replica");
        std::fs::create_dir_all(&rdir).expect("dir");
        let persisted = super::super::load_config(Gpid::new(1, 0), &rdir).expect("config");
        let env = Arc::new(Env {
            me: me(),
            log: log.clone(),
            rpc: RpcClient::new(),
            rocks: RocksOptions::default(),
            machine: Options::default(),
        });
        let replica = spawn(
            env,
            Opening {
                table_name: "t".into(),
                partition_count: 1,
                gpid: Gpid::new(1, 0),
                dir: rdir,
                engine,
                persisted,
                logged,
            },
        )
        .expect("spawns");
        Opened { replica, log }
    }

    async fn make_primary(r: &Replica, ballot: u64) {
        r.send(Event::Config(config(ballot)));
        r.send(Event::Lease {
            until: Instant::now() + Duration::from_secs(60),
        });
        for _ in 0..200 {
            if r.view().can_serve_read {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("replica never became a serving primary: {:?}", r.view());
    }

    async fn ok(r: &Replica, line: &str) -> Reply {
        match r.write(cmd(line), args(line), 1_000).await {
            WriteOutcome::Done(reply) => reply,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_commit_alone_and_survive_lost_memtables() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let o = open(dir.path(), Arc::new(MemEngine::new()));
            make_primary(&o.replica, 1).await;
            assert_eq!(ok(&o.replica, "set a 1").await, Reply::ok());
            assert_eq!(ok(&o.replica, "incrby a 41").await, Reply::Int(42));
            assert_eq!(ok(&o.replica, "set b x").await, Reply::ok());
            assert_eq!(ok(&o.replica, "append b yz").await, Reply::Int(3));
            assert_eq!(ok(&o.replica, "del missing").await, Reply::Int(0));
            assert_eq!(o.replica.digest().expect("digest").applied, Decree(4));
            assert_eq!(
                o.replica.read(cmd("get a"), &args("get a"), 1_000),
                Reply::bulk("42")
            );
            assert!(o.replica.close(Duration::from_secs(5)).await);
            o.log.sync_all().expect("sync");
        }
        // Memtables lost: the log still holds the four mutations, which the
        // replica recovers as its uncommitted tail; it comes back inactive
        // (it was primary) and commits them again under a new ballot.
        let o = open(dir.path(), Arc::new(MemEngine::new()));
        let v = o.replica.view();
        assert_eq!(v.status, Status::Inactive);
        assert_eq!(v.last_prepared, Decree(4));
        assert_eq!(v.last_committed, Decree(0));
        match o
            .replica
            .write(cmd("set c 1"), args("set c 1"), 1_000)
            .await
        {
            WriteOutcome::Refused(WriteError::NotPrimary { .. }) => {}
            other => panic!("an inactive replica took a write: {other:?}"),
        }
        make_primary(&o.replica, 2).await;
        assert_eq!(o.replica.digest().expect("digest").applied, Decree(4));
        assert_eq!(
            o.replica.read(cmd("get a"), &args("get a"), 1_000),
            Reply::bulk("42")
        );
        assert_eq!(
            o.replica.read(cmd("get b"), &args("get b"), 1_000),
            Reply::bulk("xyz")
        );
        assert_eq!(ok(&o.replica, "incr a").await, Reply::Int(43));
        assert_eq!(o.replica.view().config.ballot, Ballot(2));
    }

    /// One thread: every write below is queued before the replica task
    /// runs, so they all execute in one batch of events.
    #[tokio::test(flavor = "current_thread")]
    async fn writes_of_one_batch_share_a_decree_and_see_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = open(dir.path(), Arc::new(MemEngine::new()));
        make_primary(&o.replica, 1).await;
        let before = o.replica.digest().expect("digest").applied;
        let incrs = (0..100).map(|_| o.replica.write(cmd("incr n"), args("incr n"), 1_000));
        let (outcomes, append) = futures::join!(
            futures::future::join_all(incrs),
            o.replica
                .write(cmd("append s x"), args("append s x"), 1_000)
        );
        let mut got: Vec<i64> = outcomes
            .into_iter()
            .map(|w| match w {
                WriteOutcome::Done(Reply::Int(n)) => n,
                other => panic!("incr: {other:?}"),
            })
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            (1..=100).collect::<Vec<i64>>(),
            "each saw the ones before"
        );
        assert!(matches!(append, WriteOutcome::Done(Reply::Int(1))));
        let after = o.replica.digest().expect("digest").applied;
        assert_eq!(after, before.next(), "101 writes, one decree");
        assert_eq!(
            o.replica.read(cmd("get n"), &args("get n"), 1_000),
            Reply::bulk("100")
        );
        // A write that changes nothing but read a staged one waits for it.
        let (set, get) = futures::join!(
            o.replica.write(cmd("set k v"), args("set k v"), 1_000),
            o.replica.write(cmd("setnx k w"), args("setnx k w"), 1_000)
        );
        assert!(matches!(set, WriteOutcome::Done(ref r) if *r == Reply::ok()));
        assert!(matches!(get, WriteOutcome::Done(Reply::Int(0))));
        assert_eq!(
            o.replica.read(cmd("get k"), &args("get k"), 1_000),
            Reply::bulk("v")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_write_without_a_lease() {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = open(dir.path(), Arc::new(MemEngine::new()));
        make_primary(&o.replica, 1).await;
        o.replica.send(Event::Lease {
            until: Instant::now(),
        });
        tokio::time::sleep(TICK * 3).await;
        assert!(!o.replica.view().can_serve_read);
        match o
            .replica
            .write(cmd("set a 1"), args("set a 1"), 1_000)
            .await
        {
            WriteOutcome::Refused(WriteError::LeaseExpired { .. }) => {}
            other => panic!("a write without a lease: {other:?}"),
        }
    }

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
