//! The multi-key checkers on hand-written records with known answers: each
//! kind of violation is flagged, clean records pass.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::bank::{self, explain, BankViolation, Explained, Search};
use super::lists::{self, ListViolation};
use super::record::{Action, BankRun, LmoveRun, MoveHow, MsetRun, MultiOp, Outcome};
use super::snapshots::{self, SnapshotViolation};

fn op(id: u64, action: Action, invoke: u64, complete: u64, outcome: Outcome) -> MultiOp {
    MultiOp {
        id,
        process: id,
        action,
        invoke_ns: invoke,
        complete_ns: complete,
        outcome,
    }
}

fn ok(values: &[Option<&str>]) -> Outcome {
    Outcome::Ok(values.iter().map(|v| v.map(str::to_string)).collect())
}

fn unknown() -> Outcome {
    Outcome::Unknown("timed out".into())
}

fn failed() -> Outcome {
    Outcome::Failed("CROSSSLOT Keys in request don't hash to the same slot".into())
}

// ------------------------------------------------------------ snapshots

fn mset(id: u64, value: &str, invoke: u64, complete: u64, outcome: Outcome) -> MultiOp {
    op(
        id,
        Action::Mset {
            value: value.into(),
        },
        invoke,
        complete,
        outcome,
    )
}

fn mget(id: u64, invoke: u64, complete: u64, values: &[Option<&str>]) -> MultiOp {
    op(id, Action::Mget, invoke, complete, ok(values))
}

/// Three keys: v1 acknowledged, then v2 unknown; reads see each whole.
fn clean_mset() -> MsetRun {
    MsetRun {
        keys: vec!["a".into(), "b".into(), "c".into()],
        ops: vec![
            mget(0, 0, 5, &[None, None, None]),
            mset(1, "v1", 10, 20, ok(&[Some("OK")])),
            mget(2, 15, 25, &[Some("v1"), Some("v1"), Some("v1")]),
            mset(3, "v2", 30, 0, unknown()),
            mget(4, 40, 50, &[Some("v2"), Some("v2"), Some("v2")]),
            mset(5, "v3", 60, 70, failed()),
        ],
        final_values: Some(vec![Some("v2".into()); 3]),
    }
}

#[test]
fn whole_snapshots_pass() {
    let r = snapshots::check(&clean_mset());
    assert!(r.is_ok(), "{:?}", r.violations);
    assert_eq!((r.reads, r.mixed), (3, 0));
}

#[test]
fn a_snapshot_mixing_two_msets_is_flagged() {
    let mut run = clean_mset();
    run.ops
        .push(mget(6, 45, 55, &[Some("v1"), Some("v2"), Some("v2")]));
    let r = snapshots::check(&run);
    assert_eq!(r.mixed, 1);
    match r.violations.as_slice() {
        [SnapshotViolation::Mixed { read, seen }] => {
            assert_eq!(read.id, 6);
            assert_eq!(
                seen,
                &vec![
                    (Some("v1".into()), vec![0], Some(1)),
                    (Some("v2".into()), vec![1, 2], Some(3)),
                ]
            );
        }
        other => panic!("expected one mixed snapshot, got {other:?}"),
    }
    assert!(r.violations[0].to_string().contains("mixed snapshot"));
}

#[test]
fn half_an_mset_next_to_nils_is_a_mixed_snapshot() {
    let mut run = clean_mset();
    run.ops.push(mget(6, 12, 18, &[Some("v1"), None, None]));
    let r = snapshots::check(&run);
    assert_eq!(r.mixed, 1, "{:?}", r.violations);
}

#[test]
fn values_no_live_mset_wrote_are_flagged() {
    let mut run = clean_mset();
    // Never written by anyone.
    run.ops.push(mget(6, 80, 90, &[Some("zz"); 3]));
    // Written by the MSET the client was told was refused.
    run.ops.push(mget(7, 80, 90, &[Some("v3"); 3]));
    // Written by an MSET sent after this read completed.
    run.ops.push(mget(8, 1, 8, &[Some("v1"); 3]));
    let r = snapshots::check(&run);
    assert!(r.violations.iter().any(
        |v| matches!(v, SnapshotViolation::NeverWritten { read, value } if read.id == 6 && value == "zz")
    ));
    assert!(r.violations.iter().any(
        |v| matches!(v, SnapshotViolation::FailedWriteSeen { read, write } if read.id == 7 && write.id == 5)
    ));
    assert!(r.violations.iter().any(
        |v| matches!(v, SnapshotViolation::FromTheFuture { read, write } if read.id == 8 && write.id == 1)
    ));
    assert_eq!(r.violations.len(), 3, "{:?}", r.violations);
}

