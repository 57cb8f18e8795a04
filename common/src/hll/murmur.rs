//! The hash Redis's HyperLogLog uses (MurmurHash64A, the endian-neutral
//! variant Redis ships) and what an element makes of it.

use super::format::{P, REGISTERS};

/// Redis's seed for HLL hashing.
const SEED: u64 = 0xadc8_3b19;

/// MurmurHash64A of `data` with `seed`, reading words little-endian.
pub(super) fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let mut k = u64::from_le_bytes(bytes);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register `element` falls in and the length of its hash's run of
/// zeros after the index bits, counting the closing 1 (1 to 51): Redis's
/// `hllPatLen`.
pub(super) fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // A sentinel bit past the 50 used ones ends the run at 51.
    let rest = (hash >> P) | (1u64 << (64 - P));
    (index, rest.trailing_zeros() as u8 + 1)
}
