//! Timing several implementations of one operation in interleaved rounds.
//!
//! The machines we measure on share their cores with other work, so a
//! burst of noise must hit every contender alike: each round times every
//! contender once, in an order that rotates from round to round, and the
//! figures are medians over rounds (ratios are taken within a round).
//! Time is the thread's CPU time, not the wall clock: a sample during
//! which the scheduler ran another process is not charged for it (the
//! caches it left cold still are).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One implementation of a case's operation.
pub(crate) struct Contender<'a> {
    /// What the report calls it.
    pub(crate) name: &'static str,
    /// Runs the operation the given number of times.
    run: Box<dyn FnMut(u64) + 'a>,
}

impl<'a> Contender<'a> {
    /// `op` is one operation; the loop around it is compiled with it, so
    /// the report does not time a dynamic call per operation.
    pub(crate) fn new(name: &'static str, mut op: impl FnMut() + 'a) -> Contender<'a> {
        Contender {
            name,
            run: Box::new(move |n| {
                for _ in 0..n {
                    op();
                }
            }),
        }
    }
}

/// One operation on one input, as several contenders do it (the first is
/// Petrel's own code, the yardstick for the others).
pub(crate) struct Case<'a> {
    /// What is done to what, e.g. `encode RESP2 +OK`.
    pub(crate) name: String,
    /// Wire bytes one operation produces or consumes (for MB/s).
    pub(crate) bytes: usize,
    /// Petrel's first, then the alternatives.
    pub(crate) contenders: Vec<Contender<'a>>,
}

/// A contender's figures in one case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    /// The contender's name.
    pub(crate) name: &'static str,
    /// Median nanoseconds per operation over the rounds.
    pub(crate) ns_per_op: f64,
    /// Median over rounds of (this contender's time / the first's), with
    /// the smallest and largest round.
    pub(crate) ratio: (f64, f64, f64),
}

/// A case's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The case's name.
    pub(crate) name: String,
    /// Wire bytes per operation.
    pub(crate) bytes: usize,
    /// One per contender, in the case's order.
    pub(crate) figures: Vec<Figure>,
}

impl Measured {
    /// Megabytes (10^6) of wire bytes per second at `ns_per_op`.
    pub(crate) fn mb_per_s(&self, ns_per_op: f64) -> f64 {
        self.bytes as f64 * 1000.0 / ns_per_op
    }
}

/// How long to time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Rounds per case; each round times every contender once.
    pub(crate) rounds: usize,
    /// About how long one contender runs in one round.
    pub(crate) sample: Duration,
}

/// Times `case` by `plan`.
pub(crate) fn measure(mut case: Case<'_>, plan: Plan) -> Measured {
    let n = case.contenders.len();
    let iters: Vec<u64> = case
        .contenders
        .iter_mut()
        .map(|c| calibrate(&mut c.run, plan.sample))
        .collect();
    let mut ns = vec![Vec::with_capacity(plan.rounds); n];
    for round in 0..plan.rounds.max(1) {
        for k in 0..n {
            let i = (k + round) % n;
            let t = cpu_time();
            (case.contenders[i].run)(iters[i]);
            let took = cpu_time().saturating_sub(t);
            ns[i].push(took.as_nanos() as f64 / iters[i] as f64);
        }
    }
    let figures = case
        .contenders
        .iter()
        .zip(&ns)
        .map(|(c, times)| {
            let mut ratios: Vec<f64> = times.iter().zip(&ns[0]).map(|(t, a)| t / a).collect();
            let median_ratio = median(&mut ratios);
            Figure {
                name: c.name,
                ns_per_op: median(&mut times.clone()),
                ratio: (median_ratio, ratios[0], ratios[ratios.len() - 1]),
            }
        })
        .collect();
    Measured {
        name: case.name,
        bytes: case.bytes,
        figures,
    }
}

/// How many operations take about `sample` (at least one); also warms the
/// caches and the allocator up.
fn calibrate(run: &mut Box<dyn FnMut(u64) + '_>, sample: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let t = cpu_time();
        run(n);
        let took = cpu_time().saturating_sub(t);
        if took >= sample / 8 || n >= 1 << 40 {
            let per_op = took.as_nanos().max(1) as f64 / n as f64;
            return ((sample.as_nanos() as f64 / per_op) as u64).max(1);
        }
        n *= 2;
    }
}

/// The CPU time this thread has used.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill in.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        // Linux always has this clock; elsewhere, fall back to the wall clock.
        static START: OnceLock<Instant> = OnceLock::new();
        return START.get_or_init(Instant::now).elapsed();
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sorts `xs` and returns its median (the mean of the middle two for an
/// even count); 0 for none.
fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn cpu_time_advances_with_work_only() {
        let t = cpu_time();
        std::hint::black_box(spin(1_000_000));
        let busy = cpu_time() - t;
        assert!(busy > Duration::ZERO);
        let t = cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        assert!(cpu_time() - t < Duration::from_millis(25));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn every_contender_runs_every_round_and_slower_shows_a_higher_ratio() {
        let fast = Cell::new(0u64);
        let slow = Cell::new(0u64);
        let case = Case {
            name: "spin".into(),
            bytes: 10,
            contenders: vec![
                Contender::new("fast", || {
                    fast.set(fast.get() + 1);
                    std::hint::black_box(spin(100));
                }),
                Contender::new("slow", || {
                    slow.set(slow.get() + 1);
                    std::hint::black_box(spin(2_000));
                }),
            ],
        };
        let m = measure(
            case,
            Plan {
                rounds: 3,
                sample: Duration::from_millis(2),
            },
        );
        assert!(fast.get() > 0 && slow.get() > 0);
        assert_eq!(m.figures.len(), 2);
        assert_eq!(m.figures[0].ratio.0, 1.0);
        let slow = &m.figures[1];
        assert!(slow.ratio.0 > 2.0, "{m:?}");
        assert!(slow.ratio.1 <= slow.ratio.0 && slow.ratio.0 <= slow.ratio.2);
        assert!(m.mb_per_s(m.figures[0].ns_per_op) > m.mb_per_s(slow.ns_per_op));
    }

    fn spin(n: u64) -> u64 {
        (0..n).fold(0u64, |a, i| {
            std::hint::black_box(a.wrapping_mul(31).wrapping_add(i))
        })
    }
}
