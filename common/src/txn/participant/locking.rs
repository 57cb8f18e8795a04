//! EXECUTE, wound-wait, lock waits and the fast path
//! (docs/TRANSACTIONS.md, participant rules 1-3 and 8).

use bytes::Bytes;

use super::{Participant, Phase, Token, Txn, Wait};
use crate::txn::id::TxnId;
use crate::txn::lock::LockMode;
use crate::txn::msg::{Asked, ExecuteHeader, Refusal, Response};
use crate::txn::record::Decision;

impl Participant {
    pub(super) fn execute(
        &mut self,
        token: Token,
        head: ExecuteHeader,
        locks: Vec<(Bytes, LockMode)>,
    ) {
        let txn = head.txn;
        let to = Asked::Execute;
        let refused = |why| Response::Refused { txn, to, why };
        if let Some(why) = self.gone.get(&txn) {
            return self.reply(Some(token), refused(*why));
        }
        if let Some(d) = self.decided.get(&txn) {
            let why = match d.decision {
                Decision::Aborted => Refusal::Aborted,
                Decision::Committed => Refusal::WrongState,
            };
            return self.reply(Some(token), refused(why));
        }
        if self.too_old(txn) {
            return self.reply(Some(token), refused(Refusal::TooOld));
        }
        match self.txns.get(&txn) {
            // A duplicate of an EXECUTE already running, waiting or done
            // (or of one from before PREPARE): its original answer is (or
            // will be) the answer.
            Some(t)
                if t.phase != Phase::Active
                    || t.running.is_some()
                    || t.waiting.is_some()
                    || head.seq < t.executes =>
            {
                return;
            }
            Some(t) if head.seq > t.executes => {
                return self.reply(Some(token), refused(Refusal::Lost));
            }
            Some(_) => {}
            // A record here means STATUS already decided T (aborted).
            None if self.records.contains_key(&txn) => {
                return self.reply(Some(token), refused(Refusal::Aborted));
            }
            None if head.seq != 0 => {
                return self.reply(Some(token), refused(Refusal::Lost));
            }
            None => {
                self.txns.insert(txn, Txn::active(head.record, self.now_ms));
            }
        }
        let now = self.now_ms;
        if let Some(t) = self.txns.get_mut(&txn) {
            t.heard_ms = now;
        }
        if self.acquire(txn, &locks) {
            self.start_run(txn, token);
        } else {
            let id = self.next_wait;
            self.next_wait += 1;
            self.waits.insert(
                id,
                Wait::Txn {
                    txn,
                    token,
                    locks,
                    deadline_ms: now + self.opts.lock_wait_ms,
                },
            );
            if let Some(t) = self.txns.get_mut(&txn) {
                t.waiting = Some(id);
            }
        }
    }

    /// Takes every lock or none. Wound-wait: each conflicting holder that
    /// is younger than `txn` and still Active is wounded; any other
    /// conflict makes `txn` wait.
    fn acquire(&mut self, txn: TxnId, locks: &[(Bytes, LockMode)]) -> bool {
        let mut blocked = false;
        for (key, mode) in locks {
            for holder in self.locks.conflicts(txn, key, *mode) {
                let woundable = self
                    .txns
                    .get(&holder)
                    .is_some_and(|h| h.phase == Phase::Active);
                if txn.is_older_than(&holder) && woundable {
                    self.forget(holder, Refusal::Wounded);
                } else {
                    blocked = true;
                }
            }
        }
        if blocked {
            return false;
        }
        for (key, mode) in locks {
            self.locks.grant(txn, key, *mode);
        }
        true
    }

    fn start_run(&mut self, txn: TxnId, token: Token) {
        let Some(t) = self.txns.get_mut(&txn) else {
            return;
        };
        t.executes += 1;
        t.running = Some(token);
        t.waiting = None;
        let pending = t.writes.clone();
        self.out.push(super::Output::Run {
            token,
            txn,
            pending,
        });
    }

