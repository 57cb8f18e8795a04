//! Transactions through real replica tasks (each a one-member group over
//! its own mutation log and RocksDB): EXECUTE -> PREPARE -> DECIDE at two
//! partitions, a prepared transaction across a failover, resolution after
//! the coordinator vanished, and the fast-path gate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::ids::{Ballot, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;
use petrel_common::rpc::client::RpcClient;
use petrel_common::sync::lock;
use petrel_common::txn::participant::Options as TxnOptions;
use petrel_common::txn::{Decision, ExecuteHeader, Refusal, Request, Response, TxnId};

use super::{spawn, Env, Opening};
use crate::log::{LogOptions, MutationLog};
use crate::replica::machine::Options;
use crate::replica::{Event, Replica, TxnIn, TxnOutcome, WriteOutcome};
use crate::storage::rocks::{RocksEngine, RocksOptions};
use crate::txn::exec::Call;
use crate::txn::peers::{Deliver, Peers};
use crate::txn::records;

fn me() -> NodeAddr {
    NodeAddr::from("127.0.0.1:1")
}

fn a() -> Gpid {
    Gpid::new(1, 0)
}

fn b() -> Gpid {
    Gpid::new(1, 1)
}

fn opts() -> TxnOptions {
    TxnOptions {
        lock_wait_ms: 400,
        idle_timeout_ms: 600,
        resolve_after_ms: 300,
        resend_ms: 100,
        ..TxnOptions::default()
    }
}

/// Routes the participants' own messages straight to the replica tasks.
#[derive(Default)]
struct Direct(Mutex<HashMap<Gpid, Arc<Replica>>>);

impl Deliver for Direct {
    fn deliver(&self, to: Gpid, req: Request) -> BoxFuture<'static, Option<Response>> {
        let r = lock(&self.0).get(&to).cloned();
        async move {
            match r?.txn(TxnIn::Request(req)).await {
                TxnOutcome::Answered { resp, .. } => Some(resp),
                _ => None,
            }
        }
        .boxed()
    }
}

/// Partitions 0 and 1 of table 1, each its own group of one.
struct Cluster {
    root: PathBuf,
    direct: Arc<Direct>,
    ballots: HashMap<Gpid, u64>,
}

impl Cluster {
    fn new(root: &Path) -> Self {
        Cluster {
            root: root.to_path_buf(),
            direct: Arc::default(),
            ballots: HashMap::new(),
        }
    }

