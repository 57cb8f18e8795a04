//! A seeded simulation of one partition: replicas, a lossy network, a tiny
//! meta, disks that lose what was not synced, and clients.
//!
//! Everything is driven by one `StdRng`, so a failing seed replays exactly.
//! [`Sim::check`] asserts PacificA's invariants and is called after every step.
//! Scenario tests use the same pieces by hand (`deliver_all`, `crash`,
//! `filter`...), so failure stories read like prose.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{
    Entry, Input, LogSeq, Message, Options, Output, Recovered, ReplicaMachine, Status, Token,
    WriteError,
};

/// One record of a node's mutation log.
#[derive(Clone, Debug)]
enum LogRec {
    Append(Entry),
    Truncate(Decree),
}

/// What travels between simulated processes.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    Peer(Message),
    /// Meta -> replica.
    Config(PartitionConfig),
    /// Meta -> primary.
    AddLearner {
        ballot: Ballot,
        node: NodeAddr,
    },
    /// Primary shell -> learner shell: a storage checkpoint.
    Checkpoint {
        ballot: Ballot,
        data: Vec<Bytes>,
    },
}

/// Drops the packets it holds for.
type Filter = Box<dyn Fn(&Packet) -> bool>;

#[derive(Clone, Debug)]
pub(crate) struct Packet {
    pub(crate) from: NodeAddr,
    pub(crate) to: NodeAddr,
    pub(crate) payload: Payload,
}

/// A simulated server hosting one replica.
pub(crate) struct Node {
    pub(crate) addr: NodeAddr,
    pub(crate) alive: bool,
    pub(crate) incarnation: u32,
    pub(crate) machine: ReplicaMachine,
    /// The log: every record written; `durable` of them survive a crash.
    log: Vec<LogRec>,
    durable: usize,
    /// `log` replayed (kept up to date as records are written).
    view: BTreeMap<u64, Entry>,
    /// Index in `log` where this incarnation's `LogSeq` 1 lives.
    inc_start: usize,
    persisted: PartitionConfig,
    /// Storage: the mutation applied at decree `i + 1`; `flushed` survive a crash.
    pub(crate) storage: Vec<Bytes>,
    /// `hashes[k]`: a hash of the history `storage[..=k]`.
    hashes: Vec<u64>,
    flushed: usize,
}

/// Extends a history hash by one mutation.
fn chain(prev: u64, m: &Bytes) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    prev.hash(&mut h);
    m.hash(&mut h);
    h.finish()
}

impl Node {
    fn storage_hash(&self) -> u64 {
        self.hashes.last().copied().unwrap_or(0)
    }

    fn set_storage(&mut self, data: Vec<Bytes>) {
        self.hashes.clear();
        let mut h = 0;
        for m in &data {
            h = chain(h, m);
            self.hashes.push(h);
        }
        self.storage = data;
    }

    /// The log as replayed now: decree -> entry.
    fn replay(&self, upto: usize) -> BTreeMap<u64, Entry> {
        let mut map = BTreeMap::new();
        for rec in &self.log[..upto] {
            match rec {
                LogRec::Append(e) => {
                    map.insert(e.decree.0, e.clone());
                }
                LogRec::Truncate(after) => {
                    map.split_off(&(after.0 + 1));
                }
            }
        }
        map
    }

    /// What this replica holds at `d`: storage below the commit point, log above.
    fn prepared_at(&self, d: u64) -> Option<Bytes> {
        if d as usize <= self.storage.len() {
            return Some(self.storage[d as usize - 1].clone());
        }
        self.machine
            .uncommitted()
            .find(|e| e.decree.0 == d)
            .map(|e| e.mutation.clone())
    }
}

/// Meta, reduced to what the replicas need from it.
pub(crate) struct Meta {
    pub(crate) config: PartitionConfig,
    pub(crate) replica_count: usize,
    pub(crate) suspected: BTreeSet<NodeAddr>,
    /// Incarnation of each member when the current configuration was issued.
    issued_inc: BTreeMap<NodeAddr, u32>,
    /// The learner meta asked for, if any.
    learner: Option<NodeAddr>,
    reports: Vec<(NodeAddr, Output)>,
}

