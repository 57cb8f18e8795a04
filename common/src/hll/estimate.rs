//! The cardinality from how many registers hold each value: Redis 7.0's
//! `hllCount`, after Otmar Ertl, "New cardinality estimation algorithms
//! for HyperLogLog sketches" (arXiv:1702.01284). The floating-point steps
//! are Redis's, in its order, so the estimate is Redis's to the unit.

use super::format::{P, REGISTERS};

/// The bits of the hash left after the register index.
const Q: usize = 64 - P as usize;
/// 0.5 / ln 2.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// The series below converge in well under a hundred steps on any input;
/// the bound only guards against a loop that never ends.
const MAX_STEPS: usize = 4096;

/// Ertl's sigma.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    for _ in 0..MAX_STEPS {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            break;
        }
    }
    z
}

/// Ertl's tau.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..MAX_STEPS {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            break;
        }
    }
    z / 3.0
}

/// The estimate from `histogram` (registers per value, 0 to 63).
pub(super) fn cardinality(histogram: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    to_card(ALPHA_INF * m * m / z)
}

/// What Redis makes of the estimate: `llroundl` (whose answer outside a
/// signed 64-bit integer's range, or for NaN, is its minimum), kept in a
/// double, converted to an unsigned 64-bit integer as x86-64 code does
/// (the minimum becomes 2^63).
fn to_card(estimate: f64) -> u64 {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    let rounded = estimate.round();
    let long = if rounded.is_nan() || !(-TWO_TO_63..TWO_TO_63).contains(&rounded) {
        i64::MIN
    } else {
        rounded as i64
    };
    let back = long as f64;
    if back >= TWO_TO_63 {
        back as u64
    } else {
        back as i64 as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_histogram_counts_zero() {
        let mut h = [0u64; 64];
        h[0] = REGISTERS as u64;
        assert_eq!(cardinality(&h), 0);
    }

    #[test]
    fn estimates_out_of_range_become_two_to_the_63rd() {
        // Every register at 51 or 50 (only a crafted value has that):
        // Redis answers -9223372036854775808.
        for v in [50, 51] {
            let mut h = [0u64; 64];
            h[v] = REGISTERS as u64;
            assert_eq!(cardinality(&h), 1 << 63, "{v}");
        }
        assert_eq!(to_card(f64::NAN), 1 << 63);
        assert_eq!(to_card(f64::INFINITY), 1 << 63);
        assert_eq!(to_card(2.5), 3);
    }
}
