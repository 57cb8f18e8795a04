//! What happened in a simulation, and the properties checked on it after
//! every step: atomicity, isolation, durability, one decision.
//!
//! The history is the ground truth the machines cannot see: which PREPAREs
//! were durable (so whether T is committed by the parallel-commit rule),
//! every decision written anywhere, the order of versions of every key as
//! applied, and every read a client got.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::txn::id::TxnId;
use crate::txn::record::Decision;

/// Who wrote a version, or read one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// The initial value.
    Init,
    Txn(TxnId),
    /// A fast-path command, by number.
    Fast(u64),
}

/// One value of a key, as applied at its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub writer: Op,
    pub value: i64,
}

/// A read a client got.
#[derive(Clone, Debug)]
struct Read {
    reader: Op,
    part: usize,
    key: Bytes,
    writer: Op,
}

/// The history and its checker. Every method that records an event asserts
/// what must hold at that moment; [`History::check`] asserts the rest.
#[derive(Debug, Default)]
pub struct History {
    pub seed: u64,
    /// Versions of each (partition, key), in apply order (`Init` first).
    chains: BTreeMap<(usize, Bytes), Vec<Version>>,
    reads: Vec<Read>,
    /// Operations in the serialization graph: committed transactions and
    /// fast-path commands that took effect.
    committed: BTreeSet<Op>,
    /// Committed by the rule: every PREPARE and the Staging record were
    /// durable at once, or the one COMMIT_ONE applied.
    by_rule: BTreeSet<TxnId>,
    staging: BTreeMap<TxnId, Vec<usize>>,
    prepared_ever: BTreeSet<(TxnId, usize)>,
    refused: BTreeSet<(TxnId, usize)>,
    decisions: BTreeMap<TxnId, Decision>,
    /// Where each transaction's writes were applied, and where they must be.
    applied: BTreeMap<TxnId, BTreeSet<usize>>,
    single_writer: BTreeMap<TxnId, usize>,
    /// Acknowledged transactions: when, and what they wrote.
    acked: BTreeMap<TxnId, u64>,
    acked_writes: BTreeMap<(usize, Bytes), Vec<(TxnId, u64)>>,
    /// The graph changed since the last cycle check.
    dirty: bool,
}

impl History {
    pub fn new(seed: u64) -> Self {
        History {
            seed,
            ..History::default()
        }
    }

    /// The initial value of a key.
    pub fn init(&mut self, part: usize, key: Bytes, value: i64) {
        let v = Version {
            writer: Op::Init,
            value,
        };
        self.chains.insert((part, key), vec![v]);
    }

    /// The latest applied version.
    pub fn latest(&self, part: usize, key: &Bytes) -> Version {
        self.chains
            .get(&(part, key.clone()))
            .and_then(|c| c.last().copied())
            .unwrap_or(Version {
                writer: Op::Init,
                value: 0,
            })
    }

    fn decided_by_rule(&mut self, txn: TxnId) {
        let seed = self.seed;
        assert_ne!(
            self.decisions.get(&txn),
            Some(&Decision::Aborted),
            "seed {seed}: {txn} committed by the rule after it was aborted"
        );
        self.by_rule.insert(txn);
    }

    fn eval_rule(&mut self, txn: TxnId) {
        let Some(writers) = self.staging.get(&txn) else {
            return;
        };
        if writers
            .iter()
            .all(|w| self.prepared_ever.contains(&(txn, *w)))
        {
            self.decided_by_rule(txn);
        }
    }

    /// `prepared/T` became durable at `part`.
    pub fn prepared(&mut self, txn: TxnId, part: usize) {
        let seed = self.seed;
        assert!(
            !self.refused.contains(&(txn, part)),
            "seed {seed}: {txn}'s PREPARE was refused at {part}, then accepted"
        );
        self.prepared_ever.insert((txn, part));
        self.eval_rule(txn);
    }