#[test]
fn the_final_state_must_be_one_mset_that_can_be_last() {
    let mut run = clean_mset();
    run.final_values = Some(vec![
        Some("v1".into()),
        Some("v2".into()),
        Some("v2".into()),
    ]);
    assert!(matches!(
        snapshots::check(&run).violations.as_slice(),
        [SnapshotViolation::FinalMixed { .. }]
    ));

    // v4 was acknowledged after v1 completed: v1 cannot be the last.
    let mut run = clean_mset();
    run.ops.push(mset(6, "v4", 100, 110, ok(&[Some("OK")])));
    run.final_values = Some(vec![Some("v1".into()); 3]);
    match snapshots::check(&run).violations.as_slice() {
        [SnapshotViolation::FinalLost { missed, .. }] => assert_eq!(missed[0].id, 6),
        other => panic!("expected a lost MSET, got {other:?}"),
    }

    // Nothing at all, though v1 was acknowledged.
    let mut run = clean_mset();
    run.final_values = Some(vec![None; 3]);
    assert!(matches!(
        snapshots::check(&run).violations.as_slice(),
        [SnapshotViolation::FinalLost { value: None, .. }]
    ));

    // The unknown v2 may have been overtaken by nothing: v1 or v2 may stay.
    let mut run = clean_mset();
    run.final_values = Some(vec![Some("v1".into()); 3]);
    assert!(snapshots::check(&run).is_ok());
}

// ------------------------------------------------------------ bank

fn transfer(id: u64, from: usize, to: usize, amount: i64, outcome: Outcome) -> MultiOp {
    op(
        id,
        Action::Transfer {
            from,
            to,
            amount,
            marker: format!("m{id}"),
            by_script: id % 2 == 1,
        },
        id * 10,
        id * 10 + 5,
        outcome,
    )
}

fn read(id: u64, balances: &[i64]) -> MultiOp {
    let values: Vec<String> = balances.iter().map(i64::to_string).collect();
    let values: Vec<Option<&str>> = values.iter().map(|s| Some(s.as_str())).collect();
    op(
        id,
        Action::ReadBalances {
            mget: id.is_multiple_of(2),
        },
        id * 10,
        id * 10 + 5,
        ok(&values),
    )
}

/// Three accounts of 100: 0 -> 1 5 acknowledged, 1 -> 2 3 unknown, 2 -> 0
/// 4 refused.
fn clean_bank(final_balances: &[i64]) -> BankRun {
    BankRun {
        accounts: vec!["a0".into(), "a1".into(), "a2".into()],
        initial: vec![100; 3],
        ops: vec![
            read(0, &[100, 100, 100]),
            transfer(1, 0, 1, 5, ok(&[Some("95"), Some("105")])),
            read(2, &[95, 105, 100]),
            transfer(3, 1, 2, 3, unknown()),
            read(4, &[95, 102, 103]),
            transfer(5, 2, 0, 4, failed()),
        ],
        final_balances: Some(final_balances.iter().map(|b| Some(b.to_string())).collect()),
        final_markers: None,
    }
}

/// [`clean_bank`] with the markers read after healing: `marked` the ids.
fn marked_bank(final_balances: &[i64], marked: &[u64]) -> BankRun {
    BankRun {
        final_markers: Some(marked.to_vec()),
        ..clean_bank(final_balances)
    }
}

#[test]
fn markers_say_which_unknown_transfers_applied() {
    let r = bank::check(&marked_bank(&[95, 102, 103], &[1, 3]));
    assert!(r.is_ok(), "{:?}", r.violations);
    assert_eq!(r.explained, Some(Explained::Marked(vec![3])));
    let r = bank::check(&marked_bank(&[95, 105, 100], &[1]));
    assert!(r.is_ok(), "{:?}", r.violations);
    assert_eq!(r.explained, Some(Explained::Marked(vec![])));
}

