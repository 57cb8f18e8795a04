//! The PacificA replica state machine: `Input -> Vec<Output>`, no I/O.
//!
//! One [`ReplicaMachine`] per replica of one partition on one server. It never
//! reads a clock (time enters as [`Input::Tick`]), never touches a disk or a
//! socket: a thin shell feeds it inputs and performs its outputs. That is what
//! lets the seeded simulation in `machine/sim.rs` drop, duplicate, reorder and
//! crash at will and check PacificA's invariants after every step.
//!
//! # Contract with the shell
//!
//! - **Outputs are performed in order.** In particular:
//!   - [`Output::PersistConfig`] must be durable before any later output of
//!     the same batch is performed. This is how "persist a higher ballot
//!     before acting on it" (rule 1) is modeled: the machine always emits it
//!     first, before the sends/log writes that act on the new ballot, so no
//!     extra round trip (`BallotPersisted`) is needed.
//!   - [`Output::Reply`] of a write must not reach the client before the
//!     [`Output::Apply`] that precedes it in the batch has been applied.
//! - **The log is a numbered stream of writes.** [`Output::AppendLog`] and
//!   [`Output::TruncateLog`] carry a [`LogSeq`], increasing per machine
//!   instance; [`Input::LogDurable`] reports that every write up to that
//!   number is durable (group commit reports the highest one it synced). A
//!   decree watermark would be ambiguous: an entry at a decree can be
//!   rewritten under a higher ballot after that decree was synced.
//!   Replay applies the writes in order: an append puts its entry at its
//!   decree (replacing what was there), a truncation drops every entry after
//!   its decree. Two cases rewrite a decree: a *relabel* (the same mutation
//!   under a higher ballot; nothing after it is touched, so a crash half-way
//!   through relabeling a tail loses nothing) and a *replacement* (a different
//!   mutation; emitted as `TruncateLog { after: d - 1 }` then `AppendLog`,
//!   safe even if only the truncation survives a crash, because a decree whose
//!   mutation differs from the primary's was never committed anywhere, and
//!   neither was anything after it). The log keeps entries at or below the
//!   applied decree until storage has flushed them.
//! - **Leases.** [`Input::LeaseChanged`] `{ valid: true }` must come only
//!   after the shell synced this partition's configuration with meta
//!   (delivered as [`Input::ConfigChanged`]); a server whose lease expired
//!   may have been replaced while it was away.
//! - **Restart** = build a new machine with [`ReplicaMachine::recover`] from
//!   the persisted configuration, the applied decree of storage, and the log
//!   entries after it. A recovered primary comes back [`Status::Inactive`]:
//!   its unsynced entries may differ from what secondaries hold under the same
//!   ballot, so meta must issue a new ballot before it (or anyone) is primary
//!   again. A recovered secondary resumes as secondary.
//! - **Learners.** Meta asks the primary to add one ([`Input::AddLearner`]);
//!   the primary invites it with a [`Message::GroupCheck`] flagged `learner`;
//!   the learner truncates its uncommitted tail (rule 8) and asks for what
//!   follows its committed decree. If the primary still holds those entries
//!   (its in-memory window of `learn_window` committed entries plus the
//!   uncommitted tail), it replies with them; otherwise it emits
//!   [`Output::SendCheckpoint`]: the shell ships a RocksDB checkpoint and the
//!   learner's shell reports [`Input::CheckpointInstalled`]. Once the learner
//!   has everything the primary prepared, the primary counts it for commit
//!   (so nothing can commit without it before meta upgrades it) and emits
//!   [`Output::LearnerReady`] for meta. From then on only a new ballot
//!   removes it from the commit set (see [`Output::ReportFailure`]). A
//!   (re)invited learner keeps its log but trusts none of it past its commit
//!   point until the primary's reply has been compared with it entry by
//!   entry: rule 8's truncation, applied only to what actually differs.
//! - **Reconciliation.** Whenever a configuration with a new ballot names
//!   this replica primary (a failover, or a change that keeps it primary),
//!   it re-prepares its uncommitted tail under the new ballot to every member
//!   (rule 7) and is reconciled once its commit point reaches the end of that
//!   tail. Writes are accepted meanwhile (they queue behind the tail); reads
//!   are not ([`ReplicaMachine::can_serve_read`]).
//! - **Commit** needs every member of the configuration (and every ready
//!   learner) to have acked the entry under the current ballot, the primary
//!   included (its own [`Input::LogDurable`]). A configuration of one commits
//!   alone; the minimum number of members is meta's policy.
//!
//! Secondaries accept a prepared entry at decree `d` only if the entries they
//! hold between the primary's commit point and `d` were prepared under the
//! same ballot (otherwise it waits in a small stash until they are replaced):
//! a log therefore always holds one coherent history, never a mutation on top
//! of a predecessor other than the one it was computed against.
//!
//! # Layout
//!
//! - this file: the types, the shell contract, configuration changes and the
//!   input dispatch;
//! - [`message`]: what replicas say to each other;
//! - `primary.rs`: proposing, re-preparing, counting acks, committing,
//!   failure detection, feeding learners;
//! - `follower.rs`: secondaries and learners: accepting, acking, following
//!   the commit point, learning;
//! - `sim.rs` and `tests.rs` (tests only): the seeded simulator and the
//!   scenarios.

