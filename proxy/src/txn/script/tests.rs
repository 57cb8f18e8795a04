//! The script driver against the fake participants of `txn::testing`, with
//! a session played by a thread that makes fixed calls (no Lua): each run
//! sends `SET 1a`, then `INCR 2b`, and ends with both replies and a
//! message published to `run<n>` (n counts the runs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use petrel_common::pubsub::PublishMsg;
use petrel_common::txn::coordinator::Options;

use super::*;
use crate::txn::testing::{call, wounds_once, Fake};

/// A script's message on `channel`.
fn message(channel: &str) -> Outgoing {
    Outgoing::of_script(PublishMsg {
        channel: Bytes::copy_from_slice(channel.as_bytes()),
        message: Bytes::from_static(b"m"),
        shard: false,
        ..PublishMsg::default()
    })
}

/// Starts runs that call `SET 1a x` then `INCR 2b`; counts the runs.
fn two_calls(runs: Arc<AtomicUsize>) -> Start {
    Box::new(move || {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        let (events_tx, events) = mpsc::unbounded_channel();
        let (replies, replies_rx) = std::sync::mpsc::channel::<Reply>();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            for (partition, words) in [(1, &["SET", "1a", "x"][..]), (2, &["INCR", "2b"][..])] {
                let call = call(words);
                if events_tx.send(Event::Call { partition, call }).is_err() {
                    return;
                }
                match replies_rx.recv() {
                    Ok(r) => got.push(r),
                    Err(_) => return,
                }
            }
            let held = vec![message(&format!("run{run}"))];
            let _ = events_tx.send(Event::Done(Reply::Array(got), held));
        });
        Session {
            events,
            replies,
            stop: Box::new(|| {}),
        }
    })
}

fn reply(c: &Call) -> Reply {
    match c.command.name() {
        "incr" => Reply::Int(1),
        _ => Reply::ok(),
    }
}

async fn go(fake: &Arc<Fake>, start: Start) -> Reply {
    go_for(fake, start, Duration::from_millis(2_000))
        .await
        .reply
}

async fn go_for(fake: &Arc<Fake>, start: Start, limit: Duration) -> Ended {
    let settings = Settings {
        opts: Options {
            resend_ms: 50,
            status_after_ms: 100,
            ..Options::default()
        },
        tick: Duration::from_millis(5),
        ..Settings::default()
    };
    drive(ScriptJob {
        start,
        table: TableId(1),
        transport: fake.clone(),
        settings,
        deadline: Instant::now() + limit,
    })
    .await
}

#[tokio::test]
async fn each_call_is_a_round_and_the_writers_prepare() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let runs = Arc::new(AtomicUsize::new(0));
    let got = go(&fake, two_calls(runs.clone())).await;
    assert_eq!(got, Reply::Array(vec![Reply::ok(), Reply::Int(1)]));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = fake.requests();
    assert_eq!(
        log[..2],
        [(1, "EXECUTE SET".into()), (2, "EXECUTE INCR".into())],
        "one call per round, in the script's order: {log:?}"
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
async fn a_wounded_call_runs_the_script_again_from_the_start() {
    let fake = wounds_once(2, reply);
    let runs = Arc::new(AtomicUsize::new(0));
    let got = go(&fake, two_calls(runs.clone())).await;
    assert_eq!(got, Reply::Array(vec![Reply::ok(), Reply::Int(1)]));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the script ran twice");
    let log = fake.log.lock().expect("lock");
    let executes: Vec<(u32, TxnId)> = log
        .iter()
        .filter_map(|(to, m)| match m {
            Msg::Execute { head, .. } => Some((*to, head.txn)),
            _ => None,
        })
        .collect();
    assert_eq!(executes.len(), 4, "two attempts of two calls: {executes:?}");
    assert_ne!(executes[0].1, executes[2].1, "a new id");
    assert_eq!(executes[0].1.start_ms, executes[2].1.start_ms, "same age");
}

#[tokio::test]
async fn a_script_that_calls_nothing_needs_no_transaction() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let start: Start = Box::new(|| {
        let (tx, events) = mpsc::unbounded_channel();
        let (replies, _) = std::sync::mpsc::channel();
        let _ = tx.send(Event::Done(Reply::Int(7), vec![message("m")]));
        Session {
            events,
            replies,
            stop: Box::new(|| {}),
        }
    });
    let ended = go_for(&fake, start, Duration::from_secs(2)).await;
    assert_eq!(ended.reply, Reply::Int(7));
    assert_eq!(ended.held, vec![message("m")], "nothing to wait for");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn messages_go_with_a_commit_and_only_the_last_run_s() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, reply));
    let ended = go_for(&fake, two_calls(Arc::default()), Duration::from_secs(2)).await;
    assert_eq!(ended.held, vec![message("run1")]);
    // Wounded: the first run's message is dropped with its writes.
    let ended = go_for(
        &wounds_once(2, reply),
        two_calls(Arc::default()),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(ended.reply, Reply::Array(vec![Reply::ok(), Reply::Int(1)]));
    assert_eq!(ended.held, vec![message("run2")]);
}

#[tokio::test]
async fn nothing_is_published_when_the_transaction_does_not_commit() {
    // The participants run the calls but never answer what follows
    // (PREPARE, STATUS...): the deadline passes, not applied or unknown.
    let fake = Fake::new(|to, m, f| match m {
        Msg::Request(_) => None,
        _ => f.happy(to, m, reply),
    });
    let ended = go_for(&fake, two_calls(Arc::default()), Duration::from_millis(300)).await;
    assert!(ended.reply.is_error(), "{:?}", ended.reply);
    assert!(ended.held.is_empty(), "{:?}", ended.held);
}

