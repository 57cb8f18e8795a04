//! The transaction participant in the replica task (docs/TRANSACTIONS.md;
//! how a shell drives the machine is `petrel_common::txn`'s module
//! documentation).
//!
//! - Life: a [`Participant`] exists while the replica is a reconciled
//!   primary, rebuilt from the records in storage seen through the
//!   uncommitted tail, with the ballot as its epoch; it is dropped when the
//!   replica stops being primary (or its ballot changes, or one of its
//!   proposals is lost), and everything it held is refused "not the
//!   primary": certainly not done here by this primary.
//! - Inputs: transaction messages ([`crate::replica::Event::Txn`]), other
//!   primaries' answers, proposals reported durable once committed and
//!   applied, a tick with every replica tick, and the fast-path question
//!   every client write asks first.
//! - Outputs, performed in order (a work queue, so the outputs of an input
//!   fed while performing come after those already queued): `Run` runs an
//!   EXECUTE's commands ([`crate::txn::exec`]) over committed state, the
//!   uncommitted tail and staged writes; `Propose` stages one mutation
//!   with the client writes of the batch; `Send` goes through
//!   [`crate::txn::peers`]; `Reply` answers (an EXECUTE's once what it read
//!   has committed); `FastGo` / `FastTimedOut` release a parked write.
//! - The read gate: keys of transactions whose PREPARE is proposed or
//!   durable are published in [`crate::txn::gate::PreparedKeys`] until
//!   their decision is applied.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::ids::Decree;
use petrel_common::reply::Reply;
use petrel_common::txn::msg::Refusal;
use petrel_common::txn::participant::{Input, Output, Participant, ProposalId, Token};
use petrel_common::txn::{Change, Decision, RecordOp, Request, Response, TxnId};
use tokio::sync::oneshot;
use tracing::info;

use super::Shell;
use crate::cmd::events::Events;
use crate::cmd::Notify;
use crate::log::{decode_mutation, encode_mutation};
use crate::replica::machine::{Status, WriteError};
use crate::replica::overlay::Overlay;
use crate::replica::{Event, ReplicaError, TxnIn, TxnOutcome, WriteOutcome};
use crate::storage::Mutation;
use crate::txn::exec::{self, Call};
use crate::txn::{keys, records};

/// Something the machine holds until it answers, by token.
enum Waiter {
    /// A transaction message; an EXECUTE keeps its commands, then their
    /// replies and the last decree they may have read.
    Rpc {
        done: oneshot::Sender<TxnOutcome>,
        calls: Vec<Call>,
        replies: Vec<Reply>,
        read_up_to: Decree,
    },
    /// A client write waiting for a transaction's lock on one of its keys.
    Fast {
        command: &'static Command,
        args: Vec<Bytes>,
        now_ms: u64,
        done: oneshot::Sender<WriteOutcome>,
        since: Instant,
    },
}

/// The participant and what the task keeps beside it.
pub(super) struct Txns {
    participant: Option<Participant>,
    waiters: HashMap<Token, Waiter>,
    next_token: Token,
    /// EXECUTE answers waiting for the decree they read up to to commit.
    barriers: Vec<(Decree, oneshot::Sender<TxnOutcome>, TxnOutcome)>,
    /// Exclusive keys of transactions prepared here, as published in the
    /// read gate.
    prepared: HashMap<TxnId, Vec<Bytes>>,
    /// Proposals that end transactions' prepared state here once durable.
    ending: HashMap<ProposalId, Vec<TxnId>>,
    /// The keyspace events of each transaction's writes here, published
    /// when it commits here, dropped when it aborts or is forgotten.
    events: HashMap<TxnId, Events>,
    /// Events of the transactions a proposal commits, once it is durable.
    committing: HashMap<ProposalId, Events>,
}

impl Txns {
    pub(super) fn new() -> Self {
        Txns {
            participant: None,
            waiters: HashMap::new(),
            next_token: 1,
            barriers: Vec::new(),
            prepared: HashMap::new(),
            ending: HashMap::new(),
            events: HashMap::new(),
            committing: HashMap::new(),
        }
    }

    fn token(&mut self) -> Token {
        let t = self.next_token;
        self.next_token += 1;
        t
    }
}

fn now_ms() -> u64 {
    petrel_common::time::now_unix_ms()
}

