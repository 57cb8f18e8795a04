//! The participant: one machine per partition primary, `Input -> Vec<Output>`,
//! no I/O, no clock, no randomness.
//!
//! It keeps the lock table and each transaction's state (docs/TRANSACTIONS.md
//! "The participant"), and at the record partition `R` the transaction
//! records ("The record partition"). It never runs a Redis command: the shell
//! does, when told to ([`Output::Run`]), and hands back the pending writes as
//! opaque bytes ([`Input::Executed`]). Everything durable leaves as
//! [`Output::Propose`] and counts only once the shell reports
//! [`Input::Durable`].
//!
//! Layout: this file has the types, the dispatch, time and durability;
//! `locking.rs` EXECUTE, wound-wait, waits and the fast path; `commit.rs`
//! PREPARE, COMMIT_ONE, DECIDE, RELEASE, HEARTBEAT and PREVENT;
//! `resolve.rs` STATUS, the record, and resolution of undecided
//! transactions.

mod commit;
mod locking;
mod resolve;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::id::TxnId;
use super::lock::{LockMode, LockTable};
use super::msg::{Asked, ExecuteHeader, Refusal, Request, Response};
use super::record::{Change, DecidedRecord, Decision, PreparedRecord, RecordOp, TxnRecord};
use crate::ids::Gpid;

/// Identifies a request (or a fast-path command) between the input that
/// brings it and the output that answers it; chosen by the shell.
pub type Token = u64;

/// Numbers the machine's proposals, increasing per machine.
pub type ProposalId = u64;

/// Deliberately broken behaviours, to prove the simulation catches them.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Broken {
    #[default]
    None,
    /// Release every lock once PREPARE is durable, before the decision.
    UnlockBeforeDecision,
    /// Let fast-path reads through a Prepared transaction's exclusive lock.
    ReadPrepared,
}

/// Tunables; every field has a default.
#[derive(Clone, Debug)]
pub struct Options {
    /// A lock request (EXECUTE or fast path) waits this long at most
    /// (`txn_lock_wait_ms`).
    pub lock_wait_ms: u64,
    /// An Active transaction not heard from this long is forgotten
    /// (`txn_idle_timeout_ms`); coordinators heartbeat more often.
    pub idle_timeout_ms: u64,
    /// A transaction older than this is refused (`txn_max_age_ms`); also
    /// bounds how long a refusal is remembered in memory.
    pub max_age_ms: u64,
    /// A Prepared transaction undecided this long asks `R`
    /// (`txn_resolve_after_ms`).
    pub resolve_after_ms: u64,
    /// STATUS and PREVENT are resent this often until answered.
    pub resend_ms: u64,
    /// `decided/T` and decided `record/T` are deleted this long after the
    /// decision (by T's age for records). Must be far above
    /// `resolve_after_ms`: a PREVENT after it would not find a commit.
    pub gc_after_ms: u64,
    #[cfg(test)]
    pub broken: Broken,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lock_wait_ms: 1_000,
            idle_timeout_ms: 5_000,
            max_age_ms: 30_000,
            resolve_after_ms: 2_000,
            resend_ms: 500,
            gc_after_ms: 600_000,
            #[cfg(test)]
            broken: Broken::None,
        }
    }
}

/// What the shell feeds the machine.
#[derive(Clone, Debug)]
pub enum Input {
    /// An EXECUTE for `head.txn`, needing these locks (from the commands'
    /// key specs: shared for read-only keys, exclusive otherwise).
    Execute {
        token: Token,
        head: ExecuteHeader,
        locks: Vec<(Bytes, LockMode)>,
    },
    /// The shell ran the commands of the EXECUTE `token` (after
    /// [`Output::Run`]); `writes` is now *all* of T's pending writes here
    /// (the previous ones merged with the new), `None` if there are none.
    Executed {
        token: Token,
        txn: TxnId,
        writes: Option<Bytes>,
    },
    /// Any other request, from a coordinator or from `R`.
    Request { token: Token, req: Request },
    /// An answer to a request this machine sent ([`Output::Send`]).
    Response { from: Gpid, resp: Response },
    /// A fast-path (non-transaction) command on these keys: may it run now?
    Fast {
        token: Token,
        keys: Vec<Bytes>,
        write: bool,
    },
    /// The proposal `id` committed on every replica (and its data writes
    /// are applied).
    Durable { id: ProposalId },
    /// Time passes: waits time out, idle transactions expire, undecided
    /// ones are resolved, old records are collected.
    Tick { now_ms: u64 },
}

