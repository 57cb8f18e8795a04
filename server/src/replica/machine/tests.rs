//! Scenario tests that read like prose, and the seeded simulation runs.
//!
//! - Replay one seed with its trace: `PETREL_SIM_TRACE=1 PETREL_SIM_SEED=<seed>
//!   PETREL_SIM_RC=<replicas> PETREL_SIM_STEPS=400 [PETREL_SIM_SMALL=1] cargo
//!   test -p petrel-server --lib replica::machine::tests::one_seed -- --nocapture`
//!   (`PETREL_SIM_SMALL` selects the small-window options).
//! - Soak: `PETREL_SIM_SCALE=60 cargo test -p petrel-server --lib
//!   replica::machine::tests::simulation` runs 60 times as many seeds.

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::sim::{addr, run_seed, Packet, Payload, Sim, Stats};
use super::*;

fn n(i: usize) -> NodeAddr {
    addr(i)
}

fn is_prepare_to(p: &Packet, to: usize) -> bool {
    p.to == n(to) && matches!(p.payload, Payload::Peer(Message::Prepare { .. }))
}

fn acked(sim: &Sim, t: Token) -> bool {
    matches!(sim.replies.get(&t), Some(Ok(_)))
}

fn config(ballot: u64, primary: usize, secondaries: &[usize]) -> PartitionConfig {
    PartitionConfig {
        gpid: Gpid::new(1, 0),
        ballot: Ballot(ballot),
        primary: Some(n(primary)),
        secondaries: secondaries.iter().map(|i| n(*i)).collect(),
    }
}