    /// `record/T = Staging` became durable.
    pub fn staging(&mut self, txn: TxnId, writers: Vec<usize>) {
        self.staging.insert(txn, writers);
        self.eval_rule(txn);
    }

    /// A participant answered a PREPARE with a refusal.
    pub fn refused(&mut self, txn: TxnId, part: usize) {
        self.refused.insert((txn, part));
    }

    /// A decision became durable (`decided/T` or `record/T`) at `part`.
    pub fn decision(&mut self, txn: TxnId, decision: Decision, part: usize) {
        let seed = self.seed;
        let prev = *self.decisions.entry(txn).or_insert(decision);
        assert_eq!(
            prev, decision,
            "seed {seed}: {txn} decided {decision:?} at {part}, {prev:?} elsewhere"
        );
        let by_rule = self.by_rule.contains(&txn);
        assert_eq!(
            by_rule,
            decision == Decision::Committed,
            "seed {seed}: {txn} decided {decision:?} at {part}, committed by the rule: {by_rule}"
        );
    }

    fn push_version(&mut self, part: usize, key: Bytes, v: Version) {
        self.chains.entry((part, key)).or_default().push(v);
        self.dirty = true;
    }

    /// T's writes were applied at `part`. `one` when by COMMIT_ONE, which
    /// commits T in the same step.
    pub fn applied(&mut self, txn: TxnId, part: usize, writes: Vec<(Bytes, i64)>, one: bool) {
        let seed = self.seed;
        if one {
            self.single_writer.insert(txn, part);
            self.decided_by_rule(txn);
        }
        assert!(
            self.by_rule.contains(&txn),
            "seed {seed}: {txn} applied at {part} but not committed by the rule"
        );
        assert!(
            self.applied.entry(txn).or_default().insert(part),
            "seed {seed}: {txn} applied twice at {part}"
        );
        self.committed.insert(Op::Txn(txn));
        for (key, value) in writes {
            let writer = Op::Txn(txn);
            self.push_version(part, key, Version { writer, value });
        }
    }

    /// A fast-path write became durable.
    pub fn fast_write(&mut self, op: u64, part: usize, key: Bytes, value: i64) {
        self.committed.insert(Op::Fast(op));
        let writer = Op::Fast(op);
        self.push_version(part, key, Version { writer, value });
    }

    fn position(&self, part: usize, key: &Bytes, writer: Op) -> Option<usize> {
        self.chains
            .get(&(part, key.clone()))?
            .iter()
            .position(|v| v.writer == writer)
    }

    /// A client got `writer`'s version of `key`; the read was issued at
    /// step `issued`.
    pub fn read(&mut self, reader: Op, part: usize, key: Bytes, writer: Op, issued: u64) {
        let seed = self.seed;
        let Some(pos) = self.position(part, &key, writer) else {
            panic!("seed {seed}: {reader:?} read {key:?}@{part} from {writer:?}, which is not applied there");
        };
        // Strict serializability: an acknowledged write is seen by every
        // read issued after the acknowledgement.
        for (txn, at) in self
            .acked_writes
            .get(&(part, key.clone()))
            .into_iter()
            .flatten()
        {
            if *at < issued {
                let seen = self
                    .position(part, &key, Op::Txn(*txn))
                    .is_some_and(|p| p <= pos);
                assert!(
                    seen,
                    "seed {seed}: {reader:?} read {key:?}@{part} from {writer:?}, missing {txn} acknowledged before the read"
                );
            }
        }
        if matches!(reader, Op::Fast(_)) {
            self.committed.insert(reader);
        }
        self.reads.push(Read {
            reader,
            part,
            key,
            writer,
        });
        self.dirty = true;
    }

    /// The coordinator answered the client: committed.
    pub fn acked(&mut self, txn: TxnId, step: u64, writes: Vec<(usize, Bytes)>) {
        let seed = self.seed;
        assert!(
            writes.is_empty() || self.by_rule.contains(&txn),
            "seed {seed}: {txn} acknowledged but not committed by the rule"
        );
        self.acked.insert(txn, step);
        self.committed.insert(Op::Txn(txn));
        for w in writes {
            self.acked_writes.entry(w).or_default().push((txn, step));
        }
        self.dirty = true;
    }

