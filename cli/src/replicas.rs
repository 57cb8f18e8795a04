//! Replica inspection: `petrel partitions` and `petrel verify`.
//!
//! Meta knows each partition's configuration; only the servers know what
//! their replicas are doing. Both verbs put the two side by side: meta's
//! `{ballot, primary, secondaries}` and, per replica, what its server reports
//! (`REPLICA_STATUS`) or digests (`REPLICA_DIGEST`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use petrel_common::meta_client::MetaClient;
use petrel_common::msg::{
    method, ListNodesRequest, ListNodesResponse, ReplicaDigestRequest, ReplicaDigestResponse,
    ReplicaInfoMsg, ReplicaStatusRequest, ReplicaStatusResponse,
};
use petrel_common::partition::{PartitionConfig, TableMap};
use petrel_common::rpc::client::RpcClient;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::admin::{query_table, TIMEOUT};
use crate::render::print_table;

/// Deadline for one server's answer; short, so a stopped server costs little.
const SERVER_TIMEOUT: Duration = Duration::from_secs(2);
/// Rounds after which `verify` stops asking a partition with a silent
/// member: a restarting server answers within a few, a stopped one never
/// does and would cost [`SERVER_TIMEOUT`] per round.
const UNREACHABLE_ROUNDS: u32 = 4;

/// What one server said about its replicas; `None` when it did not answer.
type Reports = HashMap<String, Option<Vec<ReplicaInfoMsg>>>;

/// Asks every node in `nodes` for `REPLICA_STATUS`, all at once.
async fn replica_reports(rpc: &RpcClient, nodes: BTreeSet<String>) -> Reports {
    let mut calls = JoinSet::new();
    for node in nodes {
        let rpc = rpc.clone();
        calls.spawn(async move {
            let resp = rpc
                .call::<_, ReplicaStatusResponse>(
                    &node,
                    method::REPLICA_STATUS,
                    &ReplicaStatusRequest {},
                    SERVER_TIMEOUT,
                )
                .await;
            (node, resp.ok().map(|r| r.replicas))
        });
    }
    let mut reports = HashMap::new();
    while let Some(done) = calls.join_next().await {
        if let Ok((node, replicas)) = done {
            reports.insert(node, replicas);
        }
    }
    reports
}

/// One row of `petrel partitions`: a replica as meta and its server see it.
struct ReplicaRow {
    node: String,
    /// Meta's view: "primary", "secondary", or `None` (not in the configuration).
    member: Option<&'static str>,
    /// The server answered `REPLICA_STATUS`.
    reachable: bool,
    /// The server's report for this partition (`None`: not hosted, or no answer).
    info: Option<ReplicaInfoMsg>,
}

/// Every replica of `p`: members first (primary, then secondaries), then any
/// other server that reports hosting it (learners, stale members), by address.
fn replica_rows(table: &TableMap, p: &PartitionConfig, reports: &Reports) -> Vec<ReplicaRow> {
    let report_of = |node: &str| -> (bool, Option<ReplicaInfoMsg>) {
        match reports.get(node) {
            Some(Some(replicas)) => (
                true,
                replicas
                    .iter()
                    .find(|r| r.table_id == table.id.0 && r.partition_id == p.gpid.partition.0)
                    .cloned(),
            ),
            _ => (false, None),
        }
    };
    let mut rows = Vec::new();
    let members = p
        .primary
        .iter()
        .map(|a| (a, "primary"))
        .chain(p.secondaries.iter().map(|a| (a, "secondary")));
    for (addr, member) in members {
        let (reachable, info) = report_of(&addr.0);
        rows.push(ReplicaRow {
            node: addr.0.clone(),
            member: Some(member),
            reachable,
            info,
        });
    }
    let mut others: Vec<&String> = reports
        .keys()
        .filter(|n| !p.members().any(|m| &m.0 == *n))
        .collect();
    others.sort();
    for node in others {
        if let (true, Some(info)) = report_of(node) {
            rows.push(ReplicaRow {
                node: node.clone(),
                member: None,
                reachable: true,
                info: Some(info),
            });
        }
    }
    rows
}

