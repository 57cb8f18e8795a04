//! Client writes on the primary.
//!
//! Writes execute here, one at a time, against committed storage seen
//! through the uncommitted tail ([`Overlay`]). Those of one batch of events
//! are staged and proposed together as one decree (one log record, one
//! prepare, one apply); each is answered with the reply it computed once
//! that decree commits. A write that changes nothing but read uncommitted
//! state is answered only once that state commits (a barrier).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::ids::{Ballot, Decree};
use petrel_common::reply::Reply;
use tokio::sync::oneshot;

use super::{ProposalId, Shell};
use crate::cmd::events::Events;
use crate::cmd::Notify;
use crate::log::encode_mutation;
use crate::notify::Publisher;
use crate::replica::machine::{Input, Output, Status, Token, WriteError};
use crate::replica::overlay::{Overlay, Pending};
use crate::replica::{ReplicaError, WriteOutcome};
use crate::storage::Mutation;

/// Staged writes are proposed early once their mutations reach this size…
const STAGE_MAX_BYTES: usize = 1 << 20;
/// …or this many writes.
const STAGE_MAX_WRITES: usize = 256;

/// What one decree carries, each answered when it commits.
pub(super) enum Staged {
    /// A client write: the reply it computed, the keyspace events it
    /// raised (published at commit, before the reply) and where to send it.
    Client(Reply, Events, oneshot::Sender<WriteOutcome>),
    /// A proposal of the transaction participant, reported durable to it.
    Txn(ProposalId),
}

/// Writes carried by one decree.
type Waiting = Vec<Staged>;

/// The write path's state: every client write the task holds, from
/// execution to its answer.
pub(super) struct Writes {
    /// The uncommitted tail, decoded, and the staged mutations: what writes
    /// read through.
    pending: Pending,
    /// Proposed writes, by the token of the decree that carries them: the
    /// reply each computed at execution, waiting for commit.
    proposed: HashMap<Token, Waiting>,
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
    /// decree: answered once it commits (with their events, `keymiss`).
    barriers: Vec<(Decree, Reply, Events, oneshot::Sender<WriteOutcome>)>,
    /// The participant's proposals committed and applied, to report durable.
    txn_durable: Vec<ProposalId>,
    /// A participant's proposal was refused or dropped: the machine counts
    /// on it and must be rebuilt from storage.
    txn_lost: bool,
}

impl Writes {
    pub(super) fn new() -> Self {
        Writes {
            pending: Pending::default(),
            proposed: HashMap::new(),
            staged: Vec::new(),
            staged_bytes: 0,
            staged_ballot: Ballot(0),
            next_token: 1,
            barriers: Vec::new(),
            txn_durable: Vec::new(),
            txn_lost: false,
        }
    }

    /// The participant's proposals that committed since the last call.
    pub(super) fn take_txn_durable(&mut self) -> Vec<ProposalId> {
        std::mem::take(&mut self.txn_durable)
    }

