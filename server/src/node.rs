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

use bytes::Bytes;
use petrel_common::command::{self, Internal};
use petrel_common::ids::{Gpid, NodeAddr};
use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{method, BeaconRequest, BeaconResponse, ReplicaInfoMsg};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;
use petrel_common::rpc::client::RpcClient;
use tracing::{info, warn};

use crate::config::ServerConfig;
use crate::learn::store::CheckpointStore;
use crate::log::{LogEntry, LogOptions, MutationLog};
use crate::notify::Notifier;
use crate::replica::machine::Options as MachineOptions;
use crate::replica::shell::{self, Env, Opening};
use crate::replica::{db_path, load_config, role_of, Event, Replica, ReplicaError, WriteOutcome};
use crate::storage::rocks::{BlockCache, RocksEngine, RocksOptions};
use crate::storage::StorageError;
use crate::txn::peers::Peers;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("opening the mutation log: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("preparing the checkpoint directory: {0}")]
    Checkpoints(crate::learn::LearnError),
    #[error("checking the replicas' storage: {0}")]
    Layout(StorageError),
}

/// The server's replicas and lease.
/// How soon a beacon follows a failed one: a meta leader change is over in
/// well under a lease, and the lease must be renewed before it runs out.
const BEACON_RETRY: Duration = Duration::from_millis(100);

pub(crate) struct Node {
    pub(crate) me: NodeAddr,
    pub(crate) config: ServerConfig,
    replicas: Mutex<BTreeMap<Gpid, Arc<Replica>>>,
    /// Until when this server may serve; `None` before the first beacon answer.
    lease_until: Mutex<Option<Instant>>,
    /// The meta group: beacons go to its leader.
    meta: MetaClient,
    rpc: RpcClient,
    /// Options for every replica's RocksDB, sharing one block cache.
    rocks: RocksOptions,
    /// The server's mutation log, shared by every replica (group commit).
    pub(crate) log: Arc<MutationLog>,
    /// What every replica task shares.
    env: Arc<Env>,
    /// Log entries read at start-up, per partition, waiting for their replica to open.
    unreplayed: Mutex<HashMap<Gpid, Vec<LogEntry>>>,
    /// Partitions this server stopped hosting: their log records can go.
    retired: Mutex<HashSet<Gpid>>,
    /// Wakes the beacon loop early (a request showed meta has moved on).
    beacon_now: Arc<tokio::sync::Notify>,
    /// Checkpoints of this server's primaries being copied by learners.
    pub(crate) checkpoints: Arc<CheckpointStore>,
    /// The channel brokers of the partitions this server leads.
    pub(crate) broker: Arc<crate::pubsub::Broker>,
    /// Keyspace notifications: the cluster's setting and their publishing.
    pub(crate) notifier: Arc<Notifier>,
}

