//! A participant's own messages to other partitions' primaries (STATUS to
//! the record partition, PREVENT from it to the writers): routed with the
//! table's partition map, read from meta and cached per table, forgotten
//! when a server says it is stale (not the primary, another ballot).
//!
//! Losing a message is fine: the participant machine resends until it is
//! answered, so a send that finds no map or no primary is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(test)]
use futures::future::BoxFuture;
use petrel_common::ids::{Gpid, PartitionId};
use petrel_common::meta_client::MetaClient;
use petrel_common::meta_query;
use petrel_common::msg::{method, ExecCode, TxnRequestMsg, TxnResponseMsg};
use petrel_common::partition::{PartitionConfig, TableMap};
use petrel_common::rpc::client::RpcClient;
use petrel_common::sync::lock;
use petrel_common::txn::{wire, Request, Response};
use tracing::debug;

/// How long one meta query or one message may take.
const TIMEOUT: Duration = Duration::from_secs(1);

/// Delivers a request to a partition's primary without the network (tests
/// that run several replica tasks in one process).
#[cfg(test)]
pub(crate) trait Deliver: Send + Sync {
    /// The primary of `to`'s answer to `req`, if it gave one.
    fn deliver(&self, to: Gpid, req: Request) -> BoxFuture<'static, Option<Response>>;
}

/// Routes a participant's requests to other primaries. One per server.
pub(crate) struct Peers {
    rpc: RpcClient,
    /// Meta's addresses: requests go to the primaries its maps name.
    meta: MetaClient,
    /// When set, requests go straight to it instead.
    #[cfg(test)]
    direct: Option<Arc<dyn Deliver>>,
    maps: Mutex<HashMap<String, Arc<TableMap>>>,
}

impl Peers {
    /// Peers routed by maps read from `meta`.
    pub(crate) fn new(rpc: RpcClient, meta: MetaClient) -> Self {
        Peers {
            rpc,
            meta,
            #[cfg(test)]
            direct: None,
            maps: Mutex::new(HashMap::new()),
        }
    }

    /// Peers reached through `deliver`, not the network.
    #[cfg(test)]
    pub(crate) fn direct(rpc: RpcClient, deliver: Arc<dyn Deliver>) -> Self {
        Peers {
            direct: Some(deliver),
            ..Self::new(rpc.clone(), MetaClient::new(rpc, Vec::new()))
        }
    }

    /// Sends `req` to the primary of `to` (a partition of table `table`) in
    /// the background; `answer` gets its response, if one comes.
    pub(crate) fn send(
        self: &Arc<Self>,
        table: String,
        to: Gpid,
        req: Request,
        answer: impl FnOnce(Response) + Send + 'static,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            match me.ask(&table, to, &req).await {
                Ok(resp) => answer(resp),
                Err(why) => {
                    metrics::counter!("petrel_server_txn_peer_send_failures_total").increment(1);
                    debug!(%to, ?req, %why, "transaction message to another primary not answered");
                }
            }
        });
    }

    async fn ask(&self, table: &str, to: Gpid, req: &Request) -> Result<Response, String> {
        #[cfg(test)]
        if let Some(d) = &self.direct {
            return d
                .deliver(to, req.clone())
                .await
                .ok_or_else(|| "not answered".to_string());
        }
        let meta = &self.meta;
        let map = self.map(table, meta).await?;
        let config = map
            .partition(to.partition)
            .ok_or_else(|| format!("table {table} has no partition {}", to.partition.0))?;
        let primary = config
            .primary
            .as_ref()
            .ok_or_else(|| format!("partition {to} has no primary"))?;
        let msg = TxnRequestMsg {
            table_id: map.id.0,
            partition_id: to.partition.0,
            ballot: config.ballot.0,
            partition_count: map.partition_count,
            body: Some(wire::request(req)),
            commands: Vec::new(),
        };
        let resp: TxnResponseMsg = self
            .rpc
            .call(&primary.0, method::TXN, &msg, TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let code = ExecCode::try_from(resp.code).unwrap_or(ExecCode::Unavailable);
        if code != ExecCode::Ok {
            if matches!(code, ExecCode::NotPrimary | ExecCode::StaleMap) {
                self.forget(table);
            }
            return Err(format!("{}: {}", code.name(), resp.reason));
        }
        let body = resp.body.ok_or("an answer without a body")?;
        wire::response_of(&body).map_err(|e| e.to_string())
    }

    /// The cached map of `table`, read from meta when there is none.
    async fn map(&self, table: &str, meta: &MetaClient) -> Result<Arc<TableMap>, String> {
        if let Some(map) = lock(&self.maps).get(table) {
            return Ok(map.clone());
        }
        let map = meta_query::query_table(meta, table, TIMEOUT).await?;
        let map = Arc::new(map);
        lock(&self.maps).insert(table.to_string(), map.clone());
        Ok(map)
    }

    /// Partition `partition` of `table` as the cached map has it (read
    /// from meta when there is none): the map and the partition's
    /// configuration. Others than the participant route by it too (a
    /// keyspace event published at another partition's broker).
    pub(crate) async fn locate(
        &self,
        table: &str,
        partition: u32,
    ) -> Result<(Arc<TableMap>, PartitionConfig), String> {
        let map = self.map(table, &self.meta).await?;
        let config = map
            .partition(PartitionId(partition))
            .cloned()
            .ok_or_else(|| format!("table {table} has no partition {partition}"))?;
        Ok((map, config))
    }

    /// Drops `table`'s cached map: the next message reads it again.
    pub(crate) fn forget(&self, table: &str) {
        lock(&self.maps).remove(table);
    }
}
