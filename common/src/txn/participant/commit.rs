//! PREPARE, COMMIT_ONE, DECIDE, RELEASE, HEARTBEAT and PREVENT
//! (docs/TRANSACTIONS.md, participant rules 4-7 and the record partition's
//! PREVENT).
//!
//! A request that finds a proposal about its transaction still in flight
//! is parked and handled again when that proposal is durable, so every
//! answer speaks of durable state.

use super::{Decided, Effect, Participant, Phase, Rec, Token};
use crate::txn::id::TxnId;
use crate::txn::msg::{Asked, Refusal, Request, Response};
use crate::txn::record::{Change, DecidedRecord, Decision, PreparedRecord, RecordOp, TxnRecord};

impl Participant {
    /// T's durable `decided/T` here; `Err(())` while it is in flight.
    fn decided_here(&self, txn: TxnId) -> Result<Option<Decision>, ()> {
        match self.decided.get(&txn) {
            Some(d) if !d.durable => Err(()),
            Some(d) => Ok(Some(d.decision)),
            None => Ok(None),
        }
    }

    fn refuse(&mut self, token: Option<Token>, txn: TxnId, to: Asked, why: Refusal) {
        self.reply(token, Response::Refused { txn, to, why });
    }

    /// Answers PREPARE or COMMIT_ONE from T's `decided/T` here (`committed`
    /// if it committed, a refusal if it aborted), or parks it behind one in
    /// flight; false when T has no decision here.
    fn answered_by_decision(
        &mut self,
        token: Option<Token>,
        req: &Request,
        committed: Response,
    ) -> bool {
        let txn = req.txn();
        match self.decided_here(txn) {
            Err(()) => self.park(token, req.clone()),
            Ok(Some(Decision::Committed)) => self.reply(token, committed),
            Ok(Some(Decision::Aborted)) => {
                let to = match req {
                    Request::CommitOne { .. } => Asked::CommitOne,
                    _ => Asked::Prepare,
                };
                self.refuse(token, txn, to, Refusal::Aborted);
            }
            Ok(None) => return false,
        }
        true
    }

    /// Checks shared by PREPARE and COMMIT_ONE on an Active T; a refusal
    /// drops T (its attempt is over).
    fn check_active(
        &mut self,
        token: Option<Token>,
        to: Asked,
        txn: TxnId,
        epoch: u64,
        executes: u32,
    ) -> bool {
        let Some(t) = self.txns.get(&txn) else {
            return false;
        };
        let why = if t.running.is_some() || t.waiting.is_some() {
            Some(Refusal::WrongState)
        } else if epoch != self.epoch {
            Some(Refusal::EpochChanged)
        } else if executes != t.executes {
            Some(Refusal::Lost)
        } else if self.too_old(txn) {
            Some(Refusal::TooOld)
        } else {
            None
        };
        match why {
            Some(why) => {
                self.forget(txn, why);
                self.refuse(token, txn, to, why);
                false
            }
            None => true,
        }
    }

    /// Answers a request about a T this machine does not hold.
    fn unknown(&mut self, token: Option<Token>, txn: TxnId, to: Asked) {
        let why = self.gone.get(&txn).copied().unwrap_or(Refusal::Lost);
        self.refuse(token, txn, to, why);
    }

