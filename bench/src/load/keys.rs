//! Key distributions: which key number (0..keyspace) the next operation uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::Rng;

use super::options::Distribution;

/// YCSB's default skew.
pub(crate) const ZIPFIAN_THETA: f64 = 0.99;

/// Draws key numbers in `0..keyspace`.
#[derive(Debug, Clone)]
pub(crate) enum KeyGen {
    /// Every key equally likely.
    Uniform { keyspace: u64 },
    /// YCSB zipfian; shared constants, cheap to clone.
    Zipfian(Arc<Zipfian>),
    /// One counter shared by all clients, wrapping at `keyspace`.
    Sequential { keyspace: u64, next: Arc<AtomicU64> },
}

impl KeyGen {
    /// A generator over `keyspace` keys (at least 1).
    pub(crate) fn new(distribution: Distribution, keyspace: u64) -> KeyGen {
        let keyspace = keyspace.max(1);
        match distribution {
            Distribution::Uniform => KeyGen::Uniform { keyspace },
            Distribution::Zipfian => {
                KeyGen::Zipfian(Arc::new(Zipfian::new(keyspace, ZIPFIAN_THETA)))
            }
            Distribution::Sequential => KeyGen::Sequential {
                keyspace,
                next: Arc::new(AtomicU64::new(0)),
            },
        }
    }

    /// The next key number.
    pub(crate) fn next<R: Rng>(&self, rng: &mut R) -> u64 {
        match self {
            KeyGen::Uniform { keyspace } => rng.gen_range(0..*keyspace),
            KeyGen::Zipfian(z) => z.next(rng),
            KeyGen::Sequential { keyspace, next } => {
                next.fetch_add(1, Ordering::Relaxed) % keyspace
            }
        }
    }
}

/// The zipfian generator of YCSB (Gray et al., "Quickly generating
/// billion-record synthetic databases"): item 0 is the most popular, item
/// `i` has probability proportional to `1 / (i+1)^theta`.
#[derive(Debug)]
pub(crate) struct Zipfian {
    items: u64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    half_pow_theta: f64,
}

impl Zipfian {
    /// Precomputes the constants; O(items) for zeta(n).
    pub(crate) fn new(items: u64, theta: f64) -> Zipfian {
        let zetan = zeta(items, theta);
        let zeta2 = zeta(2, theta);
        let eta = (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipfian {
            items,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
            half_pow_theta: 0.5f64.powf(theta),
        }
    }

    /// The next item.
    pub(crate) fn next<R: Rng>(&self, rng: &mut R) -> u64 {
        let u: f64 = rng.gen();
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + self.half_pow_theta && self.items > 1 {
            return 1;
        }
        let v = self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha);
        (v as u64).min(self.items - 1)
    }
}

/// `sum_{i=1..n} 1 / i^theta`.
fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn zipfian_most_popular_key_gets_expected_share() {
        let gen = KeyGen::new(Distribution::Zipfian, 1000);
        let KeyGen::Zipfian(z) = &gen else {
            panic!("not zipfian")
        };
        // Item 0's probability: 1 / 1^theta / zeta(n).
        let expected = 1.0 / z.zetan;
        let mut rng = StdRng::seed_from_u64(7);
        let n = 200_000;
        let mut counts = vec![0u64; 1000];
        for _ in 0..n {
            counts[gen.next(&mut rng) as usize] += 1;
        }
        let share = counts[0] as f64 / n as f64;
        // About 13% for 1000 keys at theta 0.99.
        assert!(
            (share - expected).abs() < 0.1 * expected,
            "share {share} expected {expected}"
        );
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500]);
    }

    #[test]
    fn sequential_wraps_and_is_shared() {
        let gen = KeyGen::new(Distribution::Sequential, 3);
        let other = gen.clone();
        let mut rng = StdRng::seed_from_u64(1);
        let mut got: Vec<u64> = (0..4).map(|_| gen.next(&mut rng)).collect();
        got.extend((0..3).map(|_| other.next(&mut rng)));
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn uniform_covers_the_space() {
        let gen = KeyGen::new(Distribution::Uniform, 100);
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = [0u32; 100];
        for _ in 0..10_000 {
            seen[gen.next(&mut rng) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 50 && c < 160), "{seen:?}");
    }
}
