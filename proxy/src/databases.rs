//! Redis databases as tables: database 0 is the configured table, database
//! n the table `<table>.db<n>`. A database's router (and its map refresher)
//! starts on first use; `SELECT n` creates the table first if meta does not
//! have it, with database 0's partition and replica counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{
    method, CreateTableRequest, CreateTableResponse, QueryTableRequest, QueryTableResponse,
};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::ServiceError;
use tokio_util::sync::CancellationToken;

use crate::route::Router;

/// How long one meta call of SELECT may take.
const META_TIMEOUT: Duration = Duration::from_secs(2);

/// The routers of every database opened so far.
pub(crate) struct Databases {
    table: String,
    meta: Vec<String>,
    timeout: Duration,
    refresh: Duration,
    shutdown: CancellationToken,
    /// The meta group, for `SELECT n`'s table checks and creations.
    client: MetaClient,
    opened: Mutex<HashMap<u32, Arc<Router>>>,
}

impl Databases {
    /// Database 0 is `base`, already running; the others start on demand.
    pub(crate) fn new(
        base: Arc<Router>,
        table: String,
        meta: Vec<String>,
        timeout: Duration,
        refresh: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        let mut opened = HashMap::new();
        opened.insert(0, base);
        Databases {
            table,
            client: MetaClient::new(RpcClient::new(), meta.clone()),
            meta,
            timeout,
            refresh,
            shutdown,
            opened: Mutex::new(opened),
        }
    }

    /// The table behind database `db`.
    pub(crate) fn table_name(&self, db: u32) -> String {
        if db == 0 {
            self.table.clone()
        } else {
            format!("{}.db{db}", self.table)
        }
    }

    /// The router of database `db`, started (with its map refresher) if
    /// this is its first use. Call inside the tokio runtime.
    pub(crate) fn router(&self, db: u32) -> Arc<Router> {
        let mut opened = petrel_common::sync::lock(&self.opened);
        if let Some(r) = opened.get(&db) {
            return r.clone();
        }
        // Every database's transactions run like database 0's.
        let txn = opened
            .get(&0)
            .map(|base| base.txn_settings().clone())
            .unwrap_or_default();
        let router = Arc::new(Router::new(
            self.table_name(db),
            self.meta.clone(),
            self.timeout,
            txn,
        ));
        tokio::spawn(
            router
                .maps()
                .clone()
                .run_refresher(self.refresh, self.shutdown.clone()),
        );
        opened.insert(db, router.clone());
        router
    }

    /// Whether meta has database `db`'s table.
    pub(crate) async fn exists(&self, db: u32) -> Result<bool, String> {
        let req = QueryTableRequest {
            name: self.table_name(db),
        };
        let resp: QueryTableResponse = self
            .client
            .call(method::QUERY_TABLE, &req, META_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        Ok(resp.table.is_some())
    }

    /// Makes sure database `db`'s table exists (creating it like database
    /// 0's) and that its router has a map, by `deadline`.
    pub(crate) async fn open(&self, db: u32, deadline: Instant) -> Result<Arc<Router>, String> {
        if db != 0 && !self.exists(db).await? {
            let base = self
                .router(0)
                .maps()
                .wait_for_map(deadline)
                .await
                .map_err(|e| e.to_string())?;
            let req = CreateTableRequest {
                name: self.table_name(db),
                partition_count: base.partition_count,
                replica_count: base.replica_count,
            };
            let created: Result<CreateTableResponse, _> = self
                .client
                .call(method::CREATE_TABLE, &req, META_TIMEOUT)
                .await;
            match created {
                Ok(_) => {}
                // Another proxy (or connection) won the race.
                Err(e) if matches!(e.refusal(), Some(ServiceError::AlreadyExists(_))) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let router = self.router(db);
        router
            .maps()
            .wait_for_map(deadline)
            .await
            .map_err(|e| e.to_string())?;
        Ok(router)
    }
}
