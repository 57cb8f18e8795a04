//! The server's configuration (`conf/server.toml`); flags override file values.

use std::path::PathBuf;

use petrel_common::config::ConfigError;
use serde::Deserialize;

/// When a write counts as durable before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fdatasync before the reply (group commit shares one sync among writers).
    Sync,
    /// Page cache only: a machine crash can lose acknowledged writes.
    Async,
}

/// Every key of `conf/server.toml`, with its default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// RPC address; also the server's identity in meta, so keep it stable.
    pub listen: String,
    /// Address peers, proxies and meta use to reach this server, and its
    /// identity in meta; empty means `listen`. Set it when the server is
    /// reached through NAT, a forwarder or a fault-injecting relay.
    pub advertise: String,
    /// Meta addresses, tried in order.
    pub meta: Vec<String>,
    /// Where replicas keep their RocksDB instances.
    pub data_dir: PathBuf,
    /// How often the server beacons meta, in milliseconds.
    pub beacon_interval_ms: u64,
    /// `"sync"` or `"async"`, see [`Durability`].
    pub durability: Durability,
    /// RocksDB block cache shared by all replicas of this server, in MiB.
    pub block_cache_mb: u64,
    /// Size at which the mutation log rolls to a new segment, in MiB.
    pub log_segment_mb: u64,
    /// How often memtables are flushed and log segments below them removed, in ms.
    pub log_gc_interval_ms: u64,
    /// Group commit: while writes keep coming, wait this many microseconds
    /// before each fdatasync of the mutation log so more writes share it
    /// (throughput for a little latency; 0 syncs at once).
    pub log_sync_linger_us: u64,
    /// Prometheus endpoint (`host:port`); empty turns it off.
    pub metrics_listen: String,
    /// Async runtime worker threads; 0 = one per CPU. Lower it when other
    /// busy processes share the machine's cores.
    pub worker_threads: usize,
    /// Log filter (`RUST_LOG` wins).
    pub log: String,
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
        }
    }
}

impl ServerConfig {
    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
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

    /// The address this server is known by: `advertise`, else `listen`.
    pub fn identity(&self) -> &str {
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
    fn durability_values_are_checked() {
        let c: ServerConfig =
            petrel_common::config::parse("durability = \"async\"").expect("valid");
        assert_eq!(c.durability, Durability::Async);
        let e = petrel_common::config::parse::<ServerConfig>("durability = \"maybe\"")
            .expect_err("invalid");
        assert!(e.contains("durability") || e.contains("maybe"), "{e}");
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
