//! Finding a command's keys in its arguments from its key specs, as Redis 7
//! does (`getKeysUsingKeySpecs`): the one rule the proxy (routing, ACL,
//! `COMMAND GETKEYS`), the server and the transaction layer share.

use super::def::{BeginSearch, FindKeys, KeySpec, KeySpecFlags};

/// The arguments do not let the keys be found (a `numkeys` that is not a
/// number, a key spec Redis marks as unknown). Redis then falls back on the
/// command's own argument parser, whose error the client will get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ERR Invalid arguments specified for command")]
pub struct InvalidKeys;

/// Calls `found(position, flags)` for every key of `args` (name at 0) that
/// `specs` find, spec by spec, in argument order within each spec. A spec
/// whose keys would run past the arguments makes the whole call invalid, as
/// in Redis (the command itself then answers with its syntax error).
pub fn for_each_key(
    specs: &[KeySpec],
    args: &[impl AsRef<[u8]>],
    mut found: impl FnMut(usize, KeySpecFlags),
) -> Result<(), InvalidKeys> {
    let argc = args.len() as i64;
    for spec in specs {
        let first = match spec.begin_search {
            BeginSearch::Index(i) => i64::from(i),
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => match find_keyword(args, keyword, start_from) {
                Some(at) => at + 1,
                None => continue,
            },
            BeginSearch::Unknown => return Err(InvalidKeys),
        };
        let (first, last, step) = match spec.find_keys {
            FindKeys::Range {
                last_key,
                key_step,
                limit,
            } => {
                let last = if last_key >= 0 {
                    first + i64::from(last_key)
                } else if limit <= 1 {
                    argc + i64::from(last_key)
                } else {
                    first + ((argc - first) / i64::from(limit) + i64::from(last_key))
                };
                (first, last, i64::from(key_step))
            }
            FindKeys::Keynum {
                keynum_index,
                first_key,
                key_step,
            } => {
                let at = first + i64::from(keynum_index);
                let count = usize::try_from(at)
                    .ok()
                    .and_then(|at| args.get(at))
                    .and_then(|a| crate::num::parse_i64(a.as_ref()))
                    .filter(|&n| n >= 0)
                    .ok_or(InvalidKeys)?;
                let first = first + i64::from(first_key);
                (first, first + count - 1, i64::from(key_step))
            }
            FindKeys::Unknown => return Err(InvalidKeys),
        };
        // First or last out of bounds is a syntax error the command reports.
        if last >= argc || last < first || first >= argc {
            return Err(InvalidKeys);
        }
        let mut i = first;
        while i <= last {
            found(i as usize, spec.flags);
            i += step.max(1);
        }
    }
    Ok(())
}

/// Where `keyword` is, searched from `start_from` (backwards when negative),
/// stopping before the last argument (forwards) or the first (backwards).
fn find_keyword(args: &[impl AsRef<[u8]>], keyword: &str, start_from: i32) -> Option<i64> {
    let argc = args.len() as i64;
    let (start, end) = if start_from > 0 {
        (i64::from(start_from), argc - 1)
    } else {
        (argc + i64::from(start_from), 1)
    };
    let step = if start <= end { 1 } else { -1 };
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            return None;
        }
        if args[i as usize]
            .as_ref()
            .eq_ignore_ascii_case(keyword.as_bytes())
        {
            return Some(i);
        }
        i += step;
    }
    None
}
