//! Admin verbs against meta.

use std::time::Duration;

use anyhow::{bail, Context};
use petrel_common::hash::hash_key;
use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{
    method, AddLearnerRequest, AddLearnerResponse, CreateTableRequest, CreateTableResponse,
    DropTableRequest, DropTableResponse, ListNodesRequest, ListNodesResponse, ListTablesRequest,
    ListTablesResponse, QueryTableRequest, QueryTableResponse,
};
use petrel_common::partition::TableMap;
use serde_json::json;

use crate::render::print_table;
use crate::Command;

/// Deadline of one admin RPC.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one admin verb and prints its result.
pub(crate) async fn run(meta: &MetaClient, json: bool, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Onebox(_)
        | Command::Import(_)
        | Command::Metas
        | Command::Meta(_)
        | Command::Drain(_)
        | Command::Split(_)
        | Command::Balance => {
            unreachable!("onebox, import, placement and the meta group's verbs are not admin verbs")
        }
        Command::Nodes => nodes(meta, json).await,
        Command::Tables => tables(meta, json).await,
        Command::CreateTable {
            name,
            partitions,
            replicas,
        } => {
            let resp: CreateTableResponse = meta
                .call(
                    method::CREATE_TABLE,
                    &CreateTableRequest {
                        name: name.clone(),
                        partition_count: partitions,
                        replica_count: replicas,
                    },
                    TIMEOUT,
                )
                .await
                .with_context(|| format!("creating table '{name}'"))?;
            let table = resp
                .table
                .as_ref()
                .map(TableMap::from)
                .context("meta answered without the table")?;
            if json {
                println!("{}", table_json(&table));
            } else {
                println!(
                    "created table {} (id {}, {} partitions, replica count {})",
                    table.name, table.id, table.partition_count, table.replica_count
                );
            }
            Ok(())
        }
        Command::DropTable { name } => {
            let _: DropTableResponse = meta
                .call(
                    method::DROP_TABLE,
                    &DropTableRequest { name: name.clone() },
                    TIMEOUT,
                )
                .await
                .with_context(|| format!("dropping table '{name}'"))?;
            if json {
                println!("{}", json!({ "dropped": name }));
            } else {
                println!("dropped table {name}");
            }
            Ok(())
        }
        Command::Locate { table, key } => locate(meta, json, &table, &key).await,
        Command::AddLearner {
            table,
            partition,
            node,
        } => add_learner(meta, json, &table, partition, node).await,
        Command::Partitions { .. } | Command::Verify(_) => {
            unreachable!("replica inspection verbs are in replicas.rs")
        }
    }
}

