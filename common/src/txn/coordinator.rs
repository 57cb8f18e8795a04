//! The coordinator: one machine per transaction, run by the proxy
//! connection that owns it. `Input -> Vec<Output>`, no I/O, no clock.
//!
//! docs/TRANSACTIONS.md "The coordinator": EXECUTE rounds, then the commit
//! rule (no writer: release; one writer: COMMIT_ONE; several: PREPARE at
//! every writer and at `R`, committed once every PREPARE is acknowledged),
//! an abort before PREPARE retried under a new id of the same age, STATUS
//! at `R` when a PREPARE's outcome stays unknown, and the decision carried
//! to the participants in the background after the client has its answer.
//! It holds nothing durable: dropping it at any point is a coordinator
//! crash, which the participants resolve on their own.

use std::collections::{BTreeMap, BTreeSet};

use super::id::TxnId;
use super::msg::{Asked, ExecuteHeader, Request, Response};
use super::record::Decision;
use crate::ids::Gpid;

/// Tunables; every field has a default.
#[derive(Clone, Debug)]
pub struct Options {
    /// An EXECUTE unanswered this long ends the attempt (it may wait up to
    /// the participant's `lock_wait_ms`, so this is above it).
    pub execute_timeout_ms: u64,
    /// PREPARE, COMMIT_ONE, STATUS and DECIDE are resent this often.
    pub resend_ms: u64,
    /// PREPAREs unanswered this long: ask `R` STATUS as well.
    pub status_after_ms: u64,
    /// HEARTBEAT to every participant this often while executing, so slow
    /// rounds (scripts) are not expired as idle.
    pub heartbeat_ms: u64,
    /// DECIDE is carried this long after the outcome at most; participants
    /// that missed it resolve on their own.
    pub decide_for_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            execute_timeout_ms: 2_000,
            resend_ms: 300,
            status_after_ms: 1_000,
            heartbeat_ms: 1_000,
            decide_for_ms: 10_000,
        }
    }
}

/// What the proxy feeds the coordinator.
#[derive(Clone, Debug)]
pub enum Input {
    /// Send one round of EXECUTEs, one to each of `parts`; the record
    /// partition must be among the first round's.
    Execute { parts: Vec<Gpid> },
    /// A participant's answer.
    Response { from: Gpid, resp: Response },
    /// The request in flight to `from` will get no answer (connection lost,
    /// not the primary any more).
    Failed { from: Gpid },
    /// Every round ran: commit by the rule.
    Commit,
    /// Give up before committing (a WATCHed key changed, the client went
    /// away): release everything, apply nothing.
    Abandon,
    /// Time passes: timeouts, resends, heartbeats, the deadline.
    Tick { now_ms: u64 },
}

/// Why a transaction was certainly not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotApplied {
    /// The deadline passed before any PREPARE could be in doubt.
    Deadline,
    /// [`Input::Abandon`].
    Abandoned,
}

/// How the transaction ended, for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Committed: answer the client with the EXECUTE replies.
    Committed,
    /// Certainly not applied anywhere.
    NotApplied(NotApplied),
    /// The deadline passed while a PREPARE (or COMMIT_ONE) was in doubt: it
    /// may or may not be applied; the participants will decide it.
    Unknown,
}

/// What the coordinator asks the proxy to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send an EXECUTE to `to` with this round's commands for it.
    Execute { to: Gpid, head: ExecuteHeader },
    /// Send a request.
    Send { to: Gpid, req: Request },
    /// Every EXECUTE of the round succeeded: run the next round, or
    /// [`Input::Commit`].
    RoundDone,
    /// The attempt aborted before anything could apply: forget its replies
    /// and run the transaction again from the start as `txn` (same age).
    Restart { txn: TxnId },
    /// The outcome, once. The machine may still carry DECIDEs afterwards:
    /// keep feeding it until [`Coordinator::is_finished`].
    Done(Outcome),
}

