//! The `petrel` CLI against one cluster's meta, parsed into test-friendly
//! values: where a key lives, every replica's state, and `verify`.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bin;

/// Runs `petrel` admin verbs against the meta at `meta`.
#[derive(Clone, Debug)]
pub struct Admin {
    pub meta: String,
}

/// Where a key lives (`petrel locate --json`).
#[derive(Clone, Debug)]
pub struct Location {
    pub partition: u32,
    pub ballot: u64,
    /// Empty when the partition has no primary.
    pub primary: String,
    pub secondaries: Vec<String>,
}

/// One replica as `petrel partitions --json` shows it.
#[derive(Clone, Debug)]
pub struct ReplicaView {
    pub node: String,
    /// Meta's view: `primary`, `secondary`, or `None` (not a member).
    pub member: Option<String>,
    /// The server answered `REPLICA_STATUS`.
    pub reachable: bool,
    /// The role the server reports; `None` if it did not answer or does not host it.
    pub role: Option<String>,
    pub ballot: Option<u64>,
    pub last_committed: Option<u64>,
    pub last_prepared: Option<u64>,
}

/// One partition as `petrel partitions --json` shows it.
#[derive(Clone, Debug)]
pub struct PartitionView {
    pub partition: u32,
    pub ballot: u64,
    /// Empty when the partition has no primary.
    pub primary: String,
    pub secondaries: Vec<String>,
    pub replicas: Vec<ReplicaView>,
}

impl PartitionView {
    /// Meta's members: primary first.
    pub fn members(&self) -> Vec<String> {
        let mut m: Vec<String> = Vec::new();
        if !self.primary.is_empty() {
            m.push(self.primary.clone());
        }
        m.extend(self.secondaries.iter().cloned());
        m
    }

    /// What `node` reports for this partition, if it is listed.
    pub fn replica(&self, node: &str) -> Option<&ReplicaView> {
        self.replicas.iter().find(|r| r.node == node)
    }

    /// Why this partition is not a healthy group of `replicas` members
    /// avoiding `excluded`, each reporting its role at meta's ballot.
    pub fn unhealthy(&self, replicas: u32, excluded: &[String]) -> Option<String> {
        let members = self.members();
        if self.primary.is_empty() {
            return Some("no primary".into());
        }
        if members.len() != replicas as usize {
            return Some(format!("{} members, want {replicas}", members.len()));
        }
        let distinct: BTreeSet<&String> = members.iter().collect();
        if distinct.len() != members.len() {
            return Some(format!("members repeat: {members:?}"));
        }
        if let Some(bad) = members.iter().find(|m| excluded.contains(m)) {
            return Some(format!("{bad} is still a member"));
        }
        for (i, m) in members.iter().enumerate() {
            let want = if i == 0 { "primary" } else { "secondary" };
            let Some(r) = self.replica(m) else {
                return Some(format!("{m} not listed"));
            };
            if r.role.as_deref() != Some(want) {
                return Some(format!("{m} reports role {:?}, want {want}", r.role));
            }
            if r.ballot != Some(self.ballot) {
                return Some(format!(
                    "{m} at ballot {:?}, meta at {}",
                    r.ballot, self.ballot
                ));
            }
        }
        None
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Admin {
    pub fn new(meta: String) -> Admin {
        Admin { meta }
    }

    /// Runs `petrel --meta META ARGS`, whatever its exit status.
    pub fn output(&self, args: &[&str]) -> Output {
        Command::new(bin("petrel"))
            .arg("--meta")
            .arg(&self.meta)
            .args(args)
            .output()
            .expect("run petrel")
    }

    /// Runs `petrel ARGS`; returns stdout, panicking when it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "petrel {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `petrel ARGS --json` and parses stdout; `None` when it fails.
    pub fn try_json(&self, args: &[&str]) -> Option<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.output(&all);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Runs `petrel ARGS --json` and parses stdout, panicking when it fails.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("petrel {args:?} printed no JSON ({e}): {out}"))
    }

    /// Where `key` of the `default` table lives now; `None` if meta does not answer.
    pub fn try_locate(&self, key: &str) -> Option<Location> {
        let v = self.try_json(&["locate", "default", key])?;
        Some(Location {
            partition: v["partition"].as_u64()? as u32,
            ballot: v["ballot"].as_u64()?,
            primary: v["primary"].as_str().unwrap_or_default().to_string(),
            secondaries: str_list(&v["secondaries"]),
        })
    }

    /// Where `key` of the `default` table lives now.
    pub fn locate(&self, key: &str) -> Location {
        self.try_locate(key)
            .unwrap_or_else(|| panic!("petrel locate default {key} failed"))
    }

    /// Every partition of the `default` table with every replica's report;
    /// `None` if the verb fails (meta unreachable).
    pub fn try_partitions(&self) -> Option<Vec<PartitionView>> {
        let v = self.try_json(&["partitions", "default"])?;
        let parts = v["partitions"].as_array()?;
        Some(
            parts
                .iter()
                .map(|p| PartitionView {
                    partition: p["partition"].as_u64().unwrap_or(u64::MAX) as u32,
                    ballot: p["ballot"].as_u64().unwrap_or(0),
                    primary: p["primary"].as_str().unwrap_or_default().to_string(),
                    secondaries: str_list(&p["secondaries"]),
                    replicas: p["replicas"]
                        .as_array()
                        .map(|rs| {
                            rs.iter()
                                .map(|r| ReplicaView {
                                    node: r["node"].as_str().unwrap_or_default().to_string(),
                                    member: r["member"].as_str().map(str::to_string),
                                    reachable: r["reachable"].as_bool().unwrap_or(false),
                                    role: r["role"].as_str().map(str::to_string),
                                    ballot: r["ballot"].as_u64(),
                                    last_committed: r["last_committed"].as_u64(),
                                    last_prepared: r["last_prepared"].as_u64(),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// Every partition of the `default` table.
    pub fn partitions(&self) -> Vec<PartitionView> {
        self.try_partitions()
            .expect("petrel partitions default --json failed")
    }

    /// `petrel verify default [--full]`: exit status and everything it printed.
    pub fn verify(&self, full: bool) -> (bool, String) {
        let mut args = vec!["verify", "default"];
        if full {
            args.push("--full");
        }
        let out = self.output(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Waits until every partition of `default` has `replicas` members, none
    /// of them in `excluded`, each reporting its role at meta's ballot, and
    /// `petrel verify --full` exits 0. Returns how long it took.
    pub fn wait_healthy(&self, replicas: u32, excluded: &[String], timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let last = match self.try_partitions() {
                None => "petrel partitions failed".to_string(),
                Some(parts) => {
                    let problems: Vec<String> = parts
                        .iter()
                        .filter_map(|p| {
                            p.unhealthy(replicas, excluded)
                                .map(|why| format!("partition {}: {why}", p.partition))
                        })
                        .collect();
                    if problems.is_empty() {
                        let (ok, text) = self.verify(true);
                        if ok {
                            return start.elapsed();
                        }
                        format!("verify failed:\n{text}")
                    } else {
                        problems.join("\n")
                    }
                }
            };
            if start.elapsed() > timeout {
                let table = self.output(&["partitions", "default"]);
                panic!(
                    "cluster not healthy ({replicas} replicas, excluding {excluded:?}) after {timeout:?}:\n{last}\n{}",
                    String::from_utf8_lossy(&table.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Polls `probe` every 100 ms until it yields a value; panics after `timeout`
/// naming `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
