//! Load and consistency tools for Petrel.
//!
//! - [`chaos`]: `petrel-chaos`, a Jepsen-style test: a real cluster, client
//!   workers recording every operation, a seeded nemesis injecting faults,
//!   and checkers (per-key linearizability, no lost acknowledged write).
//! - [`load`]: `petrel-bench`, the load generator.
//! - [`resp_bench`]: `petrel-resp-bench`, Petrel's RESP code timed against
//!   the `redis-protocol` crate's.

pub mod chaos;
pub mod load;
pub mod resp_bench;