/// `petrel partitions TABLE`: meta's configuration and every replica's state.
pub(crate) async fn partitions(meta: &MetaClient, json: bool, name: &str) -> anyhow::Result<()> {
    let rpc = meta.rpc().clone();
    let table = query_table(meta, name).await?;
    let nodes: ListNodesResponse = meta
        .call(method::LIST_NODES, &ListNodesRequest {}, TIMEOUT)
        .await
        .context("asking meta for nodes")?;
    // Every node meta knows (a dead one may still run and believe it serves)
    // plus every member, in case meta's node list lags its configurations.
    let mut ask: BTreeSet<String> = nodes.nodes.iter().map(|n| n.addr.clone()).collect();
    for p in &table.partitions {
        ask.extend(p.members().map(|m| m.0.clone()));
    }
    let reports = replica_reports(&rpc, ask).await;
    let per_partition: Vec<(&PartitionConfig, Vec<ReplicaRow>)> = table
        .partitions
        .iter()
        .map(|p| (p, replica_rows(&table, p, &reports)))
        .collect();
    if json {
        println!("{}", partitions_json(&table, &per_partition));
    } else {
        print_partitions(&per_partition);
    }
    Ok(())
}

fn partitions_json(table: &TableMap, parts: &[(&PartitionConfig, Vec<ReplicaRow>)]) -> Value {
    let parts: Vec<Value> = parts
        .iter()
        .map(|(p, rows)| {
            let primary_committed = rows
                .iter()
                .find(|r| r.member == Some("primary"))
                .and_then(|r| r.info.as_ref())
                .map(|i| i.last_committed_decree);
            let replicas: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "node": r.node,
                        "member": r.member,
                        "reachable": r.reachable,
                        "role": r.info.as_ref().map(|i| i.reported_role().name()),
                        "ballot": r.info.as_ref().map(|i| i.ballot),
                        "last_committed": r.info.as_ref().map(|i| i.last_committed_decree),
                        "last_prepared": r.info.as_ref().map(|i| i.last_prepared_decree),
                    })
                })
                .collect();
            json!({
                "partition": p.gpid.partition.0,
                "ballot": p.ballot.0,
                "primary": p.primary.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                "secondaries": p.secondaries.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
                "committed_decree": primary_committed,
                "replicas": replicas,
            })
        })
        .collect();
    json!({
        "table": table.name,
        "id": table.id.0,
        "partition_count": table.partition_count,
        "replica_count": table.replica_count,
        "partitions": parts,
    })
}

fn print_partitions(parts: &[(&PartitionConfig, Vec<ReplicaRow>)]) {
    let dash = || "-".to_string();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (p, rows) in parts {
        let partition = p.gpid.partition.0.to_string();
        let ballot = p.ballot.0.to_string();
        if rows.is_empty() {
            let mut row = vec![partition, ballot];
            row.extend(std::iter::repeat_with(dash).take(6));
            out.push(row);
            continue;
        }
        for r in rows {
            // `?`: the server did not answer; `-`: it answered without this replica.
            let unknown = if r.reachable { dash() } else { "?".to_string() };
            let field = |f: fn(&ReplicaInfoMsg) -> String| {
                r.info.as_ref().map(f).unwrap_or_else(|| unknown.clone())
            };
            out.push(vec![
                partition.clone(),
                ballot.clone(),
                r.node.clone(),
                r.member.unwrap_or("-").to_string(),
                field(|i| i.reported_role().to_string()),
                field(|i| i.ballot.to_string()),
                field(|i| i.last_committed_decree.to_string()),
                field(|i| i.last_prepared_decree.to_string()),
            ]);
        }
    }
    print_table(
        &[
            "PARTITION",
            "BALLOT",
            "NODE",
            "MEMBER",
            "ROLE",
            "REPLICA-BALLOT",
            "COMMITTED",
            "PREPARED",
        ],
        &out,
    );
}

/// Flags of `petrel verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Table to verify.
    table: String,
    /// How many times to ask a partition's members before giving up on
    /// finding them all at the same applied decree (digests are comparable
    /// only there).
    #[arg(long, default_value_t = 20)]
    attempts: u32,
    /// Pause between attempts, in milliseconds.
    #[arg(long, default_value_t = 250)]
    interval_ms: u64,
    /// Also fail partitions with fewer members than the table's replica count.
    #[arg(long)]
    full: bool,
}

/// What one member answered to `REPLICA_DIGEST`.
struct MemberDigest {
    node: String,
    answer: Result<ReplicaDigestResponse, String>,
}

