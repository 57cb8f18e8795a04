//! Property test: a seeded simulation of a table under random failures and
//! returns, with a small model of every replica's log, where meta's
//! decisions are applied round after round.
//!
//! After every decision it checks that each new configuration is valid,
//! that a promotion picks the longest reported log, and that nothing
//! committed is lost: every member of every configuration holds every
//! committed decree (PacificA's commit invariant, committed ⊆ prepared(q)).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;
use proptest::prelude::*;

use super::*;

/// SplitMix64: enough randomness for a simulation, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

struct Sim {
    rng: Rng,
    replica_count: u32,
    nodes: Vec<NodeAddr>,
    health: Health,
    silent_secs: BTreeMap<NodeAddr, u64>,
    parts: Vec<PartitionConfig>,
    /// The model's truth: each replica's last prepared decree.
    prepared: BTreeMap<(Gpid, NodeAddr), u64>,
    /// Highest decree committed anywhere, per partition.
    committed: BTreeMap<Gpid, u64>,
    learners: BTreeMap<Gpid, BTreeSet<NodeAddr>>,
    ready: BTreeSet<(Gpid, NodeAddr)>,
    /// Primaries that restarted and wait (inactive) for a new ballot.
    inactive: BTreeSet<(Gpid, NodeAddr)>,
    dropped: BTreeMap<Gpid, Vec<NodeAddr>>,
    /// Replica moves in flight (each `to` is one of `learners`).
    moves: BTreeMap<Gpid, ReplicaMove>,
    draining: BTreeSet<NodeAddr>,
    load: Load,
}

impl Sim {
    fn new(seed: u64, replica_count: u32, node_count: usize, partitions: u32) -> Self {
        let mut rng = Rng(seed);
        let nodes: Vec<NodeAddr> = (0..node_count).map(|i| NodeAddr(format!("n{i}"))).collect();
        let health = Health::with_alive(&nodes);
        let mut parts = Vec::new();
        for p in 0..partitions {
            let mut pool = nodes.clone();
            let mut members = Vec::new();
            for _ in 0..replica_count.min(node_count as u32) {
                members.push(pool.remove(rng.below(pool.len() as u64) as usize));
            }
            parts.push(PartitionConfig {
                gpid: Gpid::new(1, p),
                ballot: Ballot(1 + rng.below(5)),
                primary: Some(members[0].clone()),
                secondaries: members[1..].to_vec(),
            });
        }
        Sim {
            rng,
            replica_count,
            nodes,
            health,
            silent_secs: BTreeMap::new(),
            parts,
            prepared: BTreeMap::new(),
            committed: BTreeMap::new(),
            learners: BTreeMap::new(),
            ready: BTreeSet::new(),
            inactive: BTreeSet::new(),
            dropped: BTreeMap::new(),
            moves: BTreeMap::new(),
            draining: BTreeSet::new(),
            load: Load::default(),
        }
    }

    fn prep(&self, g: Gpid, n: &NodeAddr) -> u64 {
        self.prepared.get(&(g, n.clone())).copied().unwrap_or(0)
    }

    fn alive(&self, n: &NodeAddr) -> bool {
        self.health.is_alive(n)
    }

    /// Servers die and return; silence grows; now and then the admin starts
    /// or stops draining one.
    fn churn(&mut self) {
        if self.rng.chance(5) {
            let n = self.nodes[self.rng.below(self.nodes.len() as u64) as usize].clone();
            if !self.draining.remove(&n) {
                self.draining.insert(n);
            }
        }
        for n in self.nodes.clone() {
            if self.alive(&n) {
                if self.rng.chance(12) {
                    self.silent_secs.insert(n.clone(), 0);
                    self.health.set_dead(&n, Duration::ZERO);
                }
            } else if self.rng.chance(15) {
                self.silent_secs.remove(&n);
                self.health.set_alive(&n);
                // A primary comes back inactive until meta issues a new ballot.
                for c in &self.parts {
                    if c.primary.as_ref() == Some(&n) {
                        self.inactive.insert((c.gpid, n.clone()));
                    }
                }
            } else {
                let s = self.silent_secs.entry(n.clone()).or_default();
                *s += self.rng.below(200);
                let s = *s;
                self.health.set_dead(&n, Duration::from_secs(s));
            }
        }
    }

