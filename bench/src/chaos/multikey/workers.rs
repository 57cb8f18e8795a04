//! The multi-key clients: set each workload's starting state before any
//! fault, run its workers through the proxy while the nemesis works, and
//! read the final state once everything healed.
//!
//! Each worker runs one request at a time on its own connection. After an
//! unknown outcome it drops the connection (which may be broken, or still
//! inside a `MULTI`) and continues as a new process, as the per-key workers
//! do; a killed proxy therefore costs it reconnects, not the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::aio::MultiplexedConnection;
use redis::Value;

use super::client::perform;
use super::keys::{in_partition, spread, spread_partition};
use super::record::{Action, BankRun, LmoveRun, MoveHow, MsetRun, MultiOp, MultiRecord, Outcome};
use super::spec::{BankReads, BankTransfers, Spec};
use crate::chaos::workload::{connect, Clock};

/// How long setup and the final reads keep retrying one key.
const PATIENCE: Duration = Duration::from_secs(120);

/// Each request's timeout and the pause between a worker's requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pace {
    pub(crate) op_timeout: Duration,
    pub(crate) think: Duration,
}

/// Chooses the keys of every workload in `spec` and sets their starting
/// state through the proxy at `url` (before any fault): every account at
/// its initial balance, the MSET keys absent, every item in the first list.
pub(crate) async fn setup(url: &str, spec: &Spec) -> anyhow::Result<MultiRecord> {
    let mut record = MultiRecord::default();
    if !spec.any() {
        return Ok(record);
    }
    let mut con = Retrying::new(url)?;
    if spec.bank {
        let accounts = spread("bank", spec.accounts, spec.partitions, spec.grows_to);
        for a in &accounts {
            let mut set = redis::cmd("SET");
            set.arg(a).arg(spec.initial_balance);
            let what = format!("SET {a}");
            expect(con.query(&set, &what).await?, Value::Okay, &what)?;
        }
        record.bank = Some(BankRun {
            initial: vec![spec.initial_balance; accounts.len()],
            accounts,
            ..BankRun::default()
        });
    }
    if spec.mset {
        let keys = spread("mset", spec.mset_keys, spec.partitions, spec.grows_to);
        for k in &keys {
            con.query(redis::cmd("DEL").arg(k), "DEL").await?;
        }
        record.mset = Some(MsetRun {
            keys,
            ..MsetRun::default()
        });
    }
    if spec.lmove {
        let lists = spread("list", 2, spec.partitions, spec.grows_to);
        let items: Vec<String> = (0..spec.items).map(|i| format!("item-{i}")).collect();
        for l in &lists {
            con.query(redis::cmd("DEL").arg(l), "DEL").await?;
        }
        if !items.is_empty() {
            let mut push = redis::cmd("RPUSH");
            push.arg(&lists[0]).arg(&items);
            let want = Value::Int(items.len() as i64);
            let what = "RPUSH of the items";
            expect(con.query(&push, what).await?, want, what)?;
        }
        // A retried RPUSH would have pushed twice: make sure it did not.
        let v = con
            .query(redis::cmd("LRANGE").arg(&lists[0]).arg(0).arg(-1), "LRANGE")
            .await?;
        let want = Value::Array(
            items
                .iter()
                .map(|i| Value::BulkString(i.clone().into_bytes()))
                .collect(),
        );
        expect(v, want, "LRANGE of the first list")?;
        record.lmove = Some(LmoveRun {
            lists,
            items,
            ..LmoveRun::default()
        });
    }
    Ok(record)
}

fn expect(got: Value, want: Value, what: &str) -> anyhow::Result<()> {
    if got != want {
        bail!("setting up the multi-key workloads: {what} answered {got:?}, not {want:?}");
    }
    Ok(())
}

/// The workloads, in the order their workers are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Bank,
    Mset,
    Lmove,
}

