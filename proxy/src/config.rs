//! The proxy's configuration: `conf/proxy.toml`, overridden by flags.
//!
//! Every key has a default; an unknown key or a bad value is a startup
//! error naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use petrel_common::config::{self, ConfigError};
use serde::Deserialize;

/// Everything `proxy.toml` may set.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Address clients connect to (`host:port`).
    pub listen: String,
    /// Meta servers, tried in order until one answers.
    pub meta: Vec<String>,
    /// The table this proxy serves as database 0; database n (SELECT n) is
    /// the table `<table>.db<n>`, created on first use.
    pub table: String,
    /// How many databases SELECT accepts (0 to databases - 1), like Redis's.
    pub databases: u32,
    /// Deadline for one client request, retries included.
    pub request_timeout_ms: u64,
    /// Most simultaneous client connections.
    pub maxclients: u64,
    /// Password clients must AUTH with; empty = no password.
    pub requirepass: String,
    /// ACL users to create at start, one `ACL SETUSER` line each without the
    /// command: `"alice on >secret ~app:* +@read"`.
    pub users: Vec<String>,
    /// Largest bulk string a client may send, in bytes.
    pub proto_max_bulk_len: u64,
    /// Most requests one connection may have in flight before reading stops.
    pub max_inflight_per_client: usize,
    /// Largest reply backlog for one client, in bytes, before it is disconnected (0 = unlimited).
    pub client_output_buffer_limit: u64,
    /// Close connections idle this many seconds (0 = never), like Redis's `timeout`.
    pub client_idle_timeout_secs: u64,
    /// How often the table map is re-read from meta even without errors.
    pub map_refresh_interval_ms: u64,
    /// Prometheus `/metrics` address; empty = off.
    pub metrics_listen: String,
    /// Async runtime worker threads; 0 = one per CPU. Lower it when other
    /// busy processes share the machine's cores.
    pub worker_threads: usize,
    /// Log filter (`RUST_LOG` syntax), e.g. "info" or "petrel_proxy=debug".
    pub log: String,
    /// Transactions across partitions: an EXECUTE unanswered this long
    /// aborts the attempt (which runs again); above the servers' lock wait.
    pub txn_execute_timeout_ms: u64,
    /// Transactions: PREPARE, COMMIT_ONE, STATUS and DECIDE are resent this
    /// often until answered.
    pub txn_resend_ms: u64,
    /// Transactions: PREPAREs unanswered this long also ask the record
    /// partition for the transaction's status.
    pub txn_status_after_ms: u64,
    /// Transactions: heartbeat every participant this often while executing.
    pub txn_heartbeat_ms: u64,
    /// Transactions: DECIDE is carried this long after the client's reply at
    /// most; participants that missed it resolve on their own.
    pub txn_decide_for_ms: u64,
    /// A blocking pop over keys of several partitions that found nothing
    /// tries again this often, until the client's timeout.
    pub txn_block_poll_ms: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: "127.0.0.1:6379".to_string(),
            meta: vec!["127.0.0.1:34601".to_string()],
            table: "default".to_string(),
            databases: 16,
            request_timeout_ms: 5000,
            maxclients: 10000,
            requirepass: String::new(),
            users: Vec::new(),
            proto_max_bulk_len: 512 << 20,
            max_inflight_per_client: 1024,
            client_output_buffer_limit: 1 << 30,
            client_idle_timeout_secs: 0,
            map_refresh_interval_ms: 3000,
            metrics_listen: String::new(),
            worker_threads: 0,
            log: "info".to_string(),
            txn_execute_timeout_ms: 2000,
            txn_resend_ms: 300,
            txn_status_after_ms: 1000,
            txn_heartbeat_ms: 1000,
            txn_decide_for_ms: 10000,
            txn_block_poll_ms: 100,
        }
    }
}

/// Smallest `proto_max_bulk_len` Redis accepts.
pub(crate) const MIN_PROTO_MAX_BULK_LEN: u64 = 1 << 20;

