//! Reading one table's partition map from meta (`QUERY_TABLE`), as every
//! process that routes to partitions does: proxies for client commands,
//! servers for a transaction's messages to other partitions' primaries.

use std::time::Duration;

use crate::msg::{method, QueryTableRequest, QueryTableResponse};
use crate::partition::TableMap;
use crate::rpc::client::RpcClient;

/// Asks each meta address in turn, starting at index `start` (the one that
/// answered last), for `table`'s map; returns the index that answered and
/// the checked map. The error names every address tried and why it failed.
pub async fn query_table(
    rpc: &RpcClient,
    meta: &[String],
    start: usize,
    table: &str,
    timeout: Duration,
) -> Result<(usize, TableMap), String> {
    query_table_and_generation(rpc, meta, start, table, timeout)
        .await
        .map(|(idx, map, _)| (idx, map))
}

/// [`query_table`], with meta's scripting generation (bumped by every
/// change to its scripts and function libraries) from the same answer.
pub async fn query_table_and_generation(
    rpc: &RpcClient,
    meta: &[String],
    start: usize,
    table: &str,
    timeout: Duration,
) -> Result<(usize, TableMap, u64), String> {
    let n = meta.len();
    let mut failures = Vec::new();
    for i in 0..n {
        let idx = (start + i) % n;
        let addr = &meta[idx];
        let req = QueryTableRequest {
            name: table.to_string(),
        };
        let resp: Result<QueryTableResponse, _> =
            rpc.call(addr, method::QUERY_TABLE, &req, timeout).await;
        match resp {
            Ok(resp) => {
                let Some(msg) = resp.table else {
                    return Err(format!("table '{table}' does not exist (meta {addr})"));
                };
                let map = TableMap::from(&msg);
                check(&map).map_err(|e| format!("meta {addr} sent a bad map: {e}"))?;
                return Ok((idx, map, resp.scripting_generation));
            }
            Err(e) => failures.push(format!("meta {addr}: {e}")),
        }
    }
    if failures.is_empty() {
        return Err("no meta address configured".to_string());
    }
    Err(failures.join("; "))
}

/// A map routing can trust: a power-of-two partition count, every
/// partition listed once, at its own index.
pub fn check(map: &TableMap) -> Result<(), String> {
    if map.partition_count == 0 || !map.partition_count.is_power_of_two() {
        return Err(format!(
            "partition count {} is not a power of two",
            map.partition_count
        ));
    }
    if map.partitions.len() != map.partition_count as usize {
        return Err(format!(
            "{} partitions listed for a count of {}",
            map.partitions.len(),
            map.partition_count
        ));
    }
    for (i, p) in map.partitions.iter().enumerate() {
        if p.gpid.partition.0 as usize != i {
            return Err(format!(
                "partition {} listed at index {i}",
                p.gpid.partition.0
            ));
        }
    }
    Ok(())
}
