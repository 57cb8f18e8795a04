//! Meta as a Raft group (`openraft`): 1, 3 or 5 members replicate meta's
//! durable state; the leader alone decides and answers.
//!
//! - [`types`]: what an entry carries (the whole [`MetaState`] after one
//!   change), member ids derived from addresses.
//! - [`log_store`]: the Raft log and vote in files under `raft/`, fsync'd.
//! - [`state_machine`]: applies entries to the state the service reads;
//!   snapshots in `raft/snapshot.json`.
//! - [`network`]: Raft messages over Petrel's RPC layer.
//!
//! [`MetaRaft`] is what the service uses: propose a new state and wait
//! until it is committed and applied; check that this member leads (and has
//! applied everything its term committed) before answering; name the leader
//! when it does not; change the membership.

pub mod log_store;
pub mod network;
pub mod state_machine;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, RaftMetrics, ServerState, SnapshotPolicy};
use petrel_common::msg::{method, MetaMemberMsg, MetaStatusRequest, MetaStatusResponse};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::ServiceError;
use tracing::{info, warn};

use crate::config::MetaConfig;
use crate::state::MetaState;
use types::{node_id, Node, NodeId, Proposal, Raft};

/// The newest state stored under meta's `data_dir` (the log's last state,
/// else the snapshot's), read without changing anything: for tools and tests.
pub fn stored_state(data_dir: &std::path::Path) -> std::io::Result<Option<MetaState>> {
    let dir = data_dir.join("raft");
    if let Some(st) = log_store::last_state_in(&dir)? {
        return Ok(Some(st));
    }
    state_machine::snapshot_state_in(&dir)
}

/// How long the leader waits for a new member to answer before adding it.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// This meta's member of the group.
pub struct MetaRaft {
    raft: Raft,
    id: NodeId,
    addr: String,
    /// The term in which this member last confirmed its leadership through
    /// a quorum and caught its state up to everything committed before.
    ready_term: AtomicU64,
    /// A quorum's acknowledgement younger than this confirms leadership
    /// without another round: no member votes for anyone else within
    /// `raft_election_max_ms` of hearing from the leader.
    fresh_ms: u64,
    rpc: RpcClient,
}

type Metrics = RaftMetrics<NodeId, Node>;

fn fatal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("meta's raft stopped: {e}"))
}

