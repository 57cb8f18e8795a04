//! The dense registers: 16,384 6-bit counters packed one after the other,
//! each starting at the least significant free bit of its byte and running
//! on into the next byte.
//!
//! Redis reads and writes the byte after a register's first byte even for
//! the last register, where it is the string's terminating zero; here a
//! byte past the end reads as 0 and is never written (Redis writes it
//! unchanged).

use super::format::{BITS, REGISTERS, REGISTER_MAX};

/// The first byte of register `index`, and the bit it starts at.
fn place(index: usize) -> (usize, usize) {
    let bit = index * BITS;
    (bit / 8, bit & 7)
}

/// The value of register `index`.
pub(super) fn get(registers: &[u8], index: usize) -> u8 {
    let (byte, first) = place(index);
    let b0 = u32::from(registers.get(byte).copied().unwrap_or(0));
    let b1 = u32::from(registers.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> first) | (b1 << (8 - first))) & u32::from(REGISTER_MAX)) as u8
}

/// Sets register `index` to `value` (at most 63).
pub(super) fn set(registers: &mut [u8], index: usize, value: u8) {
    let (byte, first) = place(index);
    let value = u32::from(value & REGISTER_MAX);
    let max = u32::from(REGISTER_MAX);
    if let Some(b) = registers.get_mut(byte) {
        *b = ((u32::from(*b) & !(max << first)) | (value << first)) as u8;
    }
    if let Some(b) = registers.get_mut(byte + 1) {
        let shift = 8 - first;
        *b = ((u32::from(*b) & !(max >> shift)) | (value >> shift)) as u8;
    }
}

/// Raises register `index` to `count` if it is lower (Redis's
/// `hllDenseSet`): whether it was.
pub(super) fn raise(registers: &mut [u8], index: usize, count: u8) -> bool {
    if count > get(registers, index) {
        set(registers, index, count);
        true
    } else {
        false
    }
}

/// How many registers hold each value.
pub(super) fn histogram(registers: &[u8]) -> [u64; 64] {
    let mut histogram = [0u64; 64];
    for i in 0..REGISTERS {
        histogram[usize::from(get(registers, i))] += 1;
    }
    histogram
}

/// Raises each of `max` to the register's value where that is higher.
pub(super) fn merge(registers: &[u8], max: &mut [u8]) {
    for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
        *m = (*m).max(get(registers, i));
    }
}
