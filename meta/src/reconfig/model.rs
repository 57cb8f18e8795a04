//! What meta's decisions are made of: the tunables, what servers report,
//! each partition's health, the snapshot a round decides on, and the
//! actions it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use crate::liveness::Liveness;

/// How long meta waits for a member dropped because its server died before
/// it builds a replacement elsewhere. Pegasus waits 10 minutes; 5 minutes
/// still covers a server restart or a short maintenance without copying a
/// replica, and halves the time a partition runs one replica short.
pub(crate) const DEFAULT_DROPOUT_DELAY: Duration = Duration::from_secs(5 * 60);

/// A server is worth a primary switch when it leads this many more
/// partitions than a caught-up secondary of one of them.
pub(crate) const DEFAULT_BALANCE_THRESHOLD: u32 = 2;

/// At most this many planned primary switches per table per round, so
/// balancing never moves many primaries at once (each switch costs its
/// partition a short pause).
pub(crate) const DEFAULT_MAX_PRIMARY_SWITCHES: usize = 1;

/// How long meta waits for every alive member of a partition whose primary
/// restarted to report at the current ballot before it picks the longest log
/// among those that did (meta's default grace period).
pub(crate) const DEFAULT_RESTART_WAIT: Duration = Duration::from_secs(3);

/// At most this many replica moves in flight in the whole cluster (each
/// copies a partition to its new server while it keeps serving).
pub(crate) const DEFAULT_MAX_MOVES: usize = 2;

/// Tunables of the decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReconfigParams {
    /// See [`DEFAULT_DROPOUT_DELAY`].
    pub(crate) dropout_delay: Duration,
    /// See [`DEFAULT_BALANCE_THRESHOLD`]; at least 2 (1 would flap).
    pub(crate) balance_threshold: u32,
    /// See [`DEFAULT_MAX_PRIMARY_SWITCHES`]; 0 turns balancing off.
    pub(crate) max_primary_switches: usize,
    /// See [`DEFAULT_RESTART_WAIT`].
    pub(crate) restart_wait: Duration,
    /// See [`DEFAULT_MAX_MOVES`]; 0 turns replica moves (balancing and
    /// draining) off.
    pub(crate) max_moves: usize,
    /// Whether replicas move towards emptier servers (draining servers are
    /// emptied either way).
    pub(crate) balance_replicas: bool,
}

impl Default for ReconfigParams {
    fn default() -> Self {
        ReconfigParams {
            dropout_delay: DEFAULT_DROPOUT_DELAY,
            balance_threshold: DEFAULT_BALANCE_THRESHOLD,
            max_primary_switches: DEFAULT_MAX_PRIMARY_SWITCHES,
            restart_wait: DEFAULT_RESTART_WAIT,
            max_moves: DEFAULT_MAX_MOVES,
            balance_replicas: true,
        }
    }
}

/// The role a replica reports for itself: the wire enum, one definition
/// for servers, meta and the CLI.
pub(crate) use petrel_common::msg::ReplicaRole;

/// What one server said about one replica it hosts, in its latest beacon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReplicaReport {
    pub(crate) node: NodeAddr,
    pub(crate) gpid: Gpid,
    /// The ballot the replica was at when it reported.
    pub(crate) ballot: Ballot,
    pub(crate) last_committed: Decree,
    pub(crate) last_prepared: Decree,
    pub(crate) role: ReplicaRole,
    /// (From a primary) learners that caught up and count for commit.
    pub(crate) ready_learners: BTreeSet<NodeAddr>,
    /// (From a primary) members or learners it cannot reach and asks meta
    /// to remove, in the order it noticed them.
    pub(crate) unreachable: Vec<NodeAddr>,
}

impl ReplicaReport {
    /// A report with no learner or reachability news.
    #[cfg(test)]
    pub(crate) fn new(
        node: NodeAddr,
        gpid: Gpid,
        ballot: Ballot,
        role: ReplicaRole,
        last_committed: Decree,
        last_prepared: Decree,
    ) -> Self {
        ReplicaReport {
            node,
            gpid,
            ballot,
            last_committed,
            last_prepared,
            role,
            ready_learners: BTreeSet::new(),
            unreachable: Vec::new(),
        }
    }