    pub(super) fn executed(&mut self, token: Token, txn: TxnId, writes: Option<Bytes>) {
        let now = self.now_ms;
        let epoch = self.epoch;
        match self.txns.get_mut(&txn) {
            Some(t) if t.running == Some(token) => {
                t.running = None;
                t.writes = writes;
                t.heard_ms = now;
                let resp = Response::Executed {
                    txn,
                    seq: t.executes - 1,
                    epoch,
                    writes: t.writes.is_some(),
                };
                self.reply(Some(token), resp);
            }
            // Wounded (or otherwise dropped) while the shell ran it: the
            // shell discards the results.
            _ => {
                let why = self.gone.get(&txn).copied().unwrap_or(Refusal::Wounded);
                let to = Asked::Execute;
                self.reply(Some(token), Response::Refused { txn, to, why });
            }
        }
    }

    /// The fast path never wounds: a write waits for any lock on its keys,
    /// a read only for the exclusive lock of a transaction past Active
    /// (whose writes may become visible any moment).
    fn fast_blocked(&self, keys: &[Bytes], write: bool) -> bool {
        keys.iter().any(|k| {
            if write {
                return self.locks.is_locked(k);
            }
            let Some(holder) = self.locks.exclusive_holder(k) else {
                return false;
            };
            let past_active = self
                .txns
                .get(&holder)
                .is_some_and(|t| t.phase != Phase::Active);
            past_active && !self.reads_prepared()
        })
    }

    pub(super) fn fast(&mut self, token: Token, keys: Vec<Bytes>, write: bool) {
        if !self.fast_blocked(&keys, write) {
            self.out.push(super::Output::FastGo { token });
            return;
        }
        let id = self.next_wait;
        self.next_wait += 1;
        let deadline_ms = self.now_ms + self.opts.lock_wait_ms;
        self.waits.insert(
            id,
            Wait::Fast {
                token,
                keys,
                write,
                deadline_ms,
            },
        );
    }

    /// After locks were released: every wait that can go now goes, in
    /// arrival order.
    pub(super) fn retry_waits(&mut self) {
        let ids: Vec<u64> = self.waits.keys().copied().collect();
        for id in ids {
            let go = match self.waits.get(&id) {
                Some(Wait::Fast { keys, write, .. }) => !self.fast_blocked(keys, *write),
                Some(Wait::Txn { .. }) => true,
                None => false,
            };
            if !go {
                continue;
            }
            match self.waits.remove(&id) {
                Some(Wait::Fast { token, .. }) => {
                    self.out.push(super::Output::FastGo { token });
                }
                Some(Wait::Txn {
                    txn,
                    token,
                    locks,
                    deadline_ms,
                }) => {
                    if self.acquire(txn, &locks) {
                        self.start_run(txn, token);
                    } else {
                        let wait = Wait::Txn {
                            txn,
                            token,
                            locks,
                            deadline_ms,
                        };
                        self.waits.insert(id, wait);
                    }
                }
                None => {}
            }
        }
    }

    /// Waits past their deadline: a transaction gets LOCK_TIMEOUT and is
    /// dropped here (its attempt is over), a fast-path command an error.
    pub(super) fn expire_waits(&mut self) {
        let now = self.now_ms;
        let expired: Vec<u64> = self
            .waits
            .iter()
            .filter(|(_, w)| match w {
                Wait::Txn { deadline_ms, .. } | Wait::Fast { deadline_ms, .. } => {
                    *deadline_ms <= now
                }
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            match self.waits.remove(&id) {
                Some(Wait::Txn { txn, token, .. }) => {
                    if let Some(t) = self.txns.get_mut(&txn) {
                        t.waiting = None;
                    }
                    let (to, why) = (Asked::Execute, Refusal::LockTimeout);
                    self.reply(Some(token), Response::Refused { txn, to, why });
                    self.forget(txn, why);
                }
                Some(Wait::Fast { token, .. }) => {
                    self.out.push(super::Output::FastTimedOut { token });
                }
                None => {}
            }
        }
    }
}