/// What the coordinator knows of one participant in this attempt.
#[derive(Clone, Debug, Default)]
struct Part {
    /// EXECUTEs sent.
    executes: u32,
    /// The primary's epoch from its first EXECUTE reply.
    epoch: Option<u64>,
    writes: bool,
    /// When the EXECUTE in flight was sent.
    in_flight: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    Executing,
    /// Readers confirm they held their locks until released.
    Releasing {
        waiting: BTreeSet<Gpid>,
        sent_ms: u64,
    },
    CommitOne {
        writer: Gpid,
        sent_ms: u64,
    },
    Preparing {
        waiting: BTreeSet<Gpid>,
        sent_ms: u64,
        since_ms: u64,
        status_ms: Option<u64>,
    },
    Done,
}

/// The coordinator machine. See the module documentation.
#[derive(Debug)]
pub struct Coordinator {
    first: TxnId,
    txn: TxnId,
    attempt: u32,
    record: Gpid,
    deadline_ms: u64,
    now_ms: u64,
    opts: Options,
    parts: BTreeMap<Gpid, Part>,
    stage: Stage,
    heartbeat_ms: u64,
    /// DECIDEs to deliver: (attempt, participant) -> (decision, last sent).
    deciding: BTreeMap<(TxnId, Gpid), (Decision, u64)>,
    decide_until_ms: u64,
    out: Vec<Output>,
}

impl Coordinator {
    /// A transaction `txn` whose record lives at `record` (the first key's
    /// partition), to be finished by `deadline_ms`.
    pub fn new(txn: TxnId, record: Gpid, now_ms: u64, deadline_ms: u64, opts: Options) -> Self {
        Coordinator {
            first: txn,
            txn,
            attempt: 0,
            record,
            deadline_ms,
            now_ms,
            opts,
            parts: BTreeMap::new(),
            stage: Stage::Executing,
            heartbeat_ms: now_ms,
            deciding: BTreeMap::new(),
            decide_until_ms: 0,
            out: Vec::new(),
        }
    }

    /// The current attempt's id.
    pub fn txn(&self) -> TxnId {
        self.txn
    }

    /// True once the outcome is out and no DECIDE is left to carry.
    pub fn is_finished(&self) -> bool {
        self.stage == Stage::Done && self.deciding.is_empty()
    }