    /// What `node` said about one replica in a beacon.
    pub(crate) fn from_msg(node: &NodeAddr, m: &petrel_common::msg::ReplicaInfoMsg) -> Self {
        let mut unreachable: Vec<NodeAddr> = Vec::new();
        for u in m.unreachable.iter().filter(|u| !u.is_empty()) {
            let u = NodeAddr(u.clone());
            if !unreachable.contains(&u) {
                unreachable.push(u);
            }
        }
        ReplicaReport {
            node: node.clone(),
            gpid: Gpid::new(m.table_id, m.partition_id),
            ballot: Ballot(m.ballot),
            last_committed: Decree(m.last_committed_decree),
            last_prepared: Decree(m.last_prepared_decree),
            role: m.reported_role(),
            ready_learners: m
                .ready_learners
                .iter()
                .filter(|l| !l.is_empty())
                .map(|l| NodeAddr(l.clone()))
                .collect(),
            unreachable,
        }
    }
}

/// Which servers are alive, and for how long the others have been silent.
///
/// A server meta never heard from counts as dead and silent for zero time:
/// the service should record its own start as a baseline (so after a meta
/// restart nobody looks long dead before a grace period has passed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Health {
    alive: BTreeSet<NodeAddr>,
    silent_for: BTreeMap<NodeAddr, Duration>,
}

impl Health {
    /// Every server in `alive` alive, nobody else known.
    #[cfg(test)]
    pub(crate) fn with_alive<'a>(alive: impl IntoIterator<Item = &'a NodeAddr>) -> Self {
        let mut h = Health::default();
        for n in alive {
            h.set_alive(n);
        }
        h
    }

    /// From the service's liveness table: alive when it beaconed within
    /// `grace`, otherwise dead and silent since its last beacon (or since
    /// the liveness table's baseline, for a server not heard from since).
    pub(crate) fn from_liveness<'a>(
        liveness: &Liveness,
        nodes: impl IntoIterator<Item = &'a NodeAddr>,
        now: Instant,
        grace: Duration,
    ) -> Self {
        let mut h = Health::default();
        for n in nodes {
            if liveness.is_alive(n, now, grace) {
                h.set_alive(n);
            } else {
                h.set_dead(n, liveness.silent_for(n, now));
            }
        }
        h
    }

    pub(crate) fn set_alive(&mut self, node: &NodeAddr) {
        self.silent_for.remove(node);
        self.alive.insert(node.clone());
    }

    /// Marks `node` dead, silent for `silent_for` (since its last beacon).
    pub(crate) fn set_dead(&mut self, node: &NodeAddr, silent_for: Duration) {
        self.alive.remove(node);
        self.silent_for.insert(node.clone(), silent_for);
    }

    pub(crate) fn is_alive(&self, node: &NodeAddr) -> bool {
        self.alive.contains(node)
    }

    /// Whether `node` is dead and has been silent for longer than `delay`.
    pub(crate) fn dead_longer_than(&self, node: &NodeAddr, delay: Duration) -> bool {
        !self.is_alive(node) && self.silent_for.get(node).is_some_and(|s| *s > delay)
    }

    /// This view with `nodes` dead for good (silent for ever): a replica
    /// that failed counts as a dead member of its partition, and its slot is
    /// not held for it.
    pub(crate) fn with_failed<'a>(&self, nodes: impl IntoIterator<Item = &'a NodeAddr>) -> Health {
        let mut h = self.clone();
        for n in nodes {
            h.set_dead(n, Duration::MAX);
        }
        h
    }

    /// Alive servers, in address order.
    pub(crate) fn alive(&self) -> impl Iterator<Item = &NodeAddr> {
        self.alive.iter()
    }
}

/// Replica reports indexed by partition and server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reports {
    by_replica: BTreeMap<(Gpid, NodeAddr), ReplicaReport>,
}

impl Reports {
    /// Indexes `reports`; of two reports for one replica the one with the
    /// higher ballot, then the longer log, is kept.
    pub(crate) fn new(reports: impl IntoIterator<Item = ReplicaReport>) -> Self {
        let mut by_replica: BTreeMap<(Gpid, NodeAddr), ReplicaReport> = BTreeMap::new();
        for r in reports {
            let key = (r.gpid, r.node.clone());
            let rank = |r: &ReplicaReport| (r.ballot, r.last_prepared, r.last_committed);
            match by_replica.get(&key) {
                Some(old) if rank(old) >= rank(&r) => {}
                _ => {
                    by_replica.insert(key, r);
                }
            }
        }
        Reports { by_replica }
    }

    /// `node`'s latest report on `gpid`, whatever its ballot.
    pub(crate) fn latest(&self, gpid: Gpid, node: &NodeAddr) -> Option<&ReplicaReport> {
        self.by_replica.get(&(gpid, node.clone()))
    }

