//! Each rule and each edge, told as a short story: a table, who is alive,
//! what the replicas reported, and what meta decides.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::proposal::{judge_removal, judge_removals, Refusal, RemovalProposal};
use super::*;

fn node(name: &str) -> NodeAddr {
    NodeAddr::from(name)
}

fn gpid(p: u32) -> Gpid {
    Gpid::new(1, p)
}

fn config(p: u32, ballot: u64, primary: &str, secondaries: &[&str]) -> PartitionConfig {
    PartitionConfig {
        gpid: gpid(p),
        ballot: Ballot(ballot),
        primary: (!primary.is_empty()).then(|| node(primary)),
        secondaries: secondaries.iter().map(|s| node(s)).collect(),
    }
}

/// A table and the cluster around it, built step by step.
struct World {
    snapshot: Snapshot,
    reports: Vec<ReplicaReport>,
    load: Load,
    params: ReconfigParams,
}

impl World {
    fn table(replica_count: u32) -> Self {
        World {
            snapshot: Snapshot {
                replica_count,
                ..Snapshot::default()
            },
            reports: Vec::new(),
            load: Load::default(),
            params: ReconfigParams::default(),
        }
    }

    fn partition(mut self, c: PartitionConfig) -> Self {
        if let Some(p) = &c.primary {
            *self.load.primaries.entry(p.clone()).or_default() += 1;
        }
        for m in c.members() {
            *self.load.replicas.entry(m.clone()).or_default() += 1;
        }
        self.snapshot.partitions.push(c);
        self
    }

    fn alive(mut self, nodes: &[&str]) -> Self {
        for n in nodes {
            self.snapshot.health.set_alive(&node(n));
        }
        self
    }

    fn dead_for(mut self, n: &str, silent_secs: u64) -> Self {
        self.snapshot
            .health
            .set_dead(&node(n), Duration::from_secs(silent_secs));
        self
    }

    /// `n` reported on partition `p` at `ballot`: committed and prepared decrees.
    /// The role is what partition `p`'s configuration (if added already)
    /// says `n` is; anyone else reports as a learner.
    fn report(mut self, n: &str, p: u32, ballot: u64, committed: u64, prepared: u64) -> Self {
        let config = self.snapshot.partitions.iter().find(|c| c.gpid == gpid(p));
        let role = match config {
            Some(c) if c.primary.as_ref() == Some(&node(n)) => ReplicaRole::Primary,
            Some(c) if c.has_member(&node(n)) => ReplicaRole::Secondary,
            _ => ReplicaRole::Learner,
        };
        self.reports.push(ReplicaReport::new(
            node(n),
            gpid(p),
            Ballot(ballot),
            role,
            Decree(committed),
            Decree(prepared),
        ));
        self
    }

    /// The latest report of `n` on partition `p` (which must exist).
    fn last_report(&mut self, n: &str, p: u32) -> &mut ReplicaReport {
        self.reports
            .iter_mut()
            .rev()
            .find(|r| r.node == node(n) && r.gpid == gpid(p))
            .expect("report it first")
    }

    /// `n`'s latest report on `p` says it is in `role`.
    fn with_role(mut self, n: &str, p: u32, role: ReplicaRole) -> Self {
        self.last_report(n, p).role = role;
        self
    }

    /// `n`'s latest report on `p` lists `learners` as ready.
    fn ready(mut self, n: &str, p: u32, learners: &[&str]) -> Self {
        self.last_report(n, p).ready_learners = learners.iter().map(|l| node(l)).collect();
        self
    }

    /// `n`'s latest report on `p` lists `others` as unreachable.
    fn unreachable(mut self, n: &str, p: u32, others: &[&str]) -> Self {
        self.last_report(n, p).unreachable = nodes(others);
        self
    }

    fn restart_waited(mut self, p: u32, ms: u64) -> Self {
        self.snapshot
            .restart_waited
            .insert(gpid(p), Duration::from_millis(ms));
        self
    }

    fn learning(mut self, p: u32, n: &str) -> Self {
        self.snapshot
            .learners
            .entry(gpid(p))
            .or_default()
            .insert(node(n));
        self
    }

    fn dropped(mut self, p: u32, n: &str) -> Self {
        self.snapshot
            .dropped
            .entry(gpid(p))
            .or_default()
            .push(node(n));
        self
    }

    fn admin_asks(mut self, p: u32, on: Option<&str>) -> Self {
        self.snapshot
            .admin_add_learner
            .insert(gpid(p), on.map(node));
        self
    }

    /// A move of partition `p`'s replica from `from` to `to` is in flight.
    fn moving(mut self, p: u32, from: &str, to: &str) -> Self {
        self.snapshot.moves.insert(
            gpid(p),
            ReplicaMove {
                from: node(from),
                to: node(to),
            },
        );
        *self.load.moving_out.entry(node(from)).or_default() += 1;
        self.load.moves += 1;
        self.learning(p, to)
    }

    fn draining(mut self, n: &str) -> Self {
        self.snapshot.draining.insert(node(n));
        self
    }

    fn extra_load(mut self, n: &str, primaries: u32, replicas: u32) -> Self {
        *self.load.primaries.entry(node(n)).or_default() += primaries;
        *self.load.replicas.entry(node(n)).or_default() += replicas;
        self
    }

    fn decide(&self) -> Vec<Action> {
        let mut snapshot = self.snapshot.clone();
        snapshot.reports = Reports::new(self.reports.clone());
        let mut load = self.load.clone();
        decide(&snapshot, &mut load, &self.params)
    }
}

fn reconfigure(p: u32, from_ballot: u64, to: PartitionConfig, change: Change) -> Action {
    assert_eq!(to.gpid, gpid(p));
    Action::Reconfigure {
        ballot: Ballot(from_ballot),
        config: to,
        change,
    }
}

fn add_learner(p: u32, ballot: u64, n: &str) -> Action {
    Action::AddLearner {
        gpid: gpid(p),
        ballot: Ballot(ballot),
        node: node(n),
    }
}

fn nodes(names: &[&str]) -> Vec<NodeAddr> {
    names.iter().map(|n| node(n)).collect()
}

// ---- Rule 1: a dead primary is replaced -------------------------------------

#[test]
fn a_dead_primary_is_replaced_by_the_secondary_with_the_longest_log() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["b", "c"])
        .dead_for("a", 7)
        .report("b", 0, 5, 10, 11)
        .report("c", 0, 5, 10, 12)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            5,
            config(0, 6, "c", &["b"]),
            Change::PromoteSecondary {
                new_primary: node("c"),
                removed: nodes(&["a"]),
            }
        )]
    );
}

