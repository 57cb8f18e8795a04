//! Drives one transaction's coordinator machine
//! (`petrel_common::txn::coordinator`) through a [`Transport`]: sends its
//! EXECUTEs with each round's commands from the [`Plan`], its other
//! requests as they are, feeds every answer, failure and tick back, runs
//! the rounds, restarts the plan under a new id when the machine says so,
//! and answers the client at `Done` — then keeps going in the background
//! until the machine has carried its DECIDEs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use petrel_common::ids::{Gpid, PartitionId, TableId};
use petrel_common::reply::Reply;
use petrel_common::txn::coordinator::{Coordinator, Input, NotApplied, Options, Outcome, Output};
use petrel_common::txn::{ExecuteHeader, Request, Response, TxnId};
use tokio::sync::oneshot;

use super::plan::{Broken, Call, Plan, Progress, Sink};
use crate::stats::names;

/// One message to a participant.
#[derive(Clone, Debug)]
pub(crate) enum Msg {
    /// An EXECUTE and its commands.
    Execute {
        head: ExecuteHeader,
        commands: Vec<Call>,
    },
    Request(Request),
}

/// A participant's answer: its response and, for an EXECUTE that ran, the
/// commands' replies.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub(crate) resp: Response,
    pub(crate) replies: Vec<Reply>,
}

/// Delivers messages to partition primaries. `None`: no answer will come
/// (connection lost, timed out, not the primary until the attempt's
/// deadline).
pub(crate) trait Transport: Send + Sync + 'static {
    /// Sends `msg` to partition `to`'s primary.
    fn send(&self, to: u32, msg: Msg) -> BoxFuture<'static, Option<Answer>>;
}

/// What the transaction came to, for the client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ending {
    /// Committed: each command's reply.
    Replies(Vec<Reply>),
    /// A watched key had changed: nothing applied (EXEC's null reply).
    WatchFailed,
    /// Not committed (or not known to be): the error reply, which says
    /// which.
    Failed(Reply),
}

/// Which kind of transaction, for the metrics' `kind` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A MULTI/EXEC block.
    Multi,
    /// One multi-key command.
    Command,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Multi => "multi",
            Kind::Command => "command",
        }
    }
}

/// How to run transactions.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The machine's tunables.
    pub(crate) opts: Options,
    /// How often the machine is ticked.
    pub(crate) tick: Duration,
    /// A blocking pop over several partitions that found nothing tries
    /// again this often, until the client's timeout.
    pub(crate) block_poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            opts: Options::default(),
            tick: Duration::from_millis(20),
            block_poll: Duration::from_millis(100),
        }
    }
}

/// The client's error when the deadline passed before anything could apply.
pub(crate) const NOT_APPLIED: &str =
    "TRYAGAIN transaction across partitions not applied: the request deadline passed before it could commit; nothing was written, retrying is safe";
/// The client's error when the deadline passed while the commit was in doubt.
pub(crate) const UNKNOWN: &str =
    "ERR transaction across partitions outcome unknown: the request deadline passed while it was committing; it may or may not have been applied";

/// One transaction to run.
pub(crate) struct Job<T> {
    pub(crate) plan: Plan,
    /// The table whose partitions the plan names.
    pub(crate) table: TableId,
    pub(crate) transport: Arc<T>,
    pub(crate) settings: Settings,
    pub(crate) kind: Kind,
    pub(crate) deadline: Instant,
}

