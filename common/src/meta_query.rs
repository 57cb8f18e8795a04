//! Reading one table's partition map from meta (`QUERY_TABLE`), as every
//! process that routes to partitions does: proxies for client commands,
//! servers for a transaction's messages to other partitions' primaries.

use std::time::Duration;

use crate::meta_client::MetaClient;
use crate::msg::{method, QueryTableRequest, QueryTableResponse};
use crate::partition::TableMap;

/// Asks the meta leader for `table`'s map; the checked map. The error
/// says what each meta said when no leader answered.
pub async fn query_table(
    meta: &MetaClient,
    table: &str,
    timeout: Duration,
) -> Result<TableMap, String> {
    query_table_and_generation(meta, table, timeout)
        .await
        .map(|(map, _)| map)
}

/// [`query_table`], with meta's scripting generation (bumped by every
/// change to its scripts and function libraries) from the same answer.
pub async fn query_table_and_generation(
    meta: &MetaClient,
    table: &str,
    timeout: Duration,
) -> Result<(TableMap, u64), String> {
    let req = QueryTableRequest {
        name: table.to_string(),
    };
    let resp: QueryTableResponse = meta
        .call(method::QUERY_TABLE, &req, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let addr = meta.leader().unwrap_or_default();
    let Some(msg) = resp.table else {
        return Err(format!("table '{table}' does not exist (meta {addr})"));
    };
    let map = TableMap::from(&msg);
    check(&map).map_err(|e| format!("meta {addr} sent a bad map: {e}"))?;
    Ok((map, resp.scripting_generation))
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