#[test]
fn equal_logs_are_decided_by_committed_decree_then_by_address() {
    let by_committed = World::table(3)
        .partition(config(0, 5, "a", &["c", "b"]))
        .alive(&["b", "c"])
        .dead_for("a", 7)
        .report("b", 0, 5, 9, 12)
        .report("c", 0, 5, 10, 12)
        .decide();
    assert_eq!(
        by_committed[0].new_config().unwrap().primary,
        Some(node("c"))
    );

    let by_address = World::table(3)
        .partition(config(0, 5, "a", &["c", "b"]))
        .alive(&["b", "c"])
        .dead_for("a", 7)
        .report("b", 0, 5, 10, 12)
        .report("c", 0, 5, 10, 12)
        .decide();
    assert_eq!(by_address[0].new_config().unwrap().primary, Some(node("b")));
}

#[test]
fn a_report_from_an_older_ballot_does_not_count_as_a_long_log() {
    // c's long log was reported at ballot 4; only b reported at ballot 5.
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["b", "c"])
        .dead_for("a", 7)
        .report("b", 0, 5, 10, 10)
        .report("c", 0, 4, 10, 50)
        .decide();
    assert_eq!(actions[0].new_config().unwrap().primary, Some(node("b")));
}

#[test]
fn a_secondary_without_any_report_can_still_take_over_when_it_is_the_only_one() {
    let actions = World::table(2)
        .partition(config(0, 5, "a", &["b"]))
        .alive(&["b"])
        .dead_for("a", 7)
        .decide();
    assert_eq!(actions[0].new_config(), Some(&config(0, 6, "b", &[])));
}

#[test]
fn with_no_alive_secondary_the_partition_waits_and_keeps_every_member() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["d", "e"])
        .dead_for("a", 7)
        .dead_for("b", 7)
        .dead_for("c", 700)
        .decide();
    assert_eq!(
        actions,
        vec![],
        "no member may lose its place, nor a learner start"
    );
}

#[test]
fn a_learner_or_a_stranger_is_never_promoted_to_primary() {
    // The only secondary is dead; l is a caught-up learner and s a stranger.
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b"]))
        .alive(&["l", "s"])
        .dead_for("a", 7)
        .dead_for("b", 7)
        .learning(0, "l")
        .report("l", 0, 5, 100, 100)
        .decide();
    assert_eq!(actions, vec![]);
}

#[test]
fn when_primary_and_one_secondary_die_together_the_survivor_leads_alone() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["c", "d"])
        .dead_for("a", 7)
        .dead_for("b", 7)
        .report("b", 0, 5, 10, 20)
        .report("c", 0, 5, 10, 11)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            5,
            config(0, 6, "c", &[]),
            Change::PromoteSecondary {
                new_primary: node("c"),
                removed: nodes(&["a", "b"]),
            }
        )],
        "one change, and no learner yet: it would learn at the old ballot"
    );
}

#[test]
fn with_five_replicas_three_failures_leave_the_longest_surviving_log_in_charge() {
    let actions = World::table(5)
        .partition(config(0, 2, "a", &["b", "c", "d", "e"]))
        .alive(&["c", "e"])
        .dead_for("a", 7)
        .dead_for("b", 7)
        .dead_for("d", 7)
        .report("c", 0, 2, 40, 41)
        .report("e", 0, 2, 40, 42)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            2,
            config(0, 3, "e", &["c"]),
            Change::PromoteSecondary {
                new_primary: node("e"),
                removed: nodes(&["a", "b", "d"]),
            }
        )]
    );
}

#[test]
fn with_one_replica_a_dead_primary_simply_waits() {
    let actions = World::table(1)
        .partition(config(0, 1, "a", &[]))
        .alive(&["b", "c"])
        .dead_for("a", 3600)
        .decide();
    assert_eq!(
        actions,
        vec![],
        "the only copy of the data must keep its place"
    );
}

#[test]
fn with_two_replicas_the_secondary_takes_over_and_a_learner_follows_after_the_dropout_delay() {
    let failover = World::table(2)
        .partition(config(0, 3, "a", &["b"]))
        .alive(&["b", "c"])
        .dead_for("a", 7)
        .decide();
    assert_eq!(failover[0].new_config(), Some(&config(0, 4, "b", &[])));

    let waiting = World::table(2)
        .partition(config(0, 4, "b", &[]))
        .alive(&["b", "c"])
        .dead_for("a", 60)
        .dropped(0, "a")
        .decide();
    assert_eq!(waiting, vec![], "a has its slot kept for 5 minutes");

    let replaced = World::table(2)
        .partition(config(0, 4, "b", &[]))
        .alive(&["b", "c"])
        .dead_for("a", 301)
        .dropped(0, "a")
        .decide();
    assert_eq!(replaced, vec![add_learner(0, 4, "c")]);
}

#[test]
fn a_replaced_primary_that_comes_back_returns_as_a_learner_never_as_primary() {
    // a led at ballot 5, died, b took over at 6. a is back, with a long log.
    let actions = World::table(3)
        .partition(config(0, 6, "b", &["c"]))
        .alive(&["a", "b", "c", "d"])
        .dropped(0, "a")
        .report("a", 0, 5, 50, 60)
        .report("b", 0, 6, 40, 40)
        .report("c", 0, 6, 40, 40)
        .decide();
    assert_eq!(
        actions,
        vec![add_learner(0, 6, "a")],
        "the returning member is preferred over the idle d, as a learner"
    );
    let making_a_primary = config(0, 7, "a", &["b", "c"]);
    assert_eq!(
        validate_config(
            &config(0, 6, "b", &["c"]),
            &making_a_primary,
            &Health::with_alive(&nodes(&["a", "b", "c"]))
        ),
        Err(Invalid::PrimaryNotMember(node("a")))
    );
}

// ---- Rule 0: a restarted primary needs a new ballot --------------------------

#[test]
fn a_restarted_sole_primary_gets_a_new_ballot() {
    let actions = World::table(1)
        .partition(config(0, 4, "a", &[]))
        .alive(&["a"])
        .report("a", 0, 4, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            4,
            config(0, 5, "a", &[]),
            Change::NewBallotAfterRestart {
                new_primary: node("a"),
                removed: vec![],
            }
        )]
    );
}