mod follower;
pub(crate) mod message;
mod primary;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
#[cfg(test)]
use petrel_common::ids::Gpid;
use petrel_common::ids::{Ballot, Decree, NodeAddr};
use petrel_common::partition::PartitionConfig;

pub(crate) use message::{Entry, Message};

/// Identifies a client write between [`Input::Propose`] and its [`Output::Reply`].
pub(crate) type Token = u64;

/// Number of a log write (append or truncation), increasing per machine instance.
pub(crate) type LogSeq = u64;

/// This replica's part in its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Primary,
    Secondary,
    /// Catching up, not yet in the configuration.
    Learner,
    /// Not a member, or a restarted primary waiting for a new ballot.
    Inactive,
    /// The local log failed; the replica does nothing more and must be replaced.
    Error,
}

/// Bytes a member is assumed to receive, log and sync per millisecond at
/// worst (5 MB/s): a big entry gets this much longer before it is resent
/// or its member is suspected, so a 100 MB write is not resent every 200 ms
/// nor its slow-but-working secondaries reported. 10 MB/s was once too
/// optimistic: a 100 MiB SET on a machine busy compiling and fsyncing had
/// a working secondary removed.
const BYTES_PER_MS_AT_WORST: u64 = 5_000;

/// Extra time an entry of `bytes` may take to be acked.
fn size_allowance_ms(bytes: usize) -> u64 {
    bytes as u64 / BYTES_PER_MS_AT_WORST
}

/// Tunables; every field has a default.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Uncommitted decrees in flight before `Propose` answers `Busy`.
    pub(crate) max_in_flight: u64,
    /// Resend an unacked prepare after this long.
    pub(crate) resend_ms: u64,
    /// Period of group checks from the primary.
    pub(crate) group_check_ms: u64,
    /// A member silent (or not acking) for this long is reported to meta.
    pub(crate) failure_timeout_ms: u64,
    /// Committed entries kept in memory to serve learners without a checkpoint.
    pub(crate) learn_window: u64,
    /// ... and at most this many bytes of them (big values would otherwise
    /// keep hundreds of megabytes alive; a learner further behind copies a
    /// checkpoint instead).
    pub(crate) learn_window_bytes: usize,
    /// Out-of-order prepares kept until their predecessors arrive.
    pub(crate) max_stash: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_in_flight: 256,
            resend_ms: 200,
            group_check_ms: 500,
            failure_timeout_ms: 2_000,
            learn_window: 256,
            learn_window_bytes: 64 << 20,
            max_stash: 256,
        }
    }
}

/// Why a write was not (or may not have been) executed. Carries what a proxy
/// needs to route again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// Not executed: this replica is not the primary.
    NotPrimary {
        ballot: Ballot,
        primary: Option<NodeAddr>,
    },
    /// Not executed: the server's lease with meta expired.
    LeaseExpired { ballot: Ballot },
    /// Not executed: too many uncommitted writes in flight (back-pressure).
    Busy { in_flight: u64, limit: u64 },
    /// Not executed: a key of it went to another partition; the split was
    /// proposed after the request was routed here (`replica::routing`).
    Moved { ballot: Ballot },
    /// Outcome unknown: prepared, then this replica stopped being primary (or
    /// its log failed) before commit; a later primary may still commit it.
    /// Never retry blindly.
    Unknown {
        ballot: Ballot,
        primary: Option<NodeAddr>,
    },
}