/// Runs `job` to its outcome by its deadline; the machine keeps carrying
/// its decision after this returns.
pub(crate) async fn drive<T: Transport>(job: Job<T>) -> Ending {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(run(job, tx));
    rx.await.unwrap_or_else(|_| {
        Ending::Failed(Reply::error(
            "ERR transaction across partitions: its coordinator stopped",
        ))
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One attempt's state beside the machine's.
struct Attempt {
    progress: Progress,
    /// The round being executed.
    round: usize,
    /// The current round's commands per partition, until sent.
    commands: HashMap<u32, Vec<Call>>,
    /// Where the current round's replies go, per partition, until answered.
    sinks: HashMap<u32, (u32, Vec<Sink>)>,
}

struct Driver<T> {
    plan: Arc<Plan>,
    table: TableId,
    transport: Arc<T>,
    coord: Coordinator,
    attempt: Attempt,
    inflight: FuturesUnordered<BoxFuture<'static, (u32, Option<Answer>)>>,
    /// Why the transaction was abandoned, when it was.
    broken: Option<Broken>,
    watch_failed: bool,
    client: Option<oneshot::Sender<Ending>>,
    kind: &'static str,
}

async fn run<T: Transport>(job: Job<T>, client: oneshot::Sender<Ending>) {
    let Job {
        plan,
        table,
        transport,
        settings,
        kind,
        deadline,
    } = job;
    let origin = Instant::now();
    let now_ms = || origin.elapsed().as_millis() as u64;
    let deadline_ms = deadline.saturating_duration_since(origin).as_millis() as u64;
    let txn = TxnId {
        start_ms: unix_ms(),
        nonce: rand::random(),
    };
    let record = Gpid {
        table,
        partition: PartitionId(plan.record),
    };
    metrics::counter!(names::TXN_STARTED, "kind" => kind.label()).increment(1);
    let plan = Arc::new(plan);
    let mut d = Driver {
        plan: plan.clone(),
        table,
        transport,
        coord: Coordinator::new(txn, record, 0, deadline_ms, settings.opts.clone()),
        attempt: Attempt {
            progress: plan.start(),
            round: 0,
            commands: HashMap::new(),
            sinks: HashMap::new(),
        },
        inflight: FuturesUnordered::new(),
        broken: None,
        watch_failed: false,
        client: Some(client),
        kind: kind.label(),
    };
    let mut ticks = tokio::time::interval(settings.tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outs = d.start_round(0);
    d.perform(outs);
    while !d.coord.is_finished() {
        let outs = tokio::select! {
            Some((from, answer)) = d.inflight.next() => d.answered(from, answer),
            _ = ticks.tick() => d.coord.handle(Input::Tick { now_ms: now_ms() }),
        };
        d.perform(outs);
    }
    // Messages handed to the transport with the last outputs (the RELEASEs
    // of an abandoned transaction) are futures: they go out only while
    // polled. Dropped here, the participants would hold the locks until
    // they expire, and the next transaction on those keys would wait.
    let drain = Duration::from_millis(settings.opts.decide_for_ms);
    let _ = tokio::time::timeout(drain, async { while d.inflight.next().await.is_some() {} }).await;
}

impl<T: Transport> Driver<T> {
    fn gpid(&self, p: u32) -> Gpid {
        Gpid {
            table: self.table,
            partition: PartitionId(p),
        }
    }

    /// Starts round `round` (or the first non-empty one after it), or
    /// commits when none is left.
    fn start_round(&mut self, round: usize) -> Vec<Output> {
        let mut round = round;
        while round < self.plan.rounds() {
            let batches = match self.attempt.progress.batches(round) {
                Ok(b) => b,
                Err(e) => return self.abandon(e),
            };
            if batches.is_empty() {
                round += 1;
                continue;
            }
            self.attempt.round = round;
            self.attempt.commands.clear();
            self.attempt.sinks.clear();
            let mut parts = Vec::with_capacity(batches.len());
            for (pid, batch) in batches {
                let (calls, sinks): (Vec<Call>, Vec<Sink>) = batch.into_iter().unzip();
                self.attempt.commands.insert(pid, calls);
                self.attempt.sinks.insert(pid, (u32::MAX, sinks));
                parts.push(self.gpid(pid));
            }
            return self.coord.handle(Input::Execute { parts });
        }
        self.coord.handle(Input::Commit)
    }

    fn abandon(&mut self, why: Broken) -> Vec<Output> {
        tracing::warn!(error = %why, "transaction abandoned");
        self.broken = Some(why);
        self.coord.handle(Input::Abandon)
    }

    /// An answer (or its absence) from partition `from`.
    fn answered(&mut self, from: u32, answer: Option<Answer>) -> Vec<Output> {
        let from_g = self.gpid(from);
        let Some(Answer { resp, replies }) = answer else {
            return self.coord.handle(Input::Failed { from: from_g });
        };
        if let Response::Executed { txn, seq, .. } = resp {
            let ours = txn == self.coord.txn()
                && self
                    .attempt
                    .sinks
                    .get(&from)
                    .is_some_and(|(s, _)| *s == seq);
            if ours {
                if let Some((_, sinks)) = self.attempt.sinks.remove(&from) {
                    if let Err(e) = self.attempt.progress.accept(&sinks, replies) {
                        return self.abandon(e);
                    }
                }
            }
        }
        self.coord.handle(Input::Response { from: from_g, resp })
    }

    /// Performs the machine's outputs, in order (feeding it more as rounds
    /// end).
    fn perform(&mut self, outs: Vec<Output>) {
        let mut queue: std::collections::VecDeque<Output> = outs.into();
        while let Some(out) = queue.pop_front() {
            let more = match out {
                Output::Execute { to, head } => {
                    let pid = to.partition.0;
                    let commands = self.attempt.commands.remove(&pid).unwrap_or_default();
                    if let Some((seq, _)) = self.attempt.sinks.get_mut(&pid) {
                        *seq = head.seq;
                    }
                    self.send(pid, Msg::Execute { head, commands });
                    Vec::new()
                }
                Output::Send { to, req } => {
                    self.send(to.partition.0, Msg::Request(req));
                    Vec::new()
                }
                Output::RoundDone => {
                    if self.attempt.round == 0 && !self.attempt.progress.watch_ok() {
                        self.watch_failed = true;
                        self.coord.handle(Input::Abandon)
                    } else {
                        self.start_round(self.attempt.round + 1)
                    }
                }
                Output::Restart { .. } => {
                    metrics::counter!(names::TXN_RESTARTS, "kind" => self.kind).increment(1);
                    self.attempt.progress = self.plan.start();
                    self.start_round(0)
                }
                Output::Done(outcome) => {
                    let ending = self.ending(outcome);
                    if let Some(client) = self.client.take() {
                        let _ = client.send(ending);
                    }
                    Vec::new()
                }
            };
            queue.extend(more);
        }
    }

    fn send(&mut self, to: u32, msg: Msg) {
        let fut = self.transport.send(to, msg);
        self.inflight.push(Box::pin(async move { (to, fut.await) }));
    }

    fn ending(&mut self, outcome: Outcome) -> Ending {
        let (label, ending) = match outcome {
            Outcome::Committed => (
                "committed",
                match self.attempt.progress.replies() {
                    Ok(r) => Ending::Replies(r),
                    Err(e) => Ending::Failed(Reply::error(format!("{e} (after it committed)"))),
                },
            ),
            Outcome::NotApplied(NotApplied::Abandoned) if self.watch_failed => {
                ("watch_failed", Ending::WatchFailed)
            }
            Outcome::NotApplied(NotApplied::Abandoned) => (
                "not_applied",
                Ending::Failed(Reply::error(
                    self.broken
                        .as_ref()
                        .map_or_else(|| "ERR transaction abandoned".into(), |b| b.to_string())
                        + "; nothing was written",
                )),
            ),
            Outcome::NotApplied(NotApplied::Deadline) => {
                ("not_applied", Ending::Failed(Reply::error(NOT_APPLIED)))
            }
            Outcome::Unknown => ("unknown", Ending::Failed(Reply::error(UNKNOWN))),
        };
        metrics::counter!(names::TXN_ENDED, "kind" => self.kind, "outcome" => label).increment(1);
        ending
    }
}

#[cfg(test)]
mod tests;