/// What the machine asks the shell to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Run the commands of EXECUTE `token` now, against committed state, the
    /// uncommitted tail and `pending` (T's writes so far), then report
    /// [`Input::Executed`].
    Run {
        token: Token,
        txn: TxnId,
        pending: Option<Bytes>,
    },
    /// Answer request `token`. An [`Response::Executed`] goes out with the
    /// commands' replies, once everything they read is durable.
    Reply { token: Token, resp: Response },
    /// Send a request to another partition's primary; its answer comes back
    /// as [`Input::Response`]. Losing it is fine: the machine resends.
    Send { to: Gpid, req: Request },
    /// Replicate `change` as one mutation, after every earlier proposal;
    /// report [`Input::Durable`] once committed.
    Propose { id: ProposalId, change: Change },
    /// The fast-path command `token` may run now.
    FastGo { token: Token },
    /// The fast-path command `token` waited `lock_wait_ms` for locks: answer
    /// it with an error, not run.
    FastTimedOut { token: Token },
}

/// What a new primary found in the transaction key space.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    pub prepared: Vec<(TxnId, PreparedRecord)>,
    pub records: Vec<(TxnId, TxnRecord)>,
    pub decided: Vec<(TxnId, DecidedRecord)>,
}

/// A transaction's state here, as docs/TRANSACTIONS.md names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Executing: locks held, writes pending in memory, nothing durable.
    Active,
    /// `prepared/T` (and at `R` `record/T = Staging`) proposed.
    Preparing,
    /// `prepared/T` durable (at a read-only `R`: only the record).
    Prepared,
    /// COMMIT_ONE's writes proposed.
    CommittingOne,
    /// The decision proposed; locks go when it is durable.
    Deciding(Decision),
}

/// One transaction known here.
#[derive(Debug)]
struct Txn {
    record: Gpid,
    phase: Phase,
    /// EXECUTEs granted so far.
    executes: u32,
    /// The EXECUTE the shell is running.
    running: Option<Token>,
    /// The EXECUTE waiting for locks (a key of `waits`).
    waiting: Option<u64>,
    writes: Option<Bytes>,
    heard_ms: u64,
    /// When it became Prepared: resolution starts `resolve_after_ms` later.
    since_ms: u64,
    /// When STATUS was last sent to `R`.
    asked_ms: Option<u64>,
}

/// `decided/T` as this machine knows it.
#[derive(Clone, Copy, Debug)]
struct Decided {
    decision: Decision,
    at_ms: u64,
    durable: bool,
    /// Its deletion is proposed.
    collecting: bool,
}

/// `record/T` at `R`.
#[derive(Debug, Default)]
struct Rec {
    durable: Option<TxnRecord>,
    proposed: Option<TxnRecord>,
    /// A resolution in progress: the writers that answered FOUND.
    resolving: Option<(BTreeSet<Gpid>, u64)>,
    collecting: bool,
}

/// A lock request waiting.
#[derive(Debug)]
enum Wait {
    Txn {
        txn: TxnId,
        token: Token,
        locks: Vec<(Bytes, LockMode)>,
        deadline_ms: u64,
    },
    Fast {
        token: Token,
        keys: Vec<Bytes>,
        write: bool,
        deadline_ms: u64,
    },
}

