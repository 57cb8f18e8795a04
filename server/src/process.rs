//! The `petrel-server` process: flags and config in, then the runtime and the
//! service. `src/main.rs` calls [`main`]; so does petrel-tests' copy of the
//! binary (`tests/`), so both run the same code.

use std::path::PathBuf;

use crate::config::{Durability, ServerConfig};
use anyhow::Context;
use clap::Parser;

/// A Petrel replica server.
#[derive(Parser, Debug)]
#[command(name = "petrel-server", version)]
struct Args {
    /// TOML config file (see conf/server.toml); flags override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// RPC listen address, also the server's identity (`listen`).
    #[arg(long)]
    listen: Option<String>,
    /// Address others reach this server by, its identity (`advertise`).
    #[arg(long)]
    advertise: Option<String>,
    /// Meta address; repeat for several (`meta`).
    #[arg(long)]
    meta: Vec<String>,
    /// Directory for replica data (`data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// `sync` or `async` (`durability`).
    #[arg(long, value_parser = parse_durability)]
    durability: Option<Durability>,
    /// Beacon interval in milliseconds (`beacon_interval_ms`).
    #[arg(long)]
    beacon_interval_ms: Option<u64>,
    /// Prometheus endpoint address (`metrics_listen`).
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Async runtime worker threads, 0 = one per CPU (`worker_threads`).
    #[arg(long)]
    worker_threads: Option<usize>,
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "sync" => Ok(Durability::Sync),
        "async" => Ok(Durability::Async),
        other => Err(format!("'{other}' is neither 'sync' nor 'async'")),
    }
}

/// The `petrel-server` binary's `main`.
pub fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config: ServerConfig = petrel_common::config::load(args.config.as_deref())?;
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.advertise {
        config.advertise = v;
    }
    if !args.meta.is_empty() {
        config.meta = args.meta;
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.durability {
        config.durability = v;
    }
    if let Some(v) = args.beacon_interval_ms {
        config.beacon_interval_ms = v;
    }
    if let Some(v) = args.metrics_listen {
        config.metrics_listen = v;
    }
    if let Some(v) = args.worker_threads {
        config.worker_threads = v;
    }
    let runtime = petrel_common::runtime::build(config.worker_threads)
        .context("starting the async runtime")?;
    runtime.block_on(async {
        petrel_common::telemetry::init_logging(&config.log);
        crate::run::run(config).await
    })
}