impl Shell {
    fn not_primary(&self) -> WriteError {
        WriteError::NotPrimary {
            ballot: self.machine.ballot(),
            primary: self.machine.config().primary.clone(),
        }
    }

    // ---- life ---------------------------------------------------------------

    /// Builds the participant when the replica has become a reconciled
    /// primary, drops it when it no longer is one (or must be rebuilt).
    pub(super) fn txn_lifecycle(&mut self) {
        let lost = self.writes.take_txn_lost();
        let want = !self.failed
            && self.machine.status() == Status::Primary
            && self.machine.is_reconciled();
        let epoch = self.machine.ballot().0;
        let keep = self
            .txns
            .participant
            .as_ref()
            .is_some_and(|p| want && !lost && p.epoch() == epoch);
        if keep {
            return;
        }
        if self.txns.participant.is_some() {
            self.txn_drop();
        }
        if want {
            self.txn_build(epoch);
        }
    }

    fn txn_build(&mut self, epoch: u64) {
        let engine = self.shared.engine();
        let pending = match self.writes.synced(self.machine.uncommitted()) {
            Ok(p) => p,
            Err(e) => return self.fail(ReplicaError::Storage(e)),
        };
        let view = Overlay {
            base: engine.as_ref(),
            ops: pending,
        };
        let rec = match records::load(&view) {
            Ok(rec) => rec,
            Err(e) => {
                drop(engine);
                return self.fail(ReplicaError::Read(e));
            }
        };
        drop(engine);
        let (prepared, staging) = (rec.prepared.len(), rec.records.len());
        for (txn, p) in &rec.prepared {
            self.shared.prepared.add(&p.keys);
            self.txns.prepared.insert(*txn, p.keys.clone());
        }
        let p = Participant::recover(self.gpid, epoch, self.env.txn.clone(), now_ms(), rec);
        if prepared + staging > 0 {
            info!(gpid = %self.gpid, epoch, prepared, records = staging, "transaction participant rebuilt its prepared transactions");
        }
        self.txns.participant = Some(p);
    }

    /// Drops the participant: everything it held is refused.
    pub(super) fn txn_drop(&mut self) {
        self.txns.participant = None;
        let e = self.not_primary();
        for (_, w) in self.txns.waiters.drain() {
            match w {
                Waiter::Rpc { done, .. } => {
                    let _ = done.send(TxnOutcome::Refused(e.clone()));
                }
                Waiter::Fast { done, .. } => {
                    let _ = done.send(WriteOutcome::Refused(e.clone()));
                }
            }
        }
        for (_, done, _) in self.txns.barriers.drain(..) {
            let _ = done.send(TxnOutcome::Refused(e.clone()));
        }
        self.txns.prepared.clear();
        self.txns.ending.clear();
        self.txns.events.clear();
        self.txns.committing.clear();
        self.shared.prepared.clear();
        // Committed since: the next participant reads them from storage.
        self.writes.take_txn_durable();
    }

    // ---- inputs -------------------------------------------------------------

    /// Whether the participant holds nothing that a split would cut in
    /// two: no transaction known, prepared, proposing or waiting.
    pub(super) fn txns_idle(&self) -> bool {
        self.txns.prepared.is_empty()
            && self
                .txns
                .participant
                .as_ref()
                .is_none_or(|p| p.txns().next().is_none() && p.in_flight() == 0 && p.waiting() == 0)
    }

