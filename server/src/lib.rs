//! petrel-server: hosts partition replicas and executes Redis commands on them.
//!
//! - [`config`]: `conf/server.toml` keys.
//! - [`storage`]: the engine trait, RocksDB and in-memory engines, key layout.
//! - [`cmd`]: Redis command semantics (command -> reply + mutation).
//! - [`log`]: the mutation log: segments, checksummed records, group commit.
//! - [`replica`]: one hosted replica: configuration, role, write path; its
//!   PacificA state machine (no I/O) in [`replica::machine`], driven by a
//!   tokio task in [`replica::shell`].
//! - [`learn`]: a learner copies a RocksDB checkpoint of the primary's
//!   replica and installs it in place of its own storage: both sides, and
//!   the primary's store of prepared checkpoints.
//! - [`txn`]: a primary's side of transactions across partitions: running
//!   a transaction's commands into pending writes, keys carried between
//!   partitions.
//! - [`node`]: this server in the cluster: replicas, lease, beacons to meta.
//! - [`pubsub`]: the channel brokers of the partitions this server leads;
//!   [`notify`]: the keyspace notifications its primaries publish there.
//! - [`service`]: the RPC surface (Execute, peer messages, checkpoints,
//!   ReplicaStatus), thin glue over the modules above.
//! - [`run`]: process start-up and shutdown; [`main`] the binary's entry
//!   point (flags over `conf/server.toml`, runtime, [`run::run`]).

pub(crate) mod cmd;
pub(crate) mod config;
pub(crate) mod learn;
pub(crate) mod log;
pub(crate) mod node;
pub(crate) mod notify;
mod process;
pub(crate) mod pubsub;
pub(crate) mod replica;
pub(crate) mod run;
pub(crate) mod service;
pub mod storage;
pub(crate) mod txn;

pub use process::main;