/// Runs the workers of every workload in `record` until `stop` resolves;
/// returns `record` with every request they made.
pub(crate) async fn run(
    url: String,
    spec: Spec,
    mut record: MultiRecord,
    seed: u64,
    clock: Clock,
    pace: Pace,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<MultiRecord> {
    let client = redis::Client::open(url.as_str())?;
    let halt = Arc::new(AtomicBool::new(false));
    let ids = Arc::new(Counters::default());
    let spec = Arc::new(spec);
    let workloads = [
        (
            Which::Bank,
            record.bank.as_ref().map(|b| b.accounts.clone()),
        ),
        (Which::Mset, record.mset.as_ref().map(|m| m.keys.clone())),
        (Which::Lmove, record.lmove.as_ref().map(|l| l.lists.clone())),
    ];
    let mut tasks = Vec::new();
    for (w, (which, keys)) in workloads.into_iter().enumerate() {
        let Some(keys) = keys else { continue };
        let keys = Arc::new(keys);
        for i in 0..spec.workers {
            // Distinct from the per-key workers' seeds.
            let stream = 0x006d_756c_7469_u64 ^ ((w as u64) << 32 | i as u64);
            let worker = Worker {
                client: client.clone(),
                which,
                keys: keys.clone(),
                spec: spec.clone(),
                rng: StdRng::seed_from_u64(seed.wrapping_mul(1_000_003) ^ stream),
                halt: halt.clone(),
                ids: ids.clone(),
                clock,
                pace,
            };
            tasks.push((which, tokio::spawn(worker.run())));
        }
    }
    stop.await;
    halt.store(true, Ordering::SeqCst);
    for (which, task) in tasks {
        let ops = task.await.context("a multi-key worker")?;
        let into = match which {
            Which::Bank => record.bank.as_mut().map(|b| &mut b.ops),
            Which::Mset => record.mset.as_mut().map(|m| &mut m.ops),
            Which::Lmove => record.lmove.as_mut().map(|l| &mut l.ops),
        };
        if let Some(into) = into {
            into.extend(ops);
        }
    }
    for ops in [
        record.bank.as_mut().map(|b| &mut b.ops),
        record.mset.as_mut().map(|m| &mut m.ops),
        record.lmove.as_mut().map(|l| &mut l.ops),
    ]
    .into_iter()
    .flatten()
    {
        ops.sort_by_key(|op| op.id);
    }
    Ok(record)
}

/// Request ids and client process numbers, unique across every worker.
#[derive(Default)]
struct Counters {
    op: AtomicU64,
    process: AtomicU64,
}

struct Worker {
    client: redis::Client,
    which: Which,
    keys: Arc<Vec<String>>,
    spec: Arc<Spec>,
    rng: StdRng,
    halt: Arc<AtomicBool>,
    ids: Arc<Counters>,
    clock: Clock,
    pace: Pace,
}

impl Worker {
    async fn run(mut self) -> Vec<MultiOp> {
        let mut ops = Vec::new();
        let mut process = self.ids.process.fetch_add(1, Ordering::Relaxed);
        let mut con: Option<MultiplexedConnection> = None;
        while !self.halt.load(Ordering::SeqCst) {
            if con.is_none() {
                con = connect(&self.client, self.pace.op_timeout).await;
                if con.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            let Some(c) = con.as_mut() else { continue };
            let id = self.ids.op.fetch_add(1, Ordering::Relaxed);
            let action = self.draw(process, id);
            let invoke_ns = self.clock.now_ns();
            let done = perform(c, &self.keys, &action, self.pace.op_timeout).await;
            let complete_ns = self.clock.now_ns();
            let outcome = done.outcome;
            let unknown = matches!(outcome, Outcome::Unknown(_));
            ops.push(MultiOp {
                id,
                process,
                action,
                invoke_ns,
                complete_ns,
                outcome,
            });
            if unknown || !done.answered {
                con = None;
            }
            if unknown {
                process = self.ids.process.fetch_add(1, Ordering::Relaxed);
            }
            if !self.pace.think.is_zero() {
                tokio::time::sleep(self.pace.think).await;
            }
        }
        ops
    }

    /// The next request of this worker's workload.
    fn draw(&mut self, process: u64, id: u64) -> Action {
        let rng = &mut self.rng;
        match self.which {
            Which::Bank => {
                let reads = self.spec.bank_reads;
                if reads != BankReads::None && rng.gen_bool(0.3) {
                    let mget = match reads {
                        BankReads::Mget => true,
                        BankReads::Multi => false,
                        _ => rng.gen_bool(0.5),
                    };
                    return Action::ReadBalances { mget };
                }
                let n = self.keys.len();
                let from = rng.gen_range(0..n);
                let to = (from + rng.gen_range(1..n)) % n;
                let partitions = self.spec.partitions;
                let by_script = match self.spec.bank_transfers {
                    BankTransfers::Multi => false,
                    BankTransfers::Eval => true,
                    BankTransfers::Both => rng.gen_bool(0.5),
                };
                let (pf, pt) = (
                    spread_partition(from, partitions),
                    spread_partition(to, partitions),
                );
                // A script's marker goes to a third partition when there is one.
                let marker_partition = if by_script {
                    (0..partitions).find(|p| *p != pf && *p != pt).unwrap_or(pf)
                } else {
                    pf
                };
                Action::Transfer {
                    from,
                    to,
                    amount: rng.gen_range(1..=5),
                    marker: in_partition(
                        &format!("bank:applied:{id}"),
                        marker_partition,
                        partitions,
                    ),
                    by_script,
                }
            }
            Which::Mset => {
                if rng.gen_bool(0.5) {
                    Action::Mset {
                        value: format!("{process}-{id}"),
                    }
                } else {
                    Action::Mget
                }
            }
            Which::Lmove => {
                let from = rng.gen_range(0..2);
                let how = if rng.gen_bool(0.3) {
                    MoveHow::Rpoplpush
                } else {
                    MoveHow::Lmove {
                        pop_left: rng.gen_bool(0.5),
                        push_left: rng.gen_bool(0.5),
                    }
                };
                Action::Move {
                    from,
                    to: 1 - from,
                    how,
                }
            }
        }
    }
}

/// One connection to the proxy, remade and retried until a command
/// answers without an error, for setup and final reads (when nothing else
/// runs, so a retried write is harmless: they all set absolute values).
struct Retrying {
    client: redis::Client,
    con: Option<MultiplexedConnection>,
}

impl Retrying {
    fn new(url: &str) -> anyhow::Result<Retrying> {
        Ok(Retrying {
            client: redis::Client::open(url)?,
            con: None,
        })
    }

    /// `cmd`'s first answer that is not an error; `what` names it in the
    /// error when none comes in time.
    async fn query(&mut self, cmd: &redis::Cmd, what: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::new();
        loop {
            if self.con.is_none() {
                self.con = connect(&self.client, Duration::from_secs(5)).await;
            }
            if let Some(c) = self.con.as_mut() {
                let r =
                    tokio::time::timeout(Duration::from_secs(5), cmd.query_async::<Value>(c)).await;
                match r {
                    Ok(Ok(Value::ServerError(e))) => last = format!("{e:?}"),
                    Ok(Ok(v)) => return Ok(v),
                    Ok(Err(e)) => {
                        last = e.to_string();
                        self.con = None;
                    }
                    Err(_) => {
                        last = "timed out".into();
                        self.con = None;
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("no answer to {what} in {PATIENCE:?}; last: {last}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The value of every key, read one at a time.
    async fn get_each(&mut self, keys: &[String]) -> anyhow::Result<Vec<Option<String>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let v = self.query(redis::cmd("GET").arg(k), "GET").await?;
            out.push(match v {
                Value::Nil => None,
                Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                other => Some(format!("{other:?}")),
            });
        }
        Ok(out)
    }
}

impl Retrying {
    /// The ids of the transfers in `ops` whose marker key exists, read by
    /// `EXISTS` in batches (after healing, when nothing else runs).
    async fn markers(&mut self, ops: &[MultiOp]) -> anyhow::Result<Vec<u64>> {
        let marked: Vec<(u64, &str)> = ops
            .iter()
            .filter_map(|op| match &op.action {
                Action::Transfer { marker, .. } if !marker.is_empty() => {
                    Some((op.id, marker.as_str()))
                }
                _ => None,
            })
            .collect();
        let mut present = Vec::new();
        for batch in marked.chunks(MARKER_BATCH) {
            let mut get = redis::cmd("MGET");
            for (_, marker) in batch {
                get.arg(*marker);
            }
            let v = self.query(&get, "MGET of transfer markers").await?;
            let values: Vec<Option<String>> = redis::from_redis_value(v)
                .context("MGET of transfer markers answered something else than values")?;
            if values.len() != batch.len() {
                bail!(
                    "MGET of {} transfer markers answered {} values",
                    batch.len(),
                    values.len()
                );
            }
            present.extend(
                batch
                    .iter()
                    .zip(values)
                    .filter(|(_, v)| v.is_some())
                    .map(|((id, _), _)| *id),
            );
        }
        Ok(present)
    }
}

/// Transfer markers read per `MGET` in the final read.
const MARKER_BATCH: usize = 200;

/// Reads every workload's final state into `record`, one key at a time,
/// once every fault has healed and no worker runs.
pub(crate) async fn read_final(url: &str, record: &mut MultiRecord) -> anyhow::Result<()> {
    if record.is_empty() {
        return Ok(());
    }
    let mut con = Retrying::new(url)?;
    if let Some(bank) = record.bank.as_mut() {
        bank.final_balances = Some(con.get_each(&bank.accounts).await.context("bank")?);
        bank.final_markers = Some(con.markers(&bank.ops).await.context("bank markers")?);
    }
    if let Some(mset) = record.mset.as_mut() {
        mset.final_values = Some(con.get_each(&mset.keys).await.context("mset")?);
    }
    if let Some(lmove) = record.lmove.as_mut() {
        let mut lists = Vec::new();
        for l in &lmove.lists {
            let v = con
                .query(redis::cmd("LRANGE").arg(l).arg(0).arg(-1), "LRANGE")
                .await?;
            let items: Vec<String> = redis::from_redis_value(v)
                .with_context(|| format!("LRANGE {l} answered something else than a list"))?;
            lists.push(items);
        }
        lmove.final_lists = Some(lists);
    }
    Ok(())
}
