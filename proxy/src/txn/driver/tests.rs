//! The driver against a scripted fake participant: every partition answers
//! at once from `answer`, and every message is logged.

use bytes::Bytes;

use super::*;
use crate::txn::plan::{plan, Planned};
use crate::txn::testing::{b, by_digit, call, wounds_once, Fake};

/// The usual answers: OK to writes, `v-<key>` per key to MGET, 1 to DEL.
fn reply(c: &Call) -> Reply {
    match c.command.name() {
        "mget" => Reply::Array(
            c.args[1..]
                .iter()
                .map(|k| b(&format!("v-{}", String::from_utf8_lossy(k))))
                .collect(),
        ),
        "del" => Reply::Int((c.args.len() - 1) as i64),
        "petrel.fingerprint" => Reply::Int(7),
        "petrel.dump" => Reply::Array(vec![b("meta")]),
        "petrel.txn.run" => Reply::Array(vec![Reply::ok(), b("2b"), Reply::NilArray]),
        _ => Reply::ok(),
    }
}

async fn go(
    fake: &Arc<Fake>,
    calls: &[&[&str]],
    watched: &[(&str, i64)],
    deadline_ms: u64,
) -> Ending {
    let watched: Vec<(Bytes, i64)> = watched
        .iter()
        .map(|(k, f)| (Bytes::from(k.to_string()), *f))
        .collect();
    let Planned::Txn(p) = plan(
        &calls.iter().map(|c| call(c)).collect::<Vec<_>>(),
        &watched,
        by_digit,
    ) else {
        panic!("one partition");
    };
    let settings = Settings {
        opts: Options {
            resend_ms: 50,
            status_after_ms: 100,
            ..Options::default()
        },
        tick: Duration::from_millis(5),
        ..Settings::default()
    };
    let deadline = Instant::now() + Duration::from_millis(deadline_ms);
    drive(Job {
        plan: p,
        table: TableId(1),
        transport: fake.clone(),
        settings,
        kind: Kind::Command,
        deadline,
    })
    .await
}

/// Waits until the background DECIDEs went out.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn a_split_write_prepares_every_writer_then_decides() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let ending = go(&fake, &[&["MSET", "1a", "x", "2b", "y"]], &[], 2_000).await;
    assert_eq!(ending, Ending::Replies(vec![Reply::ok()]));
    settle().await;
    let log = fake.requests();
    assert_eq!(
        log[..2],
        [(1, "EXECUTE MSET".into()), (2, "EXECUTE MSET".into())]
    );
    let prepares: Vec<u32> = log
        .iter()
        .filter(|(_, w)| w == "Prepare")
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(prepares, vec![1, 2]);
    assert_eq!(log.iter().filter(|(_, w)| w == "Decide").count(), 2);
}

#[tokio::test]
async fn a_read_only_transaction_only_releases() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let ending = go(&fake, &[&["MGET", "1a", "2b", "1c"]], &[], 2_000).await;
    assert_eq!(
        ending,
        Ending::Replies(vec![Reply::Array(vec![b("v-1a"), b("v-2b"), b("v-1c")])])
    );
    let log = fake.requests();
    assert!(
        log.iter().all(|(_, w)| w != "Prepare" && w != "Decide"),
        "{log:?}"
    );
    assert_eq!(log.iter().filter(|(_, w)| w == "Release").count(), 2);
}

#[tokio::test]
async fn a_wounded_execute_runs_the_whole_plan_again() {
    let fake = wounds_once(2, reply);
    let ending = go(&fake, &[&["SET", "1a", "x"], &["DEL", "2b"]], &[], 2_000).await;
    assert_eq!(ending, Ending::Replies(vec![Reply::ok(), Reply::Int(1)]));
    let log = fake.log.lock().expect("lock");
    let executes: Vec<TxnId> = log
        .iter()
        .filter_map(|(_, m)| match m {
            Msg::Execute { head, .. } => Some(head.txn),
            _ => None,
        })
        .collect();
    assert_eq!(executes.len(), 4, "two attempts of two EXECUTEs");
    assert_ne!(executes[0], executes[3]);
    assert_eq!(executes[0].start_ms, executes[3].start_ms, "same age");
}

#[tokio::test]
async fn a_changed_watched_key_releases_everything_and_answers_null() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let ending = go(&fake, &[&["SET", "1a", "x"]], &[("2w", 8)], 2_000).await;
    assert_eq!(ending, Ending::WatchFailed);
    let log = fake.requests();
    assert_eq!(log[0], (2, "EXECUTE petrel.fingerprint".into()));
    assert!(log.iter().all(|(_, w)| w != "Prepare" && w != "CommitOne"));
    assert_eq!(log.iter().filter(|(_, w)| w == "Release").count(), 2);
    // Unchanged: committed, by COMMIT_ONE at the one writer.
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let ending = go(&fake, &[&["SET", "1a", "x"]], &[("2w", 7)], 2_000).await;
    assert_eq!(ending, Ending::Replies(vec![Reply::ok()]));
    assert!(fake.requests().contains(&(1, "CommitOne".into())));
}

#[tokio::test]
async fn a_carry_runs_its_three_rounds() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let ending = go(&fake, &[&["RENAME", "1a", "2b"]], &[], 2_000).await;
    assert_eq!(ending, Ending::Replies(vec![Reply::ok()]));
    let log = fake.requests();
    let executes: Vec<&(u32, String)> = log
        .iter()
        .filter(|(_, w)| w.starts_with("EXECUTE"))
        .collect();
    assert_eq!(
        executes,
        [
            &(2, "EXECUTE petrel.dump".into()),
            &(1, "EXECUTE petrel.txn.run".into()),
            &(2, "EXECUTE petrel.txn.replace".into())
        ]
    );
}

#[tokio::test]
async fn a_prepare_never_answered_ends_unknown_at_the_deadline() {
    let fake = Fake::new(|to, m, f| match m {
        Msg::Request(Request::Prepare { .. }) if to == 2 => None,
        Msg::Request(Request::Status { .. }) => None,
        _ => f.happy(to, m, reply),
    });
    let started = Instant::now();
    let ending = go(&fake, &[&["MSET", "1a", "x", "2b", "y"]], &[], 300).await;
    assert_eq!(ending, Ending::Failed(Reply::error(UNKNOWN)));
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "not before the deadline"
    );
    assert!(fake
        .requests()
        .iter()
        .any(|(p, w)| *p == 1 && w == "Status"));
}

#[tokio::test]
async fn an_unreachable_participant_is_not_applied_at_the_deadline() {
    let fake = Fake::new(|to, m, f| match m {
        Msg::Execute { .. } if to == 2 => None,
        _ => f.happy(to, m, reply),
    });
    let ending = go(&fake, &[&["MSET", "1a", "x", "2b", "y"]], &[], 300).await;
    assert_eq!(ending, Ending::Failed(Reply::error(NOT_APPLIED)));
}

#[tokio::test]
async fn a_prepare_in_doubt_is_settled_by_the_record_partitions_status() {
    // Partition 2's PREPARE is never answered; R (1) says committed.
    let fake = Fake::new(|to, m, f| match m {
        Msg::Request(Request::Prepare { .. }) if to == 2 => None,
        _ => f.happy(to, m, reply),
    });
    let ending = go(&fake, &[&["MSET", "1a", "x", "2b", "y"]], &[], 2_000).await;
    assert_eq!(ending, Ending::Replies(vec![Reply::ok()]));
}