#[test]
fn after_a_restart_the_longest_log_leads_and_everyone_alive_stays() {
    // A whole-cluster restart: a was primary, b and c resume as secondaries.
    let actions = World::table(3)
        .partition(config(0, 4, "a", &["b", "c"]))
        .alive(&["a", "b", "c"])
        .report("a", 0, 4, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .report("b", 0, 4, 30, 33)
        .report("c", 0, 4, 31, 32)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            4,
            config(0, 5, "b", &["a", "c"]),
            Change::NewBallotAfterRestart {
                new_primary: node("b"),
                removed: vec![],
            }
        )]
    );
    assert_eq!(
        validate_config(
            &config(0, 4, "a", &["b", "c"]),
            &config(0, 5, "b", &["a", "c"]),
            &Health::with_alive(&nodes(&["a", "b", "c"]))
        ),
        Ok(())
    );
}

#[test]
fn the_restarted_primary_keeps_the_lead_when_its_log_is_longest_or_tied_lowest() {
    let actions = World::table(2)
        .partition(config(0, 4, "b", &["c"]))
        .alive(&["b", "c"])
        .report("b", 0, 4, 30, 33)
        .with_role("b", 0, ReplicaRole::Inactive)
        .report("c", 0, 4, 30, 33)
        .decide();
    assert_eq!(
        actions[0].new_config(),
        Some(&config(0, 5, "b", &["c"])),
        "tie on both decrees: the lowest address"
    );
}

#[test]
fn after_a_restart_meta_waits_for_every_alive_member_or_the_wait_limit() {
    let w = World::table(3)
        .partition(config(0, 4, "a", &["b", "c"]))
        .alive(&["a", "b", "c", "d"])
        .report("a", 0, 4, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .report("b", 0, 4, 30, 30)
        .report("c", 0, 3, 20, 40)
        .restart_waited(0, 1000);
    assert_eq!(
        w.decide(),
        vec![],
        "c has not reported at ballot 4 yet; nothing else happens meanwhile"
    );
    let w = w.restart_waited(0, 3000);
    assert_eq!(
        w.decide(),
        vec![reconfigure(
            0,
            4,
            config(0, 5, "a", &["b", "c"]),
            Change::NewBallotAfterRestart {
                new_primary: node("a"),
                removed: vec![],
            }
        )],
        "after the wait the longest log reported at ballot 4 wins; c stays a member"
    );
}

#[test]
fn after_a_restart_dead_members_leave_and_never_lead() {
    let actions = World::table(3)
        .partition(config(0, 4, "a", &["b", "c"]))
        .alive(&["a", "c"])
        .dead_for("b", 10)
        .report("a", 0, 4, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .report("b", 0, 4, 30, 99)
        .report("c", 0, 4, 30, 30)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            4,
            config(0, 5, "a", &["c"]),
            Change::NewBallotAfterRestart {
                new_primary: node("a"),
                removed: nodes(&["b"]),
            }
        )]
    );
}

#[test]
fn an_inactive_report_from_an_older_ballot_or_a_dead_primary_is_not_a_restart() {
    let old_ballot = World::table(1)
        .partition(config(0, 4, "a", &[]))
        .alive(&["a"])
        .report("a", 0, 3, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .decide();
    assert_eq!(old_ballot, vec![], "a has not seen ballot 4 yet");
    let dead = World::table(1)
        .partition(config(0, 4, "a", &[]))
        .alive(&["b"])
        .dead_for("a", 10)
        .report("a", 0, 4, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .decide();
    assert_eq!(
        dead,
        vec![],
        "a dead sole primary keeps its place and waits"
    );
}

#[test]
fn a_secondary_that_reports_a_strange_role_is_not_made_primary_after_a_restart() {
    let actions = World::table(2)
        .partition(config(0, 4, "a", &["b"]))
        .alive(&["a", "b"])
        .report("a", 0, 4, 30, 31)
        .with_role("a", 0, ReplicaRole::Inactive)
        .report("b", 0, 4, 30, 90)
        .with_role("b", 0, ReplicaRole::Unknown)
        .decide();
    assert_eq!(actions[0].new_config(), Some(&config(0, 5, "a", &["b"])));
}

// ---- A failed replica counts as dead -----------------------------------------

#[test]
fn a_failed_primary_is_replaced_although_its_server_is_alive() {
    let actions = World::table(3)
        .partition(config(0, 4, "a", &["b", "c"]))
        .alive(&["a", "b", "c"])
        .report("a", 0, 3, 30, 31)
        .with_role("a", 0, ReplicaRole::Error)
        .report("b", 0, 4, 30, 31)
        .report("c", 0, 4, 30, 30)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            4,
            config(0, 5, "b", &["c"]),
            Change::PromoteSecondary {
                new_primary: node("b"),
                removed: nodes(&["a"]),
            }
        )]
    );
}

#[test]
fn a_failed_member_is_replaced_without_a_dropout_delay_and_never_by_itself() {
    let actions = World::table(2)
        .partition(config(0, 5, "a", &[]))
        .alive(&["a", "b", "c"])
        .dropped(0, "b")
        .report("b", 0, 4, 30, 31)
        .with_role("b", 0, ReplicaRole::Error)
        .decide();
    assert_eq!(actions, vec![add_learner(0, 5, "c")]);
}

#[test]
fn a_failed_learner_is_dropped() {
    let actions = World::table(2)
        .partition(config(0, 5, "a", &[]))
        .alive(&["a", "d"])
        .learning(0, "d")
        .report("d", 0, 5, 3, 3)
        .with_role("d", 0, ReplicaRole::Error)
        .decide();
    assert_eq!(
        actions,
        vec![Action::DropLearner {
            gpid: gpid(0),
            ballot: Ballot(5),
            node: node("d"),
            why: DropWhy::Dead,
        }],
        "and no other server is free"
    );
}

// ---- Rule 2: a dead secondary is removed -----------------------------------

#[test]
fn a_dead_secondary_is_removed_at_once() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["a", "c"])
        .dead_for("b", 7)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            5,
            config(0, 6, "a", &["c"]),
            Change::RemoveDeadSecondaries {
                removed: nodes(&["b"])
            }
        )]
    );
}

#[test]
fn two_dead_secondaries_leave_in_one_change() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["a"])
        .dead_for("b", 7)
        .dead_for("c", 8)
        .decide();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].new_config(), Some(&config(0, 6, "a", &[])));
}

// ---- Rule 3: the primary asks to remove a secondary ------------------------

fn removal(ballot: u64, from: &str, remove: &str) -> RemovalProposal {
    RemovalProposal {
        gpid: gpid(0),
        ballot: Ballot(ballot),
        from: node(from),
        remove: node(remove),
    }
}

