//! Replica placement verbs: `petrel drain` empties a server, `petrel
//! balance` shows the moves meta has in flight and plans to make, `petrel
//! split` doubles a table's partition count.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{
    method, BalanceRequest, BalanceResponse, DrainRequest, DrainResponse, ListNodesRequest,
    ListNodesResponse, MoveMsg, SplitTableRequest, SplitTableResponse,
};
use serde_json::json;

use crate::admin::TIMEOUT;
use crate::render::print_table;

#[derive(Args, Debug)]
pub(crate) struct DrainArgs {
    /// The server's address, as `petrel nodes` lists it.
    node: String,
    /// Stop draining it instead (replicas already moved stay where they are).
    #[arg(long)]
    cancel: bool,
    /// Wait until it holds no replica (printing progress), then exit 0.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_secs: u64,
}

#[derive(Args, Debug)]
pub(crate) struct SplitArgs {
    /// The table to split.
    table: String,
    /// Wait until every new partition is built and served by its primary,
    /// then exit 0.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

/// `petrel split TABLE`: meta doubles the table's partition count; each
/// partition's replicas split their data in place while it serves.
pub(crate) async fn split(meta: &MetaClient, json: bool, args: &SplitArgs) -> anyhow::Result<()> {
    let ask = |status_only| SplitTableRequest {
        name: args.table.clone(),
        status_only,
    };
    let resp: SplitTableResponse = meta
        .call(method::SPLIT_TABLE, &ask(false), TIMEOUT)
        .await
        .with_context(|| format!("asking meta to split {}", args.table))?;
    let count = resp.table.as_ref().map_or(0, |t| t.partition_count);
    if !json {
        println!("{}: {count} partitions now", args.table);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut unbuilt = resp.unbuilt;
    let mut last = None;
    while args.wait && unbuilt > 0 {
        if !json && last != Some(unbuilt) {
            println!("  {unbuilt} partitions not built yet");
            last = Some(unbuilt);
        }
        if Instant::now() >= deadline {
            bail!(
                "{} still has {unbuilt} partitions not built after {} s (see `petrel partitions {}`)",
                args.table,
                args.timeout_secs,
                args.table
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now: SplitTableResponse = meta
            .call(method::SPLIT_TABLE, &ask(true), TIMEOUT)
            .await
            .with_context(|| format!("asking meta how the split of {} stands", args.table))?;
        unbuilt = now.unbuilt;
    }
    let took = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            json!({ "table": args.table, "partitions": count, "unbuilt": unbuilt,
                    "seconds": if args.wait { Some(took) } else { None } })
        );
    } else if args.wait {
        println!("{}: every partition built ({took:.1} s)", args.table);
    }
    Ok(())
}

/// `petrel drain NODE`: meta moves every replica off the server (its
/// primaries hand their lead over first) and places nothing new on it.
pub(crate) async fn drain(meta: &MetaClient, json: bool, args: &DrainArgs) -> anyhow::Result<()> {
    let resp: DrainResponse = meta
        .call(
            method::DRAIN,
            &DrainRequest {
                node: args.node.clone(),
                cancel: args.cancel,
            },
            TIMEOUT,
        )
        .await
        .with_context(|| format!("asking meta to drain {}", args.node))?;
    let verb = if args.cancel {
        "no longer draining"
    } else {
        "draining"
    };
    if !args.wait || args.cancel {
        if json {
            println!(
                "{}",
                json!({ "node": args.node, "draining": !args.cancel,
                        "changed": resp.changed, "replicas": resp.replicas })
            );
        } else {
            println!("{verb} {} ({} replicas on it)", args.node, resp.replicas);
        }
        return Ok(());
    }
    if !json {
        println!("{verb} {} ({} replicas on it)", args.node, resp.replicas);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut last = None;
    loop {
        let nodes: ListNodesResponse = meta
            .call(method::LIST_NODES, &ListNodesRequest {}, TIMEOUT)
            .await
            .context("asking meta for nodes")?;
        let Some(n) = nodes.nodes.iter().find(|n| n.addr == args.node) else {
            bail!("meta no longer lists {}", args.node);
        };
        let left = n.replica_count + n.moves_in;
        if left == 0 {
            let took = started.elapsed();
            if json {
                println!(
                    "{}",
                    json!({ "node": args.node, "drained": true, "seconds": took.as_secs_f64() })
                );
            } else {
                println!(
                    "{} holds no replica ({:.1} s)",
                    args.node,
                    took.as_secs_f64()
                );
            }
            return Ok(());
        }
        if !json && last != Some((left, n.moves_out)) {
            println!(
                "  {} replicas left on {}, {} moving away",
                left, args.node, n.moves_out
            );
            last = Some((left, n.moves_out));
        }
        if Instant::now() >= deadline {
            bail!(
                "{} still holds {left} replicas after {} s (see `petrel balance`)",
                args.node,
                args.timeout_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `petrel balance`: the moves in flight and meta's plan.
pub(crate) async fn balance(meta: &MetaClient, json: bool) -> anyhow::Result<()> {
    let resp: BalanceResponse = meta
        .call(method::BALANCE, &BalanceRequest {}, TIMEOUT)
        .await
        .context("asking meta for its balance plan")?;
    if json {
        let moves = |v: &[MoveMsg]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|m| {
                    json!({ "table": m.table, "partition": m.partition_id,
                            "kind": m.kind, "from": m.from, "to": m.to })
                })
                .collect()
        };
        println!(
            "{}",
            json!({
                "in_flight": moves(&resp.in_flight),
                "planned": moves(&resp.planned),
                "draining": resp.draining,
                "truncated": resp.truncated,
            })
        );
        return Ok(());
    }
    if !resp.draining.is_empty() {
        println!("draining: {}", resp.draining.join(", "));
    }
    let rows = |v: &[MoveMsg]| -> Vec<Vec<String>> {
        v.iter()
            .map(|m| {
                vec![
                    format!("{}.{}", m.table, m.partition_id),
                    m.kind.replace('_', " "),
                    m.from.clone(),
                    m.to.clone(),
                ]
            })
            .collect()
    };
    let header = ["PARTITION", "STEP", "FROM", "TO"];
    if resp.in_flight.is_empty() {
        println!("no move in flight");
    } else {
        println!("in flight:");
        print_table(&header, &rows(&resp.in_flight));
    }
    if resp.planned.is_empty() {
        println!("balanced: nothing planned");
    } else {
        println!(
            "planned ({} steps{}, in order, assuming every copy succeeds):",
            resp.planned.len(),
            if resp.truncated { ", cut short" } else { "" }
        );
        print_table(&header, &rows(&resp.planned));
    }
    Ok(())
}
