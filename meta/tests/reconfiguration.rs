//! The real MetaService over TCP, with fake servers that beacon it: tables
//! get their members, a dead primary is replaced by the longest log (and the
//! change is on disk), a primary's removal request is granted, a learner
//! fills a dead member's slot and is promoted only once the primary counts
//! it, and a restarted sole primary gets a new ballot.
//!
//! The rules themselves are pure functions, unit-tested beside them
//! (`src/reconfig/tests.rs`); this file stays an integration test because it
//! drives the whole service (RPC, beacons, liveness, the store on disk)
//! through the crate's public API only.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use petrel_common::ids::{Ballot, NodeAddr};
use petrel_common::msg::{
    method, AddLearnerRequest, AddLearnerResponse, AssignmentMsg, BeaconRequest, BeaconResponse,
    CreateTableRequest, CreateTableResponse, PartitionConfigMsg, QueryTableRequest,
    QueryTableResponse, ReplicaInfoMsg, ReplicaRole, TableMapMsg,
};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::RpcError;
use petrel_meta::config::MetaConfig;
use petrel_meta::state::MetaState;
use petrel_meta::store::Store;
use petrel_meta::MetaService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const RPC_TIMEOUT: Duration = Duration::from_secs(2);
/// Every wait for a change gives up after this long.
const PATIENCE: Duration = Duration::from_secs(10);
const GRACE_MS: u64 = 300;

struct Meta {
    addr: String,
    dir: tempfile::TempDir,
    rpc: RpcClient,
    task: JoinHandle<()>,
}

impl Drop for Meta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Meta {
    async fn start(dropout_delay_ms: u64) -> Meta {
        Meta::start_with(dropout_delay_ms, None).await
    }

    /// A meta that finds `saved` on disk, as after a restart.
    async fn start_with(dropout_delay_ms: u64, saved: Option<&MetaState>) -> Meta {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(st) = saved {
            Store::open(dir.path())
                .expect("store")
                .save(st)
                .expect("save");
        }
        let config = MetaConfig {
            listen: "127.0.0.1:0".to_string(),
            data_dir: dir.path().to_path_buf(),
            lease_ms: 100,
            grace_ms: GRACE_MS,
            dropout_delay_ms,
            reconfig_interval_ms: 20,
            balance: false,
            raft_heartbeat_ms: 10,
            raft_election_min_ms: 20,
            raft_election_max_ms: 40,
            ..MetaConfig::default()
        };
        config.validate().expect("valid test config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let service = Arc::new(MetaService::open(config).await.expect("open"));
        let task = tokio::spawn(service.serve(listener));
        Meta {
            addr,
            dir,
            rpc: RpcClient::new(),
            task,
        }
    }

    async fn create_table(
        &self,
        name: &str,
        partitions: u32,
        replicas: u32,
    ) -> Result<TableMapMsg, RpcError> {
        let resp: CreateTableResponse = self
            .rpc
            .call(
                &self.addr,
                method::CREATE_TABLE,
                &CreateTableRequest {
                    name: name.to_string(),
                    partition_count: partitions,
                    replica_count: replicas,
                },
                RPC_TIMEOUT,
            )
            .await?;
        Ok(resp.table.expect("table in answer"))
    }

    async fn table(&self, name: &str) -> TableMapMsg {
        let resp: QueryTableResponse = self
            .rpc
            .call(
                &self.addr,
                method::QUERY_TABLE,
                &QueryTableRequest {
                    name: name.to_string(),
                },
                RPC_TIMEOUT,
            )
            .await
            .expect("query table");
        resp.table.expect("table exists")
    }

    async fn add_learner(
        &self,
        table: &str,
        partition_id: u32,
        node: &str,
    ) -> Result<(), RpcError> {
        self.rpc
            .call::<_, AddLearnerResponse>(
                &self.addr,
                method::ADD_LEARNER,
                &AddLearnerRequest {
                    table: table.to_string(),
                    partition_id,
                    node: node.to_string(),
                },
                RPC_TIMEOUT,
            )
            .await
            .map(|_| ())
    }
}

/// A server that only beacons: it reports, for each replica meta assigned
/// it, the role the configuration gives it and the decrees the test sets.
struct Fake {
    addr: String,
    assignments: Vec<AssignmentMsg>,
    committed: u64,
    prepared: u64,
    ready_learners: Vec<String>,
    unreachable: Vec<String>,
    /// Restarted: reports replicas at or below this ballot as inactive.
    inactive_through: Option<u64>,
}

impl Fake {
    fn new(port: u16) -> Fake {
        Fake {
            addr: format!("127.0.0.1:{port}"),
            assignments: Vec::new(),
            committed: 0,
            prepared: 0,
            ready_learners: Vec::new(),
            unreachable: Vec::new(),
            inactive_through: None,
        }
    }

