//! The server's configuration (`conf/server.toml`); flags override file values.

use std::path::PathBuf;

use petrel_common::config::ConfigError;
use serde::Deserialize;

/// When a write counts as durable before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Durability {
    /// fdatasync before the reply (group commit shares one sync among writers).
    Sync,
    /// Page cache only: a machine crash can lose acknowledged writes.
    Async,
}

/// Every key of `conf/server.toml`, with its default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// RPC address; also the server's identity in meta, so keep it stable.
    pub(crate) listen: String,
    /// Address peers, proxies and meta use to reach this server, and its
    /// identity in meta; empty means `listen`. Set it when the server is
    /// reached through NAT, a forwarder or a fault-injecting relay.
    pub(crate) advertise: String,
    /// Meta addresses, tried in order.
    pub(crate) meta: Vec<String>,
    /// Where replicas keep their RocksDB instances.
    pub(crate) data_dir: PathBuf,
    /// How often the server beacons meta, in milliseconds.
    pub(crate) beacon_interval_ms: u64,
    /// `"sync"` or `"async"`, see [`Durability`].
    pub(crate) durability: Durability,
    /// RocksDB block cache shared by all replicas of this server, in MiB.
    pub(crate) block_cache_mb: u64,
    /// Size at which the mutation log rolls to a new segment, in MiB.
    pub(crate) log_segment_mb: u64,
    /// How often memtables are flushed and log segments below them removed, in ms.
    pub(crate) log_gc_interval_ms: u64,
    /// Group commit: while writes keep coming, wait this many microseconds
    /// before each fdatasync of the mutation log so more writes share it
    /// (throughput for a little latency; 0 syncs at once).
    pub(crate) log_sync_linger_us: u64,
    /// Prometheus endpoint (`host:port`); empty turns it off.
    pub(crate) metrics_listen: String,
    /// Async runtime worker threads; 0 = one per CPU. Lower it when other
    /// busy processes share the machine's cores.
    pub(crate) worker_threads: usize,
    /// Log filter (`RUST_LOG` wins).
    pub(crate) log: String,
    /// Transactions across partitions (docs/TRANSACTIONS.md): a lock
    /// request (a transaction's EXECUTE, or a command outside transactions
    /// on a locked key) waits this long at most, in ms.
    pub(crate) txn_lock_wait_ms: u64,
    /// A transaction still executing that its coordinator has not been
    /// heard from for this long is dropped here (its locks released), in ms.
    pub(crate) txn_idle_timeout_ms: u64,
    /// A prepared transaction undecided this long asks its record
    /// partition for the outcome, in ms.
    pub(crate) txn_resolve_after_ms: u64,
    /// A transaction older than this is refused, in ms.
    pub(crate) txn_max_age_ms: u64,
    /// Decision records are deleted this long after the decision, in ms;
    /// far above `txn_resolve_after_ms` (a late resolution must still find
    /// a commit).
    pub(crate) txn_gc_after_ms: u64,
    /// A script (`EVAL`, `EVALSHA`) running at a primary longer than this
    /// is stopped and writes nothing, in ms (docs/SCRIPTING.md).
    pub(crate) script_time_limit_ms: u64,
    /// Most megabytes of pub/sub messages a broker queues for one proxy
    /// that has not polled them yet; more are dropped (docs/PUBSUB.md).
    pub(crate) pubsub_proxy_queue_mb: u64,
}

/// Default of `log_sync_linger_us` (see bench/RESULTS.md for how it was chosen).
const LINGER_DEFAULT_US: u64 = 200;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:34801".to_string(),
            advertise: String::new(),
            meta: vec!["127.0.0.1:34601".to_string()],
            data_dir: PathBuf::from("./petrel-data/server"),
            beacon_interval_ms: 500,
            durability: Durability::Sync,
            block_cache_mb: 64,
            log_segment_mb: 64,
            log_gc_interval_ms: 60_000,
            log_sync_linger_us: LINGER_DEFAULT_US,
            metrics_listen: String::new(),
            worker_threads: 0,
            log: "info".to_string(),
            txn_lock_wait_ms: TXN_DEFAULTS.lock_wait_ms,
            txn_idle_timeout_ms: TXN_DEFAULTS.idle_timeout_ms,
            txn_resolve_after_ms: TXN_DEFAULTS.resolve_after_ms,
            txn_max_age_ms: TXN_DEFAULTS.max_age_ms,
            txn_gc_after_ms: TXN_DEFAULTS.gc_after_ms,
            script_time_limit_ms: 4_000,
            pubsub_proxy_queue_mb: 64,
        }
    }
}

/// The participant's defaults, as the config keys' defaults.
const TXN_DEFAULTS: TxnDefaults = TxnDefaults {
    lock_wait_ms: 1_000,
    idle_timeout_ms: 5_000,
    resolve_after_ms: 2_000,
    max_age_ms: 30_000,
    gc_after_ms: 600_000,
};

