//! The `petrel-meta` process: flags and config in, then the runtime and the
//! service. `src/main.rs` calls [`main`]; so does petrel-tests' copy of the
//! binary (`tests/`), so both run the same code.

use std::path::PathBuf;

use crate::config::MetaConfig;
use clap::Parser;

/// Petrel's configuration manager: nodes, tables, partition configurations.
#[derive(Parser, Debug)]
#[command(name = "petrel-meta", version)]
struct Args {
    /// TOML config file (see conf/meta.toml); flags override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// RPC listen address (`listen`).
    #[arg(long)]
    listen: Option<String>,
    /// Address the other metas and every client reach this meta on, and its
    /// identity in the meta group (`advertise`; default: --listen).
    #[arg(long)]
    advertise: Option<String>,
    /// A member of the meta group formed on a first start; repeat for each,
    /// this meta included (`members`; default: this meta alone).
    #[arg(long = "member", value_name = "ADDR")]
    members: Vec<String>,
    /// Form no group: wait to be added with `petrel meta add` (`join`).
    #[arg(long)]
    join: bool,
    /// Raft heartbeat interval in milliseconds (`raft_heartbeat_ms`).
    #[arg(long)]
    raft_heartbeat_ms: Option<u64>,
    /// Shortest Raft election timeout in milliseconds (`raft_election_min_ms`).
    #[arg(long)]
    raft_election_min_ms: Option<u64>,
    /// Longest Raft election timeout in milliseconds (`raft_election_max_ms`).
    #[arg(long)]
    raft_election_max_ms: Option<u64>,
    /// Directory for meta's durable state (`data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Server lease in milliseconds (`lease_ms`).
    #[arg(long)]
    lease_ms: Option<u64>,
    /// Grace period before a silent server counts as dead (`grace_ms`).
    #[arg(long)]
    grace_ms: Option<u64>,
    /// How long a member whose server died keeps its slot before it is
    /// re-replicated elsewhere, in milliseconds (`dropout_delay_ms`).
    #[arg(long)]
    dropout_delay_ms: Option<u64>,
    /// How often meta looks for configuration changes, in milliseconds
    /// (`reconfig_interval_ms`).
    #[arg(long)]
    reconfig_interval_ms: Option<u64>,
    /// Move primaries towards servers leading fewer partitions, and
    /// replicas towards servers holding fewer (`balance`).
    #[arg(long, value_name = "true|false")]
    balance: Option<bool>,
    /// Replica moves in flight in the cluster at most; 0 turns moves off
    /// (`max_moves_in_flight`).
    #[arg(long)]
    max_moves_in_flight: Option<usize>,
    /// Prometheus endpoint address (`metrics_listen`).
    #[arg(long)]
    metrics_listen: Option<String>,
}

/// The `petrel-meta` binary's `main`.
#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config: MetaConfig = petrel_common::config::load(args.config.as_deref())?;
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.advertise {
        config.advertise = v;
    }
    if !args.members.is_empty() {
        config.members = args.members;
    }
    if args.join {
        config.join = true;
    }
    if let Some(v) = args.raft_heartbeat_ms {
        config.raft_heartbeat_ms = v;
    }
    if let Some(v) = args.raft_election_min_ms {
        config.raft_election_min_ms = v;
    }
    if let Some(v) = args.raft_election_max_ms {
        config.raft_election_max_ms = v;
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.lease_ms {
        config.lease_ms = v;
    }
    if let Some(v) = args.grace_ms {
        config.grace_ms = v;
    }
    if let Some(v) = args.dropout_delay_ms {
        config.dropout_delay_ms = v;
    }
    if let Some(v) = args.reconfig_interval_ms {
        config.reconfig_interval_ms = v;
    }
    if let Some(v) = args.balance {
        config.balance = v;
    }
    if let Some(v) = args.max_moves_in_flight {
        config.max_moves_in_flight = v;
    }
    if let Some(v) = args.metrics_listen {
        config.metrics_listen = v;
    }
    petrel_common::telemetry::init_logging(&config.log);
    crate::run(config).await
}
