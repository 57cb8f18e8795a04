//! The script driver against the fake participants of `txn::testing`, with
//! a session played by a thread that makes fixed calls (no Lua): each run
//! sends `SET 1a`, then `INCR 2b`, and ends with both replies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use petrel_common::txn::coordinator::Options;

use super::*;
use crate::txn::testing::{call, wounds_once, Fake};

/// Starts runs that call `SET 1a x` then `INCR 2b`; counts the runs.
fn two_calls(runs: Arc<AtomicUsize>) -> Start {
    Box::new(move || {
        runs.fetch_add(1, Ordering::SeqCst);
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
            let _ = events_tx.send(Event::Done(Reply::Array(got)));
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
        deadline: Instant::now() + Duration::from_millis(2_000),
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
        let _ = tx.send(Event::Done(Reply::Int(7)));
        Session {
            events,
            replies,
            stop: Box::new(|| {}),
        }
    });
    assert_eq!(go(&fake, start).await, Reply::Int(7));
    assert!(fake.requests().is_empty());
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
                let _ = events_tx.send(Event::Done(Reply::ok()));
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
