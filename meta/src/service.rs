//! Meta's RPC surface and its main loop.

use petrel_common::sync::lock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::ids::NodeAddr;
use petrel_common::msg::{
    method, AssignmentMsg, BeaconRequest, BeaconResponse, CreateTableRequest, CreateTableResponse,
    DropTableRequest, DropTableResponse, ListNodesRequest, ListNodesResponse, ListTablesRequest,
    ListTablesResponse, NodeInfoMsg, PartitionConfigMsg, QueryTableRequest, QueryTableResponse,
    TableMapMsg,
};
use petrel_common::rpc::server::{decode, encode, serve, Handled, Service};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::MetaConfig;
use crate::liveness::Liveness;
use crate::state::MetaState;
use crate::store::Store;

/// Meta's shared state: the durable part behind a lock that is held while
/// it is persisted, so no answer ever reflects unsaved state.
pub struct MetaService {
    config: MetaConfig,
    state: Arc<Mutex<MetaState>>,
    liveness: Mutex<Liveness>,
    store: Store,
}

impl MetaService {
    /// Opens the state in `config.data_dir` (or starts empty).
    pub fn open(config: MetaConfig) -> anyhow::Result<Self> {
        let store = Store::open(&config.data_dir)?;
        let state = store.load()?.unwrap_or_default();
        info!(
            tables = state.tables.len(),
            nodes = state.nodes.len(),
            dir = %config.data_dir.display(),
            "meta state loaded"
        );
        Ok(MetaService {
            config,
            state: Arc::new(Mutex::new(state)),
            liveness: Mutex::new(Liveness::default()),
            store,
        })
    }

    fn grace(&self) -> Duration {
        Duration::from_millis(self.config.grace_ms)
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

    /// Runs `change` on the state and persists the result before returning.
    /// On a failed save the in-memory state is rolled back.
    async fn mutate<T: Send + 'static>(
        self: &Arc<Self>,
        change: impl FnOnce(&mut MetaState, &[NodeAddr]) -> Result<Option<T>, String> + Send + 'static,
    ) -> Result<Option<T>, String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut state = lock(&this.state);
            let live = this.live_nodes(&state);
            let before = state.clone();
            let out = change(&mut state, &live)?;
            if *state != before {
                if let Err(e) = this.store.save(&state) {
                    *state = before;
                    warn!(error = %e, "could not persist meta state");
                    return Err(format!("meta could not persist its state: {e}"));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| format!("meta task failed: {e}"))?
    }

    async fn beacon(self: Arc<Self>, req: BeaconRequest) -> Handled {
        if req.node.is_empty() {
            return Err("beacon without a node address".to_string());
        }
        let node = NodeAddr(req.node);
        metrics::counter!("petrel_meta_beacons_total").increment(1);
        lock(&self.liveness).beacon(&node, Instant::now());
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
                ..AssignmentMsg::default()
            })
            .collect();
        encode(&BeaconResponse {
            lease_ms: self.config.lease_ms,
            assignments,
        })
    }

    fn query_table(&self, req: QueryTableRequest) -> Handled {
        let state = lock(&self.state);
        encode(&QueryTableResponse {
            table: state.tables.get(&req.name).map(TableMapMsg::from),
        })
    }

    async fn create_table(self: Arc<Self>, req: CreateTableRequest) -> Handled {
        let table = self
            .mutate(move |st, live| {
                st.create_table(&req.name, req.partition_count, req.replica_count, live)
                    .map(Some)
                    .map_err(|e| e.to_string())
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

    async fn drop_table(self: Arc<Self>, req: DropTableRequest) -> Handled {
        let dropped = self
            .mutate(move |st, _| {
                st.drop_table(&req.name)
                    .map(Some)
                    .map_err(|e| e.to_string())
            })
            .await?;
        metrics::counter!("petrel_meta_tables_dropped_total").increment(1);
        if let Some(t) = dropped {
            info!(table = %t.name, id = t.id.0, "table dropped");
        }
        encode(&DropTableResponse {})
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
        let now = Instant::now();
        let liveness = lock(&self.liveness);
        let nodes = state
            .nodes
            .iter()
            .map(|n| NodeInfoMsg {
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
                other => Err(format!("meta has no method {other}")),
            }
        }
        .boxed()
    }
}

/// Serves meta until the process is told to stop.
pub async fn run(config: MetaConfig) -> anyhow::Result<()> {
    config.validate()?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    if !config.metrics_listen.is_empty() {
        petrel_common::telemetry::serve_metrics(&config.metrics_listen).await?;
    }
    let listen = config.listen.clone();
    let service = Arc::new(MetaService::open(config)?);
    info!(%listen, "petrel-meta serving");
    tokio::select! {
        _ = serve(listener, service) => {}
        _ = petrel_common::shutdown::signal() => info!("petrel-meta stopping"),
    }
    Ok(())
}