    /// Feeds one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        match input {
            Input::Execute { parts } => self.execute(parts),
            Input::Response { from, resp } => self.response(from, resp),
            Input::Failed { from } => self.failed(from),
            Input::Commit => self.commit(),
            Input::Abandon => {
                if self.stage == Stage::Executing {
                    self.release_all();
                    self.finish(Outcome::NotApplied(NotApplied::Abandoned));
                }
            }
            Input::Tick { now_ms } => self.tick(now_ms),
        }
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: Gpid, req: Request) {
        self.out.push(Output::Send { to, req });
    }

    fn finish(&mut self, outcome: Outcome) {
        self.stage = Stage::Done;
        self.decide_until_ms = self.now_ms + self.opts.decide_for_ms;
        self.out.push(Output::Done(outcome));
    }

    fn execute(&mut self, parts: Vec<Gpid>) {
        if self.stage != Stage::Executing {
            return;
        }
        let (txn, record, now) = (self.txn, self.record, self.now_ms);
        for to in parts {
            let p = self.parts.entry(to).or_default();
            let head = ExecuteHeader {
                txn,
                record,
                seq: p.executes,
            };
            p.executes += 1;
            p.in_flight = Some(now);
            self.out.push(Output::Execute { to, head });
        }
    }

    fn writers(&self) -> Vec<Gpid> {
        self.parts
            .iter()
            .filter(|(_, p)| p.writes)
            .map(|(g, _)| *g)
            .collect()
    }

    fn commit(&mut self) {
        let busy = self.parts.values().any(|p| p.in_flight.is_some());
        if self.stage != Stage::Executing || busy {
            return;
        }
        // Readers first: a reader wounded after its reads (or expired)
        // would make them stale, and only its RELEASE answer tells. With
        // several writers `R` is validated by its PREPARE instead.
        let writers = self.writers();
        let readers: BTreeSet<Gpid> = self
            .parts
            .keys()
            .filter(|g| {
                let prepared = writers.contains(g) || (writers.len() > 1 && **g == self.record);
                !prepared
            })
            .copied()
            .collect();
        if readers.is_empty() {
            return self.commit_writers();
        }
        let txn = self.txn;
        for to in &readers {
            self.send(*to, Request::Release { txn });
        }
        self.stage = Stage::Releasing {
            waiting: readers,
            sent_ms: self.now_ms,
        };
    }

    /// Every read is confirmed: the commit rule for the writers.
    fn commit_writers(&mut self) {
        let writers = self.writers();
        match writers.as_slice() {
            [] => self.finish(Outcome::Committed),
            [writer] => {
                let writer = *writer;
                self.send_commit_one(writer);
                self.stage = Stage::CommitOne {
                    writer,
                    sent_ms: self.now_ms,
                };
            }
            _ => {
                let mut waiting: BTreeSet<Gpid> = writers.iter().copied().collect();
                waiting.insert(self.record);
                for to in waiting.clone() {
                    self.send_prepare(to, &writers);
                }
                self.stage = Stage::Preparing {
                    waiting,
                    sent_ms: self.now_ms,
                    since_ms: self.now_ms,
                    status_ms: None,
                };
            }
        }
    }

    fn send_commit_one(&mut self, to: Gpid) {
        let p = self.parts.get(&to).cloned().unwrap_or_default();
        let req = Request::CommitOne {
            txn: self.txn,
            epoch: p.epoch.unwrap_or(0),
            executes: p.executes,
        };
        self.send(to, req);
    }

    fn send_prepare(&mut self, to: Gpid, writers: &[Gpid]) {
        let p = self.parts.get(&to).cloned().unwrap_or_default();
        let req = Request::Prepare {
            txn: self.txn,
            epoch: p.epoch.unwrap_or(0),
            executes: p.executes,
            writers: (to == self.record).then(|| writers.to_vec()),
        };
        self.send(to, req);
    }

    fn release_all(&mut self) {
        let txn = self.txn;
        let parts: Vec<Gpid> = self.parts.keys().copied().collect();
        for to in parts {
            self.send(to, Request::Release { txn });
        }
    }

    /// Before any PREPARE: nothing can apply. Release and run again.
    fn abort_attempt(&mut self) {
        self.release_all();
        self.restart();
    }

    /// After PREPAREs: the decision is abort (a PREPARE was refused, or `R`
    /// said so); carry it to every writer and `R`, then run again.
    fn abort_prepared(&mut self) {
        self.decide_everywhere(Decision::Aborted);
        self.restart();
    }

    fn restart(&mut self) {
        if self.now_ms >= self.deadline_ms {
            return self.finish(Outcome::NotApplied(NotApplied::Deadline));
        }
        self.attempt += 1;
        self.txn = self.first.retry(self.attempt);
        self.parts.clear();
        self.stage = Stage::Executing;
        self.heartbeat_ms = self.now_ms;
        self.out.push(Output::Restart { txn: self.txn });
    }

    fn decide_everywhere(&mut self, decision: Decision) {
        let txn = self.txn;
        let mut to: BTreeSet<Gpid> = self.writers().into_iter().collect();
        to.insert(self.record);
        for g in to {
            self.deciding.insert((txn, g), (decision, self.now_ms));
            self.send(g, Request::Decide { txn, decision });
        }
    }

    fn committed(&mut self) {
        self.finish(Outcome::Committed);
        self.decide_everywhere(Decision::Committed);
    }

    fn response(&mut self, from: Gpid, resp: Response) {
        let txn = resp.txn();
        if let Response::Decided { .. } = resp {
            self.deciding.remove(&(txn, from));
            return;
        }
        if txn != self.txn {
            return; // a late answer to an earlier attempt
        }
        match self.stage.clone() {
            // Before PREPARE any refusal (of an EXECUTE, a HEARTBEAT, even
            // a late one) means T is dead there: abort the attempt.
            Stage::Executing => match resp {
                Response::Executed {
                    seq, epoch, writes, ..
                } => self.executed(from, seq, epoch, writes),
                Response::Refused { .. } => self.abort_attempt(),
                _ => {}
            },
            Stage::Releasing { mut waiting, .. } => match resp {
                Response::Released { .. } if waiting.remove(&from) => {
                    if waiting.is_empty() {
                        self.commit_writers();
                    } else if let Stage::Releasing { waiting: w, .. } = &mut self.stage {
                        *w = waiting;
                    }
                }
                // Nothing is prepared yet: any refusal ends the attempt.
                Response::Refused { .. } => self.abort_attempt(),
                _ => {}
            },
            Stage::CommitOne { writer, .. } if from == writer => match resp {
                Response::Committed { .. } => self.finish(Outcome::Committed),
                Response::Refused {
                    to: Asked::CommitOne,
                    ..
                } => self.abort_attempt(),
                _ => {}
            },
            Stage::CommitOne { .. } => {}
            // Only a refused PREPARE decides: it was never prepared there
            // and never will be, so T cannot commit.
            Stage::Preparing { mut waiting, .. } => match resp {
                Response::Prepared { .. } if waiting.remove(&from) => {
                    if waiting.is_empty() {
                        self.committed();
                    } else if let Stage::Preparing { waiting: w, .. } = &mut self.stage {
                        *w = waiting;
                    }
                }
                Response::Status { decision, .. } if from == self.record => match decision {
                    Decision::Committed => self.committed(),
                    Decision::Aborted => self.abort_prepared(),
                },
                Response::Refused {
                    to: Asked::Prepare, ..
                } if waiting.contains(&from) => self.abort_prepared(),
                _ => {}
            },
            Stage::Done => {}
        }
    }

    fn executed(&mut self, from: Gpid, seq: u32, epoch: u64, writes: bool) {
        let Some(p) = self.parts.get_mut(&from) else {
            return;
        };
        if p.in_flight.is_none() || seq + 1 != p.executes {
            return; // an answer to an earlier round
        }
        p.in_flight = None;
        p.writes = writes;
        if p.epoch.is_some_and(|e| e != epoch) {
            // A new primary: T's earlier rounds there are gone.
            return self.abort_attempt();
        }
        p.epoch = Some(epoch);
        if self.parts.values().all(|p| p.in_flight.is_none()) {
            self.out.push(Output::RoundDone);
        }
    }

    fn failed(&mut self, from: Gpid) {
        match self.stage {
            Stage::Executing => {
                if self.parts.get(&from).is_some_and(|p| p.in_flight.is_some()) {
                    self.abort_attempt();
                }
            }
            // In doubt: resent on the next tick.
            Stage::Releasing {
                ref mut sent_ms, ..
            }
            | Stage::CommitOne {
                ref mut sent_ms, ..
            }
            | Stage::Preparing {
                ref mut sent_ms, ..
            } => {
                *sent_ms = 0;
            }
            Stage::Done => {}
        }
    }

    fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let now = self.now_ms;
        let resend = self.opts.resend_ms;
        match self.stage.clone() {
            Stage::Executing => {
                let late = self.parts.values().any(|p| {
                    p.in_flight
                        .is_some_and(|s| s + self.opts.execute_timeout_ms <= now)
                });
                if now >= self.deadline_ms {
                    self.release_all();
                    self.finish(Outcome::NotApplied(NotApplied::Deadline));
                } else if late {
                    self.abort_attempt();
                } else if self.heartbeat_ms + self.opts.heartbeat_ms <= now {
                    self.heartbeat_ms = now;
                    let txn = self.txn;
                    let parts: Vec<Gpid> = self.parts.keys().copied().collect();
                    for to in parts {
                        self.send(to, Request::Heartbeat { txn });
                    }
                }
            }
            Stage::Releasing { waiting, sent_ms } => {
                if now >= self.deadline_ms {
                    self.release_all();
                    self.finish(Outcome::NotApplied(NotApplied::Deadline));
                } else if sent_ms + resend <= now {
                    let txn = self.txn;
                    for to in &waiting {
                        self.send(*to, Request::Release { txn });
                    }
                    self.stage = Stage::Releasing {
                        waiting,
                        sent_ms: now,
                    };
                }
            }
            Stage::CommitOne { writer, sent_ms } => {
                if now >= self.deadline_ms {
                    self.finish(Outcome::Unknown);
                } else if sent_ms + resend <= now {
                    self.send_commit_one(writer);
                    self.stage = Stage::CommitOne {
                        writer,
                        sent_ms: now,
                    };
                }
            }
            Stage::Preparing {
                waiting,
                sent_ms,
                since_ms,
                status_ms,
            } => {
                if now >= self.deadline_ms {
                    return self.finish(Outcome::Unknown);
                }
                let mut stage = Stage::Preparing {
                    waiting: waiting.clone(),
                    sent_ms,
                    since_ms,
                    status_ms,
                };
                if sent_ms + resend <= now {
                    let writers = self.writers();
                    for to in &waiting {
                        self.send_prepare(*to, &writers);
                    }
                    stage = Stage::Preparing {
                        waiting: waiting.clone(),
                        sent_ms: now,
                        since_ms,
                        status_ms,
                    };
                }
                let ask = since_ms + self.opts.status_after_ms <= now
                    && status_ms.is_none_or(|s| s + resend <= now);
                if ask {
                    let txn = self.txn;
                    self.send(self.record, Request::Status { txn });
                    if let Stage::Preparing { status_ms, .. } = &mut stage {
                        *status_ms = Some(now);
                    }
                }
                self.stage = stage;
            }
            Stage::Done => {}
        }
        self.carry_decisions();
    }

    /// Resends unacknowledged DECIDEs, until `decide_for_ms` after the end.
    fn carry_decisions(&mut self) {
        let now = self.now_ms;
        if self.stage == Stage::Done && now >= self.decide_until_ms {
            self.deciding.clear();
            return;
        }
        let due: Vec<(TxnId, Gpid, Decision)> = self
            .deciding
            .iter()
            .filter(|(_, (_, sent))| sent + self.opts.resend_ms <= now)
            .map(|((t, g), (d, _))| (*t, *g, *d))
            .collect();
        for (txn, to, decision) in due {
            self.deciding.insert((txn, to), (decision, now));
            self.send(to, Request::Decide { txn, decision });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::msg::Refusal;

    fn g(p: u32) -> Gpid {
        Gpid::new(1, p)
    }

    const T: TxnId = TxnId {
        start_ms: 100,
        nonce: 1,
    };

    fn executed(c: &mut Coordinator, from: Gpid, writes: bool) -> Vec<Output> {
        let txn = c.txn();
        let resp = Response::Executed {
            txn,
            seq: 0,
            epoch: 9,
            writes,
        };
        c.handle(Input::Response { from, resp })
    }

    /// One round at partitions 0..n, where `writers` write.
    fn executed_round(n: u32, writers: &[u32]) -> Coordinator {
        let mut c = Coordinator::new(T, g(0), 0, 5_000, Options::default());
        let parts: Vec<Gpid> = (0..n).map(g).collect();
        let out = c.handle(Input::Execute { parts });
        assert_eq!(out.len(), n as usize);
        for p in 0..n {
            let out = executed(&mut c, g(p), writers.contains(&p));
            assert_eq!(out.contains(&Output::RoundDone), p == n - 1);
        }
        c
    }

    #[test]
    fn several_writers_commit_once_every_prepare_is_acknowledged() {
        let mut c = executed_round(4, &[1, 2]);
        // The reader (not R: R gets the PREPARE with the writer list) confirms first.
        let out = c.handle(Input::Commit);
        assert_eq!(
            out,
            vec![Output::Send {
                to: g(3),
                req: Request::Release { txn: T }
            }]
        );
        let out = c.handle(Input::Response {
            from: g(3),
            resp: Response::Released { txn: T },
        });
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out.contains(&Output::Send {
            to: g(0),
            req: Request::Prepare {
                txn: T,
                epoch: 9,
                executes: 1,
                writers: Some(vec![g(1), g(2)])
            }
        }));
        for p in [1, 0] {
            let out = c.handle(Input::Response {
                from: g(p),
                resp: Response::Prepared { txn: T },
            });
            assert!(out.is_empty());
        }
        let out = c.handle(Input::Response {
            from: g(2),
            resp: Response::Prepared { txn: T },
        });
        assert_eq!(out[0], Output::Done(Outcome::Committed));
        assert_eq!(out.len(), 4, "then DECIDE to both writers and R: {out:?}");
        assert!(!c.is_finished());
        for p in 0..3 {
            c.handle(Input::Response {
                from: g(p),
                resp: Response::Decided { txn: T },
            });
        }
        assert!(c.is_finished());
    }

    #[test]
    fn a_wounded_reader_restarts_with_the_same_age() {
        let mut c = executed_round(2, &[1]);
        c.handle(Input::Commit);
        let resp = Response::Refused {
            txn: T,
            to: Asked::Release,
            why: Refusal::Wounded,
        };
        let out = c.handle(Input::Response { from: g(0), resp });
        let Some(Output::Restart { txn }) = out.last() else {
            panic!("{out:?}")
        };
        assert_eq!(txn.start_ms, T.start_ms);
        assert_ne!(*txn, T);
        // A late refusal of the old attempt changes nothing.
        let resp = Response::Refused {
            txn: T,
            to: Asked::Prepare,
            why: Refusal::Lost,
        };
        assert!(c.handle(Input::Response { from: g(1), resp }).is_empty());
    }

    #[test]
    fn only_a_refused_prepare_aborts_after_prepare() {
        let mut c = executed_round(2, &[0, 1]);
        c.handle(Input::Commit);
        // A late refusal of a heartbeat is no answer to PREPARE.
        let resp = Response::Refused {
            txn: T,
            to: Asked::Heartbeat,
            why: Refusal::Lost,
        };
        assert!(c.handle(Input::Response { from: g(1), resp }).is_empty());
        let resp = Response::Refused {
            txn: T,
            to: Asked::Prepare,
            why: Refusal::EpochChanged,
        };
        let out = c.handle(Input::Response { from: g(1), resp });
        let decide = Request::Decide {
            txn: T,
            decision: Decision::Aborted,
        };
        assert!(out.contains(&Output::Send {
            to: g(1),
            req: decide
        }));
        assert!(matches!(out.last(), Some(Output::Restart { .. })));
    }

    #[test]
    fn an_unanswered_prepare_asks_status_and_ends_unknown_at_the_deadline() {
        let mut c = executed_round(2, &[0, 1]);
        c.handle(Input::Commit);
        c.handle(Input::Response {
            from: g(0),
            resp: Response::Prepared { txn: T },
        });
        let opts = Options::default();
        let out = c.handle(Input::Tick {
            now_ms: opts.status_after_ms,
        });
        assert!(
            out.contains(&Output::Send {
                to: g(0),
                req: Request::Status { txn: T }
            }),
            "{out:?}"
        );
        assert!(out.contains(&Output::Send {
            to: g(1),
            req: Request::Prepare {
                txn: T,
                epoch: 9,
                executes: 1,
                writers: None
            }
        }));
        let out = c.handle(Input::Tick { now_ms: 5_000 });
        assert_eq!(out, vec![Output::Done(Outcome::Unknown)]);
    }

    #[test]
    fn read_only_commits_after_every_reader_confirms() {
        let mut c = executed_round(2, &[]);
        assert_eq!(c.handle(Input::Commit).len(), 2);
        assert!(c
            .handle(Input::Response {
                from: g(1),
                resp: Response::Released { txn: T }
            })
            .is_empty());
        let out = c.handle(Input::Response {
            from: g(0),
            resp: Response::Released { txn: T },
        });
        assert_eq!(out, vec![Output::Done(Outcome::Committed)]);
        assert!(c.is_finished());
    }
}
