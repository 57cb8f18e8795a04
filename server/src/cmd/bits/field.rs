//! BITFIELD and BITFIELD_RO: integers of 1 to 64 bits at any bit offset.
//!
//! A port of Redis 7.0's `bitfieldGeneric`: every operation is parsed
//! before anything runs, a command with a SET or INCRBY first grows the
//! string to the highest bit it writes (creating the key even when every
//! write then fails under OVERFLOW FAIL, as Redis does), and the overflow
//! checks keep Redis's exact integer arithmetic, quirks included.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::bitstring::{bit_at, bit_offset, save_bits, set_bit_at, string_for_bits};
use crate::cmd::db::Db;
use crate::cmd::events::STRING;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, is_option, option, parse_i64};

const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
const READONLY_WRITE: &str = "ERR BITFIELD_RO only supports the GET subcommand";

/// What happens when a SET or INCRBY does not fit its field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Get,
    Set,
    IncrBy,
}

/// One parsed sub-operation.
struct Op {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
}

/// `BITFIELD key [GET type offset | SET type offset value |
/// INCRBY type offset increment | OVERFLOW WRAP|SAT|FAIL] ...`
pub(crate) fn bitfield(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(db, args, false)
}

/// `BITFIELD_RO key [GET type offset ...]`
pub(crate) fn bitfield_ro(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(db, args, true)
}

fn bitfield_generic(db: &mut Db<'_>, args: &[Bytes], readonly_command: bool) -> CmdResult {
    let key = &args[1];
    let ops = parse_ops(args)?;
    let writes = ops.iter().filter(|op| op.kind != OpKind::Get);
    let highest_write = writes.map(|op| op.offset + u64::from(op.bits) - 1).max();
    let Some(highest_write) = highest_write else {
        let value = db.lookup_string(key)?.map(|e| e.payload);
        let value = value.as_deref().unwrap_or(&[]);
        let replies = ops.iter().map(|op| Reply::Int(get(value, op))).collect();
        return Ok(Reply::Array(replies));
    };
    if readonly_command {
        return Err(CmdError::reply(READONLY_WRITE));
    }
    let (entry, mut value) = string_for_bits(db, key, highest_write)?;
    let replies: Vec<Reply> = ops.iter().map(|op| apply(&mut value, op)).collect();
    save_bits(db, key, entry.as_ref(), &value)?;
    // Redis counts each SET or INCRBY that was not refused by OVERFLOW FAIL.
    let changes = ops
        .iter()
        .zip(&replies)
        .any(|(op, reply)| op.kind != OpKind::Get && *reply != Reply::Nil);
    if changes {
        db.notify(STRING, "setbit", key);
    }
    Ok(Reply::Array(replies))
}

/// Parses every sub-operation, failing on the first bad one.
fn parse_ops(args: &[Bytes]) -> Result<Vec<Op>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j];
        let kind = if is_option(sub, "get") && remaining >= 2 {
            OpKind::Get
        } else if is_option(sub, "set") && remaining >= 3 {
            OpKind::Set
        } else if is_option(sub, "incrby") && remaining >= 3 {
            OpKind::IncrBy
        } else if is_option(sub, "overflow") && remaining >= 1 {
            let name = &args[j + 1];
            overflow = if is_option(name, "wrap") {
                Overflow::Wrap
            } else if is_option(name, "sat") {
                Overflow::Sat
            } else if is_option(name, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::reply(BAD_OVERFLOW));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(bits))?;
        let value = match kind {
            OpKind::Get => 0,
            _ => int_arg(&args[j + 3])?,
        };
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == OpKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// `i1`..`i64` or `u1`..`u63` (lower case only, as in Redis).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let arg = option(arg);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(CmdError::reply(BAD_TYPE)),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(&arg[1..]) {
        Some(bits) if (1..=max).contains(&bits) => Ok((signed, bits as u32)),
        _ => Err(CmdError::reply(BAD_TYPE)),
    }
}

/// The field's bits as an unsigned number (zeros past the end).
fn read_unsigned(value: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, i| {
        (acc << 1) | u64::from(bit_at(value, offset + i))
    })
}

/// The field's bits as a two's complement number.
fn read_signed(value: &[u8], offset: u64, bits: u32) -> i64 {
    let raw = read_unsigned(value, offset, bits);
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Stores the low `bits` bits of `field`.
fn write_field(value: &mut [u8], offset: u64, bits: u32, field: u64) {
    for i in 0..u64::from(bits) {
        let on = (field >> (u64::from(bits) - 1 - i)) & 1 == 1;
        set_bit_at(value, offset + i, on);
    }
}

/// GET's reply.
fn get(value: &[u8], op: &Op) -> i64 {
    if op.signed {
        read_signed(value, op.offset, op.bits)
    } else {
        read_unsigned(value, op.offset, op.bits) as i64
    }
}

/// Runs one operation on a string long enough for every write.
fn apply(value: &mut [u8], op: &Op) -> Reply {
    if op.kind == OpKind::Get {
        return Reply::Int(get(value, op));
    }
    let (new, reply, overflowed) = if op.signed {
        let old = read_signed(value, op.offset, op.bits);
        let (base, incr) = match op.kind {
            OpKind::IncrBy => (old, op.value),
            _ => (op.value, 0),
        };
        let limit = signed_overflow(base, incr, op.bits, op.overflow);
        let new = limit.unwrap_or(base.wrapping_add(incr));
        let reply = if op.kind == OpKind::IncrBy { new } else { old };
        (new as u64, reply, limit.is_some())
    } else {
        let old = read_unsigned(value, op.offset, op.bits);
        let (base, incr) = match op.kind {
            OpKind::IncrBy => (old, op.value),
            _ => (op.value as u64, 0),
        };
        let limit = unsigned_overflow(base, incr, op.bits, op.overflow);
        let new = limit.unwrap_or(base.wrapping_add(incr as u64));
        let reply = if op.kind == OpKind::IncrBy { new } else { old };
        (new, reply as i64, limit.is_some())
    };
    if overflowed && op.overflow == Overflow::Fail {
        return Reply::Nil;
    }
    write_field(value, op.offset, op.bits, new);
    Reply::Int(reply)
}

/// Redis's `checkUnsignedBitfieldOverflow`: `None` when `value + incr`
/// fits, else the value to store (meaningless under FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !u64::MAX.checked_shl(bits).unwrap_or(0);
    if value > max || (incr > 0 && incr > max_incr) {
        Some(match overflow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        })
    } else if incr < 0 && incr < min_incr {
        Some(match overflow {
            Overflow::Wrap => wrap(),
            Overflow::Sat | Overflow::Fail => 0,
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, with its wrapping intermediate
/// arithmetic: `None` when `value + incr` fits, else the value to store.
fn signed_overflow(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let limited = |limit: i64| match overflow {
        Overflow::Wrap => wrap(),
        Overflow::Sat => limit,
        Overflow::Fail => 0,
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Some(limited(max))
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(limited(min))
    } else {
        None
    }
}