/// How a partition's members compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every member has the same digest at the same applied decree.
    Identical,
    /// Same applied decree, different contents.
    Different,
    /// Every member answered, but never all at the same applied decree.
    Unsettled,
    /// Some member did not answer.
    Unreachable,
    /// Meta lists no member.
    NoMembers,
    /// Identical, but fewer members than the replica count (fails with `--full`).
    Degraded,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Identical => "OK",
            Outcome::Different => "DIFFERENT",
            Outcome::Unsettled => "UNSETTLED",
            Outcome::Unreachable => "UNREACHABLE",
            Outcome::NoMembers => "NO MEMBERS",
            Outcome::Degraded => "DEGRADED",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Outcome::Identical => "identical",
            Outcome::Different => "different",
            Outcome::Unsettled => "unsettled",
            Outcome::Unreachable => "unreachable",
            Outcome::NoMembers => "no_members",
            Outcome::Degraded => "degraded",
        }
    }
}

/// One partition's verdict, from the last attempt that looked at it.
struct Verdict {
    outcome: Outcome,
    members: Vec<MemberDigest>,
    attempts: u32,
}

/// Classifies one round of answers (unsettled and unreachable ones are asked again).
fn judge(members: &[MemberDigest]) -> Outcome {
    if members.is_empty() {
        return Outcome::NoMembers;
    }
    let answers: Vec<&ReplicaDigestResponse> = members
        .iter()
        .filter_map(|m| m.answer.as_ref().ok())
        .collect();
    if answers.len() < members.len() {
        return Outcome::Unreachable;
    }
    let first = answers[0];
    if answers
        .iter()
        .any(|a| a.applied_decree != first.applied_decree)
    {
        return Outcome::Unsettled;
    }
    if answers
        .iter()
        .all(|a| a.digest == first.digest && a.records == first.records)
    {
        Outcome::Identical
    } else {
        Outcome::Different
    }
}

/// Asks every member of every partition in `pending` for its digest, all at once.
async fn digest_round(
    rpc: &RpcClient,
    table: &TableMap,
    pending: &BTreeSet<u32>,
) -> BTreeMap<u32, Vec<MemberDigest>> {
    let mut calls = JoinSet::new();
    let mut rounds: BTreeMap<u32, Vec<MemberDigest>> = BTreeMap::new();
    for &pid in pending {
        rounds.insert(pid, Vec::new());
        let Some(p) = table.partitions.get(pid as usize) else {
            continue;
        };
        for (slot, member) in p.members().enumerate() {
            let rpc = rpc.clone();
            let node = member.0.clone();
            let req = ReplicaDigestRequest {
                table_id: table.id.0,
                partition_id: pid,
            };
            calls.spawn(async move {
                let answer = rpc
                    .call::<_, ReplicaDigestResponse>(
                        &node,
                        method::REPLICA_DIGEST,
                        &req,
                        SERVER_TIMEOUT,
                    )
                    .await
                    .map_err(|e| e.to_string());
                (pid, slot, MemberDigest { node, answer })
            });
        }
    }
    let mut answered: Vec<(u32, usize, MemberDigest)> = Vec::new();
    while let Some(done) = calls.join_next().await {
        if let Ok(a) = done {
            answered.push(a);
        }
    }
    // Keep meta's member order (primary first) whatever order answers came in.
    answered.sort_by_key(|(pid, slot, _)| (*pid, *slot));
    for (pid, _, m) in answered {
        rounds.entry(pid).or_default().push(m);
    }
    rounds
}

/// `petrel verify TABLE`: compares every member's digest, partition by partition.
pub(crate) async fn verify(meta: &MetaClient, json: bool, args: &VerifyArgs) -> anyhow::Result<()> {
    let rpc = meta.rpc().clone();
    let mut table = query_table(meta, &args.table).await?;
    let mut pending: BTreeSet<u32> = (0..table.partition_count).collect();
    let mut verdicts: BTreeMap<u32, Verdict> = BTreeMap::new();
    let mut silent_rounds: BTreeMap<u32, u32> = BTreeMap::new();
    let attempts = args.attempts.max(1);
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
            // Configurations may change between attempts (a failover, a learner promoted).
            table = query_table(meta, &args.table).await?;
            pending.retain(|pid| *pid < table.partition_count);
        }
        for (pid, members) in digest_round(&rpc, &table, &pending).await {
            let outcome = judge(&members);
            let silent = silent_rounds.entry(pid).or_default();
            if outcome == Outcome::Unreachable {
                *silent += 1;
            }
            if matches!(outcome, Outcome::Identical | Outcome::Different)
                || *silent >= UNREACHABLE_ROUNDS
            {
                pending.remove(&pid);
            }
            verdicts.insert(
                pid,
                Verdict {
                    outcome,
                    members,
                    attempts: attempt,
                },
            );
        }
        if pending.is_empty() {
            break;
        }
    }
    if args.full {
        for v in verdicts.values_mut() {
            if v.outcome == Outcome::Identical && (v.members.len() as u32) < table.replica_count {
                v.outcome = Outcome::Degraded;
            }
        }
    }
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for v in verdicts.values() {
        *counts.entry(v.outcome.key()).or_default() += 1;
    }
    let failed = verdicts
        .values()
        .filter(|v| v.outcome != Outcome::Identical)
        .count();
    if json {
        println!("{}", verify_json(&table, &verdicts, &counts, failed == 0));
    } else {
        for (pid, v) in &verdicts {
            println!("{}", verdict_line(*pid, v, table.replica_count));
        }
        let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!(
            "table {}: {} partitions: {}",
            table.name,
            verdicts.len(),
            summary.join(", ")
        );
    }
    if failed > 0 {
        bail!(
            "{failed} of {} partitions of '{}' are not verified identical",
            verdicts.len(),
            table.name
        );
    }
    Ok(())
}

