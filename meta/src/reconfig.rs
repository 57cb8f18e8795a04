//! Reconfiguration decisions: from a snapshot of one table to the
//! configuration changes meta should make.
//!
//! Everything here is pure and deterministic (no clock, no I/O, no
//! randomness; every choice breaks ties by address), so the same snapshot
//! always yields the same actions. Not wired into the service yet: the
//! service will build a [`Snapshot`] from its state, liveness and beacons,
//! call [`decide`] on every check tick, validate each new configuration with
//! [`validate_config`], persist it, and only then tell anyone.
//!
//! The rules, in the order they are tried for each partition (at most one
//! ballot change per partition per round, since every change makes the other
//! proposals for that ballot stale):
//!
//! 1. **Primary dead** ([`failover`]): promote the alive secondary with the
//!    longest log (highest `last_prepared` reported at the current ballot,
//!    then `last_committed`, then the lowest address); dead secondaries leave
//!    in the same change. No alive secondary: nothing happens, the partition
//!    stays unavailable and every member keeps its place, because one of them
//!    may hold the only copy of the longest log.
//! 2. **Secondary dead** ([`failover`]): remove it (every dead secondary at
//!    once).
//! 3. **The primary asks to remove a secondary it cannot reach**
//!    ([`proposal`]): accepted only for the current ballot and from the
//!    current primary; of conflicting proposals for one ballot the first wins.
//! 4. **A learner caught up** ([`learners`]): it becomes a secondary.
//! 5. **Under-replicated** ([`learners`]): start learners (no ballot change).
//!    A member dropped because its server died keeps its slot for
//!    [`ReconfigParams::dropout_delay`], since its return is far cheaper
//!    than a full copy; a dropped member that is back is preferred; any other
//!    missing slot, or an admin request, is filled at once on the least
//!    loaded alive server.
//! 6. **Primary balancing** ([`balance`]): planned primary switches towards
//!    servers with fewer primaries, only to fully caught-up secondaries of
//!    healthy partitions.
//!
//! [`validate_config`] guards whatever configuration is about to be
//! persisted, whoever proposed it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use crate::liveness::Liveness;
use crate::placement::Load;

pub mod balance;
pub mod failover;
pub mod learners;
pub mod proposal;
pub mod validate;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use proposal::{judge_removal, judge_removals, Refusal, RemovalProposal};
pub use validate::{switched_config, validate_config, Invalid};

/// How long meta waits for a member dropped because its server died before
/// it builds a replacement elsewhere. Pegasus waits 10 minutes; 5 minutes
/// still covers a server restart or a short maintenance without copying a
/// replica, and halves the time a partition runs one replica short.
pub const DEFAULT_DROPOUT_DELAY: Duration = Duration::from_secs(5 * 60);

/// A server is worth a primary switch when it leads this many more
/// partitions than a caught-up secondary of one of them.
pub const DEFAULT_BALANCE_THRESHOLD: u32 = 2;

/// At most this many planned primary switches per table per round, so
/// balancing never moves many primaries at once (each switch costs its
/// partition a short pause).
pub const DEFAULT_MAX_PRIMARY_SWITCHES: usize = 1;

/// Tunables of the decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconfigParams {
    /// See [`DEFAULT_DROPOUT_DELAY`].
    pub dropout_delay: Duration,
    /// See [`DEFAULT_BALANCE_THRESHOLD`]; at least 2 (1 would flap).
    pub balance_threshold: u32,
    /// See [`DEFAULT_MAX_PRIMARY_SWITCHES`]; 0 turns balancing off.
    pub max_primary_switches: usize,
}

impl Default for ReconfigParams {
    fn default() -> Self {
        ReconfigParams {
            dropout_delay: DEFAULT_DROPOUT_DELAY,
            balance_threshold: DEFAULT_BALANCE_THRESHOLD,
            max_primary_switches: DEFAULT_MAX_PRIMARY_SWITCHES,
        }
    }
}