#[test]
fn the_primary_may_remove_a_secondary_it_cannot_reach() {
    let current = config(0, 5, "a", &["b", "c"]);
    assert_eq!(
        judge_removal(&current, &removal(5, "a", "b")),
        Ok(reconfigure(
            0,
            5,
            config(0, 6, "a", &["c"]),
            Change::RemovedOnPrimaryRequest { removed: node("b") }
        ))
    );
}

#[test]
fn removal_proposals_are_refused_unless_current_from_the_primary_and_about_a_secondary() {
    let current = config(0, 5, "a", &["b", "c"]);
    assert_eq!(
        judge_removal(&current, &removal(4, "a", "b")),
        Err(Refusal::StaleBallot {
            proposed: Ballot(4),
            current: Ballot(5)
        })
    );
    assert_eq!(
        judge_removal(&current, &removal(6, "a", "b")),
        Err(Refusal::StaleBallot {
            proposed: Ballot(6),
            current: Ballot(5)
        }),
        "a ballot meta never issued is refused too"
    );
    assert_eq!(
        judge_removal(&current, &removal(5, "b", "c")),
        Err(Refusal::NotPrimary { from: node("b") })
    );
    assert_eq!(
        judge_removal(&current, &removal(5, "a", "a")),
        Err(Refusal::NotASecondary { node: node("a") })
    );
    assert_eq!(
        judge_removal(&current, &removal(5, "a", "z")),
        Err(Refusal::NotASecondary { node: node("z") })
    );
    let other = RemovalProposal {
        gpid: gpid(9),
        ..removal(5, "a", "b")
    };
    assert!(matches!(
        judge_removal(&current, &other),
        Err(Refusal::WrongPartition { .. })
    ));
}

#[test]
fn a_secondary_the_primary_lists_as_unreachable_is_removed() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["a", "b", "c"])
        .report("a", 0, 5, 10, 10)
        .unreachable("a", 0, &["z", "a", "c", "b"])
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            5,
            config(0, 6, "a", &["b"]),
            Change::RemovedOnPrimaryRequest { removed: node("c") }
        )],
        "strangers and the primary itself are ignored; of c and b the first listed wins"
    );
}

#[test]
fn an_unreachable_list_counts_only_from_the_alive_primary_at_the_current_ballot() {
    let stale = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["a", "b", "c"])
        .report("a", 0, 4, 10, 10)
        .unreachable("a", 0, &["b"])
        .decide();
    assert_eq!(stale, vec![], "asked at an older ballot");
    let from_secondary = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["a", "b", "c"])
        .report("b", 0, 5, 10, 10)
        .unreachable("b", 0, &["c"])
        .decide();
    assert_eq!(from_secondary, vec![], "only the primary may ask");
}

#[test]
fn a_dead_secondary_is_removed_before_any_request_is_looked_at() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .alive(&["a", "b"])
        .dead_for("c", 4)
        .report("a", 0, 5, 10, 10)
        .unreachable("a", 0, &["b"])
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            5,
            config(0, 6, "a", &["b"]),
            Change::RemoveDeadSecondaries {
                removed: nodes(&["c"])
            }
        )],
        "one change per round; the primary repeats its request at ballot 6"
    );
}

#[test]
fn a_learner_the_primary_cannot_reach_is_dropped_without_a_new_ballot() {
    let actions = World::table(3)
        .partition(config(0, 5, "a", &["b"]))
        .alive(&["a", "b", "d", "e"])
        .learning(0, "d")
        .report("a", 0, 5, 10, 10)
        .unreachable("a", 0, &["d"])
        .report("d", 0, 5, 10, 10)
        .decide();
    assert_eq!(
        actions,
        vec![Action::DropLearner {
            gpid: gpid(0),
            ballot: Ballot(5),
            node: node("d"),
            why: DropWhy::Unreachable,
        }],
        "not ready, so not counted for commit: no new ballot, and no replacement in the same round"
    );
}

#[test]
fn of_two_conflicting_proposals_for_one_ballot_the_first_wins() {
    // a cannot reach b, then (same ballot) cannot reach c: removing both
    // would leave a alone on a stale view; the second must be re-proposed.
    let current = config(0, 5, "a", &["b", "c"]);
    let verdicts = judge_removals(&current, &[removal(5, "a", "b"), removal(5, "a", "c")]);
    assert_eq!(
        verdicts[0].as_ref().map(|a| a.new_config().cloned()),
        Ok(Some(config(0, 6, "a", &["c"])))
    );
    assert_eq!(verdicts[1], Err(Refusal::Superseded { ballot: Ballot(5) }));
}

#[test]
fn a_proposal_made_at_the_new_ballot_is_judged_against_the_new_configuration() {
    let current = config(0, 5, "a", &["b", "c"]);
    let verdicts = judge_removals(&current, &[removal(5, "a", "b"), removal(6, "a", "c")]);
    assert!(verdicts[0].is_ok());
    assert_eq!(
        verdicts[1].as_ref().map(|a| a.new_config().cloned()),
        Ok(Some(config(0, 7, "a", &[])))
    );
}

#[test]
fn a_proposal_racing_metas_own_failover_loses_to_whichever_is_persisted_first() {
    let current = config(0, 5, "a", &["b", "c"]);
    let metas = World::table(3)
        .partition(current.clone())
        .alive(&["a", "c"])
        .dead_for("b", 7)
        .decide();
    let after = metas[0].new_config().unwrap();
    assert_eq!(
        judge_removal(after, &removal(5, "a", "c")),
        Err(Refusal::StaleBallot {
            proposed: Ballot(5),
            current: Ballot(6)
        })
    );
}

// ---- Rules 4 and 5: learners -----------------------------------------------

#[test]
fn a_member_removed_while_its_server_lives_is_replaced_at_once_on_the_least_loaded_server() {
    // b was removed at a's request (unreachable) and is to be avoided;
    // d holds less than e.
    let mut w = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "b", "c", "d", "e"])
        .extra_load("d", 0, 1)
        .extra_load("e", 0, 2);
    w.snapshot
        .avoid
        .entry(gpid(0))
        .or_default()
        .insert(node("b"));
    assert_eq!(w.decide(), vec![add_learner(0, 6, "d")]);
}

#[test]
fn a_member_dropped_because_it_died_keeps_its_slot_for_the_dropout_delay() {
    let w = |silent| {
        World::table(3)
            .partition(config(0, 6, "a", &["c"]))
            .alive(&["a", "c", "d"])
            .dead_for("b", silent)
            .dropped(0, "b")
            .decide()
    };
    assert_eq!(w(299), vec![]);
    assert_eq!(w(300), vec![], "exactly the delay still waits");
    assert_eq!(w(301), vec![add_learner(0, 6, "d")]);
}

