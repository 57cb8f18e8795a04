//! Meta's configuration (`conf/meta.toml`); flags override file values.

use std::path::PathBuf;
use std::time::Duration;

use petrel_common::config::ConfigError;
use serde::Deserialize;

/// Every key of `conf/meta.toml`, with its default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    /// RPC address servers, proxies and the CLI reach meta on.
    pub listen: String,
    /// Where meta keeps its durable state.
    pub data_dir: PathBuf,
    /// How long a server may serve after the beacon that renewed its lease was sent.
    pub lease_ms: u64,
    /// How long meta waits without a beacon before it declares a server dead.
    /// Must exceed `lease_ms`, so a server stops serving before meta acts.
    /// Also how long meta waits after its own start before it changes any
    /// configuration, and how long it waits for every member of a partition
    /// whose primary restarted to report before it picks the longest log.
    pub grace_ms: u64,
    /// How long a member removed because its server died keeps its slot
    /// before meta copies the partition to another server.
    pub dropout_delay_ms: u64,
    /// How often meta looks for configuration changes to make.
    pub reconfig_interval_ms: u64,
    /// Whether meta moves primaries towards servers leading fewer partitions.
    pub balance: bool,
    /// Prometheus endpoint (`host:port`); empty turns it off.
    pub metrics_listen: String,
    /// Log filter, e.g. `info` or `petrel_meta=debug` (`RUST_LOG` wins).
    pub log: String,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            listen: "127.0.0.1:34601".to_string(),
            data_dir: PathBuf::from("./petrel-data/meta"),
            lease_ms: 2000,
            grace_ms: 3000,
            dropout_delay_ms: 300_000,
            reconfig_interval_ms: 200,
            balance: true,
            metrics_listen: String::new(),
            log: "info".to_string(),
        }
    }
}

impl MetaConfig {
    /// Checks relations between keys that the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(ConfigError::invalid("listen", "must not be empty"));
        }
        if self.lease_ms == 0 {
            return Err(ConfigError::invalid("lease_ms", "must be positive"));
        }
        if self.grace_ms <= self.lease_ms {
            return Err(ConfigError::invalid(
                "grace_ms",
                format!(
                    "must be greater than lease_ms ({}), or an old primary could serve after meta replaced it",
                    self.lease_ms
                ),
            ));
        }
        if self.reconfig_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "reconfig_interval_ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    pub(crate) fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }

    pub(crate) fn dropout_delay(&self) -> Duration {
        Duration::from_millis(self.dropout_delay_ms)
    }

    pub(crate) fn reconfig_interval(&self) -> Duration {
        Duration::from_millis(self.reconfig_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_must_exceed_lease() {
        let mut c = MetaConfig::default();
        assert!(c.validate().is_ok());
        c.grace_ms = c.lease_ms;
        let e = c.validate().expect_err("grace == lease is unsafe");
        assert!(e.to_string().contains("grace_ms"), "{e}");
    }

    #[test]
    fn defaults_make_a_dead_primary_cost_seconds() {
        let c = MetaConfig::default();
        assert_eq!((c.lease_ms, c.grace_ms), (2000, 3000));
        assert_eq!(c.dropout_delay_ms, 300_000);
        assert_eq!(c.reconfig_interval_ms, 200);
        assert!(c.balance);
    }

    #[test]
    fn a_zero_reconfig_interval_is_named() {
        let c = MetaConfig {
            reconfig_interval_ms: 0,
            ..MetaConfig::default()
        };
        let e = c.validate().expect_err("zero interval");
        assert!(e.to_string().contains("reconfig_interval_ms"), "{e}");
    }

    #[test]
    fn the_new_keys_parse() {
        let c: MetaConfig = petrel_common::config::parse(
            "dropout_delay_ms = 5\nreconfig_interval_ms = 7\nbalance = false",
        )
        .expect("parses");
        assert_eq!(
            (c.dropout_delay_ms, c.reconfig_interval_ms, c.balance),
            (5, 7, false)
        );
    }

    #[test]
    fn the_shipped_file_shows_the_defaults() {
        let c: MetaConfig = petrel_common::config::parse(include_str!("../../conf/meta.toml"))
            .expect("conf/meta.toml parses");
        let d = MetaConfig::default();
        assert_eq!(
            (
                c.lease_ms,
                c.grace_ms,
                c.dropout_delay_ms,
                c.reconfig_interval_ms,
                c.balance
            ),
            (
                d.lease_ms,
                d.grace_ms,
                d.dropout_delay_ms,
                d.reconfig_interval_ms,
                d.balance
            )
        );
        assert_eq!((c.listen, c.data_dir), (d.listen, d.data_dir));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = petrel_common::config::parse::<MetaConfig>("lease = 3").expect_err("unknown key");
        assert!(e.contains("lease"), "{e}");
    }
}
