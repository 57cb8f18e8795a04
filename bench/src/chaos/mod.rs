//! `petrel-chaos`: faults against a real cluster, and checks of what clients saw.
//!
//! - [`history`]: operations as clients saw them (invocation, completion,
//!   outcome), on a monotonic clock.
//! - [`checker`]: per-key linearizability (Wing–Gong–Lowe search with
//!   memoization) against a model of one Redis key, plus the simpler checks
//!   (no acknowledged write lost, counters within bounds).
//! - [`faults`]: fault primitives: network namespaces and iptables
//!   partitions, disk full, fsync failure, clock jumps.
//! - [`cluster`]: the processes under test (meta, servers, proxy).
//! - [`workload`]: client workers recording every operation.
//! - [`multikey`]: multi-key workloads (bank, MSET snapshots, LMOVE) and
//!   their checkers, run beside the per-key workload.
//! - [`nemesis`]: the seeded fault schedule and its execution.
//! - [`run`]: one whole run: cluster, load and faults, heal, final reads,
//!   checks.
//! - [`main`]: the `petrel-chaos` binary's flags and report.

pub(crate) mod checker;
pub(crate) mod cluster;
pub(crate) mod faults;
pub(crate) mod history;
pub(crate) mod multikey;
pub(crate) mod nemesis;
mod process;
pub(crate) mod run;
pub(crate) mod workload;

pub use process::main;
