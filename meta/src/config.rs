//! Meta's configuration (`conf/meta.toml`); flags override file values.

use std::path::PathBuf;

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
    pub grace_ms: u64,
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
            lease_ms: 4000,
            grace_ms: 6000,
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
        Ok(())
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
    fn unknown_keys_are_named() {
        let e = petrel_common::config::parse::<MetaConfig>("lease = 3").expect_err("unknown key");
        assert!(e.contains("lease"), "{e}");
    }
}