#[test]
fn balances_that_disagree_with_the_markers_are_flagged() {
    // The unknown 1 -> 2 applied by the balances, but its marker is absent:
    // the marker and the transfer were not one atomic step.
    let r = bank::check(&marked_bank(&[95, 102, 103], &[1]));
    match r.violations.as_slice() {
        [BankViolation::FinalUnexplained { residual, .. }] => {
            assert_eq!(residual, &vec![0, -3, 3]);
        }
        other => panic!("expected unexplained balances, got {other:?}"),
    }
}

#[test]
fn an_acknowledged_transfer_without_its_marker_is_flagged() {
    let r = bank::check(&marked_bank(&[100, 100, 100], &[]));
    assert!(r
        .violations
        .iter()
        .any(|v| matches!(v, BankViolation::AckedNotApplied { transfer } if transfer.id == 1)));
    assert!(!r.is_ok());
}

#[test]
fn a_refused_transfer_with_its_marker_is_flagged() {
    let r = bank::check(&marked_bank(&[99, 105, 96], &[1, 5]));
    match r.violations.as_slice() {
        [BankViolation::RefusedApplied { transfer }] => assert_eq!(transfer.id, 5),
        other => panic!("expected a refused transfer applied, got {other:?}"),
    }
}

#[test]
fn a_conserving_bank_passes_whether_or_not_the_unknown_transfer_applied() {
    let r = bank::check(&clean_bank(&[95, 102, 103]));
    assert!(r.is_ok(), "{:?}", r.violations);
    assert_eq!(r.reads, 3);
    assert_eq!(r.explained, Some(Explained::By(vec![3])));
    let r = bank::check(&clean_bank(&[95, 105, 100]));
    assert!(r.is_ok(), "{:?}", r.violations);
    assert_eq!(r.explained, Some(Explained::By(vec![])));
}

#[test]
fn a_read_that_does_not_sum_to_the_total_is_flagged() {
    let mut run = clean_bank(&[95, 102, 103]);
    // Half a transfer seen: 1 -> 2 debited, not yet credited.
    run.ops.push(read(6, &[95, 102, 100]));
    let r = bank::check(&run);
    match r.violations.as_slice() {
        [BankViolation::ReadNotConserved { read, sum, total }] => {
            assert_eq!((read.id, *sum, *total), (6, 297, 300));
        }
        other => panic!("expected one non-conserving read, got {other:?}"),
    }
    let mut run = clean_bank(&[95, 102, 103]);
    run.ops.push(op(
        7,
        Action::ReadBalances { mget: true },
        70,
        75,
        ok(&[Some("95"), None, Some("103")]),
    ));
    assert!(matches!(
        bank::check(&run).violations.as_slice(),
        [BankViolation::ReadMalformed { .. }]
    ));
}

#[test]
fn half_a_transfer_in_the_final_balances_is_flagged() {
    // The unknown 1 -> 2 debited 1 but never credited 2.
    let r = bank::check(&clean_bank(&[95, 102, 100]));
    assert!(matches!(
        r.violations.as_slice(),
        [BankViolation::FinalNotConserved {
            sum: 297,
            total: 300
        }]
    ));
}

#[test]
fn a_refused_transfer_that_applied_is_flagged() {
    // The refused 2 -> 0 of 4 took effect: the total holds, the history does not.
    let r = bank::check(&clean_bank(&[99, 105, 96]));
    match r.violations.as_slice() {
        [BankViolation::FinalUnexplained {
            residual,
            unknown_transfers,
        }] => {
            assert_eq!(residual, &vec![4, 0, -4]);
            assert_eq!(*unknown_transfers, 1);
        }
        other => panic!("expected an unexplained final state, got {other:?}"),
    }
    assert!(!r.is_ok());
}

