//! Checker tests: hand-written histories with known answers, random
//! histories from a simulated linearizable key (and corrupted copies), a
//! brute-force cross-check on small histories, and a performance test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::dfs::prepared_summary;
use super::model::apply;
use super::search::{check_key_with, Engine};
use super::simple::{check_counters, check_lost_writes};
use super::testgen::{acked_where, simulate, Mix, Sim};
use super::*;
use crate::chaos::history::{Command, History, Op, Outcome, Reply};

// ---------------------------------------------------------------- helpers

fn set(v: &str) -> Command {
    Command::Set(v.to_string())
}

fn s(v: &str) -> Reply {
    Reply::Str(v.to_string())
}

/// Builds the ops of key "k", ids in order of creation.
#[derive(Default)]
struct Ops(Vec<Op>);

impl Ops {
    fn push(
        &mut self,
        process: u64,
        command: Command,
        invoke: u64,
        complete: u64,
        outcome: Outcome,
    ) -> &mut Self {
        self.0.push(Op {
            id: self.0.len() as u64,
            process,
            key: "k".to_string(),
            command,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome,
        });
        self
    }

    /// An acknowledged op over [invoke, complete].
    fn ok(
        &mut self,
        process: u64,
        command: Command,
        invoke: u64,
        complete: u64,
        reply: Reply,
    ) -> &mut Self {
        self.push(process, command, invoke, complete, Outcome::Ok(reply))
    }

    /// An op of unknown outcome invoked at `invoke`.
    fn unknown(&mut self, process: u64, command: Command, invoke: u64) -> &mut Self {
        self.push(process, command, invoke, invoke + 1, Outcome::Unknown)
    }

    fn failed(&mut self, process: u64, command: Command, invoke: u64, complete: u64) -> &mut Self {
        self.push(process, command, invoke, complete, Outcome::Failed)
    }

    fn verdict(&self) -> KeyVerdict {
        check_key(&self.0, Budget::default())
    }

    #[track_caller]
    fn assert_linearizable(&self) {
        match self.verdict() {
            KeyVerdict::Linearizable => {}
            other => panic!("expected linearizable, got {other:#?}"),
        }
    }

    #[track_caller]
    fn assert_not_linearizable(&self) -> Box<Violation> {
        match self.verdict() {
            KeyVerdict::NotLinearizable(v) => v,
            other => panic!("expected not linearizable, got {other:?}"),
        }
    }
}

#[track_caller]
fn assert_verdict(ops: &[Op], linearizable: bool) {
    match (check_key(ops, Budget::default()), linearizable) {
        (KeyVerdict::Linearizable, true) | (KeyVerdict::NotLinearizable(_), false) => {}
        (v, _) => panic!("expected linearizable={linearizable}, got {v:?}\n{ops:#?}"),
    }
}

// ------------------------------------------------------ hand-written cases

#[test]
fn empty_and_failed_only_histories_are_linearizable() {
    Ops::default().assert_linearizable();
    Ops::default()
        .failed(0, Command::Incr, 0, 10)
        .failed(1, set("a"), 0, 10)
        .assert_linearizable();
}

#[test]
fn sequential_commands_follow_the_model() {
    Ops::default()
        .ok(0, Command::Get, 0, 1, Reply::Nil)
        .ok(0, set("a"), 2, 3, Reply::Ok)
        .ok(0, Command::Get, 4, 5, s("a"))
        .ok(0, Command::Del, 6, 7, Reply::Int(1))
        .ok(0, Command::Del, 8, 9, Reply::Int(0))
        .ok(0, Command::Incr, 10, 11, Reply::Int(1))
        .ok(0, Command::Incr, 12, 13, Reply::Int(2))
        .ok(0, Command::Get, 14, 15, s("2"))
        .ok(0, set("41"), 16, 17, Reply::Ok)
        .ok(0, Command::Incr, 18, 19, Reply::Int(42))
        .ok(0, Command::Get, 20, 21, s("42"))
        .assert_linearizable();
}

#[test]
fn concurrent_writes_may_land_in_either_order() {
    for last in ["a", "b"] {
        Ops::default()
            .ok(0, set("a"), 0, 10, Reply::Ok)
            .ok(1, set("b"), 0, 10, Reply::Ok)
            .ok(2, Command::Get, 20, 30, s(last))
            .ok(2, Command::Get, 40, 50, s(last))
            .assert_linearizable();
    }
}

#[test]
fn read_concurrent_with_a_write_may_see_old_or_new() {
    for seen in ["a", "b"] {
        Ops::default()
            .ok(0, set("a"), 0, 10, Reply::Ok)
            .ok(1, set("b"), 20, 40, Reply::Ok)
            .ok(2, Command::Get, 30, 50, s(seen))
            .assert_linearizable();
    }
}

#[test]
fn stale_read_after_a_completed_write() {
    let v = Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, set("b"), 20, 30, Reply::Ok)
        .ok(2, Command::Get, 40, 50, s("a"))
        .assert_not_linearizable();
    assert_eq!(v.blocked.as_ref().map(|o| o.id), Some(2));
    assert_eq!(v.linearized, vec![0, 1]);
    assert_eq!(v.state.as_deref(), Some("b"));
}

#[test]
fn stale_read_after_a_later_read_saw_the_new_value() {
    // The write is still in flight, but once a read saw "b" no later read
    // may see "a" again.
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, set("b"), 20, 100, Reply::Ok)
        .ok(2, Command::Get, 30, 40, s("b"))
        .ok(3, Command::Get, 50, 60, s("a"))
        .assert_not_linearizable();
}

