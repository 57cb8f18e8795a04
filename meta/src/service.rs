//! Meta's RPC surface and its main loop.
//!
//! Two things change the durable state: requests (create/drop table, a new
//! server) and the reconfiguration task, which runs a [`driver::round`]
//! every `reconfig_interval_ms`. Only the leader of the meta group does
//! either: it computes the change on a copy of the state, one change at a
//! time, and proposes the result through Raft ([`MetaRaft::propose`]); the
//! state everyone reads is replaced only when the entry is applied, so
//! every answer — beacon assignments, table queries — reflects committed
//! state only. A follower answers every request with a redirect to the
//! leader ([`ServiceError::NotLeader`]).

mod moves;

use petrel_common::sync::lock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::ids::{Gpid, NodeAddr, PartitionId};
use petrel_common::msg::{
    method, AddLearnerRequest, AddLearnerResponse, AssignmentMsg, BalanceRequest, BeaconRequest,
    BeaconResponse, CreateTableRequest, CreateTableResponse, DropTableRequest, DropTableResponse,
    LibraryDeleteRequest, LibraryFlushRequest, LibraryListRequest, LibraryListResponse,
    LibraryLoadRequest, LibraryRestoreRequest, ListNodesRequest, ListNodesResponse,
    ListTablesRequest, ListTablesResponse, MetaMemberRequest, MetaMemberResponse,
    MetaStatusRequest, NodeInfoMsg, PartitionConfigMsg, QueryTableRequest, QueryTableResponse,
    RestorePolicy, ScriptExistsRequest, ScriptExistsResponse, ScriptFlushRequest, ScriptGetRequest,
    ScriptGetResponse, ScriptLoadRequest, ScriptLoadResponse, ScriptingChangeResponse,
    SettingsGetRequest, SettingsMsg, SettingsPushResponse, SettingsSetRequest, SettingsSetResponse,
    SplitTableRequest, SplitTableResponse, TableMapMsg,
};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::server::{decode, encode, serve, Handled, Service};
use petrel_common::rpc::ServiceError;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::MetaConfig;
use crate::driver::{self, Observed, RoundParams};
use crate::liveness::Liveness;
use crate::raft::MetaRaft;
use crate::reconfig::{Health, ReplicaReport};
use crate::state::{MetaError, MetaState};
use crate::store::Store;

/// Meta's shared state: the committed durable state (replaced by the Raft
/// state machine), and what the leader keeps in memory from beacons.
///
/// Lock order: `state`, then `liveness` or `observed` (never the other way).
/// `writer` is taken before any of them and never while one is held.
pub struct MetaService {
    config: MetaConfig,
    state: Arc<Mutex<MetaState>>,
    liveness: Mutex<Liveness>,
    observed: Mutex<Observed>,
    raft: MetaRaft,
    /// One change computed and proposed at a time, so each starts from the
    /// state the previous one committed.
    writer: tokio::sync::Mutex<()>,
    /// Since when this meta leads (`None` while it follows): it changes no
    /// configuration before a lease and a grace period have passed (servers
    /// may hold leases the previous leader granted, and nobody has reported
    /// to it yet), and servers it has not heard from count as silent since
    /// then.
    leader_since: Mutex<Option<Instant>>,
    /// A pre-Raft `state.json` found on a first start, to propose as the
    /// group's state once this meta leads, before it answers anything.
    takeover: Mutex<Option<MetaState>>,
    /// To push changed cluster settings to the servers.
    rpc: RpcClient,
}