/// What the shell feeds the machine.
#[derive(Clone, Debug)]
pub(crate) enum Input {
    /// A client write, already turned into a deterministic mutation against
    /// committed state plus [`ReplicaMachine::uncommitted`].
    Propose { token: Token, mutation: Bytes },
    /// Every log write up to `seq` is durable.
    LogDurable { seq: LogSeq },
    /// The log could not be made durable (fsync error, ENOSPC): stop.
    LogFailed,
    /// A message from a peer replica.
    Message { from: NodeAddr, msg: Message },
    /// A configuration from meta (already persisted by meta).
    ConfigChanged(PartitionConfig),
    /// Meta asks the primary of `ballot` to add `node` as a learner.
    AddLearner { ballot: Ballot, node: NodeAddr },
    /// Meta's complete list of learners at `ballot`: the primary stops
    /// feeding any other learner that does not count for commit yet (one
    /// that does keeps counting until a new ballot, see `ReportFailure`).
    RetainLearners { ballot: Ballot, keep: Vec<NodeAddr> },
    /// (Learner) the shell installed the primary's checkpoint: storage is at `decree`.
    CheckpointInstalled { ballot: Ballot, decree: Decree },
    /// Time passes; resends, group checks and failure detection happen here.
    Tick { now_ms: u64 },
    /// The server's lease with meta became valid or expired.
    LeaseChanged { valid: bool },
}

/// What the machine asks the shell to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Persist this configuration durably before performing later outputs.
    PersistConfig(PartitionConfig),
    /// Append `entry` to the log as write `seq`.
    AppendLog { seq: LogSeq, entry: Entry },
    /// Drop every log entry after decree `after` (write `seq`).
    TruncateLog { seq: LogSeq, after: Decree },
    /// Send a message to a peer replica.
    Send { to: NodeAddr, msg: Message },
    /// Apply a committed mutation to storage; strictly in decree order.
    Apply { decree: Decree, mutation: Bytes },
    /// Answer a client write: `Ok(decree)` once committed and applied.
    Reply {
        token: Token,
        result: Result<Decree, WriteError>,
    },
    /// (Primary) ask meta to remove a member, or to forget a learner, that
    /// does not answer. A learner already reported ready keeps counting for
    /// commit until a new ballot arrives, so meta cancels one by issuing a
    /// new ballot (it may have been about to make it a secondary).
    ReportFailure { ballot: Ballot, node: NodeAddr },
    /// (Primary) `node` has caught up: ask meta to make it a secondary.
    LearnerReady { ballot: Ballot, node: NodeAddr },
    /// (Primary) ship a storage checkpoint to the learner `to`.
    SendCheckpoint { ballot: Ballot, to: NodeAddr },
}

/// What a restarting replica found on disk.
#[derive(Clone, Debug)]
pub(crate) struct Recovered {
    /// The last persisted configuration.
    pub(crate) config: PartitionConfig,
    /// Storage's applied decree (everything up to it is in storage).
    pub(crate) applied: Decree,
    /// The replayed log entries after `applied`, contiguous, in decree order.
    pub(crate) entries: Vec<Entry>,
}

/// One entry in the in-memory prepared list.
#[derive(Clone, Debug)]
struct Slot {
    entry: Entry,
    /// The log write that holds this entry.
    seq: LogSeq,
    /// (Primary) who acked it under the current ballot.
    acks: BTreeSet<NodeAddr>,
    /// (Primary) the client waiting for it.
    token: Option<Token>,
    /// (Primary) when it was first and last sent.
    sent_ms: u64,
    resent_ms: u64,
    /// (Primary) how often it was resent since `sent_ms` (backs resends off).
    resends: u32,
    /// (Secondary) an ack was sent for it under the current ballot.
    acked: bool,
}