    /// Writes flow: the primary prepares, alive members mostly keep up, a
    /// decree commits once every member has it; learners sometimes catch up.
    fn write(&mut self) {
        for i in 0..self.parts.len() {
            let c = self.parts[i].clone();
            let Some(p) = c
                .primary
                .clone()
                .filter(|p| self.alive(p) && !self.inactive.contains(&(c.gpid, p.clone())))
            else {
                continue;
            };
            let top = self.prep(c.gpid, &p) + 1 + self.rng.below(3);
            self.prepared.insert((c.gpid, p.clone()), top);
            for s in &c.secondaries {
                if self.alive(s) && self.rng.chance(80) {
                    self.prepared.insert((c.gpid, s.clone()), top);
                }
            }
            // Ready learners count for commit, like members.
            let floor = c
                .members()
                .chain(
                    self.learners
                        .get(&c.gpid)
                        .into_iter()
                        .flatten()
                        .filter(|l| self.ready.contains(&(c.gpid, (*l).clone()))),
                )
                .map(|m| self.prep(c.gpid, m))
                .min()
                .unwrap_or(0);
            let committed = self.committed.entry(c.gpid).or_default();
            *committed = (*committed).max(floor);
            for l in self.learners.get(&c.gpid).cloned().unwrap_or_default() {
                if self.alive(&l) && self.rng.chance(40) {
                    self.prepared.insert((c.gpid, l.clone()), top);
                    self.ready.insert((c.gpid, l));
                }
            }
        }
    }

    /// Beacons: every alive replica reports, usually at the current ballot.
    fn reports(&mut self) -> Vec<ReplicaReport> {
        let mut out = Vec::new();
        for c in self.parts.clone() {
            let committed = self.committed.get(&c.gpid).copied().unwrap_or(0);
            let hosts: Vec<NodeAddr> = c
                .members()
                .cloned()
                .chain(self.learners.get(&c.gpid).into_iter().flatten().cloned())
                .collect();
            for n in hosts {
                if !self.alive(&n) {
                    continue;
                }
                let prepared = self.prep(c.gpid, &n);
                let reported_committed =
                    if c.has_member(&n) || self.ready.contains(&(c.gpid, n.clone())) {
                        committed.min(prepared)
                    } else {
                        prepared.min(committed.saturating_sub(1))
                    };
                let ballot = if self.rng.chance(90) {
                    c.ballot
                } else {
                    Ballot(c.ballot.0 - 1)
                };
                let role = if self.inactive.contains(&(c.gpid, n.clone())) {
                    ReplicaRole::Inactive
                } else if c.primary.as_ref() == Some(&n) {
                    ReplicaRole::Primary
                } else if c.has_member(&n) {
                    ReplicaRole::Secondary
                } else {
                    ReplicaRole::Learner
                };
                let mut report = ReplicaReport::new(
                    n,
                    c.gpid,
                    ballot,
                    role,
                    Decree(reported_committed),
                    Decree(prepared),
                );
                if role == ReplicaRole::Primary {
                    report.ready_learners = self
                        .learners
                        .get(&c.gpid)
                        .into_iter()
                        .flatten()
                        .filter(|l| self.ready.contains(&(c.gpid, (*l).clone())))
                        .cloned()
                        .collect();
                }
                out.push(report);
            }
        }
        out
    }

    fn snapshot(&self, reports: Vec<ReplicaReport>) -> Snapshot {
        Snapshot {
            replica_count: self.replica_count,
            partitions: self.parts.clone(),
            health: self.health.clone(),
            reports: Reports::new(reports),
            learners: self.learners.clone(),
            dropped: self.dropped.clone(),
            avoid: BTreeMap::new(),
            admin_add_learner: BTreeMap::new(),
            restart_waited: BTreeMap::new(),
            moves: self.moves.clone(),
            draining: self.draining.clone(),
            unbuilt: BTreeSet::new(),
        }
    }