impl MetaService {
    /// Starts this meta's member of the group over `config.data_dir`. On a
    /// first start, a `state.json` written by a single pre-Raft meta there
    /// becomes the group's state (proposed once this meta leads).
    pub async fn open(config: MetaConfig) -> anyhow::Result<Self> {
        let store = Store::open(&config.data_dir)?;
        let legacy = store.load()?;
        let state = Arc::new(Mutex::new(MetaState::default()));
        let rpc = RpcClient::new();
        let (raft, first_start) = MetaRaft::start(&config, state.clone(), rpc.clone()).await?;
        let takeover = match legacy {
            Some(old) if first_start => {
                info!(
                    tables = old.tables.len(),
                    nodes = old.nodes.len(),
                    "a pre-raft state.json is here: it becomes the meta group's state"
                );
                Some(old)
            }
            Some(_) => {
                warn!(dir = %config.data_dir.display(), "state.json is ignored: the raft state here is newer");
                None
            }
            None => None,
        };
        {
            let st = lock(&state);
            info!(
                tables = st.tables.len(),
                nodes = st.nodes.len(),
                learners = st.learners.values().map(|l| l.len()).sum::<usize>(),
                dir = %config.data_dir.display(),
                me = %raft.addr(),
                "meta state loaded"
            );
        }
        Ok(MetaService {
            config,
            state,
            liveness: Mutex::new(Liveness::with_baseline(Instant::now())),
            observed: Mutex::new(Observed::default()),
            raft,
            writer: tokio::sync::Mutex::new(()),
            leader_since: Mutex::new(None),
            takeover: Mutex::new(takeover),
            rpc,
        })
    }

    /// Succeeds on the leader once it has confirmed it leads, applied all
    /// that was committed before, and taken over a pre-Raft state; the
    /// redirect to the leader otherwise.
    async fn lead(&self) -> Result<(), ServiceError> {
        self.raft.check_leader().await?;
        if lock(&self.leader_since).is_none() {
            // Elected moments ago: the watcher has not caught up yet.
            return Err(ServiceError::Unavailable(
                "this meta was just elected leader; ask again".to_string(),
            ));
        }
        Ok(())
    }

