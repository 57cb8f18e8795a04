//! petrel-proxy: speaks RESP2/RESP3 to Redis clients and routes each command
//! to the primary of its key's partition.
//!
//! Follow a request through the modules (each uses only those listed
//! before it or below it; `scripts/module-cycles proxy` checks there is no
//! cycle):
//! - [`listener`]: binds the port, accepts clients (up to `maxclients`),
//!   shuts down gracefully.
//! - [`conn`]: one task per client: read, dispatch, write replies in order;
//!   [`completion`] keeps one client's commands on the same keys in order.
//! - [`resp`]: the wire protocol: [`resp::decode`] (requests) and
//!   [`resp::encode`] (replies, RESP2 or RESP3).
//! - [`dispatch`]: the one name lookup in the command table
//!   (`petrel_common::command`), arity, auth and ACL checks in Redis's
//!   order, then a local handler or the router.
//! - [`cmd`]: the commands the proxy answers itself, by family.
//! - [`action`]: what handlers return and may use; what a command touches.
//! - [`route`]: the partition map cache, the retrying executor, split and
//!   merge of multi-key commands.
//! - [`script`]: the script cache and running a script at its keys'
//!   partition (EVAL, EVALSHA, FCALL); [`program`]: what such a run carries.
//! - [`pubsub`]: subscribers of this proxy, their registration with the
//!   channel brokers and the long polls that bring their messages.
//! - [`catalog`]: the cluster's scripts and function libraries, kept by
//!   meta, and this proxy's copy.
//! - [`settings`]: cluster-wide `CONFIG` parameters
//!   (`notify-keyspace-events`), kept by meta.
//! - [`txn`]: multi-key commands and MULTI blocks whose keys span
//!   partitions, run as transactions (the coordinator's side of
//!   docs/TRANSACTIONS.md).
//! - [`session`], [`state`], [`stats`], [`pause`], [`knobs`]: per-connection
//!   state, shared state, counters for INFO and `/metrics`, CLIENT PAUSE,
//!   Redis parameters CONFIG remembers.
//! - [`acl`], [`databases`], [`config`], [`util`]: users, the tables behind
//!   SELECT, `proxy.toml` and flags, Redis's parsers and texts.
//! - [`main`]: the binary's entry point (flags, runtime, serve).

pub(crate) mod acl;
pub(crate) mod action;
pub(crate) mod catalog;
pub(crate) mod cluster_acl;
pub(crate) mod cluster_sync;
pub(crate) mod cmd;
pub(crate) mod completion;
pub(crate) mod config;
pub(crate) mod conn;
pub(crate) mod databases;
pub(crate) mod dispatch;
pub(crate) mod knobs;
pub(crate) mod listener;
pub(crate) mod outlimit;
pub(crate) mod pause;
mod process;
pub(crate) mod program;
pub(crate) mod pubsub;
pub mod resp;
pub(crate) mod route;
pub(crate) mod script;
pub(crate) mod session;
pub(crate) mod settings;
pub(crate) mod state;
pub(crate) mod stats;
pub(crate) mod txn;
pub(crate) mod unblock;
pub(crate) mod util;

use std::path::PathBuf;

pub use config::{Flags, ProxyConfig};
pub use listener::{Proxy, StartError};
pub use process::main;

/// Runs the proxy with `config` until SIGTERM or ctrl-c.
pub async fn run(config: ProxyConfig) -> Result<(), StartError> {
    run_with_file(config, None).await
}

/// Like [`run`], recording the config file path for INFO.
pub(crate) async fn run_with_file(
    config: ProxyConfig,
    config_file: Option<PathBuf>,
) -> Result<(), StartError> {
    let proxy = Proxy::bind(config, config_file).await?;
    let metrics_addr = proxy.shared().config.metrics_listen.clone();
    if !metrics_addr.is_empty() {
        petrel_common::telemetry::serve_metrics(&metrics_addr)
            .await
            .map_err(|e| StartError::Metrics(format!("{e:#}")))?;
    }
    tokio::spawn(listener::cancel_on_signal(proxy.shutdown_token()));
    proxy.serve().await;
    Ok(())
}
