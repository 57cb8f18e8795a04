//! The simulated world: participants with their durable state and shells,
//! clients running coordinators, the network, the clock and the schedule.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::history::{History, Op, Version};
use crate::codec::{Reader, Writer};
use crate::ids::Gpid;
use crate::txn::coordinator::{self, Coordinator, Outcome};
use crate::txn::id::TxnId;
use crate::txn::lock::LockMode;
use crate::txn::msg::{ExecuteHeader, Request, Response};
use crate::txn::participant::{self, Participant, ProposalId, Recovered, Token};
use crate::txn::record::{Change, DecidedRecord, PreparedRecord, RecordOp, TxnRecord};

/// Partitions, each with one primary.
pub const PARTS: usize = 3;
const ACCOUNTS: usize = 6;
const STAMPS: usize = 6;
const INITIAL: i64 = 100;
const CLIENTS: usize = 4;
/// A client's transaction must finish within this much simulated time.
const DEADLINE_MS: u64 = 6_000;

fn gpid(i: usize) -> Gpid {
    Gpid::new(1, i as u32)
}

fn index(g: Gpid) -> usize {
    g.partition.0 as usize
}

fn account(i: usize) -> Bytes {
    Bytes::from(format!("a{i}"))
}

fn stamp_key(i: usize) -> Bytes {
    Bytes::from(format!("s{i}"))
}