#[test]
fn two_readers_observing_writes_in_opposite_orders() {
    Ops::default()
        .ok(0, set("a"), 0, 100, Reply::Ok)
        .ok(1, set("b"), 0, 100, Reply::Ok)
        .ok(2, Command::Get, 10, 20, s("a"))
        .ok(2, Command::Get, 30, 40, s("b"))
        .ok(3, Command::Get, 10, 20, s("b"))
        .ok(3, Command::Get, 30, 40, s("a"))
        .assert_not_linearizable();
    // One reader alone seeing a then b is fine.
    Ops::default()
        .ok(0, set("a"), 0, 100, Reply::Ok)
        .ok(1, set("b"), 0, 100, Reply::Ok)
        .ok(2, Command::Get, 10, 20, s("a"))
        .ok(2, Command::Get, 30, 40, s("b"))
        .ok(3, Command::Get, 10, 20, s("a"))
        .assert_linearizable();
}

#[test]
fn incr_reply_that_skips_a_value() {
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .ok(0, Command::Incr, 20, 30, Reply::Int(3))
        .assert_not_linearizable();
}

#[test]
fn incr_replies_concurrent_may_come_back_in_any_order() {
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(2))
        .ok(1, Command::Incr, 0, 10, Reply::Int(1))
        .ok(2, Command::Get, 20, 30, s("2"))
        .assert_linearizable();
}

#[test]
fn two_incrs_returning_the_same_value() {
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .ok(1, Command::Incr, 0, 10, Reply::Int(1))
        .assert_not_linearizable();
}

#[test]
fn lost_acknowledged_write_seen_by_a_later_read() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, Command::Get, 20, 30, Reply::Nil)
        .assert_not_linearizable();
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .ok(1, Command::Get, 20, 30, Reply::Nil)
        .assert_not_linearizable();
}

#[test]
fn read_of_a_value_never_written() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, Command::Get, 0, 30, s("zzz"))
        .assert_not_linearizable();
    Ops::default()
        .ok(1, Command::Get, 0, 30, s("7"))
        .assert_not_linearizable();
}

#[test]
fn read_from_the_future() {
    Ops::default()
        .ok(0, Command::Get, 0, 10, s("a"))
        .ok(1, set("a"), 20, 30, Reply::Ok)
        .assert_not_linearizable();
}

#[test]
fn touching_intervals_count_as_concurrent() {
    // Completion and invocation at the same instant: either order.
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, Command::Get, 10, 20, Reply::Nil)
        .assert_linearizable();
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, Command::Get, 11, 20, Reply::Nil)
        .assert_not_linearizable();
}

#[test]
fn replies_the_command_cannot_give() {
    Ops::default()
        .ok(0, Command::Get, 0, 1, Reply::Int(3))
        .assert_not_linearizable();
    Ops::default()
        .ok(0, Command::Get, 0, 1, Reply::Ok)
        .assert_not_linearizable();
    Ops::default()
        .ok(0, set("a"), 0, 1, Reply::Int(1))
        .assert_not_linearizable();
    Ops::default()
        .ok(0, Command::Del, 0, 1, Reply::Int(2))
        .assert_not_linearizable();
    Ops::default()
        .ok(0, Command::Incr, 0, 1, s("1"))
        .assert_not_linearizable();
}

#[test]
fn del_reply_must_match_existence() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(0, Command::Del, 20, 30, Reply::Int(0))
        .assert_not_linearizable();
    Ops::default()
        .ok(0, Command::Del, 20, 30, Reply::Int(1))
        .assert_not_linearizable();
}

#[test]
fn incr_on_a_non_integer_cannot_succeed() {
    for v in ["a", "01", "+1", " 1", "-0", "9223372036854775807"] {
        Ops::default()
            .ok(0, set(v), 0, 10, Reply::Ok)
            .ok(0, Command::Incr, 20, 30, Reply::Int(1))
            .assert_not_linearizable();
    }
    Ops::default()
        .ok(0, set("-1"), 0, 10, Reply::Ok)
        .ok(0, Command::Incr, 20, 30, Reply::Int(0))
        .ok(0, Command::Get, 40, 50, s("0"))
        .assert_linearizable();
}

#[test]
fn failed_ops_never_took_effect() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .failed(1, set("b"), 20, 30)
        .ok(0, Command::Get, 40, 50, s("a"))
        .assert_linearizable();
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .failed(1, set("b"), 20, 30)
        .ok(0, Command::Get, 40, 50, s("b"))
        .assert_not_linearizable();
}

// ------------------------------------------------------- unknown outcomes

#[test]
fn unknown_write_may_take_effect_late() {
    // SET b times out at 5 and lands between 30 and 40.
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .unknown(1, set("b"), 5)
        .ok(0, Command::Get, 20, 30, s("a"))
        .ok(0, Command::Get, 40, 50, s("b"))
        .ok(2, Command::Get, 1_000, 1_010, s("b"))
        .assert_linearizable();
}

#[test]
fn unknown_write_may_never_take_effect() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .unknown(1, set("b"), 5)
        .ok(0, Command::Get, 20, 30, s("a"))
        .ok(0, Command::Get, 1_000_000, 1_000_010, s("a"))
        .assert_linearizable();
    Ops::default()
        .unknown(1, Command::Del, 0)
        .unknown(1, Command::Incr, 0)
        .ok(0, set("a"), 5, 10, Reply::Ok)
        .ok(0, Command::Get, 1_000, 1_010, s("a"))
        .assert_linearizable();
}

#[test]
fn unknown_write_takes_effect_after_its_invocation_only() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(0, Command::Get, 20, 30, s("b"))
        .unknown(1, set("b"), 40)
        .assert_not_linearizable();
}

#[test]
fn unknown_write_once_seen_stays() {
    Ops::default()
        .unknown(1, set("b"), 0)
        .ok(0, Command::Get, 10, 20, s("b"))
        .ok(0, Command::Get, 30, 40, Reply::Nil)
        .assert_not_linearizable();
}