/// The primary's view of one learner.
#[derive(Clone, Debug)]
struct LearnerState {
    /// Counted for commit from now on; meta was told.
    ready: bool,
    /// The learner reported its log complete through this decree.
    through: Option<Decree>,
    last_heard_ms: u64,
    checkpoint_ms: Option<u64>,
}

/// A learner's own progress.
#[derive(Clone, Debug)]
struct Learning {
    requested_ms: u64,
    /// The last decree of the primary's latest reply, once one arrived.
    reply_end: Option<Decree>,
    /// A completion was sent since the last reply or retry.
    sent: bool,
}

/// The replica state machine. See the module documentation for the contract.
#[derive(Debug)]
pub(crate) struct ReplicaMachine {
    me: NodeAddr,
    opts: Options,
    config: PartitionConfig,
    status: Status,
    lease_valid: bool,
    now_ms: u64,

    /// Decree just before `slots[0]`.
    base: Decree,
    /// Entries `base+1 ..= last_prepared`; committed ones kept as a window.
    slots: VecDeque<Slot>,
    /// `(base, committed, bytes)` at the last trim: the committed window's
    /// size, extended from there rather than summed again per commit.
    window_bytes: Option<(Decree, Decree, usize)>,
    committed: Decree,
    next_seq: LogSeq,
    durable_seq: LogSeq,

    // Primary.
    reconciled: bool,
    reconcile_target: Decree,
    learners: BTreeMap<NodeAddr, LearnerState>,
    last_heard: BTreeMap<NodeAddr, u64>,
    /// Members reported to meta, and when (reports repeat: meta may miss one).
    reported: BTreeMap<NodeAddr, u64>,
    last_group_check_ms: u64,

    // Secondary and learner.
    /// The primary's commit point as last heard under the current ballot.
    known_committed: Decree,
    /// Prepares that arrived before their predecessors.
    stash: BTreeMap<Decree, Entry>,
    learning: Option<Learning>,
}

fn dec(d: u64) -> Decree {
    Decree(d)
}

impl ReplicaMachine {
    /// A brand-new, empty replica (ballot 0, inactive until a configuration arrives).
    #[cfg(test)]
    pub(crate) fn new(me: NodeAddr, gpid: Gpid, opts: Options) -> Self {
        let config = PartitionConfig {
            gpid,
            ballot: Ballot(0),
            primary: None,
            secondaries: Vec::new(),
        };
        Self::recover(
            me,
            opts,
            Recovered {
                config,
                applied: Decree(0),
                entries: Vec::new(),
            },
        )
    }

    /// A replica restarted from its persisted state.
    pub(crate) fn recover(me: NodeAddr, opts: Options, rec: Recovered) -> Self {
        let status = if rec.config.secondaries.contains(&me) {
            Status::Secondary
        } else {
            Status::Inactive
        };
        let mut slots = VecDeque::new();
        let mut next = rec.applied.next();
        for entry in rec.entries {
            if entry.decree < next {
                continue;
            }
            if entry.decree != next {
                break;
            }
            next = next.next();
            slots.push_back(Slot {
                entry,
                seq: 0,
                acks: BTreeSet::new(),
                token: None,
                sent_ms: 0,
                resent_ms: 0,
                resends: 0,
                acked: false,
            });
        }
        ReplicaMachine {
            me,
            opts,
            config: rec.config,
            status,
            lease_valid: false,
            now_ms: 0,
            base: rec.applied,
            slots,
            window_bytes: None,
            committed: rec.applied,
            next_seq: 1,
            durable_seq: 0,
            reconciled: false,
            reconcile_target: Decree(0),
            learners: BTreeMap::new(),
            last_heard: BTreeMap::new(),
            reported: BTreeMap::new(),
            last_group_check_ms: 0,
            known_committed: rec.applied,
            stash: BTreeMap::new(),
            learning: None,
        }
    }

    // ---- accessors ----------------------------------------------------

    /// The configuration this replica holds.
    pub(crate) fn config(&self) -> &PartitionConfig {
        &self.config
    }

    /// The ballot this replica holds.
    pub(crate) fn ballot(&self) -> Ballot {
        self.config.ballot
    }

    /// This replica's status.
    pub(crate) fn status(&self) -> Status {
        self.status
    }