    /// The uncommitted tail (made to match the machine's `tail`) and the
    /// staged writes: what a command reads through an [`Overlay`].
    pub(super) fn synced<'a>(
        &mut self,
        tail: impl Iterator<Item = &'a crate::replica::machine::Entry>,
    ) -> Result<&Pending, crate::storage::StorageError> {
        self.pending.sync(tail)?;
        Ok(&self.pending)
    }

    /// Whether participant proposals committed that it was not told of.
    pub(super) fn has_txn_durable(&self) -> bool {
        !self.txn_durable.is_empty()
    }

    /// Whether a participant's proposal was lost since the last call.
    pub(super) fn take_txn_lost(&mut self) -> bool {
        std::mem::take(&mut self.txn_lost)
    }

    /// Stages a participant's proposal to go with the next decree; its
    /// mutation is read by later writes like any staged write.
    pub(super) fn stage_txn(&mut self, id: ProposalId, mutation: Mutation, ballot: Ballot) {
        if self.staged.is_empty() {
            self.staged_ballot = ballot;
        }
        self.staged_bytes += encode_mutation(&mutation).len();
        self.pending.stage(mutation);
        self.staged.push(Staged::Txn(id));
    }

    /// Whether writes are staged (a reader of them must let them go first).
    pub(super) fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Sends `outcome` to a waiting entry; a participant's proposal is
    /// noted durable (`Ok`) or lost.
    fn settle(&mut self, staged: Staged, outcome: WriteOutcome) {
        match (staged, outcome) {
            (Staged::Client(_, _, done), outcome) => {
                let _ = done.send(outcome);
            }
            (Staged::Txn(id), WriteOutcome::Done(_)) => self.txn_durable.push(id),
            (Staged::Txn(_), _) => self.txn_lost = true,
        }
    }

    /// The decoded mutation of a decree this replica proposed, if it still
    /// holds it (saves decoding it again to apply it).
    pub(super) fn decoded(&self, decree: Decree, bytes: &Bytes) -> Option<&Mutation> {
        self.pending.take_decoded(decree, bytes)
    }

    /// Answers the writes of the decree the machine replied on: with the
    /// reply each computed when committed (its events published first),
    /// with the refusal otherwise.
    pub(super) fn answer(
        &mut self,
        token: Token,
        result: &Result<Decree, WriteError>,
        out: &Publisher<'_>,
    ) {
        for mut staged in self.proposed.remove(&token).unwrap_or_default() {
            if let (Ok(_), Staged::Client(_, events, _)) = (result, &mut staged) {
                out.publish(std::mem::take(events));
            }
            let outcome = match (result, &staged) {
                (Ok(_), Staged::Client(reply, ..)) => WriteOutcome::Done(reply.clone()),
                (Ok(_), Staged::Txn(_)) => WriteOutcome::Done(Reply::ok()),
                (Err(e), _) => WriteOutcome::Refused(e.clone()),
            };
            self.settle(staged, outcome);
        }
    }

    /// Answers the writes of a decree the machine replied on after the
    /// replica failed: a commit it reports was never applied here.
    pub(super) fn answer_failed(
        &mut self,
        token: Token,
        result: &Result<Decree, WriteError>,
        why: &Arc<ReplicaError>,
    ) {
        for staged in self.proposed.remove(&token).unwrap_or_default() {
            let outcome = match result {
                Ok(_) => WriteOutcome::Failed(why.clone()),
                Err(e) => WriteOutcome::Refused(e.clone()),
            };
            self.settle(staged, outcome);
        }
    }

    /// Refuses the staged writes with `e`: never proposed, not executed.
    pub(super) fn refuse_staged(&mut self, e: &WriteError) {
        self.pending.take_staged();
        self.staged_bytes = 0;
        for staged in std::mem::take(&mut self.staged) {
            self.settle(staged, WriteOutcome::Refused(e.clone()));
        }
    }

    /// Answers every write still held when the task stops: proposed ones
    /// with `unknown` (they may commit under the next primary), the others
    /// with `not_executed`.
    pub(super) fn stop(&mut self, unknown: &WriteError, not_executed: &WriteError) {
        let proposed: Vec<Staged> = self.proposed.drain().flat_map(|(_, w)| w).collect();
        for staged in proposed {
            self.settle(staged, WriteOutcome::Refused(unknown.clone()));
        }
        self.refuse_staged(not_executed);
        for (_, _, _, done) in self.barriers.drain(..) {
            let _ = done.send(WriteOutcome::Refused(not_executed.clone()));
        }
    }

    /// Forgets the uncommitted tail: storage was replaced by a checkpoint
    /// that holds what of it committed.
    pub(super) fn forget_tail(&mut self) {
        self.pending = Pending::default();
    }
}

