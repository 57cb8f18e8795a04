//! Binding the client port, accepting connections (up to `maxclients`),
//! the background tasks, and graceful shutdown.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ProxyConfig;
use crate::databases::Databases;
use crate::route::Router;
use crate::state::{Clients, Runtime, Shared};
use crate::stats::{names, Stats};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("address {0} already in use")]
    AddrInUse(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("invalid configuration: {0}")]
    Config(#[from] petrel_common::config::ConfigError),
    #[error("metrics endpoint: {0}")]
    Metrics(String),
}

/// A bound proxy, ready to serve.
pub struct Proxy {
    shared: Arc<Shared>,
    listener: TcpListener,
}

impl Proxy {
    /// Validates `config` and binds the client port (nothing is served yet).
    pub async fn bind(
        config: ProxyConfig,
        config_file: Option<PathBuf>,
    ) -> Result<Proxy, StartError> {
        config.validate()?;
        let listener = TcpListener::bind(&config.listen).await.map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                StartError::AddrInUse(config.listen.clone())
            } else {
                StartError::Bind {
                    addr: config.listen.clone(),
                    source: e,
                }
            }
        })?;
        let local_addr = listener.local_addr().map_err(|e| StartError::Bind {
            addr: config.listen.clone(),
            source: e,
        })?;
        let router = Arc::new(Router::new(
            config.table.clone(),
            config.meta.clone(),
            Duration::from_millis(config.request_timeout_ms),
            config.txn_settings(),
        ));
        let run_id: String = {
            let mut rng = rand::thread_rng();
            (0..40)
                .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
                .collect()
        };
        let shutdown = CancellationToken::new();
        let databases = Databases::new(
            router.clone(),
            config.table.clone(),
            config.meta.clone(),
            Duration::from_millis(config.request_timeout_ms),
            Duration::from_millis(config.map_refresh_interval_ms),
            shutdown.clone(),
        );
        let acl = crate::acl::Acl::default();
        for line in &config.users {
            // ProxyConfig::validate checked every line already.
            let _ = acl.load_line(line);
        }
        let catalog = crate::catalog::Catalog::new(router.maps().clone());
        let settings = crate::settings::ClusterSettings::new(router.maps().clone());
        let pubsub = Arc::new(crate::pubsub::PubSub::new(router.clone()));
        let shared = Arc::new(Shared {
            runtime: ArcSwap::from_pointee(Runtime::from_config(&config)),
            config,
            config_file,
            stats: Stats::new(),
            clients: Clients::default(),
            router,
            databases,
            acl,
            started: Instant::now(),
            run_id,
            local_addr,
            shutdown,
            scripts: Default::default(),
            catalog,
            pubsub,
            settings,
        });
        Ok(Proxy { shared, listener })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.shared.local_addr
    }

    /// Cancel it to shut the proxy down gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// The shared state (for tests and embedding).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves clients until the shutdown token is cancelled, then lets open
    /// connections finish their requests (up to the request timeout).
    pub async fn serve(self) {
        let Proxy { shared, listener } = self;
        info!(
            listen = %shared.local_addr,
            table = %shared.config.table,
            meta = ?shared.config.meta,
            "petrel-proxy serving"
        );
        let refresher = tokio::spawn(shared.router.maps().clone().run_refresher(
            Duration::from_millis(shared.config.map_refresh_interval_ms),
            shared.shutdown.clone(),
        ));
        let sampler = tokio::spawn(sample_stats(shared.clone()));
        let acl_sync = tokio::spawn(crate::cluster_sync::sync_loop(shared.clone()));
        let registrar = tokio::spawn(crate::pubsub::run(
            shared.pubsub.clone(),
            shared.shutdown.clone(),
        ));
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, addr)) => accept(&shared, stream, addr).await,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        let grace =
            Duration::from_millis(shared.config.request_timeout_ms) + Duration::from_secs(1);
        let until = Instant::now() + grace;
        info!(
            clients = shared.clients.len(),
            "shutting down; finishing in-flight requests"
        );
        while !shared.clients.is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !shared.clients.is_empty() {
            warn!(
                clients = shared.clients.len(),
                "closing connections still busy after the grace period"
            );
        }
        let _ = refresher.await;
        sampler.abort();
        acl_sync.abort();
        registrar.abort();
        info!("petrel-proxy stopped");
    }
}

/// Starts a connection task, or turns the client away when `maxclients` is reached.
async fn accept(shared: &Arc<Shared>, mut stream: TcpStream, addr: std::net::SocketAddr) {
    shared.stats.connections_received.fetch_add(1, Relaxed);
    metrics::counter!(names::CONNECTIONS_TOTAL).increment(1);
    let max = shared.runtime.load().maxclients;
    if shared.clients.len() as u64 >= max {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        metrics::counter!(names::REJECTED_CONNECTIONS).increment(1);
        // Best effort, without holding up the accept loop for long.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                stream.write_all(b"-ERR max number of clients reached\r\n"),
            )
            .await;
        });
        return;
    }
    tokio::spawn(crate::conn::serve(stream, addr, shared.clone()));
}

async fn sample_stats(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        shared.stats.sample();
    }
}

/// Waits for SIGTERM or ctrl-c, then cancels `token`.
pub(crate) async fn cancel_on_signal(token: CancellationToken) {
    petrel_common::shutdown::signal().await;
    token.cancel();
}
