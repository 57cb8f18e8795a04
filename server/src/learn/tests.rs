//! A learner copying and installing checkpoints from a primary over a real
//! RPC listener, with a primary that can lie about its checkpoint.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::ids::{Ballot, Decree, Gpid};
use petrel_common::msg::{
    method, CheckpointFetchRequest, CheckpointFetchResponse, CheckpointFileMsg,
    CheckpointPrepareRequest, CheckpointPrepareResponse,
};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::server::{decode, encode, serve, Handled, Service};
use petrel_common::rpc::RpcError;
use petrel_common::rpc::ServiceError;
use tokio::net::TcpListener;

use super::download::{download, FETCH_CHUNK, FETCH_TIMEOUT, PREPARE_TIMEOUT};
use super::install::{install, old_dir, recover, staging_dir};
use super::store::CheckpointStore;
use super::{serve, LearnError};
use crate::storage::rocks::{RocksEngine, RocksOptions};
use crate::storage::{Engine, Mutation, ReadView, WriteOp};

const GPID: Gpid = Gpid {
    table: petrel_common::ids::TableId(1),
    partition: petrel_common::ids::PartitionId(2),
};

/// How the test primary lies about its checkpoint.
#[derive(Clone, Copy, PartialEq)]
enum Tamper {
    Honest,
    /// Lists the largest file 7 bytes longer than it is.
    LongerListing,
    /// Lists a file under a name that escapes the staging directory.
    EscapingName,
}

/// Routes the two checkpoint methods to [`serve`], the way the server's
/// service does.
struct Primary {
    store: Arc<CheckpointStore>,
    engine: Arc<RocksEngine>,
    tamper: Tamper,
}

impl Service for Primary {
    fn call(self: Arc<Self>, method: u16, body: Bytes) -> BoxFuture<'static, Handled> {
        async move {
            match method {
                method::CHECKPOINT_PREPARE => {
                    let req: CheckpointPrepareRequest = decode(body)?;
                    let gpid = Gpid::new(req.table_id, req.partition_id);
                    let mut resp = serve::prepare(self.store.clone(), gpid, self.engine.clone())
                        .await
                        .map_err(ServiceError::internal)?;
                    match self.tamper {
                        Tamper::Honest => {}
                        Tamper::LongerListing => {
                            if let Some(f) = resp.files.iter_mut().max_by_key(|f| f.len) {
                                f.len += 7;
                            }
                        }
                        Tamper::EscapingName => resp.files.push(CheckpointFileMsg {
                            name: "../escaped".into(),
                            len: 1,
                        }),
                    }
                    encode(&resp)
                }
                method::CHECKPOINT_FETCH => {
                    let req: CheckpointFetchRequest = decode(body)?;
                    let resp = serve::fetch(self.store.clone(), req)
                        .await
                        .map_err(ServiceError::internal)?;
                    encode(&resp)
                }
                _ => Err(ServiceError::NoMethod(method)),
            }
        }
        .boxed()
    }
}

/// Deterministic, incompressible bytes: big values make SST files span
/// several fetch chunks even after LZ4.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every record in the engine, the applied-decree record included.
fn contents(engine: &RocksEngine) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    engine
        .scan(b"", &[0xff; 16], &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .expect("scan");
    out
}

/// A primary replica holding flushed and unflushed data, ending at decree 40.
fn primary_engine(dir: &Path) -> RocksEngine {
    let engine = RocksEngine::open(dir, &RocksOptions::default()).unwrap();
    for d in 1..=40u64 {
        let key = format!("\x02key{d:03}").into_bytes();
        let mut ops = vec![WriteOp::Put(key, noise(d, 100 << 10))];
        if d % 10 == 0 {
            ops.push(WriteOp::Delete(format!("\x02key{:03}", d - 1).into_bytes()));
        }
        engine.apply(Decree(d), &Mutation { ops }).unwrap();
        if d == 25 {
            engine.flush().unwrap();
        }
    }
    engine
}

/// A replica directory holding some other database at decree 3.
fn stale_replica(dir: &Path) {
    let engine = RocksEngine::open(dir, &RocksOptions::default()).unwrap();
    let ops = vec![WriteOp::Put(b"\x02stale".to_vec(), b"old".to_vec())];
    engine.apply(Decree(3), &Mutation { ops }).unwrap();
    engine.flush().unwrap();
}