    pub(super) fn prepare(&mut self, token: Option<Token>, req: Request) {
        let Request::Prepare {
            txn,
            epoch,
            executes,
            ref writers,
        } = req
        else {
            return;
        };
        if self.answered_by_decision(token, &req, Response::Prepared { txn }) {
            return;
        }
        let to = Asked::Prepare;
        let Some(phase) = self.phase(txn) else {
            // At `R` the record, not `decided/T`, holds the outcome.
            match self.records.get(&txn) {
                Some(r) if r.proposed.is_some() => return self.park(token, req),
                Some(Rec {
                    durable: Some(TxnRecord::Decided(Decision::Committed)),
                    ..
                }) => return self.reply(token, Response::Prepared { txn }),
                Some(Rec {
                    durable: Some(TxnRecord::Decided(Decision::Aborted)),
                    ..
                }) => return self.refuse(token, txn, to, Refusal::Aborted),
                _ => return self.unknown(token, txn, to),
            }
        };
        match phase {
            Phase::Preparing | Phase::Deciding(_) => return self.park(token, req),
            Phase::Prepared => return self.reply(token, Response::Prepared { txn }),
            Phase::CommittingOne => return self.refuse(token, txn, to, Refusal::WrongState),
            Phase::Active => {}
        }
        if !self.check_active(token, to, txn, epoch, executes) {
            return;
        }
        let has_writes = self.txns.get(&txn).is_some_and(|t| t.writes.is_some());
        let refusal = if writers.is_some() && self.records.contains_key(&txn) {
            // STATUS found no record and wrote Aborted before this PREPARE.
            Some(Refusal::Aborted)
        } else if writers.is_none() && !has_writes {
            Some(Refusal::WrongState)
        } else {
            None
        };
        if let Some(why) = refusal {
            self.forget(txn, why);
            return self.refuse(token, txn, to, why);
        }
        // Every lock was taken before the first PREPARE: reads are done.
        self.released |= self.locks.release_shared(txn);
        let mut ops = Vec::new();
        if let Some(t) = self.txns.get_mut(&txn) {
            t.phase = Phase::Preparing;
            if let Some(writes) = &t.writes {
                let prep = PreparedRecord {
                    record: t.record,
                    keys: self.locks.exclusive_keys(txn),
                    writes: writes.clone(),
                };
                ops.push(RecordOp::PutPrepared(txn, prep));
            }
        }
        if let Some(writers) = writers {
            let staging = TxnRecord::Staging {
                writers: writers.clone(),
            };
            ops.push(RecordOp::PutRecord(txn, staging.clone()));
            let rec = Rec {
                proposed: Some(staging),
                ..Rec::default()
            };
            self.records.insert(txn, rec);
        }
        let change = Change {
            data: None,
            records: ops,
        };
        self.propose(change, vec![Effect::Prepared(txn)]);
        self.park(token, req);
    }

    pub(super) fn prepared_durable(&mut self, txn: TxnId) {
        let now = self.now_ms;
        if let Some(t) = self.txns.get_mut(&txn) {
            t.phase = Phase::Prepared;
            t.since_ms = now;
        }
        if let Some(r) = self.records.get_mut(&txn) {
            if matches!(r.proposed, Some(TxnRecord::Staging { .. })) {
                r.durable = r.proposed.take();
            }
        }
        if self.unlocks_early() {
            self.released |= self.locks.release(txn);
        }
        self.unpark(txn);
    }

    pub(super) fn commit_one(&mut self, token: Option<Token>, req: Request) {
        let Request::CommitOne {
            txn,
            epoch,
            executes,
        } = req
        else {
            return;
        };
        if self.answered_by_decision(token, &req, Response::Committed { txn }) {
            return;
        }
        let to = Asked::CommitOne;
        match self.phase(txn) {
            None => return self.unknown(token, txn, to),
            Some(Phase::CommittingOne) => return self.park(token, req),
            Some(Phase::Active) => {}
            Some(_) => return self.refuse(token, txn, to, Refusal::WrongState),
        }
        if !self.check_active(token, to, txn, epoch, executes) {
            return;
        }
        let now = self.now_ms;
        let Some(t) = self.txns.get_mut(&txn) else {
            return;
        };
        t.phase = Phase::CommittingOne;
        // `decided/T` goes with the writes, so a repeated COMMIT_ONE (its
        // answer lost) is answered from it rather than refused.
        let rec = DecidedRecord {
            decision: Decision::Committed,
            at_ms: now,
        };
        let change = Change {
            data: t.writes.clone(),
            records: vec![RecordOp::PutDecided(txn, rec)],
        };
        self.note_decided(txn, Decision::Committed);
        self.propose(change, vec![Effect::Finished(txn)]);
        self.park(token, req);
    }

    fn note_decided(&mut self, txn: TxnId, decision: Decision) {
        let d = Decided {
            decision,
            at_ms: self.now_ms,
            durable: false,
            collecting: false,
        };
        self.decided.insert(txn, d);
    }

    /// T's decision as the record at this `R` has it (durable or proposed):
    /// a decision written first wins over a later, different one.
    fn record_decision(&self, txn: TxnId) -> Option<Decision> {
        let r = self.records.get(&txn)?;
        match r.proposed.as_ref().or(r.durable.as_ref()) {
            Some(TxnRecord::Decided(d)) => Some(*d),
            _ => None,
        }
    }