    /// A transaction message from a coordinator or another primary.
    pub(super) fn txn_message(&mut self, msg: TxnIn, done: oneshot::Sender<TxnOutcome>) {
        self.txn_lifecycle();
        if self.machine.status() != Status::Primary {
            let _ = done.send(TxnOutcome::Refused(self.not_primary()));
            return;
        }
        if !self.machine.lease_valid() {
            let e = WriteError::LeaseExpired {
                ballot: self.machine.ballot(),
            };
            let _ = done.send(TxnOutcome::Refused(e));
            return;
        }
        if self.txns.participant.is_none() {
            let _ = done.send(TxnOutcome::Unavailable(
                "primary not ready for transactions (reconciling)",
            ));
            return;
        }
        if let TxnIn::Execute { head, calls } = &msg {
            // Routed before a split was proposed, executed after it: keys
            // that went to the new partition are not this one's any more.
            if calls
                .iter()
                .any(|c| self.moved_by_split(c.command, &c.args))
            {
                let e = WriteError::Moved {
                    ballot: self.machine.ballot(),
                };
                let _ = done.send(TxnOutcome::Refused(e));
                return;
            }
            let known = self
                .txns
                .participant
                .as_ref()
                .is_some_and(|p| p.phase(head.txn).is_some());
            if self.refuses_new_txns() && !known {
                let _ = done.send(TxnOutcome::Unavailable(
                    "partition is splitting: new transactions wait for the split",
                ));
                return;
            }
        }
        let token = self.txns.token();
        let (input, calls) = match msg {
            TxnIn::Execute { head, calls } => {
                let mut locks = Vec::new();
                for c in &calls {
                    locks.extend(keys::locks_of(c.command, &c.args));
                }
                (Input::Execute { token, head, locks }, calls)
            }
            TxnIn::Request(req) => (Input::Request { token, req }, Vec::new()),
        };
        let execute = matches!(input, Input::Execute { .. });
        self.txns.waiters.insert(
            token,
            Waiter::Rpc {
                done,
                calls,
                replies: Vec::new(),
                read_up_to: Decree(0),
            },
        );
        let outs = self.txn_handle(input);
        if execute && !outs.iter().any(|o| answers(o, token)) {
            metrics::counter!("petrel_server_txn_lock_waits_total").increment(1);
        }
        self.txn_perform(outs);
    }

    /// Another primary answered our STATUS or PREVENT.
    pub(super) fn txn_answer(&mut self, from: petrel_common::ids::Gpid, resp: Response) {
        let outs = self.txn_handle(Input::Response { from, resp });
        self.txn_perform(outs);
    }

    /// Reports the participant's committed proposals and lets time pass.
    pub(super) fn txn_tick(&mut self) {
        self.txn_lifecycle();
        self.txn_pump();
        // The events of transactions the participant no longer holds
        // (aborted, or forgotten) are never published.
        if let Some(p) = &self.txns.participant {
            self.txns.events.retain(|t, _| p.phase(*t).is_some());
        }
        let outs = self.txn_handle(Input::Tick { now_ms: now_ms() });
        self.txn_perform(outs);
    }

    /// Feeds the participant its proposals that committed and applied.
    pub(super) fn txn_pump(&mut self) {
        for id in self.writes.take_txn_durable() {
            if let Some(events) = self.txns.committing.remove(&id) {
                self.publisher().publish(events);
            }
            if let Some(txns) = self.txns.ending.remove(&id) {
                for t in txns {
                    if let Some(keys) = self.txns.prepared.remove(&t) {
                        self.shared.prepared.remove(&keys);
                    }
                }
            }
            let outs = self.txn_handle(Input::Durable { id });
            self.txn_perform(outs);
        }
    }

    /// The fast path: a client write on a key a transaction locked waits
    /// (parked here) until the lock goes or `lock_wait_ms` passes. Returns
    /// `done` back when the write may run now.
    pub(super) fn txn_gate_write(
        &mut self,
        command: &'static Command,
        args: &[Bytes],
        now_ms: u64,
        done: oneshot::Sender<WriteOutcome>,
    ) -> Option<oneshot::Sender<WriteOutcome>> {
        // Nothing locked (nearly always): no lookup at all.
        if self
            .txns
            .participant
            .as_ref()
            .is_none_or(|p| p.locked_keys() == 0)
        {
            return Some(done);
        }
        let keys = keys::keys_of(command, args);
        if keys.is_empty() {
            return Some(done);
        }
        let token = self.txns.token();
        let mut outs = self.txn_handle(Input::Fast {
            token,
            keys,
            write: true,
        });
        if let Some(i) = outs
            .iter()
            .position(|o| matches!(o, Output::FastGo { token: t } if *t == token))
        {
            outs.remove(i);
            self.txn_perform(outs);
            return Some(done);
        }
        metrics::counter!("petrel_server_txn_fast_waits_total").increment(1);
        self.txns.waiters.insert(
            token,
            Waiter::Fast {
                command,
                args: args.to_vec(),
                now_ms,
                done,
                since: Instant::now(),
            },
        );
        self.txn_perform(outs);
        None
    }

