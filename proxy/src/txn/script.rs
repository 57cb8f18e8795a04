//! A script whose keys span partitions, run as one transaction with this
//! proxy as coordinator (docs/SCRIPTING.md "Across partitions").
//!
//! The script itself runs in a [`Session`] (a blocking thread with a Lua
//! engine, `crate::script::session`): each `redis.call` it makes comes out
//! as an [`Event::Call`] for one partition, becomes one round of the
//! transaction (an EXECUTE there, against committed state plus the
//! transaction's own writes, under its locks), and its reply goes back in.
//! When the script ends ([`Event::Done`]) the transaction commits by the
//! rule and the client gets the script's reply; nothing it wrote is seen by
//! anyone before. What it published comes with the reply only when the
//! transaction committed ([`Ended`]). When the coordinator restarts the transaction (wounded
//! by an older one) the session is stopped and the script runs again from
//! the start in a new one.
//!
//! The record partition is the first call's. A later attempt whose first
//! call goes elsewhere sends the record partition an EXECUTE without
//! commands in its first round: the coordinator needs it among the first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use petrel_common::ids::{Gpid, PartitionId, TableId};
use petrel_common::reply::Reply;
use petrel_common::txn::coordinator::{Coordinator, Input, NotApplied, Outcome, Output};
use petrel_common::txn::{Response, TxnId};
use tokio::sync::mpsc;

use super::call::Call;
use super::driver::{Answer, Msg, Settings, Transport, NOT_APPLIED, UNKNOWN};
use super::plan::{Broken, Plan, Progress, Sink};
use crate::pubsub::publish::Outgoing;
use crate::stats::names;

/// What a running script asks of the transaction.
#[derive(Debug)]
pub(crate) enum Event {
    /// Run `call` at `partition` and send back its reply.
    Call { partition: u32, call: Call },
    /// Run one call whose keys span partitions by its plan (split or
    /// carried as in MULTI, `super::plan`), and send back its reply (or
    /// several calls, and send back the array of their replies).
    Planned(Plan),
    /// The script ended with this reply, having published these messages
    /// (held until the transaction commits).
    Done(Reply, Vec<Outgoing>),
    /// The script was stopped (`SCRIPT KILL`): nothing it did may apply;
    /// the client gets this reply.
    Stopped(Reply),
}

/// One run of the script.
pub(crate) struct Session {
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
    /// The reply to the last [`Event::Call`].
    pub(crate) replies: std::sync::mpsc::Sender<Reply>,
    /// Stops the run (it is not needed any more); its thread ends soon.
    pub(crate) stop: Box<dyn FnOnce() + Send>,
}

/// Starts a fresh run of the script.
pub(crate) type Start = Box<dyn Fn() -> Session + Send + Sync>;

/// How a run ended, for its client: the reply and, when its writes
/// committed, the messages it published, in order, to send now.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) reply: Reply,
    pub(crate) held: Vec<Outgoing>,
}

impl Ended {
    /// A reply that publishes nothing (not committed, or nothing held).
    pub(crate) fn reply(reply: Reply) -> Self {
        Ended {
            reply,
            held: Vec::new(),
        }
    }
}

/// A script to run as a transaction.
pub(crate) struct ScriptJob<T> {
    pub(crate) start: Start,
    pub(crate) table: TableId,
    pub(crate) transport: Arc<T>,
    pub(crate) settings: Settings,
    pub(crate) deadline: Instant,
}

const NO_SCRIPT: &str = "ERR the script stopped without a reply";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the script of `job` to its reply by its deadline; the coordinator
/// keeps carrying its decision in the background after the reply.
pub(crate) async fn drive<T: Transport>(job: ScriptJob<T>) -> Ended {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(run(job, tx));
    rx.await.unwrap_or_else(|_| {
        Ended::reply(Reply::error(
            "ERR script across partitions: its coordinator stopped",
        ))
    })
}

struct Driver<T> {
    start: Start,
    table: TableId,
    record: u32,
    transport: Arc<T>,
    coord: Coordinator,
    session: Option<Session>,
    /// Waiting for the script's next event (its last call was answered).
    listening: bool,
    /// The call being run, if one is.
    current: Option<Current>,
    /// The current round's commands per partition, until its EXECUTE
    /// goes out.
    commands: HashMap<u32, Vec<Call>>,
    /// Why the transaction was abandoned, when a call's plan broke.
    broken: Option<Broken>,
    /// Partitions that got an EXECUTE in this attempt.
    executed: HashSet<u32>,
    /// The script's own reply, once it ended.
    result: Option<Reply>,
    /// What it published, sent only if the transaction commits.
    held: Vec<Outgoing>,
    inflight: FuturesUnordered<BoxFuture<'static, (u32, Option<Answer>)>>,
    client: Option<tokio::sync::oneshot::Sender<Ended>>,
}