fn member_text(m: &MemberDigest) -> String {
    match &m.answer {
        Ok(d) => format!(
            "{} ({} ballot {}) decree {} records {} digest {}",
            m.node,
            d.reported_role(),
            d.ballot,
            d.applied_decree,
            d.records,
            d.digest
        ),
        Err(e) => format!("{}: {e}", m.node),
    }
}

fn verdict_line(pid: u32, v: &Verdict, replica_count: u32) -> String {
    let count = format!("{}/{} members", v.members.len(), replica_count);
    match v.outcome {
        Outcome::Identical | Outcome::Degraded => {
            let d = v.members[0].answer.as_ref().ok();
            format!(
                "partition {pid}: {} at decree {}, {} records, digest {} ({count})",
                v.outcome.label(),
                d.map_or(0, |d| d.applied_decree),
                d.map_or(0, |d| d.records),
                d.map_or("", |d| d.digest.as_str()),
            )
        }
        Outcome::NoMembers => format!(
            "partition {pid}: {} after {} attempts",
            v.outcome.label(),
            v.attempts
        ),
        Outcome::Unsettled | Outcome::Unreachable | Outcome::Different => {
            let members: Vec<String> = v.members.iter().map(member_text).collect();
            format!(
                "partition {pid}: {} after {} attempts ({count}): {}",
                v.outcome.label(),
                v.attempts,
                members.join("; ")
            )
        }
    }
}

fn verify_json(
    table: &TableMap,
    verdicts: &BTreeMap<u32, Verdict>,
    counts: &BTreeMap<&'static str, usize>,
    ok: bool,
) -> Value {
    let parts: Vec<Value> = verdicts
        .iter()
        .map(|(pid, v)| {
            let replicas: Vec<Value> = v
                .members
                .iter()
                .map(|m| match &m.answer {
                    Ok(d) => json!({
                        "node": m.node,
                        "applied_decree": d.applied_decree,
                        "records": d.records,
                        "digest": d.digest,
                        "role": d.reported_role().name(),
                        "ballot": d.ballot,
                    }),
                    Err(e) => json!({ "node": m.node, "error": e }),
                })
                .collect();
            json!({
                "partition": pid,
                "status": v.outcome.key(),
                "attempts": v.attempts,
                "members": v.members.len(),
                "replicas": replicas,
            })
        })
        .collect();
    json!({
        "table": table.name,
        "replica_count": table.replica_count,
        "ok": ok,
        "counts": counts,
        "partitions": parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::msg::ReplicaRole;

    fn digest(node: &str, decree: u64, digest: &str) -> MemberDigest {
        MemberDigest {
            node: node.to_string(),
            answer: Ok(ReplicaDigestResponse {
                applied_decree: decree,
                records: 3,
                digest: digest.to_string(),
                ballot: 1,
                ..Default::default()
            }
            .with_role(ReplicaRole::Secondary)),
        }
    }

    #[test]
    fn digests_compare_only_at_the_same_decree() {
        assert_eq!(judge(&[]), Outcome::NoMembers);
        assert_eq!(
            judge(&[digest("a", 5, "x"), digest("b", 5, "x")]),
            Outcome::Identical
        );
        assert_eq!(
            judge(&[digest("a", 5, "x"), digest("b", 5, "y")]),
            Outcome::Different
        );
        // Different decrees: the digests say nothing yet.
        assert_eq!(
            judge(&[digest("a", 5, "x"), digest("b", 4, "y")]),
            Outcome::Unsettled
        );
        let gone = MemberDigest {
            node: "c".to_string(),
            answer: Err("timed out".to_string()),
        };
        assert_eq!(judge(&[digest("a", 5, "x"), gone]), Outcome::Unreachable);
    }
}
