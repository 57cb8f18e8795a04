//! Graceful shutdown: every process stops on SIGTERM or Ctrl-C.

use tracing::{info, warn};

/// Resolves on SIGTERM or Ctrl-C (only Ctrl-C if SIGTERM cannot be watched).
pub async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM received"),
                _ = tokio::signal::ctrl_c() => info!("ctrl-c received"),
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot watch SIGTERM; only ctrl-c stops this process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