    fn report(&self, a: &AssignmentMsg) -> Option<ReplicaInfoMsg> {
        let c = a.config.as_ref()?;
        let role = if self.inactive_through.is_some_and(|b| c.ballot <= b) {
            ReplicaRole::Inactive
        } else if c.primary == self.addr {
            ReplicaRole::Primary
        } else if c.secondaries.contains(&self.addr) {
            ReplicaRole::Secondary
        } else if a.learner {
            ReplicaRole::Learner
        } else {
            ReplicaRole::Inactive
        };
        let primary = role == ReplicaRole::Primary;
        Some(
            ReplicaInfoMsg {
                table_id: c.table_id,
                partition_id: c.partition_id,
                ballot: c.ballot,
                last_committed_decree: self.committed,
                last_prepared_decree: self.prepared,
                ready_learners: if primary {
                    self.ready_learners.clone()
                } else {
                    Vec::new()
                },
                unreachable: if primary {
                    self.unreachable.clone()
                } else {
                    Vec::new()
                },
                ..Default::default()
            }
            .with_role(role),
        )
    }

    async fn beacon(&mut self, meta: &Meta) {
        let req = BeaconRequest {
            node: self.addr.clone(),
            replicas: self
                .assignments
                .iter()
                .filter_map(|a| self.report(a))
                .collect(),
        };
        let resp: BeaconResponse = meta
            .rpc
            .call(&meta.addr, method::BEACON, &req, RPC_TIMEOUT)
            .await
            .expect("beacon");
        assert_eq!(resp.lease_ms, 100);
        self.assignments = resp.assignments;
    }

    /// The configuration of partition 0 as this server was last told, if
    /// it hosts it.
    fn config(&self) -> Option<&PartitionConfigMsg> {
        self.assignments.first().and_then(|a| a.config.as_ref())
    }

    fn is_learner(&self) -> bool {
        self.assignments.first().is_some_and(|a| a.learner)
    }