    /// Opens (or reopens, after a crash: its memtables are lost, its log
    /// is not) the replica of `gpid` and makes it primary at a new ballot.
    async fn start(&mut self, gpid: Gpid) -> Arc<Replica> {
        let dir = self.root.join(gpid.partition.0.to_string());
        let (log, replay) =
            MutationLog::open(dir.join("log"), LogOptions::default()).expect("log opens");
        let logged = replay
            .latest_per_partition()
            .remove(&gpid)
            .unwrap_or_default();
        let rdir = dir.join("replica");
        std::fs::create_dir_all(&rdir).expect("dir");
        let engine = RocksEngine::open(&rdir.join("db"), &RocksOptions::default()).expect("db");
        let persisted = crate::replica::load_config(gpid, &rdir).expect("config");
        let env = Arc::new(Env {
            me: me(),
            log: Arc::new(log),
            rpc: RpcClient::new(),
            rocks: RocksOptions::default(),
            machine: Options::default(),
            txn: opts(),
            peers: Arc::new(Peers::direct(RpcClient::new(), self.direct.clone())),
            broker: Arc::new(crate::pubsub::Broker::new(1 << 20)),
            notifier: Arc::new(crate::notify::Notifier::new(Arc::new(
                crate::pubsub::Broker::new(1 << 20),
            ))),
            beacon_now: Default::default(),
        });
        let replica = Arc::new(
            spawn(
                env,
                Opening {
                    table_name: "t".into(),
                    partition_count: 2,
                    gpid,
                    dir: rdir,
                    engine: Arc::new(engine),
                    persisted,
                    logged,
                },
            )
            .expect("spawns"),
        );
        let ballot = self.ballots.entry(gpid).or_insert(0);
        *ballot += 1;
        replica.send(Event::Config(PartitionConfig {
            gpid,
            ballot: Ballot(*ballot),
            primary: Some(me()),
            secondaries: vec![],
        }));
        replica.send(Event::Lease {
            until: Instant::now() + Duration::from_secs(600),
        });
        for _ in 0..300 {
            if replica.view().can_serve_read {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(replica.view().can_serve_read, "never served");
        lock(&self.direct.0).insert(gpid, replica.clone());
        replica
    }
}

fn call(line: &str) -> Call {
    let args: Vec<Bytes> = line
        .split(' ')
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let petrel_common::command::Resolved::Command(command) =
        petrel_common::command::table().resolve(&args)
    else {
        panic!("{line}: not a command");
    };
    Call { command, args }
}

fn txn() -> TxnId {
    TxnId {
        start_ms: petrel_common::time::now_unix_ms(),
        nonce: rand_nonce(),
    }
}

fn rand_nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// EXECUTE `lines` for `t` (R = partition 0); the epoch and the replies.
async fn execute(r: &Replica, t: TxnId, seq: u32, lines: &[&str]) -> (u64, Vec<Reply>) {
    let head = ExecuteHeader {
        txn: t,
        record: a(),
        seq,
    };
    let calls = lines.iter().map(|l| call(l)).collect();
    match r.txn(TxnIn::Execute { head, calls }).await {
        TxnOutcome::Answered {
            resp: Response::Executed { epoch, .. },
            replies,
        } => (epoch, replies),
        other => panic!("EXECUTE {lines:?}: {other:?}"),
    }
}

async fn request(r: &Replica, req: Request) -> Response {
    match r.txn(TxnIn::Request(req.clone())).await {
        TxnOutcome::Answered { resp, .. } => resp,
        other => panic!("{req:?}: {other:?}"),
    }
}

fn get(r: &Replica, key: &str) -> Reply {
    let c = call(&format!("get {key}"));
    r.read(c.command, &c.args, petrel_common::time::now_unix_ms())
}

async fn write(r: &Replica, line: &str) -> WriteOutcome {
    let c = call(line);
    r.write(c.command, c.args, petrel_common::time::now_unix_ms())
        .await
}

/// Both PREPAREs durable (the transaction is committed by the rule).
async fn prepare_both(ra: &Replica, rb: &Replica, t: TxnId, ea: u64, eb: u64) {
    let pb = Request::Prepare {
        txn: t,
        epoch: eb,
        executes: 1,
        writers: None,
    };
    assert_eq!(request(rb, pb).await, Response::Prepared { txn: t });
    let pa = Request::Prepare {
        txn: t,
        epoch: ea,
        executes: 1,
        writers: Some(vec![a(), b()]),
    };
    assert_eq!(request(ra, pa).await, Response::Prepared { txn: t });
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_prepare_decide_at_two_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Cluster::new(dir.path());
    let (ra, rb) = (c.start(a()).await, c.start(b()).await);
    assert_eq!(
        write(&ra, "set a 0").await.reply_or_panic(),
        Reply::ok(),
        "a fast-path write before any transaction"
    );
    let t = txn();
    let (ea, replies) = execute(&ra, t, 0, &["incrby a 10", "get a"]).await;
    assert_eq!(replies, vec![Reply::Int(10), Reply::bulk("10")]);
    let (eb, replies) = execute(&rb, t, 0, &["set b 20", "get b"]).await;
    assert_eq!(replies, vec![Reply::ok(), Reply::bulk("20")]);
    // A repeated EXECUTE (same seq) is ignored, a skipped one refused.
    let head = ExecuteHeader {
        txn: t,
        record: a(),
        seq: 3,
    };
    match rb
        .txn(TxnIn::Execute {
            head,
            calls: vec![],
        })
        .await
    {
        TxnOutcome::Answered {
            resp: Response::Refused { why, .. },
            ..
        } => assert_eq!(why, Refusal::Lost),
        other => panic!("{other:?}"),
    }
    // Nothing is visible before the decision.
    assert_eq!(get(&ra, "a"), Reply::bulk("0"));
    assert_eq!(get(&rb, "b"), Reply::Nil);
    prepare_both(&ra, &rb, t, ea, eb).await;
    // Durable records: prepared/T at both, record/T = Staging at R.
    let rec = records::load(ra.engine().as_ref()).expect("load");
    assert_eq!(rec.prepared.len(), 1);
    assert_eq!(rec.records.len(), 1);
    assert_eq!(
        records::load(rb.engine().as_ref())
            .expect("load")
            .prepared
            .len(),
        1
    );
    // Prepared keys are published for reads.
    assert!(ra.reads_may_wait() && rb.reads_may_wait());
    // A fast-path write on a prepared key waits for the decision.
    let ra2 = ra.clone();
    let waiting = tokio::spawn(async move { write(&ra2, "incr a").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "a write went through a lock");
    for r in [&ra, &rb] {
        let d = Request::Decide {
            txn: t,
            decision: Decision::Committed,
        };
        assert_eq!(request(r, d).await, Response::Decided { txn: t });
    }
    assert_eq!(
        waiting.await.expect("joins").reply_or_panic(),
        Reply::Int(11),
        "the waiting write ran after the transaction's"
    );
    assert_eq!(get(&ra, "a"), Reply::bulk("11"));
    assert_eq!(get(&rb, "b"), Reply::bulk("20"));
    assert!(!ra.reads_may_wait() && !rb.reads_may_wait());
    let rec = records::load(ra.engine().as_ref()).expect("load");
    assert!(
        rec.prepared.is_empty(),
        "prepared/T removed at the decision"
    );
    assert_eq!(rec.decided.len(), 1);
    // DECIDE is idempotent.
    let d = Request::Decide {
        txn: t,
        decision: Decision::Committed,
    };
    assert_eq!(request(&rb, d).await, Response::Decided { txn: t });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_transaction_survives_a_failover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Cluster::new(dir.path());
    let (ra, rb) = (c.start(a()).await, c.start(b()).await);
    let t = txn();
    let (ea, _) = execute(&ra, t, 0, &["set a 1"]).await;
    let (eb, _) = execute(&rb, t, 0, &["set b 2"]).await;
    prepare_both(&ra, &rb, t, ea, eb).await;
    // B's primary crashes; it comes back (memtables lost, log kept) as a
    // new primary at a new ballot and rebuilds its lock from prepared/T.
    assert!(rb.close(Duration::from_secs(5)).await);
    drop(rb);
    let rb = c.start(b()).await;
    assert!(
        rb.reads_may_wait(),
        "the new primary locked the prepared key"
    );
    let limit = Duration::from_secs(5);
    let rb2 = rb.clone();
    let read = tokio::spawn(async move {
        rb2.read_gate(&[Bytes::from_static(b"b")], limit)
            .await
            .map(|()| get(&rb2, "b"))
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!read.is_finished(), "a read of a prepared key did not wait");
    // A write on it waits too.
    let rb3 = rb.clone();
    let w = tokio::spawn(async move { write(&rb3, "append b x").await });
    let d = Request::Decide {
        txn: t,
        decision: Decision::Committed,
    };
    assert_eq!(request(&rb, d.clone()).await, Response::Decided { txn: t });
    assert_eq!(request(&ra, d).await, Response::Decided { txn: t });
    let seen = read.await.expect("joins").expect("not timed out");
    assert!(
        seen == Reply::bulk("2") || seen == Reply::bulk("2x"),
        "read after the decision: {seen:?}"
    );
    assert_eq!(w.await.expect("joins").reply_or_panic(), Reply::Int(2));
    assert_eq!(get(&rb, "b"), Reply::bulk("2x"));
    assert_eq!(get(&ra, "a"), Reply::bulk("1"));
    // An Active transaction of the old primary is gone: its PREPARE is
    // refused (another epoch).
    let t2 = txn();
    let (e_old, _) = execute(&rb, t2, 0, &["set b 9"]).await;
    assert!(rb.close(Duration::from_secs(5)).await);
    let rb = c.start(b()).await;
    let p = Request::Prepare {
        txn: t2,
        epoch: e_old,
        executes: 1,
        writers: None,
    };
    assert!(matches!(request(&rb, p).await, Response::Refused { .. }));
    assert_eq!(get(&rb, "b"), Reply::bulk("2x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_coordinator_is_resolved_by_status_and_prevent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Cluster::new(dir.path());
    let (ra, rb) = (c.start(a()).await, c.start(b()).await);
    // Both PREPAREs durable, then the coordinator is gone: committed.
    let t = txn();
    let (ea, _) = execute(&ra, t, 0, &["set a 1"]).await;
    let (eb, _) = execute(&rb, t, 0, &["set b 1"]).await;
    prepare_both(&ra, &rb, t, ea, eb).await;
    // Only B prepared, R never heard PREPARE: aborted.
    let u = txn();
    execute(&ra, u, 0, &["set a2 1"]).await;
    let (eb, _) = execute(&rb, u, 0, &["set b2 1"]).await;
    let p = Request::Prepare {
        txn: u,
        epoch: eb,
        executes: 1,
        writers: None,
    };
    assert_eq!(request(&rb, p).await, Response::Prepared { txn: u });
    eventually("T applied at both, U aborted, locks gone", || {
        get(&ra, "a") == Reply::bulk("1")
            && get(&rb, "b") == Reply::bulk("1")
            && !ra.reads_may_wait()
            && !rb.reads_may_wait()
    })
    .await;
    assert_eq!(get(&ra, "a2"), Reply::Nil);
    assert_eq!(get(&rb, "b2"), Reply::Nil);
    // The writes U held back go now.
    assert_eq!(write(&rb, "set b2 x").await.reply_or_panic(), Reply::ok());
    assert_eq!(write(&ra, "set a2 x").await.reply_or_panic(), Reply::ok());
    // R's record says what happened; STATUS answers from it.
    let s = Request::Status { txn: t };
    assert_eq!(
        request(&ra, s).await,
        Response::Status {
            txn: t,
            decision: Decision::Committed
        }
    );
    let s = Request::Status { txn: u };
    assert_eq!(
        request(&ra, s).await,
        Response::Status {
            txn: u,
            decision: Decision::Aborted
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_locked_key_waits_then_goes_or_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Cluster::new(dir.path());
    let ra = c.start(a()).await;
    let t = txn();
    execute(&ra, t, 0, &["get k", "set k from-txn"]).await;
    // An Active transaction's lock: reads go (nothing visible changed),
    // writes wait.
    assert!(!ra.reads_may_wait());
    assert_eq!(get(&ra, "k"), Reply::Nil);
    let ra2 = ra.clone();
    let w = tokio::spawn(async move { write(&ra2, "set k fast").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !w.is_finished(),
        "a write went through a transaction's lock"
    );
    assert_eq!(
        request(&ra, Request::Release { txn: t }).await,
        Response::Released { txn: t }
    );
    assert_eq!(w.await.expect("joins").reply_or_panic(), Reply::ok());
    assert_eq!(get(&ra, "k"), Reply::bulk("fast"));
    // Held past the lock wait: an error that says why, and not executed.
    let t = txn();
    execute(&ra, t, 0, &["set k from-txn"]).await;
    let started = Instant::now();
    let r = write(&ra, "set k late").await.reply_or_panic();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let text = format!("{r:?}");
    assert!(
        r.is_error() && text.contains("transaction's lock"),
        "{text}"
    );
    assert_eq!(get(&ra, "k"), Reply::bulk("fast"));
    // Keys nobody locked are not held up.
    assert_eq!(
        write(&ra, "set other 1").await.reply_or_panic(),
        Reply::ok()
    );
}

impl WriteOutcome {
    fn reply_or_panic(self) -> Reply {
        match self {
            WriteOutcome::Done(r) => r,
            other => panic!("write: {other:?}"),
        }
    }
}