impl Node {
    /// Opens the mutation log under `data_dir/log` (replaying it) and
    /// prepares the node. Blocks.
    pub(crate) fn open(config: ServerConfig) -> Result<Self, OpenError> {
        check_layouts(&config.data_dir.join("replicas")).map_err(OpenError::Layout)?;
        let options = LogOptions {
            segment_bytes: config.log_segment_mb << 20,
            durability: config.durability,
            sync_linger: std::time::Duration::from_micros(config.log_sync_linger_us),
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
        let log = Arc::new(log);
        let checkpoints = Arc::new(
            CheckpointStore::open(
                &config.data_dir,
                CheckpointStore::DEFAULT_TTL,
                CheckpointStore::DEFAULT_MAX_PER_PARTITION,
            )
            .map_err(OpenError::Checkpoints)?,
        );
        let rpc = RpcClient::new();
        let meta = MetaClient::new(rpc.clone(), config.meta.clone());
        let rocks = RocksOptions {
            block_cache: Some(BlockCache::new((config.block_cache_mb as usize) << 20)),
            ..RocksOptions::default()
        };
        let me = NodeAddr(config.identity().to_string());
        let broker = Arc::new(crate::pubsub::Broker::new(
            usize::try_from(config.pubsub_proxy_queue_mb << 20).unwrap_or(usize::MAX),
        ));
        let notifier = Arc::new(Notifier::new(broker.clone()));
        let beacon_now = Arc::new(tokio::sync::Notify::new());
        let env = Arc::new(Env {
            broker: broker.clone(),
            me: me.clone(),
            log: log.clone(),
            rpc: rpc.clone(),
            rocks: rocks.clone(),
            machine: MachineOptions::default(),
            txn: config.participant_options(),
            peers: Arc::new(Peers::new(rpc.clone(), meta.clone())),
            notifier: notifier.clone(),
            beacon_now: beacon_now.clone(),
        });
        Ok(Node {
            log,
            env,
            unreplayed: Mutex::new(unreplayed),
            retired: Mutex::new(HashSet::new()),
            beacon_now,
            checkpoints,
            broker,
            notifier,
            me,
            replicas: Mutex::new(BTreeMap::new()),
            lease_until: Mutex::new(None),
            meta,
            rpc,
            rocks,
            config,
        })
    }

    /// The hosted replica of `gpid`.
    pub(crate) fn replica(&self, gpid: Gpid) -> Option<Arc<Replica>> {
        lock(&self.replicas).get(&gpid).cloned()
    }

    /// Every hosted replica.
    pub(crate) fn replicas(&self) -> Vec<Arc<Replica>> {
        lock(&self.replicas).values().cloned().collect()
    }

    /// Asks the beacon loop to beacon meta now: someone holds a newer
    /// configuration than this server (a failover made it primary).
    pub(crate) fn beacon_soon(&self) {
        self.beacon_now.notify_one();
    }

    /// Whether the lease from meta is still valid: a server that cannot
    /// renew it stops serving before meta's grace period ends.
    pub(crate) fn lease_valid(&self) -> bool {
        lock(&self.lease_until).is_some_and(|t| Instant::now() < t)
    }

    /// What this server reports about its replicas.
    pub(crate) fn replica_infos(&self) -> Vec<ReplicaInfoMsg> {
        self.replicas()
            .iter()
            .map(|r| {
                let v = r.view();
                ReplicaInfoMsg {
                    table_id: r.gpid.table.0,
                    partition_id: r.gpid.partition.0,
                    ballot: v.config.ballot.0,
                    last_committed_decree: v.last_committed.0,
                    last_prepared_decree: v.last_prepared.0,
                    ready_learners: v.ready_learners.iter().map(|n| n.0.clone()).collect(),
                    unreachable: v.unreachable.iter().map(|n| n.0.clone()).collect(),
                    ..Default::default()
                }
                .with_role(role_of(v.status))
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
    ///
    /// Beacons go to the meta leader ([`MetaClient`] follows redirects and
    /// leader changes). After a failed beacon the next one goes out after
    /// [`BEACON_RETRY`] rather than a whole interval, so a meta leader
    /// change costs a fraction of the lease.
    pub(crate) async fn beacon_loop(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.beacon_interval_ms);
        let mut warned = false;
        loop {
            let sent_at = Instant::now();
            let req = BeaconRequest {
                node: self.me.0.clone(),
                replicas: self.replica_infos(),
            };
            let next = match self
                .meta
                .call::<_, BeaconResponse>(
                    method::BEACON,
                    &req,
                    interval.max(Duration::from_millis(500)),
                )
                .await
            {
                Ok(resp) => {
                    if warned {
                        info!(meta = ?self.meta.leader(), "meta reachable again");
                        warned = false;
                    }
                    // The cluster settings first: nothing is served under
                    // this answer's lease with older ones.
                    if let Some(settings) = &resp.settings {
                        self.notifier.apply(settings);
                    }
                    // The lease runs from when the beacon was sent, never from
                    // when the answer arrived: meta's clock for us started then.
                    let until = sent_at + Duration::from_millis(resp.lease_ms);
                    self.apply_assignments(resp, until).await;
                    *lock(&self.lease_until) = Some(until);
                    interval
                }
                Err(e) => {
                    metrics::counter!("petrel_server_beacon_failures_total").increment(1);
                    if !warned {
                        warn!(meta = ?self.meta.addrs(), error = %e, "beacon to meta failed");
                        warned = true;
                    }
                    BEACON_RETRY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(next.saturating_sub(sent_at.elapsed())) => {}
                _ = self.beacon_now.notified() => {
                    // At most one early beacon per 50 ms.
                    tokio::time::sleep(Duration::from_millis(50).saturating_sub(sent_at.elapsed())).await;
                }
            }
        }
    }

    async fn apply_assignments(self: &Arc<Self>, resp: BeaconResponse, lease_until: Instant) {
        let mut wanted = HashSet::new();
        for a in resp.assignments {
            let Some(cfg) = a.config.as_ref() else {
                continue;
            };
            let config = PartitionConfig::from(cfg);
            let gpid = config.gpid;
            wanted.insert(gpid);
            let replica = match self.replica(gpid) {
                Some(r) => r,
                // A partition made by a split is built by its parent's
                // replica here (`replica::shell::split`), never empty: a
                // member without it waits, or is replaced by meta.
                None if a.from_split && !a.learner && !self.replica_dir(gpid).exists() => {
                    continue;
                }
                None => match self
                    .open_replica(gpid, a.table_name.clone(), unsplit_count(&a))
                    .await
                {
                    Some(r) => r,
                    None => continue,
                },
            };
            let ballot = config.ballot;
            replica.offer_partition_count(a.partition_count);
            replica.send(Event::Config(config));
            // Always, even empty: the list is complete, and the primary
            // forgets learners meta dropped.
            replica.send(Event::Learners {
                ballot,
                nodes: a.learners.into_iter().map(NodeAddr).collect(),
            });
        }
        // The lease is handed over only after the configurations it covers.
        for r in self.replicas() {
            r.send(Event::Lease { until: lease_until });
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
            let trash = self.config.data_dir.join("dropped");
            info!(gpid = %replica.gpid, "replica no longer assigned; closing it");
            metrics::gauge!("petrel_server_replicas").decrement(1.0);
            tokio::spawn(retire(replica, self.log.clone(), trash));
        }
    }

    /// Opens (or creates) the replica of `gpid` and starts its task; it
    /// serves `unsplit_count` partitions unless its data records a split.
    async fn open_replica(
        self: &Arc<Self>,
        gpid: Gpid,
        table_name: String,
        unsplit_count: u32,
    ) -> Option<Arc<Replica>> {
        let dir = self.replica_dir(gpid);
        if dir.exists() && lock(&self.retired).contains(&gpid) {
            // Closed moments ago and not yet moved aside: try again later.
            return None;
        }
        lock(&self.retired).remove(&gpid);
        let rocks = self.rocks.clone();
        let logged = lock(&self.unreplayed).remove(&gpid).unwrap_or_default();
        let log = self.log.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let logged = if dir.exists() {
                logged
            } else {
                void_earlier_incarnation(&log, gpid, &logged)?;
                Vec::new()
            };
            std::fs::create_dir_all(&dir).map_err(crate::storage::StorageError::from)?;
            crate::learn::install::recover(&db_path(&dir)).map_err(ReplicaError::Recover)?;
            let engine = RocksEngine::open(&db_path(&dir), &rocks)?;
            let persisted = load_config(gpid, &dir)?;
            // The data says which split it is past; a replica behind one
            // splits when it catches up (or proposes it, as a new primary).
            let partition_count =
                crate::storage::split::recorded_count(&engine)?.unwrap_or(unsplit_count);
            Ok::<_, ReplicaError>(Opening {
                table_name,
                partition_count,
                gpid,
                dir,
                engine: Arc::new(engine),
                persisted,
                logged,
            })
        })
        .await;
        let opening = match opened {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                warn!(%gpid, error = %e, "cannot open replica");
                return None;
            }
            Err(e) => {
                warn!(%gpid, error = %e, "replica open task failed");
                return None;
            }
        };
        match shell::spawn(self.env.clone(), opening) {
            Ok(replica) => {
                let replica = Arc::new(replica);
                lock(&self.replicas).insert(gpid, replica.clone());
                metrics::gauge!("petrel_server_replicas").increment(1.0);
                Some(replica)
            }
            Err(e) => {
                warn!(%gpid, error = %e, "cannot start replica");
                None
            }
        }
    }
}

/// The partition count a replica of `a` serves when its data records no
/// split: the table's count at creation (the current one from a meta that
/// predates splits).
fn unsplit_count(a: &petrel_common::msg::AssignmentMsg) -> u32 {
    if a.created_with == 0 {
        a.partition_count
    } else {
        a.created_with
    }
}

/// Keys the expiry sweep examines per partition per round.
const SWEEP_EXAMINE: &str = "1000";

impl Node {
    /// Once a second, finds expired keys in every partition this server is
    /// the primary of (a read) and deletes those still expired (a replicated
    /// write), so they leave DBSIZE and SCAN without anyone reading them.
    /// Each partition is walked a slice at a time, resuming where the last
    /// round stopped.
    /// Forgets proxies that stopped polling for pub/sub messages, and the
    /// registrations of partitions this server no longer hosts.
    pub(crate) async fn pubsub_gc_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            self.broker.forget_idle(crate::pubsub::PROXY_IDLE);
            self.broker
                .retain_partitions(|gpid| self.replica(gpid).is_some());
        }
    }

    /// Publishes keyspace events at other partitions' brokers (see
    /// [`Notifier::forward_loop`]).
    pub(crate) async fn notify_loop(self: Arc<Self>) {
        let peers = self.env.peers.clone();
        self.notifier
            .clone()
            .forward_loop(peers, self.rpc.clone())
            .await;
    }

    pub(crate) async fn expiry_loop(self: Arc<Self>) {
        let mut cursors: HashMap<Gpid, Bytes> = HashMap::new();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for replica in self.replicas() {
                if replica.config().primary.as_ref() != Some(&self.me) {
                    cursors.remove(&replica.gpid);
                    continue;
                }
                let from = cursors.remove(&replica.gpid).unwrap_or_default();
                let args = vec![
                    Bytes::from_static(b"petrel.expired"),
                    from,
                    Bytes::from_static(SWEEP_EXAMINE.as_bytes()),
                ];
                let now = petrel_common::time::now_unix_ms();
                let r = replica.clone();
                let expired = command::table().internal(Internal::Expired);
                let page = tokio::task::spawn_blocking(move || r.read(expired, &args, now)).await;
                let Ok(Reply::Array(mut page)) = page else {
                    continue;
                };
                let (Some(Reply::Array(keys)), Some(next)) = (page.pop(), page.pop()) else {
                    continue;
                };
                if let Reply::Bulk(next) = next {
                    cursors.insert(replica.gpid, next);
                }
                let mut sweep = vec![Bytes::from_static(b"petrel.sweep")];
                sweep.extend(keys.into_iter().filter_map(|k| match k {
                    Reply::Bulk(k) => Some(k),
                    _ => None,
                }));
                if sweep.len() > 1 {
                    let now = petrel_common::time::now_unix_ms();
                    let sweep_cmd = command::table().internal(Internal::Sweep);
                    if let WriteOutcome::Done(Reply::Int(n)) =
                        replica.write(sweep_cmd, sweep, now).await
                    {
                        metrics::counter!("petrel_server_expired_keys_swept_total")
                            .increment(n.max(0) as u64);
                    }
                }
            }
        }
    }

    /// Periodically flushes every replica's memtables and drops log segments
    /// that only hold records below what RocksDB now has on disk.
    pub(crate) async fn log_gc_loop(self: Arc<Self>) {
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
                let expired = node.checkpoints.gc();
                if expired > 0 {
                    info!(expired, "old checkpoints removed");
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

/// A replica directory that does not exist yet starts a new incarnation:
/// log records of its partition belong to an earlier one whose voiding
/// failed when it was dropped (e.g. the disk was full). Void them now,
/// durably, before the new incarnation logs anything, so no later replay
/// mixes the two.
fn void_earlier_incarnation(
    log: &MutationLog,
    gpid: Gpid,
    logged: &[LogEntry],
) -> Result<(), ReplicaError> {
    let Some(ballot) = logged.iter().map(|e| e.ballot).max() else {
        return Ok(());
    };
    warn!(%gpid, records = logged.len(), "voiding log records of an earlier incarnation");
    let ticket = log.truncate_after(gpid, petrel_common::ids::Decree(0), ballot)?;
    log.sync(ticket)?;
    Ok(())
}

/// Stops the replica, waits for in-flight requests to release its storage,
/// then moves its files aside (never deleted by the server: an operator decides).
async fn retire(replica: Arc<Replica>, log: Arc<MutationLog>, trash: PathBuf) {
    let gpid = replica.gpid;
    let dir = replica.dir().to_path_buf();
    let ballot = replica.config().ballot;
    if !replica.close(Duration::from_secs(60)).await {
        warn!(%gpid, "dropped replica still in use after 60 s; leaving its files in place");
        return;
    }
    drop(replica);
    // Void this partition's log records: if the server hosts it again later
    // (as a learner, from a checkpoint), a restart must not mistake this
    // incarnation's tail for the new one's.
    if let Err(e) = log.truncate_after(gpid, petrel_common::ids::Decree(0), ballot) {
        warn!(%gpid, error = %e, "cannot void the log records of a dropped replica");
    }
    let target = trash.join(format!(
        "{}.{}-{}",
        gpid.table.0,
        gpid.partition.0,
        petrel_common::time::now_unix_ms()
    ));
    if let Err(e) = move_aside(&dir, &trash, &target) {
        warn!(%gpid, error = %e, "cannot move dropped replica aside");
    }
}

/// Refuses to start while a replica's database holds a storage layout this
/// build cannot read (a newer server wrote it): failing here, naming it,
/// beats failing to open it whenever meta assigns it. Other trouble with a
/// database is left to that replica's own open. Blocks: one read-only
/// RocksDB open per replica.
fn check_layouts(replicas: &Path) -> Result<(), StorageError> {
    let entries = match std::fs::read_dir(replicas) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let dir = entry?.path();
        match RocksEngine::check_layout_at(&db_path(&dir)) {
            Ok(()) => {}
            Err(e @ StorageError::UnsupportedLayout { .. }) => return Err(e),
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot read a replica's layout version");
            }
        }
    }
    Ok(())
}