/// Probabilities of the random schedule, per step.
#[derive(Clone, Debug)]
pub(crate) struct Chaos {
    pub(crate) drop: f64,
    pub(crate) dup: f64,
    pub(crate) crash: f64,
    pub(crate) restart: f64,
    pub(crate) suspect: f64,
    pub(crate) storage_flush: f64,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            drop: 0.08,
            dup: 0.05,
            crash: 0.015,
            restart: 0.04,
            suspect: 0.008,
            storage_flush: 0.05,
        }
    }
}

pub(crate) struct Sim {
    pub(crate) seed: u64,
    rng: StdRng,
    pub(crate) nodes: Vec<Node>,
    pub(crate) net: Vec<Packet>,
    pub(crate) meta: Meta,
    pub(crate) now_ms: u64,
    pub(crate) chaos: Chaos,
    /// Packets matching a filter are dropped (scenario tests: partitions).
    filters: Vec<Filter>,
    next_token: Token,
    values: HashMap<Token, Bytes>,
    /// Write replies by token (scenario tests look here).
    pub(crate) replies: HashMap<Token, Result<Decree, WriteError>>,
    /// For each proposed value, the hash of the history it was computed against.
    history_of: HashMap<Bytes, u64>,
    /// Writes answered OK: decree -> value.
    pub(crate) acked: BTreeMap<u64, Bytes>,
    /// The first mutation ever applied at each decree anywhere.
    global: BTreeMap<u64, Bytes>,
    primary_of_ballot: BTreeMap<Ballot, NodeAddr>,
    pub(crate) stats: Stats,
    pub(crate) tracing: bool,
}

/// What happened during a run, to see that the schedule covers the interesting cases.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    pub(crate) steps: u64,
    pub(crate) delivered: u64,
    pub(crate) dropped: u64,
    pub(crate) duplicated: u64,
    pub(crate) crashes: u64,
    pub(crate) suspicions: u64,
    pub(crate) configs: u64,
    pub(crate) learners_promoted: u64,
    pub(crate) checkpoints: u64,
    pub(crate) replies_ok: u64,
    pub(crate) replies_err: u64,
}

impl std::ops::AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, o: &Stats) {
        self.steps += o.steps;
        self.delivered += o.delivered;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.crashes += o.crashes;
        self.suspicions += o.suspicions;
        self.configs += o.configs;
        self.learners_promoted += o.learners_promoted;
        self.checkpoints += o.checkpoints;
        self.replies_ok += o.replies_ok;
        self.replies_err += o.replies_err;
    }
}

pub(crate) fn addr(i: usize) -> NodeAddr {
    NodeAddr(format!("n{i}"))
}

