//! The record partition's side (STATUS, PREVENT rounds, conditional record
//! writes) and resolution of transactions left Prepared
//! (docs/TRANSACTIONS.md, participant rule 9 and "The record partition").

use std::collections::BTreeSet;

use super::{Effect, Participant, Phase, Rec, Token};
use crate::ids::Gpid;
use crate::txn::id::TxnId;
use crate::txn::msg::{Refusal, Request, Response};
use crate::txn::record::{Change, Decision, RecordOp, TxnRecord};

impl Participant {
    /// STATUS at `R`: the record's decision, or a decision made now.
    pub(super) fn status(&mut self, token: Option<Token>, req: Request) {
        let txn = req.txn();
        if let Some(t) = self.txns.get(&txn) {
            if t.record != self.me {
                // Not T's record partition: a misrouted request. Silence
                // makes the asker retry at the right primary.
                return;
            }
        }
        if let Some(r) = self.records.get(&txn) {
            if r.proposed.is_some() {
                return self.park(token, req);
            }
            match &r.durable {
                Some(TxnRecord::Decided(decision)) => {
                    let decision = *decision;
                    return self.reply(token, Response::Status { txn, decision });
                }
                Some(TxnRecord::Staging { writers }) => {
                    let writers = writers.clone();
                    self.park(token, req);
                    return self.start_resolution(txn, &writers);
                }
                None => return self.park(token, req),
            }
        }
        // No record: T never staged here (or not yet, and now never will).
        if self.phase(txn) == Some(Phase::Active) {
            self.forget(txn, Refusal::Aborted);
        }
        let value = TxnRecord::Decided(Decision::Aborted);
        let change = Change {
            data: None,
            records: vec![RecordOp::PutRecord(txn, value.clone())],
        };
        let rec = Rec {
            proposed: Some(value),
            ..Rec::default()
        };
        self.records.insert(txn, rec);
        self.propose(change, vec![Effect::RecordAlone(txn)]);
        self.park(token, req);
    }

    /// Asks every writer PREVENT (this partition answers for itself: its
    /// `prepared/T` was written with the Staging record).
    fn start_resolution(&mut self, txn: TxnId, writers: &[Gpid]) {
        let me = self.me;
        let now = self.now_ms;
        let Some(r) = self.records.get_mut(&txn) else {
            return;
        };
        if r.resolving.is_some() {
            return;
        }
        let mut found = BTreeSet::new();
        if writers.contains(&me) {
            found.insert(me);
        }
        r.resolving = Some((found, now));
        self.send_prevents(txn, writers);
        self.conclude_if_all_found(txn, writers);
    }

    fn send_prevents(&mut self, txn: TxnId, writers: &[Gpid]) {
        let Some((found, _)) = self.records.get(&txn).and_then(|r| r.resolving.as_ref()) else {
            return;
        };
        let asks: Vec<Gpid> = writers
            .iter()
            .filter(|w| !found.contains(w))
            .copied()
            .collect();
        for to in asks {
            let req = Request::Prevent { txn };
            self.out.push(super::Output::Send { to, req });
        }
    }

    fn staging_writers(&self, txn: TxnId) -> Option<Vec<Gpid>> {
        match self.records.get(&txn)?.durable.as_ref()? {
            TxnRecord::Staging { writers } => Some(writers.clone()),
            TxnRecord::Decided(_) => None,
        }
    }

    fn conclude_if_all_found(&mut self, txn: TxnId, writers: &[Gpid]) {
        let all = self
            .records
            .get(&txn)
            .and_then(|r| r.resolving.as_ref())
            .is_some_and(|(found, _)| writers.iter().all(|w| found.contains(w)));
        if all {
            self.conclude(txn, Decision::Committed);
        }
    }

    /// Writes the resolution's decision through `R`'s own share of T (the
    /// record is updated with it, conditionally); parked STATUS requests
    /// are answered once it is durable.
    fn conclude(&mut self, txn: TxnId, decision: Decision) {
        if let Some(r) = self.records.get_mut(&txn) {
            r.resolving = None;
        }
        self.decide(None, Request::Decide { txn, decision });
    }

    pub(super) fn prevent_answer(&mut self, from: Gpid, txn: TxnId, found: bool) {
        let Some(writers) = self.staging_writers(txn) else {
            return;
        };
        let Some((got, _)) = self
            .records
            .get_mut(&txn)
            .and_then(|r| r.resolving.as_mut())
        else {
            return;
        };
        if !writers.contains(&from) {
            return;
        }
        if !found {
            // `from` never held T's PREPARE and never will: T cannot have
            // been committed by the rule.
            return self.conclude(txn, Decision::Aborted);
        }
        got.insert(from);
        self.conclude_if_all_found(txn, &writers);
    }

    /// `R` answered our STATUS.
    pub(super) fn status_answer(&mut self, txn: TxnId, decision: Decision) {
        if self.phase(txn) == Some(Phase::Prepared) {
            self.decide(None, Request::Decide { txn, decision });
        }
    }

    /// On every tick: Prepared transactions undecided for
    /// `resolve_after_ms` ask `R` (or, at `R`, resolve); PREVENTs that got
    /// no answer are resent.
    pub(super) fn resolve_undecided(&mut self) {
        let now = self.now_ms;
        let due: Vec<(TxnId, Gpid)> = self
            .txns
            .iter()
            .filter(|(_, t)| t.phase == Phase::Prepared)
            .filter(|(_, t)| t.since_ms.max(t.heard_ms) + self.opts.resolve_after_ms <= now)
            .filter(|(_, t)| t.asked_ms.is_none_or(|a| a + self.opts.resend_ms <= now))
            .map(|(id, t)| (*id, t.record))
            .collect();
        for (txn, record) in due {
            if let Some(t) = self.txns.get_mut(&txn) {
                t.asked_ms = Some(now);
            }
            if record == self.me {
                if let Some(writers) = self.staging_writers(txn) {
                    self.start_resolution(txn, &writers);
                }
            } else {
                let req = Request::Status { txn };
                self.out.push(super::Output::Send { to: record, req });
            }
        }
        let resend: Vec<(TxnId, Vec<Gpid>)> = self
            .records
            .iter()
            .filter_map(|(id, r)| match (&r.resolving, &r.durable) {
                (Some((_, sent)), Some(TxnRecord::Staging { writers }))
                    if sent + self.opts.resend_ms <= now =>
                {
                    Some((*id, writers.clone()))
                }
                _ => None,
            })
            .collect();
        for (txn, writers) in resend {
            if let Some((_, sent)) = self
                .records
                .get_mut(&txn)
                .and_then(|r| r.resolving.as_mut())
            {
                *sent = now;
            }
            self.send_prevents(txn, &writers);
        }
    }
}