    /// EXECUTE answers whose reads have committed go; without a primary
    /// they are refused (what they read may be lost).
    pub(super) fn txn_release_barriers(&mut self) {
        if self.txns.barriers.is_empty() {
            return;
        }
        let primary = self.machine.status() == Status::Primary;
        let committed = self.machine.last_committed();
        let mut waiting = Vec::new();
        for (decree, done, outcome) in std::mem::take(&mut self.txns.barriers) {
            if !primary {
                let _ = done.send(TxnOutcome::Refused(self.not_primary()));
            } else if committed >= decree {
                let _ = done.send(outcome);
            } else {
                waiting.push((decree, done, outcome));
            }
        }
        self.txns.barriers = waiting;
    }

    // ---- outputs ------------------------------------------------------------

    fn txn_handle(&mut self, input: Input) -> Vec<Output> {
        match self.txns.participant.as_mut() {
            Some(p) => p.handle(input),
            None => Vec::new(),
        }
    }

    /// Performs outputs in order; outputs of inputs fed meanwhile queue
    /// behind them.
    fn txn_perform(&mut self, outs: Vec<Output>) {
        let mut queue: VecDeque<Output> = outs.into();
        while let Some(o) = queue.pop_front() {
            if self.failed {
                return;
            }
            let more = self.txn_output(o);
            queue.extend(more);
        }
    }

    fn txn_output(&mut self, o: Output) -> Vec<Output> {
        match o {
            Output::Run {
                token,
                txn,
                pending,
            } => return self.txn_run(token, txn, pending),
            Output::Reply { token, resp } => self.txn_reply(token, resp),
            Output::Send { to, req } => self.txn_send(to, req),
            Output::Propose { id, change } => self.txn_propose(id, change),
            Output::FastGo { token } => {
                if let Some(Waiter::Fast {
                    command,
                    args,
                    now_ms,
                    done,
                    ..
                }) = self.txns.waiters.remove(&token)
                {
                    // Checked again (primary, lease) as any write is.
                    self.write(command, args, now_ms, done);
                }
            }
            Output::FastTimedOut { token } => {
                if let Some(Waiter::Fast { done, since, .. }) = self.txns.waiters.remove(&token) {
                    metrics::counter!("petrel_server_txn_fast_timeouts_total").increment(1);
                    let _ = done.send(WriteOutcome::Done(Reply::error(format!(
                        "ERR timed out after {} ms waiting for a transaction's lock on a key of this command; not executed",
                        since.elapsed().as_millis()
                    ))));
                }
            }
        }
        Vec::new()
    }

    /// Runs an EXECUTE's commands; returns what the machine says to that.
    fn txn_run(&mut self, token: Token, txn: TxnId, pending: Option<Bytes>) -> Vec<Output> {
        let calls = match self.txns.waiters.get_mut(&token) {
            Some(Waiter::Rpc { calls, .. }) => std::mem::take(calls),
            _ => Vec::new(),
        };
        let mut writes = match pending.as_deref().map(decode_mutation).transpose() {
            Ok(m) => m.unwrap_or_default(),
            Err(e) => {
                let why = format!("a transaction's pending writes: {e}");
                self.fail(ReplicaError::Read(crate::storage::StorageError::Corrupt(
                    why,
                )));
                return Vec::new();
            }
        };
        // What the commands read of staged writes must commit before the
        // answer leaves, like any uncommitted state they read: they go now.
        if self.writes.has_staged() {
            let _ = self.propose_staged();
        }
        let engine = self.shared.engine();
        let pending = match self.writes.synced(self.machine.uncommitted()) {
            Ok(p) => p,
            Err(e) => {
                self.fail(ReplicaError::Storage(e));
                return Vec::new();
            }
        };
        let view = Overlay {
            base: engine.as_ref(),
            ops: pending,
        };
        let notify = Notify {
            flags: self.env.notifier.flags(),
            reading: false,
        };
        let ran = exec::execute(&view, &mut writes, &calls, now_ms(), notify);
        drop(engine);
        let (replies, mut events) = match ran {
            Ok(r) => r,
            Err(e) => {
                self.fail(ReplicaError::Read(e));
                return Vec::new();
            }
        };
        // A read's `keymiss` needs no commit; the writes' events wait for it.
        self.publisher().publish(events.take_misses());
        if !events.is_empty() {
            self.txns.events.entry(txn).or_default().append(events);
        }
        let read_up_to = self.machine.last_prepared();
        if let Some(Waiter::Rpc {
            replies: r,
            read_up_to: d,
            ..
        }) = self.txns.waiters.get_mut(&token)
        {
            *r = replies;
            *d = read_up_to;
        }
        let writes = (!writes.is_empty()).then(|| encode_mutation(&writes));
        self.txn_handle(Input::Executed { token, txn, writes })
    }

