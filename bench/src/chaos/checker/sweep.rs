//! Linearizability by a sweep over time with just-in-time linearization
//! (Lowe), memoized on configurations.
//!
//! Events (invocations and completions) are visited in time order while
//! keeping the set of all configurations a linearization of the history so
//! far can be in. A configuration is the model state, the in-flight ops
//! already placed ahead of their completion, and how many of each class of
//! open (unknown-outcome) ops have been used. Ops are placed only when a
//! completion forces it: at the completion of op `x`, each configuration
//! is extended by every sequence of in-flight or open ops the model
//! accepts that ends with `x`. Every linearization's prefix up to `x` is
//! such a sequence, so nothing is missed; the set becomes empty at the
//! first completion no linearization explains, which is where the
//! violation is reported.
//!
//! Because every op that completed is placed in every configuration, a
//! configuration only names ops in flight (a bitmask of slots), and the
//! set's size depends on concurrency, not on history length. Reductions
//! that keep it small, each keeping at least one configuration from every
//! class of equivalent ones:
//! - a read (GET, or DEL that finds nothing) that fits the current state is
//!   placed at once: it changes nothing, and every op that must precede it
//!   has completed, so any linearization can be rearranged to place it now;
//! - open ops of a class are used in invocation order, and an open op that
//!   would not change the state is never used (see `prepare`);
//! - of two configurations that differ only in class counts, the one that
//!   used no more of every class is kept (the unused members can stand in
//!   for anything the other does).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::Rc;
use std::time::Instant;

use super::model::{Cmd, Expect, State};
use super::prepare::{Prepared, Span};
use super::verdict::{Answer, Failure};
use super::verdict::{Budget, Limit};

/// Deterministic hashing, so explanations and timings repeat.
type Map<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

/// In-flight ops placed ahead of completion, one bit per slot.
type Slots = u128;

/// More ops than this in flight at once on one key are not searched.
pub(super) const MAX_IN_FLIGHT: usize = Slots::BITS as usize;

/// A linearization, newest op first, sharing prefixes between
/// configurations.
struct Node {
    op: usize,
    prev: Option<Rc<Node>>,
}

#[derive(Clone)]
struct Config {
    early: Slots,
    state: State,
    counts: Rc<[u32]>,
    witness: Option<Rc<Node>>,
}

impl Config {
    fn then(&self, op: usize, early: Slots, state: State, counts: Rc<[u32]>) -> Config {
        Config {
            early,
            state,
            counts,
            witness: Some(Rc::new(Node {
                op,
                prev: self.witness.clone(),
            })),
        }
    }

    /// The ops placed, oldest first.
    fn linearization(&self) -> Vec<usize> {
        let mut ops = Vec::new();
        let mut node = self.witness.as_deref();
        while let Some(n) = node {
            ops.push(n.op);
            node = n.prev.as_deref();
        }
        ops.reverse();
        ops
    }
}

fn leq(a: &[u32], b: &[u32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y)
}

/// Class counts seen per (early, state): an antichain, since a
/// configuration is dominated by one that used no more of each class.
#[derive(Default)]
struct Seen(Map<(Slots, State), Vec<Rc<[u32]>>>);

impl Seen {
    /// False if `c` is dominated by a configuration already seen.
    fn insert(&mut self, c: &Config) -> bool {
        let list = self.0.entry((c.early, c.state)).or_default();
        if list.iter().any(|old| leq(old, &c.counts)) {
            return false;
        }
        list.retain(|old| !leq(&c.counts, old));
        list.push(c.counts.clone());
        true
    }
}

/// A set of configurations, without dominated ones.
#[derive(Default)]
struct Frontier(Map<(Slots, State), Vec<Config>>);

impl Frontier {
    fn insert(&mut self, c: Config) {
        let list = self.0.entry((c.early, c.state)).or_default();
        if list.iter().any(|old| leq(&old.counts, &c.counts)) {
            return;
        }
        list.retain(|old| !leq(&c.counts, &old.counts));
        list.push(c);
    }

    fn iter(&self) -> impl Iterator<Item = &Config> {
        self.0.values().flatten()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Call(usize),
    Return(usize),
}

pub(super) struct Sweep<'a> {
    p: &'a Prepared,
    /// Configurations memoized, for the budget and the report.
    pub(crate) states: u64,
    slot: Vec<Option<u32>>,
    used_slots: Slots,
    /// Bounded ops invoked and not completed, by invocation.
    in_flight: Vec<usize>,
    /// Open ops of each class, by rank.
    members: Vec<Vec<usize>>,
    /// Open ops of each class invoked so far.
    called: Vec<u32>,
    budget: Budget,
    started: Instant,
}