    /// Whether `node`'s latest report on `gpid` says the replica failed.
    pub(crate) fn failed(&self, gpid: Gpid, node: &NodeAddr) -> bool {
        self.latest(gpid, node)
            .is_some_and(|r| r.role == ReplicaRole::Error)
    }

    /// `node`'s report on `gpid`, only if it was made at `ballot`: a report
    /// from another ballot says nothing reliable about the current log.
    pub(crate) fn at(&self, gpid: Gpid, node: &NodeAddr, ballot: Ballot) -> Option<&ReplicaReport> {
        self.by_replica
            .get(&(gpid, node.clone()))
            .filter(|r| r.ballot == ballot)
    }
}

/// Everything the decisions look at for one table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// The table's `replica_count`.
    pub(crate) replica_count: u32,
    /// Every partition's current configuration.
    pub(crate) partitions: Vec<PartitionConfig>,
    pub(crate) health: Health,
    pub(crate) reports: Reports,
    /// Learners in progress (started, not promoted nor dropped yet).
    pub(crate) learners: BTreeMap<Gpid, BTreeSet<NodeAddr>>,
    /// Former members removed from the configuration (by a failover, a
    /// removal or a primary switch), most recent last. Meta records
    /// [`Change::removed`] here when it persists a change and may forget an
    /// entry once it is a member again or dead longer than the dropout delay.
    pub(crate) dropped: BTreeMap<Gpid, Vec<NodeAddr>>,
    /// Servers not to choose as learners of a partition for now (a learning
    /// that failed, a secondary its primary could not reach).
    pub(crate) avoid: BTreeMap<Gpid, BTreeSet<NodeAddr>>,
    /// Admin requests to add a learner now (optionally on a given server),
    /// without waiting for a dropped member.
    pub(crate) admin_add_learner: BTreeMap<Gpid, Option<NodeAddr>>,
    /// For partitions whose primary restarted ([`restart::primary_restarted`]):
    /// how long meta has seen it so at the current ballot.
    pub(crate) restart_waited: BTreeMap<Gpid, Duration>,
    /// Replica moves in flight: the move's `to` is one of the partition's
    /// `learners`.
    pub(crate) moves: BTreeMap<Gpid, ReplicaMove>,
    /// Servers the admin is draining: every replica leaves them, none
    /// arrives.
    pub(crate) draining: BTreeSet<NodeAddr>,
    /// Partitions made by a split that no member hosts yet: no rule
    /// changes them (they follow their parent's configuration).
    pub(crate) unbuilt: BTreeSet<Gpid>,
}

impl Snapshot {
    pub(super) fn learners_of(&self, gpid: Gpid) -> impl Iterator<Item = &NodeAddr> {
        self.learners.get(&gpid).into_iter().flatten()
    }
}

/// A replica on its way from one server to another: a learner on `to`
/// that takes `from`'s place as a secondary once it has caught up, so the
/// partition never has fewer than its replica count of members.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaMove {
    pub from: NodeAddr,
    pub to: NodeAddr,
}

/// Why a configuration changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// The primary (or the slot of one) is dead: `new_primary`, an alive
    /// secondary with the longest log, replaces it. `removed` holds the old
    /// primary and any dead secondary.
    PromoteSecondary {
        new_primary: NodeAddr,
        removed: Vec<NodeAddr>,
    },
    /// Dead secondaries leave; the primary stays.
    RemoveDeadSecondaries { removed: Vec<NodeAddr> },
    /// The primary could not reach `removed` and asked for its removal.
    RemovedOnPrimaryRequest { removed: NodeAddr },
    /// A learner caught up with the primary and becomes a secondary.
    PromoteLearner { learner: NodeAddr },
    /// Learners are dropped (each with its reason) and at least one of them
    /// was counting for commit (the primary listed it ready): the primary
    /// keeps counting a ready learner until a new ballot, so dropping it
    /// takes one. The members do not change.
    CancelLearners { learners: Vec<(NodeAddr, DropWhy)> },
    /// The primary restarted (it reports `inactive` at the current ballot):
    /// `new_primary`, the alive member with the longest log (maybe the old
    /// primary itself), leads under a new ballot; `removed` holds the dead
    /// members.
    NewBallotAfterRestart {
        new_primary: NodeAddr,
        removed: Vec<NodeAddr>,
    },
    /// A moved replica's learner caught up: `to` becomes a secondary and
    /// `from` leaves in the same change (the member count stays). `from`
    /// is not remembered as dropped: it left on purpose.
    MoveReplica { from: NodeAddr, to: NodeAddr },
}

