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
    /// The address the other metas, servers, proxies and the CLI use to
    /// reach this meta, and its identity in the meta group; empty means
    /// `listen`. Set it when `listen` is a wildcard like `0.0.0.0:34601`.
    pub advertise: String,
    /// The meta group's members (their advertised addresses) when the group
    /// is first formed; empty means this meta alone. Read only on a first
    /// start (no Raft state yet), where every listed member must be started
    /// with the same list. Later changes go through `petrel meta add` and
    /// `petrel meta remove`.
    pub members: Vec<String>,
    /// Start as a member-to-be: form no group, wait for the leader of an
    /// existing group to add this meta (`petrel meta add`).
    pub join: bool,
    /// How often the meta leader sends Raft heartbeats, in milliseconds.
    pub raft_heartbeat_ms: u64,
    /// The shortest and longest Raft election timeout, in milliseconds. A
    /// follower that has not heard from the leader for
    /// `raft_election_max_ms` plus a random timeout in this range starts an
    /// election, so a dead meta leader is replaced within about twice
    /// `raft_election_max_ms`; checked to be well within `lease_ms`, so
    /// servers renew their lease with the new leader before it runs out.
    pub raft_election_min_ms: u64,
    pub raft_election_max_ms: u64,
    /// How many Raft entries accumulate before a snapshot is taken and the
    /// log before it is dropped.
    pub raft_snapshot_entries: u64,
    /// Where meta keeps its durable state.
    pub data_dir: PathBuf,
    /// How long a server may serve after the beacon that renewed its lease was sent.
    pub lease_ms: u64,
    /// How long meta waits without a beacon before it declares a server dead.
    /// Must exceed `lease_ms`, so a server stops serving before meta acts.
    /// A new leader of the meta group waits `lease_ms` + `grace_ms` after
    /// its election before it changes any configuration; meta waits this
    /// long for every member of a partition
    /// whose primary restarted to report before it picks the longest log.
    pub grace_ms: u64,
    /// How long a member removed because its server died keeps its slot
    /// before meta copies the partition to another server.
    pub dropout_delay_ms: u64,
    /// How often meta looks for configuration changes to make.
    pub reconfig_interval_ms: u64,
    /// Whether meta moves primaries towards servers leading fewer
    /// partitions, and replicas towards servers holding fewer.
    pub balance: bool,
    /// How many replica moves (balancing or draining) may be in flight in
    /// the whole cluster; 0 turns moves off.
    pub max_moves_in_flight: usize,
    /// Prometheus endpoint (`host:port`); empty turns it off.
    pub metrics_listen: String,
    /// Log filter, e.g. `info` or `petrel_meta=debug` (`RUST_LOG` wins).
    pub log: String,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            listen: "127.0.0.1:34601".to_string(),
            advertise: String::new(),
            members: Vec::new(),
            join: false,
            raft_heartbeat_ms: 100,
            raft_election_min_ms: 300,
            raft_election_max_ms: 500,
            raft_snapshot_entries: 500,
            data_dir: PathBuf::from("./petrel-data/meta"),
            lease_ms: 1500,
            grace_ms: 2000,
            dropout_delay_ms: 300_000,
            reconfig_interval_ms: 200,
            balance: true,
            max_moves_in_flight: crate::reconfig::DEFAULT_MAX_MOVES,
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
        // The server counts its lease on its clock, meta the grace on its
        // own: the margin must cover the two clocks running at different
        // rates (parts per million in practice; a tenth is far beyond).
        if self.grace_ms < self.lease_ms + self.lease_ms.div_ceil(10).max(1) {
            return Err(ConfigError::invalid(
                "grace_ms",
                format!(
                    "must exceed lease_ms ({}) by at least a tenth of it, or an old primary whose clock runs slow could serve after meta replaced it",
                    self.lease_ms
                ),
            ));
        }
        if self.raft_heartbeat_ms == 0 || self.raft_heartbeat_ms >= self.raft_election_min_ms {
            return Err(ConfigError::invalid(
                "raft_heartbeat_ms",
                format!(
                    "must be positive and less than raft_election_min_ms ({})",
                    self.raft_election_min_ms
                ),
            ));
        }
        if self.raft_election_max_ms <= self.raft_election_min_ms {
            return Err(ConfigError::invalid(
                "raft_election_max_ms",
                format!(
                    "must be greater than raft_election_min_ms ({})",
                    self.raft_election_min_ms
                ),
            ));
        }
        if 2 * self.raft_election_max_ms >= self.lease_ms {
            return Err(ConfigError::invalid(
                "raft_election_max_ms",
                format!(
                    "twice it must be less than lease_ms ({}), or servers' leases run out before a new meta leader is elected",
                    self.lease_ms
                ),
            ));
        }
        if self.raft_snapshot_entries == 0 {
            return Err(ConfigError::invalid(
                "raft_snapshot_entries",
                "must be positive",
            ));
        }
        if self.join && !self.members.is_empty() {
            return Err(ConfigError::invalid(
                "join",
                "a joining meta forms no group: leave members empty",
            ));
        }
        if !self.join && !self.members.is_empty() && !self.members.contains(&self.me()) {
            return Err(ConfigError::invalid(
                "members",
                format!(
                    "must list this meta's own address ({}), or set join to be added later",
                    self.me()
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

    /// This meta's address in the group: `advertise`, else `listen`.
    pub fn me(&self) -> String {
        if self.advertise.is_empty() {
            self.listen.clone()
        } else {
            self.advertise.clone()
        }
    }

    /// The group a first start forms: `members`, or this meta alone.
    pub(crate) fn initial_members(&self) -> Vec<String> {
        if self.members.is_empty() {
            vec![self.me()]
        } else {
            self.members.clone()
        }
    }

    pub(crate) fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
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
    fn the_deploy_examples_parse_and_validate() {
        for host in ["host1", "host2", "host3"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/hosts")
                .join(host)
                .join("meta.toml");
            let c: MetaConfig = petrel_common::config::load(Some(&path))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            c.validate().expect("validates");
        }
    }

    #[test]
    fn grace_must_exceed_lease() {
        let mut c = MetaConfig::default();
        assert!(c.validate().is_ok());
        c.grace_ms = c.lease_ms;
        let e = c.validate().expect_err("grace == lease is unsafe");
        assert!(e.to_string().contains("grace_ms"), "{e}");
        // A margin for clocks running at different rates: a tenth of the lease.
        c.grace_ms = c.lease_ms + c.lease_ms / 10 - 1;
        let e = c.validate().expect_err("grace barely over lease");
        assert!(e.to_string().contains("a tenth"), "{e}");
        c.grace_ms = c.lease_ms + c.lease_ms / 10;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn defaults_make_a_dead_primary_cost_seconds() {
        let c = MetaConfig::default();
        assert_eq!((c.lease_ms, c.grace_ms), (1500, 2000));
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
        assert_eq!(
            (
                c.raft_heartbeat_ms,
                c.raft_election_min_ms,
                c.raft_election_max_ms,
                c.raft_snapshot_entries
            ),
            (
                d.raft_heartbeat_ms,
                d.raft_election_min_ms,
                d.raft_election_max_ms,
                d.raft_snapshot_entries
            )
        );
        assert_eq!(
            (c.members, c.join, c.advertise),
            (d.members, d.join, d.advertise)
        );
        assert_eq!((c.listen, c.data_dir), (d.listen, d.data_dir));
    }

    #[test]
    fn raft_timeouts_must_fit_in_the_lease() {
        let mut c = MetaConfig::default();
        assert_eq!(
            (
                c.raft_heartbeat_ms,
                c.raft_election_min_ms,
                c.raft_election_max_ms
            ),
            (100, 300, 500)
        );
        c.raft_election_max_ms = 750;
        let e = c.validate().expect_err("2 x 750 >= 1500");
        assert!(e.to_string().contains("raft_election_max_ms"), "{e}");
        c.raft_election_max_ms = 250;
        let e = c.validate().expect_err("max <= min");
        assert!(e.to_string().contains("raft_election_max_ms"), "{e}");
    }

    #[test]
    fn members_must_list_this_meta_unless_it_joins() {
        let mut c = MetaConfig {
            members: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
            ..MetaConfig::default()
        };
        let e = c.validate().expect_err("not listed");
        assert!(e.to_string().contains("members"), "{e}");
        c.advertise = "127.0.0.1:2".into();
        assert!(c.validate().is_ok());
        assert_eq!(c.initial_members().len(), 2);
        c.join = true;
        assert!(c.validate().is_err(), "join with members");
        c.members.clear();
        assert!(c.validate().is_ok());
        assert_eq!(
            MetaConfig::default().initial_members(),
            vec!["127.0.0.1:34601"]
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = petrel_common::config::parse::<MetaConfig>("lease = 3").expect_err("unknown key");
        assert!(e.contains("lease"), "{e}");
    }
}
