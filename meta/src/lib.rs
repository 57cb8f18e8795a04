//! petrel-meta: the configuration manager.
//!
//! - [`config`]: `conf/meta.toml` keys and flags.
//! - [`state`]: tables, partition configurations and known nodes; the
//!   durable part of meta.
//! - [`raft`]: the meta group: meta's state replicated with Raft
//!   (`openraft`), its log and snapshots on disk; only the leader decides.
//! - [`store`]: the single-meta `state.json` of earlier versions, read once
//!   when a group takes it over.
//! - [`placement`]: where partitions go (spread, primaries balanced).
//! - [`liveness`]: which servers beacon in time.
//! - [`reconfig`]: failover, restart, removal, learner and
//!   primary-balancing decisions as pure functions of a snapshot.
//! - [`scripting`]: the cluster's scripts and function libraries
//!   (`SCRIPT LOAD`, `FUNCTION LOAD`), part of the durable state.
//! - [`settings`]: cluster settings (`CONFIG SET notify-keyspace-events`),
//!   part of the durable state, pushed to the servers when they change.
//! - [`driver`]: what meta keeps in memory from beacons, and one
//!   reconfiguration round that applies [`reconfig`]'s decisions to the state.
//! - [`service`]: the RPC surface servers, proxies and the CLI call, and the
//!   reconfiguration task.
//! - [`main`]: the binary's entry point (flags over `conf/meta.toml`).

pub mod config;
pub(crate) mod driver;
pub(crate) mod liveness;
pub(crate) mod placement;
mod process;
pub mod raft;
pub(crate) mod reconfig;
pub mod scripting;
pub(crate) mod service;
pub mod settings;
pub mod state;
pub mod store;

pub use process::main;
pub(crate) use service::run;
pub use service::MetaService;
