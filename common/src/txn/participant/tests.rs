//! Scenario tests of the participant machine, input by input.

use bytes::Bytes;

use super::*;

fn g(p: u32) -> Gpid {
    Gpid::new(1, p)
}

/// Smaller `n` is older.
fn t(n: u64) -> TxnId {
    TxnId {
        start_ms: 1_000 + n,
        nonce: n,
    }
}

fn k(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

const NOW: u64 = 2_000;

fn refused(token: Token, txn: TxnId, to: Asked, why: Refusal) -> Output {
    let resp = Response::Refused { txn, to, why };
    Output::Reply { token, resp }
}

fn machine() -> Participant {
    Participant::new(g(0), 7, Options::default(), NOW)
}

fn exec(
    p: &mut Participant,
    token: Token,
    txn: TxnId,
    seq: u32,
    locks: &[(&'static str, LockMode)],
) -> Vec<Output> {
    let head = ExecuteHeader {
        txn,
        record: g(0),
        seq,
    };
    let locks = locks.iter().map(|(key, m)| (k(key), *m)).collect();
    p.handle(Input::Execute { token, head, locks })
}

/// EXECUTE granted and run, leaving `writes` pending.
fn run(
    p: &mut Participant,
    token: Token,
    txn: TxnId,
    locks: &[(&'static str, LockMode)],
    writes: Option<&'static str>,
) {
    let out = exec(p, token, txn, 0, locks);
    assert_eq!(
        out,
        vec![Output::Run {
            token,
            txn,
            pending: None
        }]
    );
    let writes = writes.map(k);
    let out = p.handle(Input::Executed { token, txn, writes });
    assert!(matches!(
        out[..],
        [Output::Reply {
            resp: Response::Executed { .. },
            ..
        }]
    ));
}

fn prepare(txn: TxnId, writers: Option<Vec<Gpid>>) -> Request {
    Request::Prepare {
        txn,
        epoch: 7,
        executes: 1,
        writers,
    }
}

fn proposal(out: &[Output]) -> ProposalId {
    out.iter()
        .find_map(|o| match o {
            Output::Propose { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a proposal")
}

#[test]
fn older_wounds_younger_active_and_younger_waits_then_times_out() {
    let mut p = machine();
    run(&mut p, 1, t(5), &[("a", LockMode::Exclusive)], Some("w5"));
    // Older t(1) wounds t(5) and runs.
    let out = exec(&mut p, 2, t(1), 0, &[("a", LockMode::Shared)]);
    assert_eq!(
        out,
        vec![Output::Run {
            token: 2,
            txn: t(1),
            pending: None
        }]
    );
    assert_eq!(p.phase(t(5)), None);
    // t(5)'s next message is refused as wounded.
    let out = p.handle(Input::Request {
        token: 3,
        req: prepare(t(5), None),
    });
    assert_eq!(
        out,
        vec![refused(3, t(5), Asked::Prepare, Refusal::Wounded)]
    );
    p.handle(Input::Executed {
        token: 2,
        txn: t(1),
        writes: None,
    });
    // Younger t(9) wanting it exclusively waits, then times out.
    assert!(exec(&mut p, 4, t(9), 0, &[("a", LockMode::Exclusive)]).is_empty());
    assert_eq!(p.waiting(), 1);
    let out = p.handle(Input::Tick {
        now_ms: NOW + Options::default().lock_wait_ms,
    });
    assert_eq!(
        out,
        vec![refused(4, t(9), Asked::Execute, Refusal::LockTimeout)]
    );
}

#[test]
fn fast_reads_pass_active_locks_but_wait_for_prepared_ones() {
    let mut p = machine();
    run(&mut p, 1, t(1), &[("a", LockMode::Exclusive)], Some("w"));
    let fast = |token, write| Input::Fast {
        token,
        keys: vec![k("a")],
        write,
    };
    assert_eq!(
        p.handle(fast(10, false)),
        vec![Output::FastGo { token: 10 }]
    );
    assert!(
        p.handle(fast(11, true)).is_empty(),
        "a write waits for any lock"
    );
    let out = p.handle(Input::Request {
        token: 2,
        req: prepare(t(1), None),
    });
    let id = proposal(&out);
    assert!(
        p.handle(fast(12, false)).is_empty(),
        "a read waits for a preparing lock"
    );
    let out = p.handle(Input::Durable { id });
    assert_eq!(
        out,
        vec![Output::Reply {
            token: 2,
            resp: Response::Prepared { txn: t(1) }
        }]
    );
    let decide = Request::Decide {
        txn: t(1),
        decision: Decision::Committed,
    };
    let out = p.handle(Input::Request {
        token: 3,
        req: decide,
    });
    let id = proposal(&out);
    let Some(Output::Propose { change, .. }) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(
        change.data,
        Some(k("w")),
        "the commit applies the pending writes"
    );
    let out = p.handle(Input::Durable { id });
    assert!(out.contains(&Output::FastGo { token: 11 }));
    assert!(out.contains(&Output::FastGo { token: 12 }));
    assert_eq!(p.locked_keys(), 0);
}

#[test]
fn prepare_answers_only_when_durable_and_checks_epoch_and_executes() {
    let mut p = machine();
    run(
        &mut p,
        1,
        t(1),
        &[("a", LockMode::Exclusive), ("r", LockMode::Shared)],
        Some("w"),
    );
    let out = p.handle(Input::Request {
        token: 2,
        req: prepare(t(1), None),
    });
    assert_eq!(out.len(), 1, "no answer before durability: {out:?}");
    assert_eq!(p.locked_keys(), 1, "shared locks go at PREPARE");
    // A duplicate waits for the same proposal.
    assert!(p
        .handle(Input::Request {
            token: 3,
            req: prepare(t(1), None)
        })
        .is_empty());
    let out = p.handle(Input::Durable { id: proposal(&out) });
    assert_eq!(out.len(), 2);
    // Another attempt that saw a different primary, or missed an EXECUTE.
    run(&mut p, 4, t(2), &[("b", LockMode::Exclusive)], Some("w"));
    let stale = Request::Prepare {
        txn: t(2),
        epoch: 6,
        executes: 1,
        writers: None,
    };
    let out = p.handle(Input::Request {
        token: 5,
        req: stale,
    });
    assert_eq!(
        out,
        vec![refused(5, t(2), Asked::Prepare, Refusal::EpochChanged)]
    );
    assert_eq!(p.phase(t(2)), None, "a refused attempt is dropped");
}

#[test]
fn prevent_aborts_durably_and_later_prepare_is_refused() {
    let mut p = machine();
    run(&mut p, 1, t(1), &[("a", LockMode::Exclusive)], Some("w"));
    let out = p.handle(Input::Request {
        token: 2,
        req: Request::Prevent { txn: t(1) },
    });
    let Some(Output::Propose { change, id }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    assert!(matches!(
        change.records[..],
        [RecordOp::PutDecided(
            _,
            DecidedRecord {
                decision: Decision::Aborted,
                ..
            }
        )]
    ));
    let out = p.handle(Input::Durable { id });
    assert_eq!(
        out,
        vec![Output::Reply {
            token: 2,
            resp: Response::Prevent {
                txn: t(1),
                found: false
            }
        }]
    );
    let out = p.handle(Input::Request {
        token: 3,
        req: prepare(t(1), None),
    });
    assert!(matches!(
        out[..],
        [Output::Reply {
            resp: Response::Refused {
                why: Refusal::Aborted,
                ..
            },
            ..
        }]
    ));
}

#[test]
fn a_new_primary_rebuilds_locks_and_resolves_by_asking_the_record() {
    let prep = PreparedRecord {
        record: g(3),
        keys: vec![k("a")],
        writes: k("w"),
    };
    let rec = Recovered {
        prepared: vec![(t(1), prep)],
        ..Recovered::default()
    };
    let opts = Options::default();
    let mut p = Participant::recover(g(0), 8, opts.clone(), NOW, rec);
    assert_eq!(p.phase(t(1)), Some(Phase::Prepared));
    // Undecided for resolve_after_ms: STATUS to the record partition.
    let out = p.handle(Input::Tick {
        now_ms: NOW + opts.resolve_after_ms,
    });
    assert!(
        out.contains(&Output::Send {
            to: g(3),
            req: Request::Status { txn: t(1) }
        }),
        "{out:?}"
    );
    // The rebuilt exclusive lock holds readers back until the decision.
    assert!(p
        .handle(Input::Fast {
            token: 1,
            keys: vec![k("a")],
            write: false
        })
        .is_empty());
    let resp = Response::Status {
        txn: t(1),
        decision: Decision::Aborted,
    };
    let out = p.handle(Input::Response { from: g(3), resp });
    let Some(Output::Propose { change, id }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    assert_eq!(change.data, None, "an abort applies nothing");
    let out = p.handle(Input::Durable { id });
    assert_eq!(out, vec![Output::FastGo { token: 1 }]);
}

#[test]
fn status_without_record_aborts_and_with_staging_asks_every_writer() {
    // No record: Aborted, written before the answer.
    let mut p = machine();
    let out = p.handle(Input::Request {
        token: 1,
        req: Request::Status { txn: t(1) },
    });
    let id = proposal(&out);
    let out = p.handle(Input::Durable { id });
    let decision = Decision::Aborted;
    assert_eq!(
        out,
        vec![Output::Reply {
            token: 1,
            resp: Response::Status {
                txn: t(1),
                decision
            }
        }]
    );
    // Staging, this partition a writer too: PREVENT to the other writer.
    let mut p = machine();
    run(&mut p, 2, t(2), &[("a", LockMode::Exclusive)], Some("w"));
    let out = p.handle(Input::Request {
        token: 3,
        req: prepare(t(2), Some(vec![g(0), g(1)])),
    });
    p.handle(Input::Durable { id: proposal(&out) });
    let out = p.handle(Input::Request {
        token: 4,
        req: Request::Status { txn: t(2) },
    });
    assert_eq!(
        out,
        vec![Output::Send {
            to: g(1),
            req: Request::Prevent { txn: t(2) }
        }]
    );
    let out = p.handle(Input::Response {
        from: g(1),
        resp: Response::Prevent {
            txn: t(2),
            found: true,
        },
    });
    let Some(Output::Propose { change, id }) = out.first().cloned() else {
        panic!("{out:?}")
    };
    assert!(change.records.contains(&RecordOp::PutRecord(
        t(2),
        TxnRecord::Decided(Decision::Committed)
    )));
    let out = p.handle(Input::Durable { id });
    let decision = Decision::Committed;
    assert!(out.contains(&Output::Reply {
        token: 4,
        resp: Response::Status {
            txn: t(2),
            decision
        }
    }));
}

#[test]
fn idle_transactions_expire_and_release_their_locks() {
    let mut p = machine();
    run(&mut p, 1, t(1), &[("a", LockMode::Exclusive)], None);
    let idle = Options::default().idle_timeout_ms;
    p.handle(Input::Tick {
        now_ms: NOW + idle - 1,
    });
    p.handle(Input::Request {
        token: 2,
        req: Request::Heartbeat { txn: t(1) },
    });
    p.handle(Input::Tick {
        now_ms: NOW + idle + 1,
    });
    assert_eq!(p.phase(t(1)), Some(Phase::Active), "a heartbeat keeps it");
    p.handle(Input::Tick {
        now_ms: NOW + 2 * idle,
    });
    assert_eq!(p.phase(t(1)), None);
    assert_eq!(p.locked_keys(), 0);
}
