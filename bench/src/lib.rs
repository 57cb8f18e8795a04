//! Load and consistency tools for Petrel.
//!
//! - [`chaos`]: `petrel-chaos`, a Jepsen-style test: a real cluster, client
//!   workers recording every operation, a seeded nemesis injecting faults,
//!   and checkers (per-key linearizability, no lost acknowledged write).

pub mod chaos;
pub mod load;