fn sends(outs: &[Output]) -> Vec<(NodeAddr, Message)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } => Some((to.clone(), msg.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_write_commits_only_when_every_member_has_it() {
    let mut sim = Sim::new(1, 3, 0, Options::default());
    sim.settle();
    assert!(sim.node("n0").machine.can_serve_read());
    // n2 does not get the prepare: nobody commits.
    sim.filter(|p| is_prepare_to(p, 2));
    let t = sim.propose();
    sim.settle();
    assert!(!acked(&sim, t));
    assert_eq!(sim.node("n0").machine.last_committed(), Decree(0));
    assert_eq!(sim.node("n1").machine.last_prepared(), Decree(1));
    // The link heals; the primary resends after resend_ms; the write commits.
    sim.clear_filters();
    sim.advance(250);
    sim.settle();
    assert!(acked(&sim, t));
    // Secondaries learn the commit point from the next group check.
    sim.advance(600);
    sim.settle();
    for a in ["n0", "n1", "n2"] {
        assert_eq!(sim.node(a).machine.last_committed(), Decree(1), "{a}");
    }
}

#[test]
fn primary_crash_with_uncommitted_tail_keeps_the_tail() {
    let mut sim = Sim::new(2, 3, 0, Options::default());
    sim.settle();
    // Three writes reach n1 only, then the primary dies before anything commits.
    sim.filter(|p| is_prepare_to(p, 2));
    let tokens: Vec<Token> = (0..3).map(|_| sim.propose()).collect();
    sim.deliver_all();
    sim.fsync_all();
    assert!(tokens.iter().all(|t| !acked(&sim, *t)));
    sim.crash(0);
    sim.clear_filters();
    // Meta promotes the member with the longest log: n1.
    sim.meta_step();
    assert_eq!(sim.meta.config.primary, Some(n(1)));
    assert_eq!(sim.meta.config.ballot, Ballot(2));
    sim.deliver_all();
    let p = &sim.node("n1").machine;
    assert_eq!(p.status(), Status::Primary);
    assert!(!p.can_serve_read(), "not reconciled yet: no reads");
    // It re-prepares its tail under ballot 2 and commits it before serving.
    sim.settle();
    let p = &sim.node("n1").machine;
    assert!(p.is_reconciled() && p.can_serve_read());
    assert_eq!(p.last_committed(), Decree(3));
    assert_eq!(sim.node("n2").machine.last_prepared(), Decree(3));
    // The clients of the dead primary never got an answer: their writes
    // committed anyway, which is allowed (an unanswered write may take effect).
    assert!(tokens.iter().all(|t| !sim.replies.contains_key(t)));
}

#[test]
fn secondary_that_missed_prepares_catches_up() {
    let mut sim = Sim::new(3, 3, 0, Options::default());
    sim.settle();
    sim.filter(|p| is_prepare_to(p, 2));
    let tokens: Vec<Token> = (0..5).map(|_| sim.propose()).collect();
    sim.settle();
    assert_eq!(sim.node("n2").machine.last_prepared(), Decree(0));
    sim.clear_filters();
    sim.advance(250); // resend
    sim.settle();
    sim.advance(600); // group check carries the commit point
    sim.settle();
    assert!(tokens.iter().all(|t| acked(&sim, *t)));
    assert_eq!(sim.node("n2").machine.last_committed(), Decree(5));
    assert_eq!(sim.node("n2").storage, sim.node("n0").storage);
}

#[test]
fn stale_ballot_prepare_is_rejected_and_the_sender_learns_the_new_config() {
    let mut s = ReplicaMachine::new(n(1), Gpid::new(1, 0), Options::default());
    let b2 = config(2, 2, &[1]);
    let outs = s.handle(Input::ConfigChanged(b2.clone()));
    assert_eq!(outs.first(), Some(&Output::PersistConfig(b2.clone())));
    let entry = Entry {
        ballot: Ballot(1),
        decree: Decree(1),
        mutation: Bytes::from_static(b"x"),
    };
    let outs = s.handle(Input::Message {
        from: n(0),
        msg: Message::Prepare {
            config: config(1, 0, &[1]),
            entry,
            last_committed: Decree(0),
        },
    });
    assert_eq!(
        sends(&outs),
        vec![(n(0), Message::Reject { config: b2.clone() })]
    );
    assert!(!outs.iter().any(|o| matches!(o, Output::AppendLog { .. })));
    // The old primary adopts ballot 2 (persisting it first) and steps down.
    let mut old = ReplicaMachine::new(n(0), Gpid::new(1, 0), Options::default());
    old.handle(Input::LeaseChanged { valid: true });
    old.handle(Input::ConfigChanged(config(1, 0, &[1])));
    let outs = old.handle(Input::Propose {
        token: 7,
        mutation: Bytes::from_static(b"y"),
    });
    assert!(outs.iter().any(|o| matches!(o, Output::AppendLog { .. })));
    let outs = old.handle(Input::Message {
        from: n(1),
        msg: Message::Reject { config: b2.clone() },
    });
    assert_eq!(outs[0], Output::PersistConfig(b2));
    assert!(outs.contains(&Output::Reply {
        token: 7,
        result: Err(WriteError::Unknown {
            ballot: Ballot(2),
            primary: Some(n(2)),
        }),
    }));
    assert_eq!(old.status(), Status::Inactive);
}

#[test]
fn lower_ballot_primary_cannot_commit_after_a_new_config() {
    let mut sim = Sim::new(4, 3, 0, Options::default());
    sim.settle();
    // A write is in flight from n0 when meta loses n0 (its lease expires first).
    let t = sim.propose();
    sim.suspect(0);
    sim.meta_step();
    assert_eq!(sim.meta.config.ballot, Ballot(2));
    assert!(!sim.meta.config.has_member(&n(0)));
    // n0 never hears of ballot 2 from meta; the others do, before n0's prepares.
    sim.filter(|p| p.to == n(0) && matches!(p.payload, Payload::Config(_)));
    let (to_new, rest): (Vec<Packet>, Vec<Packet>) = std::mem::take(&mut sim.net)
        .into_iter()
        .partition(|p| matches!(p.payload, Payload::Config(_)));
    sim.net = to_new;
    sim.deliver_all();
    sim.net = rest;
    sim.settle();
    // The prepares were refused with the new config: n0 steps down, the
    // client is told the outcome is unknown, and nothing was applied.
    assert_eq!(
        sim.replies.get(&t),
        Some(&Err(WriteError::Unknown {
            ballot: Ballot(2),
            primary: sim.meta.config.primary.clone(),
        }))
    );
    assert_eq!(sim.node("n0").machine.status(), Status::Inactive);
    assert!(sim.node("n0").storage.is_empty());
    assert_eq!(sim.node("n1").machine.last_prepared(), Decree(0));
    // And with its lease gone it refused new writes all along.
    let t2 = sim.propose_to(0);
    assert!(matches!(
        sim.replies.get(&t2),
        Some(Err(WriteError::NotPrimary { .. }))
    ));
}

#[test]
fn deposed_primary_with_expired_lease_refuses_reads_and_writes() {
    let mut sim = Sim::new(5, 3, 0, Options::default());
    sim.settle();
    sim.suspect(0);
    let m = &sim.node("n0").machine;
    assert_eq!(m.status(), Status::Primary);
    assert!(!m.can_serve_read());
    let t = sim.propose_to(0);
    assert_eq!(
        sim.replies.get(&t),
        Some(&Err(WriteError::LeaseExpired { ballot: Ballot(1) }))
    );
}

#[test]
fn back_pressure_answers_busy() {
    let opts = Options {
        max_in_flight: 2,
        ..Options::default()
    };
    let mut sim = Sim::new(6, 3, 0, opts);
    sim.settle();
    sim.filter(|p| is_prepare_to(p, 1));
    let a = sim.propose();
    let b = sim.propose();
    let c = sim.propose();
    assert!(!sim.replies.contains_key(&a) && !sim.replies.contains_key(&b));
    assert_eq!(
        sim.replies.get(&c),
        Some(&Err(WriteError::Busy {
            in_flight: 2,
            limit: 2
        }))
    );
}

#[test]
fn restarted_single_replica_needs_a_new_ballot_then_serves_again() {
    let mut sim = Sim::new(7, 1, 0, Options::default());
    sim.settle();
    let t = sim.propose();
    sim.settle();
    assert!(acked(&sim, t));
    sim.crash(0);
    // Storage was not flushed: the log replays it. The recovered primary is
    // inactive until meta, seeing a new incarnation, issues ballot 2.
    sim.restart(0);
    sim.settle();
    let m = &sim.node("n0").machine;
    assert_eq!(m.ballot(), Ballot(2));
    assert!(m.can_serve_read());
    assert_eq!(m.last_committed(), Decree(1));
    assert_eq!(sim.node("n0").storage, vec![Bytes::from(format!("v{t}"))]);
}

#[test]
fn a_recovered_primary_is_inactive_until_a_new_ballot() {
    let entry = Entry {
        ballot: Ballot(1),
        decree: Decree(2),
        mutation: Bytes::from_static(b"b"),
    };
    let rec = Recovered {
        config: config(1, 0, &[1]),
        applied: Decree(1),
        entries: vec![entry.clone()],
    };
    let mut m = ReplicaMachine::recover(n(0), Options::default(), rec);
    assert_eq!(m.status(), Status::Inactive);
    assert_eq!(
        (m.last_committed(), m.last_prepared()),
        (Decree(1), Decree(2))
    );
    // Meta re-issuing the same ballot changes nothing; a new one makes it
    // primary, re-preparing decree 2 under ballot 2 (rule 7).
    assert!(m
        .handle(Input::ConfigChanged(config(1, 0, &[1])))
        .is_empty());
    let outs = m.handle(Input::ConfigChanged(config(2, 0, &[1])));
    assert_eq!(m.status(), Status::Primary);
    assert!(!m.is_reconciled());
    let relabeled = Entry {
        ballot: Ballot(2),
        ..entry
    };
    assert!(outs.contains(&Output::AppendLog {
        seq: 1,
        entry: relabeled.clone(),
    }));
    assert!(sends(&outs).contains(&(
        n(1),
        Message::Prepare {
            config: config(2, 0, &[1]),
            entry: relabeled,
            last_committed: Decree(1),
        }
    )));
    // Reconciled once the secondary acks and the primary's own log is durable.
    m.handle(Input::LogDurable { seq: 1 });
    let outs = m.handle(Input::Message {
        from: n(1),
        msg: Message::PrepareAck {
            ballot: Ballot(2),
            decree: Decree(2),
        },
    });
    assert!(outs.contains(&Output::Apply {
        decree: Decree(2),
        mutation: Bytes::from_static(b"b"),
    }));
    assert!(m.is_reconciled());
    assert!(!m.can_serve_read(), "no lease yet");
    m.handle(Input::LeaseChanged { valid: true });
    assert!(m.can_serve_read());
}

fn entry(ballot: u64, decree: u64, m: &'static str) -> Entry {
    Entry {
        ballot: Ballot(ballot),
        decree: Decree(decree),
        mutation: Bytes::from_static(m.as_bytes()),
    }
}

#[test]
fn a_restarted_learner_keeps_its_log_and_rewrites_only_what_differs() {
    // n3 learned decrees 1-2 and holds a stale 3; storage was not flushed.
    let rec = Recovered {
        config: config(2, 0, &[]),
        applied: Decree(0),
        entries: vec![entry(1, 1, "a"), entry(2, 2, "b"), entry(1, 3, "x")],
    };
    let mut m = ReplicaMachine::recover(n(3), Options::default(), rec);
    let invite = Message::GroupCheck {
        config: config(2, 0, &[]),
        learner: true,
        last_committed: Decree(2),
        last_prepared: Decree(3),
    };
    let outs = m.handle(Input::Message {
        from: n(0),
        msg: invite,
    });
    // Nothing is truncated (the primary may have counted these entries), and
    // nothing is trusted yet: no commit before the reply is compared.
    assert_eq!(
        outs.iter()
            .filter(|o| !matches!(o, Output::Send { .. }))
            .count(),
        0,
        "{outs:?}"
    );
    assert!(sends(&outs).contains(&(
        n(0),
        Message::LearnRequest {
            ballot: Ballot(2),
            committed: Decree(0),
        }
    )));
    assert_eq!(m.status(), Status::Learner);
    assert_eq!(m.last_committed(), Decree(0));
    let outs = m.handle(Input::Message {
        from: n(0),
        msg: Message::LearnReply {
            ballot: Ballot(2),
            last_committed: Decree(2),
            entries: vec![entry(1, 1, "a"), entry(2, 2, "b"), entry(2, 3, "y")],
        },
    });
    assert_eq!(
        outs,
        vec![
            Output::TruncateLog {
                seq: 1,
                after: Decree(2),
            },
            Output::AppendLog {
                seq: 2,
                entry: entry(2, 3, "y"),
            },
            Output::Apply {
                decree: Decree(1),
                mutation: Bytes::from_static(b"a"),
            },
            Output::Apply {
                decree: Decree(2),
                mutation: Bytes::from_static(b"b"),
            },
        ]
    );
    let outs = m.handle(Input::LogDurable { seq: 2 });
    assert!(sends(&outs).contains(&(
        n(0),
        Message::LearnCompleted {
            ballot: Ballot(2),
            through: Decree(3),
        }
    )));
}

#[test]
fn a_learner_reported_ready_blocks_commits_until_a_new_ballot() {
    let mut p = ReplicaMachine::new(n(0), Gpid::new(1, 0), Options::default());
    p.handle(Input::LeaseChanged { valid: true });
    p.handle(Input::ConfigChanged(config(2, 0, &[])));
    p.handle(Input::AddLearner {
        ballot: Ballot(2),
        node: n(3),
    });
    let from_learner = |msg| Input::Message { from: n(3), msg };
    p.handle(from_learner(Message::LearnRequest {
        ballot: Ballot(2),
        committed: Decree(0),
    }));
    let outs = p.handle(from_learner(Message::LearnCompleted {
        ballot: Ballot(2),
        through: Decree(0),
    }));
    let ready = Output::LearnerReady {
        ballot: Ballot(2),
        node: n(3),
    };
    assert!(outs.contains(&ready));
    // The learner goes silent. Meta may be upgrading it on our word, so a
    // write cannot commit without it, even after it is reported.
    p.handle(Input::Propose {
        token: 1,
        mutation: Bytes::from_static(b"w"),
    });
    p.handle(Input::LogDurable { seq: 1 });
    assert_eq!(p.last_committed(), Decree(0));
    let outs = p.handle(Input::Tick { now_ms: 5_000 });
    assert!(outs.contains(&Output::ReportFailure {
        ballot: Ballot(2),
        node: n(3),
    }));
    assert_eq!(p.last_committed(), Decree(0));
    // Meta cancels the learner with ballot 3: the write commits.
    let outs = p.handle(Input::ConfigChanged(config(3, 0, &[])));
    p.handle(Input::LogDurable { seq: 2 });
    assert_eq!(p.last_committed(), Decree(1), "{outs:?}");
    assert!(p.learners().all(|(_, ready)| !ready));
}

#[test]
fn a_returning_member_truncates_its_divergent_tail_and_learns() {
    let mut sim = Sim::new(8, 3, 0, Options::default());
    sim.settle();
    // Write A reaches n2 only; then n0 dies and n2 is suspected.
    sim.filter(|p| is_prepare_to(p, 1));
    let a = sim.propose();
    sim.deliver_all();
    sim.fsync_all();
    sim.crash(0);
    sim.suspect(2);
    sim.clear_filters();
    sim.meta_step(); // n1 alone at ballot 2
    sim.settle();
    assert_eq!(sim.meta.config, config(2, 1, &[]));
    let b = sim.propose();
    sim.settle();
    assert!(acked(&sim, b));
    assert_eq!(
        sim.node("n2").machine.last_prepared(),
        Decree(1),
        "n2 holds A at decree 1"
    );
    // n2 comes back: it becomes a learner, drops A (rule 8), learns B, and is promoted.
    sim.unsuspect(2);
    for _ in 0..10 {
        sim.settle();
        sim.advance(300);
    }
    assert!(sim.meta.config.secondaries.contains(&n(2)));
    assert_eq!(sim.node("n2").storage, vec![Bytes::from(format!("v{b}"))]);
    assert!(!sim.replies.contains_key(&a));
}

#[test]
fn learner_far_behind_gets_a_checkpoint() {
    learner_behind_the_window(Options {
        learn_window: 4,
        ..Options::default()
    });
}

#[test]
fn a_byte_capped_window_sends_a_checkpoint_too() {
    // Every entry is over the cap: the window holds nothing committed.
    learner_behind_the_window(Options {
        learn_window_bytes: 1,
        ..Options::default()
    });
}

fn learner_behind_the_window(opts: Options) {
    let mut sim = Sim::new(9, 3, 1, opts);
    sim.settle();
    sim.crash(2);
    sim.settle(); // meta drops n2: ballot 2 = {n0, n1}
    for _ in 0..20 {
        sim.propose();
        sim.settle();
    }
    assert_eq!(sim.node("n0").machine.last_committed(), Decree(20));
    for _ in 0..10 {
        sim.settle();
        sim.advance(300);
    }
    let learner = if sim.meta.config.secondaries.contains(&n(3)) {
        "n3"
    } else {
        "n2"
    };
    assert_eq!(
        sim.meta.config.members().count(),
        3,
        "{:?}",
        sim.meta.config
    );
    assert_eq!(sim.node(learner).storage, sim.node("n0").storage);
    let t = sim.propose();
    sim.settle();
    assert!(acked(&sim, t));
    assert_eq!(sim.node(learner).machine.last_prepared(), Decree(21));
}

#[test]
fn one_seed() {
    let seed = std::env::var("PETREL_SIM_SEED").map_or(0, |s| s.parse().unwrap());
    let rc = std::env::var("PETREL_SIM_RC").map_or(3, |s| s.parse().unwrap());
    let steps = std::env::var("PETREL_SIM_STEPS").map_or(300, |s| s.parse().unwrap());
    let opts = if std::env::var("PETREL_SIM_SMALL").is_ok() {
        small_opts()
    } else {
        Options::default()
    };
    run_seed(seed, rc, steps, opts);
}

fn small_opts() -> Options {
    Options {
        max_in_flight: 4,
        learn_window: 3,
        ..Options::default()
    }
}

/// Runs every seed; prints what the schedule covered (`--nocapture` to see it).
fn many(replica_count: usize, seeds: std::ops::Range<u64>, steps: usize, opts: Options) -> Stats {
    let mut total = Stats::default();
    // PETREL_SIM_SCALE=k runs k times as many seeds (soak).
    let scale: u64 = std::env::var("PETREL_SIM_SCALE").map_or(1, |s| s.parse().unwrap());
    let seeds = seeds.start..seeds.start + (seeds.end - seeds.start) * scale;
    for seed in seeds {
        let sim = run_seed(seed, replica_count, steps, opts.clone());
        total += &sim.stats;
    }
    println!("replica_count {replica_count}: {total:?}");
    assert!(total.replies_ok > 0 && total.configs > 0 && total.crashes > 0);
    total
}

#[test]
fn simulation_three_replicas() {
    let s = many(3, 0..1000, 400, Options::default());
    assert!(s.learners_promoted > 0 && s.suspicions > 0);
}

#[test]
fn simulation_one_replica() {
    many(1, 1000..1300, 400, Options::default());
}

#[test]
fn simulation_two_replicas() {
    many(2, 2000..2500, 400, Options::default());
}

#[test]
fn simulation_five_replicas() {
    many(5, 5000..5500, 400, Options::default());
}

#[test]
fn simulation_small_window_and_back_pressure() {
    let s = many(3, 9000..9500, 400, small_opts());
    assert!(s.checkpoints > 0);
}

#[test]
fn simulation_byte_capped_window() {
    // Only a couple of entries fit: learners mostly get checkpoints.
    let s = many(
        3,
        9500..9800,
        400,
        Options {
            learn_window_bytes: 40,
            ..Options::default()
        },
    );
    assert!(s.checkpoints > 0);
}

#[test]
fn a_secondary_busy_with_a_big_entry_gets_its_size_allowance_before_it_is_reported() {
    let reported = |outs: &[Output]| {
        outs.contains(&Output::ReportFailure {
            ballot: Ballot(2),
            node: n(1),
        })
    };
    // 30 MB: 6 s of allowance at the assumed worst 5 MB/s.
    let mut p = ReplicaMachine::new(n(0), Gpid::new(1, 0), Options::default());
    p.handle(Input::LeaseChanged { valid: true });
    p.handle(Input::ConfigChanged(config(2, 0, &[1])));
    p.handle(Input::Propose {
        token: 1,
        mutation: Bytes::from(vec![b'v'; 30_000_000]),
    });
    p.handle(Input::LogDurable { seq: 1 });
    // Silent past the failure timeout but within the allowance: receiving
    // and logging 30 MB can keep a member from sending anything else.
    assert!(!reported(&p.handle(Input::Tick { now_ms: 2_500 })));
    assert!(!reported(&p.handle(Input::Tick { now_ms: 7_900 })));
    assert!(reported(&p.handle(Input::Tick { now_ms: 8_100 })));

    // A small entry gets no allowance: silence past the timeout is reported.
    let mut p = ReplicaMachine::new(n(0), Gpid::new(1, 0), Options::default());
    p.handle(Input::LeaseChanged { valid: true });
    p.handle(Input::ConfigChanged(config(2, 0, &[1])));
    p.handle(Input::Propose {
        token: 1,
        mutation: Bytes::from_static(b"w"),
    });
    p.handle(Input::LogDurable { seq: 1 });
    assert!(reported(&p.handle(Input::Tick { now_ms: 2_500 })));
}