impl Change {
    /// The members this change removes, to be remembered as dropped.
    pub(crate) fn removed(&self) -> Vec<NodeAddr> {
        match self {
            Change::PromoteSecondary { removed, .. }
            | Change::RemoveDeadSecondaries { removed }
            | Change::NewBallotAfterRestart { removed, .. } => removed.clone(),
            Change::RemovedOnPrimaryRequest { removed } => vec![removed.clone()],
            Change::PromoteLearner { .. }
            | Change::CancelLearners { .. }
            | Change::MoveReplica { .. } => Vec::new(),
        }
    }

    /// A short name for metrics and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Change::PromoteSecondary { .. } => "promote_secondary",
            Change::RemoveDeadSecondaries { .. } => "remove_dead_secondaries",
            Change::RemovedOnPrimaryRequest { .. } => "removed_on_primary_request",
            Change::PromoteLearner { .. } => "promote_learner",
            Change::CancelLearners { .. } => "cancel_learners",
            Change::NewBallotAfterRestart { .. } => "new_ballot_after_restart",
            Change::MoveReplica { .. } => "move_replica",
        }
    }
}

/// Why a learner is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropWhy {
    /// Its server is dead.
    Dead,
    /// The partition has all its members.
    Full,
    /// The primary reported it cannot reach it; meta should not pick that
    /// server for this partition again for a while.
    Unreachable,
    /// The primary counts it for commit, but meta has no such learner
    /// (dropped earlier, while the primary was still feeding it).
    Stray,
}

impl DropWhy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropWhy::Dead => "dead",
            DropWhy::Full => "full",
            DropWhy::Unreachable => "unreachable",
            DropWhy::Stray => "stray",
        }
    }
}

/// What meta should do. Every action names the partition's ballot it was
/// decided at; meta carries it out only while that is still the current
/// ballot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Persist `config` (whose ballot is `ballot + 1`), then announce it.
    Reconfigure {
        ballot: Ballot,
        config: PartitionConfig,
        change: Change,
    },
    /// Start a learner of `gpid` on `node`, learning from the primary.
    AddLearner {
        gpid: Gpid,
        ballot: Ballot,
        node: NodeAddr,
    },
    /// Forget the learner of `gpid` on `node` (its server died, or the
    /// partition is full); its slot may be given to another server.
    DropLearner {
        gpid: Gpid,
        ballot: Ballot,
        node: NodeAddr,
        why: DropWhy,
    },
    /// A planned primary switch to the caught-up secondary `to`: meta
    /// persists [`switched_config`] (`to` leads, the old primary becomes a
    /// secondary) if `to` is still caught up
    /// ([`super::balance::fully_caught_up`]). No step-down round trip is
    /// needed: a commit needs every member, so the old primary cannot commit
    /// (nor serve a read newer than what `to` holds) once `to` acts on the
    /// new ballot; writes it had prepared but not committed end "outcome
    /// unknown", as in a failover.
    SwitchPrimary {
        gpid: Gpid,
        ballot: Ballot,
        to: NodeAddr,
    },
    /// Start moving the replica on `from` (a secondary) to `to`: a learner
    /// on `to`, recorded as a move, so it stays although the partition is
    /// full.
    StartMove {
        gpid: Gpid,
        ballot: Ballot,
        from: NodeAddr,
        to: NodeAddr,
    },
}

impl Action {
    pub(crate) fn gpid(&self) -> Gpid {
        match self {
            Action::Reconfigure { config, .. } => config.gpid,
            Action::AddLearner { gpid, .. }
            | Action::DropLearner { gpid, .. }
            | Action::SwitchPrimary { gpid, .. }
            | Action::StartMove { gpid, .. } => *gpid,
        }
    }

    /// The current ballot this action was decided at.
    pub(crate) fn ballot(&self) -> Ballot {
        match self {
            Action::Reconfigure { ballot, .. }
            | Action::AddLearner { ballot, .. }
            | Action::DropLearner { ballot, .. }
            | Action::SwitchPrimary { ballot, .. }
            | Action::StartMove { ballot, .. } => *ballot,
        }
    }

    /// The configuration this action would persist, if it changes one.
    pub(crate) fn new_config(&self) -> Option<&PartitionConfig> {
        match self {
            Action::Reconfigure { config, .. } => Some(config),
            _ => None,
        }
    }
}
