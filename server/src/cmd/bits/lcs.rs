//! LCS: the longest common subsequence of two strings.
//!
//! A port of Redis 7.0's `lcsCommand`: the same dynamic-programming table
//! (refused beyond `proto-max-bulk-len` bytes, as Redis does) and the same
//! backtracking, so that among several subsequences of the same length the
//! one Redis picks, and its match ranges, come back.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option};
use crate::cmd::strings::PROTO_MAX_BULK_LEN;

const NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
const TOO_LONG: &str = "ERR String too long for LCS";
const TABLE_TOO_BIG: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
const NO_MEMORY: &str = "ERR Insufficient memory, failed allocating transient memory for LCS";

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
pub(crate) fn lcs(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (a, b) = match (db.lookup_string(&args[1]), db.lookup_string(&args[2])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(CmdError::Storage(e)), _) | (_, Err(CmdError::Storage(e))) => {
            return Err(CmdError::Storage(e))
        }
        _ => return Err(CmdError::reply(NOT_STRINGS)),
    };
    let a = a.map_or_else(Bytes::new, |e| e.payload);
    let b = b.map_or_else(Bytes::new, |e| e.payload);

    let (mut idx, mut len, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        if is_option(opt, "idx") {
            idx = true;
        } else if is_option(opt, "len") {
            len = true;
        } else if is_option(opt, "withmatchlen") {
            with_match_len = true;
        } else if is_option(opt, "minmatchlen") && j + 1 < args.len() {
            min_match_len = int_arg(&args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    if idx && len {
        return Err(CmdError::reply(LEN_AND_IDX));
    }
    if a.len() as u64 >= u64::from(u32::MAX) - 1 || b.len() as u64 >= u64::from(u32::MAX) - 1 {
        return Err(CmdError::reply(TOO_LONG));
    }
    let table = Table::new(&a, &b)?;
    let total = table.at(a.len(), b.len());
    if len {
        return Ok(Reply::Int(i64::from(total)));
    }
    let (common, matches) = table.backtrack(min_match_len, with_match_len);
    if !idx {
        return Ok(Reply::Bulk(Bytes::from(common)));
    }
    Ok(Reply::Map(vec![
        (Reply::bulk("matches"), Reply::Array(matches)),
        (Reply::bulk("len"), Reply::Int(i64::from(total))),
    ]))
}

/// `LCS(i, j)`: the LCS length of `a[..i]` and `b[..j]`.
struct Table<'a> {
    a: &'a [u8],
    b: &'a [u8],
    cells: Vec<u32>,
}

impl<'a> Table<'a> {
    fn new(a: &'a [u8], b: &'a [u8]) -> Result<Self, CmdError> {
        let width = b.len() + 1;
        let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
        if cells * 4 > PROTO_MAX_BULK_LEN {
            return Err(CmdError::reply(TABLE_TOO_BIG));
        }
        let cells = cells as usize;
        let mut table = Vec::new();
        if table.try_reserve_exact(cells).is_err() {
            return Err(CmdError::reply(NO_MEMORY));
        }
        table.resize(cells, 0u32);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                table[i * width + j] = if a[i - 1] == b[j - 1] {
                    table[(i - 1) * width + j - 1] + 1
                } else {
                    table[(i - 1) * width + j].max(table[i * width + j - 1])
                };
            }
        }
        Ok(Table { a, b, cells: table })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * (self.b.len() + 1) + j]
    }

    /// Walks the table back from the end as Redis does: the common
    /// subsequence, and the IDX match entries (last match first).
    fn backtrack(&self, min_match_len: i64, with_match_len: bool) -> (Vec<u8>, Vec<Reply>) {
        let (a, b) = (self.a, self.b);
        let mut common = vec![0u8; self.at(a.len(), b.len()) as usize];
        let mut left = common.len();
        let mut matches = Vec::new();
        // The current range, in a and in b, while one is open.
        let mut range: Option<(usize, usize, usize, usize)> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                left -= 1;
                common[left] = a[i - 1];
                match &mut range {
                    None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                    // Contiguous with the open range: extend it backward.
                    Some((a_start, _, b_start, _)) if *a_start == i && *b_start == j => {
                        *a_start -= 1;
                        *b_start -= 1;
                    }
                    Some(_) => emit = true,
                }
                if let Some((a_start, _, b_start, _)) = range {
                    if a_start == 0 || b_start == 0 {
                        emit = true;
                    }
                }
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = range.is_some();
            }
            if emit {
                if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                    let match_len = (a_end - a_start + 1) as i64;
                    if min_match_len == 0 || match_len >= min_match_len {
                        let pair = |x: usize, y: usize| {
                            Reply::Array(vec![Reply::Int(x as i64), Reply::Int(y as i64)])
                        };
                        let mut entry = vec![pair(a_start, a_end), pair(b_start, b_end)];
                        if with_match_len {
                            entry.push(Reply::Int(match_len));
                        }
                        matches.push(Reply::Array(entry));
                    }
                }
            }
        }
        (common, matches)
    }
}