#[test]
fn the_search_finds_any_applied_subset_of_unknown_transfers() {
    let mut rng = StdRng::seed_from_u64(15);
    for round in 0..200 {
        let accounts = rng.gen_range(2..8);
        let count = rng.gen_range(0..40);
        let transfers: Vec<(u64, usize, usize, i64)> = (0..count)
            .map(|id| {
                let from = rng.gen_range(0..accounts);
                let to = (from + rng.gen_range(1..accounts)) % accounts;
                (id, from, to, rng.gen_range(1..=5))
            })
            .collect();
        let mut residual = vec![0i64; accounts];
        for &(_, from, to, amount) in &transfers {
            if rng.gen_bool(0.5) {
                residual[from] -= amount;
                residual[to] += amount;
            }
        }
        match explain(&residual, &transfers, 1_000_000) {
            Search::Found(ids) => {
                let mut got = vec![0i64; accounts];
                for &(id, from, to, amount) in &transfers {
                    if ids.contains(&id) {
                        got[from] -= amount;
                        got[to] += amount;
                    }
                }
                assert_eq!(got, residual, "round {round}: the subset found adds up");
            }
            other => panic!("round {round}: {other:?}"),
        }
        // One unit moved that no transfer can move: impossible.
        let mut bad = residual.clone();
        bad[0] += 1000;
        bad[1] -= 1000;
        assert_eq!(explain(&bad, &transfers, 1_000_000), Search::Impossible);
    }
}

#[test]
fn a_search_out_of_states_is_undecided_not_passed() {
    let transfers: Vec<(u64, usize, usize, i64)> = (0..30)
        .map(|id| (id, (id % 3) as usize, ((id + 1) % 3) as usize, 1))
        .collect();
    assert_eq!(explain(&[1, 0, -1], &transfers, 3), Search::GaveUp);
}

// ------------------------------------------------------------ lists

fn moved(id: u64, from: usize, item: Option<&str>) -> MultiOp {
    op(
        id,
        Action::Move {
            from,
            to: 1 - from,
            how: MoveHow::Lmove {
                pop_left: true,
                push_left: false,
            },
        },
        id * 10,
        id * 10 + 5,
        ok(&[item]),
    )
}

fn lmove_run(final_lists: &[&[&str]]) -> LmoveRun {
    LmoveRun {
        lists: vec!["A".into(), "B".into()],
        items: vec!["i0".into(), "i1".into(), "i2".into()],
        ops: vec![
            moved(0, 0, Some("i0")),
            moved(1, 0, Some("i1")),
            op(
                2,
                Action::Move {
                    from: 1,
                    to: 0,
                    how: MoveHow::Rpoplpush,
                },
                20,
                0,
                unknown(),
            ),
            moved(3, 1, None),
        ],
        final_lists: Some(
            final_lists
                .iter()
                .map(|l| l.iter().map(|s| s.to_string()).collect())
                .collect(),
        ),
    }
}

#[test]
fn every_item_in_exactly_one_list_passes() {
    let r = lists::check(&lmove_run(&[&["i2"], &["i0", "i1"]]));
    assert!(r.is_ok(), "{:?}", r.violations);
    assert_eq!(r.moved, 2);
    assert_eq!(r.final_lengths, Some(vec![1, 2]));
    // The unknown move may have applied.
    assert!(lists::check(&lmove_run(&[&["i1", "i2"], &["i0"]])).is_ok());
}

#[test]
fn a_lost_item_is_flagged() {
    let r = lists::check(&lmove_run(&[&["i2"], &["i0"]]));
    assert_eq!(
        r.violations,
        vec![ListViolation::Lost { item: "i1".into() }]
    );
}

#[test]
fn a_duplicated_item_is_flagged() {
    let r = lists::check(&lmove_run(&[&["i2", "i1"], &["i0", "i1"]]));
    assert_eq!(
        r.violations,
        vec![ListViolation::Duplicated {
            item: "i1".into(),
            lists: vec![0, 1]
        }]
    );
}

#[test]
fn foreign_items_are_flagged() {
    let mut run = lmove_run(&[&["i2", "x"], &["i0", "i1"]]);
    run.ops.push(moved(9, 0, Some("y")));
    let r = lists::check(&run);
    assert!(r
        .violations
        .iter()
        .any(|v| matches!(v, ListViolation::Foreign { value, .. } if value == "y")));
    assert!(r
        .violations
        .iter()
        .any(|v| matches!(v, ListViolation::ForeignFinal { list: 0, value } if value == "x")));
    assert_eq!(r.violations.len(), 2);
}