impl<'a> Sweep<'a> {
    pub(crate) fn new(p: &'a Prepared, budget: Budget, started: Instant) -> Self {
        let mut members = vec![Vec::new(); p.classes];
        for (i, o) in p.ops.iter().enumerate() {
            if let Span::Open { class, .. } = o.span {
                // `prepare` ranks in this same order.
                members[class].push(i);
            }
        }
        Sweep {
            p,
            states: 0,
            slot: vec![None; p.ops.len()],
            used_slots: 0,
            in_flight: Vec::new(),
            members,
            called: vec![0; p.classes],
            budget,
            started,
        }
    }

    fn bit(&self, op: usize) -> Slots {
        self.slot[op].map_or(0, |s| 1 << s)
    }

    fn events(&self) -> Vec<Event> {
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(self.p.ops.len() * 2);
        for (i, o) in self.p.ops.iter().enumerate() {
            events.push((o.invoke, 0, i));
            if let Span::Until(t) = o.span {
                events.push((t, 1, i));
            }
        }
        // Invocations before completions at equal times: touching ops are
        // concurrent, which never invents a violation.
        events.sort_unstable();
        events
            .into_iter()
            .map(|(_, kind, i)| {
                if kind == 0 {
                    Event::Call(i)
                } else {
                    Event::Return(i)
                }
            })
            .collect()
    }

    fn spend(&mut self) -> Result<(), Limit> {
        self.states += 1;
        if self.states > self.budget.max_states {
            return Err(Limit::States);
        }
        if self.states.is_multiple_of(1024) && self.started.elapsed() > self.budget.max_time {
            return Err(Limit::Time);
        }
        Ok(())
    }

    pub(crate) fn run(&mut self) -> Answer {
        let mut frontier = Frontier::default();
        frontier.insert(Config {
            early: 0,
            state: State::Nil,
            counts: vec![0; self.p.classes].into(),
            witness: None,
        });
        for event in self.events() {
            let next = match event {
                Event::Call(i) => self.call(i, frontier),
                Event::Return(x) => {
                    let next = self.complete(x, &frontier);
                    if next.as_ref().is_ok_and(Frontier::is_empty) {
                        return Answer::NotLinearizable(self.failure(x, &frontier));
                    }
                    next
                }
            };
            frontier = match next {
                Ok(f) => f,
                Err(limit) => return Answer::Exhausted(limit),
            };
        }
        Answer::Linearizable
    }

    fn call(&mut self, i: usize, frontier: Frontier) -> Result<Frontier, Limit> {
        let o = self.p.ops[i];
        if let Span::Open { class, .. } = o.span {
            self.called[class] += 1;
            return Ok(frontier);
        }
        let free = (!self.used_slots).trailing_zeros();
        if free as usize >= MAX_IN_FLIGHT {
            return Err(Limit::Concurrency);
        }
        self.used_slots |= 1 << free;
        self.slot[i] = Some(free);
        self.in_flight.push(i);
        if !o.step.is_read() {
            return Ok(frontier);
        }
        // Place the new read wherever it fits.
        let mut next = Frontier::default();
        for c in frontier.iter() {
            match o.step.apply(c.state) {
                Some(s) if s == c.state => {
                    self.spend()?;
                    next.insert(c.then(i, c.early | self.bit(i), s, c.counts.clone()));
                }
                _ => next.insert(c.clone()),
            }
        }
        Ok(next)
    }