#[test]
fn unknown_incr_counts_at_most_once() {
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .unknown(1, Command::Incr, 5)
        .ok(0, Command::Get, 20, 30, s("2"))
        .assert_linearizable();
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .unknown(1, Command::Incr, 5)
        .ok(0, Command::Get, 20, 30, s("3"))
        .assert_not_linearizable();
}

#[test]
fn unknown_incr_explains_a_skipped_value() {
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .unknown(1, Command::Incr, 15)
        .ok(0, Command::Incr, 20, 30, Reply::Int(3))
        .assert_linearizable();
    // ...but not one invoked after the skip.
    Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .ok(0, Command::Incr, 20, 30, Reply::Int(3))
        .unknown(1, Command::Incr, 35)
        .assert_not_linearizable();
}

#[test]
fn unknown_incr_on_a_non_integer_simply_never_happened() {
    Ops::default()
        .ok(0, set("a"), 0, 10, Reply::Ok)
        .unknown(1, Command::Incr, 5)
        .ok(0, Command::Get, 20, 30, s("a"))
        .ok(0, Command::Del, 40, 50, Reply::Int(1))
        .ok(0, Command::Incr, 60, 70, Reply::Int(1))
        .assert_linearizable();
}

#[test]
fn unknown_del_late_or_never() {
    let mut base = Ops::default();
    base.ok(0, set("a"), 0, 10, Reply::Ok)
        .unknown(1, Command::Del, 5)
        .ok(0, Command::Get, 20, 30, s("a"))
        .ok(0, Command::Get, 40, 50, Reply::Nil);
    base.assert_linearizable();
    // The DEL was spent: "a" cannot come back.
    base.ok(0, Command::Get, 60, 70, s("a"))
        .assert_not_linearizable();
}

#[test]
fn unread_unknown_set_can_explain_a_del() {
    // Nothing read "x", but the DEL found a value: the unknown SET must
    // have landed, so it may not be pruned.
    Ops::default()
        .unknown(1, set("x"), 0)
        .ok(0, Command::Del, 10, 20, Reply::Int(1))
        .assert_linearizable();
    Ops::default()
        .ok(0, Command::Del, 10, 20, Reply::Int(1))
        .assert_not_linearizable();
    // And it cannot land twice.
    Ops::default()
        .unknown(1, set("x"), 0)
        .ok(0, Command::Del, 10, 20, Reply::Int(1))
        .ok(0, Command::Del, 30, 40, Reply::Int(1))
        .assert_not_linearizable();
}

#[test]
fn unknown_set_read_before_its_invocation_is_reported_with_its_deadline() {
    let v = Ops::default()
        .ok(0, Command::Get, 0, 10, s("v"))
        .unknown(1, set("v"), 20)
        .assert_not_linearizable();
    assert!(v.blocked.is_some());
}

#[test]
fn prepare_drops_bounds_and_opens_unknowns() {
    let mut ops = Ops::default();
    ops.unknown(1, Command::Get, 0) // 0: dropped, no effect
        .unknown(2, set("never-read"), 0) // 1: dropped, no DEL found a value
        .unknown(3, set("read"), 0) // 2: bounded by the read
        .ok(0, Command::Get, 10, 20, s("read")) // 3
        .unknown(4, Command::Incr, 0) // 4: open
        .unknown(5, Command::Del, 0) // 5: open
        .failed(6, set("f"), 0, 1); // 6: dropped
    let (kept, open, forced) = prepared_summary(&ops.0);
    let mut kept = kept;
    kept.sort();
    assert_eq!(kept, vec![2, 3, 4, 5]);
    assert_eq!(open, vec![4, 5]);
    assert_eq!(forced, vec![2]);

    // A DEL that found a value keeps unread unknown SETs, open.
    ops.ok(0, Command::Del, 30, 40, Reply::Int(1));
    let (_, open, _) = prepared_summary(&ops.0);
    assert_eq!(open, vec![1, 4, 5]);
}