    fn txn_reply(&mut self, token: Token, resp: Response) {
        count_answer(&resp);
        let Some(Waiter::Rpc {
            done,
            replies,
            read_up_to,
            ..
        }) = self.txns.waiters.remove(&token)
        else {
            return;
        };
        let executed = matches!(resp, Response::Executed { .. });
        let replies = if executed { replies } else { Vec::new() };
        let outcome = TxnOutcome::Answered { resp, replies };
        if executed && read_up_to > self.machine.last_committed() {
            self.txns.barriers.push((read_up_to, done, outcome));
        } else {
            let _ = done.send(outcome);
        }
    }

    fn txn_send(&mut self, to: petrel_common::ids::Gpid, req: Request) {
        let kind = match req {
            Request::Status { .. } => "status",
            Request::Prevent { .. } => "prevent",
            _ => "other",
        };
        metrics::counter!("petrel_server_txn_resolution_messages_total", "kind" => kind)
            .increment(1);
        let tx = self.tx.clone();
        self.env
            .peers
            .send(self.table_name.clone(), to, req, move |resp| {
                let _ = tx.send(Event::TxnAnswer { from: to, resp });
            });
    }

    fn txn_propose(&mut self, id: ProposalId, change: Change) {
        let mutation: Mutation = match records::mutation_of(&change) {
            Ok(m) => m,
            Err(e) => return self.fail(ReplicaError::Read(e)),
        };
        for op in &change.records {
            match op {
                RecordOp::PutPrepared(t, rec) => {
                    self.shared.prepared.add(&rec.keys);
                    if let Some(old) = self.txns.prepared.insert(*t, rec.keys.clone()) {
                        self.shared.prepared.remove(&old);
                    }
                }
                RecordOp::DeletePrepared(t) => self.txns.ending.entry(id).or_default().push(*t),
                RecordOp::PutDecided(t, d) => {
                    let events = self.txns.events.remove(t);
                    let outcome = match d.decision {
                        Decision::Committed => {
                            // Published once this proposal, which applies
                            // the writes, is durable.
                            if let (Some(events), Some(_)) = (events, &change.data) {
                                self.txns.committing.entry(id).or_default().append(events);
                            }
                            "committed"
                        }
                        Decision::Aborted => "aborted",
                    };
                    metrics::counter!("petrel_server_txn_decided_total", "outcome" => outcome)
                        .increment(1);
                }
                _ => {}
            }
        }
        let ballot = self.machine.ballot();
        self.writes.stage_txn(id, mutation, ballot);
    }
}

/// Whether `o` answers (or runs) request `token` at once.
fn answers(o: &Output, token: Token) -> bool {
    match o {
        Output::Run { token: t, .. } | Output::Reply { token: t, .. } => *t == token,
        _ => false,
    }
}

/// Counts the participant's answers by what they say.
fn count_answer(resp: &Response) {
    let name = match resp {
        Response::Executed { .. } => "executed",
        Response::Prepared { .. } => "prepared",
        Response::Committed { .. } => "committed_one",
        Response::Decided { .. } => "decided",
        Response::Released { .. } => "released",
        Response::Alive { .. } => "alive",
        Response::Status { .. } => "status",
        Response::Prevent { .. } => "prevent",
        Response::Refused { why, .. } => {
            match why {
                Refusal::Wounded => {
                    metrics::counter!("petrel_server_txn_wounds_total").increment(1)
                }
                Refusal::LockTimeout => {
                    metrics::counter!("petrel_server_txn_lock_timeouts_total").increment(1)
                }
                _ => {}
            }
            "refused"
        }
    };
    metrics::counter!("petrel_server_txn_answers_total", "answer" => name).increment(1);
}
