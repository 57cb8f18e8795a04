//! `SORT` and `SORT_RO` at a partition, as Redis 7.0's `sort.c` runs them.
//!
//! The values the `BY` and `GET` patterns name come from a [`Lookups`]:
//! - [`Local`]: this partition's keys (a SORT whose patterns name no key,
//!   or one run by a script or MULTI block whose keys are all here);
//! - `petrel.sort` ([`petrel_sort`]): values the proxy read beforehand,
//!   inside the same transaction, at whatever partitions hold them
//!   (`proxy/src/txn/sort.rs`).
//!
//! Comparisons are Redis's: numbers by `strtod` (ties by the elements'
//! bytes), `ALPHA` by `strcoll` in the C locale (byte order up to the
//! first NUL) or, with `STORE`, by the bytes.

use std::cmp::Ordering;
use std::collections::HashMap;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};
use petrel_common::sort::{self as spec, limit_range, lookup_of, Lookup, SortArgs};

use crate::cmd::db::Db;
use crate::cmd::events::LIST;
use crate::cmd::lists::{all_items, replace_with_items};
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::runner::{run, Runner};
use crate::cmd::sets::members_in_redis_order;
use crate::cmd::zsets::{range::by_rank, score::parse_sort_weight, zset::Zset};
use crate::storage::layout::KeyType;

/// The runners.
pub(crate) static COMMANDS: &[Runner] = &[
    run("sort", sort),
    run("sort_ro", sort),
    run("petrel.sort", petrel_sort),
];

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// Where the values of patterns come from.
pub(crate) trait Lookups {
    /// The string at `key`, or the field `field` of the hash at `key`;
    /// `None` when missing or of another type.
    fn value(
        &mut self,
        db: &Db<'_>,
        key: &[u8],
        field: Option<&[u8]>,
    ) -> Result<Option<Bytes>, CmdError>;
}

/// This partition's keys; with `listed`, only those (a script's).
#[derive(Default)]
pub(crate) struct Local<'k> {
    pub(crate) listed: Option<&'k [Bytes]>,
    /// The first key read that was not listed.
    pub(crate) unlisted: Option<Bytes>,
}

impl Lookups for Local<'_> {
    fn value(
        &mut self,
        db: &Db<'_>,
        key: &[u8],
        field: Option<&[u8]>,
    ) -> Result<Option<Bytes>, CmdError> {
        if let Some(listed) = self.listed {
            if !listed.iter().any(|k| k == key) {
                self.unlisted = Some(Bytes::copy_from_slice(key));
                return Err(CmdError::reply(
                    "ERR the script touches a key it did not list; retried",
                ));
            }
        }
        let Some(entry) = db.lookup(key)? else {
            return Ok(None);
        };
        Ok(match (field, entry.header.key_type) {
            (None, KeyType::String) => Some(entry.payload),
            (Some(f), KeyType::Hash) => crate::cmd::hashes::field_value(db, key, &entry, f)?,
            _ => None,
        })
    }
}

/// Values read beforehand, by key and field.
type Supplied = HashMap<(Bytes, Option<Bytes>), Option<Bytes>>;

impl Lookups for Supplied {
    fn value(
        &mut self,
        _: &Db<'_>,
        key: &[u8],
        field: Option<&[u8]>,
    ) -> Result<Option<Bytes>, CmdError> {
        let at = (
            Bytes::copy_from_slice(key),
            field.map(Bytes::copy_from_slice),
        );
        self.get(&at).cloned().ok_or_else(|| {
            CmdError::reply("ERR petrel.sort: a pattern's value was not read beforehand")
        })
    }
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...]
/// [ASC|DESC] [ALPHA] [STORE destination]` and `SORT_RO` (no STORE).
pub(crate) fn sort(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    run_sort(db, args, false, &mut Local::default())
}

/// `petrel.sort <script 0|1> <n> (<s|h|s-|h-> <key> <field> <value>)...
/// SORT ...`: the SORT call with its patterns' values given (`s`: a
/// string, `h`: a hash field; `-`: missing), as a script runs it when
/// `script` is 1.
pub(crate) fn petrel_sort(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let malformed = || CmdError::reply("ERR malformed petrel.sort");
    let base = spec::embedded_at(args).ok_or_else(malformed)?;
    let mut supplied = Supplied::new();
    for t in args[3..base].chunks(4) {
        let [kind, key, field, value] = t else {
            return Err(malformed());
        };
        let (hash, present) = match &kind[..] {
            b"s" => (false, true),
            b"h" => (true, true),
            b"s-" => (false, false),
            b"h-" => (true, false),
            _ => return Err(malformed()),
        };
        supplied.insert(
            (key.clone(), hash.then(|| field.clone())),
            present.then(|| value.clone()),
        );
    }
    let in_script = &args[1][..] == b"1";
    run_sort(db, &args[base..], in_script, &mut supplied)
}

/// A script's `SORT` at its partition: patterns may read only `listed`
/// keys; the first other one is returned, and the call fails.
pub(crate) fn in_script(
    db: &mut Db<'_>,
    args: &[Bytes],
    listed: &[Bytes],
) -> (CmdResult, Option<Bytes>) {
    let mut local = Local {
        listed: Some(listed),
        unlisted: None,
    };
    let r = run_sort(db, args, true, &mut local);
    (r, local.unlisted)
}

/// What is sorted: the type decides the unsorted order and `DESC` without
/// sorting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    Zset,
}