/// Key `x<n>` lives in partition `n % PARTS`.
fn part_of(key: &[u8]) -> usize {
    let n: usize = std::str::from_utf8(&key[1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    n % PARTS
}

/// One command of an EXECUTE (the sim's stand-in for Redis commands).
#[derive(Clone, Debug)]
enum Cmd {
    Read(Bytes),
    Write(Bytes, i64),
}

/// Pending writes as the sim's shells encode them: the writer, then pairs.
fn encode_writes(txn: TxnId, writes: &BTreeMap<Bytes, i64>) -> Bytes {
    let mut w = Writer::default();
    w.u64(txn.start_ms).u64(txn.nonce).u32(writes.len() as u32);
    for (k, v) in writes {
        w.bytes(k).u64(*v as u64);
    }
    w.into_bytes()
}

fn decode_writes(b: &[u8]) -> (TxnId, BTreeMap<Bytes, i64>) {
    let mut r = Reader::new("sim writes", b);
    let start_ms = r.u64().expect("sim writes: id");
    let nonce = r.u64().expect("sim writes: id");
    let txn = TxnId { start_ms, nonce };
    let n = r.u32().expect("sim writes: count");
    let writes = (0..n)
        .map(|_| {
            let k = r.bytes().expect("sim writes: key");
            let v = r.u64().expect("sim writes: value") as i64;
            (k, v)
        })
        .collect();
    (txn, writes)
}

#[derive(Clone, Debug)]
enum Msg {
    Exec {
        head: ExecuteHeader,
        cmds: Vec<Cmd>,
    },
    ExecReply {
        resp: Response,
        reads: Vec<(Bytes, i64)>,
    },
    Req(Request),
    Resp(Response),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum End {
    Client(usize),
    Node(usize),
}

#[derive(Clone, Debug)]
struct Packet {
    from: End,
    to: End,
    msg: Msg,
}

/// A proposal in a node's replication pipeline.
#[derive(Clone, Debug)]
enum Entry {
    Txn { id: ProposalId, change: Change },
    Fast { op: u64, key: Bytes, value: i64 },
}

/// Who is waiting for a machine's answer to a token.
#[derive(Clone, Debug)]
enum Asker {
    Exec {
        from: End,
        cmds: Vec<Cmd>,
        issued: u64,
        /// Filled at Run: what was read, and the log position that must be
        /// durable before the reply leaves.
        reads: Vec<(Bytes, Op, i64)>,
        barrier: u64,
    },
    Req {
        from: End,
        prepare: bool,
    },
    Fast {
        op: u64,
        key: Bytes,
        write: Option<i64>,
        issued: u64,
    },
}

/// An EXECUTE reply waiting for its barrier: (barrier, reply, reads,
/// reader, step the EXECUTE arrived).
type Held = (u64, Packet, Vec<(Bytes, Op, i64)>, Op, u64);

/// A partition's primary: the machine, its shell, and what survives it.
struct Node {
    alive: bool,
    machine: Participant,
    data: BTreeMap<Bytes, Version>,
    prepared: BTreeMap<TxnId, Bytes>,
    records: BTreeMap<TxnId, Bytes>,
    decided: BTreeMap<TxnId, Bytes>,
    /// Proposed, not yet durable, in log order, with their positions.
    tail: VecDeque<(u64, Entry)>,
    next_seq: u64,
    durable_seq: u64,
    askers: BTreeMap<Token, Asker>,
    next_token: Token,
    /// EXECUTE replies waiting for their barrier.
    held: Vec<Held>,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Read both, then move `amount` if the first has it.
    Transfer { a: Bytes, b: Bytes, amount: i64 },
    /// Write the job's number to every key: a mix of two is visible.
    Stamp { keys: Vec<Bytes> },
    /// Read every key.
    Snapshot { keys: Vec<Bytes> },
    /// Read `from` at one partition, write it to `to` at another: one writer.
    Copy { from: Bytes, to: Bytes },
}

struct Job {
    kind: Kind,
    coord: Coordinator,
    round: usize,
    number: i64,
    values: BTreeMap<Bytes, i64>,
    cmds: BTreeMap<usize, Vec<Cmd>>,
    writes: Vec<(usize, Bytes)>,
}

/// Probabilities of the random schedule.
#[derive(Clone, Debug)]
pub struct Chaos {
    pub drop: f64,
    pub dup: f64,
    pub node_crash: f64,
    pub node_restart: f64,
    pub coord_crash: f64,
}

impl Default for Chaos {
    fn default() -> Self {
        Chaos {
            drop: 0.05,
            dup: 0.05,
            node_crash: 0.003,
            node_restart: 0.02,
            coord_crash: 0.002,
        }
    }
}

/// What a run covered: event name -> count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats(pub BTreeMap<&'static str, u64>);

impl Stats {
    fn bump(&mut self, what: &'static str) {
        *self.0.entry(what).or_default() += 1;
    }

    /// How many times `what` happened.
    pub fn get(&self, what: &str) -> u64 {
        self.0.get(what).copied().unwrap_or(0)
    }
}

impl std::ops::AddAssign<&Stats> for Stats {
    fn add_assign(&mut self, o: &Stats) {
        for (k, v) in &o.0 {
            *self.0.entry(k).or_default() += v;
        }
    }
}

/// The world.
pub struct Sim {
    pub seed: u64,
    rng: StdRng,
    pub now_ms: u64,
    pub step_no: u64,
    pub chaos: Chaos,
    popts: participant::Options,
    copts: coordinator::Options,
    nodes: Vec<Node>,
    clients: Vec<Option<Job>>,
    net: Vec<Packet>,
    next_epoch: u64,
    next_op: u64,
    pub history: History,
    pub stats: Stats,
    /// A hash of every scheduling choice: equal runs have equal traces.
    pub trace: u64,
    /// Print every event (`PETREL_TXN_SIM_TRACE=1`).
    tracing: bool,
}

fn fresh_node(i: usize, epoch: u64, opts: &participant::Options, now: u64) -> Node {
    Node {
        alive: true,
        machine: Participant::new(gpid(i), epoch, opts.clone(), now),
        data: BTreeMap::new(),
        prepared: BTreeMap::new(),
        records: BTreeMap::new(),
        decided: BTreeMap::new(),
        tail: VecDeque::new(),
        next_seq: 1,
        durable_seq: 0,
        askers: BTreeMap::new(),
        next_token: 1,
        held: Vec::new(),
    }
}

impl Sim {
    pub fn new(seed: u64, popts: participant::Options) -> Sim {
        let now = 1_000_000;
        let mut sim = Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            now_ms: now,
            step_no: 0,
            chaos: Chaos::default(),
            copts: coordinator::Options::default(),
            nodes: (0..PARTS)
                .map(|i| fresh_node(i, i as u64 + 1, &popts, now))
                .collect(),
            popts,
            clients: (0..CLIENTS).map(|_| None).collect(),
            net: Vec::new(),
            next_epoch: PARTS as u64 + 1,
            next_op: 1,
            history: History::new(seed),
            stats: Stats::default(),
            trace: 0,
            tracing: std::env::var("PETREL_TXN_SIM_TRACE").is_ok(),
        };
        let keys = (0..ACCOUNTS)
            .map(|i| (account(i), INITIAL))
            .chain((0..STAMPS).map(|i| (stamp_key(i), 0)));
        for (k, v) in keys {
            let p = part_of(&k);
            let init = Version {
                writer: Op::Init,
                value: v,
            };
            sim.nodes[p].data.insert(k.clone(), init);
            sim.history.init(p, k, v);
        }
        sim
    }

    fn log(&self, s: impl FnOnce() -> String) {
        if self.tracing {
            println!("[{} {}ms] {}", self.step_no, self.now_ms, s());
        }
    }

    fn note(&mut self, what: impl Hash) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.trace.hash(&mut h);
        what.hash(&mut h);
        self.trace = h.finish();
    }

    // ---- participants -----------------------------------------------------

    fn feed(&mut self, i: usize, input: participant::Input) {
        if !self.nodes[i].alive {
            return;
        }
        self.log(|| format!("n{i} <- {input:?}"));
        let outs = self.nodes[i].machine.handle(input);
        for o in outs {
            self.log(|| format!("n{i} -> {o:?}"));
            self.perform(i, o);
        }
    }

    fn send(&mut self, from: End, to: End, msg: Msg) {
        self.net.push(Packet { from, to, msg });
    }

    fn perform(&mut self, i: usize, o: participant::Output) {
        use participant::Output as O;
        match o {
            O::Run {
                token,
                txn,
                pending,
            } => self.run(i, token, txn, pending),
            O::Reply { token, resp } => self.reply(i, token, resp),
            O::Send { to, req } => {
                match req {
                    Request::Status { .. } => self.stats.bump("status_asked"),
                    Request::Prevent { .. } => self.stats.bump("prevents"),
                    _ => {}
                }
                self.send(End::Node(i), End::Node(index(to)), Msg::Req(req));
            }
            O::Propose { id, change } => {
                let n = &mut self.nodes[i];
                n.tail.push_back((n.next_seq, Entry::Txn { id, change }));
                n.next_seq += 1;
            }
            O::FastGo { token } => self.fast_go(i, token),
            O::FastTimedOut { token } => {
                self.nodes[i].askers.remove(&token);
                self.stats.bump("fast_timeouts");
            }
        }
    }

    /// What T sees of `key` here: its own writes, then the uncommitted
    /// tail, then committed state.
    fn view(&self, i: usize, key: &Bytes) -> (Op, i64) {
        let n = &self.nodes[i];
        for (_, e) in n.tail.iter().rev() {
            match e {
                Entry::Fast { op, key: k, value } if k == key => return (Op::Fast(*op), *value),
                Entry::Txn { change, .. } => {
                    if let Some(d) = &change.data {
                        let (t, w) = decode_writes(d);
                        if let Some(v) = w.get(key) {
                            return (Op::Txn(t), *v);
                        }
                    }
                }
                _ => {}
            }
        }
        let v = n.data.get(key).copied().unwrap_or(Version {
            writer: Op::Init,
            value: 0,
        });
        (v.writer, v.value)
    }

    fn run(&mut self, i: usize, token: Token, txn: TxnId, pending: Option<Bytes>) {
        let Some(Asker::Exec { cmds, .. }) = self.nodes[i].askers.get(&token).cloned() else {
            return;
        };
        let mut writes = pending.map_or_else(BTreeMap::new, |p| decode_writes(&p).1);
        let mut reads = Vec::new();
        for c in cmds {
            match c {
                Cmd::Read(k) => {
                    let (w, v) = match writes.get(&k) {
                        Some(v) => (Op::Txn(txn), *v),
                        None => self.view(i, &k),
                    };
                    reads.push((k, w, v));
                }
                Cmd::Write(k, v) => {
                    writes.insert(k, v);
                }
            }
        }
        let n = &mut self.nodes[i];
        let last = n.next_seq - 1;
        if let Some(Asker::Exec {
            reads: r, barrier, ..
        }) = n.askers.get_mut(&token)
        {
            *r = reads;
            *barrier = last;
        }
        let writes = (!writes.is_empty()).then(|| encode_writes(txn, &writes));
        self.feed(i, participant::Input::Executed { token, txn, writes });
    }

    fn reply(&mut self, i: usize, token: Token, resp: Response) {
        let Some(asker) = self.nodes[i].askers.remove(&token) else {
            return;
        };
        match asker {
            Asker::Exec {
                from,
                reads,
                barrier,
                issued,
                ..
            } => {
                let ok = matches!(resp, Response::Executed { .. });
                let reader = Op::Txn(resp.txn());
                let values = if ok {
                    reads.iter().map(|(k, _, v)| (k.clone(), *v)).collect()
                } else {
                    Vec::new()
                };
                let msg = Msg::ExecReply {
                    resp,
                    reads: values,
                };
                let packet = Packet {
                    from: End::Node(i),
                    to: from,
                    msg,
                };
                if ok {
                    self.nodes[i]
                        .held
                        .push((barrier, packet, reads, reader, issued));
                    self.release_held(i);
                } else {
                    self.net.push(packet);
                }
            }
            Asker::Req { from, prepare } => {
                if let (true, Response::Refused { txn, .. }) = (prepare, &resp) {
                    self.history.refused(*txn, i);
                }
                self.send(End::Node(i), from, Msg::Resp(resp));
            }
            Asker::Fast { .. } => {}
        }
    }

    /// Sends the EXECUTE replies whose reads are durable now.
    fn release_held(&mut self, i: usize) {
        let durable = self.nodes[i].durable_seq;
        let held = std::mem::take(&mut self.nodes[i].held);
        for h in held {
            if h.0 > durable {
                self.nodes[i].held.push(h);
                continue;
            }
            let (_, packet, reads, reader, issued) = h;
            for (k, w, _) in reads {
                if w != reader {
                    self.history.read(reader, i, k, w, issued);
                }
            }
            self.net.push(packet);
        }
    }

    fn fast_go(&mut self, i: usize, token: Token) {
        let Some(Asker::Fast {
            op,
            key,
            write,
            issued,
        }) = self.nodes[i].askers.remove(&token)
        else {
            return;
        };
        match write {
            None => {
                let v = self.nodes[i].data.get(&key).copied();
                let writer = v.map_or(Op::Init, |v| v.writer);
                self.history.read(Op::Fast(op), i, key, writer, issued);
                self.stats.bump("fast_reads");
            }
            Some(value) => {
                let n = &mut self.nodes[i];
                n.tail
                    .push_back((n.next_seq, Entry::Fast { op, key, value }));
                n.next_seq += 1;
                self.stats.bump("fast_writes");
            }
        }
    }

    /// Applies one durable entry to node `i`'s storage and the history.
    fn apply(&mut self, i: usize, e: &Entry) {
        self.log(|| format!("n{i} durable {e:?}"));
        match e {
            Entry::Fast { op, key, value } => {
                let v = Version {
                    writer: Op::Fast(*op),
                    value: *value,
                };
                self.nodes[i].data.insert(key.clone(), v);
                self.history.fast_write(*op, i, key.clone(), *value);
            }
            Entry::Txn { change, .. } => self.apply_change(i, change),
        }
    }

    fn apply_change(&mut self, i: usize, change: &Change) {
        if let Some(d) = &change.data {
            let (txn, writes) = decode_writes(d);
            let one = !change
                .records
                .iter()
                .any(|r| matches!(r, RecordOp::DeletePrepared(_)));
            for (k, v) in &writes {
                let writer = Op::Txn(txn);
                self.nodes[i]
                    .data
                    .insert(k.clone(), Version { writer, value: *v });
            }
            self.history
                .applied(txn, i, writes.into_iter().collect(), one);
        }
        for op in &change.records {
            let n = &mut self.nodes[i];
            match op {
                RecordOp::PutPrepared(t, p) => {
                    n.prepared.insert(*t, p.encode());
                    self.history.prepared(*t, i);
                }
                RecordOp::DeletePrepared(t) => {
                    n.prepared.remove(t);
                }
                RecordOp::PutRecord(t, r) => {
                    n.records.insert(*t, r.encode());
                    match r {
                        TxnRecord::Staging { writers } => {
                            let w = writers.iter().map(|g| index(*g)).collect();
                            self.history.staging(*t, w);
                        }
                        TxnRecord::Decided(d) => self.history.decision(*t, *d, i),
                    }
                }
                RecordOp::DeleteRecord(t) => {
                    n.records.remove(t);
                }
                RecordOp::PutDecided(t, d) => {
                    n.decided.insert(*t, d.encode());
                    self.history.decision(*t, d.decision, i);
                }
                RecordOp::DeleteDecided(t) => {
                    n.decided.remove(t);
                }
            }
        }
    }

    /// Makes the first `count` proposals of node `i` durable.
    pub fn make_durable(&mut self, i: usize, count: usize) {
        for _ in 0..count {
            let Some((seq, e)) = self.nodes[i].tail.pop_front() else {
                break;
            };
            self.apply(i, &e);
            self.nodes[i].durable_seq = seq;
            if let Entry::Txn { id, .. } = e {
                self.feed(i, participant::Input::Durable { id });
            }
        }
        self.release_held(i);
    }

    /// The primary of partition `i` dies: a prefix of its proposals in
    /// flight survives (they had reached every replica), the rest and all
    /// of its memory is lost.
    pub fn crash_node(&mut self, i: usize) {
        if !self.nodes[i].alive {
            return;
        }
        self.stats.bump("node_crashes");
        if self.nodes[i]
            .records
            .values()
            .any(|r| matches!(TxnRecord::decode(r), Ok(TxnRecord::Staging { .. })))
        {
            self.stats.bump("record_crashes");
        }
        let keep = self.rng.gen_range(0..=self.nodes[i].tail.len());
        self.note(("crash", i, keep));
        self.log(|| format!("CRASH n{i}, {keep} proposals survive"));
        self.nodes[i].alive = false;
        for _ in 0..keep {
            if let Some((seq, e)) = self.nodes[i].tail.pop_front() {
                self.apply(i, &e);
                self.nodes[i].durable_seq = seq;
            }
        }
        let n = &mut self.nodes[i];
        n.tail.clear();
        n.held.clear();
        n.askers.clear();
    }

    /// A new primary for partition `i`, rebuilt from the durable records.
    pub fn restart_node(&mut self, i: usize) {
        if self.nodes[i].alive {
            return;
        }
        let n = &self.nodes[i];
        let rec = Recovered {
            prepared: n
                .prepared
                .iter()
                .map(|(t, b)| (*t, PreparedRecord::decode(b).expect("prepared record")))
                .collect(),
            records: n
                .records
                .iter()
                .map(|(t, b)| (*t, TxnRecord::decode(b).expect("txn record")))
                .collect(),
            decided: n
                .decided
                .iter()
                .map(|(t, b)| (*t, DecidedRecord::decode(b).expect("decided record")))
                .collect(),
        };
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        let machine = Participant::recover(gpid(i), epoch, self.popts.clone(), self.now_ms, rec);
        let n = &mut self.nodes[i];
        n.machine = machine;
        n.alive = true;
        n.next_seq = n.durable_seq + 1;
        self.note(("restart", i));
        self.log(|| format!("RESTART n{i} epoch {epoch}"));
    }

    // ---- clients and coordinators ---------------------------------------

    fn feed_client(&mut self, c: usize, input: coordinator::Input) {
        let Some(job) = self.clients[c].as_mut() else {
            return;
        };
        let txn = job.coord.txn();
        let outs = job.coord.handle(input.clone());
        self.log(|| format!("c{c} {txn} <- {input:?} -> {outs:?}"));
        for o in outs {
            self.perform_client(c, o);
        }
        if self.clients[c]
            .as_ref()
            .is_some_and(|j| j.coord.is_finished())
        {
            self.clients[c] = None;
        }
    }

    /// The commands of `round`, per partition; `None`: commit.
    fn plan(job: &Job) -> Option<BTreeMap<usize, Vec<Cmd>>> {
        let mut m: BTreeMap<usize, Vec<Cmd>> = BTreeMap::new();
        let mut add = |k: &Bytes, c: Cmd| m.entry(part_of(k)).or_default().push(c);
        match (&job.kind, job.round) {
            (Kind::Transfer { a, b, .. }, 0) => {
                add(a, Cmd::Read(a.clone()));
                add(b, Cmd::Read(b.clone()));
            }
            (Kind::Transfer { a, b, amount }, 1) => {
                let va = *job.values.get(a)?;
                let vb = *job.values.get(b)?;
                if va < *amount {
                    return None;
                }
                add(a, Cmd::Write(a.clone(), va - amount));
                add(b, Cmd::Write(b.clone(), vb + amount));
            }
            (Kind::Stamp { keys }, 0) => {
                for k in keys {
                    add(k, Cmd::Write(k.clone(), job.number));
                }
            }
            (Kind::Snapshot { keys }, 0) => {
                for k in keys {
                    add(k, Cmd::Read(k.clone()));
                }
            }
            (Kind::Copy { from, .. }, 0) => add(from, Cmd::Read(from.clone())),
            (Kind::Copy { from, to }, 1) => {
                let v = *job.values.get(from)?;
                add(to, Cmd::Write(to.clone(), v));
            }
            _ => return None,
        }
        Some(m)
    }

    fn next_round(&mut self, c: usize) {
        let Some(job) = self.clients[c].as_mut() else {
            return;
        };
        match Self::plan(job) {
            Some(cmds) => {
                for (p, cs) in &cmds {
                    for cmd in cs {
                        if let Cmd::Write(k, _) = cmd {
                            job.writes.push((*p, k.clone()));
                        }
                    }
                }
                let parts = cmds.keys().map(|p| gpid(*p)).collect();
                job.cmds = cmds;
                self.feed_client(c, coordinator::Input::Execute { parts });
            }
            None => self.feed_client(c, coordinator::Input::Commit),
        }
    }

    fn perform_client(&mut self, c: usize, o: coordinator::Output) {
        use coordinator::Output as O;
        match o {
            O::Execute { to, head } => {
                let Some(job) = self.clients[c].as_ref() else {
                    return;
                };
                let cmds = job.cmds.get(&index(to)).cloned().unwrap_or_default();
                self.send(
                    End::Client(c),
                    End::Node(index(to)),
                    Msg::Exec { head, cmds },
                );
            }
            O::Send { to, req } => self.send(End::Client(c), End::Node(index(to)), Msg::Req(req)),
            O::RoundDone => {
                if let Some(job) = self.clients[c].as_mut() {
                    job.round += 1;
                }
                self.next_round(c);
            }
            O::Restart { .. } => {
                self.stats.bump("restarts");
                if let Some(job) = self.clients[c].as_mut() {
                    job.round = 0;
                    job.values.clear();
                    job.writes.clear();
                }
                self.next_round(c);
            }
            O::Done(outcome) => {
                let Some(job) = self.clients[c].as_ref() else {
                    return;
                };
                let txn = job.coord.txn();
                match outcome {
                    Outcome::Committed => {
                        self.stats.bump("committed");
                        let writes = job.writes.clone();
                        self.history.acked(txn, self.step_no, writes);
                    }
                    Outcome::NotApplied(_) => self.stats.bump("not_applied"),
                    Outcome::Unknown => self.stats.bump("unknown"),
                }
            }
        }
    }

    /// Keys spanning at least two partitions, `n` of them, from `pick`.
    fn pick_keys(&mut self, n: usize, pick: fn(usize) -> Bytes, of: usize) -> Vec<Bytes> {
        loop {
            let mut idx: Vec<usize> = Vec::new();
            while idx.len() < n {
                let i = self.rng.gen_range(0..of);
                if !idx.contains(&i) {
                    idx.push(i);
                }
            }
            let keys: Vec<Bytes> = idx.into_iter().map(pick).collect();
            if keys.iter().any(|k| part_of(k) != part_of(&keys[0])) {
                return keys;
            }
        }
    }

    pub fn start_job(&mut self, c: usize) {
        if self.clients[c].is_some() {
            return;
        }
        let kind = match self.rng.gen_range(0..4) {
            0 => {
                let k = self.pick_keys(2, account, ACCOUNTS);
                let amount = self.rng.gen_range(1..=30);
                Kind::Transfer {
                    a: k[0].clone(),
                    b: k[1].clone(),
                    amount,
                }
            }
            1 => {
                let n = self.rng.gen_range(2..=4);
                Kind::Stamp {
                    keys: self.pick_keys(n, stamp_key, STAMPS),
                }
            }
            2 => {
                let n = self.rng.gen_range(2..=4);
                let pick = if self.rng.gen_bool(0.5) {
                    account
                } else {
                    stamp_key
                };
                Kind::Snapshot {
                    keys: self.pick_keys(n, pick, 6),
                }
            }
            _ => {
                let from = account(self.rng.gen_range(0..ACCOUNTS));
                let to = loop {
                    let s = stamp_key(self.rng.gen_range(0..STAMPS));
                    if part_of(&s) != part_of(&from) {
                        break s;
                    }
                };
                Kind::Copy { from, to }
            }
        };
        let first = match &kind {
            Kind::Transfer { a, .. } => a.clone(),
            Kind::Stamp { keys } | Kind::Snapshot { keys } => keys[0].clone(),
            Kind::Copy { from, .. } => from.clone(),
        };
        let txn = TxnId {
            start_ms: self.now_ms,
            nonce: self.rng.gen(),
        };
        self.note(("start", c, txn.nonce));
        let record = gpid(part_of(&first));
        let coord = Coordinator::new(
            txn,
            record,
            self.now_ms,
            self.now_ms + DEADLINE_MS,
            self.copts.clone(),
        );
        let number = self.next_op as i64;
        self.next_op += 1;
        self.clients[c] = Some(Job {
            kind,
            coord,
            round: 0,
            number,
            values: BTreeMap::new(),
            cmds: BTreeMap::new(),
            writes: Vec::new(),
        });
        self.stats.bump("started");
        self.next_round(c);
    }

    /// A fast-path read or write of one key at its primary.
    pub fn fast(&mut self, write: bool) {
        let key = if self.rng.gen_bool(0.5) && !write {
            account(self.rng.gen_range(0..ACCOUNTS))
        } else {
            stamp_key(self.rng.gen_range(0..STAMPS))
        };
        let i = part_of(&key);
        if !self.nodes[i].alive {
            return;
        }
        let op = self.next_op;
        self.next_op += 1;
        let n = &mut self.nodes[i];
        let token = n.next_token;
        n.next_token += 1;
        let asker = Asker::Fast {
            op,
            key: key.clone(),
            write: write.then_some(op as i64),
            issued: self.step_no,
        };
        n.askers.insert(token, asker);
        self.feed(
            i,
            participant::Input::Fast {
                token,
                keys: vec![key],
                write,
            },
        );
    }

    // ---- the network ------------------------------------------------------

    fn deliver(&mut self, k: usize) {
        let p = self.net.swap_remove(k);
        self.stats.bump("delivered");
        self.log(|| format!("deliver {:?} -> {:?}: {:?}", p.from, p.to, p.msg));
        match p.to {
            End::Node(i) => self.deliver_to_node(i, p),
            End::Client(c) => self.deliver_to_client(c, p),
        }
    }

    fn deliver_to_node(&mut self, i: usize, p: Packet) {
        if !self.nodes[i].alive {
            return;
        }
        let n = &mut self.nodes[i];
        let token = n.next_token;
        n.next_token += 1;
        match p.msg {
            Msg::Exec { head, cmds } => {
                let mut locks: BTreeMap<Bytes, LockMode> = BTreeMap::new();
                for c in &cmds {
                    match c {
                        Cmd::Read(k) => {
                            locks.entry(k.clone()).or_insert(LockMode::Shared);
                        }
                        Cmd::Write(k, _) => {
                            locks.insert(k.clone(), LockMode::Exclusive);
                        }
                    }
                }
                let asker = Asker::Exec {
                    from: p.from,
                    cmds,
                    issued: self.step_no,
                    reads: Vec::new(),
                    barrier: 0,
                };
                n.askers.insert(token, asker);
                let locks = locks.into_iter().collect();
                self.feed(i, participant::Input::Execute { token, head, locks });
            }
            Msg::Req(req) => {
                let prepare = matches!(req, Request::Prepare { .. });
                n.askers.insert(
                    token,
                    Asker::Req {
                        from: p.from,
                        prepare,
                    },
                );
                self.feed(i, participant::Input::Request { token, req });
            }
            Msg::Resp(resp) => {
                let End::Node(from) = p.from else {
                    return;
                };
                let from = gpid(from);
                self.feed(i, participant::Input::Response { from, resp });
            }
            Msg::ExecReply { .. } => {}
        }
    }

    fn deliver_to_client(&mut self, c: usize, p: Packet) {
        let End::Node(from) = p.from else {
            return;
        };
        let Some(job) = self.clients[c].as_mut() else {
            return;
        };
        let resp = match p.msg {
            Msg::ExecReply { resp, reads } => {
                if resp.txn() == job.coord.txn() {
                    job.values.extend(reads);
                }
                resp
            }
            Msg::Resp(resp) => resp,
            _ => return,
        };
        let from = gpid(from);
        self.feed_client(c, coordinator::Input::Response { from, resp });
    }

    // ---- the schedule -------------------------------------------------------

    /// Advances the clock and ticks every machine.
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        let now_ms = self.now_ms;
        for i in 0..PARTS {
            self.feed(i, participant::Input::Tick { now_ms });
        }
        for c in 0..CLIENTS {
            self.feed_client(c, coordinator::Input::Tick { now_ms });
        }
    }

    /// One random step, then every check.
    pub fn step(&mut self) {
        self.step_no += 1;
        self.stats.bump("steps");
        let chaos = self.chaos.clone();
        let mut r: f64 = self.rng.gen();
        let i = self.rng.gen_range(0..PARTS);
        let c = self.rng.gen_range(0..CLIENTS);
        for (p, what) in [
            (chaos.node_crash, 0),
            (chaos.node_restart, 1),
            (chaos.coord_crash, 2),
        ] {
            if r < p {
                match what {
                    0 => self.crash_node(i),
                    1 => self.restart_node(i),
                    _ => {
                        if self.clients[c].take().is_some() {
                            self.note(("coord crash", c));
                            self.log(|| format!("CRASH coordinator c{c}"));
                            self.stats.bump("coord_crashes");
                        }
                    }
                }
                return self.check();
            }
            r -= p;
        }
        let r: f64 = self.rng.gen();
        if r < 0.45 {
            if !self.net.is_empty() {
                let k = self.rng.gen_range(0..self.net.len());
                let roll: f64 = self.rng.gen();
                self.note(("deliver", k, (roll * 1000.0) as u64));
                if roll < chaos.drop {
                    self.net.swap_remove(k);
                    self.stats.bump("dropped");
                } else {
                    if roll < chaos.drop + chaos.dup {
                        let copy = self.net[k].clone();
                        self.net.push(copy);
                        self.stats.bump("duplicated");
                    }
                    self.deliver(k);
                }
            }
        } else if r < 0.60 {
            let ms = self.rng.gen_range(1..=100);
            self.note(("advance", ms));
            self.advance(ms);
        } else if r < 0.77 {
            let count = self.rng.gen_range(1..=3);
            self.note(("durable", i, count));
            if self.nodes[i].alive {
                self.make_durable(i, count);
            }
        } else if r < 0.87 {
            self.start_job(c);
        } else {
            let write = self.rng.gen_bool(0.4);
            self.note(("fast", write));
            self.fast(write);
        }
        self.check();
    }

    fn check(&mut self) {
        self.history.check();
    }

    /// Every machine idle: no transaction, lock, wait or proposal left.
    fn quiet(&self) -> bool {
        self.net.is_empty()
            && self.nodes.iter().all(|n| {
                n.alive
                    && n.tail.is_empty()
                    && n.machine.txns().next().is_none()
                    && n.machine.locked_keys() == 0
                    && n.machine.waiting() == 0
                    && n.machine.in_flight() == 0
            })
    }

    /// Faults stop, every coordinator dies, every primary comes back; then
    /// every lock must go within a bound, and the final state must be
    /// atomic and conserve the bank's money.
    pub fn heal(&mut self) {
        let seed = self.seed;
        for c in 0..CLIENTS {
            self.clients[c] = None;
        }
        for i in 0..PARTS {
            self.restart_node(i);
        }
        let o = &self.popts;
        let bound =
            o.idle_timeout_ms.max(o.lock_wait_ms) + o.resolve_after_ms + 10 * o.resend_ms + 1_000;
        let start = self.now_ms;
        while !self.quiet() && self.now_ms <= start + bound {
            while !self.net.is_empty() {
                self.deliver(0);
                self.check();
            }
            for i in 0..PARTS {
                let n = self.nodes[i].tail.len();
                self.make_durable(i, n);
            }
            self.check();
            self.advance(50);
        }
        if !self.quiet() {
            let left: Vec<_> = self
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.machine.txns().collect::<Vec<_>>(),
                        n.machine.locked_keys(),
                    )
                })
                .collect();
            panic!("seed {seed}: not quiet {bound} ms after healing: {left:?}");
        }
        self.history.check();
        self.history.check_atomic();
        let total: i64 = (0..ACCOUNTS)
            .map(|i| {
                let k = account(i);
                self.history.latest(part_of(&k), &k).value
            })
            .sum();
        assert_eq!(
            total,
            INITIAL * ACCOUNTS as i64,
            "seed {seed}: the bank's money changed"
        );
        for (i, n) in self.nodes.iter().enumerate() {
            for (k, v) in &n.data {
                assert_eq!(
                    *v,
                    self.history.latest(i, k),
                    "seed {seed}: storage and history differ"
                );
            }
        }
    }
}

/// Runs one seed: `steps` random steps with every check, then a heal.
pub fn run_seed(seed: u64, steps: usize, popts: participant::Options) -> Sim {
    let mut sim = Sim::new(seed, popts);
    for _ in 0..steps {
        sim.step();
    }
    sim.heal();
    sim
}