    fn current_load(&self) -> Load {
        Load::of(&self.parts, self.moves.values().map(|mv| &mv.from))
    }

    /// One round: churn, writes, beacons, decide, check, apply.
    fn round(&mut self) -> Result<(), TestCaseError> {
        self.churn();
        self.write();
        let reports = self.reports();
        let snapshot = self.snapshot(reports);
        self.load = self.current_load();
        let actions = decide(&snapshot, &mut self.load, &ReconfigParams::default());
        let mut changed = BTreeSet::new();
        for a in actions {
            let i = a.gpid().partition.0 as usize;
            let current = self.parts[i].clone();
            let g = current.gpid;
            prop_assert_eq!(
                a.ballot(),
                current.ballot,
                "action at a stale ballot: {:?}",
                a
            );
            let committed = self.committed.get(&g).copied().unwrap_or(0);
            match &a {
                Action::Reconfigure { config, change, .. } => {
                    prop_assert!(changed.insert(g), "two changes for {} in one round", g);
                    prop_assert_eq!(validate_config(&current, config, &self.health), Ok(()));
                    for m in config.members() {
                        prop_assert!(
                            self.prep(g, m) >= committed,
                            "{} would be a member without committed decree {}: {:?}",
                            m,
                            committed,
                            a
                        );
                    }
                    if let Change::PromoteSecondary { new_primary, .. } = change {
                        let rank =
                            |n: &NodeAddr| failover::log_rank(&current, n, &snapshot.reports);
                        let best = current
                            .secondaries
                            .iter()
                            .filter(|s| self.alive(s))
                            .map(rank)
                            .max();
                        prop_assert_eq!(Some(rank(new_primary)), best, "not the longest log");
                    }
                    if let Change::NewBallotAfterRestart { new_primary, .. } = change {
                        let rank = |n: &NodeAddr| {
                            snapshot
                                .reports
                                .at(g, n, current.ballot)
                                .map(|r| (r.last_prepared, r.last_committed))
                        };
                        let best = current
                            .members()
                            .filter(|m| self.alive(m))
                            .filter_map(rank)
                            .max();
                        prop_assert_eq!(rank(new_primary), best, "not the longest log");
                    }
                    if let Change::MoveReplica { from, to } = change {
                        prop_assert_eq!(
                            config.members().count(),
                            current.members().count(),
                            "a move keeps the member count"
                        );
                        prop_assert!(config.has_member(to) && !config.has_member(from));
                    }
                    self.apply(&current, config.clone(), change.removed());
                    if let Change::CancelLearners { learners } = change {
                        for (l, _) in learners {
                            if let Some(ls) = self.learners.get_mut(&g) {
                                ls.remove(l);
                            }
                            self.ready.remove(&(g, l.clone()));
                        }
                        self.forget_finished_moves();
                    }
                }
                Action::AddLearner { node, .. } => {
                    prop_assert!(self.alive(node) && !current.has_member(node));
                    prop_assert!(
                        !changed.contains(&g),
                        "learner planned at a changing ballot"
                    );
                    let learning = self.learners.entry(g).or_default();
                    prop_assert!(learning.insert(node.clone()), "{} already learning", node);
                    // A returning member truncates its uncommitted tail.
                    let p = self.prep(g, node).min(committed);
                    self.prepared.insert((g, node.clone()), p);
                    self.ready.remove(&(g, node.clone()));
                }
                Action::DropLearner { node, .. } => {
                    let counted = current
                        .primary
                        .as_ref()
                        .and_then(|p| snapshot.reports.at(g, p, current.ballot))
                        .is_some_and(|r| r.ready_learners.contains(node));
                    prop_assert!(
                        !counted,
                        "{} counts for commit: only a new ballot may drop it",
                        node
                    );
                    prop_assert!(self.learners.entry(g).or_default().remove(node));
                    self.ready.remove(&(g, node.clone()));
                    self.forget_finished_moves();
                }
                Action::StartMove { from, to, .. } => {
                    prop_assert!(!changed.contains(&g), "move planned at a changing ballot");
                    prop_assert!(current.secondaries.contains(from), "only secondaries move");
                    prop_assert!(
                        self.alive(to) && !current.has_member(to) && !self.draining.contains(to)
                    );
                    prop_assert!(
                        current.members().count() >= self.replica_count as usize,
                        "a partition short of members gets learners, not moves"
                    );
                    prop_assert!(self.moves.len() < ReconfigParams::default().max_moves);
                    let mv = ReplicaMove {
                        from: from.clone(),
                        to: to.clone(),
                    };
                    prop_assert!(self.moves.insert(g, mv).is_none(), "two moves of {}", g);
                    prop_assert!(self.learners.entry(g).or_default().insert(to.clone()));
                    let p = self.prep(g, to).min(committed);
                    self.prepared.insert((g, to.clone()), p);
                    self.ready.remove(&(g, to.clone()));
                }
                Action::SwitchPrimary { to, .. } => {
                    prop_assert!(!changed.contains(&g));
                    let primary = current.primary.clone().expect("switch needs a primary");
                    prop_assert!(current.secondaries.contains(to) && self.alive(to));
                    prop_assert!(
                        self.prep(g, to) >= committed,
                        "switch to a secondary missing committed decrees (primary {})",
                        primary
                    );
                    let next = switched_config(&current, to);
                    prop_assert_eq!(validate_config(&current, &next, &self.health), Ok(()));
                    changed.insert(g);
                    self.apply(&current, next, Vec::new());
                }
            }
        }
        for c in &self.parts {
            prop_assert!(c.members().next().is_some(), "{} lost every member", c.gpid);
        }
        Ok(())
    }