    fn learners_to_invite(&self) -> Vec<String> {
        self.assignments
            .first()
            .map(|a| a.learners.clone())
            .unwrap_or_default()
    }
}

fn fakes(n: u16) -> Vec<Fake> {
    (0..n).map(|i| Fake::new(41_000 + i)).collect()
}

fn index_of(fakes: &[Fake], addr: &str) -> usize {
    fakes
        .iter()
        .position(|f| f.addr == addr)
        .expect("a fake server")
}

/// Beacons every server in `alive` (indices into `fakes`) every 20 ms until
/// `done` holds for the table meta serves and the servers' latest answers.
async fn beacon_until(
    meta: &Meta,
    fakes: &mut [Fake],
    alive: &[usize],
    what: &str,
    done: impl Fn(&TableMapMsg, &[Fake]) -> bool,
) -> TableMapMsg {
    let deadline = Instant::now() + PATIENCE;
    loop {
        for &i in alive {
            fakes[i].beacon(meta).await;
        }
        let table = meta.table("t").await;
        if done(&table, fakes) {
            return table;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting: {what}; table {table:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Beacons `alive` for `how_long`, every 20 ms.
async fn beacon_for(meta: &Meta, fakes: &mut [Fake], alive: &[usize], how_long: Duration) {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        for &i in alive {
            fakes[i].beacon(meta).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn register(meta: &Meta, fakes: &mut [Fake]) {
    for f in fakes.iter_mut() {
        f.beacon(meta).await;
    }
}

/// Registers every server and creates table `t`. Beacons go again until
/// meta counts all of them alive at once: on a loaded machine the first
/// beacon can be older than the 100 ms lease when the table is created.
async fn register_and_create(
    meta: &Meta,
    fakes: &mut [Fake],
    partitions: u32,
    replicas: u32,
) -> TableMapMsg {
    let deadline = Instant::now() + PATIENCE;
    loop {
        register(meta, fakes).await;
        match meta.create_table("t", partitions, replicas).await {
            Ok(table) => return table,
            Err(e) if e.to_string().contains("not enough live servers") => {
                assert!(Instant::now() < deadline, "create table: {e}");
            }
            Err(e) => panic!("create table: {e}"),
        }
    }
}

fn members(c: &PartitionConfigMsg) -> BTreeSet<String> {
    std::iter::once(c.primary.clone())
        .chain(c.secondaries.iter().cloned())
        .filter(|m| !m.is_empty())
        .collect()
}

#[tokio::test]
async fn a_dead_primary_is_replaced_by_the_longest_log_on_disk_before_anyone_hears_of_it() {
    let meta = Meta::start(300_000).await;
    let mut servers = fakes(3);
    let created = register_and_create(&meta, &mut servers, 1, 3).await;
    let c = &created.partitions[0];
    assert_eq!(c.ballot, 1);
    assert_eq!(members(c).len(), 3, "three members on three servers: {c:?}");

    // The primary and the second secondary hold decree 21, the first only 19.
    let p = index_of(&servers, &c.primary);
    let short = index_of(&servers, &c.secondaries[0]);
    let long = index_of(&servers, &c.secondaries[1]);
    for (i, prepared) in [(p, 21), (short, 19), (long, 21)] {
        servers[i].committed = 18;
        servers[i].prepared = prepared;
    }
    // Two rounds of reports at ballot 1, then the primary goes silent.
    beacon_for(&meta, &mut servers, &[0, 1, 2], Duration::from_millis(100)).await;
    let silent_since = Instant::now();
    let table = beacon_until(&meta, &mut servers, &[short, long], "failover", |t, _| {
        t.partitions[0].ballot == 2
    })
    .await;
    let took = silent_since.elapsed();
    let c = &table.partitions[0];
    assert_eq!(c.primary, servers[long].addr, "the longest log leads");
    assert_eq!(c.secondaries, vec![servers[short].addr.clone()]);
    assert_eq!(table.version, 2);
    assert!(
        took >= Duration::from_millis(GRACE_MS - 50),
        "not before the grace period: {took:?}"
    );

    // The survivors hear of it in their beacon answers.
    beacon_until(
        &meta,
        &mut servers,
        &[short, long],
        "survivors told",
        |_, f| {
            f[short].config().is_some_and(|c| c.ballot == 2)
                && f[long].config().is_some_and(|c| c.ballot == 2)
        },
    )
    .await;
    assert_eq!(
        servers[long].config().map(|c| c.primary.clone()),
        Some(servers[long].addr.clone())
    );

    // And it is on disk, in the raft log.
    let saved = petrel_meta::raft::stored_state(meta.dir.path())
        .expect("read")
        .expect("stored state");
    let on_disk = &saved.tables["t"].partitions[0];
    assert_eq!(on_disk.ballot, Ballot(2));
    assert_eq!(on_disk.primary, Some(NodeAddr(servers[long].addr.clone())));
    assert_eq!(
        saved
            .dropped
            .values()
            .flatten()
            .cloned()
            .collect::<Vec<_>>(),
        vec![NodeAddr(servers[p].addr.clone())],
        "the old primary is remembered as dropped"
    );

    // The old primary comes back: it is no member any more; as a dropped
    // member that is alive again it is the preferred learner.
    servers[p].beacon(&meta).await;
    assert!(servers[p].assignments.iter().all(|a| a.learner));
    beacon_until(
        &meta,
        &mut servers,
        &[p, short, long],
        "old primary learns",
        |_, f| f[p].is_learner() && f[long].learners_to_invite() == vec![f[p].addr.clone()],
    )
    .await;
}

#[tokio::test]
async fn a_secondary_the_primary_cannot_reach_is_removed() {
    let meta = Meta::start(300_000).await;
    let mut servers = fakes(3);
    let c = register_and_create(&meta, &mut servers, 1, 3)
        .await
        .partitions[0]
        .clone();
    let p = index_of(&servers, &c.primary);
    let gone = index_of(&servers, &c.secondaries[1]);
    beacon_for(&meta, &mut servers, &[0, 1, 2], Duration::from_millis(60)).await;
    servers[p].unreachable = vec![servers[gone].addr.clone()];
    let table = beacon_until(&meta, &mut servers, &[0, 1, 2], "removal", |t, _| {
        t.partitions[0].ballot == 2
    })
    .await;
    let c2 = &table.partitions[0];
    assert_eq!(c2.primary, c.primary);
    assert_eq!(c2.secondaries, vec![c.secondaries[0].clone()]);
    // The removed server is alive, but avoided as a learner for now.
    beacon_for(&meta, &mut servers, &[0, 1, 2], Duration::from_millis(200)).await;
    assert!(
        servers[gone].assignments.is_empty(),
        "{:?}",
        servers[gone].assignments
    );
    assert_eq!(meta.table("t").await.partitions[0].ballot, 2);
}

#[tokio::test]
async fn a_learner_replaces_a_member_dead_past_the_dropout_delay_and_joins_once_ready() {
    const DROPOUT_MS: u64 = 800;
    let meta = Meta::start(DROPOUT_MS).await;
    let mut servers = fakes(4);
    let c = register_and_create(&meta, &mut servers, 1, 3)
        .await
        .partitions[0]
        .clone();
    let p = index_of(&servers, &c.primary);
    let dead = index_of(&servers, &c.secondaries[0]);
    let kept = index_of(&servers, &c.secondaries[1]);
    let spare = (0..4)
        .find(|i| ![p, dead, kept].contains(i))
        .expect("a fourth server");
    for f in servers.iter_mut() {
        f.committed = 7;
        f.prepared = 7;
    }
    beacon_for(
        &meta,
        &mut servers,
        &[0, 1, 2, 3],
        Duration::from_millis(60),
    )
    .await;
    let silent_since = Instant::now();
    let up = [p, kept, spare];

    // The dead secondary leaves after the grace period...
    beacon_until(
        &meta,
        &mut servers,
        &up,
        "dead secondary removed",
        |t, _| t.partitions[0].ballot == 2,
    )
    .await;
    if silent_since.elapsed() < Duration::from_millis(DROPOUT_MS - 200) {
        assert!(
            !servers[spare].is_learner() && servers[p].learners_to_invite().is_empty(),
            "its slot is held for the dropout delay"
        );
    }
    // ...and after the dropout delay the spare server learns.
    beacon_until(&meta, &mut servers, &up, "learner assigned", |_, f| {
        f[spare].is_learner() && f[p].learners_to_invite() == vec![f[spare].addr.clone()]
    })
    .await;
    assert!(
        silent_since.elapsed() >= Duration::from_millis(DROPOUT_MS - 100),
        "not before the dropout delay: {:?}",
        silent_since.elapsed()
    );
    assert_eq!(servers[spare].config().map(|c| c.ballot), Some(2));

    // Caught up by its own numbers, but the primary does not count it yet.
    beacon_for(&meta, &mut servers, &up, Duration::from_millis(300)).await;
    let t = meta.table("t").await;
    assert_eq!(
        t.partitions[0].ballot, 2,
        "not promoted before the primary says so"
    );
    assert!(servers[spare].is_learner());

    servers[p].ready_learners = vec![servers[spare].addr.clone()];
    let t = beacon_until(&meta, &mut servers, &up, "learner promoted", |t, _| {
        t.partitions[0].ballot == 3
    })
    .await;
    let c3 = &t.partitions[0];
    assert_eq!(c3.primary, c.primary);
    assert_eq!(
        members(c3),
        [&servers[p].addr, &servers[kept].addr, &servers[spare].addr]
            .into_iter()
            .cloned()
            .collect()
    );
    beacon_until(&meta, &mut servers, &up, "everyone told", |_, f| {
        f[spare].config().is_some_and(|c| c.ballot == 3)
            && !f[spare].is_learner()
            && f[p].learners_to_invite().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_restarted_sole_primary_gets_a_new_ballot_and_serves_again() {
    let meta = Meta::start(300_000).await;
    let mut servers = fakes(1);
    let c = register_and_create(&meta, &mut servers, 1, 1)
        .await
        .partitions[0]
        .clone();
    assert_eq!(c.primary, servers[0].addr);
    servers[0].prepared = 5;
    servers[0].committed = 5;
    beacon_for(&meta, &mut servers, &[0], Duration::from_millis(60)).await;

    // Killed for longer than the grace period: the only copy keeps its place.
    tokio::time::sleep(Duration::from_millis(GRACE_MS * 2)).await;
    let t = meta.table("t").await;
    assert_eq!(t.partitions[0].ballot, 1);
    assert_eq!(t.partitions[0].primary, servers[0].addr);

    // Restarted: it recovers the replica as inactive at ballot 1.
    servers[0].inactive_through = Some(1);
    let t = beacon_until(&meta, &mut servers, &[0], "new ballot", |t, _| {
        t.partitions[0].ballot == 2
    })
    .await;
    assert_eq!(t.partitions[0].primary, servers[0].addr);
    beacon_until(&meta, &mut servers, &[0], "told", |_, f| {
        f[0].config().is_some_and(|c| c.ballot == 2)
    })
    .await;
    // At ballot 2 it reports as primary again: nothing more changes.
    beacon_for(&meta, &mut servers, &[0], Duration::from_millis(150)).await;
    assert_eq!(meta.table("t").await.partitions[0].ballot, 2);
}

#[tokio::test]
async fn an_admin_learner_request_is_checked_and_skips_the_dropout_delay() {
    let meta = Meta::start(300_000).await;
    let mut servers = fakes(3);
    let c = register_and_create(&meta, &mut servers, 1, 2)
        .await
        .partitions[0]
        .clone();
    let p = index_of(&servers, &c.primary);
    let dead = index_of(&servers, &c.secondaries[0]);
    let spare = (0..3)
        .find(|i| ![p, dead].contains(i))
        .expect("a third server");

    let e = meta.add_learner("nope", 0, "").await.expect_err("no table");
    assert!(e.to_string().contains("no table named 'nope'"), "{e}");
    let e = meta
        .add_learner("t", 4, "")
        .await
        .expect_err("no partition");
    assert!(e.to_string().contains("has no partition 4"), "{e}");
    let e = meta
        .add_learner("t", 0, "")
        .await
        .expect_err("the partition is full");
    assert!(e.to_string().contains("already has 2 members"), "{e}");

    // The secondary dies: it is removed, and its slot is held for 5 minutes.
    beacon_for(&meta, &mut servers, &[0, 1, 2], Duration::from_millis(60)).await;
    beacon_until(&meta, &mut servers, &[p, spare], "removal", |t, _| {
        t.partitions[0].ballot == 2
    })
    .await;
    beacon_for(&meta, &mut servers, &[p, spare], Duration::from_millis(100)).await;
    assert!(!servers[spare].is_learner(), "the slot is held");
    let e = meta
        .add_learner("t", 0, &c.primary)
        .await
        .expect_err("a member cannot learn");
    assert!(e.to_string().contains("already a member"), "{e}");
    let e = meta
        .add_learner("t", 0, "127.0.0.1:1")
        .await
        .expect_err("a stranger cannot learn");
    assert!(e.to_string().contains("has registered"), "{e}");

    meta.add_learner("t", 0, "").await.expect("accepted");
    beacon_until(&meta, &mut servers, &[p, spare], "admin learner", |_, f| {
        f[spare].is_learner() && f[p].learners_to_invite() == vec![f[spare].addr.clone()]
    })
    .await;
}

#[tokio::test]
async fn after_a_meta_restart_nothing_changes_before_the_servers_had_a_grace_period_to_report() {
    let servers_before = fakes(3);
    let addrs: Vec<NodeAddr> = servers_before
        .iter()
        .map(|f| NodeAddr(f.addr.clone()))
        .collect();
    let mut saved = MetaState::default();
    for a in &addrs {
        saved.register_node(a);
    }
    saved.create_table("t", 1, 3, &addrs).expect("create");
    let started = Instant::now();
    let meta = Meta::start_with(300_000, Some(&saved)).await;
    let c = meta.table("t").await.partitions[0].clone();
    let mut servers = fakes(3);
    let p = index_of(&servers, &c.primary);
    let others: Vec<usize> = (0..3).filter(|i| *i != p).collect();

    // The primary has not beaconed (yet) since meta restarted: meta must
    // not take that for a death before a grace period has passed.
    while started.elapsed() < Duration::from_millis(GRACE_MS - 100) {
        for &i in &others {
            servers[i].beacon(&meta).await;
        }
        let t = meta.table("t").await;
        if started.elapsed() < Duration::from_millis(GRACE_MS - 50) {
            assert_eq!(
                t.partitions[0].ballot, 1,
                "changed during the start-up grace"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // It never comes back: after the grace period a secondary takes over.
    let t = beacon_until(&meta, &mut servers, &others, "failover", |t, _| {
        t.partitions[0].ballot == 2
    })
    .await;
    assert_ne!(t.partitions[0].primary, c.primary);
    assert!(started.elapsed() >= Duration::from_millis(GRACE_MS));
}