impl Shell {
    /// Publishes keyspace events of this primary's committed writes.
    pub(super) fn publisher(&self) -> Publisher<'_> {
        Publisher {
            notifier: &self.env.notifier,
            place: &self.place,
            ballot: self.machine.ballot(),
        }
    }

    pub(super) fn write(
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
        // Routed before a split was proposed, staged after it: a key that
        // went to the new partition must not be written here any more.
        if self.moved_by_split(command, &args) {
            let _ = done.send(refuse(WriteError::Moved {
                ballot: self.machine.ballot(),
            }));
            return;
        }
        if let Err(e) = self.writes.pending.sync(self.machine.uncommitted()) {
            let _ = done.send(WriteOutcome::Failed(Arc::new(ReplicaError::Storage(e))));
            return;
        }
        let engine = self.shared.engine();
        let view = Overlay {
            base: engine.as_ref(),
            ops: &self.writes.pending,
        };
        let notify = Notify {
            flags: self.env.notifier.flags(),
            reading: false,
        };
        let exec = match crate::cmd::try_execute_with(&view, command, &args, now_ms, notify) {
            Ok(exec) => exec,
            Err(e) => {
                let why = Arc::new(ReplicaError::Read(e));
                let _ = done.send(WriteOutcome::Failed(why.clone()));
                self.fail(why);
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
                self.publisher().publish(exec.events);
                let _ = done.send(WriteOutcome::Done(exec.reply));
            } else {
                let decree = self.machine.last_prepared();
                self.writes
                    .barriers
                    .push((decree, exec.reply, exec.events, done));
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
        let w = &self.writes;
        if !w.staged.is_empty() && w.staged_bytes + bytes.len() > STAGE_MAX_BYTES {
            if let Err(e) = self.propose_staged() {
                let _ = done.send(WriteOutcome::Refused(e));
                return;
            }
        }
        let w = &mut self.writes;
        if w.staged.is_empty() {
            w.staged_ballot = self.machine.ballot();
        }
        w.staged_bytes += bytes.len();
        w.pending.stage(exec.mutation);
        w.staged.push(Staged::Client(exec.reply, exec.events, done));
        // A big batch goes now: it would be one record past the log's limit,
        // or hold up the writes behind it.
        if w.staged_bytes >= STAGE_MAX_BYTES || w.staged.len() >= STAGE_MAX_WRITES {
            let _ = self.propose_staged();
        }
    }

    /// Stages a mutation of the replica's own (not a client's command),
    /// answered through `done` like a client write.
    pub(super) fn stage_internal(
        &mut self,
        mutation: Mutation,
        events: Events,
        done: oneshot::Sender<WriteOutcome>,
    ) {
        let w = &mut self.writes;
        if w.staged.is_empty() {
            w.staged_ballot = self.machine.ballot();
        }
        w.staged_bytes += encode_mutation(&mutation).len();
        w.pending.stage(mutation);
        w.staged.push(Staged::Client(Reply::ok(), events, done));
    }

    /// Proposes the staged writes as one decree. `Err` when the machine
    /// refused them (every one of them is answered so): nothing they did
    /// will ever apply.
    pub(super) fn propose_staged(&mut self) -> Result<(), WriteError> {
        let w = &mut self.writes;
        let waiting = std::mem::take(&mut w.staged);
        let mutation = w.pending.take_staged();
        w.staged_bytes = 0;
        if waiting.is_empty() {
            return Ok(());
        }
        if self.machine.ballot() != w.staged_ballot {
            // The configuration changed after they executed: what they read
            // may be gone. Not executed; the client may retry.
            let e = WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: self.machine.config().primary.clone(),
            };
            for staged in waiting {
                self.writes.settle(staged, WriteOutcome::Refused(e.clone()));
            }
            return Err(e);
        }
        let bytes = encode_mutation(&mutation);
        let token = w.next_token;
        w.next_token += 1;
        w.proposed.insert(token, waiting);
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
            self.writes.pending.push(after, bytes, mutation);
        }
        self.perform(out);
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn release_barriers(&mut self) {
        if self.writes.barriers.is_empty() {
            return;
        }
        let primary = self.machine.status() == Status::Primary;
        let committed = self.machine.last_committed();
        let not_primary = || WriteError::NotPrimary {
            ballot: self.machine.ballot(),
            primary: self.machine.config().primary.clone(),
        };
        let mut waiting = Vec::new();
        for (decree, reply, events, done) in std::mem::take(&mut self.writes.barriers) {
            if !primary {
                // What it read may never commit; it wrote nothing: not executed.
                let _ = done.send(WriteOutcome::Refused(not_primary()));
            } else if committed >= decree {
                self.publisher().publish(events);
                let _ = done.send(WriteOutcome::Done(reply));
            } else {
                waiting.push((decree, reply, events, done));
            }
        }
        self.writes.barriers = waiting;
    }
}
