//! The plan of a transaction across partitions: which commands go to which
//! partition in which round, and how their replies become the client's.
//!
//! Pure: built from the commands, the watched keys and a key's partition;
//! the driver ([`super::driver`]) asks it for each round's batches and
//! feeds it the replies ([`Progress`]).
//!
//! - A command whose keys share a partition goes there whole.
//! - A `Split` command (MSET, MGET, DEL, UNLINK, EXISTS, TOUCH) goes as one
//!   sub-command per partition, merged as the fan-out merges
//!   ([`crate::route::merge`]).
//! - Any other command whose keys span partitions (RENAME, LMOVE, MSETNX,
//!   SUNIONSTORE, ... and the blocking pops, which a participant runs
//!   without blocking, as inside MULTI) is
//!   **carried** (`server/src/txn/carry.rs`): `petrel.dump` of every key
//!   outside its home (its first written key's partition, else its first
//!   key's), then `petrel.txn.run` at
//!   the home in a later round, then `petrel.txn.replace` of each carried
//!   key it changed, at that key's partition, in the round after, before
//!   any later command there.
//! - Watched keys: `petrel.fingerprint` first in the first round at their
//!   partition, compared with what WATCH read.
//!
//! Rounds: the commands of one partition keep their order. Each partition
//! has the earliest round its next command may run in; a carry pushes its
//! home past the dumps and the carried keys' partitions past the run.
//!
//! The record partition `R` is the partition of the first command of the
//! first round (the first key's, unless the transaction opens with a carry,
//! whose first round reads the carried keys).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use petrel_common::command::{Exec, Internal, KeySpecFlags, Merge};
use petrel_common::reply::Reply;

pub(crate) use super::call::Call;
use crate::route::merge::{self, Split};

/// Where one sub-command's reply goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sink {
    /// The fingerprint of watched key number n.
    Watch(usize),
    /// Part `part` of unit `unit`'s reply.
    Part { unit: usize, part: usize },
    /// The dump of carried key `key` of unit `unit`.
    Dump { unit: usize, key: usize },
    /// The `petrel.txn.run` of unit `unit`.
    Run { unit: usize },
    /// A `petrel.txn.replace` (answers `OK`).
    Replaced,
}

/// One partition's commands in a round, with where their replies go.
pub(crate) type Batch = Vec<(Call, Sink)>;

/// A key carried to a command's home, and its own partition.
type Carried = (Bytes, u32);

/// One entry of a partition's batch in a round.
#[derive(Clone, Debug)]
enum Entry {
    Fixed(Call, Sink),
    /// `petrel.txn.run` of a carried unit (built from the dumps).
    Run {
        unit: usize,
    },
    /// `petrel.txn.replace` of what the run changed of unit's carried keys
    /// at this partition: zero or more commands.
    Replace {
        unit: usize,
    },
}

/// How one client command is answered.
#[derive(Clone, Debug)]
enum Unit {
    /// Whole at one partition: its one part's reply.
    Whole,
    /// Split by partition: the parts' replies merged.
    Split {
        name: &'static str,
        merge: Merge,
        split: Split,
    },
    /// Carried: `call` runs at the home with `carried` keys (and their
    /// partitions) brought along.
    Carry { call: Call, carried: Vec<Carried> },
}

/// A transaction's plan. See the module documentation.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The record partition.
    pub(crate) record: u32,
    /// Per round, each partition's batch, partitions in first-use order.
    rounds: Vec<Vec<(u32, Vec<Entry>)>>,
    units: Vec<Unit>,
    /// What WATCH read of each watched key.
    fingerprints: Vec<i64>,
}

/// What [`plan`] decided.
#[derive(Debug)]
pub(crate) enum Planned {
    /// Every key (watched ones too) is in one partition (or there is no
    /// key): the one-partition fast path, not a transaction.
    OnePartition,
    Txn(Plan),
}

/// Plans `calls` (and the `watched` keys with the fingerprints WATCH read).
pub(crate) fn plan(
    calls: &[Call],
    watched: &[(Bytes, i64)],
    partition_of: impl Fn(&[u8]) -> u32,
) -> Planned {
    let mut all = watched
        .iter()
        .map(|(k, _)| partition_of(k))
        .chain(calls.iter().flat_map(keys_of).map(|k| partition_of(&k)));
    let Some(anchor) = all.next() else {
        return Planned::OnePartition;
    };
    if all.all(|p| p == anchor) {
        return Planned::OnePartition;
    }
    Planned::Txn(build(calls, watched, &partition_of, anchor))
}

