//! The sparse registers: run-length opcodes, in register order.
//!
//! - ZERO `00xxxxxx`: 1 to 64 registers at 0;
//! - XZERO `01xxxxxx yyyyyyyy`: 1 to 16,384 registers at 0 (14 bits);
//! - VAL `1vvvvvxx`: 1 to 4 registers at value 1 to 32.
//!
//! A register set to a value changes the opcode covering it in place, as
//! Redis's `hllSparseSet` does: the opcode is split in up to three, then
//! equal VAL neighbours within five opcodes are joined. Values written by
//! Redis may be corrupt (a SET of any bytes behind a valid header): they
//! are read as Redis reads them, an XZERO cut short by the end of the
//! string reading a 0 for its missing byte (Redis reads the terminating
//! zero), and never index out of bounds.

use super::dense;
use super::format::{HllError, DENSE_LEN, ENCODING_AT, HEADER_LEN, REGISTERS, STALE_AT, STALE_BIT};

const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;
/// The largest value a VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
/// The longest run of a VAL opcode.
const VAL_MAX_LEN: usize = 4;
/// The longest run of a ZERO opcode.
const ZERO_MAX_LEN: usize = 64;
/// The longest run of an XZERO opcode.
const XZERO_MAX_LEN: usize = 16384;
/// How many opcodes from the one before the change are looked at for VAL
/// opcodes to join.
const JOIN_SCAN: usize = 5;

/// One opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of registers at 0; `long` for XZERO.
    Zeros { run: usize, long: bool },
    /// A run of registers at `value`.
    Val { value: u8, run: usize },
}

impl Op {
    /// How many registers it covers.
    fn run(self) -> usize {
        match self {
            Op::Zeros { run, .. } | Op::Val { run, .. } => run,
        }
    }

    /// How many bytes it takes.
    fn len(self) -> usize {
        match self {
            Op::Zeros { long: true, .. } => 2,
            _ => 1,
        }
    }
}

/// The opcode at `at` (which must be inside `ops`).
fn op_at(ops: &[u8], at: usize) -> Op {
    let b = ops[at];
    if b & VAL_BIT != 0 {
        Op::Val {
            value: ((b >> 2) & 0x1f) + 1,
            run: usize::from(b & 0x3) + 1,
        }
    } else if b & XZERO_BIT != 0 {
        let low = ops.get(at + 1).copied().unwrap_or(0);
        Op::Zeros {
            run: ((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1,
            long: true,
        }
    } else {
        Op::Zeros {
            run: usize::from(b & 0x3f) + 1,
            long: false,
        }
    }
}

/// Every opcode of `ops` with where it starts.
fn ops_of(ops: &[u8]) -> impl Iterator<Item = (usize, Op)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= ops.len() {
            return None;
        }
        let op = op_at(ops, at);
        let here = at;
        at += op.len();
        Some((here, op))
    })
}

fn val_byte(value: u8, run: usize) -> u8 {
    VAL_BIT | ((value - 1) << 2) | (run - 1) as u8
}

/// Appends the opcode for `run` (at most 16,384) registers at 0: ZERO up
/// to 64, XZERO beyond.
fn push_zero_run(out: &mut Vec<u8>, run: usize) {
    if run > ZERO_MAX_LEN {
        let n = run - 1;
        out.push(XZERO_BIT | ((n >> 8) & 0x3f) as u8);
        out.push((n & 0xff) as u8);
    } else {
        out.push((run - 1) as u8);
    }
}

/// Appends XZERO opcodes for `count` registers at 0 (a new HLL's).
pub(super) fn push_zeros(out: &mut Vec<u8>, mut count: usize) {
    while count > 0 {
        let run = count.min(XZERO_MAX_LEN);
        let n = run - 1;
        out.push(XZERO_BIT | (n >> 8) as u8);
        out.push((n & 0xff) as u8);
        count -= run;
    }
}

/// Raises register `index` to `count` in the sparse value `hll` (header
/// included), or turns it dense first when `count` is more than VAL holds
/// or the value would grow past `max_bytes`: whether the register grew.
/// A change marks the cache stale (the dense path leaves that to the
/// caller, as Redis does).
pub(super) fn raise(
    hll: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, HllError> {
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }
    // Find the opcode covering `index`, the one before it, and the first
    // register it covers.
    let end = hll.len();
    let mut at = HEADER_LEN;
    let mut first = 0usize;
    let mut prev = None;
    let mut found = None;
    while at < end {
        let op = op_at(hll, at);
        if index < first + op.run() {
            found = Some(op);
            break;
        }
        prev = Some(at);
        at += op.len();
        first += op.run();
    }
    let Some(op) = found else {
        return Err(HllError::Corrupt);
    };
    let has_next = at + op.len() < end;
    match op {
        Op::Val { value, .. } if value >= count => return Ok(false),
        Op::Val { run: 1, .. }
        | Op::Zeros {
            run: 1,
            long: false,
        } => {
            hll[at] = val_byte(count, 1);
            join_vals(hll, prev);
            return Ok(true);
        }
        _ => {}
    }
    // Split the opcode: what lies before the register, the register, and
    // what lies after it.
    let last = first + op.run() - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Zeros { .. } => {
            if index != first {
                push_zero_run(&mut seq, index - first);
            }
            seq.push(val_byte(count, 1));
            if index != last {
                push_zero_run(&mut seq, last - index);
            }
        }
        Op::Val { value, .. } => {
            if index != first {
                seq.push(val_byte(value, index - first));
            }
            seq.push(val_byte(count, 1));
            if index != last {
                seq.push(val_byte(value, last - index));
            }
        }
    }
    let new_len = (end + seq.len()).saturating_sub(op.len());
    if seq.len() > op.len() && new_len > max_bytes {
        return promote(hll, index, count);
    }
    if has_next {
        hll.splice(at..at + op.len(), seq);
    } else {
        // The last opcode (an XZERO may be cut short by the end of the
        // string): Redis writes the sequence and sets the length by the
        // opcode's nominal size.
        hll.truncate(at);
        hll.extend_from_slice(&seq);
        hll.truncate(new_len);
    }
    join_vals(hll, prev);
    Ok(true)
}

