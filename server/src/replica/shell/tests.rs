//! The replica task over a real mutation log and a memory engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;
use petrel_common::reply::Reply;
use petrel_common::rpc::client::RpcClient;

use super::driver::TICK;
use super::{spawn, Env, Opening};
use crate::log::{LogOptions, MutationLog};
use crate::replica::machine::{Options, Status, WriteError};
use crate::replica::{Event, Replica, WriteOutcome};
use crate::storage::memory::MemEngine;
use crate::storage::rocks::RocksOptions;
use crate::storage::Engine;

/// The command `line` calls.
fn cmd(line: &str) -> &'static Command {
    let name = line.split(' ').next().unwrap_or_default();
    petrel_common::command::table()
        .find(name.as_bytes())
        .expect("a command")
}

fn args(line: &str) -> Vec<Bytes> {
    line.split(' ')
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}

fn me() -> NodeAddr {
    NodeAddr::from("127.0.0.1:1")
}

fn config(ballot: u64) -> PartitionConfig {
    PartitionConfig {
        gpid: Gpid::new(1, 0),
        ballot: Ballot(ballot),
        primary: Some(me()),
        secondaries: vec![],
    }
}

struct Opened {
    replica: Replica,
    log: Arc<MutationLog>,
}

/// Opens the replica over the log in `dir` with a fresh memory engine
/// (standing for RocksDB memtables lost in a crash).
fn open(dir: &std::path::Path, engine: Arc<dyn Engine>) -> Opened {
    let (log, replay) =
        MutationLog::open(dir.join("log"), LogOptions::default()).expect("log opens");
    let log = Arc::new(log);
    let logged = replay
        .latest_per_partition()
        .remove(&Gpid::new(1, 0))
        .unwrap_or_default();
    let rdir = dir.join("replica");
    std::fs::create_dir_all(&rdir).expect("dir");
    let persisted = crate::replica::load_config(Gpid::new(1, 0), &rdir).expect("config");
    let env = Arc::new(Env {
        me: me(),
        log: log.clone(),
        rpc: RpcClient::new(),
        rocks: RocksOptions::default(),
        machine: Options::default(),
        txn: Default::default(),
        peers: Arc::new(crate::txn::peers::Peers::new(
            RpcClient::new(),
            petrel_common::meta_client::MetaClient::new(RpcClient::new(), Vec::new()),
        )),
        broker: Arc::new(crate::pubsub::Broker::new(1 << 20)),
        notifier: Arc::new(crate::notify::Notifier::new(Arc::new(
            crate::pubsub::Broker::new(1 << 20),
        ))),
        beacon_now: Default::default(),
    });
    let replica = spawn(
        env,
        Opening {
            table_name: "t".into(),
            partition_count: 1,
            gpid: Gpid::new(1, 0),
            dir: rdir,
            engine,
            persisted,
            logged,
        },
    )
    .expect("spawns");
    Opened { replica, log }
}

