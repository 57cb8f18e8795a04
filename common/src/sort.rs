//! SORT's arguments and its `BY`/`GET` patterns, read as Redis 7.0's
//! `sort.c` reads them: the server runs SORT with them, the proxy finds
//! with them the keys a SORT names through its patterns (to read them
//! inside a transaction when they lie in other partitions).

use bytes::Bytes;

use crate::num::parse_i64;

/// SORT's options (`SORT key [BY p] [LIMIT o c] [GET p ...] [ASC|DESC]
/// [ALPHA] [STORE dst]`), the last of each kind winning as in Redis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortArgs {
    pub desc: bool,
    pub alpha: bool,
    /// `LIMIT offset count` as given (Redis clamps them to the length).
    pub limit: Option<(i64, i64)>,
    /// The last `BY` pattern.
    pub by: Option<Bytes>,
    /// A `BY` pattern without `*` was given: the elements keep their order
    /// (sticky: a later `BY` with `*` does not undo it, as in Redis).
    pub dontsort: bool,
    /// The `GET` patterns, in order.
    pub gets: Vec<Bytes>,
    /// `STORE` destination (never for SORT_RO).
    pub store: Option<Bytes>,
}

/// Why SORT's options are refused; the texts are Redis's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SortArgsError {
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR BY option of SORT denied due to insufficient ACL permissions.")]
    ByDenied,
    #[error("ERR GET option of SORT denied due to insufficient ACL permissions.")]
    GetDenied,
}

impl SortArgsError {
    /// Whether it is one of the ACL refusals.
    pub fn is_acl(self) -> bool {
        matches!(self, SortArgsError::ByDenied | SortArgsError::GetDenied)
    }
}

/// Reads the options of `args` (`SORT key option...`, name first).
/// `readonly` for SORT_RO (STORE is then a syntax error);
/// `full_key_access` whether the user may read every key (BY with a
/// real pattern, and GET, need it).
pub fn parse(
    args: &[Bytes],
    readonly: bool,
    full_key_access: bool,
) -> Result<SortArgs, SortArgsError> {
    let mut out = SortArgs::default();
    let is = |a: &Bytes, word: &str| a.eq_ignore_ascii_case(word.as_bytes());
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is(a, "asc") {
            out.desc = false;
        } else if is(a, "desc") {
            out.desc = true;
        } else if is(a, "alpha") {
            out.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            let start = parse_i64(&args[j + 1]).ok_or(SortArgsError::NotInteger)?;
            let count = parse_i64(&args[j + 2]).ok_or(SortArgsError::NotInteger)?;
            out.limit = Some((start, count));
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            out.store = Some(args[j + 1].clone());
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let pattern = &args[j + 1];
            if star(pattern).is_none() {
                out.dontsort = true;
            } else if !full_key_access {
                return Err(SortArgsError::ByDenied);
            }
            out.by = Some(pattern.clone());
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if !full_key_access {
                return Err(SortArgsError::GetDenied);
            }
            out.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(SortArgsError::Syntax);
        }
        j += 1;
    }
    Ok(out)
}

impl SortArgs {
    /// Whether the elements are sorted by the `BY` pattern's values.
    pub fn sorts_by_pattern(&self) -> bool {
        !self.dontsort && self.by.is_some()
    }

    /// The patterns that name other keys (`BY` when it is used, `GET`s
    /// with a `*`): what must be read for each element.
    pub fn key_patterns(&self) -> impl Iterator<Item = &Bytes> {
        let by = self.by.iter().filter(|_| !self.dontsort);
        by.chain(self.gets.iter())
            .filter(|p| matches!(lookup_of(p, b""), Lookup::Key { .. }))
    }
}

/// Where a pattern leads for one element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<'p> {
    /// `#`: the element itself.
    Element,
    /// No `*` in the pattern: nothing (nil).
    Nothing,
    /// The string at `key`, or the hash field `field` of `key` (`->`).
    Key {
        key: Vec<u8>,
        field: Option<&'p [u8]>,
    },
}

/// The pattern's bytes up to its first NUL (Redis reads it as a C string).
fn c_str(pattern: &[u8]) -> &[u8] {
    match pattern.iter().position(|&b| b == 0) {
        Some(nul) => &pattern[..nul],
        None => pattern,
    }
}

/// Where the first `*` is, as `strchr` finds it.
fn star(pattern: &[u8]) -> Option<usize> {
    c_str(pattern).iter().position(|&b| b == b'*')
}

/// What `pattern` names for `element` (Redis's `lookupKeyByPattern`): the
/// first `*` replaced by the element; a `->field` after it names a hash
/// field.
pub fn lookup_of<'p>(pattern: &'p [u8], element: &[u8]) -> Lookup<'p> {
    if c_str(pattern) == b"#" {
        return Lookup::Element;
    }
    let Some(p) = star(pattern) else {
        return Lookup::Nothing;
    };
    let after = &c_str(pattern)[p + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| p + 1 + i)
        .filter(|&f| f + 2 < c_str(pattern).len());
    let (postfix_end, field) = match arrow {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..p]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[p + 1..postfix_end]);
    Lookup::Key { key, field }
}