#[test]
fn the_admin_can_skip_the_wait_and_may_name_the_server() {
    let base = || {
        World::table(3)
            .partition(config(0, 6, "a", &["c"]))
            .alive(&["a", "c", "d", "e"])
            .dead_for("b", 10)
            .dropped(0, "b")
            .extra_load("d", 0, 1)
    };
    assert_eq!(
        base().admin_asks(0, None).decide(),
        vec![add_learner(0, 6, "e")]
    );
    assert_eq!(
        base().admin_asks(0, Some("d")).decide(),
        vec![add_learner(0, 6, "d")]
    );
    assert_eq!(
        base().admin_asks(0, Some("c")).decide(),
        vec![add_learner(0, 6, "e")],
        "a member cannot learn; the least loaded server is used instead"
    );
}

#[test]
fn a_learner_that_has_not_caught_up_keeps_learning_and_holds_its_slot() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c", "d", "e"])
        .learning(0, "d")
        .report("a", 0, 6, 100, 102)
        .report("d", 0, 6, 99, 102)
        .decide();
    assert_eq!(actions, vec![], "no promotion and no second learner");
}

#[test]
fn a_learner_the_primary_lists_as_ready_becomes_a_secondary() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c", "d"])
        .learning(0, "d")
        .report("a", 0, 6, 100, 102)
        .ready("a", 0, &["d"])
        .report("d", 0, 6, 97, 101)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            6,
            config(0, 7, "a", &["c", "d"]),
            Change::PromoteLearner { learner: node("d") }
        )],
        "the primary counts d for commit: its word wins over decrees reported at other moments"
    );
}

#[test]
fn a_learner_whose_log_matches_is_not_promoted_until_the_primary_lists_it_ready() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c", "d"])
        .learning(0, "d")
        .report("a", 0, 6, 100, 102)
        .report("d", 0, 6, 100, 102)
        .decide();
    assert_eq!(
        actions,
        vec![],
        "until the primary counts d for commit, a write could commit without it"
    );
}

#[test]
fn a_ready_list_from_an_older_ballot_does_not_count() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c", "d"])
        .learning(0, "d")
        .report("a", 0, 5, 100, 102)
        .ready("a", 0, &["d"])
        .report("d", 0, 6, 100, 102)
        .decide();
    assert_eq!(actions, vec![]);
}

#[test]
fn a_learner_report_from_an_older_ballot_does_not_prove_it_caught_up() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c", "d"])
        .learning(0, "d")
        .report("a", 0, 6, 100, 102)
        .ready("a", 0, &["d"])
        .report("d", 0, 5, 100, 102)
        .decide();
    assert_eq!(actions, vec![]);
}

#[test]
fn a_dead_ready_learner_is_not_promoted() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c"])
        .dead_for("d", 5)
        .learning(0, "d")
        .report("a", 0, 6, 100, 102)
        .ready("a", 0, &["d"])
        .report("d", 0, 6, 100, 102)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            6,
            config(0, 7, "a", &["c"]),
            Change::CancelLearners {
                learners: vec![(node("d"), DropWhy::Dead)]
            }
        )],
        "not promoted: dropped, with a new ballot since the primary counts it"
    );
}

#[test]
fn a_dead_learner_is_dropped_and_replaced() {
    let actions = World::table(2)
        .partition(config(0, 6, "a", &[]))
        .alive(&["a", "e"])
        .dead_for("d", 7)
        .learning(0, "d")
        .decide();
    assert_eq!(
        actions,
        vec![
            Action::DropLearner {
                gpid: gpid(0),
                ballot: Ballot(6),
                node: node("d"),
                why: DropWhy::Dead,
            },
            add_learner(0, 6, "e"),
        ]
    );
}

#[test]
fn a_dead_learner_the_primary_counts_for_commit_is_dropped_with_a_new_ballot() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["b"]))
        .alive(&["a", "b", "e"])
        .dead_for("d", 7)
        .learning(0, "d")
        .report("a", 0, 6, 10, 10)
        .ready("a", 0, &["d"])
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            6,
            config(0, 7, "a", &["b"]),
            Change::CancelLearners {
                learners: vec![(node("d"), DropWhy::Dead)]
            }
        )],
        "otherwise every write would wait for d; e learns next round"
    );
}

#[test]
fn an_unreachable_ready_learner_is_dropped_with_a_new_ballot() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["b"]))
        .alive(&["a", "b", "d"])
        .learning(0, "d")
        .report("a", 0, 6, 10, 10)
        .ready("a", 0, &["d"])
        .unreachable("a", 0, &["d"])
        .report("d", 0, 6, 10, 10)
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            6,
            config(0, 7, "a", &["b"]),
            Change::CancelLearners {
                learners: vec![(node("d"), DropWhy::Unreachable)]
            }
        )]
    );
}

#[test]
fn a_ready_learner_meta_does_not_know_is_cancelled_with_a_new_ballot() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &["b"]))
        .alive(&["a", "b", "d", "e"])
        .report("a", 0, 6, 10, 10)
        .ready("a", 0, &["b", "d"])
        .decide();
    assert_eq!(
        actions,
        vec![reconfigure(
            0,
            6,
            config(0, 7, "a", &["b"]),
            Change::CancelLearners {
                learners: vec![(node("d"), DropWhy::Stray)]
            }
        )],
        "b is a member, d a stray; learners are planned next round"
    );
}

#[test]
fn learners_of_a_full_partition_are_dropped() {
    let actions = World::table(2)
        .partition(config(0, 6, "a", &["b"]))
        .alive(&["a", "b", "d"])
        .learning(0, "d")
        .decide();
    assert_eq!(
        actions,
        vec![Action::DropLearner {
            gpid: gpid(0),
            ballot: Ballot(6),
            node: node("d"),
            why: DropWhy::Full,
        }]
    );
}

#[test]
fn learners_for_several_partitions_spread_over_the_idle_servers() {
    let actions = World::table(2)
        .partition(config(0, 6, "a", &[]))
        .partition(config(1, 6, "a", &[]))
        .alive(&["a", "d", "e"])
        .decide();
    assert_eq!(
        actions,
        vec![add_learner(0, 6, "d"), add_learner(1, 6, "e")]
    );
}

#[test]
fn a_partition_missing_two_members_gets_two_learners() {
    let actions = World::table(3)
        .partition(config(0, 6, "a", &[]))
        .alive(&["a", "d", "e", "f"])
        .extra_load("f", 0, 3)
        .decide();
    assert_eq!(
        actions,
        vec![add_learner(0, 6, "d"), add_learner(0, 6, "e")]
    );
}