/// What becomes true when a proposal is durable.
#[derive(Debug)]
enum Effect {
    Prepared(TxnId),
    /// T's COMMIT_ONE or DECIDE: T is done here.
    Finished(TxnId),
    /// A `decided/T` written alone (PREVENT).
    DecidedAlone(TxnId),
    /// A `record/T` written alone (STATUS with no record).
    RecordAlone(TxnId),
    Collected {
        decided: Vec<TxnId>,
        records: Vec<TxnId>,
    },
}

/// The participant machine. See the module documentation.
#[derive(Debug)]
pub struct Participant {
    me: Gpid,
    epoch: u64,
    opts: Options,
    now_ms: u64,
    locks: LockTable,
    txns: BTreeMap<TxnId, Txn>,
    /// Forgotten transactions and why: their next message is refused so.
    gone: BTreeMap<TxnId, Refusal>,
    decided: BTreeMap<TxnId, Decided>,
    records: BTreeMap<TxnId, Rec>,
    waits: BTreeMap<u64, Wait>,
    next_wait: u64,
    proposals: BTreeMap<ProposalId, Vec<Effect>>,
    next_proposal: ProposalId,
    /// Requests waiting for a proposal about their transaction to be durable.
    parked: BTreeMap<TxnId, Vec<(Option<Token>, Request)>>,
    /// Some lock was released during this input: retry the waits.
    released: bool,
    out: Vec<Output>,
}

impl Participant {
    /// A primary that starts empty (a brand-new partition).
    pub fn new(me: Gpid, epoch: u64, opts: Options, now_ms: u64) -> Self {
        Self::recover(me, epoch, opts, now_ms, Recovered::default())
    }

    /// A new primary (`epoch` = its ballot) rebuilt from the durable
    /// records, before it serves: Prepared transactions with their exclusive
    /// locks, records, decisions. Active transactions of the old primary are
    /// gone; their PREPAREs will be refused.
    pub fn recover(me: Gpid, epoch: u64, opts: Options, now_ms: u64, rec: Recovered) -> Self {
        let mut p = Participant {
            me,
            epoch,
            opts,
            now_ms,
            locks: LockTable::default(),
            txns: BTreeMap::new(),
            gone: BTreeMap::new(),
            decided: BTreeMap::new(),
            records: BTreeMap::new(),
            waits: BTreeMap::new(),
            next_wait: 0,
            proposals: BTreeMap::new(),
            next_proposal: 1,
            parked: BTreeMap::new(),
            released: false,
            out: Vec::new(),
        };
        for (txn, prep) in rec.prepared {
            if !p.unlocks_early() {
                for k in &prep.keys {
                    p.locks.grant(txn, k, LockMode::Exclusive);
                }
            }
            p.txns
                .insert(txn, Txn::prepared(prep.record, Some(prep.writes), now_ms));
        }
        for (txn, value) in rec.records {
            if matches!(value, TxnRecord::Staging { .. }) {
                // A read-only `R` holds the record and nothing else.
                p.txns
                    .entry(txn)
                    .or_insert_with(|| Txn::prepared(me, None, now_ms));
            }
            p.records.insert(
                txn,
                Rec {
                    durable: Some(value),
                    ..Rec::default()
                },
            );
        }
        for (txn, d) in rec.decided {
            p.decided.insert(
                txn,
                Decided {
                    decision: d.decision,
                    at_ms: d.at_ms,
                    durable: true,
                    collecting: false,
                },
            );
        }
        p
    }