/// The positions of SORT's keys (Redis's `sortGetKeys`): the sorted key,
/// and the last `STORE` destination; `LIMIT`, `GET` and `BY` skip their
/// arguments. `base` is where the SORT call starts in `args` (its name).
pub fn key_positions(args: &[impl AsRef<[u8]>], base: usize, readonly: bool) -> Vec<usize> {
    let mut out = vec![base + 1];
    if readonly {
        return out;
    }
    let mut store = None;
    let is = |i: usize, w: &str| args[i].as_ref().eq_ignore_ascii_case(w.as_bytes());
    let mut i = base + 2;
    while i < args.len() {
        if is(i, "limit") {
            i += 2;
        } else if is(i, "get") || is(i, "by") {
            i += 1;
        } else if is(i, "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    out.extend(store);
    out
}

/// Where the SORT call carried by `petrel.sort <script> <n> (<kind> <key>
/// <field> <value>)... SORT ...` starts (its name).
pub fn embedded_at(args: &[impl AsRef<[u8]>]) -> Option<usize> {
    let n = parse_i64(args.get(2)?.as_ref())?;
    let at = usize::try_from(n).ok()?.checked_mul(4)?.checked_add(3)?;
    (at < args.len()).then_some(at)
}

/// The range of positions `[start, end]` LIMIT keeps of `len` elements, as
/// Redis clamps it; empty when `end < start`.
pub fn limit_range(limit: Option<(i64, i64)>, len: usize) -> (i64, i64) {
    let len = len as i64;
    let (limit_start, limit_count) = limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn options_are_read_in_order_the_last_winning() {
        let a = parse(
            &args(&[
                "SORT", "k", "desc", "LIMIT", "1", "2", "ASC", "by", "w_*", "GET", "#", "get",
                "h_*->f", "ALPHA", "STORE", "d",
            ]),
            false,
            true,
        )
        .unwrap();
        assert!(!a.desc && a.alpha);
        assert_eq!(a.limit, Some((1, 2)));
        assert_eq!(a.by.as_deref(), Some(&b"w_*"[..]));
        assert!(!a.dontsort);
        assert_eq!(a.gets.len(), 2);
        assert_eq!(a.store.as_deref(), Some(&b"d"[..]));
        assert_eq!(a.key_patterns().count(), 2, "BY and the hash GET");
    }

    #[test]
    fn errors_are_redis_s_in_argument_order() {
        let p = |w: &[&str], ro| parse(&args(w), ro, true);
        assert_eq!(
            p(&["SORT", "k", "STORE", "d"], true),
            Err(SortArgsError::Syntax)
        );
        assert_eq!(
            p(&["SORT", "k", "LIMIT", "1"], false),
            Err(SortArgsError::Syntax)
        );
        assert_eq!(
            p(&["SORT", "k", "LIMIT", "x", "1", "bogus"], false),
            Err(SortArgsError::NotInteger)
        );
        let denied = parse(
            &args(&["SORT", "k", "BY", "nosort", "GET", "#"]),
            false,
            false,
        );
        assert_eq!(denied, Err(SortArgsError::GetDenied));
        let denied = parse(&args(&["SORT", "k", "BY", "w_*"]), false, false);
        assert_eq!(denied, Err(SortArgsError::ByDenied));
        assert!(parse(&args(&["SORT", "k", "BY", "nosort"]), false, false).is_ok());
    }

    #[test]
    fn a_constant_by_pattern_stops_sorting_for_good() {
        let a = parse(
            &args(&["SORT", "k", "BY", "nosort", "BY", "w_*"]),
            false,
            true,
        )
        .unwrap();
        assert!(a.dontsort && !a.sorts_by_pattern());
        assert_eq!(a.key_patterns().count(), 0);
    }

    #[test]
    fn patterns_substitute_the_first_star() {
        assert_eq!(lookup_of(b"#", b"x"), Lookup::Element);
        assert_eq!(lookup_of(b"fixed", b"x"), Lookup::Nothing);
        let key = |k: &str, f: Option<&'static str>| Lookup::Key {
            key: k.as_bytes().to_vec(),
            field: f.map(str::as_bytes),
        };
        assert_eq!(lookup_of(b"w_*_*", b"1"), key("w_1_*", None));
        assert_eq!(lookup_of(b"h_*->f", b"1"), key("h_1", Some("f")));
        assert_eq!(lookup_of(b"h_*->", b"1"), key("h_1->", None));
        assert_eq!(lookup_of(b"a->b*", b"1"), key("a->b1", None));
        assert_eq!(lookup_of(b"h*->f->g", b"1"), key("h1", Some("f->g")));
    }

    #[test]
    fn sort_keys_are_the_source_and_the_last_store() {
        let a = args(&[
            "SORT", "k", "GET", "store", "STORE", "d1", "LIMIT", "0", "1", "STORE", "d2",
        ]);
        assert_eq!(key_positions(&a, 0, false), vec![1, 10]);
        assert_eq!(key_positions(&a, 0, true), vec![1]);
    }

    #[test]
    fn limit_is_clamped_like_redis() {
        assert_eq!(limit_range(None, 3), (0, 2));
        assert_eq!(limit_range(Some((1, 1)), 3), (1, 1));
        assert_eq!(limit_range(Some((-5, 2)), 3), (0, 1));
        assert_eq!(limit_range(Some((5, 10)), 3), (2, 1));
        assert_eq!(limit_range(Some((0, 0)), 3), (0, -1));
        assert_eq!(limit_range(Some((1, -7)), 3), (1, 2));
        assert_eq!(limit_range(None, 0), (-1, -2));
    }
}
