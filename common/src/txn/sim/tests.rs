//! The simulation's tests: many seeds, replay, and the broken variants.

use super::world::{run_seed, Stats};
use crate::txn::participant::Options;

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
    let seeds = env("PETREL_TXN_SIM_SEEDS", 200);
    let mut total = Stats::default();
    for seed in 0..seeds {
        total += &run_seed(seed, 600, opts()).stats;
    }
    println!("{total:?}");
}
