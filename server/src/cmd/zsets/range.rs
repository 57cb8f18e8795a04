//! Score, lex and rank ranges, as scans of the `s` family.

use std::cmp::Ordering;
use std::ops::Bound;

use super::score;
use super::zset::{score_element, score_prefix, Scored, Zset, BY_SCORE};
use crate::cmd::db::Db;
use crate::storage::StorageError;

/// Redis's reply to a bad score range.
pub(crate) const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
/// Redis's reply to a bad lex range.
pub(crate) const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// `min <= score <= max`, either end possibly exclusive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScoreRange {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) minex: bool,
    pub(crate) maxex: bool,
}

impl ScoreRange {
    /// Parses `min` and `max` as `zslParseRange` does.
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = score::parse_bound(min)?;
        let (max, maxex) = score::parse_bound(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    /// Whether no score can be in the range.
    pub(crate) fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    /// The `s`-family element bounds `[lo, hi)` of the range.
    fn bounds(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let key = |v: u64| {
            let mut e = vec![BY_SCORE];
            e.extend_from_slice(&v.to_be_bytes());
            e
        };
        let lo = u64::from_be_bytes(score::encode(self.min)) + u64::from(self.minex);
        let hi = u64::from_be_bytes(score::encode(self.max)) + u64::from(!self.maxex);
        (lo < hi).then(|| (key(lo), key(hi)))
    }

    /// Visits the members in the range, ascending (descending when
    /// `reverse`), until `visit` returns `false`.
    pub(crate) fn scan(
        &self,
        db: &Db<'_>,
        z: &Zset<'_>,
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], f64) -> bool,
    ) -> Result<(), StorageError> {
        if self.is_empty() {
            return Ok(());
        }
        let Some((lo, hi)) = self.bounds() else {
            return Ok(());
        };
        z.scan(
            db,
            (Bound::Included(&lo), Bound::Excluded(&hi)),
            reverse,
            visit,
        )
    }
}

/// One end of a lex range.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LexItem {
    /// `-`: below every string.
    Least,
    /// `+`: above every string.
    Greatest,
    /// `[x` (inclusive) or `(x` (exclusive).
    Str(Vec<u8>, bool),
}

impl LexItem {
    /// Parses `zslParseLexRangeItem`'s forms.
    fn parse(s: &[u8]) -> Option<LexItem> {
        match s.first()? {
            // C compares `c[1] != '\0'`: a NUL after the sign ends the string.
            b'+' if s.get(1).is_none_or(|&b| b == 0) => Some(LexItem::Greatest),
            b'-' if s.get(1).is_none_or(|&b| b == 0) => Some(LexItem::Least),
            b'(' => Some(LexItem::Str(s[1..].to_vec(), true)),
            b'[' => Some(LexItem::Str(s[1..].to_vec(), false)),
            _ => None,
        }
    }

    /// Whether the item is exclusive (`-` and `+` are).
    fn exclusive(&self) -> bool {
        match self {
            LexItem::Str(_, ex) => *ex,
            _ => true,
        }
    }

    /// `sdscmplex`.
    fn cmp(&self, other: &LexItem) -> Ordering {
        use LexItem::*;
        match (self, other) {
            (Least, Least) | (Greatest, Greatest) => Ordering::Equal,
            (Least, _) | (_, Greatest) => Ordering::Less,
            (Greatest, _) | (_, Least) => Ordering::Greater,
            (Str(a, _), Str(b, _)) => a.cmp(b),
        }
    }
}

/// A lex range: `min` and `max` items.
#[derive(Clone, Debug)]
pub(crate) struct LexRange {
    pub(crate) min: LexItem,
    pub(crate) max: LexItem,
}

