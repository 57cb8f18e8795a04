//! The meta group's verbs: `petrel metas` lists its members, each as it
//! sees itself; `petrel meta add|remove ADDR` changes the membership
//! through the leader.

use std::time::Duration;

use anyhow::{bail, Context};
use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{
    method, MetaMemberRequest, MetaMemberResponse, MetaStatusRequest, MetaStatusResponse,
};
use petrel_common::rpc::client::RpcClient;
use serde_json::json;

use crate::admin::TIMEOUT;
use crate::render::print_table;

/// How long one member may take to describe itself.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// A change of the meta group's membership.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum MetaCommand {
    /// Add the meta at ADDR (started with `--join`) to the group: it
    /// copies the group's state as a learner, then becomes a voter.
    Add { addr: String },
    /// Remove the meta at ADDR from the group (stop it afterwards).
    Remove { addr: String },
}

/// One member's row: how it sees itself, or why it did not answer.
struct Row {
    addr: String,
    voter: bool,
    status: Result<MetaStatusResponse, String>,
}

async fn status_of(rpc: &RpcClient, addr: &str) -> Result<MetaStatusResponse, String> {
    rpc.call(
        addr,
        method::META_STATUS,
        &MetaStatusRequest {},
        STATUS_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())
}

/// `petrel metas`: every member of the group with its role, term, last
/// log index and applied index, as each reports them.
pub(crate) async fn list(meta: &MetaClient, json: bool) -> anyhow::Result<()> {
    let rpc = meta.rpc();
    // Any member knows the membership; the first that answers says it.
    let mut first = None;
    let mut failures = Vec::new();
    for addr in meta.addrs() {
        match status_of(rpc, addr).await {
            Ok(s) => {
                first = Some(s);
                break;
            }
            Err(e) => failures.push(format!("meta {addr}: {e}")),
        }
    }
    let Some(first) = first else {
        bail!("no meta answered: {}", failures.join("; "));
    };
    if first.members.is_empty() {
        bail!(
            "meta {} belongs to no group yet (it waits to be added with `petrel meta add {}`)",
            first.addr,
            first.addr
        );
    }
    let mut rows = Vec::new();
    for m in &first.members {
        rows.push(Row {
            addr: m.addr.clone(),
            voter: m.voter,
            status: status_of(rpc, &m.addr).await,
        });
    }
    if json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| match &r.status {
                Ok(s) => json!({
                    "address": r.addr,
                    "voter": r.voter,
                    "role": s.role,
                    "term": s.term,
                    "last_log_index": s.last_log_index,
                    "applied_index": s.applied_index,
                    "leader": (!s.leader.is_empty()).then_some(&s.leader),
                }),
                Err(e) => json!({
                    "address": r.addr,
                    "voter": r.voter,
                    "role": "unreachable",
                    "error": e,
                }),
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| match &r.status {
            Ok(s) => vec![
                r.addr.clone(),
                s.role.clone(),
                s.term.to_string(),
                s.last_log_index.to_string(),
                s.applied_index.to_string(),
            ],
            Err(_) => vec![
                r.addr.clone(),
                "unreachable".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        })
        .collect();
    print_table(&["ADDRESS", "ROLE", "TERM", "LAST LOG", "APPLIED"], &table);
    Ok(())
}

/// `petrel meta add|remove ADDR`, through the leader.
pub(crate) async fn change(
    meta: &MetaClient,
    json: bool,
    command: MetaCommand,
) -> anyhow::Result<()> {
    let (m, addr, done) = match &command {
        MetaCommand::Add { addr } => (method::META_ADD, addr, "added"),
        MetaCommand::Remove { addr } => (method::META_REMOVE, addr, "removed"),
    };
    // Adding waits for the new member to catch up: allow for it.
    let resp: MetaMemberResponse = meta
        .call(m, &MetaMemberRequest { addr: addr.clone() }, TIMEOUT * 6)
        .await
        .with_context(|| format!("asking the meta leader: {done} {addr}"))?;
    if json {
        let members: Vec<_> = resp
            .members
            .iter()
            .map(|m| json!({"address": m.addr, "voter": m.voter}))
            .collect();
        println!("{}", json!({ "members": members }));
    } else {
        let names: Vec<&str> = resp.members.iter().map(|m| m.addr.as_str()).collect();
        println!("meta {addr} {done}; members: {}", names.join(", "));
    }
    Ok(())
}