    /// Every acknowledged transaction is still committed; no cycle among
    /// committed operations.
    pub fn check(&mut self) {
        let seed = self.seed;
        for txn in self.acked.keys() {
            assert_ne!(
                self.decisions.get(txn),
                Some(&Decision::Aborted),
                "seed {seed}: acknowledged {txn} aborted"
            );
        }
        if std::mem::take(&mut self.dirty) {
            if let Some(cycle) = self.find_cycle() {
                panic!("seed {seed}: dependency cycle among committed operations: {cycle:?}");
            }
        }
    }

    /// The serialization graph: version order (ww), reads-from (wr) and
    /// anti-dependencies (rw), over committed operations.
    fn graph(&self) -> BTreeMap<Op, BTreeSet<Op>> {
        let mut g: BTreeMap<Op, BTreeSet<Op>> = BTreeMap::new();
        let mut edge = |a: Op, b: Op| {
            if a != b && a != Op::Init && b != Op::Init {
                g.entry(a).or_default().insert(b);
            }
        };
        for chain in self.chains.values() {
            for w in chain.windows(2) {
                edge(w[0].writer, w[1].writer);
            }
        }
        for r in self
            .reads
            .iter()
            .filter(|r| self.committed.contains(&r.reader))
        {
            let Some(chain) = self.chains.get(&(r.part, r.key.clone())) else {
                continue;
            };
            let Some(pos) = chain.iter().position(|v| v.writer == r.writer) else {
                continue;
            };
            edge(r.writer, r.reader);
            if let Some(next) = chain.get(pos + 1) {
                edge(r.reader, next.writer);
            }
        }
        g
    }

    fn find_cycle(&self) -> Option<Vec<Op>> {
        let g = self.graph();
        // 0 unvisited, 1 on the stack, 2 done.
        let mut color: BTreeMap<Op, u8> = BTreeMap::new();
        for start in g.keys() {
            if color.get(start).copied().unwrap_or(0) != 0 {
                continue;
            }
            let mut stack: Vec<(Op, Vec<Op>)> = vec![(*start, Self::succ(&g, *start))];
            color.insert(*start, 1);
            while let Some((node, next)) = stack.last_mut() {
                let node = *node;
                match next.pop() {
                    Some(n) => match color.get(&n).copied().unwrap_or(0) {
                        0 => {
                            color.insert(n, 1);
                            stack.push((n, Self::succ(&g, n)));
                        }
                        1 => {
                            let from = stack.iter().position(|(o, _)| *o == n).unwrap_or(0);
                            return Some(stack[from..].iter().map(|(o, _)| *o).collect());
                        }
                        _ => {}
                    },
                    None => {
                        color.insert(node, 2);
                        stack.pop();
                    }
                }
            }
        }
        None
    }

    fn succ(g: &BTreeMap<Op, BTreeSet<Op>>, n: Op) -> Vec<Op> {
        g.get(&n)
            .map_or_else(Vec::new, |s| s.iter().copied().collect())
    }

    /// At quiescence: every committed transaction applied at every writer,
    /// every other one nowhere (checked as it happened).
    pub fn check_atomic(&self) {
        let seed = self.seed;
        for txn in &self.by_rule {
            let want: BTreeSet<usize> = match self.single_writer.get(txn) {
                Some(w) => [*w].into(),
                None => self
                    .staging
                    .get(txn)
                    .map(|w| w.iter().copied().collect())
                    .unwrap_or_default(),
            };
            let got = self.applied.get(txn).cloned().unwrap_or_default();
            assert_eq!(
                got, want,
                "seed {seed}: {txn} applied at {got:?} of {want:?}"
            );
        }
    }
}
