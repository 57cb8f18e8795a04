use super::*;
use crate::txn::testing::{b, by_digit, call, words};

fn txn(calls: &[&[&str]], watched: &[(&str, i64)]) -> Arc<Plan> {
    let watched: Vec<(Bytes, i64)> = watched
        .iter()
        .map(|(k, f)| (Bytes::from(k.to_string()), *f))
        .collect();
    match plan(
        &calls.iter().map(|c| call(c)).collect::<Vec<_>>(),
        &watched,
        by_digit,
    ) {
        Planned::Txn(p) => Arc::new(p),
        other => panic!("{other:?}"),
    }
}

/// Round `r` as (partition, [args]) with the internal commands' args.
fn shown(p: &Progress, r: usize) -> Vec<(u32, Vec<Vec<Bytes>>)> {
    p.batches(r)
        .expect("batches")
        .into_iter()
        .map(|(pid, b)| (pid, b.into_iter().map(|(c, _)| c.args).collect()))
        .collect()
}

/// Answers round `r` with `answer(pid, args)` for each command.
fn answer(p: &mut Progress, r: usize, answer: impl Fn(u32, &[Bytes]) -> Reply) {
    for (pid, batch) in p.batches(r).expect("batches") {
        let sinks: Vec<Sink> = batch.iter().map(|(_, s)| *s).collect();
        let replies = batch.iter().map(|(c, _)| answer(pid, &c.args)).collect();
        p.accept(&sinks, replies).expect("accept");
    }
}

#[test]
fn keys_of_one_partition_are_the_fast_path() {
    let one = plan(
        &[
            call(&["SET", "1a", "x"]),
            call(&["MGET", "1b", "1c"]),
            call(&["PING"]),
        ],
        &[(Bytes::from_static(b"1w"), 5)],
        by_digit,
    );
    assert!(matches!(one, Planned::OnePartition), "{one:?}");
    // A watched key elsewhere makes it a transaction.
    let two = plan(
        &[call(&["SET", "1a", "x"])],
        &[(Bytes::from_static(b"2w"), 5)],
        by_digit,
    );
    assert!(matches!(two, Planned::Txn(_)));
}

#[test]
fn commands_keep_their_order_per_partition_in_one_round() {
    let p = txn(
        &[
            &["SET", "1a", "x"],
            &["SET", "2b", "y"],
            &["MGET", "2b", "1a", "3c"],
            &["DEL", "1a"],
        ],
        &[],
    );
    assert_eq!(p.rounds(), 1);
    assert_eq!(p.record, 1);
    let mut pr = p.start();
    assert_eq!(
        shown(&pr, 0),
        vec![
            (
                1,
                vec![
                    words(&["SET", "1a", "x"]),
                    words(&["MGET", "1a"]),
                    words(&["DEL", "1a"])
                ]
            ),
            (2, vec![words(&["SET", "2b", "y"]), words(&["MGET", "2b"])]),
            (3, vec![words(&["MGET", "3c"])]),
        ]
    );
    answer(&mut pr, 0, |pid, args| match (pid, &args[0][..]) {
        (_, b"SET") => Reply::ok(),
        (1, b"MGET") => Reply::Array(vec![b("x")]),
        (2, b"MGET") => Reply::Array(vec![b("y")]),
        (_, b"MGET") => Reply::Array(vec![Reply::Nil]),
        _ => Reply::Int(1),
    });
    assert_eq!(
        pr.replies().expect("replies"),
        vec![
            Reply::ok(),
            Reply::ok(),
            Reply::Array(vec![b("y"), b("x"), Reply::Nil]),
            Reply::Int(1)
        ]
    );
}

#[test]
fn a_carry_dumps_then_runs_at_home_then_replaces_before_later_commands() {
    let p = txn(
        &[
            &["SET", "2b", "old"],
            &["RENAME", "1a", "2b"],
            &["GET", "2b"],
            &["GET", "3c"],
        ],
        &[],
    );
    assert_eq!(p.record, 2, "the first round's first command");
    let mut pr = p.start();
    assert_eq!(
        shown(&pr, 0),
        vec![
            (
                2,
                vec![words(&["SET", "2b", "old"]), words(&["petrel.dump", "2b"])]
            ),
            (3, vec![words(&["GET", "3c"])]),
        ]
    );
    answer(&mut pr, 0, |_, args| match &args[0][..] {
        b"petrel.dump" => Reply::Array(vec![b("meta"), b("e1"), b("v1")]),
        b"SET" => Reply::ok(),
        _ => b("c"),
    });
    let rename = call(&["RENAME", "1a", "2b"]);
    let mut run = words(&["petrel.txn.run", "1", "2b", "3", "meta", "e1", "v1"]);
    run.push(Bytes::from(rename.command.id.0.to_string()));
    run.extend(words(&["3", "RENAME", "1a", "2b"]));
    assert_eq!(shown(&pr, 1), vec![(1, vec![run])]);
    answer(&mut pr, 1, |_, _| {
        Reply::Array(vec![Reply::ok(), b("2b"), Reply::Array(vec![b("m2")])])
    });
    assert_eq!(
        shown(&pr, 2),
        vec![(
            2,
            vec![
                words(&["petrel.txn.replace", "2b", "m2"]),
                words(&["GET", "2b"])
            ]
        )]
    );
    answer(&mut pr, 2, |_, args| match &args[0][..] {
        b"GET" => b("moved"),
        _ => Reply::ok(),
    });
    assert_eq!(
        pr.replies().expect("replies"),
        vec![Reply::ok(), Reply::ok(), b("moved"), b("c")]
    );
}