impl Sim {
    /// `replica_count` members (n0 primary) plus `spares` nodes that can become learners.
    pub(crate) fn new(seed: u64, replica_count: usize, spares: usize, opts: Options) -> Sim {
        let gpid = Gpid::new(1, 0);
        let total = replica_count + spares;
        let nodes: Vec<Node> = (0..total)
            .map(|i| {
                let a = addr(i);
                let machine = ReplicaMachine::new(a.clone(), gpid, opts.clone());
                Node {
                    addr: a,
                    alive: true,
                    incarnation: 0,
                    persisted: machine.config().clone(),
                    machine,
                    log: Vec::new(),
                    durable: 0,
                    view: BTreeMap::new(),
                    inc_start: 0,
                    storage: Vec::new(),
                    hashes: Vec::new(),
                    flushed: 0,
                }
            })
            .collect();
        let config = PartitionConfig {
            gpid,
            ballot: Ballot(1),
            primary: Some(addr(0)),
            secondaries: (1..replica_count).map(addr).collect(),
        };
        let mut sim = Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            nodes,
            net: Vec::new(),
            meta: Meta {
                config: config.clone(),
                replica_count,
                suspected: BTreeSet::new(),
                issued_inc: BTreeMap::new(),
                learner: None,
                reports: Vec::new(),
            },
            now_ms: 0,
            chaos: Chaos::default(),
            filters: Vec::new(),
            next_token: 1,
            values: HashMap::new(),
            history_of: HashMap::new(),
            replies: HashMap::new(),
            acked: BTreeMap::new(),
            global: BTreeMap::new(),
            primary_of_ballot: BTreeMap::new(),
            stats: Stats::default(),
            tracing: std::env::var("PETREL_SIM_TRACE").is_ok(),
        };
        sim.meta.issued_inc = config.members().map(|m| (m.clone(), 0)).collect();
        for i in 0..total {
            sim.input(i, Input::LeaseChanged { valid: true });
        }
        for m in config.members().cloned().collect::<Vec<_>>() {
            let i = sim.idx(&m);
            sim.input(i, Input::ConfigChanged(config.clone()));
        }
        sim
    }

    pub(crate) fn idx(&self, a: &NodeAddr) -> usize {
        self.nodes.iter().position(|n| &n.addr == a).unwrap()
    }

    pub(crate) fn node(&self, a: &str) -> &Node {
        &self.nodes[self.idx(&NodeAddr::from(a))]
    }

    fn log(&mut self, s: impl FnOnce() -> String) {
        if self.tracing {
            eprintln!("[{}] {}", self.seed, s());
        }
    }

    // ---- driving a node -------------------------------------------------

    /// Feeds one input to node `i` and performs its outputs, like a shell.
    pub(crate) fn input(&mut self, i: usize, input: Input) {
        if !self.nodes[i].alive {
            return;
        }
        let name = self.nodes[i].addr.clone();
        self.log(|| format!("{name} <- {input:?}"));
        let outs = self.nodes[i].machine.handle(input);
        for o in outs {
            self.perform(i, o);
        }
    }

    fn perform(&mut self, i: usize, o: Output) {
        let seed = self.seed;
        let me = self.nodes[i].addr.clone();
        self.log(|| format!("{me} -> {o:?}"));
        match o {
            Output::PersistConfig(c) => self.nodes[i].persisted = c,
            Output::AppendLog { seq, entry } => {
                self.check_seq(i, seq);
                self.nodes[i].view.insert(entry.decree.0, entry.clone());
                self.nodes[i].log.push(LogRec::Append(entry));
            }
            Output::TruncateLog { seq, after } => {
                self.check_seq(i, seq);
                self.nodes[i].view.split_off(&(after.0 + 1));
                self.nodes[i].log.push(LogRec::Truncate(after));
            }
            Output::Send { to, msg } => self.net.push(Packet {
                from: me,
                to,
                payload: Payload::Peer(msg),
            }),
            Output::Apply { decree, mutation } => {
                let node = &mut self.nodes[i];
                assert_eq!(
                    decree.0 as usize,
                    node.storage.len() + 1,
                    "seed {seed}: {me} applied decree {decree} out of order (applied {})",
                    node.storage.len()
                );
                // The mutation lands on the very history it was computed against.
                assert_eq!(
                    self.history_of.get(&mutation),
                    Some(&node.storage_hash()),
                    "seed {seed}: {me} applies {mutation:?} at {decree} on another history"
                );
                let h = chain(node.storage_hash(), &mutation);
                node.hashes.push(h);
                node.storage.push(mutation.clone());
                let first = self
                    .global
                    .entry(decree.0)
                    .or_insert_with(|| mutation.clone());
                assert_eq!(
                    *first, mutation,
                    "seed {seed}: {me} applied a different mutation at decree {decree}"
                );
            }
            Output::Reply { token, result } => {
                if let Ok(d) = &result {
                    let v = self.values[&token].clone();
                    assert_eq!(
                        self.global.get(&d.0),
                        Some(&v),
                        "seed {seed}: write acked at {d} before being applied there"
                    );
                    assert!(
                        self.nodes[i].storage.len() as u64 >= d.0,
                        "seed {seed}: {me} acked {d} before applying it"
                    );
                    self.acked.insert(d.0, v);
                }
                if result.is_ok() {
                    self.stats.replies_ok += 1;
                } else {
                    self.stats.replies_err += 1;
                }
                let old = self.replies.insert(token, result);
                assert!(old.is_none(), "seed {seed}: token {token} answered twice");
            }
            o @ (Output::ReportFailure { .. } | Output::LearnerReady { .. }) => {
                self.meta.reports.push((me, o))
            }
            Output::SendCheckpoint { ballot, to } => {
                self.stats.checkpoints += 1;
                let data = self.nodes[i].storage.clone();
                self.net.push(Packet {
                    from: me,
                    to,
                    payload: Payload::Checkpoint { ballot, data },
                });
            }
        }
    }

    fn check_seq(&self, i: usize, seq: LogSeq) {
        let n = &self.nodes[i];
        assert_eq!(
            seq as usize,
            n.log.len() - n.inc_start + 1,
            "seed {}: {} log writes out of sequence",
            self.seed,
            n.addr
        );
    }

    /// Makes the first `upto` log records of node `i` durable and tells it.
    pub(crate) fn fsync(&mut self, i: usize, upto: usize) {
        let n = &mut self.nodes[i];
        if !n.alive || upto <= n.durable.max(n.inc_start) {
            return;
        }
        n.durable = upto;
        let seq = (upto - n.inc_start) as LogSeq;
        self.input(i, Input::LogDurable { seq });
    }

    pub(crate) fn fsync_all(&mut self) {
        for i in 0..self.nodes.len() {
            let len = self.nodes[i].log.len();
            self.fsync(i, len);
        }
    }

    /// kill -9: unsynced log records and unflushed storage are lost.
    pub(crate) fn crash(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if !n.alive {
            return;
        }
        n.alive = false;
        self.stats.crashes += 1;
        n.log.truncate(n.durable);
        n.view = n.replay(n.durable);
        n.storage.truncate(n.flushed);
        n.hashes.truncate(n.flushed);
        let a = n.addr.clone();
        self.log(|| format!("{a} CRASH"));
    }

    /// Restart from what survived: persisted config, flushed storage, durable log.
    pub(crate) fn restart(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if n.alive {
            return;
        }
        let applied = n.storage.len() as u64;
        let entries: Vec<Entry> = n
            .view
            .values()
            .filter(|e| e.decree.0 > applied)
            .cloned()
            .collect();
        let opts = n.machine.opts.clone();
        n.machine = ReplicaMachine::recover(
            n.addr.clone(),
            opts,
            Recovered {
                config: n.persisted.clone(),
                applied: Decree(applied),
                entries,
            },
        );
        n.alive = true;
        n.incarnation += 1;
        n.inc_start = n.log.len();
        n.durable = n.log.len();
        let a = n.addr.clone();
        self.log(|| format!("{a} RESTART"));
        // Registering with meta: meta first reacts to the new incarnation
        // (a restarted primary is replaced by a new ballot), then syncs
        // configurations, and only then is the lease valid.
        self.meta_step();
        let c = self.meta.config.clone();
        self.input(i, Input::ConfigChanged(c));
        let valid = !self.meta.suspected.contains(&a);
        self.input(i, Input::LeaseChanged { valid });
        let now_ms = self.now_ms;
        self.input(i, Input::Tick { now_ms });
    }

    pub(crate) fn flush_storage(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.flushed = n.storage.len();
    }

    pub(crate) fn tick(&mut self, i: usize) {
        let now_ms = self.now_ms;
        self.input(i, Input::Tick { now_ms });
    }

    pub(crate) fn tick_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.tick(i);
        }
    }

    /// Drops every packet for which `f` holds, until `clear_filters`.
    pub(crate) fn filter(&mut self, f: impl Fn(&Packet) -> bool + 'static) {
        self.filters.push(Box::new(f));
    }

    pub(crate) fn clear_filters(&mut self) {
        self.filters.clear();
    }

    /// Delivers packet `k` of the network queue (it leaves the queue).
    pub(crate) fn deliver(&mut self, k: usize) {
        let p = self.net.swap_remove(k);
        if self.filters.iter().any(|f| f(&p)) {
            return;
        }
        let i = self.idx(&p.to);
        if !self.nodes[i].alive {
            return;
        }
        match p.payload {
            Payload::Peer(msg) => self.input(i, Input::Message { from: p.from, msg }),
            Payload::Config(c) => self.input(i, Input::ConfigChanged(c)),
            Payload::AddLearner { ballot, node } => {
                self.input(i, Input::AddLearner { ballot, node })
            }
            Payload::Checkpoint { ballot, data } => {
                let decree = Decree(data.len() as u64);
                let to = p.to.clone();
                self.log(|| format!("{to} <- checkpoint at {decree} (ballot {ballot})"));
                if self.nodes[i].machine.accepts_checkpoint(ballot, decree) {
                    let n = &mut self.nodes[i];
                    n.set_storage(data);
                    n.flushed = n.storage.len();
                    self.input(i, Input::CheckpointInstalled { ballot, decree });
                }
            }
        }
    }

    /// Delivers everything in flight, including what that produces, in FIFO order.
    pub(crate) fn deliver_all(&mut self) {
        let mut rounds = 0;
        while !self.net.is_empty() {
            let batch = std::mem::take(&mut self.net);
            for p in batch {
                self.net.push(p);
                let k = self.net.len() - 1;
                self.deliver(k);
            }
            rounds += 1;
            assert!(rounds < 10_000, "message storm");
        }
    }

    /// Delivers and syncs until nothing moves, then lets meta act once more.
    pub(crate) fn settle(&mut self) {
        for _ in 0..3 {
            for _ in 0..50 {
                self.deliver_all();
                self.fsync_all();
                self.check();
                if self.net.is_empty() {
                    break;
                }
            }
            self.meta_step();
        }
    }

    /// Time passes by `ms` and everybody ticks.
    pub(crate) fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        self.tick_all();
    }

    /// A client write to node `i` with a fresh unique value.
    pub(crate) fn propose_to(&mut self, i: usize) -> Token {
        let token = self.next_token;
        self.next_token += 1;
        let v = Bytes::from(format!("v{token}"));
        self.values.insert(token, v.clone());
        // The history the primary computes this write against.
        let n = &self.nodes[i];
        let h = n
            .machine
            .uncommitted()
            .fold(n.storage_hash(), |h, e| chain(h, &e.mutation));
        self.history_of.insert(v.clone(), h);
        self.input(i, Input::Propose { token, mutation: v });
        token
    }

    /// A client write to whoever meta says is primary.
    pub(crate) fn propose(&mut self) -> Token {
        let p = self.meta.config.primary.clone().unwrap_or_else(|| addr(0));
        let i = self.idx(&p);
        self.propose_to(i)
    }

    // ---- meta -------------------------------------------------------------

    fn healthy(&self, a: &NodeAddr) -> bool {
        self.nodes[self.idx(a)].alive && !self.meta.suspected.contains(a)
    }

    /// Meta suspects node `i` (its lease expires first: grace > lease).
    pub(crate) fn suspect(&mut self, i: usize) {
        let a = self.nodes[i].addr.clone();
        self.stats.suspicions += 1;
        self.meta.suspected.insert(a);
        self.input(i, Input::LeaseChanged { valid: false });
    }

    /// Meta hears from node `i` again: the lease renewal carries the current
    /// configuration (config sync), delivered before the lease is valid again.
    pub(crate) fn unsuspect(&mut self, i: usize) {
        let a = self.nodes[i].addr.clone();
        if self.meta.suspected.remove(&a) {
            let c = self.meta.config.clone();
            self.input(i, Input::ConfigChanged(c));
            self.input(i, Input::LeaseChanged { valid: true });
        }
    }

    fn issue(&mut self, config: PartitionConfig) {
        let old = std::mem::replace(&mut self.meta.config, config.clone());
        self.stats.configs += 1;
        self.log(|| format!("META issues {config:?}"));
        self.meta.issued_inc = config
            .members()
            .map(|m| (m.clone(), self.nodes[self.idx(m)].incarnation))
            .collect();
        if self
            .meta
            .learner
            .as_ref()
            .is_some_and(|l| config.has_member(l))
        {
            self.meta.learner = None;
        }
        let to: BTreeSet<NodeAddr> = old.members().chain(config.members()).cloned().collect();
        for m in to {
            self.net.push(Packet {
                from: NodeAddr::from("meta"),
                to: m,
                payload: Payload::Config(config.clone()),
            });
        }
    }

    /// One round of meta: failover, removal, learners, configuration sync.
    pub(crate) fn meta_step(&mut self) {
        let cfg = self.meta.config.clone();
        let next = |primary: Option<NodeAddr>, secondaries: Vec<NodeAddr>| PartitionConfig {
            gpid: cfg.gpid,
            ballot: cfg.ballot.next(),
            primary,
            secondaries,
        };
        let primary_failed = match &cfg.primary {
            None => true,
            Some(p) => {
                !self.healthy(p) || self.nodes[self.idx(p)].incarnation != self.meta.issued_inc[p]
            }
        };
        if primary_failed {
            // Promote the healthy member with the longest log.
            let best = cfg
                .members()
                .filter(|m| self.healthy(m))
                .max_by_key(|m| {
                    let n = &self.nodes[self.idx(m)];
                    (n.machine.last_prepared(), std::cmp::Reverse((*m).clone()))
                })
                .cloned();
            if let Some(p) = best {
                let secs = cfg
                    .members()
                    .filter(|m| **m != p && self.healthy(m))
                    .cloned()
                    .collect();
                self.issue(next(Some(p), secs));
            }
            self.meta.reports.clear();
            return;
        }
        let primary = cfg.primary.clone().unwrap();
        if cfg.secondaries.iter().any(|s| !self.healthy(s)) {
            let secs = cfg
                .secondaries
                .iter()
                .filter(|s| self.healthy(s))
                .cloned()
                .collect();
            self.issue(next(Some(primary), secs));
            return;
        }
        for (from, report) in std::mem::take(&mut self.meta.reports) {
            if Some(&from) != cfg.primary.as_ref() {
                continue;
            }
            match report {
                Output::ReportFailure { ballot, node } if ballot == cfg.ballot => {
                    if cfg.secondaries.contains(&node) {
                        let secs = cfg
                            .secondaries
                            .iter()
                            .filter(|s| **s != node)
                            .cloned()
                            .collect();
                        self.issue(next(Some(primary), secs));
                        return;
                    }
                    if !cfg.has_member(&node) {
                        // Cancel the learner with a new ballot: the primary may
                        // count it for commit until it sees one.
                        if self.meta.learner.as_ref() == Some(&node) {
                            self.meta.learner = None;
                        }
                        self.issue(next(Some(primary), cfg.secondaries.clone()));
                        return;
                    }
                }
                Output::LearnerReady { ballot, node } if ballot == cfg.ballot => {
                    let members = cfg.members().count();
                    if self.meta.learner.as_ref() == Some(&node)
                        && members < self.meta.replica_count
                    {
                        let mut secs = cfg.secondaries.clone();
                        secs.push(node);
                        self.stats.learners_promoted += 1;
                        self.issue(next(Some(primary), secs));
                        return;
                    }
                }
                _ => {}
            }
        }
        // Below the replica count: ask the primary for a learner.
        if cfg.members().count() < self.meta.replica_count {
            if self.meta.learner.as_ref().is_some_and(|l| !self.healthy(l)) {
                self.meta.learner = None;
            }
            if self.meta.learner.is_none() {
                let candidates: Vec<NodeAddr> = self
                    .nodes
                    .iter()
                    .map(|n| n.addr.clone())
                    .filter(|a| !cfg.has_member(a) && self.healthy(a))
                    .collect();
                if !candidates.is_empty() {
                    let k = self.rng.gen_range(0..candidates.len());
                    self.meta.learner = Some(candidates[k].clone());
                }
            }
            if let Some(l) = self.meta.learner.clone() {
                self.net.push(Packet {
                    from: NodeAddr::from("meta"),
                    to: primary.clone(),
                    payload: Payload::AddLearner {
                        ballot: cfg.ballot,
                        node: l,
                    },
                });
            }
        }
        // Configuration sync: members that missed a change hear it again.
        for m in cfg.members() {
            self.net.push(Packet {
                from: NodeAddr::from("meta"),
                to: m.clone(),
                payload: Payload::Config(cfg.clone()),
            });
        }
    }

    // ---- the random schedule ------------------------------------------

    /// One random step, then the invariant check.
    pub(crate) fn step(&mut self) {
        self.stats.steps += 1;
        let r: f64 = self.rng.gen();
        let n = self.nodes.len();
        let c = self.chaos.clone();
        let mut acc = 0.0;
        let mut pick = |p: f64| {
            acc += p;
            r < acc
        };
        if pick(0.40) {
            if !self.net.is_empty() {
                let k = self.rng.gen_range(0..self.net.len());
                let x: f64 = self.rng.gen();
                if x < c.drop {
                    self.stats.dropped += 1;
                    self.net.swap_remove(k);
                } else {
                    if x < c.drop + c.dup {
                        self.stats.duplicated += 1;
                        let p = self.net[k].clone();
                        self.net.push(p);
                    }
                    self.stats.delivered += 1;
                    self.deliver(k);
                }
            }
        } else if pick(0.14) {
            self.propose();
        } else if pick(0.01) {
            let i = self.rng.gen_range(0..n);
            self.propose_to(i);
        } else if pick(0.14) {
            let i = self.rng.gen_range(0..n);
            let (lo, hi) = (
                self.nodes[i].durable.max(self.nodes[i].inc_start),
                self.nodes[i].log.len(),
            );
            if hi > lo {
                let upto = self.rng.gen_range(lo + 1..=hi);
                self.fsync(i, upto);
            }
        } else if pick(0.10) {
            self.now_ms += self.rng.gen_range(0..150);
            let i = self.rng.gen_range(0..n);
            self.tick(i);
        } else if pick(0.05) {
            self.meta_step();
        } else if pick(c.crash) {
            let i = self.rng.gen_range(0..n);
            self.crash(i);
        } else if pick(c.restart) {
            let i = self.rng.gen_range(0..n);
            self.restart(i);
        } else if pick(c.suspect) {
            let i = self.rng.gen_range(0..n);
            self.suspect(i);
        } else if pick(c.suspect * 2.0) {
            let i = self.rng.gen_range(0..n);
            self.unsuspect(i);
        } else if pick(c.storage_flush) {
            let i = self.rng.gen_range(0..n);
            self.flush_storage(i);
        }
        self.check();
    }

    /// Ends the chaos: everything restarts, nothing is lost; the partition must
    /// come back to full strength and accept a write.
    pub(crate) fn heal(&mut self) {
        for i in 0..self.nodes.len() {
            self.restart(i);
            self.unsuspect(i);
        }
        for _ in 0..60 {
            self.settle();
            if self.healed() {
                break;
            }
            self.advance(300);
        }
        let seed = self.seed;
        let cfg = self.meta.config.clone();
        assert_eq!(
            cfg.members().count(),
            self.meta.replica_count,
            "seed {seed}: partition not back to full strength: {cfg:?}"
        );
        let token = self.propose();
        for _ in 0..20 {
            self.settle();
            if self.replies.contains_key(&token) && self.healed() {
                break;
            }
            self.advance(300);
        }
        assert!(
            matches!(self.replies.get(&token), Some(Ok(_))),
            "seed {seed}: a write after healing was not acked: {:?}",
            self.replies.get(&token)
        );
        let p = self.idx(cfg.primary.as_ref().unwrap());
        let committed = self.nodes[p].machine.last_committed();
        for m in cfg.members() {
            let q = &self.nodes[self.idx(m)];
            assert_eq!(
                q.machine.last_committed(),
                committed,
                "seed {seed}: {m} did not catch up"
            );
            assert_eq!(
                q.storage, self.nodes[p].storage,
                "seed {seed}: {m} diverged"
            );
        }
    }

    /// Full strength, everybody on the current ballot and caught up.
    fn healed(&self) -> bool {
        let cfg = &self.meta.config;
        let Some(p) = cfg.primary.as_ref().map(|p| &self.nodes[self.idx(p)]) else {
            return false;
        };
        cfg.members().count() == self.meta.replica_count
            && p.machine.is_reconciled()
            && p.machine.in_flight() == 0
            && cfg.members().all(|m| {
                let q = &self.nodes[self.idx(m)].machine;
                q.ballot() == cfg.ballot && q.last_committed() == p.machine.last_committed()
            })
    }

    // ---- invariants ---------------------------------------------------------

    /// PacificA's invariants, and the shell contract, on the current state.
    pub(crate) fn check(&mut self) {
        let seed = self.seed;
        let cfg = self.meta.config.clone();
        let mut readers = Vec::new();
        for n in self.nodes.iter().filter(|n| n.alive) {
            let m = &n.machine;
            // Storage is exactly the committed prefix; the log holds the rest.
            assert_eq!(
                n.storage.len() as u64,
                m.last_committed().0,
                "seed {seed}: {} storage and commit point disagree",
                n.addr
            );
            for e in m.uncommitted() {
                assert_eq!(
                    n.view.get(&e.decree.0),
                    Some(e),
                    "seed {seed}: {} log and prepared list disagree at {}",
                    n.addr,
                    e.decree
                );
            }
            // Everything applied anywhere agrees: checked at apply time (and a
            // checkpoint is a copy of applied storage).
            // At most one primary per ballot, ever.
            if m.status() == Status::Primary {
                let p = self
                    .primary_of_ballot
                    .entry(m.ballot())
                    .or_insert_with(|| n.addr.clone());
                assert_eq!(
                    *p,
                    n.addr,
                    "seed {seed}: two primaries in ballot {}",
                    m.ballot()
                );
            }
            if m.can_serve_read() {
                readers.push(n.addr.clone());
            }
        }
        assert!(
            readers.len() <= 1,
            "seed {seed}: several replicas serve reads: {readers:?}"
        );
        for r in &readers {
            let n = &self.nodes[self.idx(r)];
            // No stale read: a reader is meta's current primary (possibly not
            // yet aware of a change that kept it primary) and has every acked write.
            assert_eq!(
                cfg.primary.as_ref(),
                Some(r),
                "seed {seed}: {r} reads but is not primary"
            );
            if let Some((d, _)) = self.acked.last_key_value() {
                assert!(
                    n.machine.last_committed().0 >= *d,
                    "seed {seed}: reader {r} misses acked write {d}"
                );
            }
        }
        // Commit invariant, for the current primary once reconciled:
        // committed(q) ⊆ committed(p) ⊆ prepared(q) for every member q.
        let Some(pa) = cfg.primary.as_ref() else {
            return;
        };
        let p = &self.nodes[self.idx(pa)];
        if !p.alive || !p.machine.is_reconciled() || p.machine.ballot() != cfg.ballot {
            return;
        }
        let cp = p.machine.last_committed().0;
        if let Some((d, _)) = self.acked.last_key_value() {
            assert!(
                cp >= *d,
                "seed {seed}: reconciled primary {pa} lost acked write {d}"
            );
        }
        for qa in cfg.secondaries.iter() {
            let q = &self.nodes[self.idx(qa)];
            if !q.alive
                || q.machine.ballot() != cfg.ballot
                || q.machine.status() != Status::Secondary
            {
                continue;
            }
            let cq = q.machine.last_committed().0;
            assert!(
                cq <= cp,
                "seed {seed}: {qa} committed {cq} beyond primary {pa} at {cp}"
            );
            assert_eq!(
                q.storage[..],
                p.storage[..cq as usize],
                "seed {seed}: {qa} committed differs"
            );
            for d in cq + 1..=cp {
                assert_eq!(
                    q.prepared_at(d).as_ref(),
                    Some(&p.storage[d as usize - 1]),
                    "seed {seed}: primary {pa} committed {d} which {qa} has not prepared"
                );
            }
        }
    }
}

/// Runs one seed: `steps` random steps with checks, then a heal.
pub(crate) fn run_seed(seed: u64, replica_count: usize, steps: usize, opts: Options) -> Sim {
    let mut sim = Sim::new(seed, replica_count, 1, opts);
    for _ in 0..steps {
        sim.step();
    }
    sim.heal();
    sim
}