/// Joins adjacent VAL opcodes of one value whose runs fit in one, looking
/// at most [`JOIN_SCAN`] opcodes from `from` (the opcode before the
/// changed one, or the first); then marks the cache stale.
fn join_vals(hll: &mut Vec<u8>, from: Option<usize>) {
    let mut at = from.unwrap_or(HEADER_LEN);
    let mut scan = JOIN_SCAN;
    while at < hll.len() && scan > 0 {
        scan -= 1;
        let op = op_at(hll, at);
        let Op::Val { value, run } = op else {
            at += op.len();
            continue;
        };
        if let Some(Op::Val {
            value: next_value,
            run: next_run,
        }) = hll.get(at + 1).map(|_| op_at(hll, at + 1))
        {
            if next_value == value && run + next_run <= VAL_MAX_LEN {
                hll[at + 1] = val_byte(value, run + next_run);
                hll.remove(at);
                // Try the joined opcode with the one after it.
                continue;
            }
        }
        at += 1;
    }
    hll[STALE_AT] |= STALE_BIT;
}

/// Turns the value dense, then raises the register there.
fn promote(hll: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    *hll = to_dense(hll)?;
    Ok(dense::raise(&mut hll[HEADER_LEN..], index, count))
}

/// The dense form of the sparse value `hll` (header kept, but for the
/// encoding), as Redis's `hllSparseToDense` builds it.
pub(super) fn to_dense(hll: &[u8]) -> Result<Vec<u8>, HllError> {
    let mut out = vec![0u8; DENSE_LEN];
    out[..HEADER_LEN].copy_from_slice(&hll[..HEADER_LEN]);
    out[ENCODING_AT] = 0;
    let registers = &mut out[HEADER_LEN..];
    let mut idx = 0usize;
    for (_, op) in ops_of(&hll[HEADER_LEN..]) {
        match op {
            Op::Zeros { run, .. } => idx = idx.saturating_add(run),
            Op::Val { value, run } => {
                if idx.saturating_add(run) > REGISTERS {
                    break;
                }
                for i in idx..idx + run {
                    dense::set(registers, i, value);
                }
                idx += run;
            }
        }
    }
    if idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    Ok(out)
}

/// How many registers hold each value; [`HllError::Corrupt`] unless the
/// opcodes cover exactly 16,384 registers.
pub(super) fn histogram(ops: &[u8]) -> Result<[u64; 64], HllError> {
    let mut histogram = [0u64; 64];
    let mut idx = 0usize;
    for (_, op) in ops_of(ops) {
        let (value, run) = match op {
            Op::Zeros { run, .. } => (0, run),
            Op::Val { value, run } => (value, run),
        };
        histogram[usize::from(value)] += run as u64;
        idx = idx.saturating_add(run);
    }
    if idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    Ok(histogram)
}

/// Raises each of `max` to the register's value where that is higher.
pub(super) fn merge(ops: &[u8], max: &mut [u8]) -> Result<(), HllError> {
    let mut idx = 0usize;
    for (_, op) in ops_of(ops) {
        match op {
            Op::Zeros { run, .. } => idx = idx.saturating_add(run),
            Op::Val { value, run } => {
                if idx.saturating_add(run) > REGISTERS {
                    break;
                }
                for m in &mut max[idx..idx + run] {
                    *m = (*m).max(value);
                }
                idx += run;
            }
        }
    }
    if idx != REGISTERS {
        return Err(HllError::Corrupt);
    }
    Ok(())
}

/// The opcodes as PFDEBUG DECODE spells them, separated by spaces.
pub(super) fn decode(ops: &[u8]) -> String {
    let words: Vec<String> = ops_of(ops)
        .map(|(_, op)| match op {
            Op::Zeros { run, long: false } => format!("z:{run}"),
            Op::Zeros { run, long: true } => format!("Z:{run}"),
            Op::Val { value, run } => format!("v:{value},{run}"),
        })
        .collect();
    words.join(" ")
}