#[test]
fn with_too_few_servers_a_partition_gets_what_there_is() {
    let actions = World::table(5)
        .partition(config(0, 6, "a", &["b"]))
        .alive(&["a", "b", "c"])
        .decide();
    assert_eq!(actions, vec![add_learner(0, 6, "c")]);
}

// ---- Rule 6: primary balancing ---------------------------------------------

/// After b came back, a leads all three partitions; b is a caught-up
/// secondary of each.
fn lopsided() -> World {
    let mut w = World::table(2).alive(&["a", "b"]);
    for p in 0..3 {
        w = w
            .partition(config(p, 8, "a", &["b"]))
            .report("a", p, 8, 20, 20)
            .report("b", p, 8, 20, 20);
    }
    w
}

#[test]
fn a_server_leading_two_more_partitions_hands_one_to_a_caught_up_secondary() {
    assert_eq!(
        lopsided().decide(),
        vec![Action::SwitchPrimary {
            gpid: gpid(0),
            ballot: Ballot(8),
            to: node("b")
        }]
    );
}

#[test]
fn balancing_moves_as_many_primaries_as_allowed_but_never_overshoots() {
    let mut w = lopsided();
    w.params.max_primary_switches = 10;
    let actions = w.decide();
    assert_eq!(actions.len(), 1, "3-0 becomes 2-1; 1-2 would just flip it");
}

#[test]
fn a_gap_of_one_primary_is_left_alone() {
    let mut w = World::table(2).alive(&["a", "b"]);
    for (p, primary, secondary) in [(0, "a", "b"), (1, "a", "b"), (2, "b", "a")] {
        w = w
            .partition(config(p, 8, primary, &[secondary]))
            .report(primary, p, 8, 20, 20)
            .report(secondary, p, 8, 20, 20);
    }
    assert_eq!(w.decide(), vec![]);
}

#[test]
fn a_secondary_reporting_from_behind_the_commit_point_is_not_handed_the_primary() {
    let mut w = World::table(2).alive(&["a", "b"]);
    for p in 0..3 {
        w = w
            .partition(config(p, 8, "a", &["b"]))
            .report("a", p, 8, 20, 21)
            .report("b", p, 8, 19, 19);
    }
    assert_eq!(w.decide(), vec![]);
}

#[test]
fn a_secondary_holding_what_the_primary_committed_may_lead_although_its_log_is_shorter() {
    // Under writes the two beacons never show the same decrees.
    let mut w = World::table(2).alive(&["a", "b"]);
    for p in 0..3 {
        w = w
            .partition(config(p, 8, "a", &["b"]))
            .report("a", p, 8, 20, 23)
            .report("b", p, 8, 19, 20);
    }
    assert_eq!(
        w.decide(),
        vec![Action::SwitchPrimary {
            gpid: gpid(0),
            ballot: Ballot(8),
            to: node("b")
        }]
    );
}

#[test]
fn balancing_waits_for_partitions_that_are_changing_or_learning() {
    let mut w = World::table(3).alive(&["a", "b", "c"]);
    for p in 0..3 {
        w = w
            .partition(config(p, 8, "a", &["b"]))
            .learning(p, "c")
            .report("a", p, 8, 20, 20)
            .report("b", p, 8, 20, 20);
    }
    assert_eq!(w.decide(), vec![]);
}

#[test]
fn a_planned_switch_ends_with_the_old_primary_as_a_secondary() {
    let current = config(0, 8, "a", &["b", "c"]);
    let next = switched_config(&current, &node("c"));
    assert_eq!(next, config(0, 9, "c", &["a", "b"]));
    let all = Health::with_alive(&nodes(&["a", "b", "c"]));
    assert_eq!(validate_config(&current, &next, &all), Ok(()));
}

// ---- Validation ---------------------------------------------------------------

#[test]
fn a_valid_successor_passes() {
    let all = Health::with_alive(&nodes(&["a", "b", "c", "d"]));
    let current = config(0, 5, "a", &["b"]);
    assert_eq!(
        validate_config(&current, &config(0, 6, "a", &["b", "d"]), &all),
        Ok(())
    );
    assert_eq!(
        validate_config(&current, &config(0, 6, "b", &[]), &all),
        Ok(())
    );
}

#[test]
fn the_ballot_must_be_exactly_the_next_one() {
    let all = Health::with_alive(&nodes(&["a", "b"]));
    let current = config(0, 5, "a", &["b"]);
    for bad in [5, 7, 4] {
        assert_eq!(
            validate_config(&current, &config(0, bad, "a", &[]), &all),
            Err(Invalid::BallotNotNext {
                proposed: Ballot(bad),
                current: Ballot(5)
            })
        );
    }
}

#[test]
fn members_must_be_distinct() {
    let all = Health::with_alive(&nodes(&["a", "b"]));
    let current = config(0, 5, "a", &["b"]);
    assert_eq!(
        validate_config(&current, &config(0, 6, "a", &["b", "a"]), &all),
        Err(Invalid::DuplicateMember(node("a")))
    );
    assert_eq!(
        validate_config(&current, &config(0, 6, "a", &["b", "b"]), &all),
        Err(Invalid::DuplicateMember(node("b")))
    );
}

#[test]
fn a_primary_is_required_unless_every_member_is_dead() {
    let current = config(0, 5, "a", &["b"]);
    let leaderless = config(0, 6, "", &["b"]);
    assert_eq!(
        validate_config(&current, &leaderless, &Health::with_alive(&nodes(&["b"]))),
        Err(Invalid::NoPrimary(node("b")))
    );
    assert_eq!(
        validate_config(&current, &leaderless, &Health::default()),
        Ok(())
    );
}

#[test]
fn a_new_primary_must_be_an_alive_member_and_someone_must_stay() {
    let current = config(0, 5, "a", &["b"]);
    let only_b = Health::with_alive(&nodes(&["b", "x"]));
    assert_eq!(
        validate_config(&current, &config(0, 6, "x", &["b"]), &only_b),
        Err(Invalid::PrimaryNotMember(node("x")))
    );
    assert_eq!(
        validate_config(
            &current,
            &config(0, 6, "b", &[]),
            &Health::with_alive(&nodes(&["a"]))
        ),
        Err(Invalid::PrimaryDead(node("b")))
    );
    assert_eq!(
        validate_config(&current, &config(0, 6, "", &[]), &Health::default()),
        Err(Invalid::LosesEveryMember)
    );
    assert!(matches!(
        validate_config(&current, &config(1, 6, "a", &["b"]), &only_b),
        Err(Invalid::WrongPartition { .. })
    ));
}