/// The `redis.call` being run.
enum Current {
    /// At one partition, in one round: its EXECUTE's sequence once sent,
    /// and its reply once answered.
    One {
        partition: u32,
        seq: u32,
        reply: Option<Reply>,
    },
    /// Over keys of several partitions: the rounds of its plan.
    Planned {
        progress: Progress,
        round: usize,
        /// Where the current round's replies go, per partition (with its
        /// EXECUTE's sequence once sent), until answered.
        sinks: HashMap<u32, (u32, Vec<Sink>)>,
    },
}

/// The record partition when `event` is an attempt's first call: the
/// partition of its first round.
fn first_partition(event: &Event) -> u32 {
    match event {
        Event::Call { partition, .. } => *partition,
        Event::Planned(plan) => plan.record,
        Event::Done(..) | Event::Stopped(_) => 0,
    }
}

async fn run<T: Transport>(job: ScriptJob<T>, client: tokio::sync::oneshot::Sender<Ended>) {
    let ScriptJob {
        start,
        table,
        transport,
        settings,
        deadline,
    } = job;
    // The first call names the record partition; a script that calls
    // nothing needs no transaction.
    let mut session = start();
    let first = tokio::time::timeout_at(deadline.into(), session.events.recv()).await;
    let (record, call) = match first {
        Ok(Some(event @ (Event::Call { .. } | Event::Planned(_)))) => {
            (first_partition(&event), event)
        }
        // Nothing written: nothing to commit before its messages go.
        Ok(Some(Event::Done(reply, held))) => {
            let _ = client.send(Ended { reply, held });
            return;
        }
        Ok(Some(Event::Stopped(reply))) => {
            let _ = client.send(Ended::reply(reply));
            return;
        }
        Ok(None) => {
            let _ = client.send(Ended::reply(Reply::error(NO_SCRIPT)));
            return;
        }
        Err(_) => {
            (session.stop)();
            let _ = client.send(Ended::reply(Reply::error(NOT_APPLIED)));
            return;
        }
    };
    let origin = Instant::now();
    let now_ms = || origin.elapsed().as_millis() as u64;
    let deadline_ms = deadline.saturating_duration_since(origin).as_millis() as u64;
    let txn = TxnId {
        start_ms: unix_ms(),
        nonce: rand::random(),
    };
    let gpid = Gpid {
        table,
        partition: PartitionId(record),
    };
    metrics::counter!(names::TXN_STARTED, "kind" => "script").increment(1);
    let mut d = Driver {
        start,
        table,
        record,
        transport,
        coord: Coordinator::new(txn, gpid, 0, deadline_ms, settings.opts.clone()),
        session: Some(session),
        listening: false,
        current: None,
        commands: HashMap::new(),
        broken: None,
        executed: HashSet::new(),
        result: None,
        held: Vec::new(),
        inflight: FuturesUnordered::new(),
        client: Some(client),
    };
    let outs = d.event(Some(call));
    d.perform(outs);
    let mut ticks = tokio::time::interval(settings.tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !d.coord.is_finished() {
        let listening = d.listening && d.session.is_some();
        let outs = tokio::select! {
            Some((from, answer)) = d.inflight.next() => d.answered(from, answer),
            _ = ticks.tick() => d.coord.handle(Input::Tick { now_ms: now_ms() }),
            event = next_event(&mut d.session), if listening => d.event(event),
        };
        d.perform(outs);
    }
    d.stop_session();
    let drain = std::time::Duration::from_millis(settings.opts.decide_for_ms);
    let _ = tokio::time::timeout(drain, async { while d.inflight.next().await.is_some() {} }).await;
}

async fn next_event(session: &mut Option<Session>) -> Option<Event> {
    match session {
        Some(s) => s.events.recv().await,
        None => std::future::pending().await,
    }
}

impl<T: Transport> Driver<T> {
    fn gpid(&self, p: u32) -> Gpid {
        Gpid {
            table: self.table,
            partition: PartitionId(p),
        }
    }

    /// One `redis.call` at one partition: a round with its EXECUTE.
    fn call(&mut self, partition: u32, call: Call) -> Vec<Output> {
        self.listening = false;
        self.commands.clear();
        self.commands.insert(partition, vec![call]);
        self.current = Some(Current::One {
            partition,
            seq: u32::MAX,
            reply: None,
        });
        self.execute(vec![partition])
    }

    /// One `redis.call` over keys of several partitions: its plan's
    /// rounds, one after the other.
    fn planned(&mut self, plan: Plan) -> Vec<Output> {
        self.listening = false;
        self.current = Some(Current::Planned {
            progress: Arc::new(plan).start(),
            round: 0,
            sinks: HashMap::new(),
        });
        self.plan_round(0)
    }

    /// Starts round `round` of the current call's plan (or the first
    /// non-empty one after it); with none left, the call's reply goes to
    /// the script.
    fn plan_round(&mut self, round: usize) -> Vec<Output> {
        let Some(Current::Planned { progress, .. }) = self.current.take() else {
            return Vec::new();
        };
        let mut round = round;
        while round < progress.rounds() {
            let batches = match progress.batches(round) {
                Ok(b) => b,
                Err(e) => return self.abandon(e),
            };
            if batches.is_empty() {
                round += 1;
                continue;
            }
            self.commands.clear();
            let mut sinks = HashMap::new();
            let mut parts = Vec::with_capacity(batches.len());
            for (pid, batch) in batches {
                let (calls, to): (Vec<Call>, Vec<Sink>) = batch.into_iter().unzip();
                self.commands.insert(pid, calls);
                sinks.insert(pid, (u32::MAX, to));
                parts.push(pid);
            }
            self.current = Some(Current::Planned {
                progress,
                round,
                sinks,
            });
            return self.execute(parts);
        }
        // One call's reply; a plan of several calls (SORT's reads) answers
        // with all of theirs.
        let reply = match progress.replies() {
            Ok(r) if r.len() > 1 => Reply::Array(r),
            Ok(r) => r.into_iter().next().unwrap_or_else(|| {
                Reply::error("ERR a script's call over several partitions got no reply")
            }),
            Err(e) => return self.abandon(e),
        };
        self.answer_script(reply);
        Vec::new()
    }

    /// The EXECUTEs of a round at `parts`, with the record partition's
    /// (without commands) when an attempt starts elsewhere.
    fn execute(&mut self, mut parts: Vec<u32>) -> Vec<Output> {
        if self.executed.is_empty() && !parts.contains(&self.record) {
            self.commands.insert(self.record, Vec::new());
            parts.push(self.record);
        }
        let parts = parts.into_iter().map(|p| self.gpid(p)).collect();
        self.coord.handle(Input::Execute { parts })
    }

    /// The current call's reply goes back to the script, which then makes
    /// its next call or ends.
    fn answer_script(&mut self, reply: Reply) {
        if let Some(s) = &self.session {
            let _ = s.replies.send(reply);
        }
        self.current = None;
        self.listening = true;
    }

    fn abandon(&mut self, why: Broken) -> Vec<Output> {
        tracing::warn!(error = %why, "script transaction abandoned");
        self.listening = false;
        self.current = None;
        self.broken = Some(why);
        self.coord.handle(Input::Abandon)
    }

    fn event(&mut self, event: Option<Event>) -> Vec<Output> {
        match event {
            Some(Event::Call { partition, call }) => self.call(partition, call),
            Some(Event::Planned(plan)) => self.planned(plan),
            Some(Event::Done(reply, held)) => {
                self.listening = false;
                self.result = Some(reply);
                self.held = held;
                self.coord.handle(Input::Commit)
            }
            Some(Event::Stopped(reply)) => {
                self.listening = false;
                self.result = Some(reply);
                self.coord.handle(Input::Abandon)
            }
            None => {
                self.listening = false;
                self.result = Some(Reply::error(NO_SCRIPT));
                self.coord.handle(Input::Abandon)
            }
        }
    }

    fn answered(&mut self, from: u32, answer: Option<Answer>) -> Vec<Output> {
        let from_g = self.gpid(from);
        let Some(Answer { resp, replies }) = answer else {
            return self.coord.handle(Input::Failed { from: from_g });
        };
        if let Response::Executed { txn, seq, .. } = resp {
            if txn == self.coord.txn() {
                if let Err(e) = self.take_replies(from, seq, replies) {
                    return self.abandon(e);
                }
            }
        }
        self.coord.handle(Input::Response { from: from_g, resp })
    }

    /// Keeps the replies of the current round's EXECUTE `seq` at `from`.
    fn take_replies(&mut self, from: u32, seq: u32, replies: Vec<Reply>) -> Result<(), Broken> {
        match self.current.as_mut() {
            Some(Current::One {
                partition,
                seq: sent,
                reply,
            }) if *partition == from && *sent == seq => {
                *reply = Some(replies.into_iter().next().unwrap_or_else(|| {
                    Reply::error("ERR a partition answered a script's call without a reply")
                }));
                Ok(())
            }
            Some(Current::Planned {
                progress, sinks, ..
            }) if sinks.get(&from).is_some_and(|(s, _)| *s == seq) => match sinks.remove(&from) {
                Some((_, to)) => progress.accept(&to, replies),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn perform(&mut self, outs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outs.into();
        while let Some(out) = queue.pop_front() {
            let more = match out {
                Output::Execute { to, head } => {
                    let pid = to.partition.0;
                    let commands = self.commands.remove(&pid).unwrap_or_default();
                    match self.current.as_mut() {
                        Some(Current::One { partition, seq, .. }) if *partition == pid => {
                            *seq = head.seq;
                        }
                        Some(Current::Planned { sinks, .. }) => {
                            if let Some((seq, _)) = sinks.get_mut(&pid) {
                                *seq = head.seq;
                            }
                        }
                        _ => {}
                    }
                    self.executed.insert(pid);
                    self.send(pid, Msg::Execute { head, commands });
                    Vec::new()
                }
                Output::Send { to, req } => {
                    self.send(to.partition.0, Msg::Request(req));
                    Vec::new()
                }
                Output::RoundDone => match self.current.as_mut() {
                    Some(Current::One { reply, .. }) => {
                        let reply = reply.take().unwrap_or_else(|| {
                            Reply::error("ERR a script's call got no reply from its partition")
                        });
                        self.answer_script(reply);
                        Vec::new()
                    }
                    Some(Current::Planned { round, .. }) => {
                        let next = *round + 1;
                        self.plan_round(next)
                    }
                    None => Vec::new(),
                },
                Output::Restart { .. } => {
                    metrics::counter!(names::TXN_RESTARTS, "kind" => "script").increment(1);
                    self.restart();
                    Vec::new()
                }
                Output::Done(outcome) => {
                    let ended = self.ending(outcome);
                    if let Some(client) = self.client.take() {
                        let _ = client.send(ended);
                    }
                    self.stop_session();
                    Vec::new()
                }
            };
            queue.extend(more);
        }
    }

    /// Runs the script again from the start, in a new session.
    fn restart(&mut self) {
        self.stop_session();
        self.executed.clear();
        self.current = None;
        self.broken = None;
        self.result = None;
        self.held.clear();
        self.commands.clear();
        // A new run: its first event starts the attempt's first round.
        self.session = Some((self.start)());
        self.listening = true;
    }

    fn stop_session(&mut self) {
        if let Some(s) = self.session.take() {
            (s.stop)();
        }
    }

    fn send(&mut self, to: u32, msg: Msg) {
        let fut = self.transport.send(to, msg);
        self.inflight.push(Box::pin(async move { (to, fut.await) }));
    }

    /// The client's answer: the script's messages go only with a commit.
    fn ending(&mut self, outcome: Outcome) -> Ended {
        let (label, ended) = match outcome {
            Outcome::Committed => (
                "committed",
                Ended {
                    reply: self
                        .result
                        .take()
                        .unwrap_or_else(|| Reply::error(NO_SCRIPT)),
                    held: std::mem::take(&mut self.held),
                },
            ),
            Outcome::NotApplied(NotApplied::Abandoned) => (
                "not_applied",
                Ended::reply(self.result.take().unwrap_or_else(|| {
                    Reply::error(
                        self.broken
                            .as_ref()
                            .map_or_else(|| "ERR script abandoned".into(), |b| b.to_string())
                            + "; nothing was written",
                    )
                })),
            ),
            Outcome::NotApplied(NotApplied::Deadline) => {
                ("not_applied", Ended::reply(Reply::error(NOT_APPLIED)))
            }
            Outcome::Unknown => ("unknown", Ended::reply(Reply::error(UNKNOWN))),
        };
        metrics::counter!(names::TXN_ENDED, "kind" => "script", "outcome" => label).increment(1);
        ended
    }
}

#[cfg(test)]
mod tests;