/// The keys of `c`, in its arguments' order.
fn keys_of(c: &Call) -> Vec<Bytes> {
    c.command
        .key_positions(&c.args)
        .into_iter()
        .filter_map(|i| c.args.get(i).cloned())
        .collect()
}

/// Plans `calls` as a transaction even when their keys share a partition
/// (a step of a command run as a transaction: SORT's pattern reads).
/// `None` when they have no key.
pub(crate) fn plan_txn(calls: &[Call], partition_of: impl Fn(&[u8]) -> u32) -> Option<Plan> {
    let anchor = calls.iter().find_map(|c| {
        let at = c.command.first_key(&c.args)?;
        c.args.get(at).map(|k| partition_of(k))
    })?;
    Some(build(calls, &[], &partition_of, anchor))
}

fn build(
    calls: &[Call],
    watched: &[(Bytes, i64)],
    partition_of: &impl Fn(&[u8]) -> u32,
    anchor: u32,
) -> Plan {
    let mut b = Builder::default();
    for (i, (key, _)) in watched.iter().enumerate() {
        let pid = partition_of(key);
        let call = Call::internal(
            Internal::Fingerprint,
            vec![Bytes::from_static(b"petrel.fingerprint"), key.clone()],
        );
        b.push(0, pid, Entry::Fixed(call, Sink::Watch(i)));
    }
    for call in calls {
        let call = call.clone();
        let unit = b.units.len();
        let keys = keys_of(&call);
        let pids: Vec<u32> = keys.iter().map(|k| partition_of(k)).collect();
        let home = pids.first().copied().unwrap_or(anchor);
        if pids.iter().all(|&p| p == home) {
            let at = b.ready(home);
            b.push(at, home, Entry::Fixed(call, Sink::Part { unit, part: 0 }));
            b.units.push(Unit::Whole);
            continue;
        }
        if let Exec::Split(m) = call.command.exec() {
            if m != Merge::SamePartition {
                if let Ok(split) = merge::split_keys(call.command, &call.args, partition_of) {
                    for (part, p) in split.parts.iter().enumerate() {
                        let sub = Call {
                            command: call.command,
                            args: p.args.clone(),
                        };
                        let at = b.ready(p.pid);
                        b.push(at, p.pid, Entry::Fixed(sub, Sink::Part { unit, part }));
                    }
                    b.units.push(Unit::Split {
                        name: call.command.name(),
                        merge: m,
                        split,
                    });
                    continue;
                }
            }
        }
        b.carry(unit, call, &keys, &pids);
    }
    let record = b.rounds[0][0].0;
    Plan {
        record,
        rounds: b.rounds,
        units: b.units,
        fingerprints: watched.iter().map(|(_, f)| *f).collect(),
    }
}

#[derive(Default)]
struct Builder {
    rounds: Vec<Vec<(u32, Vec<Entry>)>>,
    /// The earliest round each partition's next command may run in.
    ready: HashMap<u32, usize>,
    units: Vec<Unit>,
}

impl Builder {
    fn ready(&self, pid: u32) -> usize {
        self.ready.get(&pid).copied().unwrap_or(0)
    }

    fn push(&mut self, round: usize, pid: u32, entry: Entry) {
        while self.rounds.len() <= round {
            self.rounds.push(Vec::new());
        }
        let batches = &mut self.rounds[round];
        match batches.iter_mut().find(|(p, _)| *p == pid) {
            Some((_, batch)) => batch.push(entry),
            None => batches.push((pid, vec![entry])),
        }
    }

    fn carry(&mut self, unit: usize, call: Call, keys: &[Bytes], pids: &[u32]) {
        let home = carry_home(&call, pids);
        let mut carried: Vec<Carried> = Vec::new();
        for (k, &p) in keys.iter().zip(pids) {
            if p != home && !carried.iter().any(|(c, _)| c == k) {
                carried.push((k.clone(), p));
            }
        }
        let mut run = self.ready(home);
        for (i, (key, pid)) in carried.iter().enumerate() {
            let dump = Call::internal(
                Internal::Dump,
                vec![Bytes::from_static(b"petrel.dump"), key.clone()],
            );
            let at = self.ready(*pid);
            self.push(at, *pid, Entry::Fixed(dump, Sink::Dump { unit, key: i }));
            run = run.max(at + 1);
        }
        self.push(run, home, Entry::Run { unit });
        self.ready.insert(home, run);
        let mut replaced: Vec<u32> = Vec::new();
        for (_, pid) in &carried {
            if !replaced.contains(pid) {
                replaced.push(*pid);
                self.push(run + 1, *pid, Entry::Replace { unit });
                self.ready.insert(*pid, run + 1);
            }
        }
        self.units.push(Unit::Carry { call, carried });
    }
}