async fn start_primary(root: &Path, tamper: Tamper) -> (String, Arc<Primary>) {
    let data_dir = root.join("primary");
    let engine = primary_engine(&data_dir.join("replicas").join("1.2"));
    let store = CheckpointStore::open(
        &data_dir,
        CheckpointStore::DEFAULT_TTL,
        CheckpointStore::DEFAULT_MAX_PER_PARTITION,
    )
    .unwrap();
    let primary = Arc::new(Primary {
        store: Arc::new(store),
        engine: Arc::new(engine),
        tamper,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, primary.clone()));
    (addr, primary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_copies_and_installs_the_primary_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let (addr, primary) = start_primary(root.path(), Tamper::Honest).await;
    let expected = contents(&primary.engine);

    let db_dir = root.path().join("learner").join("replicas").join("1.2");
    stale_replica(&db_dir);
    let staging = staging_dir(&db_dir).unwrap();
    let rpc = RpcClient::new();
    let decree = download(&rpc, &addr, GPID, Ballot(3), &staging)
        .await
        .unwrap();
    assert_eq!(decree, Decree(40));
    // The primary moves on; the copy is the state at prepare time.
    let later = vec![WriteOp::Put(b"\x02after".to_vec(), b"x".to_vec())];
    primary
        .engine
        .apply(Decree(41), &Mutation { ops: later })
        .unwrap();
    let sst_over_a_chunk = std::fs::read_dir(&staging)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.metadata().unwrap().len() > u64::from(FETCH_CHUNK));
    assert!(sst_over_a_chunk, "test data should span several chunks");

    let (s, d) = (staging.clone(), db_dir.clone());
    tokio::task::spawn_blocking(move || install(&s, &d))
        .await
        .unwrap()
        .unwrap();
    assert!(!staging.exists());
    assert!(!old_dir(&db_dir).unwrap().exists());
    recover(&db_dir).unwrap();

    let learner = RocksEngine::open(&db_dir, &RocksOptions::default()).unwrap();
    assert_eq!(learner.applied_decree().unwrap(), Decree(40));
    assert_eq!(contents(&learner), expected);
    assert_eq!(learner.get(b"\x02stale").unwrap(), None);
    assert_eq!(learner.get(b"\x02after").unwrap(), None);
}

#[tokio::test]
async fn fetch_refuses_names_outside_the_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let (addr, _primary) = start_primary(root.path(), Tamper::Honest).await;
    std::fs::write(root.path().join("primary").join("secret"), b"secret").unwrap();
    let rpc = RpcClient::new();
    let prepared: CheckpointPrepareResponse = rpc
        .call(
            &addr,
            method::CHECKPOINT_PREPARE,
            &CheckpointPrepareRequest {
                table_id: 1,
                partition_id: 2,
                ballot: 3,
            },
            PREPARE_TIMEOUT,
        )
        .await
        .unwrap();
    let fetch = |id: &str, table_id: u32, name: &str| {
        let req = CheckpointFetchRequest {
            table_id,
            partition_id: 2,
            id: id.to_string(),
            name: name.to_string(),
            offset: 0,
            len: 100,
        };
        let rpc = rpc.clone();
        let addr = addr.clone();
        async move {
            rpc.call::<_, CheckpointFetchResponse>(
                &addr,
                method::CHECKPOINT_FETCH,
                &req,
                FETCH_TIMEOUT,
            )
            .await
        }
    };
    let current = fetch(&prepared.id, 1, "CURRENT").await.unwrap();
    assert!(current.data.starts_with(b"MANIFEST-"));
    let escape = format!("../../{}/../secret", prepared.id);
    for name in [
        "../secret",
        "/etc/passwd",
        "..",
        "",
        "not-listed",
        escape.as_str(),
    ] {
        match fetch(&prepared.id, 1, name).await {
            Err(RpcError::Remote(_)) => {}
            other => panic!("{name:?} gave {other:?}"),
        }
    }
    // Ids are looked up, never used as paths.
    assert!(matches!(
        fetch("../primary", 1, "CURRENT").await,
        Err(RpcError::Remote(_))
    ));
    // A checkpoint only serves its own partition.
    assert!(matches!(
        fetch(&prepared.id, 9, "CURRENT").await,
        Err(RpcError::Remote(_))
    ));
}

#[tokio::test]
async fn truncated_transfer_fails_and_leaves_the_replica_alone() {
    let root = tempfile::tempdir().unwrap();
    let (addr, _primary) = start_primary(root.path(), Tamper::LongerListing).await;
    let db_dir = root.path().join("learner").join("1.2");
    stale_replica(&db_dir);
    let staging = staging_dir(&db_dir).unwrap();
    let err = download(&RpcClient::new(), &addr, GPID, Ballot(3), &staging)
        .await
        .unwrap_err();
    assert!(matches!(err, LearnError::Truncated { .. }), "{err}");
    assert!(!staging.exists());
    // Nothing to install: the replica keeps its own database.
    assert!(matches!(
        install(&staging, &db_dir),
        Err(LearnError::NotACheckpoint(_))
    ));
    let engine = RocksEngine::open(&db_dir, &RocksOptions::default()).unwrap();
    assert_eq!(engine.applied_decree().unwrap(), Decree(3));
    assert_eq!(engine.get(b"\x02stale").unwrap(), Some(b"old".to_vec()));
}

#[tokio::test]
async fn listing_that_escapes_staging_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let (addr, _primary) = start_primary(root.path(), Tamper::EscapingName).await;
    let learner = root.path().join("learner");
    let staging = staging_dir(&learner.join("1.2")).unwrap();
    let err = download(&RpcClient::new(), &addr, GPID, Ballot(3), &staging)
        .await
        .unwrap_err();
    assert!(matches!(err, LearnError::BadListing(_)), "{err}");
    assert!(!staging.exists());
    assert!(!learner.join("escaped").exists());
}

#[tokio::test]
async fn unreachable_primary_is_an_rpc_error() {
    let root = tempfile::tempdir().unwrap();
    // Bind and drop to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let staging = root.path().join("1.2.learn");
    let err = download(&RpcClient::new(), &addr, GPID, Ballot(1), &staging)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LearnError::Rpc {
                method: "prepare",
                ..
            }
        ),
        "{err}"
    );
}