/// What one server said about one replica it hosts, in its latest beacon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaReport {
    pub node: NodeAddr,
    pub gpid: Gpid,
    /// The ballot the replica was at when it reported.
    pub ballot: Ballot,
    pub last_committed: Decree,
    pub last_prepared: Decree,
}

/// Which servers are alive, and for how long the others have been silent.
///
/// A server meta never heard from counts as dead and silent for zero time:
/// the service should record its own start as a baseline (so after a meta
/// restart nobody looks long dead before a grace period has passed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    alive: BTreeSet<NodeAddr>,
    silent_for: BTreeMap<NodeAddr, Duration>,
}

impl Health {
    /// Every server in `alive` alive, nobody else known.
    pub fn with_alive<'a>(alive: impl IntoIterator<Item = &'a NodeAddr>) -> Self {
        let mut h = Health::default();
        for n in alive {
            h.set_alive(n);
        }
        h
    }

    /// From the service's liveness table: alive when it beaconed within
    /// `grace`, otherwise dead and silent since its last beacon.
    pub fn from_liveness<'a>(
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
                h.set_dead(n, liveness.silence(n, now).unwrap_or_default());
            }
        }
        h
    }

    pub fn set_alive(&mut self, node: &NodeAddr) {
        self.silent_for.remove(node);
        self.alive.insert(node.clone());
    }

    /// Marks `node` dead, silent for `silent_for` (since its last beacon).
    pub fn set_dead(&mut self, node: &NodeAddr, silent_for: Duration) {
        self.alive.remove(node);
        self.silent_for.insert(node.clone(), silent_for);
    }

    pub fn is_alive(&self, node: &NodeAddr) -> bool {
        self.alive.contains(node)
    }

    /// Whether `node` is dead and has been silent for longer than `delay`.
    pub fn dead_longer_than(&self, node: &NodeAddr, delay: Duration) -> bool {
        !self.is_alive(node) && self.silent_for.get(node).is_some_and(|s| *s > delay)
    }

    /// Alive servers, in address order.
    pub fn alive(&self) -> impl Iterator<Item = &NodeAddr> {
        self.alive.iter()
    }
}

/// Replica reports indexed by partition and server.
#[derive(Clone, Debug, Default)]
pub struct Reports {
    by_replica: BTreeMap<(Gpid, NodeAddr), ReplicaReport>,
}

impl Reports {
    /// Indexes `reports`; of two reports for one replica the one with the
    /// higher ballot, then the longer log, is kept.
    pub fn new(reports: impl IntoIterator<Item = ReplicaReport>) -> Self {
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

    /// `node`'s report on `gpid`, only if it was made at `ballot`: a report
    /// from another ballot says nothing reliable about the current log.
    pub fn at(&self, gpid: Gpid, node: &NodeAddr, ballot: Ballot) -> Option<&ReplicaReport> {
        self.by_replica
            .get(&(gpid, node.clone()))
            .filter(|r| r.ballot == ballot)
    }
}

/// Everything the decisions look at for one table.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The table's `replica_count`.
    pub replica_count: u32,
    /// Every partition's current configuration.
    pub partitions: Vec<PartitionConfig>,
    pub health: Health,
    pub reports: Reports,
    /// Learners in progress (started, not promoted nor dropped yet).
    pub learners: BTreeMap<Gpid, BTreeSet<NodeAddr>>,
    /// Former members removed from the configuration (by a failover, a
    /// removal or a primary switch), most recent last. Meta records
    /// [`Change::removed`] here when it persists a change and may forget an
    /// entry once it is a member again or dead longer than the dropout delay.
    pub dropped: BTreeMap<Gpid, Vec<NodeAddr>>,
    /// Servers not to choose as learners of a partition for now (a learning
    /// that failed, a secondary its primary could not reach).
    pub avoid: BTreeMap<Gpid, BTreeSet<NodeAddr>>,
    /// Admin requests to add a learner now (optionally on a given server),
    /// without waiting for a dropped member.
    pub admin_add_learner: BTreeMap<Gpid, Option<NodeAddr>>,
}