    fn apply(&mut self, old: &PartitionConfig, next: PartitionConfig, removed: Vec<NodeAddr>) {
        let g = next.gpid;
        // Every replica adopts the new ballot: nobody waits for one any more.
        self.inactive.retain(|(gp, _)| *gp != g);
        if old.primary != next.primary || old.ballot != next.ballot {
            // The new primary reconciles: every member ends with its log,
            // and it is committed once they all hold it.
            let p = next.primary.as_ref().map(|p| self.prep(g, p)).unwrap_or(0);
            for m in next.members() {
                self.prepared.insert((g, m.clone()), p);
            }
            self.committed.insert(g, p);
            let committed = p;
            for l in self.learners.get(&g).cloned().unwrap_or_default() {
                let lp = self.prep(g, &l).min(committed);
                self.prepared.insert((g, l.clone()), lp);
                self.ready.remove(&(g, l));
            }
        }
        for m in next.members() {
            if let Some(ls) = self.learners.get_mut(&g) {
                ls.remove(m);
            }
            self.ready.remove(&(g, m.clone()));
        }
        let d = self.dropped.entry(g).or_default();
        d.extend(removed);
        d.retain(|n| !next.has_member(n));
        let i = g.partition.0 as usize;
        self.parts[i] = next;
        self.forget_finished_moves();
    }

    fn forget_finished_moves(&mut self) {
        let learners = &self.learners;
        self.moves
            .retain(|g, mv| learners.get(g).is_some_and(|l| l.contains(&mv.to)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_failures_never_produce_an_invalid_configuration_nor_lose_a_committed_decree(
        seed in any::<u64>(),
        replica_count in 1u32..=5,
        extra_nodes in 0usize..=3,
        partitions in 1u32..=6,
        rounds in 1usize..=40,
    ) {
        let mut sim = Sim::new(seed, replica_count, replica_count as usize + extra_nodes, partitions);
        for _ in 0..rounds {
            sim.round()?;
        }
    }
}