impl LexRange {
    /// Parses `min` and `max` as `zslParseLexRange` does.
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexItem::parse(min)?,
            max: LexItem::parse(max)?,
        })
    }

    /// Whether no string can be in the range.
    fn is_empty(&self) -> bool {
        match self.min.cmp(&self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }

    /// `zslLexValueGteMin`.
    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexItem::Least => true,
            LexItem::Greatest => false,
            LexItem::Str(s, true) => m > s.as_slice(),
            LexItem::Str(s, false) => m >= s.as_slice(),
        }
    }

    /// `zslLexValueLteMax`.
    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexItem::Least => false,
            LexItem::Greatest => true,
            LexItem::Str(s, true) => m < s.as_slice(),
            LexItem::Str(s, false) => m <= s.as_slice(),
        }
    }

    /// Visits the members in the range, in set order (reversed when
    /// `reverse`), until `visit` returns `false`.
    ///
    /// Like Redis, this assumes equal scores. When the first and last
    /// scores are equal it seeks to the bounds; otherwise it walks the set
    /// as Redis's listpack code does: from the first member (last, when
    /// `reverse`) past the near bound up to the first one past the far bound.
    pub(crate) fn scan(
        &self,
        db: &Db<'_>,
        z: &Zset<'_>,
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], f64) -> bool,
    ) -> Result<(), StorageError> {
        if self.is_empty() {
            return Ok(());
        }
        let (Some(first), Some(last)) = (z.end(db, false)?, z.end(db, true)?) else {
            return Ok(());
        };
        if !self.gte_min(&last.0) || !self.lte_max(&first.0) {
            return Ok(());
        }
        if score::encode(first.1) == score::encode(last.1) {
            let prefix = score_prefix(first.1);
            let with = |s: &[u8]| score_element(first.1, s);
            let lo = match &self.min {
                LexItem::Str(s, ex) => {
                    let e = with(s);
                    if *ex {
                        Bound::Excluded(e)
                    } else {
                        Bound::Included(e)
                    }
                }
                _ => Bound::Included(prefix.clone()),
            };
            let hi = match &self.max {
                LexItem::Str(s, ex) => {
                    let e = with(s);
                    if *ex {
                        Bound::Excluded(e)
                    } else {
                        Bound::Included(e)
                    }
                }
                _ => Bound::Unbounded,
            };
            return z.scan(db, (as_ref(&lo), as_ref(&hi)), reverse, visit);
        }
        // Mixed scores: Redis's behaviour is the listpack walk.
        let mut started = false;
        z.scan(
            db,
            (Bound::Unbounded, Bound::Unbounded),
            reverse,
            &mut |m, s| {
                let (near, far) = if reverse {
                    (self.lte_max(m), self.gte_min(m))
                } else {
                    (self.gte_min(m), self.lte_max(m))
                };
                if !started {
                    if !near {
                        return true;
                    }
                    started = true;
                }
                far && visit(m, s)
            },
        )
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The members of forward ranks `start..=end` (`start <= end < len`), in
/// forward order, counted from whichever end of the set is nearer.
pub(crate) fn by_rank(
    db: &Db<'_>,
    z: &Zset<'_>,
    start: u64,
    end: u64,
) -> Result<Vec<Scored>, StorageError> {
    let len = z.len();
    let want = (end - start + 1) as usize;
    let mut out = Vec::with_capacity(want.min(1 << 16));
    let from_front = end < len - start;
    let mut skip = if from_front { start } else { len - 1 - end };
    z.scan(
        db,
        (Bound::Unbounded, Bound::Unbounded),
        !from_front,
        &mut |m, s| {
            if skip > 0 {
                skip -= 1;
                return true;
            }
            out.push((m.to_vec(), s));
            out.len() < want
        },
    )?;
    if !from_front {
        out.reverse();
    }
    Ok(out)
}

/// The forward rank of `member` (whose score is `at`).
///
/// Counts towards it from both ends in turn, in growing steps, so the cost
/// is a small multiple of the distance to the nearer end.
pub(crate) fn rank_of(
    db: &Db<'_>,
    z: &Zset<'_>,
    member: &[u8],
    at: f64,
) -> Result<u64, StorageError> {
    let target = score_element(at, member);
    let (mut front, mut back) = (0u64, 0u64);
    let (mut front_last, mut back_last): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut step = 64u64;
    loop {
        for reverse in [false, true] {
            let last = if reverse {
                &mut back_last
            } else {
                &mut front_last
            };
            let resume = last.as_deref().map(Bound::Excluded);
            let range = if reverse {
                (
                    Bound::Excluded(target.as_slice()),
                    resume.unwrap_or(Bound::Unbounded),
                )
            } else {
                (
                    resume.unwrap_or(Bound::Unbounded),
                    Bound::Excluded(target.as_slice()),
                )
            };
            let mut seen = 0u64;
            let mut newest = None;
            z.scan(db, range, reverse, &mut |m, s| {
                seen += 1;
                newest = Some((m.to_vec(), s));
                seen < step
            })?;
            if let Some((m, s)) = newest {
                *last = Some(score_element(s, &m));
            }
            if reverse {
                back += seen;
            } else {
                front += seen;
            }
            if seen < step {
                return Ok(if reverse {
                    z.len().saturating_sub(1 + back)
                } else {
                    front
                });
            }
        }
        step = step.saturating_mul(2);
    }
}