    /// The configurations once `x` completed: each one extended by every
    /// accepted sequence of in-flight or open ops ending with `x`.
    fn complete(&mut self, x: usize, frontier: &Frontier) -> Result<Frontier, Limit> {
        let mut next = Frontier::default();
        if self.slot[x].is_none() {
            // Completed before it was invoked: an unknown SET whose value
            // was read before the SET began. Nothing explains it.
            return Ok(next);
        }
        let xbit = self.bit(x);
        let mut seen = Seen::default();
        let mut stack: Vec<Config> = Vec::new();
        for c in frontier.iter() {
            if c.early & xbit != 0 {
                let mut done = c.clone();
                done.early &= !xbit;
                next.insert(done);
                continue;
            }
            if seen.insert(c) {
                stack.push(c.clone());
            }
            while let Some(m) = stack.pop() {
                self.spend()?;
                let m = self.place_reads(m, x);
                let step = self.p.ops[x].step;
                if let Some(s) = step.apply(m.state) {
                    next.insert(m.then(x, m.early, s, m.counts.clone()));
                }
                for &y in &self.in_flight {
                    let ybit = self.bit(y);
                    let step = self.p.ops[y].step;
                    if y == x || m.early & ybit != 0 || step.is_read() {
                        continue;
                    }
                    if let Some(s) = step.apply(m.state) {
                        let n = m.then(y, m.early | ybit, s, m.counts.clone());
                        if seen.insert(&n) {
                            stack.push(n);
                        }
                    }
                }
                for (k, members) in self.members.iter().enumerate() {
                    let rank = m.counts[k];
                    if rank >= self.called[k] || Some(k) == self.p.incr_class {
                        continue;
                    }
                    let y = members[rank as usize];
                    match self.p.ops[y].step.apply(m.state) {
                        // Open ops that change nothing are never needed.
                        Some(s) if s != m.state => {
                            let mut counts = m.counts.to_vec();
                            counts[k] += 1;
                            let n = m.then(y, m.early, s, counts.into());
                            if seen.insert(&n) {
                                stack.push(n);
                            }
                        }
                        _ => {}
                    }
                }
                for n in self.incr_runs(&m, x) {
                    if seen.insert(&n) {
                        stack.push(n);
                    }
                }
            }
        }
        self.in_flight.retain(|&i| i != x);
        self.used_slots &= !xbit;
        Ok(next)
    }

    /// Runs of open INCRs worth trying from `m`: only as many as make the
    /// state one some op in flight (or `x`) accepts. In a run of open ops
    /// only the last reset (SET, DEL) and the INCRs after it matter, and
    /// the INCRs only for the op that follows the run; so instead of one
    /// configuration per possible count, only the counts some op needs.
    fn incr_runs(&self, m: &Config, x: usize) -> Vec<Config> {
        let Some(k) = self.p.incr_class else {
            return Vec::new();
        };
        let base = match m.state {
            State::Nil => 0,
            State::Int(j) => j,
            State::Str(_) | State::Junk => return Vec::new(),
        };
        let available = i128::from(self.called[k]) - i128::from(m.counts[k]);
        let mut targets: Vec<i64> = Vec::new();
        let candidates = std::iter::once(x).chain(
            self.in_flight
                .iter()
                .copied()
                .filter(|&y| y != x && m.early & self.bit(y) == 0),
        );
        for y in candidates {
            let step = self.p.ops[y].step;
            let target = match (step.cmd, step.expect) {
                (Cmd::Incr, Expect::Int(n)) => n.checked_sub(1),
                (Cmd::Get, Expect::Value(State::Int(v))) => Some(v),
                (Cmd::Del, Expect::Existed(true)) if m.state == State::Nil => Some(1),
                _ => None,
            };
            if let Some(t) = target {
                let need = i128::from(t) - i128::from(base);
                if need >= 1 && need <= available && !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        targets
            .into_iter()
            .map(|t| {
                let mut n = m.clone();
                let mut counts = m.counts.to_vec();
                let from = counts[k];
                counts[k] += (i128::from(t) - i128::from(base)) as u32;
                let counts: Rc<[u32]> = counts.into();
                for rank in from..counts[k] {
                    n = n.then(
                        self.members[k][rank as usize],
                        n.early,
                        n.state,
                        counts.clone(),
                    );
                }
                n.state = State::Int(t);
                n
            })
            .collect()
    }

    /// Places every in-flight read other than `x` that fits the state.
    fn place_reads(&self, mut m: Config, x: usize) -> Config {
        for &y in &self.in_flight {
            let ybit = self.bit(y);
            let step = self.p.ops[y].step;
            if y != x
                && m.early & ybit == 0
                && step.is_read()
                && step.apply(m.state) == Some(m.state)
            {
                m = m.then(y, m.early | ybit, m.state, m.counts.clone());
            }
        }
        m
    }

    /// Explains why no configuration in `before` could take the
    /// completion of `x`.
    fn failure(&self, x: usize, before: &Frontier) -> Failure {
        // The configuration with the most placed: the most context.
        let Some(c) = before.iter().max_by_key(|c| c.early.count_ones()) else {
            return Failure {
                blocked: x,
                prefix: Vec::new(),
                in_flight: Vec::new(),
            };
        };
        let mut in_flight: Vec<usize> = self
            .in_flight
            .iter()
            .copied()
            .filter(|&y| y != x && c.early & self.bit(y) == 0)
            .collect();
        for (k, members) in self.members.iter().enumerate() {
            let rank = c.counts[k];
            if rank < self.called[k] {
                in_flight.push(members[rank as usize]);
            }
        }
        Failure {
            blocked: x,
            prefix: c.linearization(),
            in_flight,
        }
    }
}