    /// Follows this member's role: on becoming leader, forgets what it knew
    /// of the servers (as after a restart), takes over a pre-Raft state if
    /// one waits, and starts the clock of its first grace period.
    async fn watch_leadership(self: Arc<Self>) {
        let mut watch = self.raft.watch();
        let mut led_term: Option<u64> = None;
        loop {
            let (leading, term) = {
                let m = watch.borrow_and_update();
                (m.current_leader == Some(m.id), m.current_term)
            };
            if leading && led_term != Some(term) {
                if let Err(e) = self.take_office(term).await {
                    warn!(error = %e, term, "could not take office as meta leader; will retry");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                led_term = Some(term);
            } else if !leading && led_term.is_some() {
                info!(term, leader = ?self.raft.leader_addr(), "no longer the meta leader");
                metrics::gauge!("petrel_meta_leader").set(0.0);
                *lock(&self.leader_since) = None;
                led_term = None;
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    }

    async fn take_office(&self, term: u64) -> Result<(), ServiceError> {
        self.raft.check_leader().await?;
        let _w = self.writer.lock().await;
        let pending = lock(&self.takeover).clone();
        if let Some(old) = pending {
            self.raft.propose(old).await?;
            lock(&self.takeover).take();
            let path = self.config.data_dir.join("state.json");
            let kept = self.config.data_dir.join("state.json.pre-raft");
            if let Err(e) = std::fs::rename(&path, &kept) {
                warn!(error = %e, "could not rename state.json after taking it over; it is ignored from now on");
            }
            info!(kept = %kept.display(), "pre-raft state taken over by the meta group");
        }
        let now = Instant::now();
        *lock(&self.liveness) = Liveness::with_baseline(now);
        *lock(&self.observed) = Observed::default();
        *lock(&self.leader_since) = Some(now);
        metrics::counter!("petrel_meta_leader_elections_total").increment(1);
        metrics::gauge!("petrel_meta_leader").set(1.0);
        info!(term, "this meta leads the meta group");
        Ok(())
    }

    fn grace(&self) -> Duration {
        self.config.grace()
    }

    /// Servers that beaconed within the grace period, in address order.
    fn live_nodes(&self, state: &MetaState) -> Vec<NodeAddr> {
        let now = Instant::now();
        let liveness = lock(&self.liveness);
        state
            .nodes
            .iter()
            .filter(|n| liveness.is_alive(n, now, self.grace()))
            .cloned()
            .collect()
    }

    /// Runs `change` on a copy of the state and, if it changed anything,
    /// replicates the result through Raft before returning. Only the
    /// leader changes anything.
    async fn mutate<T: Send + 'static>(
        self: &Arc<Self>,
        change: impl FnOnce(&mut MetaState, &[NodeAddr]) -> Result<Option<T>, ServiceError>
            + Send
            + 'static,
    ) -> Result<Option<T>, ServiceError> {
        self.lead().await?;
        let _w = self.writer.lock().await;
        let before = lock(&self.state).clone();
        let mut next = before.clone();
        let live = self.live_nodes(&next);
        let out = change(&mut next, &live)?;
        if next != before {
            self.raft.propose(next).await.inspect_err(|e| {
                warn!(error = %e, "could not replicate a change of meta state");
            })?;
        }
        Ok(out)
    }

    /// Whether a reconfiguration round may run at `now`: on the leader,
    /// once a lease and a grace period have passed since it was elected.
    fn may_reconfigure(&self, now: Instant) -> bool {
        lock(&self.leader_since).is_some_and(|since| {
            now.saturating_duration_since(since) >= self.config.lease() + self.grace()
        })
    }

    /// One reconfiguration round at `now`.
    ///
    /// Nothing is decided during the first lease and grace period after
    /// this meta became leader. Changes are replicated through Raft before
    /// anyone can see them; if that fails they are dropped and decided
    /// again next round.
    pub(crate) async fn reconfig_round(&self, now: Instant) {
        if !self.may_reconfigure(now) || self.raft.check_leader().await.is_err() {
            return;
        }
        let params = RoundParams {
            grace: self.grace(),
            dropout_delay: self.config.dropout_delay(),
            balance: self.config.balance,
            max_moves: self.config.max_moves_in_flight,
        };
        let _w = self.writer.lock().await;
        let before = lock(&self.state).clone();
        let mut next = before.clone();
        let applied = {
            let health = {
                let liveness = lock(&self.liveness);
                Health::from_liveness(&liveness, &next.nodes, now, self.grace())
            };
            driver::round(&mut next, &mut lock(&self.observed), &health, now, &params)
        };
        if next == before {
            return;
        }
        if let Err(e) = self.raft.propose(next).await {
            metrics::counter!("petrel_meta_persist_failures_total").increment(1);
            warn!(error = %e, "could not replicate a reconfiguration; it will be decided again");
            return;
        }
        lock(&self.observed).note_applied(&applied, now);
        for a in &applied {
            driver::record(a);
        }
    }

    /// Runs [`MetaService::reconfig_round`] every `reconfig_interval_ms`, forever.
    async fn reconfig_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.reconfig_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.reconfig_round(Instant::now()).await;
        }
    }

