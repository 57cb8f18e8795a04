//! Code every Petrel process shares.
//!
//! - [`ids`]: newtypes for tables, partitions, ballots, decrees and node addresses.
//! - [`hash`]: the key-to-partition hash (fixed forever once data exists).
//! - [`geo`]: Redis's geohash scores, cells and distances (GEO*).
//! - [`hll`]: HyperLogLog in Redis's own string representation (PF*).
//! - [`partition`]: partition configurations and the versioned table map.
//! - [`meta_query`]: one table's map, read from meta (`QUERY_TABLE`).
//! - [`reply`]: the typed Redis reply value servers send and proxies encode.
//! - [`msg`]: every RPC body, as hand-derived protobuf messages.
//! - [`pubsub`]: messages between proxies and channel brokers.
//! - [`notify`]: keyspace notifications: event classes, the setting's text,
//!   the channels.
//! - [`num`]: integers parsed with Redis's rules.
//! - [`sort`]: SORT's options and BY/GET patterns.
//! - [`rdb`]: Redis's serialization of one value (DUMP / RESTORE payloads).
//! - [`codec`]: the byte reader and writer of durable records.
//! - [`rpc`]: length-prefixed, multiplexed RPC over TCP.
//! - [`fsutil`]: atomic, durable file replacement.
//! - [`config`]: TOML config loading with errors that name the bad key.
//! - [`runtime`]: the async runtime, sized by a process's `worker_threads` key.
//! - [`shutdown`]: the SIGTERM / Ctrl-C wait every process stops on.
//! - [`sync`]: the poison-tolerant lock helper.
//! - [`telemetry`]: logging and the Prometheus `/metrics` endpoint.
//! - [`txn`]: transactions across partitions: the participant, record and
//!   coordinator decision logic as pure machines, with their simulation.

pub mod codec;
pub mod command;
pub mod config;
pub mod fsutil;
pub mod geo;
pub mod glob;
pub mod hash;
pub mod hll;
pub mod ids;
pub mod meta_client;
pub mod meta_query;
pub mod msg;
pub mod notify;
pub mod num;
pub mod partition;
pub mod pubsub;
pub mod rdb;
pub mod reply;
pub mod rpc;
pub mod runtime;
pub mod scan;
pub mod shutdown;
pub mod sort;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod txn;