impl ProxyConfig {
    /// Checks values the TOML types cannot express, naming the bad key.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::invalid("listen", format!("`{}`: {e}", self.listen)))?;
        if self.meta.is_empty() {
            return Err(ConfigError::invalid(
                "meta",
                "at least one meta address is needed",
            ));
        }
        for m in &self.meta {
            if !m.contains(':') || m.trim().is_empty() {
                return Err(ConfigError::invalid(
                    "meta",
                    format!("`{m}` is not host:port"),
                ));
            }
        }
        let acl = crate::acl::Acl::default();
        for line in &self.users {
            acl.load_line(line)
                .map_err(|e| ConfigError::invalid("users", format!("`{line}`: {e}")))?;
        }
        if self.databases == 0 || self.databases > 1024 {
            return Err(ConfigError::invalid(
                "databases",
                "must be between 1 and 1024",
            ));
        }
        if self.table.is_empty() {
            return Err(ConfigError::invalid("table", "must not be empty"));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "request_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.maxclients == 0 {
            return Err(ConfigError::invalid("maxclients", "must be at least 1"));
        }
        if self.proto_max_bulk_len < MIN_PROTO_MAX_BULK_LEN {
            return Err(ConfigError::invalid(
                "proto_max_bulk_len",
                format!("must be at least {MIN_PROTO_MAX_BULK_LEN}"),
            ));
        }
        if self.max_inflight_per_client == 0 {
            return Err(ConfigError::invalid(
                "max_inflight_per_client",
                "must be at least 1",
            ));
        }
        if self.map_refresh_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "map_refresh_interval_ms",
                "must be at least 1",
            ));
        }
        if !self.metrics_listen.is_empty() {
            self.metrics_listen.parse::<SocketAddr>().map_err(|e| {
                ConfigError::invalid("metrics_listen", format!("`{}`: {e}", self.metrics_listen))
            })?;
        }
        for (key, v) in [
            ("txn_execute_timeout_ms", self.txn_execute_timeout_ms),
            ("txn_resend_ms", self.txn_resend_ms),
            ("txn_status_after_ms", self.txn_status_after_ms),
            ("txn_heartbeat_ms", self.txn_heartbeat_ms),
            ("txn_decide_for_ms", self.txn_decide_for_ms),
            ("txn_block_poll_ms", self.txn_block_poll_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        if self.requirepass.contains(['\r', '\n']) {
            return Err(ConfigError::invalid(
                "requirepass",
                "must not contain newlines",
            ));
        }
        Ok(())
    }
}

impl ProxyConfig {
    /// How transactions across partitions run, from the `txn_*` keys.
    pub(crate) fn txn_settings(&self) -> crate::txn::driver::Settings {
        let ms = Duration::from_millis;
        crate::txn::driver::Settings {
            opts: petrel_common::txn::coordinator::Options {
                execute_timeout_ms: self.txn_execute_timeout_ms,
                resend_ms: self.txn_resend_ms,
                status_after_ms: self.txn_status_after_ms,
                heartbeat_ms: self.txn_heartbeat_ms,
                decide_for_ms: self.txn_decide_for_ms,
            },
            block_poll: ms(self.txn_block_poll_ms),
            ..Default::default()
        }
    }
}

/// Command-line flags; each one overrides the config file.
#[derive(Debug, Default, Parser)]
#[command(
    name = "petrel-proxy",
    version,
    about = "Petrel's Redis-speaking proxy"
)]
pub struct Flags {
    /// Config file (TOML); without it every key has its default.
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Address to serve clients on, e.g. 0.0.0.0:6379.
    #[arg(long, value_name = "ADDR", conflicts_with = "port")]
    pub(crate) listen: Option<String>,
    /// Shorthand for --listen 127.0.0.1:PORT.
    #[arg(long, value_name = "PORT")]
    pub(crate) port: Option<u16>,
    /// A meta server address; repeat for several.
    #[arg(long = "meta", value_name = "ADDR")]
    pub(crate) meta: Vec<String>,
    /// The table to serve.
    #[arg(long, value_name = "NAME")]
    pub(crate) table: Option<String>,
    /// Password clients must AUTH with.
    #[arg(long, value_name = "PASSWORD")]
    pub(crate) requirepass: Option<String>,
    /// Address for the Prometheus /metrics endpoint.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_listen: Option<String>,
    /// Async runtime worker threads, 0 = one per CPU.
    #[arg(long, value_name = "N")]
    pub(crate) worker_threads: Option<usize>,
}

