//! Bit commands and LCS on strings, with Redis 7.0's replies and errors.
//!
//! A string is one metadata record whose payload is the value (see
//! [`crate::cmd::strings`]). Bit 0 is the most significant bit of the first
//! byte, as in Redis. Commands that change a string in place (SETBIT,
//! BITFIELD) keep its expiry and version and write only when a byte changed
//! or the key is new; BITOP replaces its destination with a new incarnation
//! without expiry, as SET does.
//!
//! - this file: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP.
//! - BITFIELD and BITFIELD_RO in [`field`].
//! - LCS in [`lcs`].

mod bitstring;
mod field;
mod lcs;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::db::Db;
use crate::cmd::events::STRING;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, parse_i64};
use crate::cmd::runner::{run, Runner};
use bitstring::*;

/// The bitmap family and LCS, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("setbit", setbit),
    run("getbit", getbit),
    run("bitcount", bitcount),
    run("bitpos", bitpos),
    run("bitop", bitop),
    run("bitfield", field::bitfield),
    run("bitfield_ro", field::bitfield_ro),
    run("lcs", lcs::lcs),
];

/// `SETBIT key offset value`: the bit's previous value.
fn setbit(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let offset = bit_offset(&args[2], None)?;
    let on = match parse_i64(&args[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(CmdError::reply(BAD_BIT)),
    };
    let (entry, mut value) = string_for_bits(db, key, offset)?;
    let old = bit_at(&value, offset);
    set_bit_at(&mut value, offset, on);
    // Created, grown or a bit flipped: Redis's condition for the event.
    let changed = entry.as_ref().is_none_or(|e| e.payload[..] != value[..]);
    save_bits(db, key, entry.as_ref(), &value)?;
    if changed {
        db.notify(STRING, "setbit", key);
    }
    Ok(Reply::Int(i64::from(old)))
}

/// `GETBIT key offset`
fn getbit(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(&args[2], None)?;
    let value = db.lookup_string(&args[1])?.map(|e| e.payload);
    Ok(Reply::Int(i64::from(bit_at(
        value.as_deref().unwrap_or(&[]),
        offset,
    ))))
}

/// Whether a BYTE|BIT argument says BIT; a syntax error if it is neither.
fn is_bit_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if is_option(arg, "bit") {
        Ok(true)
    } else if is_option(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::reply(errors::SYNTAX))
    }
}

/// Redis's clamping of an inclusive `start..=end` over `total` units
/// (negative = from the end): the range in bits, or `None` when empty.
fn bit_range(mut start: i64, mut end: i64, total: i64, in_bits: bool) -> Option<(u64, u64)> {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// The bytes holding bits `first..=last`, with masks of the bits of the
/// first and last byte that lie inside the range.
fn bytes_of(value: &[u8], first: u64, last: u64) -> (&[u8], u8, u8) {
    let bytes = &value[(first >> 3) as usize..=(last >> 3) as usize];
    (bytes, 0xFF >> (first & 7), 0xFF << (7 - (last & 7)))
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
fn bitcount(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some(entry) = db.lookup_string(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let value = &entry.payload[..];
    let len = value.len() as i64;
    let range = match args.len() {
        2 => bit_range(0, len - 1, len, false),
        4 | 5 => {
            let start = int_arg(&args[2])?;
            let end = int_arg(&args[3])?;
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let in_bits = match args.get(4) {
                Some(unit) => is_bit_unit(unit)?,
                None => false,
            };
            let total = if in_bits { len * 8 } else { len };
            bit_range(start, end, total, in_bits)
        }
        _ => return Err(CmdError::reply(errors::SYNTAX)),
    };
    let Some((first, last)) = range else {
        return Ok(Reply::Int(0));
    };
    let (bytes, first_mask, last_mask) = bytes_of(value, first, last);
    let mut count: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
    if let (Some(head), Some(tail)) = (bytes.first(), bytes.last()) {
        count -= u64::from((head & !first_mask).count_ones());
        count -= u64::from((tail & !last_mask).count_ones());
    }
    Ok(Reply::Int(count as i64))
}

/// The first bit equal to `bit` in `first..=last`.
fn find_bit(value: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let (bytes, first_mask, last_mask) = bytes_of(value, first, last);
    // Look for a set bit in the bytes as they are (bit 1) or inverted (bit 0).
    let flip = if bit { 0 } else { 0xFF };
    let n = bytes.len();
    let found = bytes.iter().enumerate().find_map(|(i, &b)| {
        let mut b = b ^ flip;
        if i == 0 {
            b &= first_mask;
        }
        if i == n - 1 {
            b &= last_mask;
        }
        (b != 0).then(|| i as u64 * 8 + u64::from(b.leading_zeros()))
    })?;
    Some((first & !7) + found)
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`
fn bitpos(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let bit = match int_arg(&args[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::reply(BAD_BITPOS_BIT)),
    };
    // A missing key is an endless run of zeros.
    let Some(entry) = db.lookup_string(&args[1])? else {
        return Ok(Reply::Int(if bit { -1 } else { 0 }));
    };
    let value = &entry.payload[..];
    let len = value.len() as i64;
    let mut end_given = false;
    let range = match args.len() {
        3 => bit_range(0, len - 1, len, false),
        4..=6 => {
            let start = int_arg(&args[3])?;
            let in_bits = match args.get(5) {
                Some(unit) => is_bit_unit(unit)?,
                None => false,
            };
            let total = if in_bits { len * 8 } else { len };
            let end = match args.get(4) {
                Some(end) => {
                    end_given = true;
                    int_arg(end)?
                }
                None => total - 1,
            };
            bit_range(start, end, total, in_bits)
        }
        _ => return Err(CmdError::reply(errors::SYNTAX)),
    };
    let Some((first, last)) = range else {
        return Ok(Reply::Int(-1));
    };
    let pos = match find_bit(value, first, last, bit) {
        Some(pos) => pos as i64,
        // Without an explicit end, the string continues with zeros.
        None if !bit && !end_given => last as i64 + 1,
        None => -1,
    };
    Ok(Reply::Int(pos))
}

/// A BITOP operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the result's length.
fn bitop(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let op = match &args[1] {
        a if is_option(a, "and") => BitOp::And,
        a if is_option(a, "or") => BitOp::Or,
        a if is_option(a, "xor") => BitOp::Xor,
        a if is_option(a, "not") => BitOp::Not,
        _ => return Err(CmdError::reply(errors::SYNTAX)),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::reply(NOT_ONE_SOURCE));
    }
    let dest = &args[2];
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        // Missing keys are empty strings.
        sources.push(
            db.lookup_string(key)?
                .map_or_else(Bytes::new, |e| e.payload),
        );
    }
    let max_len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    if max_len == 0 {
        db.delete_stored(dest)?;
        return Ok(Reply::Int(0));
    }
    let byte = |source: &Bytes, i: usize| source.get(i).copied().unwrap_or(0);
    let result: Vec<u8> = (0..max_len)
        .map(|i| {
            let rest = sources[1..].iter().map(|s| byte(s, i));
            let first = byte(&sources[0], i);
            match op {
                BitOp::And => rest.fold(first, |acc, b| acc & b),
                BitOp::Or => rest.fold(first, |acc, b| acc | b),
                BitOp::Xor => rest.fold(first, |acc, b| acc ^ b),
                BitOp::Not => !first,
            }
        })
        .collect();
    let version = db.fresh_version(dest)?;
    db.put_string(dest, 0, version, &result);
    db.notify(STRING, "set", dest);
    Ok(Reply::Int(max_len as i64))
}
