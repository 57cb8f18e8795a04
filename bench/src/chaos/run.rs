//! One chaos run: cluster up, workers and nemesis together, heal, final
//! reads, checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::cluster::{Cluster, ClusterSpec};
use super::history::{Command, History, Op, Outcome, Reply};
use super::multikey::{self, workers::Pace};
use super::nemesis::{self, Kind, Step};
use super::workload::{self, Clock, Workload};

/// Everything a run needs.
#[derive(Clone, Debug)]
pub(crate) struct RunSpec {
    pub(crate) seed: u64,
    pub(crate) duration: Duration,
    pub(crate) kinds: Vec<Kind>,
    pub(crate) cluster: ClusterSpec,
    pub(crate) workload: Workload,
    /// Where the history is saved (JSON lines), for re-checking offline;
    /// the multi-key record goes beside it as `multikey.json`.
    pub(crate) history_out: Option<PathBuf>,
    /// The multi-key workloads run beside the per-key one.
    pub(crate) multikey: multikey::Spec,
    /// Every kind of fault once first (`--every-kind`).
    pub(crate) every_kind: bool,
}

/// What a run found.
pub(crate) struct RunResult {
    pub(crate) ops: usize,
    pub(crate) faults: usize,
    pub(crate) verify_ok: bool,
    pub(crate) verify_output: String,
    /// The checker's verdict, printable.
    pub(crate) report: String,
    /// No violation and replicas identical.
    pub(crate) ok: bool,
}

/// The schedule a seed draws (printed before the run, so a run can be replayed).
pub(crate) fn plan(spec: &RunSpec) -> Vec<Step> {
    nemesis::schedule_covering(
        spec.seed,
        spec.duration,
        &spec.kinds,
        spec.cluster.servers,
        // Partitions split off later are targets too (named modulo the
        // count when the fault starts).
        spec.cluster.max_partitions,
        spec.every_kind,
    )
}

pub(crate) async fn run(spec: RunSpec) -> anyhow::Result<RunResult> {
    let schedule = plan(&spec);
    let mut cluster = Cluster::start(spec.cluster.clone()).await?;
    let url = cluster.proxy_url();
    wait_until_serving(&url, Duration::from_secs(60)).await?;
    let multi = multikey::workers::setup(&url, &spec.multikey).await?;
    let clock = Clock::new();
    let start = Instant::now();
    let duration = spec.duration;
    let workers = tokio::spawn(workload::run(
        url.clone(),
        spec.workload.clone(),
        spec.seed,
        clock,
        tokio::time::sleep(duration),
    ));
    let pace = Pace {
        op_timeout: spec.workload.op_timeout,
        think: spec.workload.think,
    };
    let multi_workers = tokio::spawn(multikey::workers::run(
        url.clone(),
        spec.multikey.clone(),
        multi,
        spec.seed,
        clock,
        pace,
        tokio::time::sleep(duration),
    ));
    let log = nemesis::run(&mut cluster, &schedule, start).await;
    let recorded = workers.await.context("workers task")??;
    let mut multi = multi_workers.await.context("multi-key workers task")??;
    // Heal everything, then let the cluster settle.
    cluster.heal_network()?;
    cluster.heal_links_and_disks()?;
    cluster.heal_processes()?;
    cluster.stop_draining().await?;
    println!(
        "healing: every process running again at {:.1}s",
        start.elapsed().as_secs_f64()
    );
    let mut history = recorded.history;
    let touched = touched_keys(&history);
    let final_reads = final_reads(&url, &touched, &clock, &mut history).await?;
    multikey::workers::read_final(&url, &mut multi).await?;
    let (verify_ok, verify_output) = wait_verify(&cluster, Duration::from_secs(120)).await;
    if let Some(path) = &spec.history_out {
        history
            .write_jsonl(path)
            .with_context(|| format!("saving the history to {}", path.display()))?;
        if !multi.is_empty() {
            multi.save(&path.with_file_name("multikey.json"))?;
        }
    }
    let report = super::checker::check(&history, super::checker::Budget::default());
    let extra = super::checker::lost_acknowledged_writes(&history, &final_reads);
    let bounds = super::checker::counter_bounds(&history, &final_reads);
    let multi_report = (!multi.is_empty()).then(|| multikey::check(&multi));
    let multi_ok = multi_report.as_ref().is_none_or(|r| r.is_ok());
    let ok = report.is_ok() && extra.is_empty() && bounds.is_empty() && verify_ok && multi_ok;
    let mut text = format!("{report}");
    for v in &extra {
        text.push_str(&format!("\nviolation: {v}"));
    }
    for v in &bounds {
        text.push_str(&format!("\nviolation: {v}"));
    }
    if let Some(r) = &multi_report {
        text.push_str(&format!("\nmulti-key: {} requests\n{r}", multi.len()));
    }
    cluster.stop();
    Ok(RunResult {
        ops: history.len(),
        faults: log.faults,
        verify_ok,
        verify_output,
        report: text,
        ok,
    })
}

fn touched_keys(history: &History) -> Vec<String> {
    history.by_key().into_keys().collect()
}

/// Reads every key once everything healed; each read joins the history (it
/// starts after every other operation ended, or was abandoned).
async fn final_reads(
    url: &str,
    keys: &[String],
    clock: &Clock,
    history: &mut History,
) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let client = redis::Client::open(url)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = BTreeMap::new();
    let mut con = None;
    let mut id = u64::MAX / 2;
    for key in keys {
        loop {
            if con.is_none() {
                con = client.get_multiplexed_async_connection().await.ok();
            }
            if let Some(c) = con.as_mut() {
                let invoke_ns = clock.now_ns();
                let r: redis::RedisResult<Option<String>> = tokio::time::timeout(
                    Duration::from_secs(5),
                    redis::cmd("GET").arg(key).query_async(c),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out")))
                });
                if let Ok(v) = r {
                    let complete_ns = clock.now_ns();
                    id += 1;
                    history.push(Op {
                        id,
                        process: u64::MAX,
                        key: key.clone(),
                        command: Command::Get,
                        invoke_ns,
                        complete_ns,
                        outcome: Outcome::Ok(match &v {
                            Some(s) => Reply::Str(s.clone()),
                            None => Reply::Nil,
                        }),
                    });
                    out.insert(key.clone(), v);
                    break;
                }
                con = None;
            }
            if Instant::now() > deadline {
                anyhow::bail!("final read of {key} never succeeded in 120 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(out)
}

/// Runs `petrel verify` until it passes or `timeout` ends (learners may
/// still be catching up after the last fault).
async fn wait_verify(cluster: &Cluster, timeout: Duration) -> (bool, String) {
    let deadline = Instant::now() + timeout;
    loop {
        match cluster.verify() {
            Ok((true, out)) => return (true, out),
            Ok((false, out)) if Instant::now() > deadline => return (false, out),
            Err(e) if Instant::now() > deadline => return (false, format!("{e:#}")),
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
}

async fn wait_until_serving(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            let r: redis::RedisResult<i64> = redis::cmd("DBSIZE").query_async(&mut c).await;
            if r.is_ok() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("the proxy at {url} never served DBSIZE");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
