//! The simulation's tests: many seeds, replay, and the broken variants.

use super::world::{run_seed, Stats};
use crate::txn::participant::{Broken, Options};

/// Participant timeouts scaled to the simulation's few simulated seconds.
fn opts() -> Options {
    Options {
        lock_wait_ms: 500,
        idle_timeout_ms: 2_000,
        max_age_ms: 20_000,
        resolve_after_ms: 1_000,
        resend_ms: 200,
        gc_after_ms: 600_000,
        ..Options::default()
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn one_seed() {
    let seed = env("PETREL_TXN_SIM_SEED", 1);
    let sim = run_seed(seed, env("PETREL_TXN_SIM_STEPS", 600) as usize, opts());
    println!("{:?}", sim.stats);
}

#[test]
fn many_seeds() {
    let seeds = env("PETREL_TXN_SIM_SEEDS", 500);
    let mut total = Stats::default();
    for seed in 0..seeds {
        total += &run_seed(seed, 600, opts()).stats;
    }
    println!("{total:?}");
}

#[test]
fn same_seed_same_schedule() {
    let a = run_seed(7, 600, opts());
    let b = run_seed(7, 600, opts());
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.stats, b.stats);
    let c = run_seed(8, 600, opts());
    assert_ne!(a.trace, c.trace, "another seed, another schedule");
}

/// The schedule reaches what the checks are about.
#[test]
fn the_schedule_covers_the_protocol() {
    let mut total = Stats::default();
    for seed in 1000..1100 {
        total += &run_seed(seed, 600, opts()).stats;
    }
    for what in [
        "committed",
        "restarts",
        "node_crashes",
        "record_crashes",
        "coord_crashes",
        "status_asked",
        "prevents",
        "fast_reads",
        "fast_writes",
        "dropped",
        "duplicated",
    ] {
        assert!(total.get(what) > 0, "no {what} in {total:?}");
    }
}

/// Runs seeds with a broken participant until the checker panics; returns
/// the seed that caught it.
fn caught(broken: Broken, seeds: u64) -> Option<u64> {
    (0..seeds).find(|seed| {
        let opts = Options { broken, ..opts() };
        std::panic::catch_unwind(|| run_seed(*seed, 600, opts)).is_err()
    })
}

#[test]
fn catches_locks_released_before_the_decision() {
    let seed = caught(Broken::UnlockBeforeDecision, 200);
    assert!(seed.is_some(), "no violation found in 200 seeds");
    println!("locks released before the decision: caught by seed {seed:?}");
}

#[test]
fn catches_prepared_keys_readable_before_the_decision() {
    let seed = caught(Broken::ReadPrepared, 200);
    assert!(seed.is_some(), "no violation found in 200 seeds");
    println!("prepared keys readable before the decision: caught by seed {seed:?}");
}