/// The elements of the key to sort, in its own order (a missing key is an
/// empty list, as in Redis); `WRONGTYPE` for other types.
fn load(db: &Db<'_>, key: &[u8]) -> Result<(Kind, Vec<Bytes>), CmdError> {
    let Some(entry) = db.lookup(key)? else {
        return Ok((Kind::List, Vec::new()));
    };
    match entry.header.key_type {
        KeyType::List => Ok((Kind::List, all_items(db, key)?.unwrap_or_default())),
        KeyType::Set => Ok((Kind::Set, members_in_redis_order(db, key, &entry)?)),
        KeyType::ZSet => {
            let Some(z) = Zset::lookup(db, key)? else {
                return Ok((Kind::Zset, Vec::new()));
            };
            let len = z.len();
            let members = if len == 0 {
                Vec::new()
            } else {
                by_rank(db, &z, 0, len - 1)?
            };
            Ok((
                Kind::Zset,
                members.into_iter().map(|(m, _)| Bytes::from(m)).collect(),
            ))
        }
        _ => Err(CmdError::reply(errors::WRONGTYPE)),
    }
}

/// One element and what it sorts by.
struct Item {
    element: Bytes,
    score: f64,
    /// With `BY` and `ALPHA`: the pattern's value (`None` sorts first).
    by: Option<Bytes>,
}

/// C's `strcmp`: bytes up to the first NUL.
fn c_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let c = |s: &[u8]| -> usize { s.iter().position(|&x| x == 0).unwrap_or(s.len()) };
    a[..c(a)].cmp(&b[..c(b)])
}

fn run_sort(
    db: &mut Db<'_>,
    args: &[Bytes],
    in_script: bool,
    lookups: &mut dyn Lookups,
) -> CmdResult {
    // (A petrel.sort may carry a SORT call too short to have a key.)
    let (Some(name), Some(key)) = (args.first(), args.get(1)) else {
        return Err(CmdError::reply(errors::wrong_arity("sort")));
    };
    let readonly = name.eq_ignore_ascii_case(b"sort_ro");
    let opts = spec::parse(args, readonly, true).map_err(|e| CmdError::reply(e.to_string()))?;
    let (kind, elements) = load(db, key)?;
    let SortArgs {
        desc,
        mut alpha,
        limit,
        mut by,
        mut dontsort,
        ref gets,
        ref store,
    } = opts;
    // A set has no order of its own: sorted when stored or in a script, so
    // that replicas and replays agree.
    if dontsort && kind == Kind::Set && (store.is_some() || in_script) {
        dontsort = false;
        alpha = true;
        by = None;
    }
    let (start, end) = limit_range(limit, elements.len());
    let mut not_double = false;
    let ordered: Vec<Bytes> = if dontsort {
        let mut els = elements;
        if desc && kind != Kind::Set {
            els.reverse();
        }
        els
    } else {
        let mut items = Vec::with_capacity(elements.len());
        for element in elements {
            let byval = match &by {
                Some(p) => value_of(db, lookups, p, &element)?,
                None => Some(element.clone()),
            };
            let mut item = Item {
                element,
                score: 0.0,
                by: None,
            };
            if alpha {
                if by.is_some() {
                    item.by = byval;
                }
            } else if let Some(v) = byval {
                match parse_sort_weight(&v) {
                    Some(score) => item.score = score,
                    None => not_double = true,
                }
            }
            items.push(item);
        }
        let storing = store.is_some();
        let with_by = by.is_some();
        items.sort_by(|a, b| {
            let cmp = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.element.cmp(&b.element))
            } else if with_by {
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) if storing => x.cmp(y),
                    (Some(x), Some(y)) => c_cmp(x, y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else if storing {
                a.element.cmp(&b.element)
            } else {
                c_cmp(&a.element, &b.element)
            };
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
        items.into_iter().map(|i| i.element).collect()
    };
    if not_double {
        return Err(CmdError::reply(NOT_DOUBLE));
    }
    let chosen: &[Bytes] = if end >= start {
        &ordered[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut out: Vec<Option<Bytes>> = Vec::new();
    for element in chosen {
        if gets.is_empty() {
            out.push(Some(element.clone()));
        }
        for p in gets {
            out.push(value_of(db, lookups, p, element)?);
        }
    }
    match store {
        None => Ok(Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        )),
        Some(dst) => {
            let items: Vec<Bytes> = out.into_iter().map(Option::unwrap_or_default).collect();
            store_list(db, dst, &items)
        }
    }
}

/// What `pattern` gives for `element`.
fn value_of(
    db: &Db<'_>,
    lookups: &mut dyn Lookups,
    pattern: &[u8],
    element: &Bytes,
) -> Result<Option<Bytes>, CmdError> {
    match lookup_of(pattern, element) {
        Lookup::Element => Ok(Some(element.clone())),
        Lookup::Nothing => Ok(None),
        Lookup::Key { key, field } => lookups.value(db, &key, field),
    }
}

/// `STORE`: `dst` becomes the list of `items` (raising `sortstore`), or is
/// deleted when there are none (raising `del` if it was there); replies
/// with the count.
fn store_list(db: &mut Db<'_>, dst: &[u8], items: &[Bytes]) -> CmdResult {
    if items.is_empty() {
        db.delete_stored(dst)?;
        return Ok(Reply::Int(0));
    }
    replace_with_items(db, dst, items)?;
    db.notify(LIST, "sortstore", dst);
    Ok(Reply::Int(items.len() as i64))
}

#[cfg(test)]
mod tests;