impl Flags {
    /// Reads the config file (if any), applies the flags and validates.
    pub(crate) fn load(&self) -> Result<ProxyConfig, ConfigError> {
        let mut cfg: ProxyConfig = config::load(self.config.as_deref())?;
        self.apply(&mut cfg);
        cfg.validate()?;
        Ok(cfg)
    }

    /// Overrides `cfg` with the flags given.
    pub(crate) fn apply(&self, cfg: &mut ProxyConfig) {
        if let Some(l) = &self.listen {
            cfg.listen = l.clone();
        }
        if let Some(p) = self.port {
            cfg.listen = format!("127.0.0.1:{p}");
        }
        if !self.meta.is_empty() {
            cfg.meta = self.meta.clone();
        }
        if let Some(t) = &self.table {
            cfg.table = t.clone();
        }
        if let Some(p) = &self.requirepass {
            cfg.requirepass = p.clone();
        }
        if let Some(m) = &self.metrics_listen {
            cfg.metrics_listen = m.clone();
        }
        if let Some(n) = self.worker_threads {
            cfg.worker_threads = n;
        }
    }

    /// The config file path, for INFO's `config_file`.
    pub(crate) fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
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
                .join("proxy.toml");
            let c: ProxyConfig = petrel_common::config::load(Some(&path))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            c.validate().expect("validates");
        }
    }

    #[test]
    fn defaults_are_valid() {
        let cfg = ProxyConfig::default();
        cfg.validate().expect("defaults validate");
        assert_eq!(cfg.listen, "127.0.0.1:6379");
        assert_eq!(cfg.meta, vec!["127.0.0.1:34601"]);
        assert_eq!(cfg.table, "default");
        assert_eq!(cfg.request_timeout_ms, 5000);
        assert_eq!(cfg.maxclients, 10000);
    }

    #[test]
    fn shipped_file_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/proxy.toml");
        let cfg: ProxyConfig = config::load(Some(&path)).expect("conf/proxy.toml parses");
        assert_eq!(cfg, ProxyConfig::default());
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let e = config::parse::<ProxyConfig>("listne = \"x\"").expect_err("unknown key");
        assert!(e.contains("listne"), "{e}");
        let e = config::parse::<ProxyConfig>("maxclients = \"many\"").expect_err("bad type");
        assert!(e.contains("maxclients"), "{e}");
        let cfg: ProxyConfig = config::parse("listen = \"nonsense\"").expect("parses");
        let e = cfg.validate().expect_err("bad listen");
        assert!(e.to_string().contains("`listen`"), "{e}");
        let cfg: ProxyConfig = config::parse("proto_max_bulk_len = 5").expect("parses");
        assert!(cfg
            .validate()
            .expect_err("too small")
            .to_string()
            .contains("proto_max_bulk_len"));
        let cfg: ProxyConfig = config::parse("meta = []").expect("parses");
        assert!(cfg
            .validate()
            .expect_err("no meta")
            .to_string()
            .contains("`meta`"));
    }

    #[test]
    fn flags_override_the_file() {
        let flags = Flags::parse_from([
            "petrel-proxy",
            "--port",
            "7000",
            "--meta",
            "10.0.0.1:34601",
            "--meta",
            "10.0.0.2:34601",
            "--table",
            "t1",
            "--requirepass",
            "pw",
            "--metrics-listen",
            "127.0.0.1:9100",
        ]);
        let cfg = flags.load().expect("valid");
        assert_eq!(cfg.listen, "127.0.0.1:7000");
        assert_eq!(cfg.meta, vec!["10.0.0.1:34601", "10.0.0.2:34601"]);
        assert_eq!(cfg.table, "t1");
        assert_eq!(cfg.requirepass, "pw");
        assert_eq!(cfg.metrics_listen, "127.0.0.1:9100");
        assert!(Flags::try_parse_from(["petrel-proxy", "--port", "1", "--listen", "x"]).is_err());
    }

    #[test]
    fn config_file_then_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:7001\"\ntable = \"from_file\"\n",
        )
        .expect("write");
        let flags = Flags::parse_from([
            "petrel-proxy",
            "--config",
            path.to_str().expect("utf8"),
            "--table",
            "from_flag",
        ]);
        let cfg = flags.load().expect("valid");
        assert_eq!(cfg.listen, "127.0.0.1:7001");
        assert_eq!(cfg.table, "from_flag");
    }
}