    /// Serves RPC on `listener`, follows this member's role and runs the
    /// reconfiguration task, until the returned future is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        tokio::select! {
            _ = serve(listener, self.clone()) => {}
            _ = self.clone().reconfig_loop() => {}
            _ = self.clone().watch_leadership() => {}
        }
    }

    /// Stops this meta's Raft member.
    pub async fn shutdown(&self) {
        self.raft.shutdown().await;
    }

    async fn beacon(self: Arc<Self>, req: BeaconRequest) -> Handled {
        if req.node.is_empty() {
            return Err(ServiceError::Invalid(
                "beacon without a node address".to_string(),
            ));
        }
        // A lease is granted only by a leader that a quorum still follows:
        // no other meta can be elected before this beacon was sent.
        self.lead().await?;
        let node = NodeAddr(req.node);
        metrics::counter!("petrel_meta_beacons_total").increment(1);
        lock(&self.liveness).beacon(&node, Instant::now());
        let reports = req
            .replicas
            .iter()
            .map(|m| ReplicaReport::from_msg(&node, m))
            .collect();
        lock(&self.observed).record_beacon(&node, reports);
        let known = lock(&self.state).nodes.contains(&node);
        if !known {
            let n = node.clone();
            self.mutate(move |st, _| {
                if st.register_node(&n) {
                    info!(node = %n, "server registered");
                }
                Ok(Some(()))
            })
            .await?;
        }
        let assignments = lock(&self.state)
            .assignments_for(&node)
            .into_iter()
            .map(|a| AssignmentMsg {
                table_name: a.table_name,
                partition_count: a.partition_count,
                config: Some(PartitionConfigMsg::from(&a.config)),
                learner: a.learner,
                learners: a.learners.into_iter().map(|l| l.0).collect(),
                from_split: a.from_split,
                created_with: a.created_with,
            })
            .collect();
        let settings = Some(lock(&self.state).settings.message());
        encode(&BeaconResponse {
            lease_ms: self.config.lease_ms,
            assignments,
            settings,
        })
    }

    fn query_table(&self, req: QueryTableRequest) -> Handled {
        let state = lock(&self.state);
        encode(&QueryTableResponse {
            table: state.tables.get(&req.name).map(TableMapMsg::from),
            scripting_generation: state.scripting.generation,
        })
    }

    /// Runs a change of the scripts or libraries: persisted before the
    /// answer; a refused change (Redis's error text) changes nothing.
    async fn change_scripting(
        self: Arc<Self>,
        change: impl FnOnce(&mut crate::scripting::Scripting) -> Result<u64, String> + Send + 'static,
    ) -> Handled {
        let outcome = self
            .mutate(move |st, _| Ok(Some(change(&mut st.scripting))))
            .await?;
        let response = match outcome {
            Some(Ok(generation)) => ScriptingChangeResponse {
                error: String::new(),
                generation,
            },
            Some(Err(error)) => ScriptingChangeResponse {
                error,
                generation: lock(&self.state).scripting.generation,
            },
            None => ScriptingChangeResponse::default(),
        };
        encode(&response)
    }

    async fn script_load(self: Arc<Self>, req: ScriptLoadRequest) -> Handled {
        let out = self
            .mutate(move |st, _| {
                let sha = st.scripting.load_script(req.body);
                Ok(Some((sha, st.scripting.generation)))
            })
            .await?;
        let (sha, generation) = out.unwrap_or_default();
        encode(&ScriptLoadResponse { sha, generation })
    }

    fn script_get(&self, req: ScriptGetRequest) -> Handled {
        let state = lock(&self.state);
        let body = state.scripting.script(&req.sha.to_ascii_lowercase());
        encode(&ScriptGetResponse {
            found: body.is_some(),
            body: body.cloned().unwrap_or_default(),
        })
    }

    fn script_exists(&self, req: ScriptExistsRequest) -> Handled {
        let state = lock(&self.state);
        encode(&ScriptExistsResponse {
            exists: req
                .shas
                .iter()
                .map(|sha| state.scripting.script(&sha.to_ascii_lowercase()).is_some())
                .collect(),
        })
    }

    fn library_list(&self) -> Handled {
        let state = lock(&self.state);
        encode(&LibraryListResponse {
            generation: state.scripting.generation,
            script_flushes: state.scripting.script_flushes,
            libraries: state.scripting.libraries(),
        })
    }

    /// `CONFIG SET` of cluster parameters: persisted, then pushed to every
    /// live server; answered once each acknowledged, or once the lease of
    /// one that did not has run out (it serves nothing more before a
    /// beacon, whose answer carries the settings).
    async fn settings_set(self: Arc<Self>, req: SettingsSetRequest) -> Handled {
        if req.settings.is_empty() {
            return Err(ServiceError::Invalid(
                "a settings change without settings".to_string(),
            ));
        }
        let names: Vec<String> = req.settings.iter().map(|s| s.name.clone()).collect();
        let settings = self
            .mutate(move |st, _| {
                st.settings.set(req.settings);
                Ok(Some(st.settings.message()))
            })
            .await?
            .unwrap_or_default();
        let stored = Instant::now();
        info!(
            ?names,
            generation = settings.generation,
            "cluster settings changed"
        );
        metrics::counter!("petrel_meta_settings_changes_total").increment(1);
        let unacknowledged = self.push_settings(&settings).await;
        if !unacknowledged.is_empty() {
            warn!(servers = ?unacknowledged, generation = settings.generation, "servers did not acknowledge the cluster settings; waiting out their lease");
            let lease = Duration::from_millis(self.config.lease_ms);
            tokio::time::sleep(lease.saturating_sub(stored.elapsed())).await;
        }
        encode(&SettingsSetResponse {
            settings: Some(settings),
            unacknowledged,
        })
    }

    /// Sends `settings` to every live server at once; the servers that did
    /// not acknowledge them within the lease.
    async fn push_settings(&self, settings: &SettingsMsg) -> Vec<String> {
        let nodes = {
            let state = lock(&self.state);
            self.live_nodes(&state)
        };
        let lease = Duration::from_millis(self.config.lease_ms);
        let pushes = nodes.iter().map(|n| async move {
            let acked: Result<SettingsPushResponse, _> = self
                .rpc
                .call(&n.0, method::SETTINGS_PUSH, settings, lease)
                .await;
            match acked {
                Ok(r) if r.generation >= settings.generation => None,
                Ok(r) => Some(format!("{n} (at generation {})", r.generation)),
                Err(e) => Some(format!("{n} ({e})")),
            }
        });
        futures::future::join_all(pushes)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn create_table(self: Arc<Self>, req: CreateTableRequest) -> Handled {
        let table = self
            .mutate(move |st, live| {
                st.create_table(&req.name, req.partition_count, req.replica_count, live)
                    .map(Some)
                    .map_err(ServiceError::from)
            })
            .await?;
        metrics::counter!("petrel_meta_tables_created_total").increment(1);
        if let Some(t) = &table {
            info!(table = %t.name, id = t.id.0, partitions = t.partition_count, "table created");
        }
        encode(&CreateTableResponse {
            table: table.as_ref().map(TableMapMsg::from),
        })
    }

    /// The partitions of `table` made by a split that no member hosts yet.
    fn unbuilt(state: &MetaState, table: &petrel_common::partition::TableMap) -> usize {
        state.unbuilt.iter().filter(|g| g.table == table.id).count()
    }

    /// Admin: split a table (double its partition count), or with
    /// `status_only` say how many of its partitions are not built yet.
    async fn split_table(self: Arc<Self>, req: SplitTableRequest) -> Handled {
        if req.status_only {
            let state = lock(&self.state).clone();
            let table = state
                .tables
                .get(&req.name)
                .ok_or_else(|| ServiceError::from(MetaError::NoSuchTable(req.name.clone())))?;
            return encode(&SplitTableResponse {
                table: Some(TableMapMsg::from(table)),
                unbuilt: Self::unbuilt(&state, table) as u32,
            });
        }
        let name = req.name.clone();
        let table = self
            .mutate(move |st, _| {
                let unbuilt = st.tables.get(&name).map_or(0, |t| Self::unbuilt(st, t));
                st.split_table(&name, unbuilt)
                    .map(Some)
                    .map_err(ServiceError::from)
            })
            .await?;
        if let Some(t) = &table {
            metrics::counter!("petrel_meta_table_splits_total").increment(1);
            info!(table = %t.name, partitions = t.partition_count, "table split");
        }
        let unbuilt = table
            .as_ref()
            .map_or(0, |t| Self::unbuilt(&lock(&self.state), t)) as u32;
        encode(&SplitTableResponse {
            table: table.as_ref().map(TableMapMsg::from),
            unbuilt,
        })
    }

    async fn drop_table(self: Arc<Self>, req: DropTableRequest) -> Handled {
        let dropped = self
            .mutate(move |st, _| {
                st.drop_table(&req.name)
                    .map(Some)
                    .map_err(ServiceError::from)
            })
            .await?;
        metrics::counter!("petrel_meta_tables_dropped_total").increment(1);
        if let Some(t) = dropped {
            info!(table = %t.name, id = t.id.0, "table dropped");
        }
        encode(&DropTableResponse {})
    }

    /// Admin: start a learner of one partition at the next round, without
    /// waiting for a dropped member's dropout delay.
    fn add_learner(&self, req: AddLearnerRequest) -> Handled {
        let state = lock(&self.state);
        let table = state
            .tables
            .get(&req.table)
            .ok_or_else(|| ServiceError::from(MetaError::NoSuchTable(req.table.clone())))?;
        let config = table
            .partition(PartitionId(req.partition_id))
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "table '{}' has no partition {} (it has {})",
                    req.table, req.partition_id, table.partition_count
                ))
            })?;
        let gpid: Gpid = config.gpid;
        let node = (!req.node.is_empty()).then(|| NodeAddr(req.node.clone()));
        if let Some(n) = &node {
            if !state.nodes.contains(n) {
                return Err(ServiceError::NotFound(format!(
                    "no server {n} has registered with meta"
                )));
            }
            if config.has_member(n) {
                return Err(ServiceError::AlreadyExists(format!(
                    "{n} is already a member of partition {gpid}"
                )));
            }
            if !lock(&self.liveness).is_alive(n, Instant::now(), self.grace()) {
                return Err(ServiceError::Unavailable(format!(
                    "server {n} is not alive"
                )));
            }
        }
        let members = config.members().count();
        let learning = state.learners.get(&gpid).map_or(0, |l| l.len());
        if members + learning >= table.replica_count as usize {
            return Err(ServiceError::Unavailable(format!(
                "partition {gpid} already has {members} members and {learning} learners for replica count {}",
                table.replica_count
            )));
        }
        drop(state);
        lock(&self.observed).request_learner(gpid, node.clone(), Instant::now());
        info!(
            gpid = %gpid,
            node = node.as_ref().map_or("(any)", NodeAddr::as_str),
            "admin asked for a learner"
        );
        encode(&AddLearnerResponse {})
    }

    fn list_tables(&self) -> Handled {
        let state = lock(&self.state);
        encode(&ListTablesResponse {
            tables: state.tables.values().map(TableMapMsg::from).collect(),
        })
    }

    fn list_nodes(&self) -> Handled {
        let state = lock(&self.state);
        let load = state.load();
        let moving = moves::moves_per_node(&state);
        let now = Instant::now();
        let liveness = lock(&self.liveness);
        let nodes = state
            .nodes
            .iter()
            .map(|n| NodeInfoMsg {
                draining: state.draining.contains(n),
                moves_in: moving.get(n).map_or(0, |m| m.0),
                moves_out: moving.get(n).map_or(0, |m| m.1),
                addr: n.0.clone(),
                alive: liveness.is_alive(n, now, self.grace()),
                last_beacon_ms_ago: liveness
                    .silence(n, now)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(u64::MAX),
                primary_count: load.primaries.get(n).copied().unwrap_or(0),
                replica_count: load.replicas.get(n).copied().unwrap_or(0),
            })
            .collect();
        encode(&ListNodesResponse { nodes })
    }
}

