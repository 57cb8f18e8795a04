//! petrel-proxy: speaks RESP2/RESP3 to Redis clients and routes each command
//! to the primary of its key's partition.
//!
//! Follow a request through the modules:
//! - [`listener`]: binds the port, accepts clients (up to `maxclients`),
//!   shuts down gracefully.
//! - [`conn`]: one task per client: read, dispatch, write replies in order;
//!   [`completion`] keeps one client's commands on the same keys in order.
//! - [`resp`]: the wire protocol: [`resp::decode`] (requests) and
//!   [`resp::encode`] (replies, RESP2 or RESP3).
//! - [`dispatch`]: name lookup, arity and auth checks, then local or routed.
//! - [`cmd`]: the one command table, by family, and the local commands.
//! - [`route`]: the partition map cache and the retrying executor; split and
//!   merge of multi-key commands.
//! - [`session`], [`state`], [`stats`]: per-connection state, shared state,
//!   counters for INFO and `/metrics`.
//! - [`config`]: `proxy.toml` and the command-line flags.

pub mod acl;
pub mod cmd;
pub mod completion;
pub mod config;
pub mod conn;
pub mod databases;
pub mod dispatch;
pub mod listener;
pub mod resp;
pub mod route;
pub mod session;
pub mod state;
pub mod stats;
pub mod util;

use std::path::PathBuf;

pub use config::{Flags, ProxyConfig};
pub use listener::{Proxy, StartError};

/// Runs the proxy with `config` until SIGTERM or ctrl-c.
pub async fn run(config: ProxyConfig) -> Result<(), StartError> {
    run_with_file(config, None).await
}

/// Like [`run`], recording the config file path for INFO.
pub async fn run_with_file(
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