/// See [`TXN_DEFAULTS`].
struct TxnDefaults {
    lock_wait_ms: u64,
    idle_timeout_ms: u64,
    resolve_after_ms: u64,
    max_age_ms: u64,
    gc_after_ms: u64,
}

impl ServerConfig {
    /// Checks what the types cannot.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.meta.is_empty() {
            return Err(ConfigError::invalid("meta", "needs at least one address"));
        }
        if self.log_segment_mb == 0 {
            return Err(ConfigError::invalid("log_segment_mb", "must be positive"));
        }
        if self.log_gc_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "log_gc_interval_ms",
                "must be positive",
            ));
        }
        if self.beacon_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "beacon_interval_ms",
                "must be positive",
            ));
        }
        for (key, value) in [
            ("txn_lock_wait_ms", self.txn_lock_wait_ms),
            ("txn_idle_timeout_ms", self.txn_idle_timeout_ms),
            ("txn_resolve_after_ms", self.txn_resolve_after_ms),
            ("txn_max_age_ms", self.txn_max_age_ms),
            ("script_time_limit_ms", self.script_time_limit_ms),
            ("pubsub_proxy_queue_mb", self.pubsub_proxy_queue_mb),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        if self.txn_gc_after_ms < self.txn_resolve_after_ms.saturating_mul(10) {
            return Err(ConfigError::invalid(
                "txn_gc_after_ms",
                "must be at least 10 times txn_resolve_after_ms (a late resolution must still find a commit's record)",
            ));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(
                "listen",
                format!("'{}' is not an ip:port address", self.listen),
            ));
        }
        if !self.advertise.is_empty() && self.advertise.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(
                "advertise",
                format!("'{}' is not an ip:port address", self.advertise),
            ));
        }
        Ok(())
    }

    /// The transaction participant's tunables.
    pub(crate) fn participant_options(&self) -> petrel_common::txn::participant::Options {
        petrel_common::txn::participant::Options {
            lock_wait_ms: self.txn_lock_wait_ms,
            idle_timeout_ms: self.txn_idle_timeout_ms,
            max_age_ms: self.txn_max_age_ms,
            resolve_after_ms: self.txn_resolve_after_ms,
            gc_after_ms: self.txn_gc_after_ms,
            ..Default::default()
        }
    }

    /// The address this server is known by: `advertise`, else `listen`.
    pub(crate) fn identity(&self) -> &str {
        if self.advertise.is_empty() {
            &self.listen
        } else {
            &self.advertise
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_examples_parse_and_validate() {
        for host in ["host1", "host2", "host3"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/hosts")
                .join(host)
                .join("server.toml");
            let c: ServerConfig = petrel_common::config::load(Some(&path))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            c.validate().expect("validates");
        }
    }

    #[test]
    fn durability_values_are_checked() {
        let c: ServerConfig =
            petrel_common::config::parse("durability = \"async\"").expect("valid");
        assert_eq!(c.durability, Durability::Async);
        let e = petrel_common::config::parse::<ServerConfig>("durability = \"maybe\"")
            .expect_err("invalid");
        assert!(e.contains("durability") || e.contains("maybe"), "{e}");
    }

    #[test]
    fn txn_keys_default_to_the_participant_defaults_and_are_checked() {
        let c = ServerConfig::default();
        let (o, d) = (
            c.participant_options(),
            petrel_common::txn::participant::Options::default(),
        );
        assert_eq!(
            (o.lock_wait_ms, o.idle_timeout_ms, o.resolve_after_ms),
            (d.lock_wait_ms, d.idle_timeout_ms, d.resolve_after_ms)
        );
        assert_eq!((o.max_age_ms, o.gc_after_ms), (d.max_age_ms, d.gc_after_ms));
        c.validate().expect("defaults are valid");
        let c: ServerConfig =
            petrel_common::config::parse("txn_lock_wait_ms = 250").expect("valid");
        assert_eq!(c.participant_options().lock_wait_ms, 250);
        let c = ServerConfig {
            txn_gc_after_ms: 1_000,
            ..Default::default()
        };
        assert!(c
            .validate()
            .expect_err("too small")
            .to_string()
            .contains("txn_gc_after_ms"));
    }

    #[test]
    fn listen_must_be_an_address() {
        let c = ServerConfig {
            listen: "nowhere".into(),
            ..Default::default()
        };
        assert!(c
            .validate()
            .expect_err("bad")
            .to_string()
            .contains("listen"));
    }

    #[test]
    fn advertise_is_the_identity_when_set() {
        let mut c = ServerConfig::default();
        assert_eq!(c.identity(), "127.0.0.1:34801");
        c.advertise = "127.0.0.1:40000".into();
        assert_eq!(c.identity(), "127.0.0.1:40000");
        c.advertise = "somewhere".into();
        assert!(c
            .validate()
            .expect_err("bad")
            .to_string()
            .contains("advertise"));
    }
}
