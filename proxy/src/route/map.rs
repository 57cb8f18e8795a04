//! The cached partition map of the served table, read from meta.
//!
//! Requests read the map lock-free (`arc-swap`). It is refreshed at startup
//! (retrying until meta answers and the table exists), periodically, and
//! whenever a server says the proxy's view is stale. Concurrent refresh
//! requests collapse into one meta query.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use petrel_common::ids::PartitionId;
use petrel_common::meta_client::MetaClient;
use petrel_common::meta_query;
use petrel_common::partition::TableMap;
use petrel_common::rpc::client::RpcClient;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::error::RouteError;
use crate::stats::names;

/// How long one meta query may take.
const META_TIMEOUT: Duration = Duration::from_secs(1);
/// Retry pacing while no map has been loaded yet.
const STARTUP_BACKOFF_MIN: Duration = Duration::from_millis(100);
const STARTUP_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What INFO shows about the map's freshness.
#[derive(Clone, Debug, Default)]
pub(crate) struct MapStatus {
    /// Why the last refresh failed (empty after a success).
    pub(crate) last_error: String,
    pub(crate) last_success: Option<Instant>,
    pub(crate) refreshes: u64,
    pub(crate) failures: u64,
}

/// The table map cache.
pub(crate) struct MapCache {
    table: String,
    meta: MetaClient,
    current: ArcSwapOption<TableMap>,
    /// One meta query at a time; waiters reuse its result.
    refreshing: tokio::sync::Mutex<()>,
    /// Bumped after every completed refresh attempt.
    generation: AtomicU64,
    /// Meta's scripting generation, as its last answer said
    /// (`crate::catalog` fetches scripts and libraries when it moves).
    scripting_generation: AtomicU64,
    status: Mutex<MapStatus>,
    /// The installed map's version, for those who follow every change
    /// (the pub/sub registrar re-registers with new primaries).
    installed: tokio::sync::watch::Sender<u64>,
}

