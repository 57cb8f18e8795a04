//! ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.
//!
//! Inputs may be sorted sets or sets (whose members score 1). Like Redis,
//! union and intersection take the inputs from the smallest to the largest
//! (a stable sort), which fixes the order in which floating-point sums are
//! taken; intersection and difference walk only their first input and look
//! members up in the others.

use std::collections::HashMap;
use std::ops::Bound;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::score;
use super::zset::{long_arg, long_in, members_reply, store, Scored, Zset};
use crate::cmd::db::{Db, Entry};
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;
use crate::storage::layout::KeyType;
use crate::storage::StorageError;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate` (a NaN sum counts as 0).
    fn fold(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if v < *target {
                    *target = v;
                }
            }
            Aggregate::Max => {
                if v > *target {
                    *target = v;
                }
            }
        }
    }
}

/// Called with each member and score; `Ok(false)` stops the walk.
type MemberVisitor<'a> = dyn FnMut(&[u8], f64) -> Result<bool, CmdError> + 'a;

/// One input: a sorted set, a set, or nothing.
struct Source<'k> {
    key: &'k [u8],
    entry: Option<Entry>,
    weight: f64,
}

impl Source<'_> {
    fn len(&self) -> u64 {
        self.entry.as_ref().map_or(0, |e| e.header.size)
    }

    fn zset(&self) -> Option<Zset<'_>> {
        match &self.entry {
            Some(e) if e.header.key_type == KeyType::ZSet => Some(Zset {
                key: self.key,
                entry: e.clone(),
            }),
            _ => None,
        }
    }

    /// Visits every member with its (unweighted) score, in batches read
    /// before `visit` runs, so that `visit` may read the store itself (a
    /// read inside a scan callback may deadlock an engine). Stops when
    /// `visit` returns `false`.
    fn for_each(&self, db: &Db<'_>, visit: &mut MemberVisitor<'_>) -> Result<(), CmdError> {
        const BATCH: usize = 1024;
        let Some(entry) = &self.entry else {
            return Ok(());
        };
        let zset = self.zset();
        // The element the next batch starts after.
        let mut after: Option<Vec<u8>> = None;
        loop {
            let mut batch: Vec<Scored> = Vec::with_capacity(BATCH);
            let lo = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            match &zset {
                Some(z) => z.scan(db, (lo, Bound::Unbounded), false, &mut |m, s| {
                    batch.push((m.to_vec(), s));
                    batch.len() < BATCH
                })?,
                None => db.scan_elements(
                    self.key,
                    entry.header.version,
                    (lo, Bound::Unbounded),
                    false,
                    &mut |m, _| {
                        batch.push((m.to_vec(), 1.0));
                        batch.len() < BATCH
                    },
                )?,
            }
            let full = batch.len() == BATCH;
            after = batch.last().map(|(m, s)| match &zset {
                Some(_) => super::zset::score_element(*s, m),
                None => m.clone(),
            });
            for (m, s) in &batch {
                if !visit(m, *s)? {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The (unweighted) score of `member`, if present.
    fn find(&self, db: &Db<'_>, member: &[u8]) -> Result<Option<f64>, StorageError> {
        let Some(entry) = &self.entry else {
            return Ok(None);
        };
        match self.zset() {
            Some(z) => z.score(db, member),
            None => Ok(db
                .element(self.key, entry.header.version, member)?
                .map(|_| 1.0)),
        }
    }
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]`
pub(crate) fn zunionstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zunionstore", 2, Some(&args[1]), Op::Union, false)
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]`
pub(crate) fn zinterstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zinterstore", 2, Some(&args[1]), Op::Inter, false)
}

/// `ZDIFFSTORE destination numkeys key [key ...]`
pub(crate) fn zdiffstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zdiffstore", 2, Some(&args[1]), Op::Diff, false)
}

/// `ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub(crate) fn zunion(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zunion", 1, None, Op::Union, false)
}

