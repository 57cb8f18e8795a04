//! This server as a node of the cluster: its replicas, its lease, its beacons.
//!
//! The beacon loop registers with meta, renews the lease, and reconciles the
//! hosted replicas with meta's assignments: opening new ones, updating
//! configurations, closing (and moving aside) ones no longer assigned.

use petrel_common::sync::lock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petrel_common::ids::{Gpid, NodeAddr};
use petrel_common::msg::{method, BeaconRequest, BeaconResponse, ReplicaInfoMsg};
use petrel_common::partition::PartitionConfig;
use petrel_common::rpc::client::RpcClient;
use tracing::{info, warn};

use crate::config::ServerConfig;
use crate::log::{LogEntry, LogOptions, MutationLog};
use crate::replica::Replica;
use crate::storage::rocks::{BlockCache, RocksEngine, RocksOptions};

/// The server's replicas and lease.
pub struct Node {
    pub me: NodeAddr,
    pub config: ServerConfig,
    replicas: Mutex<BTreeMap<Gpid, Arc<Replica>>>,
    /// Until when this server may serve; `None` before the first beacon answer.
    lease_until: Mutex<Option<Instant>>,
    rpc: RpcClient,
    /// Options for every replica's RocksDB, sharing one block cache.
    rocks: RocksOptions,
    /// The server's mutation log, shared by every replica (group commit).
    pub log: Arc<MutationLog>,
    /// Log entries read at start-up, per partition, waiting for their replica to open.
    unreplayed: Mutex<HashMap<Gpid, Vec<LogEntry>>>,
    /// Partitions this server stopped hosting: their log records can go.
    retired: Mutex<HashSet<Gpid>>,
}

impl Node {
    /// Opens the mutation log under `data_dir/log` (replaying it) and
    /// prepares the node. Blocks.
    pub fn open(config: ServerConfig) -> Result<Self, crate::log::LogError> {
        let options = LogOptions {
            segment_bytes: config.log_segment_mb << 20,
            durability: config.durability,
            ..LogOptions::default()
        };
        let (log, replay) = MutationLog::open(config.data_dir.join("log"), options)?;
        if replay.torn_tail_bytes > 0 {
            warn!(
                bytes = replay.torn_tail_bytes,
                "cut a torn record at the end of the mutation log"
            );
        }
        info!(
            entries = replay.entries.len(),
            segments = replay.segments,
            "mutation log opened"
        );
        let unreplayed = replay.latest_per_partition();
        Ok(Node {
            log: Arc::new(log),
            unreplayed: Mutex::new(unreplayed),
            retired: Mutex::new(HashSet::new()),
            me: NodeAddr(config.listen.clone()),
            replicas: Mutex::new(BTreeMap::new()),
            lease_until: Mutex::new(None),
            rpc: RpcClient::new(),
            rocks: RocksOptions {
                block_cache: Some(BlockCache::new((config.block_cache_mb as usize) << 20)),
                ..RocksOptions::default()
            },
            config,
        })
    }

    /// The hosted replica of `gpid`.
    pub fn replica(&self, gpid: Gpid) -> Option<Arc<Replica>> {
        lock(&self.replicas).get(&gpid).cloned()
    }

