//! Starting and stopping the server process.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::ServerConfig;
use crate::node::Node;
use crate::service::ServerService;

/// Serves until SIGTERM or Ctrl-C.
pub(crate) async fn run(config: ServerConfig) -> anyhow::Result<()> {
    config.validate()?;
    crate::cmd::scripting::set_time_limit(std::time::Duration::from_millis(
        config.script_time_limit_ms,
    ));
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    if !config.metrics_listen.is_empty() {
        petrel_common::telemetry::serve_metrics(&config.metrics_listen).await?;
    }
    let node = Arc::new(
        tokio::task::spawn_blocking(move || Node::open(config))
            .await
            .context("opening the node")?
            .context("opening the node's storage")?,
    );
    info!(listen = %node.me, meta = ?node.config.meta, durability = ?node.config.durability, "petrel-server serving");
    let beacons = tokio::spawn(node.clone().beacon_loop());
    let gc = tokio::spawn(node.clone().log_gc_loop());
    let expiry = tokio::spawn(node.clone().expiry_loop());
    let pubsub = tokio::spawn(node.clone().pubsub_gc_loop());
    let notify = tokio::spawn(node.clone().notify_loop());
    let service = Arc::new(ServerService::new(node));
    tokio::select! {
        _ = petrel_common::rpc::server::serve(listener, service) => {}
        _ = petrel_common::shutdown::signal() => info!("petrel-server stopping"),
    }
    beacons.abort();
    gc.abort();
    expiry.abort();
    pubsub.abort();
    notify.abort();
    Ok(())
}
