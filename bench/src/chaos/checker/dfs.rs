//! Wing & Gong's linearizability search with Lowe's memoization: a depth-
//! first search, fast when the history is linearizable.
//!
//! The history becomes a time-ordered list of call and return entries of
//! the ops that must take effect by some time. From a configuration (the set
//! of ops linearized so far and the model state) the search tries, in order,
//! each op whose call precedes the first remaining return; if the model
//! accepts it with its recorded reply, the op is linearized (its entries
//! lifted out of the list) and the search restarts from the head. Reaching a
//! return entry means that op completed before it could be placed: the
//! search backtracks. Each configuration is memoized once reached, so no
//! configuration is explored twice (Lowe); the search succeeds when every
//! op that must take effect has been placed.
//!
//! Ops of unknown outcome ("open" ops) are not in the list: they have no
//! return, so they never force a backtrack, and are never required. At each
//! configuration they are tried after the listed candidates, if invoked
//! before the first remaining return. See `prepare` for how they are
//! pruned, bounded or grouped before the search.
//!
//! Two reductions on top of Lowe's: a listed read that fits the state is
//! placed as the only move (`place_read`), and the memo prunes a
//! configuration that used more open ops than one already reached with the
//! same placed set and state (`remember`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use super::model::State;
use super::prepare::{Prepared, Span};
use super::verdict::Failure;
use super::verdict::{Budget, Limit};

/// One call or return of a bounded op, in the time-ordered list.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    call: bool,
    time: u64,
}

/// Where the search is looking for the next op to place.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    /// At a configuration just reached: first look for a read to place.
    Fresh,
    /// At this entry of the list.
    List(usize),
    /// At this open op (index into `Search::open`), the first remaining
    /// return being at list entry `frontier`.
    Open { next: usize, frontier: usize },
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    op: usize,
    before: State,
    /// Where to resume once this op is taken back.
    resume: Cursor,
    /// Placed as the only move worth trying: once it is taken back, the
    /// configuration below has failed too.
    forced: bool,
}

/// What came of trying to place an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    Yes,
    /// The model refuses it here (or it is an open op not worth placing).
    Refused,
    /// The configuration it leads to was already explored.
    Seen,
}

/// The deepest point the search reached: the longest linearizable prefix.
#[derive(Debug, Clone)]
struct Best {
    frontier: usize,
    prefix: Vec<usize>,
    blocked: usize,
    candidates: Vec<usize>,
}

/// A memoized configuration. `data` holds the words of the linearized-set
/// bitset from `low` on (all words before `low` are full, all after are
/// empty), then the count placed of each open class.
struct Memo {
    state: State,
    low: u32,
    words: u32,
    data: Box<[u64]>,
}

/// The cache is keyed by an already well-mixed hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn state_hash(s: State) -> u64 {
    match s {
        State::Nil => mix(1),
        State::Junk => mix(2),
        State::Str(id) => mix(3 ^ (u64::from(id) << 8)),
        State::Int(i) => mix(mix(4) ^ i as u64),
    }
}

pub(super) struct Search<'a> {
    p: &'a Prepared,
    entries: Vec<Entry>,
    /// Doubly linked list over `entries`; index `entries.len()` is the head.
    next: Vec<usize>,
    prev: Vec<usize>,
    call_at: Vec<usize>,
    ret_at: Vec<usize>,
    /// Open ops (indices into `p.ops`), by invocation.
    open: Vec<usize>,
    /// Bit of each bounded op in `bits`.
    bit: Vec<usize>,
    bits: Vec<u64>,
    zobrist: Vec<u64>,
    bits_hash: u64,
    counts: Vec<u64>,
    state: State,
    stack: Vec<Frame>,
    /// Bounded ops not yet placed.
    pending: usize,
    cache: HashMap<u64, Vec<Memo>, BuildHasherDefault<IdHasher>>,
    pub(crate) states: u64,
    best: Option<Best>,
}

impl<'a> Search<'a> {
    pub(crate) fn new(p: &'a Prepared) -> Self {
        let n = p.ops.len();
        let mut entries = Vec::new();
        let mut open = Vec::new();
        let mut bit = vec![usize::MAX; n];
        let mut bounded = 0;
        for (i, o) in p.ops.iter().enumerate() {
            match o.span {
                Span::Until(t) => {
                    entries.push(Entry {
                        op: i,
                        call: true,
                        time: o.invoke,
                    });
                    entries.push(Entry {
                        op: i,
                        call: false,
                        time: t,
                    });
                    bit[i] = bounded;
                    bounded += 1;
                }
                Span::Open { .. } => open.push(i),
            }
        }
        // Calls before returns at equal times: touching ops count as
        // concurrent, which never invents a violation.
        entries.sort_by_key(|e| (e.time, !e.call, e.op));
        let head = entries.len();
        let mut call_at = vec![usize::MAX; n];
        let mut ret_at = vec![usize::MAX; n];
        for (i, e) in entries.iter().enumerate() {
            if e.call {
                call_at[e.op] = i;
            } else {
                ret_at[e.op] = i;
            }
        }
        let next = (0..=head)
            .map(|i| if i == head { 0 } else { i + 1 })
            .collect();
        let prev = (0..=head)
            .map(|i| if i == 0 { head } else { i - 1 })
            .collect();
        let mut seed = 0x5eed_u64;
        let zobrist = (0..bounded)
            .map(|_| {
                seed = mix(seed);
                seed
            })
            .collect();
        Search {
            p,
            entries,
            next,
            prev,
            call_at,
            ret_at,
            open,
            bit,
            bits: vec![0; bounded.div_ceil(64)],
            zobrist,
            bits_hash: 0,
            counts: vec![0; p.classes],
            state: State::Nil,
            stack: Vec::new(),
            pending: bounded,
            cache: HashMap::default(),
            states: 0,
            best: None,
        }
    }