    pub(super) fn decide(&mut self, token: Option<Token>, req: Request) {
        let Request::Decide { txn, decision } = req else {
            return;
        };
        match self.decided_here(txn) {
            Err(()) => return self.park(token, req),
            Ok(Some(_)) => return self.reply(token, Response::Decided { txn }),
            Ok(None) => {}
        }
        match self.phase(txn) {
            // Idempotent: nothing of T here (never prepared, or done).
            None => return self.reply(token, Response::Decided { txn }),
            Some(Phase::Active) => {
                // Never prepared here, so only an abort can be meant.
                if decision == Decision::Aborted {
                    self.forget(txn, Refusal::Aborted);
                }
                return self.reply(token, Response::Decided { txn });
            }
            Some(Phase::Prepared) => {}
            Some(_) => return self.park(token, req),
        }
        let decision = self.record_decision(txn).unwrap_or(decision);
        let now = self.now_ms;
        let Some(t) = self.txns.get_mut(&txn) else {
            return;
        };
        t.phase = Phase::Deciding(decision);
        let mut change = Change::default();
        let has_prepared = t.writes.is_some();
        if decision == Decision::Committed {
            change.data = t.writes.clone();
        }
        if has_prepared {
            change.records.push(RecordOp::DeletePrepared(txn));
            let rec = DecidedRecord {
                decision,
                at_ms: now,
            };
            change.records.push(RecordOp::PutDecided(txn, rec));
            self.note_decided(txn, decision);
        }
        if let Some(r) = self.records.get_mut(&txn) {
            if !matches!(r.durable, Some(TxnRecord::Decided(_))) {
                let value = TxnRecord::Decided(decision);
                change.records.push(RecordOp::PutRecord(txn, value.clone()));
                r.proposed = Some(value);
            }
            r.resolving = None;
        }
        self.propose(change, vec![Effect::Finished(txn)]);
        self.park(token, req);
    }

    /// COMMIT_ONE or DECIDE is durable: T is done here.
    pub(super) fn finished_durable(&mut self, txn: TxnId) {
        self.txns.remove(&txn);
        self.released |= self.locks.release(txn);
        if let Some(d) = self.decided.get_mut(&txn) {
            d.durable = true;
        }
        if let Some(r) = self.records.get_mut(&txn) {
            if r.proposed.is_some() {
                r.durable = r.proposed.take();
            }
        }
        self.unpark(txn);
    }

    pub(super) fn release(&mut self, token: Option<Token>, txn: TxnId) {
        match self.phase(txn) {
            Some(Phase::Active) => self.forget(txn, Refusal::Released),
            // Not a reader (the coordinator releases only readers); nothing to do.
            Some(_) => {}
            None if self.gone.get(&txn) == Some(&Refusal::Released) => {}
            None => return self.unknown(token, txn, Asked::Release),
        }
        self.reply(token, Response::Released { txn });
    }

    pub(super) fn heartbeat(&mut self, token: Option<Token>, txn: TxnId) {
        let now = self.now_ms;
        match self.txns.get_mut(&txn) {
            Some(t) => {
                t.heard_ms = now;
                self.reply(token, Response::Alive { txn });
            }
            None => self.unknown(token, txn, Asked::Heartbeat),
        }
    }

    /// PREVENT: FOUND if T's PREPARE (or its commit) is durable here;
    /// otherwise T is durably aborted here first, so no PREPARE of T is
    /// ever accepted here after the answer.
    pub(super) fn prevent(&mut self, token: Option<Token>, req: Request) {
        let txn = req.txn();
        match self.decided_here(txn) {
            Err(()) => return self.park(token, req),
            Ok(Some(d)) => {
                let found = d == Decision::Committed;
                return self.reply(token, Response::Prevent { txn, found });
            }
            Ok(None) => {}
        }
        match self.phase(txn) {
            Some(Phase::Prepared) => {
                return self.reply(token, Response::Prevent { txn, found: true });
            }
            Some(Phase::Active) => self.forget(txn, Refusal::Aborted),
            Some(_) => return self.park(token, req),
            None => {}
        }
        let rec = DecidedRecord {
            decision: Decision::Aborted,
            at_ms: self.now_ms,
        };
        let change = Change {
            data: None,
            records: vec![RecordOp::PutDecided(txn, rec)],
        };
        self.note_decided(txn, Decision::Aborted);
        self.propose(change, vec![Effect::DecidedAlone(txn)]);
        self.park(token, req);
    }
}