/// Where a carried command runs: its first written key's partition, else
/// its first key's. A partition that only reads is released before the
/// commit, so the command's keyspace events (`sortstore`, `copy_to`...)
/// must be raised where it writes, which publishes them at commit.
fn carry_home(call: &Call, pids: &[u32]) -> u32 {
    let (mut n, mut written) = (0usize, None);
    let _ = call.command.for_each_key(&call.args, |_, flags| {
        if written.is_none() && !flags.contains(KeySpecFlags::RO) {
            written = Some(n);
        }
        n += 1;
    });
    written
        .and_then(|i| pids.get(i))
        .or(pids.first())
        .copied()
        .unwrap_or_default()
}

/// Why a transaction cannot go on: a reply the plan cannot use (a server
/// breaking the contract, or an internal command refused).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ERR transaction across partitions: {0}")]
pub(crate) struct Broken(String);

/// One attempt's replies so far, and the batches they lead to.
#[derive(Debug)]
pub(crate) struct Progress {
    plan: Arc<Plan>,
    watch_ok: bool,
    parts: Vec<Vec<Option<Reply>>>,
    dumps: Vec<Vec<Option<Reply>>>,
    runs: Vec<Option<Reply>>,
}

impl Plan {
    /// How many rounds the plan has (some may turn out empty).
    pub(crate) fn rounds(&self) -> usize {
        self.rounds.len()
    }

    /// A fresh attempt.
    pub(crate) fn start(self: &Arc<Self>) -> Progress {
        let parts = self
            .units
            .iter()
            .map(|u| match u {
                Unit::Split { split, .. } => vec![None; split.parts.len()],
                _ => vec![None],
            })
            .collect();
        let dumps = self
            .units
            .iter()
            .map(|u| match u {
                Unit::Carry { carried, .. } => vec![None; carried.len()],
                _ => Vec::new(),
            })
            .collect();
        Progress {
            plan: self.clone(),
            watch_ok: true,
            parts,
            dumps,
            runs: vec![None; self.units.len()],
        }
    }
}

fn count(n: usize) -> Bytes {
    Bytes::from(n.to_string())
}