    /// Feeds one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        match input {
            Input::Execute { token, head, locks } => self.execute(token, head, locks),
            Input::Executed { token, txn, writes } => self.executed(token, txn, writes),
            Input::Request { token, req } => self.request(Some(token), req),
            Input::Response { from, resp } => self.response(from, resp),
            Input::Fast { token, keys, write } => self.fast(token, keys, write),
            Input::Durable { id } => self.durable(id),
            Input::Tick { now_ms } => self.tick(now_ms),
        }
        while std::mem::take(&mut self.released) {
            self.retry_waits();
        }
        std::mem::take(&mut self.out)
    }

    // ---- accessors ----------------------------------------------------

    /// This partition.
    pub fn me(&self) -> Gpid {
        self.me
    }

    /// This primary's epoch (its ballot), quoted back in PREPARE.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// T's state here, if T is known and undecided.
    pub fn phase(&self, txn: TxnId) -> Option<Phase> {
        self.txns.get(&txn).map(|t| t.phase)
    }

    /// The transactions known here and not yet finished.
    pub fn txns(&self) -> impl Iterator<Item = (TxnId, Phase)> + '_ {
        self.txns.iter().map(|(id, t)| (*id, t.phase))
    }

    /// Keys locked by some transaction (the liveness check reads it).
    pub fn locked_keys(&self) -> usize {
        self.locks.locked_keys()
    }

    /// Lock requests waiting.
    pub fn waiting(&self) -> usize {
        self.waits.len()
    }

    /// Proposals not yet reported durable.
    pub fn in_flight(&self) -> usize {
        self.proposals.len()
    }

    // ---- shared helpers -------------------------------------------------

    #[cfg(test)]
    fn unlocks_early(&self) -> bool {
        self.opts.broken == Broken::UnlockBeforeDecision
    }

    #[cfg(not(test))]
    fn unlocks_early(&self) -> bool {
        false
    }

    #[cfg(test)]
    fn reads_prepared(&self) -> bool {
        self.opts.broken == Broken::ReadPrepared
    }

    #[cfg(not(test))]
    fn reads_prepared(&self) -> bool {
        false
    }

    fn reply(&mut self, token: Option<Token>, resp: Response) {
        if let Some(token) = token {
            self.out.push(Output::Reply { token, resp });
        }
    }

    fn too_old(&self, txn: TxnId) -> bool {
        txn.age_ms(self.now_ms) > self.opts.max_age_ms
            || txn.start_ms > self.now_ms.saturating_add(self.opts.max_age_ms)
    }

    /// Proposes `change`; `effects` happen once it is durable.
    fn propose(&mut self, change: Change, effects: Vec<Effect>) {
        let id = self.next_proposal;
        self.next_proposal += 1;
        self.proposals.insert(id, effects);
        self.out.push(Output::Propose { id, change });
    }

    /// Re-handles `req` once a proposal about its transaction is durable.
    fn park(&mut self, token: Option<Token>, req: Request) {
        self.parked.entry(req.txn()).or_default().push((token, req));
    }

    fn unpark(&mut self, txn: TxnId) {
        for (token, req) in self.parked.remove(&txn).unwrap_or_default() {
            self.request(token, req);
        }
    }

    /// Drops T (locks, pending writes, a waiting EXECUTE); its next message
    /// here is answered from `why`.
    fn forget(&mut self, txn: TxnId, why: Refusal) {
        let Some(t) = self.txns.remove(&txn) else {
            return;
        };
        self.released |= self.locks.release(txn);
        self.gone.insert(txn, why);
        if let Some(w) = t.waiting {
            if let Some(Wait::Txn { token, .. }) = self.waits.remove(&w) {
                let to = Asked::Execute;
                self.reply(Some(token), Response::Refused { txn, to, why });
            }
        }
    }

    fn request(&mut self, token: Option<Token>, req: Request) {
        match req {
            Request::Prepare { .. } => self.prepare(token, req),
            Request::CommitOne { .. } => self.commit_one(token, req),
            Request::Decide { .. } => self.decide(token, req),
            Request::Release { txn } => self.release(token, txn),
            Request::Heartbeat { txn } => self.heartbeat(token, txn),
            Request::Status { .. } => self.status(token, req),
            Request::Prevent { .. } => self.prevent(token, req),
        }
    }

    fn response(&mut self, from: Gpid, resp: Response) {
        match resp {
            Response::Status { txn, decision } => self.status_answer(txn, decision),
            Response::Prevent { txn, found } => self.prevent_answer(from, txn, found),
            // Nothing else answers what a participant asks.
            _ => {}
        }
    }

    // ---- durability and time --------------------------------------------

    fn durable(&mut self, id: ProposalId) {
        let Some(effects) = self.proposals.remove(&id) else {
            return;
        };
        for e in effects {
            match e {
                Effect::Prepared(txn) => self.prepared_durable(txn),
                Effect::Finished(txn) => self.finished_durable(txn),
                Effect::DecidedAlone(txn) => {
                    if let Some(d) = self.decided.get_mut(&txn) {
                        d.durable = true;
                    }
                    self.unpark(txn);
                }
                Effect::RecordAlone(txn) => {
                    if let Some(r) = self.records.get_mut(&txn) {
                        r.durable = r.proposed.take();
                    }
                    self.unpark(txn);
                }
                Effect::Collected { decided, records } => {
                    for t in decided {
                        self.decided.remove(&t);
                    }
                    for t in records {
                        self.records.remove(&t);
                    }
                }
            }
        }
    }

    fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let now = self.now_ms;
        self.expire_waits();
        // Idle or too old Active transactions: their coordinator is gone
        // or can no longer prepare them.
        let stale: Vec<(TxnId, Refusal)> = self
            .txns
            .iter()
            .filter(|(_, t)| t.phase == Phase::Active && t.running.is_none())
            .filter_map(|(id, t)| {
                if self.too_old(*id) {
                    Some((*id, Refusal::TooOld))
                } else if t.heard_ms + self.opts.idle_timeout_ms <= now {
                    Some((*id, Refusal::Lost))
                } else {
                    None
                }
            })
            .collect();
        for (id, why) in stale {
            self.forget(id, why);
        }
        self.resolve_undecided();
        // A refusal need not be remembered once age alone refuses.
        let max_age = self.opts.max_age_ms;
        self.gone
            .retain(|id, _| id.start_ms.saturating_add(max_age) >= now);
        self.collect();
    }

    /// Proposes the deletion of `decided/T` and decided `record/T` past
    /// `gc_after_ms`.
    fn collect(&mut self) {
        let now = self.now_ms;
        let gc = self.opts.gc_after_ms;
        let decided: Vec<TxnId> = self
            .decided
            .iter()
            .filter(|(_, d)| d.durable && !d.collecting && d.at_ms.saturating_add(gc) <= now)
            .map(|(id, _)| *id)
            .collect();
        let records: Vec<TxnId> = self
            .records
            .iter()
            .filter(|(id, r)| {
                !r.collecting
                    && r.proposed.is_none()
                    && matches!(r.durable, Some(TxnRecord::Decided(_)))
                    && id.age_ms(now) >= gc
            })
            .map(|(id, _)| *id)
            .collect();
        if decided.is_empty() && records.is_empty() {
            return;
        }
        let mut ops = Vec::new();
        for t in &decided {
            if let Some(d) = self.decided.get_mut(t) {
                d.collecting = true;
            }
            ops.push(RecordOp::DeleteDecided(*t));
        }
        for t in &records {
            if let Some(r) = self.records.get_mut(t) {
                r.collecting = true;
            }
            ops.push(RecordOp::DeleteRecord(*t));
        }
        let change = Change {
            data: None,
            records: ops,
        };
        self.propose(change, vec![Effect::Collected { decided, records }]);
    }
}

impl Txn {
    fn active(record: Gpid, now_ms: u64) -> Self {
        Txn {
            record,
            phase: Phase::Active,
            executes: 0,
            running: None,
            waiting: None,
            writes: None,
            heard_ms: now_ms,
            since_ms: now_ms,
            asked_ms: None,
        }
    }

    fn prepared(record: Gpid, writes: Option<Bytes>, now_ms: u64) -> Self {
        Txn {
            phase: Phase::Prepared,
            writes,
            ..Txn::active(record, now_ms)
        }
    }
}

#[cfg(test)]
mod tests;