    /// Highest committed (and handed to [`Output::Apply`]) decree.
    pub(crate) fn last_committed(&self) -> Decree {
        self.committed
    }

    /// Highest decree in the prepared list.
    pub(crate) fn last_prepared(&self) -> Decree {
        dec(self.base.0 + self.slots.len() as u64)
    }

    /// Prepared but not yet committed entries, in decree order: the primary
    /// executes a new command against committed state plus these.
    pub(crate) fn uncommitted(&self) -> impl Iterator<Item = &Entry> {
        let skip = (self.committed.0 - self.base.0) as usize;
        self.slots.iter().skip(skip).map(|s| &s.entry)
    }

    /// Whether the primary finished re-preparing the tail it took over.
    pub(crate) fn is_reconciled(&self) -> bool {
        self.status == Status::Primary && self.reconciled
    }

    /// Whether the server's lease is valid, as last told.
    pub(crate) fn lease_valid(&self) -> bool {
        self.lease_valid
    }

    /// Reads are served only by a reconciled primary holding a valid lease (rule 4).
    pub(crate) fn can_serve_read(&self) -> bool {
        self.status == Status::Primary && self.lease_valid && self.reconciled
    }

    /// (Primary) the learners and whether each is ready.
    pub(crate) fn learners(&self) -> impl Iterator<Item = (&NodeAddr, bool)> {
        self.learners.iter().map(|(n, l)| (n, l.ready))
    }

    /// (Learner) whether a checkpoint of the primary at `decree` under
    /// `ballot` is wanted now; the shell installs one only if so.
    pub(crate) fn accepts_checkpoint(&self, ballot: Ballot, decree: Decree) -> bool {
        self.status == Status::Learner && ballot == self.config.ballot && decree > self.committed
    }

    /// Uncommitted decrees in flight.
    pub(crate) fn in_flight(&self) -> u64 {
        self.last_prepared().0 - self.committed.0
    }

    // ---- the transition function ---------------------------------------