// ---- The whole round ---------------------------------------------------------

#[test]
fn one_round_makes_at_most_one_change_per_partition_and_every_change_is_valid() {
    let w = World::table(3)
        .partition(config(0, 5, "a", &["b", "c"]))
        .partition(config(1, 3, "b", &["a", "c"]))
        .partition(config(2, 9, "c", &["d"]))
        .alive(&["b", "c", "d", "e"])
        .dead_for("a", 400)
        .dropped(2, "a")
        .report("b", 0, 5, 1, 2)
        .report("c", 0, 5, 1, 1);
    let actions = w.decide();
    assert_eq!(
        actions,
        vec![
            reconfigure(
                0,
                5,
                config(0, 6, "b", &["c"]),
                Change::PromoteSecondary {
                    new_primary: node("b"),
                    removed: nodes(&["a"]),
                }
            ),
            reconfigure(
                1,
                3,
                config(1, 4, "b", &["c"]),
                Change::RemoveDeadSecondaries {
                    removed: nodes(&["a"])
                }
            ),
            add_learner(2, 9, "e"),
        ]
    );
    for a in &actions {
        let current = &w.snapshot.partitions[a.gpid().partition.0 as usize];
        assert_eq!(a.ballot(), current.ballot);
        if let Some(next) = a.new_config() {
            assert_eq!(validate_config(current, next, &w.snapshot.health), Ok(()));
        }
    }
    assert_eq!(
        w.decide(),
        actions,
        "the same snapshot gives the same answer"
    );
}

#[test]
fn health_follows_the_liveness_table() {
    use std::time::Instant;
    let mut l = crate::liveness::Liveness::default();
    let t0 = Instant::now();
    l.beacon(&node("a"), t0);
    l.beacon(&node("b"), t0 + Duration::from_secs(10));
    let h = Health::from_liveness(
        &l,
        &nodes(&["a", "b", "never"]),
        t0 + Duration::from_secs(12),
        Duration::from_secs(6),
    );
    assert!(h.is_alive(&node("b")));
    assert!(!h.is_alive(&node("a")));
    assert!(h.dead_longer_than(&node("a"), Duration::from_secs(11)));
    assert!(!h.is_alive(&node("never")));
    assert!(
        !h.dead_longer_than(&node("never"), Duration::ZERO),
        "never heard of counts as just silent"
    );
}

#[test]
fn the_defaults_are_documented_values() {
    let p = ReconfigParams::default();
    assert_eq!(p.dropout_delay, Duration::from_secs(300));
    assert_eq!(p.balance_threshold, 2);
    assert_eq!(p.max_primary_switches, 1);
    assert_eq!(p.restart_wait, Duration::from_secs(3));
}

#[test]
fn a_beacon_report_is_read_with_its_role_and_lists() {
    let m = petrel_common::msg::ReplicaInfoMsg {
        table_id: 1,
        partition_id: 0,
        ballot: 7,
        last_committed_decree: 40,
        last_prepared_decree: 42,
        ready_learners: vec!["d".to_string(), String::new()],
        unreachable: vec!["c".to_string(), "b".to_string(), "c".to_string()],
        ..Default::default()
    }
    .with_role(ReplicaRole::Primary);
    let r = ReplicaReport::from_msg(&node("a"), &m);
    assert_eq!(
        (r.gpid, r.ballot, r.last_committed, r.last_prepared, r.role),
        (
            gpid(0),
            Ballot(7),
            Decree(40),
            Decree(42),
            ReplicaRole::Primary
        )
    );
    assert_eq!(r.ready_learners, [node("d")].into_iter().collect());
    assert_eq!(r.unreachable, nodes(&["c", "b"]), "in order, once each");
    // A server that predates the role enum sends only the text.
    for (text, role) in [
        ("secondary", ReplicaRole::Secondary),
        ("learner", ReplicaRole::Learner),
        ("inactive", ReplicaRole::Inactive),
        ("error", ReplicaRole::Error),
        ("splitting", ReplicaRole::Unknown),
    ] {
        let old = petrel_common::msg::ReplicaInfoMsg {
            role_name: text.to_string(),
            ..m.clone()
        };
        let old = petrel_common::msg::ReplicaInfoMsg { role: 0, ..old };
        assert_eq!(ReplicaReport::from_msg(&node("a"), &old).role, role);
    }
}

// ---- Rules 6 and 7: replica moves -------------------------------------------

fn start_move(p: u32, ballot: u64, from: &str, to: &str) -> Action {
    Action::StartMove {
        gpid: gpid(p),
        ballot: Ballot(ballot),
        from: node(from),
        to: node(to),
    }
}

/// Three full partitions on a, b and c (a leads them all), caught up; `d`
/// is a new, empty server.
fn with_a_new_server() -> World {
    let mut w = World::table(3).alive(&["a", "b", "c", "d"]);
    for p in 0..3 {
        w = w
            .partition(config(p, 4, "a", &["b", "c"]))
            .report("a", p, 4, 10, 10)
            .report("b", p, 4, 10, 10)
            .report("c", p, 4, 10, 10);
    }
    w.params.max_primary_switches = 0;
    w
}

#[test]
fn a_new_server_receives_secondaries_from_the_fullest_servers_up_to_the_limit() {
    let w = with_a_new_server();
    assert_eq!(
        w.decide(),
        vec![start_move(0, 4, "b", "d"), start_move(1, 4, "c", "d")],
        "3-3-3-0: b and c each give one secondary (never the primary); the limit is 2"
    );
}

#[test]
fn moves_stop_at_the_in_flight_limit_counted_across_the_cluster() {
    let mut w = with_a_new_server();
    w.load.moves = 2;
    assert_eq!(w.decide(), vec![]);
    w.load.moves = 1;
    assert_eq!(w.decide(), vec![start_move(0, 4, "b", "d")]);
}

#[test]
fn servers_within_one_replica_of_each_other_are_left_alone() {
    let mut w = World::table(1).alive(&["a", "b"]);
    for (p, n) in [(0, "a"), (1, "a"), (2, "b")] {
        w = w.partition(config(p, 2, n, &[])).report(n, p, 2, 5, 5);
    }
    assert_eq!(
        w.decide(),
        vec![],
        "2-1 is balanced; a sole primary never moves either"
    );
}

#[test]
fn a_move_waits_for_its_learner_although_the_partition_is_full() {
    let w = with_a_new_server()
        .moving(0, "b", "d")
        .moving(1, "c", "d")
        .report("d", 0, 4, 3, 3);
    assert_eq!(
        w.decide(),
        vec![],
        "the learners are kept (not dropped as surplus) and nothing else moves: the limit is reached"
    );
}

