//! Logs (`tracing`) and metrics (Prometheus text on `GET /metrics`).

use std::net::SocketAddr;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// Logs to stderr; `RUST_LOG` overrides `default_filter` (e.g. `"info"`).
pub fn init_logging(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Bucket bounds of every histogram, in seconds (all of ours are
/// latencies): from 50 µs, a point read, to 10 s, past any request timeout.
/// Real buckets, not the exporter's default summaries, so a latency can be
/// aggregated over processes and over any time window.
const LATENCY_BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide metrics recorder and serves it on `addr`.
///
/// Returns the bound address (useful when `addr` has port 0).
pub async fn serve_metrics(addr: &str) -> anyhow::Result<SocketAddr> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .map_err(|e| anyhow::anyhow!("metrics histogram buckets: {e}"))?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("installing metrics recorder: {e}"))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding metrics address {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    info!(%bound, "metrics endpoint listening");
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, handle.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(bound)
}

/// A minimal HTTP/1.0 answer: `/metrics` gets the exposition, anything else 404.
///
/// The request is read up to the end of its headers (or 2 KiB, or 5 s): a
/// client may send it in several writes, and one read can return just the
/// first of them.
async fn answer(mut stream: tokio::net::TcpStream, handle: PrometheusHandle) {
    let mut buf = vec![0u8; 2048];
    let mut n = 0;
    let read_headers = async {
        while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(got) => n += got,
            }
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(5), read_headers)
        .await
        .is_err()
        || n == 0
    {
        return;
    }
    let request = String::from_utf8_lossy(&buf[..n]);
    let (status, body) = if request.starts_with("GET /metrics") {
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}