    /// Feeds one input; returns what the shell must do, in order.
    pub(crate) fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.status == Status::Error {
            if let Input::Propose { token, .. } = input {
                out.push(Output::Reply {
                    token,
                    result: Err(self.not_primary()),
                });
            }
            return out;
        }
        match input {
            Input::Propose { token, mutation } => self.propose(token, mutation, &mut out),
            Input::LogDurable { seq } => self.log_durable(seq, &mut out),
            Input::LogFailed => {
                self.fail_pending(&mut out);
                self.status = Status::Error;
            }
            Input::Message { from, msg } => self.on_message(from, msg, &mut out),
            Input::ConfigChanged(config) => {
                if config.gpid == self.config.gpid && config.ballot > self.config.ballot {
                    self.adopt(config, false, &mut out);
                }
            }
            Input::AddLearner { ballot, node } => self.add_learner(ballot, node, &mut out),
            Input::RetainLearners { ballot, keep } => {
                if self.status == Status::Primary && ballot == self.config.ballot {
                    self.learners.retain(|n, l| l.ready || keep.contains(n));
                }
            }
            Input::CheckpointInstalled { ballot, decree } => {
                self.checkpoint_installed(ballot, decree, &mut out)
            }
            Input::Tick { now_ms } => {
                self.now_ms = self.now_ms.max(now_ms);
                self.tick(&mut out);
            }
            Input::LeaseChanged { valid } => self.lease_valid = valid,
        }
        out
    }

    // ---- helpers -------------------------------------------------------

    fn not_primary(&self) -> WriteError {
        WriteError::NotPrimary {
            ballot: self.config.ballot,
            primary: self.config.primary.clone(),
        }
    }

    fn slot(&self, d: Decree) -> Option<&Slot> {
        if d <= self.base {
            return None;
        }
        self.slots.get((d.0 - self.base.0 - 1) as usize)
    }

    fn slot_mut(&mut self, d: Decree) -> Option<&mut Slot> {
        if d <= self.base {
            return None;
        }
        self.slots.get_mut((d.0 - self.base.0 - 1) as usize)
    }

    fn take_seq(&mut self) -> LogSeq {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Drops every entry after `after` (never below the commit point).
    fn truncate_after(&mut self, after: Decree, out: &mut Vec<Output>) {
        debug_assert!(after >= self.committed);
        if after >= self.last_prepared() {
            return;
        }
        let seq = self.take_seq();
        out.push(Output::TruncateLog { seq, after });
        self.slots.truncate((after.0 - self.base.0) as usize);
    }

    /// Appends `entry` at `last_prepared + 1` and logs it.
    fn append(&mut self, entry: Entry, token: Option<Token>, out: &mut Vec<Output>) {
        debug_assert_eq!(entry.decree, self.last_prepared().next());
        let seq = self.take_seq();
        out.push(Output::AppendLog {
            seq,
            entry: entry.clone(),
        });
        self.slots.push_back(Slot {
            entry,
            seq,
            acks: BTreeSet::new(),
            token,
            sent_ms: self.now_ms,
            resent_ms: self.now_ms,
            resends: 0,
            acked: false,
        });
    }

    fn send(&self, to: &NodeAddr, msg: Message, out: &mut Vec<Output>) {
        out.push(Output::Send {
            to: to.clone(),
            msg,
        });
    }

    fn reject(&self, to: &NodeAddr, out: &mut Vec<Output>) {
        self.send(
            to,
            Message::Reject {
                config: self.config.clone(),
            },
            out,
        );
    }

    /// Answers every waiting client with "outcome unknown".
    fn fail_pending(&mut self, out: &mut Vec<Output>) {
        let err = WriteError::Unknown {
            ballot: self.config.ballot,
            primary: self.config.primary.clone(),
        };
        for slot in self.slots.iter_mut() {
            if let Some(token) = slot.token.take() {
                out.push(Output::Reply {
                    token,
                    result: Err(err.clone()),
                });
            }
        }
    }

    /// Keeps at most `learn_window` committed entries, and
    /// `learn_window_bytes` of them, in memory.
    fn trim_window(&mut self) {
        let held = (self.committed.0 - self.base.0) as usize;
        let (from, known) = match self.window_bytes {
            Some((base, committed, n)) if base == self.base && committed <= self.committed => {
                ((committed.0 - base.0) as usize, n)
            }
            _ => (0, 0),
        };
        let mut bytes: usize = known
            + self
                .slots
                .iter()
                .take(held)
                .skip(from)
                .map(|s| s.entry.mutation.len())
                .sum::<usize>();
        while self.committed.0 > self.base.0
            && (self.committed.0 - self.base.0 > self.opts.learn_window
                || bytes > self.opts.learn_window_bytes)
        {
            if let Some(slot) = self.slots.pop_front() {
                bytes = bytes.saturating_sub(slot.entry.mutation.len());
            }
            self.base = self.base.next();
        }
        self.window_bytes = Some((self.base, self.committed, bytes));
    }

    /// Emits `Apply` for `committed + 1` and marks it committed.
    fn commit_next(&mut self, out: &mut Vec<Output>) {
        let d = self.committed.next();
        let slot = self.slot_mut(d).expect("committing a decree not prepared");
        let mutation = slot.entry.mutation.clone();
        let token = slot.token.take();
        self.committed = d;
        out.push(Output::Apply {
            decree: d,
            mutation,
        });
        if let Some(token) = token {
            out.push(Output::Reply {
                token,
                result: Ok(d),
            });
        }
    }

    // ---- configuration -------------------------------------------------

    /// Adopts a configuration with a higher ballot: persist first, then act.
    fn adopt(&mut self, config: PartitionConfig, as_learner: bool, out: &mut Vec<Output>) {
        debug_assert!(config.ballot > self.config.ballot);
        let was_primary = self.status == Status::Primary;
        out.push(Output::PersistConfig(config.clone()));
        self.config = config;
        self.stash.clear();
        self.learning = None;
        self.known_committed = self.committed;
        for slot in self.slots.iter_mut() {
            slot.acked = false;
            slot.acks.clear();
        }
        let me = self.me.clone();
        let status = if self.config.primary.as_ref() == Some(&me) {
            Status::Primary
        } else if self.config.secondaries.contains(&me) {
            Status::Secondary
        } else if as_learner {
            Status::Learner
        } else {
            Status::Inactive
        };
        if was_primary && status != Status::Primary {
            self.fail_pending(out);
            self.learners.clear();
            self.reconciled = false;
        }
        match status {
            Status::Primary => self.take_over(was_primary, out),
            Status::Learner => self.start_learning(out),
            _ => self.status = status,
        }
    }

    fn tick(&mut self, out: &mut Vec<Output>) {
        match self.status {
            Status::Primary => self.primary_tick(out),
            Status::Learner => self.learner_tick(out),
            _ => {}
        }
    }

    fn on_message(&mut self, from: NodeAddr, msg: Message, out: &mut Vec<Output>) {
        let ballot = msg.ballot();
        if ballot < self.config.ballot {
            // Acks and rejects under an old ballot are simply stale; requests get told.
            match msg {
                Message::Prepare { .. }
                | Message::GroupCheck { .. }
                | Message::LearnRequest { .. }
                | Message::LearnCompleted { .. } => self.reject(&from, out),
                _ => {}
            }
            return;
        }
        match msg {
            Message::Prepare {
                config,
                entry,
                last_committed,
            } => {
                if config.primary.as_ref() != Some(&from) {
                    return;
                }
                if config.ballot > self.config.ballot {
                    // Only a member may join through a prepare; learners are invited.
                    if !config.secondaries.contains(&self.me) {
                        return;
                    }
                    self.adopt(config, false, out);
                }
                if !matches!(self.status, Status::Secondary | Status::Learner) {
                    return;
                }
                self.note_committed(last_committed);
                self.accept(entry, out);
                self.advance_follower_commit(out);
            }
            Message::GroupCheck {
                config,
                learner,
                last_committed,
                last_prepared,
            } => {
                if config.primary.as_ref() != Some(&from) {
                    return;
                }
                if config.ballot > self.config.ballot {
                    self.adopt(config, learner, out);
                } else if learner && self.status == Status::Inactive {
                    self.start_learning(out);
                }
                match self.status {
                    Status::Secondary | Status::Learner => {
                        self.note_committed(last_committed);
                        self.advance_follower_commit(out);
                        self.drop_beyond(last_prepared, out);
                        let msg = Message::GroupCheckAck {
                            ballot: self.config.ballot,
                            last_committed: self.committed,
                            last_prepared: self.last_prepared(),
                        };
                        self.send(&from, msg, out);
                    }
                    _ => {}
                }
            }
            Message::Reject { config } => {
                if config.ballot > self.config.ballot && config.gpid == self.config.gpid {
                    self.adopt(config, false, out);
                }
            }
            // Everything below is answered only under the same ballot.
            _ if ballot != self.config.ballot => {}
            Message::PrepareAck { ballot, decree } => {
                self.on_prepare_ack(from, ballot, decree, out)
            }
            Message::GroupCheckAck { .. } => {
                if self.status == Status::Primary {
                    self.heard(&from);
                }
            }
            Message::LearnRequest { committed, .. } => self.on_learn_request(from, committed, out),
            Message::LearnCompleted { through, .. } => self.on_learn_completed(from, through, out),
            Message::LearnReply {
                last_committed,
                entries,
                ..
            } => {
                if self.status == Status::Learner && self.config.primary.as_ref() == Some(&from) {
                    self.on_learn_reply(last_committed, entries, out);
                }
            }
        }
    }

    fn log_durable(&mut self, seq: LogSeq, out: &mut Vec<Output>) {
        if seq <= self.durable_seq {
            return;
        }
        self.durable_seq = seq;
        match self.status {
            Status::Primary => self.try_commit(out),
            Status::Secondary | Status::Learner => {
                let ballot = self.config.ballot;
                let committed = self.committed;
                let mut to_ack = Vec::new();
                for slot in self.slots.iter_mut() {
                    if slot.entry.decree > committed
                        && slot.entry.ballot == ballot
                        && slot.seq <= seq
                        && !slot.acked
                    {
                        slot.acked = true;
                        to_ack.push(slot.entry.decree);
                    }
                }
                for d in to_ack {
                    self.ack(d, out);
                }
                self.advance_follower_commit(out);
                self.maybe_send_completed(out);
            }
            _ => {}
        }
    }
}
