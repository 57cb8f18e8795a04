//! Redis's `math.random`: a 48-bit linear congruential generator (`rand48`)
//! whose sequence is the same on every platform.

use std::sync::atomic::{AtomicU64, Ordering};

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
/// Redis's initial state (`X0 X1 X2`).
const INITIAL: u64 = 0x1234_ABCD_330E;
/// `REDIS_LRAND48_MAX`.
pub(crate) const LRAND48_MAX: i64 = i32::MAX as i64;

/// The generator's state, shared by every script of one engine (as Redis's
/// is by every script of one server).
#[derive(Debug)]
pub(crate) struct Rand48(AtomicU64);

impl Default for Rand48 {
    fn default() -> Self {
        Rand48(AtomicU64::new(INITIAL))
    }
}

impl Rand48 {
    /// `redisSrand48`.
    pub(crate) fn seed(&self, seed: i32) {
        let s = (seed as u32) as u64;
        self.0.store((s << 16) | 0x330E, Ordering::Relaxed);
    }

    /// `redisLrand48`: the next 31-bit value.
    pub(crate) fn next(&self) -> i64 {
        let x = (self
            .0
            .load(Ordering::Relaxed)
            .wrapping_mul(A)
            .wrapping_add(C))
            & MASK;
        self.0.store(x, Ordering::Relaxed);
        (x >> 17) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_posix_rand48_sequence() {
        // lrand48() after srand48(0) on glibc.
        let r = Rand48::default();
        r.seed(0);
        assert_eq!(r.next(), 366850414);
        assert_eq!(r.next(), 1610402240);
    }
}