#[test]
fn a_caught_up_move_swaps_the_learner_in_for_the_leaving_member_in_one_ballot() {
    let mut w = with_a_new_server().moving(0, "b", "d");
    w.params.max_moves = 1;
    let w = w.ready("a", 0, &["d"]).report("d", 0, 4, 9, 10);
    assert_eq!(
        w.decide(),
        vec![reconfigure(
            0,
            4,
            config(0, 5, "a", &["c", "d"]),
            Change::MoveReplica {
                from: node("b"),
                to: node("d")
            }
        )]
    );
}

#[test]
fn a_move_whose_target_died_drops_its_learner() {
    let w = with_a_new_server()
        .moving(0, "b", "d")
        .dead_for("d", 5)
        .report("d", 0, 4, 3, 3);
    let actions = w.decide();
    assert_eq!(
        actions.first(),
        Some(&Action::DropLearner {
            gpid: gpid(0),
            ballot: Ballot(4),
            node: node("d"),
            why: DropWhy::Dead
        })
    );
}

#[test]
fn a_move_whose_leaving_member_became_primary_hands_the_lead_over_first() {
    let mut w = World::table(3).alive(&["a", "b", "c", "d"]);
    w = w
        .partition(config(0, 5, "b", &["a", "c"]))
        .moving(0, "b", "d")
        .report("a", 0, 5, 10, 10)
        .report("b", 0, 5, 10, 10)
        .ready("b", 0, &["d"])
        .report("c", 0, 5, 10, 10)
        .report("d", 0, 5, 10, 10);
    w.params.max_moves = 1;
    assert_eq!(
        w.decide(),
        vec![Action::SwitchPrimary {
            gpid: gpid(0),
            ballot: Ballot(5),
            to: node("a")
        }]
    );
}

#[test]
fn a_draining_server_hands_its_lead_over_then_its_replicas_move_to_the_emptiest_server() {
    let mut w = World::table(2).alive(&["a", "b", "c"]).draining("a");
    w = w
        .partition(config(0, 3, "a", &["b"]))
        .report("a", 0, 3, 10, 10)
        .report("b", 0, 3, 10, 10)
        .partition(config(1, 3, "b", &["a"]))
        .report("b", 1, 3, 10, 10)
        .report("a", 1, 3, 10, 10);
    assert_eq!(
        w.decide(),
        vec![
            Action::SwitchPrimary {
                gpid: gpid(0),
                ballot: Ballot(3),
                to: node("b")
            },
            start_move(1, 3, "a", "c"),
        ]
    );
}

#[test]
fn a_draining_server_receives_no_learner_and_no_primary() {
    let w = World::table(3)
        .partition(config(0, 6, "a", &["c"]))
        .alive(&["a", "c", "d", "e"])
        .draining("d")
        .report("a", 0, 6, 100, 102)
        .report("c", 0, 6, 100, 102)
        .decide();
    assert_eq!(w, vec![add_learner(0, 6, "e")], "d is emptier but draining");
    let mut w = lopsided().draining("b");
    w.params.max_moves = 0;
    assert_eq!(
        w.decide(),
        vec![],
        "b leads fewer partitions but is draining"
    );
}

#[test]
fn the_balance_plan_ends_within_one_replica_and_one_primary_of_the_share() {
    // 8 partitions x 3 replicas on a, b, c; d and e are new.
    let servers = ["a", "b", "c"];
    let partitions: Vec<PartitionConfig> = (0..8)
        .map(|p| {
            let r = |i: u32| servers[((p + i) % 3) as usize];
            config(p, 1, r(0), &[r(1), r(2)])
        })
        .collect();
    let health = Health::with_alive(&nodes(&["a", "b", "c", "d", "e"]));
    let params = ReconfigParams::default();
    let plan = moves::plan_to_balance(
        &[(3, partitions.clone())],
        &BTreeMap::new(),
        &health,
        &BTreeSet::new(),
        &params,
        1000,
    );
    let end = play(&partitions, &plan);
    let (replicas, primaries) = counts(&end, &["a", "b", "c", "d", "e"]);
    assert!(
        spread(&replicas) <= 1,
        "replicas {replicas:?} after {plan:?}"
    );
    assert!(
        spread(&primaries) <= 1,
        "primaries {primaries:?} after {plan:?}"
    );
    assert_eq!(replicas.iter().sum::<u32>(), 24);
    // Then drain e: it ends empty, the others within one.
    let draining: BTreeSet<NodeAddr> = [node("e")].into_iter().collect();
    let plan = moves::plan_to_balance(
        &[(3, end.clone())],
        &BTreeMap::new(),
        &health,
        &draining,
        &params,
        1000,
    );
    let drained = play(&end, &plan);
    let (replicas, primaries) = counts(&drained, &["a", "b", "c", "d", "e"]);
    assert_eq!((replicas[4], primaries[4]), (0, 0), "{plan:?}");
    assert!(spread(&replicas[..4]) <= 1, "{replicas:?}");
    for c in &drained {
        assert_eq!(c.members().count(), 3);
    }
}

/// `partitions` after `plan`'s steps.
fn play(partitions: &[PartitionConfig], plan: &[moves::PlannedStep]) -> Vec<PartitionConfig> {
    let mut end = partitions.to_vec();
    for step in plan {
        match step {
            moves::PlannedStep::Move { gpid, from, to } => {
                let c = end.iter_mut().find(|c| c.gpid == *gpid).expect("exists");
                assert!(
                    c.secondaries.contains(from),
                    "only secondaries move: {step:?}"
                );
                c.secondaries.retain(|s| s != from);
                c.secondaries.push(to.clone());
            }
            moves::PlannedStep::SwitchPrimary { gpid, to, .. } => {
                let c = end.iter_mut().find(|c| c.gpid == *gpid).expect("exists");
                *c = switched_config(c, to);
            }
        }
    }
    end
}

fn counts(partitions: &[PartitionConfig], servers: &[&str]) -> (Vec<u32>, Vec<u32>) {
    let replicas = servers
        .iter()
        .map(|s| partitions.iter().filter(|c| c.has_member(&node(s))).count() as u32)
        .collect();
    let primaries = servers
        .iter()
        .map(|s| {
            partitions
                .iter()
                .filter(|c| c.primary == Some(node(s)))
                .count() as u32
        })
        .collect();
    (replicas, primaries)
}

fn spread(v: &[u32]) -> u32 {
    v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0)
}