impl Snapshot {
    fn learners_of(&self, gpid: Gpid) -> impl Iterator<Item = &NodeAddr> {
        self.learners.get(&gpid).into_iter().flatten()
    }
}

/// Why a configuration changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
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
}

impl Change {
    /// The members this change removes, to be remembered as dropped.
    pub fn removed(&self) -> Vec<NodeAddr> {
        match self {
            Change::PromoteSecondary { removed, .. }
            | Change::RemoveDeadSecondaries { removed } => removed.clone(),
            Change::RemovedOnPrimaryRequest { removed } => vec![removed.clone()],
            Change::PromoteLearner { .. } => Vec::new(),
        }
    }
}

/// What meta should do. Every action names the partition's ballot it was
/// decided at; meta carries it out only while that is still the current
/// ballot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
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
    },
    /// A planned primary switch to the caught-up secondary `to`: the old
    /// primary steps down first (stops accepting writes, commits what it
    /// prepared), then meta persists [`switched_config`]. Executed later.
    SwitchPrimary {
        gpid: Gpid,
        ballot: Ballot,
        to: NodeAddr,
    },
}

impl Action {
    pub fn gpid(&self) -> Gpid {
        match self {
            Action::Reconfigure { config, .. } => config.gpid,
            Action::AddLearner { gpid, .. }
            | Action::DropLearner { gpid, .. }
            | Action::SwitchPrimary { gpid, .. } => *gpid,
        }
    }

    /// The current ballot this action was decided at.
    pub fn ballot(&self) -> Ballot {
        match self {
            Action::Reconfigure { ballot, .. }
            | Action::AddLearner { ballot, .. }
            | Action::DropLearner { ballot, .. }
            | Action::SwitchPrimary { ballot, .. } => *ballot,
        }
    }

    /// The configuration this action would persist, if it changes one.
    pub fn new_config(&self) -> Option<&PartitionConfig> {
        match self {
            Action::Reconfigure { config, .. } => Some(config),
            _ => None,
        }
    }
}

/// Every action meta should take for one table, in partition order.
///
/// `load` is the cluster's current load (every table); it is updated with
/// what the returned actions would add (learners, primaries moved) so the
/// caller can pass it on to the next table of the same round.
pub fn decide(snapshot: &Snapshot, load: &mut Load, params: &ReconfigParams) -> Vec<Action> {
    for (gpid, ls) in &snapshot.learners {
        let members = snapshot.partitions.iter().find(|p| p.gpid == *gpid);
        for l in ls {
            if members.is_none_or(|p| !p.has_member(l)) {
                *load.replicas.entry(l.clone()).or_default() += 1;
            }
        }
    }
    let mut out = Vec::new();
    let mut busy = BTreeSet::new();
    for config in &snapshot.partitions {
        let reconfig = failover::decide_failover(config, &snapshot.health, &snapshot.reports)
            .or_else(|| {
                learners::decide_learner_promotion(
                    config,
                    snapshot.replica_count,
                    snapshot.learners_of(config.gpid),
                    &snapshot.health,
                    &snapshot.reports,
                )
            });
        if let Some(action) = reconfig {
            note_primary_move(config, &action, load);
            out.push(action);
            busy.insert(config.gpid);
            continue;
        }
        let planned = learners::plan_learners(config, snapshot, params, load);
        if !planned.is_empty() {
            busy.insert(config.gpid);
        }
        out.extend(planned);
    }
    out.extend(balance::plan_primary_switches(
        snapshot, &busy, load, params,
    ));
    out
}

/// Keeps `load.primaries` in step with a failover.
fn note_primary_move(old: &PartitionConfig, action: &Action, load: &mut Load) {
    let Some(new) = action.new_config() else {
        return;
    };
    if old.primary == new.primary {
        return;
    }
    if let Some(p) = &old.primary {
        if let Some(c) = load.primaries.get_mut(p) {
            *c = c.saturating_sub(1);
        }
    }
    if let Some(p) = &new.primary {
        *load.primaries.entry(p.clone()).or_default() += 1;
    }
}