async fn nodes(meta: &MetaClient, json: bool) -> anyhow::Result<()> {
    let resp: ListNodesResponse = meta
        .call(method::LIST_NODES, &ListNodesRequest {}, TIMEOUT)
        .await
        .context("asking meta for nodes")?;
    if json {
        let nodes: Vec<_> = resp
            .nodes
            .iter()
            .map(|n| {
                json!({
                    "address": n.addr,
                    "alive": n.alive,
                    "last_beacon_ms_ago": (n.last_beacon_ms_ago != u64::MAX).then_some(n.last_beacon_ms_ago),
                    "primaries": n.primary_count,
                    "replicas": n.replica_count,
                    "draining": n.draining,
                    "moves_in": n.moves_in,
                    "moves_out": n.moves_out,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(nodes));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = resp
        .nodes
        .iter()
        .map(|n| {
            let status = match (n.alive, n.draining) {
                (true, false) => "alive",
                (true, true) => "alive, draining",
                (false, false) => "dead",
                (false, true) => "dead, draining",
            };
            let moving = match (n.moves_in, n.moves_out) {
                (0, 0) => "-".to_string(),
                (i, 0) => format!("+{i}"),
                (0, o) => format!("-{o}"),
                (i, o) => format!("+{i} -{o}"),
            };
            vec![
                n.addr.clone(),
                status.to_string(),
                if n.last_beacon_ms_ago == u64::MAX {
                    "never".to_string()
                } else {
                    format!("{} ms ago", n.last_beacon_ms_ago)
                },
                n.primary_count.to_string(),
                n.replica_count.to_string(),
                moving,
            ]
        })
        .collect();
    print_table(
        &[
            "ADDRESS",
            "STATUS",
            "LAST BEACON",
            "PRIMARIES",
            "REPLICAS",
            "MOVING",
        ],
        &rows,
    );
    Ok(())
}

fn table_json(t: &TableMap) -> serde_json::Value {
    json!({
        "name": t.name,
        "id": t.id.0,
        "partition_count": t.partition_count,
        "replica_count": t.replica_count,
        "version": t.version,
    })
}

async fn tables(meta: &MetaClient, json: bool) -> anyhow::Result<()> {
    let resp: ListTablesResponse = meta
        .call(method::LIST_TABLES, &ListTablesRequest {}, TIMEOUT)
        .await
        .context("asking meta for tables")?;
    let tables: Vec<TableMap> = resp.tables.iter().map(TableMap::from).collect();
    if json {
        println!(
            "{}",
            serde_json::Value::Array(tables.iter().map(table_json).collect())
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.id.to_string(),
                t.partition_count.to_string(),
                t.replica_count.to_string(),
                t.version.to_string(),
            ]
        })
        .collect();
    print_table(
        &["NAME", "ID", "PARTITIONS", "REPLICA COUNT", "VERSION"],
        &rows,
    );
    Ok(())
}

/// Asks meta for one table's partition map.
pub(crate) async fn query_table(meta: &MetaClient, name: &str) -> anyhow::Result<TableMap> {
    let resp: QueryTableResponse = meta
        .call(
            method::QUERY_TABLE,
            &QueryTableRequest {
                name: name.to_string(),
            },
            TIMEOUT,
        )
        .await
        .with_context(|| format!("asking meta for table '{name}'"))?;
    match resp.table {
        Some(t) => Ok(TableMap::from(&t)),
        None => bail!("no table named '{name}'"),
    }
}

async fn locate(meta: &MetaClient, json: bool, name: &str, key: &str) -> anyhow::Result<()> {
    let table = query_table(meta, name).await?;
    let pid = table.partition_of_key(key.as_bytes());
    let Some(p) = table.partition(pid) else {
        bail!("table '{name}' has no partition {pid}");
    };
    let primary = p.primary.as_ref().map(|a| a.0.clone());
    let secondaries: Vec<String> = p.secondaries.iter().map(|s| s.0.clone()).collect();
    let tag = String::from_utf8_lossy(hash_key(key.as_bytes())).into_owned();
    if json {
        println!(
            "{}",
            json!({
                "table": table.name,
                "key": key,
                "hash_key": tag,
                "partition": pid.0,
                "ballot": p.ballot.0,
                "primary": primary,
                "secondaries": secondaries,
            })
        );
    } else {
        print_table(
            &[
                "KEY",
                "HASH KEY",
                "PARTITION",
                "BALLOT",
                "PRIMARY",
                "SECONDARIES",
            ],
            &[vec![
                key.to_string(),
                tag,
                pid.0.to_string(),
                p.ballot.0.to_string(),
                primary.unwrap_or_else(|| "-".to_string()),
                if secondaries.is_empty() {
                    "-".to_string()
                } else {
                    secondaries.join(",")
                },
            ]],
        );
    }
    Ok(())
}

async fn add_learner(
    meta: &MetaClient,
    json: bool,
    table: &str,
    partition: u32,
    node: Option<String>,
) -> anyhow::Result<()> {
    let _: AddLearnerResponse = meta
        .call(
            method::ADD_LEARNER,
            &AddLearnerRequest {
                table: table.to_string(),
                partition_id: partition,
                node: node.clone().unwrap_or_default(),
            },
            TIMEOUT,
        )
        .await
        .with_context(|| format!("asking meta to add a learner to {table}.{partition}"))?;
    if json {
        println!(
            "{}",
            json!({ "table": table, "partition": partition, "node": node })
        );
    } else {
        let on = node.unwrap_or_else(|| "a server meta picks".to_string());
        println!("meta is adding a learner of {table}.{partition} on {on}");
    }
    Ok(())
}