#[test]
fn many_pending_unknown_incrs_check_quickly() {
    // 40 unknown INCRs pending together: 2^40 subsets without symmetry.
    let build = |final_reply: i64| {
        let mut ops = Ops::default();
        for p in 0..40 {
            ops.unknown(p + 10, Command::Incr, p);
        }
        ops.ok(0, Command::Incr, 100, 110, Reply::Int(21));
        ops.ok(0, Command::Incr, 120, 130, Reply::Int(final_reply));
        ops
    };
    let started = Instant::now();
    build(30).assert_linearizable();
    build(42).assert_linearizable();
    build(43).assert_not_linearizable();
    build(21).assert_not_linearizable();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn many_pending_unknown_sets_and_dels_check_quickly() {
    let mut ops = Ops::default();
    for p in 0..30 {
        ops.unknown(p + 10, set(&format!("u{p}")), p);
        ops.unknown(p + 100, Command::Del, p);
    }
    ops.ok(0, Command::Del, 100, 110, Reply::Int(1));
    ops.ok(0, Command::Del, 120, 130, Reply::Int(1));
    ops.ok(0, Command::Get, 140, 150, Reply::Nil);
    ops.ok(0, Command::Get, 160, 170, s("u7"));
    let started = Instant::now();
    ops.assert_linearizable();
    ops.ok(0, Command::Get, 180, 190, s("u7"));
    ops.ok(0, Command::Get, 200, 210, s("u8"));
    ops.ok(0, Command::Get, 220, 230, s("u7"));
    ops.assert_not_linearizable();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

// ------------------------------------------------------------ explanation

#[test]
fn violation_explains_itself() {
    const MS: u64 = 1_000_000;
    let v = Ops::default()
        .ok(0, set("a"), 0, 10 * MS, Reply::Ok)
        .ok(1, set("b"), 20 * MS, 30 * MS, Reply::Ok)
        .ok(2, set("c"), 35 * MS, 60 * MS, Reply::Ok)
        .ok(3, Command::Get, 40 * MS, 50 * MS, s("a"))
        .ok(3, Command::Get, 70 * MS, 80 * MS, s("c"))
        .assert_not_linearizable();
    assert_eq!(v.blocked.as_ref().map(|o| o.id), Some(3));
    assert_eq!(v.searched, 5);
    let text = v.to_string();
    let want = "\
not linearizable: the longest linearizable prefix found places 3 of 5 ops, leaving the key at \"c\"
  cannot place #3 p3 GET \"k\" -> \"a\" [0.040000s, 0.050000s]
  after, in this order:
    #0 p0 SET \"k\" \"a\" -> OK [0.000000s, 0.010000s]
    #1 p1 SET \"k\" \"b\" -> OK [0.020000s, 0.030000s]
    #2 p2 SET \"k\" \"c\" -> OK [0.035000s, 0.060000s]
";
    assert_eq!(text, want);

    // The sweep stops at the first completion nothing explains, with the
    // ops still in flight then.
    let ops = Ops::default()
        .ok(0, set("a"), 0, 10 * MS, Reply::Ok)
        .ok(1, set("b"), 20 * MS, 30 * MS, Reply::Ok)
        .ok(2, set("c"), 35 * MS, 60 * MS, Reply::Ok)
        .ok(3, Command::Get, 40 * MS, 50 * MS, s("a"))
        .ok(3, Command::Get, 70 * MS, 80 * MS, s("c"))
        .0
        .clone();
    let KeyVerdict::NotLinearizable(v) = check_key_with(&ops, Budget::default(), Engine::Sweep).0
    else {
        panic!("expected a violation");
    };
    assert_eq!(v.blocked.as_ref().map(|o| o.id), Some(3));
    assert_eq!(v.linearized, vec![0, 1]);
    assert_eq!(v.unplaced.iter().map(|o| o.id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(v.state.as_deref(), Some("b"));
}

#[test]
fn violation_lists_ops_in_flight() {
    let v = Ops::default()
        .ok(0, Command::Incr, 0, 10, Reply::Int(1))
        .ok(1, Command::Incr, 20, 100, Reply::Int(5))
        .ok(2, Command::Incr, 20, 100, Reply::Int(6))
        .ok(3, Command::Get, 30, 40, s("1"))
        .ok(3, Command::Incr, 50, 60, Reply::Int(2))
        .assert_not_linearizable();
    assert_eq!(v.linearized, vec![0, 3, 4]);
    assert_eq!(v.state.as_deref(), Some("2"));
    assert_eq!(v.blocked.as_ref().map(|o| o.id), Some(1));
    let unplaced: Vec<u64> = v.unplaced.iter().map(|o| o.id).collect();
    assert_eq!(unplaced, vec![2]);
    assert!(
        v.to_string().contains("nor any op in flight with it:"),
        "{v}"
    );
}

#[test]
fn exhausted_budget_is_unknown_not_ok() {
    let ops = simulate(7, &Sim::new(Mix::Mixed, 6, 300).unknowns(0.05));
    let tiny = Budget {
        max_states: 5,
        max_time: Duration::from_secs(60),
    };
    match check_key(&ops, tiny) {
        KeyVerdict::Unknown(e) => assert_eq!(e.limit, Limit::States),
        other => panic!("expected unknown, got {other:?}"),
    }
    let report = check(&History::from_ops(ops), tiny);
    assert_eq!(report.verdict(), Verdict::Unknown);
    assert!(!report.is_ok());
    assert!(report.to_string().contains("UNKNOWN"), "{report}");
}

// ------------------------------------------------------- whole histories

fn rekey(ops: Vec<Op>, key: &str, id_base: u64) -> Vec<Op> {
    ops.into_iter()
        .map(|o| Op {
            key: key.to_string(),
            id: o.id + id_base,
            ..o
        })
        .collect()
}

#[test]
fn check_reports_each_key() {
    let mut history = History::new();
    for (i, mix) in [Mix::Register, Mix::Counter, Mix::Mixed]
        .into_iter()
        .enumerate()
    {
        for op in rekey(
            simulate(i as u64, &Sim::new(mix, 4, 200).unknowns(0.05)),
            &format!("good{i}"),
            1_000 * i as u64,
        ) {
            history.push(op);
        }
    }
    let report = check(&history, Budget::default());
    assert_eq!(report.keys.len(), 3);
    assert!(report.is_ok(), "{report}");
    assert!(report.to_string().contains("verdict: VALID"), "{report}");

    for op in rekey(
        Ops::default()
            .ok(0, set("a"), 0, 10, Reply::Ok)
            .ok(1, Command::Get, 20, 30, Reply::Nil)
            .0
            .clone(),
        "bad",
        10_000,
    ) {
        history.push(op);
    }
    let report = check(&history, Budget::default());
    assert_eq!(report.verdict(), Verdict::Invalid);
    let bad: Vec<&str> = report.not_linearizable().map(|k| k.key.as_str()).collect();
    assert_eq!(bad, vec!["bad"]);
    let text = report.to_string();
    assert!(text.contains("key \"bad\": not linearizable"), "{text}");
    assert!(text.contains("verdict: INVALID"), "{text}");
}

#[test]
fn history_saved_as_json_lines_rechecks_the_same() -> anyhow::Result<()> {
    let ops = simulate(3, &Sim::new(Mix::Mixed, 5, 300).unknowns(0.05));
    let history = History::from_ops(rekey(ops, "k", 0));
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("h.jsonl");
    history.write_jsonl(&path)?;
    let back = History::read_jsonl(&path)?;
    assert_eq!(back, history);
    assert!(check(&back, Budget::default()).is_ok());
    Ok(())
}

// ------------------------------------------- random linearizable histories

fn sims() -> Vec<Sim> {
    let mut v = Vec::new();
    for mix in [Mix::Register, Mix::Counter, Mix::Mixed] {
        v.push(Sim::new(mix, 3, 60));
        v.push(Sim::new(mix, 10, 200));
        v.push(Sim::new(mix, 10, 200).unknowns(0.05));
        v.push(Sim::new(mix, 5, 150).unknowns(0.2));
    }
    v
}

#[test]
fn simulated_linearizable_histories_check_linearizable() {
    for (i, sim) in sims().iter().enumerate() {
        for seed in 0..25u64 {
            let ops = simulate(seed * 100 + i as u64, sim);
            for engine in [Engine::Both, Engine::Sweep] {
                match check_key_with(&ops, Budget::default(), engine).0 {
                    KeyVerdict::Linearizable => {}
                    other => panic!("{engine:?} seed {seed} {sim:?}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn get_corrupted_to_an_unwritten_value_is_caught() {
    for (i, sim) in sims().iter().enumerate() {
        for seed in 0..10u64 {
            let mut ops = simulate(seed * 100 + i as u64, sim);
            let gets = acked_where(&ops, |o, _| o.command == Command::Get);
            if gets.is_empty() {
                continue;
            }
            let g = gets[seed as usize % gets.len()];
            ops[g].outcome = Outcome::Ok(s("never-written"));
            assert_verdict(&ops, false);
        }
    }
}

#[test]
fn duplicated_incr_reply_is_caught() {
    // On a key only INCR touches, every INCR that took effect returned a
    // different value, so two equal replies are provably wrong.
    for seed in 0..30u64 {
        let p_unknown = [0.0, 0.05, 0.2][seed as usize % 3];
        let mut ops = simulate(seed, &Sim::new(Mix::Counter, 8, 150).unknowns(p_unknown));
        let incrs = acked_where(&ops, |o, _| o.command == Command::Incr);
        let mut rng = StdRng::seed_from_u64(seed);
        let a = incrs[rng.gen_range(0..incrs.len())];
        let b = loop {
            let b = incrs[rng.gen_range(0..incrs.len())];
            if b != a {
                break b;
            }
        };
        ops[b].outcome = ops[a].outcome.clone();
        assert_verdict(&ops, false);
    }
}

#[test]
fn read_from_the_future_is_caught() {
    // A GET returning the unique value of a SET invoked after the GET
    // completed.
    let mut caught = 0;
    for seed in 0..40u64 {
        let p_unknown = [0.0, 0.1][seed as usize % 2];
        let mut ops = simulate(seed, &Sim::new(Mix::Register, 6, 150).unknowns(p_unknown));
        let gets = acked_where(&ops, |o, _| o.command == Command::Get);
        let future = gets.iter().find_map(|&g| {
            ops.iter()
                .filter(|w| w.invoke_ns > ops[g].complete_ns && w.outcome != Outcome::Failed)
                .find_map(|w| match &w.command {
                    Command::Set(v) => Some((g, v.clone())),
                    _ => None,
                })
        });
        let Some((g, v)) = future else { continue };
        ops[g].outcome = Outcome::Ok(Reply::Str(v));
        assert_verdict(&ops, false);
        caught += 1;
    }
    assert!(caught > 30, "{caught}");
}

#[test]
fn randomly_corrupted_replies_are_mostly_caught() {
    // Replacing a reply with another plausible one is not always wrong (a
    // concurrent write may explain it), but it usually is.
    let mut total = 0;
    let mut caught = 0;
    for (i, sim) in sims().iter().enumerate() {
        for seed in 0..10u64 {
            let mut ops = simulate(seed * 100 + i as u64, sim);
            let mut rng = StdRng::seed_from_u64(seed);
            let acked = acked_where(&ops, |o, _| o.command != Command::Set(String::new()));
            let values: Vec<String> = ops
                .iter()
                .filter_map(|o| match &o.command {
                    Command::Set(v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            let k = acked[rng.gen_range(0..acked.len())];
            let old = ops[k].outcome.clone();
            let new = match (&ops[k].command, &old) {
                (Command::Get, _) if !values.is_empty() && rng.gen_bool(0.7) => {
                    s(&values[rng.gen_range(0..values.len())])
                }
                (Command::Get, Outcome::Ok(Reply::Nil)) => s("0"),
                (Command::Get, _) => Reply::Nil,
                (Command::Incr, Outcome::Ok(Reply::Int(i))) => {
                    Reply::Int(i + if rng.gen_bool(0.5) { 1 } else { -1 })
                }
                (Command::Del, Outcome::Ok(Reply::Int(i))) => Reply::Int(1 - i),
                _ => continue,
            };
            if Outcome::Ok(new.clone()) == old {
                continue;
            }
            ops[k].outcome = Outcome::Ok(new);
            total += 1;
            if matches!(
                check_key(&ops, Budget::default()),
                KeyVerdict::NotLinearizable(_)
            ) {
                caught += 1;
            }
        }
    }
    assert!(total >= 80, "{total}");
    assert!(caught * 100 >= total * 60, "caught {caught} of {total}");
}

#[test]
fn both_searches_agree_on_corrupted_histories() {
    // Histories too long for the brute-force oracle: the two searches are
    // independent enough to check each other.
    let mut decided = 0;
    for (i, sim) in sims().iter().enumerate() {
        for seed in 0..8u64 {
            let mut ops = simulate(seed * 1000 + i as u64, sim);
            let mut rng = StdRng::seed_from_u64(seed);
            for _ in 0..2 {
                let acked = acked_where(&ops, |_, _| true);
                let k = acked[rng.gen_range(0..acked.len())];
                let other = acked[rng.gen_range(0..acked.len())];
                if ops[k].command == ops[other].command {
                    ops[k].outcome = ops[other].outcome.clone();
                }
            }
            let dfs = check_key_with(&ops, Budget::default(), Engine::Dfs).0;
            let sweep = check_key_with(&ops, Budget::default(), Engine::Sweep).0;
            if matches!(dfs, KeyVerdict::Unknown(_)) || matches!(sweep, KeyVerdict::Unknown(_)) {
                continue;
            }
            assert_eq!(
                dfs.is_linearizable(),
                sweep.is_linearizable(),
                "{sim:?} seed {seed}"
            );
            decided += 1;
        }
    }
    assert!(decided >= 90, "{decided}");
}

// ---------------------------------------------------- brute-force oracle

/// Linearizable by exhaustive search: some subset of the unknown ops and
/// some order of the chosen ops respecting real time fits the reference
/// model.
fn brute_force(ops: &[Op]) -> bool {
    let ops: Vec<&Op> = ops
        .iter()
        .filter(|o| o.outcome != Outcome::Failed)
        .collect();
    let unknown: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].outcome == Outcome::Unknown)
        .collect();
    (0..1u32 << unknown.len()).any(|mask| {
        let chosen: Vec<&Op> = (0..ops.len())
            .filter(|i| match unknown.iter().position(|u| u == i) {
                Some(bit) => mask & (1 << bit) != 0,
                None => true,
            })
            .map(|i| ops[i])
            .collect();
        orders(&chosen, &mut vec![false; chosen.len()], &None)
    })
}

fn precedes(a: &Op, b: &Op) -> bool {
    matches!(a.outcome, Outcome::Ok(_)) && a.complete_ns < b.invoke_ns
}

fn orders(ops: &[&Op], used: &mut Vec<bool>, state: &Option<String>) -> bool {
    if used.iter().all(|&u| u) {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] || (0..ops.len()).any(|j| !used[j] && j != i && precedes(ops[j], ops[i])) {
            continue;
        }
        let Ok((next, reply)) = apply(state, &ops[i].command) else {
            continue;
        };
        if let Outcome::Ok(r) = &ops[i].outcome {
            if *r != reply {
                continue;
            }
        }
        used[i] = true;
        let found = orders(ops, used, &next);
        used[i] = false;
        if found {
            return true;
        }
    }
    false
}

/// Shape of the small random histories for the brute-force comparison.
#[derive(Debug, Clone, Copy)]
struct Small {
    max_ops: usize,
    /// Percent of ops with an unknown outcome.
    unknown: u32,
    /// Percent of SETs writing a value no other op writes.
    unique: u32,
}

fn small_random_history(rng: &mut StdRng, shape: Small) -> Vec<Op> {
    let n = rng.gen_range(1..=shape.max_ops);
    let pool = ["a", "b", "1", "2", "01"];
    let commands: Vec<Command> = (0..n)
        .map(|id| match rng.gen_range(0..10) {
            0..=3 => Command::Get,
            4..=5 if rng.gen_range(0..100) < shape.unique => set(&format!("u{id}")),
            4..=5 => set(pool[rng.gen_range(0..pool.len())]),
            6..=8 => Command::Incr,
            _ => Command::Del,
        })
        .collect();
    // Replies from one random linearization, then maybe perturbed.
    let mut ops: Vec<Op> = Vec::new();
    let mut state: Option<String> = None;
    let mut lin = 0;
    for (id, command) in commands.into_iter().enumerate() {
        lin += rng.gen_range(0..4);
        let invoke = lin - rng.gen_range(0..=lin.min(6));
        let complete = lin + rng.gen_range(0..6);
        let outcome = match rng.gen_range(0..100) {
            r if r < shape.unknown => {
                if rng.gen_bool(0.5) {
                    if let Ok((next, _)) = apply(&state, &command) {
                        state = next;
                    }
                }
                Outcome::Unknown
            }
            r if r < shape.unknown + 5 => Outcome::Failed,
            _ => match apply(&state, &command) {
                Ok((next, reply)) => {
                    state = next;
                    Outcome::Ok(reply)
                }
                Err(_) => Outcome::Failed,
            },
        };
        ops.push(Op {
            id: id as u64,
            process: id as u64,
            key: "k".into(),
            command,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome,
        });
    }
    if rng.gen_bool(0.5) {
        let i = rng.gen_range(0..ops.len());
        let reply = match rng.gen_range(0..5) {
            0 => Reply::Nil,
            1 => Reply::Int(rng.gen_range(0..3)),
            2 => s(pool[rng.gen_range(0..pool.len())]),
            3 => s(&format!("u{}", rng.gen_range(0..n))),
            _ => Reply::Ok,
        };
        ops[i].outcome = Outcome::Ok(reply);
    }
    ops
}

#[test]
fn agrees_with_brute_force_on_small_histories() {
    let shapes = [
        Small {
            max_ops: 7,
            unknown: 20,
            unique: 0,
        },
        // Many unknowns and unique values: open classes, pruned and
        // read-bounded unknown SETs.
        Small {
            max_ops: 8,
            unknown: 40,
            unique: 70,
        },
    ];
    for (i, shape) in shapes.into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(42 + i as u64);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..3_000 {
            let ops = small_random_history(&mut rng, shape);
            let want = brute_force(&ops);
            for engine in [Engine::Both, Engine::Dfs, Engine::Sweep] {
                let (got, _) = check_key_with(&ops, Budget::default(), engine);
                match (&got, want) {
                    (KeyVerdict::Linearizable, true) | (KeyVerdict::NotLinearizable(_), false) => {}
                    _ => panic!("{engine:?}: brute force says {want}, got {got:?}\n{ops:#?}"),
                }
            }
            if want {
                yes += 1;
            } else {
                no += 1;
            }
        }
        // Both answers are well represented.
        assert!(
            yes > 600 && no > 600,
            "{shape:?}: {yes} linearizable, {no} not"
        );
    }
}

// ------------------------------------------------------- final-read checks

fn history(ops: &Ops) -> History {
    History::from_ops(ops.0.clone())
}

fn reads(v: Option<&str>) -> BTreeMap<String, Option<String>> {
    BTreeMap::from([("k".to_string(), v.map(str::to_string))])
}

#[test]
fn final_read_must_reflect_the_last_acknowledged_write() {
    let mut ops = Ops::default();
    ops.ok(0, set("a"), 0, 10, Reply::Ok) // 0
        .ok(1, set("b"), 20, 30, Reply::Ok) // 1
        .ok(2, set("c"), 25, 35, Reply::Ok) // 2: concurrent with b
        .unknown(3, set("d"), 5) // 3: may land last
        .failed(4, set("e"), 40, 50); // 4: never happened
    let h = history(&ops);
    for ok in ["b", "c", "d"] {
        assert!(
            lost_acknowledged_writes(&h, &reads(Some(ok))).is_empty(),
            "{ok}"
        );
    }
    let lost = lost_acknowledged_writes(&h, &reads(Some("a")));
    assert_eq!(lost.len(), 1);
    let ids: Vec<u64> = lost[0].lost.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(lost[0].read_from.as_ref().map(|o| o.id), Some(0));
    assert!(lost[0].to_string().contains("#1 p1 SET"), "{}", lost[0]);

    // A value never written (or only by a failed SET).
    for bad in ["zzz", "e"] {
        let lost = lost_acknowledged_writes(&h, &reads(Some(bad)));
        assert_eq!(lost.len(), 1, "{bad}");
        assert!(lost[0].read_from.is_none());
    }
    // Nil with no DEL.
    let lost = lost_acknowledged_writes(&h, &reads(None));
    assert_eq!(lost.len(), 1);
    let ids: Vec<u64> = lost[0].lost.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn final_nil_needs_a_del_that_can_be_last() {
    let mut ops = Ops::default();
    ops.ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(1, Command::Del, 20, 30, Reply::Int(1));
    assert!(lost_acknowledged_writes(&history(&ops), &reads(None)).is_empty());
    let lost = lost_acknowledged_writes(&history(&ops), &reads(Some("a")));
    assert_eq!(
        lost[0].lost.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![1]
    );
    ops.ok(0, set("b"), 40, 50, Reply::Ok);
    assert_eq!(
        lost_acknowledged_writes(&history(&ops), &reads(None)).len(),
        1
    );
    // An unknown DEL may land last.
    ops.unknown(2, Command::Del, 45);
    assert!(lost_acknowledged_writes(&history(&ops), &reads(None)).is_empty());
    // No acknowledged write at all: nil is fine.
    let mut only_unknown = Ops::default();
    only_unknown.unknown(0, set("a"), 0);
    assert!(lost_acknowledged_writes(&history(&only_unknown), &reads(None)).is_empty());
}

#[test]
fn lost_write_check_skips_keys_it_cannot_decide() {
    let mut incr = Ops::default();
    incr.ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(0, Command::Incr, 20, 30, Reply::Int(1));
    let c = check_lost_writes(&history(&incr), &reads(Some("zzz")));
    assert_eq!((c.keys_checked, c.violations.len()), (0, 0));
    let mut dup = Ops::default();
    dup.ok(0, set("a"), 0, 10, Reply::Ok)
        .ok(0, set("a"), 20, 30, Reply::Ok);
    assert_eq!(
        check_lost_writes(&history(&dup), &reads(Some("zzz"))).keys_checked,
        0
    );
    assert_eq!(
        check_lost_writes(&history(&dup), &BTreeMap::new()).keys_checked,
        0
    );
}

#[test]
fn counter_within_acknowledged_and_attempted_increments() {
    let mut ops = Ops::default();
    for i in 0..3 {
        ops.ok(i, Command::Incr, 0, 10, Reply::Int(i as i64 + 1));
    }
    ops.unknown(5, Command::Incr, 20)
        .unknown(6, Command::Incr, 20);
    ops.failed(7, Command::Incr, 30, 40);
    ops.ok(0, Command::Get, 50, 60, s("3"));
    let h = history(&ops);
    for v in ["3", "4", "5"] {
        assert!(counter_bounds(&h, &reads(Some(v))).is_empty(), "{v}");
    }
    for v in [Some("2"), Some("6"), None, Some("x"), Some("04")] {
        let bad = counter_bounds(&h, &reads(v));
        assert_eq!(bad.len(), 1, "{v:?}");
        assert_eq!((bad[0].acknowledged, bad[0].unknown), (3, 2));
        assert!(bad[0].to_string().contains("[3, 5]"), "{}", bad[0]);
    }
    let mut fresh = Ops::default();
    fresh.unknown(0, Command::Incr, 0);
    assert!(counter_bounds(&history(&fresh), &reads(None)).is_empty());
    // Keys with other commands are not counters.
    ops.ok(0, Command::Del, 70, 80, Reply::Int(1));
    assert_eq!(check_counters(&history(&ops), &reads(None)).keys_checked, 0);
}

/// [`check`], plus the final-read checks against the values read from every
/// key after healing, in the report. (A run prints those checks on their
/// own: `run.rs` calls [`lost_acknowledged_writes`] and [`counter_bounds`].)
fn check_with_final_reads(
    history: &History,
    final_reads: &BTreeMap<String, Option<String>>,
    budget: Budget,
) -> Report {
    let mut report = check(history, budget);
    report.lost_writes = Some(check_lost_writes(history, final_reads));
    report.counters = Some(check_counters(history, final_reads));
    report
}

#[test]
fn report_includes_final_read_checks() {
    let mut ops = Ops::default();
    ops.ok(0, set("a"), 0, 10, Reply::Ok);
    let report = check_with_final_reads(&history(&ops), &reads(None), Budget::default());
    // Linearizable as recorded (no read in the history), but the final read
    // lost the write.
    assert!(report.not_linearizable().next().is_none());
    assert_eq!(report.verdict(), Verdict::Invalid);
    let text = report.to_string();
    assert!(text.contains("1 with a lost write"), "{text}");
}

#[test]
fn more_ops_in_flight_than_the_sweep_supports_is_unknown() {
    // 130 concurrent SETs, then two reads that order them both ways.
    let mut ops = Ops::default();
    for p in 0..130 {
        ops.ok(p, set(&format!("v{p}")), 0, 100, Reply::Ok);
    }
    ops.ok(200, Command::Get, 200, 210, s("v0"))
        .ok(200, Command::Get, 220, 230, s("v1"));
    match check_key_with(&ops.0, Budget::default(), Engine::Sweep).0 {
        KeyVerdict::Unknown(e) => assert_eq!(e.limit, Limit::Concurrency),
        other => panic!("expected unknown, got {other:?}"),
    }
    // The depth-first search would need 2^130 states: unknown too.
    let small = Budget {
        max_states: 20_000,
        max_time: Duration::from_secs(60),
    };
    assert!(matches!(check_key(&ops.0, small), KeyVerdict::Unknown(_)));
}

#[test]
fn replies_no_state_produces_need_no_search() {
    let mut ops = Ops::default();
    for p in 0..130 {
        ops.ok(p, set(&format!("v{p}")), 0, 100, Reply::Ok);
    }
    ops.ok(200, Command::Get, 50, 60, s("never"));
    let v = ops.assert_not_linearizable();
    assert!(v.impossible);
    assert_eq!(v.blocked.as_ref().map(|o| o.id), Some(130));
    assert_eq!(
        v.to_string(),
        "not linearizable: no write could produce the reply of #130 p200 GET \"k\" -> \"never\" [0.000000s, 0.000000s]\n"
    );
}

// ------------------------------------------------------------ performance

/// Makes the acknowledged GET half way through `ops` return a value that
/// was provably overwritten before the GET began: for a register, the value
/// of a SET followed by another acknowledged write before the GET; for a
/// counter, one less than an INCR reply received before the GET. Returns
/// the GET's index.
fn corrupt_with_a_stale_read(ops: &mut [Op]) -> usize {
    let gets = acked_where(ops, |o, _| o.command == Command::Get);
    let g = gets[gets.len() / 2];
    let begin = ops[g].invoke_ns;
    let acked = |o: &Op| matches!(o.outcome, Outcome::Ok(_));
    let overwritten = ops
        .iter()
        .filter(|w| acked(w))
        .find_map(|w| match &w.command {
            Command::Set(v) => ops
                .iter()
                .any(|y| {
                    acked(y)
                        && matches!(y.command, Command::Set(_) | Command::Del)
                        && y.invoke_ns > w.complete_ns
                        && y.complete_ns < begin
                })
                .then(|| v.clone()),
            _ => None,
        });
    let stale = overwritten.or_else(|| {
        ops.iter()
            .filter(|o| o.complete_ns < begin)
            .filter_map(|o| match (&o.command, &o.outcome) {
                (Command::Incr, Outcome::Ok(Reply::Int(n))) => Some(n - 1),
                _ => None,
            })
            .max()
            .map(|n| n.to_string())
    });
    let Some(stale) = stale else {
        panic!("no stale value to read");
    };
    ops[g].outcome = Outcome::Ok(Reply::Str(stale));
    g
}

/// 5,000 ops on one key from 10 processes, with unknown outcomes:
/// linearizable ones (answered by the depth-first search), and ones with a
/// stale read half way (the depth-first search runs out of its share of
/// the budget, the sweep finds the read). Each takes well under a second in
/// release and a few in debug; for release timings run
/// `cargo test -p petrel-bench --release checks_5000 -- --nocapture`.
#[test]
fn checks_5000_ops_from_10_processes_quickly() {
    for (mix, p_unknown) in [
        (Mix::Register, 0.0),
        (Mix::Register, 0.02),
        (Mix::Counter, 0.02),
        (Mix::Mixed, 0.02),
    ] {
        let ops = simulate(11, &Sim::new(mix, 10, 5_000).unknowns(p_unknown));
        let started = Instant::now();
        let (verdict, stats) = check_key_stats(&ops, Budget::default());
        let took = started.elapsed();
        println!("{mix:?} unknown={p_unknown}: {stats:?}");
        assert!(verdict.is_linearizable(), "{mix:?}: {verdict:?}");
        assert!(took < Duration::from_secs(5), "{mix:?}: {took:?}");
    }
    let budget = Budget {
        max_states: 400_000,
        max_time: Duration::from_secs(60),
    };
    for mix in [Mix::Register, Mix::Counter] {
        let mut ops = simulate(5, &Sim::new(mix, 10, 5_000).unknowns(0.02));
        let g = corrupt_with_a_stale_read(&mut ops);
        let started = Instant::now();
        let (verdict, stats) = check_key_stats(&ops, budget);
        let took = started.elapsed();
        println!("{mix:?} with a stale read: {stats:?}");
        match verdict {
            KeyVerdict::NotLinearizable(v) => {
                assert!(!v.impossible);
                assert_eq!(v.blocked.map(|o| o.id), Some(ops[g].id));
            }
            other => panic!("{mix:?}: {other:?}"),
        }
        assert!(took < Duration::from_secs(10), "{mix:?}: {took:?}");
    }
}