/// `petrel.dump`'s items: an array of bulk strings, or the null array.
fn items_of(reply: &Reply) -> Option<Vec<Bytes>> {
    match reply {
        Reply::NilArray | Reply::Nil => Some(Vec::new()),
        Reply::Array(items) => items
            .iter()
            .map(|i| match i {
                Reply::Bulk(b) => Some(b.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

impl Progress {
    /// How many rounds its plan has.
    pub(crate) fn rounds(&self) -> usize {
        self.plan.rounds()
    }

    /// Round `round`'s batches: each partition with at least one command,
    /// its commands and where their replies go.
    pub(crate) fn batches(&self, round: usize) -> Result<Vec<(u32, Batch)>, Broken> {
        let mut out = Vec::new();
        for (pid, entries) in self.plan.rounds.get(round).into_iter().flatten() {
            let mut batch = Vec::new();
            for e in entries {
                match e {
                    Entry::Fixed(call, sink) => batch.push((call.clone(), *sink)),
                    Entry::Run { unit } => {
                        batch.push((self.run(*unit)?, Sink::Run { unit: *unit }))
                    }
                    Entry::Replace { unit } => {
                        for call in self.replaces(*unit, *pid)? {
                            batch.push((call, Sink::Replaced));
                        }
                    }
                }
            }
            if !batch.is_empty() {
                out.push((*pid, batch));
            }
        }
        Ok(out)
    }

    fn carry(&self, unit: usize) -> Result<(&Call, &[Carried]), Broken> {
        match self.plan.units.get(unit) {
            Some(Unit::Carry { call, carried, .. }) => Ok((call, carried)),
            _ => Err(Broken(format!("unit {unit} is not carried"))),
        }
    }

    /// `petrel.txn.run <n> (<key> <nitems> <item>...)... <id> <argc> <arg>...`
    fn run(&self, unit: usize) -> Result<Call, Broken> {
        let (call, carried) = self.carry(unit)?;
        let mut args = vec![Bytes::from_static(b"petrel.txn.run"), count(carried.len())];
        for (i, (key, _)) in carried.iter().enumerate() {
            let dumped = self.dumps[unit].get(i).and_then(Option::as_ref);
            let Some(items) = dumped.and_then(items_of) else {
                return Err(Broken(format!(
                    "no usable dump of a carried key: {dumped:?}"
                )));
            };
            args.push(key.clone());
            args.push(count(items.len()));
            args.extend(items);
        }
        args.push(Bytes::from(call.command.id.0.to_string()));
        args.push(count(call.args.len()));
        args.extend(call.args.iter().cloned());
        Ok(Call::internal(Internal::TxnRun, args))
    }

    /// `petrel.txn.replace <key> [<item>...]` for each carried key at `pid`
    /// the run changed.
    fn replaces(&self, unit: usize, pid: u32) -> Result<Vec<Call>, Broken> {
        let (_, carried) = self.carry(unit)?;
        let Some(Reply::Array(items)) = &self.runs[unit] else {
            return Err(Broken("no run reply before its replaces".into()));
        };
        let mut out = Vec::new();
        for pair in items.get(1..).unwrap_or_default().chunks(2) {
            let [Reply::Bulk(key), state] = pair else {
                return Err(Broken(format!("bad petrel.txn.run changes: {pair:?}")));
            };
            let Some((_, at)) = carried.iter().find(|(k, _)| k == key) else {
                return Err(Broken(
                    "petrel.txn.run changed a key it did not carry".into(),
                ));
            };
            if *at != pid {
                continue;
            }
            let Some(state) = items_of(state) else {
                return Err(Broken(format!("bad carried state: {state:?}")));
            };
            let mut args = vec![Bytes::from_static(b"petrel.txn.replace"), key.clone()];
            args.extend(state);
            out.push(Call::internal(Internal::TxnReplace, args));
        }
        Ok(out)
    }

    /// Takes one batch's replies, in the batch's order.
    pub(crate) fn accept(&mut self, sinks: &[Sink], replies: Vec<Reply>) -> Result<(), Broken> {
        if sinks.len() != replies.len() {
            return Err(Broken(format!(
                "{} replies to {} commands",
                replies.len(),
                sinks.len()
            )));
        }
        for (sink, reply) in sinks.iter().zip(replies) {
            match *sink {
                Sink::Watch(i) => {
                    let want = self.plan.fingerprints.get(i).copied();
                    match reply {
                        Reply::Int(n) => self.watch_ok &= want == Some(n),
                        other => return Err(Broken(format!("fingerprint reply {other:?}"))),
                    }
                }
                Sink::Part { unit, part } => {
                    if let Some(slot) = self.parts.get_mut(unit).and_then(|p| p.get_mut(part)) {
                        *slot = Some(reply);
                    }
                }
                Sink::Dump { unit, key } => {
                    if reply.is_error() {
                        return Err(Broken(format!("petrel.dump: {reply:?}")));
                    }
                    if let Some(slot) = self.dumps.get_mut(unit).and_then(|d| d.get_mut(key)) {
                        *slot = Some(reply);
                    }
                }
                Sink::Run { unit } => {
                    if !matches!(reply, Reply::Array(ref a) if !a.is_empty()) {
                        return Err(Broken(format!("petrel.txn.run: {reply:?}")));
                    }
                    self.runs[unit] = Some(reply);
                }
                Sink::Replaced => {
                    if reply.is_error() {
                        return Err(Broken(format!("petrel.txn.replace: {reply:?}")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether every watched key is as WATCH saw it (meaningful once the
    /// first round ran).
    pub(crate) fn watch_ok(&self) -> bool {
        self.watch_ok
    }

    /// The client's reply to each command, once every round ran.
    pub(crate) fn replies(&self) -> Result<Vec<Reply>, Broken> {
        let missing = || Broken("a command got no reply".into());
        let mut out = Vec::with_capacity(self.plan.units.len());
        for (i, unit) in self.plan.units.iter().enumerate() {
            out.push(match unit {
                Unit::Whole => self.parts[i][0].clone().ok_or_else(missing)?,
                Unit::Split { name, merge, split } => {
                    let replies: Option<Vec<Reply>> = self.parts[i].iter().cloned().collect();
                    merge::merge(name, *merge, split, replies.ok_or_else(missing)?)
                }
                Unit::Carry { .. } => match &self.runs[i] {
                    Some(Reply::Array(items)) => items[0].clone(),
                    _ => return Err(missing()),
                },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