#[test]
fn an_unchanged_carried_key_sends_no_replace_and_an_absent_one_carries_nothing() {
    let p = txn(&[&["SUNIONSTORE", "1d", "1a", "2b"]], &[]);
    assert_eq!(p.rounds(), 3);
    let mut pr = p.start();
    answer(&mut pr, 0, |_, _| Reply::NilArray);
    let shown1 = shown(&pr, 1);
    assert_eq!(
        shown1[0].1[0][..4],
        words(&["petrel.txn.run", "1", "2b", "0"])[..]
    );
    answer(&mut pr, 1, |_, _| Reply::Array(vec![Reply::Int(0)]));
    assert!(shown(&pr, 2).is_empty(), "nothing changed at partition 2");
    assert_eq!(pr.replies().expect("replies"), vec![Reply::Int(0)]);
}

#[test]
fn blocking_pops_are_carried_whole() {
    let p = txn(&[&["BLPOP", "1a", "2b", "0"]], &[]);
    let mut pr = p.start();
    assert_eq!(
        shown(&pr, 0),
        vec![(2, vec![words(&["petrel.dump", "2b"])])]
    );
    answer(&mut pr, 0, |_, _| {
        Reply::Array(vec![b("m"), b("e"), b("v")])
    });
    let run = &shown(&pr, 1)[0].1[0];
    assert_eq!(run[run.len() - 4..], words(&["BLPOP", "1a", "2b", "0"])[..]);
    answer(&mut pr, 1, |_, _| {
        Reply::Array(vec![
            Reply::Array(vec![b("2b"), b("v")]),
            b("2b"),
            Reply::NilArray,
        ])
    });
    assert_eq!(
        shown(&pr, 2),
        vec![(2, vec![words(&["petrel.txn.replace", "2b"])])]
    );
    answer(&mut pr, 2, |_, _| Reply::ok());
    assert_eq!(
        pr.replies().expect("replies"),
        vec![Reply::Array(vec![b("2b"), b("v")])]
    );
}

#[test]
fn watched_keys_are_fingerprinted_first_and_compared() {
    let p = txn(&[&["SET", "1a", "x"]], &[("2w", 7), ("1v", 9)]);
    assert_eq!(p.record, 2);
    let mut pr = p.start();
    assert_eq!(
        shown(&pr, 0),
        vec![
            (2, vec![words(&["petrel.fingerprint", "2w"])]),
            (
                1,
                vec![
                    words(&["petrel.fingerprint", "1v"]),
                    words(&["SET", "1a", "x"])
                ]
            ),
        ]
    );
    answer(&mut pr, 0, |pid, args| match &args[0][..] {
        b"petrel.fingerprint" => Reply::Int(if pid == 2 { 7 } else { 9 }),
        _ => Reply::ok(),
    });
    assert!(pr.watch_ok());
    let mut changed = p.start();
    answer(&mut changed, 0, |_, args| match &args[0][..] {
        b"petrel.fingerprint" => Reply::Int(8),
        _ => Reply::ok(),
    });
    assert!(!changed.watch_ok());
}

#[test]
fn replies_that_break_the_contract_are_errors() {
    let p = txn(&[&["RENAME", "1a", "2b"]], &[]);
    let mut pr = p.start();
    let batches = pr.batches(0).expect("batches");
    let sinks: Vec<Sink> = batches[0].1.iter().map(|(_, s)| *s).collect();
    assert!(pr.accept(&sinks, vec![]).is_err(), "wrong count");
    assert!(pr.accept(&sinks, vec![Reply::Int(3)]).is_ok());
    assert!(pr.batches(1).is_err(), "a dump that is not items");
}

#[test]
fn a_carried_command_runs_where_it_writes() {
    // COPY reads 1a and writes 2b: 1a travels to 2b's partition, which
    // raises (and at commit publishes) copy_to.
    let p = txn(&[&["COPY", "1a", "2b"]], &[]);
    let progress = p.start();
    let first = shown(&progress, 0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 1);
    let dump = vec![
        Bytes::from_static(b"petrel.dump"),
        Bytes::from_static(b"1a"),
    ];
    assert_eq!(first[0].1, vec![dump]);
    assert_eq!(
        p.rounds[1][0].0, 2,
        "the run is at the written key's partition"
    );
}