impl MapCache {
    /// An empty cache for `table`, asking the `meta` addresses in order.
    pub(crate) fn new(table: String, meta: Vec<String>, rpc: RpcClient) -> Self {
        MapCache {
            table,
            meta: MetaClient::new(rpc, meta),
            current: ArcSwapOption::empty(),
            refreshing: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            scripting_generation: AtomicU64::new(0),
            status: Mutex::new(MapStatus::default()),
            installed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The table's name.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// The meta addresses.
    pub(crate) fn meta(&self) -> &[String] {
        self.meta.addrs()
    }

    /// The RPC client meta is asked through.
    pub(crate) fn rpc(&self) -> &RpcClient {
        self.meta.rpc()
    }

    /// Calls method `m` at the meta leader (following redirects); what
    /// each meta said when none answered as leader.
    pub(crate) async fn ask_meta<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        m: u16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, String> {
        self.meta
            .call::<Req, Resp>(m, req, timeout)
            .await
            .map_err(|e| e.to_string())
    }

    /// Meta's scripting generation, as its latest answer said.
    pub(crate) fn scripting_generation(&self) -> u64 {
        self.scripting_generation.load(Relaxed)
    }

    /// Records a scripting generation meta gave in another answer.
    pub(crate) fn heard_scripting_generation(&self, generation: u64) {
        self.scripting_generation.fetch_max(generation, Relaxed);
    }

    /// The current map, if one has been loaded.
    pub(crate) fn current(&self) -> Option<Arc<TableMap>> {
        self.current.load_full()
    }

    /// Refresh counter; pass it to [`MapCache::refresh`] to skip a query when
    /// another caller refreshed since.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Freshness facts for INFO.
    pub(crate) fn status(&self) -> MapStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Installs `map` if it is not older than the current one.
    pub(crate) fn install(&self, map: TableMap) {
        let cur = self.current.load_full();
        match &cur {
            None => info!(
                table = %map.name,
                table_id = map.id.0,
                partitions = map.partition_count,
                version = map.version,
                "table map loaded"
            ),
            Some(c) if c.id != map.id => warn!(
                table = %map.name,
                old_id = c.id.0,
                new_id = map.id.0,
                "table was re-created; switching to the new one"
            ),
            Some(c) if map.version < c.version => {
                debug!(
                    have = c.version,
                    got = map.version,
                    "ignoring older table map"
                );
                return;
            }
            Some(c) if map.version > c.version => {
                debug!(from = c.version, to = map.version, "table map updated")
            }
            Some(_) => {}
        }
        metrics::gauge!(names::MAP_VERSION, "table" => self.table.clone()).set(map.version as f64);
        let version = map.version;
        self.current.store(Some(Arc::new(map)));
        self.installed.send_replace(version);
    }

    /// Follows installs of a new map (its version; a re-created table's
    /// map may repeat a version, and is still announced).
    pub(crate) fn follow(&self) -> tokio::sync::watch::Receiver<u64> {
        self.installed.subscribe()
    }

    /// Queries meta unless someone else refreshed since `seen_generation`.
    pub(crate) async fn refresh(&self, seen_generation: u64) -> Result<(), String> {
        let _one = self.refreshing.lock().await;
        if self.generation.load(Relaxed) != seen_generation {
            return Ok(());
        }
        let result = self.fetch().await;
        {
            let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
            s.refreshes += 1;
            match &result {
                Ok(_) => {
                    s.last_error.clear();
                    s.last_success = Some(Instant::now());
                }
                Err(e) => {
                    s.failures += 1;
                    s.last_error = e.clone();
                }
            }
        }
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(names::MAP_REFRESHES, "table" => self.table.clone(), "result" => outcome)
            .increment(1);
        let result = result.map(|map| self.install(map));
        self.generation.fetch_add(1, Relaxed);
        result
    }

    /// The current map, waiting (and refreshing) until `deadline` if none is loaded yet.
    pub(crate) async fn wait_for_map(
        &self,
        deadline: Instant,
    ) -> Result<Arc<TableMap>, RouteError> {
        let mut pause = STARTUP_BACKOFF_MIN;
        loop {
            if let Some(map) = self.current() {
                return Ok(map);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let why = self.status().last_error;
                return Err(RouteError::NoMap {
                    table: self.table.clone(),
                    why: if why.is_empty() {
                        "no answer from meta yet".to_string()
                    } else {
                        why
                    },
                });
            }
            let gen = self.generation();
            let _ = tokio::time::timeout(remaining, self.refresh(gen)).await;
            if self.current().is_none() {
                // Meta answered without the table, or not at all: back off.
                let wait = pause.min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(wait).await;
                pause = (pause * 2).min(STARTUP_BACKOFF_MAX);
            }
        }
    }

    /// Resolves once the map routes partition `pid` otherwise than `sent`
    /// did (a newer ballot for it: a failover or a switch; or another table
    /// or partition count), with the newer map. A request still unanswered
    /// `after` its start calls this: from then on the map is refreshed
    /// from meta every `every` (one query at a time per proxy, however
    /// many requests wait), since a primary that hangs (SIGSTOP, a stalled
    /// machine) answers nothing that would trigger a refresh.
    pub(crate) async fn moved_on(
        &self,
        sent: &TableMap,
        pid: PartitionId,
        after: Duration,
        every: Duration,
    ) -> Arc<TableMap> {
        tokio::time::sleep(after).await;
        loop {
            let gen = self.generation();
            if let Some(map) = self.current().filter(|m| routes_otherwise(sent, m, pid)) {
                return map;
            }
            let _ = tokio::time::timeout(META_TIMEOUT, self.refresh(gen)).await;
            if let Some(map) = self.current().filter(|m| routes_otherwise(sent, m, pid)) {
                return map;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Asks the meta leader.
    async fn fetch(&self) -> Result<TableMap, String> {
        let (map, scripting) =
            meta_query::query_table_and_generation(&self.meta, &self.table, META_TIMEOUT).await?;
        self.scripting_generation.fetch_max(scripting, Relaxed);
        Ok(map)
    }

    /// Keeps the map fresh until `shutdown`: fast retries until the first
    /// map arrives (logging while waiting), then every `interval`.
    pub(crate) async fn run_refresher(
        self: Arc<Self>,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut failures: u32 = 0;
        loop {
            let had_map = self.current().is_some();
            // A refresh skipped because a request refreshed meanwhile
            // reports that refresh's outcome through the status.
            let outcome = self.refresh(self.generation()).await.and_then(|()| {
                let last = self.status().last_error;
                if last.is_empty() {
                    Ok(())
                } else {
                    Err(last)
                }
            });
            match outcome {
                Ok(()) => {
                    if failures > 0 && had_map {
                        info!("meta reachable again; table map refreshed");
                    }
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    if !had_map && (failures == 1 || failures.is_multiple_of(10)) {
                        warn!(
                            table = %self.table,
                            meta = ?self.meta.addrs(),
                            attempts = failures,
                            error = %e,
                            "waiting for the table map from meta; data commands get CLUSTERDOWN until it arrives"
                        );
                    } else if had_map && (failures == 1 || failures.is_multiple_of(20)) {
                        warn!(error = %e, attempts = failures, "table map refresh failed; using the cached map");
                    }
                }
            }
            let wait = if self.current().is_none() {
                STARTUP_BACKOFF_MIN
                    .saturating_mul(1 << failures.min(5))
                    .min(STARTUP_BACKOFF_MAX)
            } else {
                interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// Whether `new` routes partition `pid` otherwise than `old`: a newer
/// configuration of it, or another table or partition count.
fn routes_otherwise(old: &TableMap, new: &TableMap, pid: PartitionId) -> bool {
    if new.id != old.id || new.partition_count != old.partition_count {
        return true;
    }
    match (old.partition(pid), new.partition(pid)) {
        (Some(o), Some(n)) => n.ballot > o.ballot,
        (o, n) => o.is_some() != n.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::ids::{Ballot, Gpid, TableId};
    use petrel_common::meta_query::check;
    use petrel_common::partition::PartitionConfig;

    fn map(id: u32, version: u64, count: u32) -> TableMap {
        TableMap {
            id: TableId(id),
            name: "t".into(),
            partition_count: count,
            replica_count: 3,
            version,
            partitions: (0..count)
                .map(|p| PartitionConfig {
                    gpid: Gpid::new(id, p),
                    ballot: Ballot(1),
                    primary: Some("127.0.0.1:1".into()),
                    secondaries: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn checks_maps() {
        assert!(check(&map(1, 1, 4)).is_ok());
        assert!(check(&map(1, 1, 3)).is_err());
        let mut m = map(1, 1, 4);
        m.partitions.pop();
        assert!(check(&m).is_err());
    }

    #[tokio::test]
    async fn older_versions_do_not_replace_newer() {
        let cache = MapCache::new("t".into(), vec!["127.0.0.1:1".into()], RpcClient::new());
        cache.install(map(1, 5, 4));
        cache.install(map(1, 3, 4));
        assert_eq!(cache.current().map(|m| m.version), Some(5));
        cache.install(map(1, 6, 4));
        assert_eq!(cache.current().map(|m| m.version), Some(6));
        // A re-created table (new id) replaces whatever version it has.
        cache.install(map(2, 1, 4));
        assert_eq!(cache.current().map(|m| m.id), Some(TableId(2)));
    }

    #[tokio::test]
    async fn waiting_without_meta_ends_in_clusterdown() {
        // Port 1 on loopback refuses connections.
        let cache = MapCache::new("t".into(), vec!["127.0.0.1:1".into()], RpcClient::new());
        let err = cache
            .wait_for_map(Instant::now() + Duration::from_millis(300))
            .await
            .expect_err("no meta");
        let text = err.to_string();
        assert!(
            text.starts_with("CLUSTERDOWN table 't' is not available"),
            "{text}"
        );
    }
}