impl Service for MetaService {
    fn call(self: Arc<Self>, m: u16, body: Bytes) -> BoxFuture<'static, Handled> {
        async move {
            match m {
                method::RAFT_APPEND | method::RAFT_VOTE | method::RAFT_SNAPSHOT => {
                    return self.raft.handle(m, body).await
                }
                method::META_STATUS => {
                    let _: MetaStatusRequest = decode(body)?;
                    return encode(&self.raft.status());
                }
                method::META_ADD => {
                    let req: MetaMemberRequest = decode(body)?;
                    let members = self.raft.add_member(&req.addr).await?;
                    return encode(&MetaMemberResponse { members });
                }
                method::META_REMOVE => {
                    let req: MetaMemberRequest = decode(body)?;
                    let members = self.raft.remove_member(&req.addr).await?;
                    return encode(&MetaMemberResponse { members });
                }
                _ => {}
            }
            // Everything else is the leader's to answer.
            self.lead().await?;
            match m {
                method::BEACON => self.beacon(decode(body)?).await,
                method::QUERY_TABLE => self.query_table(decode(body)?),
                method::CREATE_TABLE => self.create_table(decode(body)?).await,
                method::DROP_TABLE => self.drop_table(decode(body)?).await,
                method::LIST_TABLES => {
                    let _: ListTablesRequest = decode(body)?;
                    self.list_tables()
                }
                method::LIST_NODES => {
                    let _: ListNodesRequest = decode(body)?;
                    self.list_nodes()
                }
                method::ADD_LEARNER => self.add_learner(decode(body)?),
                method::DRAIN => self.drain(decode(body)?).await,
                method::SPLIT_TABLE => self.split_table(decode(body)?).await,
                method::BALANCE => {
                    let _: BalanceRequest = decode(body)?;
                    self.balance()
                }
                method::SCRIPT_LOAD => self.script_load(decode(body)?).await,
                method::SCRIPT_GET => self.script_get(decode(body)?),
                method::SCRIPT_EXISTS => self.script_exists(decode(body)?),
                method::SCRIPT_FLUSH => {
                    let _: ScriptFlushRequest = decode(body)?;
                    self.change_scripting(|s| Ok(s.flush_scripts())).await
                }
                method::LIBRARY_LOAD => {
                    let req: LibraryLoadRequest = decode(body)?;
                    let library = req.library.ok_or_else(|| {
                        ServiceError::Invalid("FUNCTION LOAD without a library".to_string())
                    })?;
                    self.change_scripting(move |s| s.load_library(library, req.replace))
                        .await
                }
                method::LIBRARY_DELETE => {
                    let req: LibraryDeleteRequest = decode(body)?;
                    self.change_scripting(move |s| s.delete_library(&req.name))
                        .await
                }
                method::LIBRARY_LIST => {
                    let _: LibraryListRequest = decode(body)?;
                    self.library_list()
                }
                method::LIBRARY_RESTORE => {
                    let req: LibraryRestoreRequest = decode(body)?;
                    let policy = RestorePolicy::try_from(req.policy).map_err(|_| {
                        ServiceError::Invalid(format!("unknown restore policy {}", req.policy))
                    })?;
                    self.change_scripting(move |s| s.restore(req.libraries, policy))
                        .await
                }
                method::SETTINGS_SET => self.settings_set(decode(body)?).await,
                method::SETTINGS_GET => {
                    let _: SettingsGetRequest = decode(body)?;
                    encode(&lock(&self.state).settings.message())
                }
                method::LIBRARY_FLUSH => {
                    let _: LibraryFlushRequest = decode(body)?;
                    self.change_scripting(|s| Ok(s.flush_libraries())).await
                }
                other => Err(ServiceError::NoMethod(other)),
            }
        }
        .boxed()
    }
}

/// Serves meta until the process is told to stop.
pub(crate) async fn run(config: MetaConfig) -> anyhow::Result<()> {
    config.validate()?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    if !config.metrics_listen.is_empty() {
        petrel_common::telemetry::serve_metrics(&config.metrics_listen).await?;
    }
    let listen = config.listen.clone();
    let service = Arc::new(MetaService::open(config).await?);
    info!(%listen, "petrel-meta serving");
    tokio::select! {
        _ = service.clone().serve(listener) => {}
        _ = petrel_common::shutdown::signal() => info!("petrel-meta stopping"),
    }
    service.shutdown().await;
    Ok(())
}