/// `ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub(crate) fn zinter(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zinter", 1, None, Op::Inter, false)
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
pub(crate) fn zdiff(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zdiff", 1, None, Op::Diff, false)
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
pub(crate) fn zintercard(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    generic(db, args, "zintercard", 1, None, Op::Inter, true)
}

/// Redis's `zunionInterDiffGenericCommand`.
fn generic(
    db: &mut Db<'_>,
    args: &[Bytes],
    name: &'static str,
    numkeys_at: usize,
    dst: Option<&Bytes>,
    op: Op,
    cardinality_only: bool,
) -> CmdResult {
    let setnum = long_arg(&args[numkeys_at])?;
    if setnum < 1 {
        return Err(CmdError::reply(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let first = numkeys_at + 1;
    if setnum as u64 > (args.len() - first) as u64 {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    let setnum = setnum as usize;
    let mut sources = Vec::with_capacity(setnum);
    for key in &args[first..first + setnum] {
        let entry = db.lookup(key)?;
        if let Some(e) = &entry {
            if !matches!(e.header.key_type, KeyType::ZSet | KeyType::Set) {
                return Err(CmdError::reply(errors::WRONGTYPE));
            }
        }
        sources.push(Source {
            key,
            entry,
            weight: 1.0,
        });
    }
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0i64;
    let mut j = first + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        let full = op != Op::Diff && !cardinality_only;
        if full && remaining > setnum && is_option(a, "weights") {
            j += 1;
            for s in sources.iter_mut() {
                s.weight = score::parse(&args[j])
                    .ok_or_else(|| CmdError::reply("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if full && remaining >= 2 && is_option(a, "aggregate") {
            let which = &args[j + 1];
            aggregate = if is_option(which, "sum") {
                Aggregate::Sum
            } else if is_option(which, "min") {
                Aggregate::Min
            } else if is_option(which, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::reply(errors::SYNTAX));
            };
            j += 2;
        } else if dst.is_none() && !cardinality_only && is_option(a, "withscores") {
            withscores = true;
            j += 1;
        } else if cardinality_only && remaining >= 2 && is_option(a, "limit") {
            limit = long_in(&args[j + 1], 0, i64::MAX, "LIMIT can't be negative")?;
            j += 2;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
    }
    if op != Op::Diff {
        sources.sort_by_key(Source::len);
    }
    if cardinality_only {
        let mut n = 0i64;
        inter(db, &sources, aggregate, &mut |_, _| {
            n += 1;
            limit == 0 || n < limit
        })?;
        return Ok(Reply::Int(n));
    }
    let mut result: Vec<Scored> = Vec::new();
    match op {
        Op::Inter => inter(db, &sources, aggregate, &mut |m, s| {
            result.push((m.to_vec(), s));
            true
        })?,
        Op::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for src in &sources {
                src.for_each(db, &mut |m, s| {
                    let mut v = src.weight * s;
                    if v.is_nan() {
                        v = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(target) => aggregate.fold(target, v),
                        None => {
                            acc.insert(m.to_vec(), v);
                        }
                    }
                    Ok(true)
                })?;
            }
            result = acc.into_iter().collect();
        }
        Op::Diff => {
            let Some((base, others)) = sources.split_first() else {
                return Err(CmdError::reply(errors::SYNTAX));
            };
            base.for_each(db, &mut |m, s| {
                for other in others {
                    if other.find(db, m)?.is_some() {
                        return Ok(true);
                    }
                }
                result.push((m.to_vec(), s));
                Ok(true)
            })?;
        }
    }
    // Redis's order: score, then member bytes (-0 equal to 0).
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    match dst {
        Some(dst) => Ok(Reply::Int(store(db, dst, &result, name)? as i64)),
        None => Ok(members_reply(result, withscores)),
    }
}

/// Visits the intersection (aggregated, weighted scores) until `visit`
/// returns `false`. `sources` are sorted smallest first.
fn inter(
    db: &Db<'_>,
    sources: &[Source<'_>],
    aggregate: Aggregate,
    visit: &mut dyn FnMut(&[u8], f64) -> bool,
) -> Result<(), CmdError> {
    let Some((first, others)) = sources.split_first() else {
        return Ok(());
    };
    if first.len() == 0 {
        return Ok(());
    }
    first.for_each(db, &mut |m, s| {
        let mut acc = first.weight * s;
        if acc.is_nan() {
            acc = 0.0;
        }
        for other in others {
            match other.find(db, m)? {
                Some(v) => aggregate.fold(&mut acc, v * other.weight),
                None => return Ok(true),
            }
        }
        Ok(visit(m, acc))
    })
}