impl MetaRaft {
    /// Opens the log and state machine in `config.data_dir/raft` (the
    /// state machine fills `state`) and starts the member. On a first
    /// start it forms the group of `config.members` (or of itself alone),
    /// unless it joins. Returns whether this was a first start.
    pub async fn start(
        config: &MetaConfig,
        state: Arc<Mutex<MetaState>>,
        rpc: RpcClient,
    ) -> anyhow::Result<(MetaRaft, bool)> {
        let dir = config.data_dir.join("raft");
        let log = log_store::LogStore::open(&dir)
            .with_context(|| format!("opening the raft log in {}", dir.display()))?;
        let first_start = log.is_pristine();
        let sm = state_machine::StateMachine::open(&dir, state)
            .with_context(|| format!("opening the raft snapshot in {}", dir.display()))?;
        let raft_config = openraft::Config {
            cluster_name: "petrel-meta".to_string(),
            heartbeat_interval: config.raft_heartbeat_ms,
            election_timeout_min: config.raft_election_min_ms,
            election_timeout_max: config.raft_election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.raft_snapshot_entries),
            // A follower a little behind catches up from the log, not a snapshot.
            max_in_snapshot_log_to_keep: 100,
            ..openraft::Config::default()
        }
        .validate()
        .context("raft settings")?;
        let me = config.me();
        let id = node_id(&me);
        let raft = Raft::new(
            id,
            Arc::new(raft_config),
            network::Network::new(rpc.clone()),
            log,
            sm,
        )
        .await
        .context("starting raft")?;
        if first_start && !config.join {
            let members: BTreeMap<NodeId, Node> = config
                .initial_members()
                .into_iter()
                .map(|a| (node_id(&a), BasicNode::new(a)))
                .collect();
            info!(members = ?config.initial_members(), "forming the meta group");
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(anyhow::anyhow!("forming the meta group: {e}")),
            }
        } else if first_start {
            info!(%me, "waiting to be added to a meta group (petrel meta add {me})");
        }
        Ok((
            MetaRaft {
                raft,
                id,
                addr: me,
                ready_term: AtomicU64::new(0),
                fresh_ms: config
                    .raft_election_max_ms
                    .saturating_sub(config.raft_heartbeat_ms),
                rpc,
            },
            first_start,
        ))
    }

    /// This member's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn metrics(&self) -> Metrics {
        self.raft.metrics().borrow().clone()
    }

    /// A watch of this member's Raft metrics (role, term, leader).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Metrics> {
        self.raft.metrics()
    }

    /// Whether this member believes it leads (unconfirmed).
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// The leader's address as this member knows it.
    pub fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// The redirect a follower answers with.
    pub fn not_leader(&self) -> ServiceError {
        ServiceError::NotLeader(self.leader_addr())
    }

    /// Succeeds only on the leader, once it has confirmed through a quorum
    /// that it still leads and has applied everything committed before:
    /// what it answers then is current. Redirects otherwise.
    pub async fn check_leader(&self) -> Result<(), ServiceError> {
        let (leader, term, acked) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_leader, m.current_term, m.millis_since_quorum_ack)
        };
        if leader != Some(self.id) {
            return Err(self.not_leader());
        }
        if self.ready_term.load(Relaxed) == term && acked.is_some_and(|ms| ms < self.fresh_ms) {
            return Ok(());
        }
        self.raft
            .ensure_linearizable()
            .await
            .map_err(|e| self.check_error(e))?;
        if self.raft.metrics().borrow().current_term == term {
            self.ready_term.store(term, Relaxed);
        }
        Ok(())
    }

    fn check_error(&self, e: RaftError<NodeId, CheckIsLeaderError<NodeId, Node>>) -> ServiceError {
        match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => {
                ServiceError::NotLeader(f.leader_node.map(|n| n.addr))
            }
            RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => {
                ServiceError::Unavailable(format!(
                    "this meta leader cannot reach a quorum of the meta group: {q}"
                ))
            }
            RaftError::Fatal(f) => fatal(f),
        }
    }

    fn write_error(&self, e: RaftError<NodeId, ClientWriteError<NodeId, Node>>) -> ServiceError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                ServiceError::NotLeader(f.leader_node.map(|n| n.addr))
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
                ServiceError::Invalid(c.to_string())
            }
            RaftError::Fatal(f) => fatal(f),
        }
    }

    /// Replicates `state` as meta's new state; returns once a quorum
    /// stored it and this member applied it.
    pub async fn propose(&self, state: MetaState) -> Result<(), ServiceError> {
        let started = std::time::Instant::now();
        self.raft
            .client_write(Proposal { state })
            .await
            .map_err(|e| self.write_error(e))?;
        metrics::histogram!("petrel_meta_raft_commit_seconds").record(started.elapsed());
        Ok(())
    }

    /// Hands a peer's Raft message to openraft.
    pub async fn handle(&self, m: u16, body: Bytes) -> Result<Bytes, ServiceError> {
        network::handle(&self.raft, m, body).await
    }

    fn members_of(m: &Metrics) -> Vec<MetaMemberMsg> {
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, n)| MetaMemberMsg {
                addr: n.addr.clone(),
                id: *id,
                voter: voters.contains(id),
            })
            .collect()
    }

    /// This member's own view of the group.
    pub fn status(&self) -> MetaStatusResponse {
        let m = self.metrics();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        MetaStatusResponse {
            addr: self.addr.clone(),
            id: self.id,
            role: role.to_string(),
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            leader: self.leader_addr().unwrap_or_default(),
            members: Self::members_of(&m),
        }
    }

    /// Adds the meta at `addr` (started with `join`): as a learner until it
    /// has caught up, then as a voter. Refuses a meta that belongs to
    /// another group.
    pub async fn add_member(&self, addr: &str) -> Result<Vec<MetaMemberMsg>, ServiceError> {
        self.check_leader().await?;
        let theirs: MetaStatusResponse = self
            .rpc
            .call(
                addr,
                method::META_STATUS,
                &MetaStatusRequest {},
                STATUS_TIMEOUT,
            )
            .await
            .map_err(|e| ServiceError::Unavailable(format!("meta {addr} does not answer: {e}")))?;
        if theirs.addr != addr {
            return Err(ServiceError::Invalid(format!(
                "the meta at {addr} calls itself {}; add it by that address",
                theirs.addr
            )));
        }
        let ours: BTreeSet<String> = self.status().members.into_iter().map(|m| m.addr).collect();
        if !theirs.members.is_empty() && !theirs.members.iter().any(|m| ours.contains(&m.addr)) {
            return Err(ServiceError::Invalid(format!(
                "the meta at {addr} belongs to another group ({}); start it afresh with join = true",
                theirs
                    .members
                    .iter()
                    .map(|m| m.addr.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let id = node_id(addr);
        info!(%addr, id, "adding a meta member: learner first");
        self.raft
            .add_learner(id, BasicNode::new(addr), true)
            .await
            .map_err(|e| self.write_error(e))?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(|e| self.write_error(e))?;
        info!(%addr, id, "meta member added");
        Ok(Self::members_of(&self.metrics()))
    }

    /// Removes the meta at `addr` from the group.
    pub async fn remove_member(&self, addr: &str) -> Result<Vec<MetaMemberMsg>, ServiceError> {
        self.check_leader().await?;
        let id = node_id(addr);
        let m = self.metrics();
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(ServiceError::NotFound(format!(
                "{addr} is not a member of the meta group"
            )));
        }
        let voter = membership.voter_ids().any(|v| v == id);
        let change = if voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        info!(%addr, id, "removing a meta member");
        self.raft
            .change_membership(change, false)
            .await
            .map_err(|e| self.write_error(e))?;
        Ok(Self::members_of(&self.metrics()))
    }

    /// Stops the member (its files stay as they are).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "raft did not stop cleanly");
        }
    }
}