#[tokio::test]
async fn a_later_attempt_starting_elsewhere_executes_at_the_record_first() {
    // The first run calls partition 1 then 2; the run after the wound
    // calls 2 first: the record partition (1) joins its first round empty.
    let fake = wounds_once(2, reply);
    let runs = Arc::new(AtomicUsize::new(0));
    let start: Start = {
        let runs = runs.clone();
        Box::new(move || {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            let order: Vec<(u32, &'static [&'static str])> = if run == 0 {
                vec![(1, &["SET", "1a", "x"]), (2, &["INCR", "2b"])]
            } else {
                vec![(2, &["INCR", "2b"]), (1, &["SET", "1a", "x"])]
            };
            let (events_tx, events) = mpsc::unbounded_channel();
            let (replies, replies_rx) = std::sync::mpsc::channel::<Reply>();
            std::thread::spawn(move || {
                for (partition, words) in order {
                    if events_tx
                        .send(Event::Call {
                            partition,
                            call: call(words),
                        })
                        .is_err()
                    {
                        return;
                    }
                    if replies_rx.recv().is_err() {
                        return;
                    }
                }
                let _ = events_tx.send(Event::Done(Reply::ok(), Vec::new()));
            });
            Session {
                events,
                replies,
                stop: Box::new(|| {}),
            }
        })
    };
    assert_eq!(go(&fake, start).await, Reply::ok());
    let log = fake.requests();
    let second: Vec<&(u32, String)> = log
        .iter()
        .filter(|(_, w)| w.starts_with("EXECUTE"))
        .skip(2)
        .collect();
    assert_eq!(
        second[..2],
        [
            &(2, "EXECUTE INCR".to_string()),
            &(1, "EXECUTE ".to_string())
        ],
        "{log:?}"
    );
}

/// Starts runs that call `INCR 3c`, then `RPOPLPUSH 1a 2b` (keys of two
/// partitions, carried by its plan), and end with both replies.
fn a_carried_call() -> Start {
    Box::new(move || {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (replies, replies_rx) = std::sync::mpsc::channel::<Reply>();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let first = Event::Call {
                partition: 3,
                call: call(&["INCR", "3c"]),
            };
            let planned = match crate::txn::plan::plan(
                &[call(&["RPOPLPUSH", "1a", "2b"])],
                &[],
                crate::txn::testing::by_digit,
            ) {
                crate::txn::plan::Planned::Txn(p) => Event::Planned(p),
                crate::txn::plan::Planned::OnePartition => return,
            };
            for event in [first, planned] {
                if events_tx.send(event).is_err() {
                    return;
                }
                match replies_rx.recv() {
                    Ok(r) => got.push(r),
                    Err(_) => return,
                }
            }
            let _ = events_tx.send(Event::Done(Reply::Array(got), Vec::new()));
        });
        Session {
            events,
            replies,
            stop: Box::new(|| {}),
        }
    })
}

/// Replies of a carry's rounds: `2b`'s dump, then the run at `1a`'s
/// partition answering `x` and changing `2b`.
fn carry_reply(c: &Call) -> Reply {
    match c.command.name() {
        "petrel.dump" => Reply::Array(vec![crate::txn::testing::b("meta")]),
        "petrel.txn.run" => Reply::Array(vec![
            crate::txn::testing::b("x"),
            crate::txn::testing::b("2b"),
            Reply::NilArray,
        ]),
        _ => reply(c),
    }
}

#[tokio::test]
async fn a_call_over_keys_of_two_partitions_runs_its_plan_s_rounds() {
    let fake = Fake::new(|to, m, f| f.happy(to, m, carry_reply));
    let got = go(&fake, a_carried_call()).await;
    assert_eq!(
        got,
        Reply::Array(vec![Reply::Int(1), crate::txn::testing::b("x")]),
        "the carried call's reply is its run's"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = fake.requests();
    assert_eq!(
        log[..4],
        [
            (3, "EXECUTE INCR".into()),
            (2, "EXECUTE petrel.dump".into()),
            (1, "EXECUTE petrel.txn.run".into()),
            (2, "EXECUTE petrel.txn.replace".into()),
        ],
        "the call's three rounds after the first call's: {log:?}"
    );
    let mut prepares: Vec<u32> = log
        .iter()
        .filter(|(_, w)| w == "Prepare")
        .map(|(p, _)| *p)
        .collect();
    prepares.sort_unstable();
    assert_eq!(prepares, vec![1, 2, 3], "every writer prepares");
}

#[tokio::test]
async fn a_broken_plan_abandons_the_script_and_says_nothing_was_written() {
    // The run's reply lacks its changes' shape: the plan cannot go on.
    let fake = Fake::new(|to, m, f| {
        f.happy(to, m, |c: &Call| match c.command.name() {
            "petrel.txn.run" => Reply::Int(5),
            _ => carry_reply(c),
        })
    });
    let got = go(&fake, a_carried_call()).await;
    let Reply::Error(text) = &got else {
        panic!("{got:?}");
    };
    assert!(text.ends_with("nothing was written"), "{text}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let log = fake.requests();
    assert!(log.iter().all(|(_, w)| w != "Prepare"), "{log:?}");
    assert!(log.iter().any(|(_, w)| w == "Release"), "{log:?}");
}
