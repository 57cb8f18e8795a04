//! The event loop of a replica task: one ordered stream of events into the
//! machine, a clock tick every [`TICK`], and at the end of each batch of
//! events the work batched over it (one proposal, one log wait, one frame
//! per peer), then the state published for request handlers and beacons.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use petrel_common::ids::NodeAddr;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::Shell;
use crate::replica::machine::{Input, Output, Status, WriteError};
use crate::replica::{wire, Event, ReplicaError};

/// How often the machine's clock advances (resends, group checks, failure
/// detection, lease expiry).
pub(super) const TICK: Duration = Duration::from_millis(50);

/// Events handled before log waiters and peer frames are flushed.
const MAX_DRAIN: usize = 256;

/// Rounds of "report committed proposals to the participant, propose what
/// it asks" per batch of events.
const TXN_ROUNDS: usize = 4;

impl Shell {
    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) {
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
    pub(super) fn on_event(&mut self, ev: Event) -> bool {
        let Some(ev) = self.hold_during_split(ev) else {
            return true;
        };
        match ev {
            Event::Write {
                command,
                args,
                now_ms,
                done,
            } => {
                // A key a transaction locked makes the write wait (the
                // fast path); it is written when the gate lets it go.
                if let Some(done) = self.txn_gate_write(command, &args, now_ms, done) {
                    self.write(command, args, now_ms, done);
                }
            }
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
            Event::Durable(Err(e)) => self.fail(ReplicaError::Durability(e)),
            Event::Checkpoint(done) => self.checkpoint_done(done),
            Event::Txn { msg, done } => self.txn_message(msg, done),
            Event::TxnAnswer { from, resp } => self.txn_answer(from, resp),
            Event::SplitTo(count) => self.split_to(count),
            Event::SplitApplied {
                decree,
                count,
                result,
            } => self.split_applied(decree, count, result),
            Event::Close => return false,
        }
        true
    }

    pub(super) fn feed(&mut self, input: Input) {
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
        self.txn_tick();
    }

    /// The log or storage failed: the replica stops taking part.
    pub(super) fn fail(&mut self, why: impl Into<Arc<ReplicaError>>) {
        let why = why.into();
        if !self.failed {
            error!(gpid = %self.gpid, reason = %why, "replica failed; it must be replaced");
            metrics::counter!("petrel_server_replica_failures_total").increment(1);
        }
        self.failed = true;
        // Never proposed: not executed.
        self.writes.refuse_staged(&WriteError::NotPrimary {
            ballot: self.machine.ballot(),
            primary: None,
        });
        let out = self.machine.handle(Input::LogFailed);
        // Only replies can follow a failure; never log or apply again.
        for o in out {
            if let Output::Reply { token, result } = o {
                self.writes.answer_failed(token, &result, &why);
            }
        }
    }

    /// After a batch of events: wait for the log, send frames, release
    /// barriers, publish the state.
    fn end_of_batch(&mut self) {
        // The participant's proposals that committed may free locks and
        // stage more proposals; those that commit at once (a lone replica)
        // are reported in the next round, a few rounds at most.
        for _ in 0..TXN_ROUNDS {
            self.txn_lifecycle();
            self.txn_pump();
            self.propose_and_wait_for_the_log();
            if !self.writes.has_txn_durable() {
                break;
            }
        }
        self.maybe_split();
        self.flush_outbox();
        self.release_barriers();
        self.txn_release_barriers();
        self.publish();
    }

    /// Proposes the staged writes and waits for the log (at once when it
    /// is already durable, else in the background).
    fn propose_and_wait_for_the_log(&mut self) {
        // Refusals are answered inside.
        let _ = self.propose_staged();
        if let Some((seq, ticket)) = self.last_log.take() {
            // Already durable (async mode, or a sync that covered it): no task.
            let mut durable = Box::pin(self.env.log.wait_durable(ticket));
            match (&mut durable).now_or_never() {
                Some(Ok(())) => self.feed(Input::LogDurable { seq }),
                Some(Err(e)) => self.fail(ReplicaError::Durability(e)),
                None => {
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let r = durable.await.map(|()| seq);
                        let _ = tx.send(Event::Durable(r));
                    });
                }
            }
            // A durable log may have produced more log writes (a secondary's
            // acks do not, a primary's commit does not): nothing to re-check.
        }
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
        // Staged writes and barriers were never proposed: not executed.
        let not_executed = WriteError::NotPrimary {
            ballot: self.machine.ballot(),
            primary: None,
        };
        self.writes.stop(&unknown, &not_executed);
        self.txn_drop();
        info!(gpid = %self.gpid, "replica task stopped");
    }
}