async fn make_primary(r: &Replica, ballot: u64) {
    r.send(Event::Config(config(ballot)));
    r.send(Event::Lease {
        until: Instant::now() + Duration::from_secs(60),
    });
    for _ in 0..200 {
        if r.view().can_serve_read {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("replica never became a serving primary: {:?}", r.view());
}

async fn ok(r: &Replica, line: &str) -> Reply {
    match r.write(cmd(line), args(line), 1_000).await {
        WriteOutcome::Done(reply) => reply,
        other => panic!("{line}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_commit_alone_and_survive_lost_memtables() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let o = open(dir.path(), Arc::new(MemEngine::new()));
        make_primary(&o.replica, 1).await;
        assert_eq!(ok(&o.replica, "set a 1").await, Reply::ok());
        assert_eq!(ok(&o.replica, "incrby a 41").await, Reply::Int(42));
        assert_eq!(ok(&o.replica, "set b x").await, Reply::ok());
        assert_eq!(ok(&o.replica, "append b yz").await, Reply::Int(3));
        assert_eq!(ok(&o.replica, "del missing").await, Reply::Int(0));
        assert_eq!(o.replica.digest().expect("digest").applied, Decree(4));
        assert_eq!(
            o.replica.read(cmd("get a"), &args("get a"), 1_000),
            Reply::bulk("42")
        );
        assert!(o.replica.close(Duration::from_secs(5)).await);
        o.log.sync_all().expect("sync");
    }
    // Memtables lost: the log still holds the four mutations, which the
    // replica recovers as its uncommitted tail; it comes back inactive
    // (it was primary) and commits them again under a new ballot.
    let o = open(dir.path(), Arc::new(MemEngine::new()));
    let v = o.replica.view();
    assert_eq!(v.status, Status::Inactive);
    assert_eq!(v.last_prepared, Decree(4));
    assert_eq!(v.last_committed, Decree(0));
    match o
        .replica
        .write(cmd("set c 1"), args("set c 1"), 1_000)
        .await
    {
        WriteOutcome::Refused(WriteError::NotPrimary { .. }) => {}
        other => panic!("an inactive replica took a write: {other:?}"),
    }
    make_primary(&o.replica, 2).await;
    assert_eq!(o.replica.digest().expect("digest").applied, Decree(4));
    assert_eq!(
        o.replica.read(cmd("get a"), &args("get a"), 1_000),
        Reply::bulk("42")
    );
    assert_eq!(
        o.replica.read(cmd("get b"), &args("get b"), 1_000),
        Reply::bulk("xyz")
    );
    assert_eq!(ok(&o.replica, "incr a").await, Reply::Int(43));
    assert_eq!(o.replica.view().config.ballot, Ballot(2));
}

/// One thread: every write below is queued before the replica task
/// runs, so they all execute in one batch of events.
#[tokio::test(flavor = "current_thread")]
async fn writes_of_one_batch_share_a_decree_and_see_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = open(dir.path(), Arc::new(MemEngine::new()));
    make_primary(&o.replica, 1).await;
    let before = o.replica.digest().expect("digest").applied;
    let incrs = (0..100).map(|_| o.replica.write(cmd("incr n"), args("incr n"), 1_000));
    let (outcomes, append) = futures::join!(
        futures::future::join_all(incrs),
        o.replica
            .write(cmd("append s x"), args("append s x"), 1_000)
    );
    let mut got: Vec<i64> = outcomes
        .into_iter()
        .map(|w| match w {
            WriteOutcome::Done(Reply::Int(n)) => n,
            other => panic!("incr: {other:?}"),
        })
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        (1..=100).collect::<Vec<i64>>(),
        "each saw the ones before"
    );
    assert!(matches!(append, WriteOutcome::Done(Reply::Int(1))));
    let after = o.replica.digest().expect("digest").applied;
    assert_eq!(after, before.next(), "101 writes, one decree");
    assert_eq!(
        o.replica.read(cmd("get n"), &args("get n"), 1_000),
        Reply::bulk("100")
    );
    // A write that changes nothing but read a staged one waits for it.
    let (set, get) = futures::join!(
        o.replica.write(cmd("set k v"), args("set k v"), 1_000),
        o.replica.write(cmd("setnx k w"), args("setnx k w"), 1_000)
    );
    assert!(matches!(set, WriteOutcome::Done(ref r) if *r == Reply::ok()));
    assert!(matches!(get, WriteOutcome::Done(Reply::Int(0))));
    assert_eq!(
        o.replica.read(cmd("get k"), &args("get k"), 1_000),
        Reply::bulk("v")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_without_a_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = open(dir.path(), Arc::new(MemEngine::new()));
    make_primary(&o.replica, 1).await;
    o.replica.send(Event::Lease {
        until: Instant::now(),
    });
    tokio::time::sleep(TICK * 3).await;
    assert!(!o.replica.view().can_serve_read);
    match o
        .replica
        .write(cmd("set a 1"), args("set a 1"), 1_000)
        .await
    {
        WriteOutcome::Refused(WriteError::LeaseExpired { .. }) => {}
        other => panic!("a write without a lease: {other:?}"),
    }
}

/// The first key `k<n>` in partition `p` of 2.
fn key_in_half(p: u32) -> String {
    (0u32..)
        .map(|n| format!("k{n}"))
        .find(|k| petrel_common::hash::partition_of(k.as_bytes(), 2) == p)
        .expect("a key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_routed_before_the_split_and_staged_after_it_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = open(dir.path(), Arc::new(MemEngine::new()));
    make_primary(&o.replica, 1).await;
    let (stays, moves) = (key_in_half(0), key_in_half(1));
    for k in [&stays, &moves] {
        assert_eq!(ok(&o.replica, &format!("set {k} 1")).await, Reply::ok());
    }
    o.replica.send(Event::SplitTo(2));
    for _ in 0..200 {
        if o.replica.partition_count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(o.replica.partition_count(), 2, "the split was proposed");
    // The service let this write through on the old count (its key was
    // this partition's then); the replica stages it after the split.
    let line = format!("set {moves} 2");
    match o.replica.write(cmd(&line), args(&line), 1_000).await {
        WriteOutcome::Refused(WriteError::Moved { .. }) => {}
        other => panic!("a write of a key that moved: {other:?}"),
    }
    assert_eq!(ok(&o.replica, &format!("set {stays} 2")).await, Reply::ok());
}