    /// Every hosted replica.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        lock(&self.replicas).values().cloned().collect()
    }

    /// Whether the lease from meta is still valid: a server that cannot
    /// renew it stops serving before meta's grace period ends.
    pub fn lease_valid(&self) -> bool {
        lock(&self.lease_until).is_some_and(|t| Instant::now() < t)
    }

    /// What this server reports about its replicas.
    pub fn replica_infos(&self) -> Vec<ReplicaInfoMsg> {
        self.replicas()
            .iter()
            .map(|r| {
                let c = r.config();
                let applied = r.applied_decree().0;
                ReplicaInfoMsg {
                    table_id: r.gpid.table.0,
                    partition_id: r.gpid.partition.0,
                    ballot: c.ballot.0,
                    last_committed_decree: applied,
                    // One member: everything logged is committed and applied.
                    last_prepared_decree: applied,
                    role: r.role(&self.me).as_str().to_string(),
                    ..ReplicaInfoMsg::default()
                }
            })
            .collect()
    }

    fn replica_dir(&self, gpid: Gpid) -> PathBuf {
        self.config
            .data_dir
            .join("replicas")
            .join(format!("{}.{}", gpid.table.0, gpid.partition.0))
    }

    /// Beacons meta forever, renewing the lease and applying assignments.
    pub async fn beacon_loop(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.beacon_interval_ms);
        let mut meta_index = 0usize;
        let mut warned = false;
        loop {
            let sent_at = Instant::now();
            let meta = &self.config.meta[meta_index % self.config.meta.len()];
            let req = BeaconRequest {
                node: self.me.0.clone(),
                replicas: self.replica_infos(),
            };
            match self
                .rpc
                .call::<_, BeaconResponse>(
                    meta,
                    method::BEACON,
                    &req,
                    interval.max(Duration::from_millis(500)),
                )
                .await
            {
                Ok(resp) => {
                    if warned {
                        info!(%meta, "meta reachable again");
                        warned = false;
                    }
                    // The lease runs from when the beacon was sent, never from
                    // when the answer arrived: meta's clock for us started then.
                    *lock(&self.lease_until) = Some(sent_at + Duration::from_millis(resp.lease_ms));
                    self.apply_assignments(resp).await;
                }
                Err(e) => {
                    metrics::counter!("petrel_server_beacon_failures_total").increment(1);
                    if !warned {
                        warn!(%meta, error = %e, "beacon to meta failed");
                        warned = true;
                    }
                    meta_index += 1;
                }
            }
            tokio::time::sleep(interval.saturating_sub(sent_at.elapsed())).await;
        }
    }

    async fn apply_assignments(self: &Arc<Self>, resp: BeaconResponse) {
        let mut wanted = HashSet::new();
        for a in resp.assignments {
            let Some(cfg) = a.config.as_ref() else {
                continue;
            };
            let config = PartitionConfig::from(cfg);
            let gpid = config.gpid;
            wanted.insert(gpid);
            if let Some(r) = self.replica(gpid) {
                r.update_config(config);
                continue;
            }
            let dir = self.replica_dir(gpid);
            let rocks = self.rocks.clone();
            let log = self.log.clone();
            let logged = lock(&self.unreplayed).remove(&gpid).unwrap_or_default();
            let opened = tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir).map_err(crate::storage::StorageError::from)?;
                let engine = RocksEngine::open(&dir, &rocks)?;
                Replica::new(
                    a.table_name,
                    a.partition_count,
                    config,
                    Arc::new(engine),
                    log,
                    &logged,
                )
            })
            .await;
            match opened {
                Ok(Ok(replica)) => {
                    info!(%gpid, decree = replica.applied_decree().0, "replica opened");
                    lock(&self.replicas).insert(gpid, Arc::new(replica));
                    metrics::gauge!("petrel_server_replicas").increment(1.0);
                }
                Ok(Err(e)) => warn!(%gpid, error = %e, "cannot open replica"),
                Err(e) => warn!(%gpid, error = %e, "replica open task failed"),
            }
        }
        let dropped: Vec<Arc<Replica>> = {
            let mut replicas = lock(&self.replicas);
            let gone: Vec<Gpid> = replicas
                .keys()
                .filter(|g| !wanted.contains(g))
                .copied()
                .collect();
            gone.iter().filter_map(|g| replicas.remove(g)).collect()
        };
        for replica in dropped {
            lock(&self.retired).insert(replica.gpid);
            let dir = self.replica_dir(replica.gpid);
            let trash = self.config.data_dir.join("dropped");
            info!(gpid = %replica.gpid, "replica no longer assigned; closing it");
            metrics::gauge!("petrel_server_replicas").decrement(1.0);
            tokio::spawn(retire(replica, dir, trash));
        }
    }
}

impl Node {
    /// Periodically flushes every replica's memtables and drops log segments
    /// that only hold records below what RocksDB now has on disk.
    pub async fn log_gc_loop(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.log_gc_interval_ms);
        loop {
            tokio::time::sleep(interval).await;
            let node = self.clone();
            let result = tokio::task::spawn_blocking(move || {
                let mut durable: HashMap<Gpid, petrel_common::ids::Decree> = HashMap::new();
                for r in node.replicas() {
                    durable.insert(r.gpid, r.flush()?);
                }
                // Nothing hosted any more needs its records; partitions still
                // waiting to open keep theirs (they are not in the map).
                for gpid in lock(&node.retired).iter() {
                    durable.insert(*gpid, petrel_common::ids::Decree(u64::MAX));
                }
                let report = node
                    .log
                    .gc(&durable)
                    .map_err(|e| crate::storage::StorageError::Rocks(e.to_string()))?;
                Ok::<_, crate::storage::StorageError>(report)
            })
            .await;
            match result {
                Ok(Ok(report)) if report.segments > 0 => {
                    info!(
                        segments = report.segments,
                        bytes = report.bytes,
                        "mutation log segments collected"
                    )
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!(error = %e, "log garbage collection failed"),
                Err(e) => warn!(error = %e, "log garbage collection task failed"),
            }
        }
    }
}

/// Waits for in-flight requests to release `replica`, then moves its files
/// aside (never deleted by the server: an operator decides).
async fn retire(replica: Arc<Replica>, dir: PathBuf, trash: PathBuf) {
    let gpid = replica.gpid;
    let mut replica = replica;
    for _ in 0..600 {
        match Arc::try_unwrap(replica) {
            Ok(r) => {
                drop(r);
                let target = trash.join(format!(
                    "{}.{}-{}",
                    gpid.table.0,
                    gpid.partition.0,
                    petrel_common::time::now_unix_ms()
                ));
                if let Err(e) = move_aside(&dir, &trash, &target) {
                    warn!(%gpid, error = %e, "cannot move dropped replica aside");
                }
                return;
            }
            Err(still_shared) => {
                replica = still_shared;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    warn!(%gpid, "dropped replica still in use after 60 s; leaving its files in place");
}

fn move_aside(dir: &Path, trash: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(trash)?;
    std::fs::rename(dir, target)
}