    fn head(&self) -> usize {
        self.entries.len()
    }

    fn unlink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }

    /// Marks op `i` placed or not, in the bitset or its class count.
    fn mark(&mut self, i: usize, placed: bool) {
        match self.p.ops[i].span {
            Span::Until(_) => {
                let b = self.bit[i];
                self.bits[b / 64] ^= 1 << (b % 64);
                self.bits_hash ^= self.zobrist[b];
                if placed {
                    self.pending -= 1;
                } else {
                    self.pending += 1;
                }
            }
            Span::Open { class, .. } => {
                if placed {
                    self.counts[class] += 1;
                } else {
                    self.counts[class] -= 1;
                }
            }
        }
    }

    /// The non-trivial window of the bitset.
    fn window(&self) -> (usize, usize) {
        let low = self
            .bits
            .iter()
            .position(|&w| w != !0)
            .unwrap_or(self.bits.len());
        let high = self
            .bits
            .iter()
            .rposition(|&w| w != 0)
            .map_or(low, |h| (h + 1).max(low));
        (low, high)
    }

    /// Records the current configuration with `state`; false if it was
    /// already reached, or is dominated by one already reached (and so
    /// already explored, or being explored higher up the stack).
    ///
    /// Dominance: with the same placed set and state, having consumed more
    /// of an open class never helps, since any later use of a consumed
    /// member can use an earlier-invoked unused member instead. So a
    /// configuration is pruned when one with the same bitset and state and
    /// componentwise smaller or equal class counts was reached.
    fn remember(&mut self, state: State) -> bool {
        let (low, high) = self.window();
        let hash = self.bits_hash ^ state_hash(state);
        let words = &self.bits[low..high];
        let counts = &self.counts;
        let bucket = self.cache.entry(hash).or_default();
        let same_config = |m: &Memo| {
            m.state == state
                && m.low as usize == low
                && m.words as usize == words.len()
                && m.data[..words.len()] == *words
        };
        let dominated = bucket.iter().any(|m| {
            same_config(m)
                && m.data[words.len()..]
                    .iter()
                    .zip(counts)
                    .all(|(old, new)| old <= new)
        });
        if dominated {
            return false;
        }
        // Entries the new one dominates can never prune anything it won't.
        bucket.retain(|m| {
            !(same_config(m)
                && m.data[words.len()..]
                    .iter()
                    .zip(counts)
                    .all(|(old, new)| old >= new))
        });
        let mut data = Vec::with_capacity(words.len() + counts.len());
        data.extend_from_slice(words);
        data.extend_from_slice(counts);
        bucket.push(Memo {
            state,
            low: low as u32,
            words: words.len() as u32,
            data: data.into_boxed_slice(),
        });
        self.states += 1;
        true
    }

    /// Tries to place op `i` next; if placed it is on the stack.
    fn place(&mut self, i: usize, resume: Cursor, forced: bool) -> Placed {
        let o = self.p.ops[i];
        if let Span::Open { class, rank } = o.span {
            if self.counts[class] != u64::from(rank) {
                return Placed::Refused;
            }
        }
        let Some(after) = o.step.apply(self.state) else {
            return Placed::Refused;
        };
        // An optional op that changes nothing (DEL of nothing, rewriting an
        // unread value) is never needed: leaving it out keeps more options.
        if o.is_open() && after == self.state {
            return Placed::Refused;
        }
        self.mark(i, true);
        if !self.remember(after) {
            self.mark(i, false);
            return Placed::Seen;
        }
        self.stack.push(Frame {
            op: i,
            before: self.state,
            resume,
            forced,
        });
        self.state = after;
        if !o.is_open() {
            self.unlink(self.call_at[i]);
            self.unlink(self.ret_at[i]);
        }
        Placed::Yes
    }

    /// Takes back placed ops up to and including the last one that was a
    /// choice; where to resume, or None if there is no choice left.
    fn backtrack(&mut self) -> Option<Cursor> {
        loop {
            let f = self.stack.pop()?;
            self.state = f.before;
            self.mark(f.op, false);
            if !self.p.ops[f.op].is_open() {
                self.relink(self.ret_at[f.op]);
                self.relink(self.call_at[f.op]);
            }
            if !f.forced {
                return Some(f.resume);
            }
        }
    }

    /// At a fresh configuration: a listed read (an op that leaves the
    /// state as it is wherever it applies) that fits the current state can
    /// be placed first in any completion, since every op that must precede
    /// it is placed already (its call comes before the first remaining
    /// return) and it changes nothing for the ops after it. So it is the
    /// only move to try. Returns Placed::Seen if that move was already
    /// explored, which means this configuration fails too.
    fn place_read(&mut self) -> Placed {
        let head = self.head();
        let mut e = self.next[head];
        while e != head && self.entries[e].call {
            let op = self.entries[e].op;
            let step = self.p.ops[op].step;
            if step.is_read() && step.apply(self.state) == Some(self.state) {
                match self.place(op, Cursor::Fresh, true) {
                    Placed::Refused => {}
                    placed => return placed,
                }
            }
            e = self.next[e];
        }
        Placed::Refused
    }

    /// Ok(true) linearizable, Ok(false) not, Err when the budget ran out.
    pub(crate) fn run(&mut self, budget: Budget, started: Instant) -> Result<bool, Limit> {
        let mut cursor = Cursor::Fresh;
        let mut steps = 0u64;
        loop {
            if self.pending == 0 {
                return Ok(true);
            }
            if self.states > budget.max_states {
                return Err(Limit::States);
            }
            steps += 1;
            if steps.is_multiple_of(1024) && started.elapsed() > budget.max_time {
                return Err(Limit::Time);
            }
            match cursor {
                Cursor::Fresh => match self.place_read() {
                    Placed::Yes => {}
                    Placed::Refused => cursor = Cursor::List(self.next[self.head()]),
                    Placed::Seen => match self.backtrack() {
                        Some(c) => cursor = c,
                        None => return Ok(false),
                    },
                },
                Cursor::List(e) if e == self.head() => {
                    // Unreachable: a pending op's return is still listed.
                    match self.backtrack() {
                        Some(c) => cursor = c,
                        None => return Ok(false),
                    }
                }
                Cursor::List(e) if self.entries[e].call => {
                    let op = self.entries[e].op;
                    cursor = match self.place(op, Cursor::List(self.next[e]), false) {
                        Placed::Yes => Cursor::Fresh,
                        Placed::Refused | Placed::Seen => Cursor::List(self.next[e]),
                    };
                }
                Cursor::List(frontier) => {
                    cursor = Cursor::Open { next: 0, frontier };
                }
                Cursor::Open { next, frontier } => {
                    let deadline = self.entries[frontier].time;
                    match self.open.get(next).copied() {
                        Some(op) if self.p.ops[op].invoke <= deadline => {
                            let resume = Cursor::Open {
                                next: next + 1,
                                frontier,
                            };
                            cursor = match self.place(op, resume, false) {
                                Placed::Yes => Cursor::Fresh,
                                Placed::Refused | Placed::Seen => resume,
                            };
                        }
                        _ => {
                            self.note_blocked(frontier);
                            match self.backtrack() {
                                Some(c) => cursor = c,
                                None => return Ok(false),
                            }
                        }
                    }
                }
            }
        }
    }

    /// Keeps the configuration if it explains more of the history than any
    /// before: the op returning at `frontier` could not be placed.
    fn note_blocked(&mut self, frontier: usize) {
        if self.best.as_ref().is_some_and(|b| b.frontier >= frontier) {
            return;
        }
        let mut candidates = Vec::new();
        let mut e = self.next[self.head()];
        while e != frontier && e != self.head() {
            candidates.push(self.entries[e].op);
            e = self.next[e];
        }
        let deadline = self.entries[frontier].time;
        for &op in &self.open {
            if let Span::Open { class, rank } = self.p.ops[op].span {
                if self.p.ops[op].invoke <= deadline && self.counts[class] == u64::from(rank) {
                    candidates.push(op);
                }
            }
        }
        self.best = Some(Best {
            frontier,
            prefix: self.stack.iter().map(|f| f.op).collect(),
            blocked: self.entries[frontier].op,
            candidates,
        });
    }

    /// The deepest point reached, once the search failed.
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.best.as_ref().map(|b| Failure {
            blocked: b.blocked,
            prefix: b.prefix.clone(),
            in_flight: b
                .candidates
                .iter()
                .copied()
                .filter(|&i| i != b.blocked)
                .collect(),
        })
    }
}

#[cfg(test)]
impl Search<'_> {
    /// Which input ops the search sees as open (for tests of `prepare`).
    fn open_sources(&self) -> Vec<usize> {
        self.open.iter().map(|&i| self.p.ops[i].src).collect()
    }
}

#[cfg(test)]
pub(super) fn prepared_summary(
    ops: &[crate::chaos::history::Op],
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let p = super::prepare::prepare(ops);
    let s = Search::new(&p);
    let kept = p.ops.iter().map(|o| o.src).collect();
    let forced = p
        .ops
        .iter()
        .filter(|o| o.forced_by_read)
        .map(|o| o.src)
        .collect();
    (kept, s.open_sources(), forced)
}