fn move_aside(dir: &Path, trash: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(trash)?;
    std::fs::rename(dir, target)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use petrel_common::ids::{Ballot, Decree};

    use super::*;

    fn entry(gpid: Gpid, decree: u64, ballot: u64) -> LogEntry {
        LogEntry {
            gpid,
            ballot: Ballot(ballot),
            decree: Decree(decree),
            last_committed: Decree(decree - 1),
            mutation: Bytes::from_static(b"m"),
        }
    }

    #[test]
    fn a_replica_in_an_unknown_layout_stops_the_server_from_starting() {
        use crate::storage::layout::{encode_layout_version, LAYOUT_VERSION, LAYOUT_VERSION_KEY};

        let root = tempfile::tempdir().expect("tempdir");
        let replicas = root.path().join("replicas");
        check_layouts(&replicas).expect("no replicas yet");
        for name in ["1.0", "1.1"] {
            let dir = replicas.join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            drop(RocksEngine::open(&db_path(&dir), &RocksOptions::default()).expect("open"));
        }
        // A replica directory whose database was never created.
        std::fs::create_dir_all(replicas.join("1.2")).expect("mkdir");
        check_layouts(&replicas).expect("all readable");
        {
            // What a newer server would leave behind.
            let db = rocksdb::DB::open_default(db_path(&replicas.join("1.1"))).expect("raw open");
            db.put(
                LAYOUT_VERSION_KEY,
                encode_layout_version(LAYOUT_VERSION + 1),
            )
            .expect("put");
            db.flush().expect("flush");
        }
        let err = check_layouts(&replicas).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("replicas/1.1/db"), "{text}");
        assert!(
            matches!(
                err,
                StorageError::UnsupportedLayout {
                    found,
                    supported: LAYOUT_VERSION,
                    ..
                } if found == LAYOUT_VERSION + 1
            ),
            "{text}"
        );
    }

    #[test]
    fn a_new_incarnation_voids_the_records_of_an_earlier_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (gone, kept) = (Gpid::new(1, 0), Gpid::new(1, 1));
        {
            let (log, _) = MutationLog::open(dir.path(), LogOptions::default()).expect("open");
            for d in 1..=3 {
                log.append(&entry(gone, d, 2)).expect("append");
                log.append(&entry(kept, d, 2)).expect("append");
            }
            log.sync_all().expect("sync");
        }
        let (log, replay) = MutationLog::open(dir.path(), LogOptions::default()).expect("reopen");
        let logged = replay.latest_per_partition();
        assert_eq!(logged[&gone].len(), 3);
        void_earlier_incarnation(&log, gone, &logged[&gone]).expect("void");
        void_earlier_incarnation(&log, kept, &[]).expect("nothing to void");
        drop(log);
        let (_, replay) = MutationLog::open(dir.path(), LogOptions::default()).expect("reopen");
        let logged = replay.latest_per_partition();
        assert!(logged.get(&gone).is_none_or(Vec::is_empty), "{logged:?}");
        assert_eq!(logged[&kept].len(), 3, "other partitions keep theirs");
    }
}
