//! The transaction messages ([`super::msg`]) as RPC bodies
//! ([`crate::msg::TxnBodyMsg`]) and back. Every partition a transaction
//! names is in the table the message is routed to, so only partition ids
//! travel. Decoding a body this build does not understand is an error the
//! receiver answers or drops, never a panic.

use super::id::TxnId;
use super::msg::{Asked, ExecuteHeader, Refusal, Request, Response};
use super::record::Decision;
use crate::ids::{Gpid, PartitionId, TableId};
use crate::msg::{TxnBodyMsg, TxnKind};

/// A transaction message received: an EXECUTE (whose commands travel
/// beside it) or another request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    Execute(ExecuteHeader),
    Request(Request),
}

/// A body that does not decode (a newer or broken peer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transaction message does not decode: {0}")]
pub struct BadBody(&'static str);

fn body(kind: TxnKind, txn: TxnId) -> TxnBodyMsg {
    TxnBodyMsg {
        kind: kind.into(),
        start_ms: txn.start_ms,
        nonce: txn.nonce,
        ..Default::default()
    }
}

fn decision_code(d: Decision) -> u32 {
    match d {
        Decision::Committed => 0,
        Decision::Aborted => 1,
    }
}

fn decision_of(code: u32) -> Result<Decision, BadBody> {
    match code {
        0 => Ok(Decision::Committed),
        1 => Ok(Decision::Aborted),
        _ => Err(BadBody("decision")),
    }
}

const ASKED: [Asked; 5] = [
    Asked::Execute,
    Asked::Prepare,
    Asked::CommitOne,
    Asked::Heartbeat,
    Asked::Release,
];

const REFUSALS: [Refusal; 8] = [
    Refusal::Wounded,
    Refusal::LockTimeout,
    Refusal::Released,
    Refusal::TooOld,
    Refusal::Lost,
    Refusal::EpochChanged,
    Refusal::WrongState,
    Refusal::Aborted,
];

fn code_of<T: PartialEq>(all: &[T], v: &T) -> u32 {
    all.iter().position(|x| x == v).unwrap_or(0) as u32
}

fn of_code<T: Copy>(all: &[T], code: u32, what: &'static str) -> Result<T, BadBody> {
    all.get(code as usize).copied().ok_or(BadBody(what))
}

/// An EXECUTE's body.
pub fn execute(header: &ExecuteHeader) -> TxnBodyMsg {
    TxnBodyMsg {
        record_partition: header.record.partition.0,
        seq: header.seq,
        ..body(TxnKind::Execute, header.txn)
    }
}

/// A request's body.
pub fn request(r: &Request) -> TxnBodyMsg {
    match r {
        Request::Prepare {
            txn,
            epoch,
            executes,
            writers,
        } => TxnBodyMsg {
            epoch: *epoch,
            executes: *executes,
            has_writers: writers.is_some(),
            writers: writers.iter().flatten().map(|g| g.partition.0).collect(),
            ..body(TxnKind::Prepare, *txn)
        },
        Request::CommitOne {
            txn,
            epoch,
            executes,
        } => TxnBodyMsg {
            epoch: *epoch,
            executes: *executes,
            ..body(TxnKind::CommitOne, *txn)
        },
        Request::Decide { txn, decision } => TxnBodyMsg {
            decision: decision_code(*decision),
            ..body(TxnKind::Decide, *txn)
        },
        Request::Release { txn } => body(TxnKind::Release, *txn),
        Request::Heartbeat { txn } => body(TxnKind::Heartbeat, *txn),
        Request::Status { txn } => body(TxnKind::Status, *txn),
        Request::Prevent { txn } => body(TxnKind::Prevent, *txn),
    }
}

fn txn_of(m: &TxnBodyMsg) -> TxnId {
    TxnId {
        start_ms: m.start_ms,
        nonce: m.nonce,
    }
}

fn kind_of(m: &TxnBodyMsg) -> TxnKind {
    TxnKind::try_from(m.kind).unwrap_or(TxnKind::Unknown)
}

/// What a request body sent to a partition of `table` asks.
pub fn incoming(m: &TxnBodyMsg, table: TableId) -> Result<Incoming, BadBody> {
    let txn = txn_of(m);
    let gpid = |p: u32| Gpid {
        table,
        partition: PartitionId(p),
    };
    Ok(match kind_of(m) {
        TxnKind::Execute => Incoming::Execute(ExecuteHeader {
            txn,
            record: gpid(m.record_partition),
            seq: m.seq,
        }),
        TxnKind::Prepare => Incoming::Request(Request::Prepare {
            txn,
            epoch: m.epoch,
            executes: m.executes,
            writers: m
                .has_writers
                .then(|| m.writers.iter().map(|&p| gpid(p)).collect()),
        }),
        TxnKind::CommitOne => Incoming::Request(Request::CommitOne {
            txn,
            epoch: m.epoch,
            executes: m.executes,
        }),
        TxnKind::Decide => Incoming::Request(Request::Decide {
            txn,
            decision: decision_of(m.decision)?,
        }),
        TxnKind::Release => Incoming::Request(Request::Release { txn }),
        TxnKind::Heartbeat => Incoming::Request(Request::Heartbeat { txn }),
        TxnKind::Status => Incoming::Request(Request::Status { txn }),
        TxnKind::Prevent => Incoming::Request(Request::Prevent { txn }),
        _ => return Err(BadBody("not a request")),
    })
}

/// A response's body.
pub fn response(r: &Response) -> TxnBodyMsg {
    match r {
        Response::Executed {
            txn,
            seq,
            epoch,
            writes,
        } => TxnBodyMsg {
            seq: *seq,
            epoch: *epoch,
            flag: *writes,
            ..body(TxnKind::Executed, *txn)
        },
        Response::Refused { txn, to, why } => TxnBodyMsg {
            asked: code_of(&ASKED, to),
            refusal: code_of(&REFUSALS, why),
            ..body(TxnKind::Refused, *txn)
        },
        Response::Prepared { txn } => body(TxnKind::Prepared, *txn),
        Response::Committed { txn } => body(TxnKind::Committed, *txn),
        Response::Decided { txn } => body(TxnKind::Decided, *txn),
        Response::Released { txn } => body(TxnKind::Released, *txn),
        Response::Alive { txn } => body(TxnKind::Alive, *txn),
        Response::Status { txn, decision } => TxnBodyMsg {
            decision: decision_code(*decision),
            ..body(TxnKind::StatusIs, *txn)
        },
        Response::Prevent { txn, found } => TxnBodyMsg {
            flag: *found,
            ..body(TxnKind::PreventIs, *txn)
        },
    }
}

/// The response a body carries.
pub fn response_of(m: &TxnBodyMsg) -> Result<Response, BadBody> {
    let txn = txn_of(m);
    Ok(match kind_of(m) {
        TxnKind::Executed => Response::Executed {
            txn,
            seq: m.seq,
            epoch: m.epoch,
            writes: m.flag,
        },
        TxnKind::Refused => Response::Refused {
            txn,
            to: of_code(&ASKED, m.asked, "refused request")?,
            why: of_code(&REFUSALS, m.refusal, "refusal")?,
        },
        TxnKind::Prepared => Response::Prepared { txn },
        TxnKind::Committed => Response::Committed { txn },
        TxnKind::Decided => Response::Decided { txn },
        TxnKind::Released => Response::Released { txn },
        TxnKind::Alive => Response::Alive { txn },
        TxnKind::StatusIs => Response::Status {
            txn,
            decision: decision_of(m.decision)?,
        },
        TxnKind::PreventIs => Response::Prevent { txn, found: m.flag },
        _ => return Err(BadBody("not a response")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn through_bytes(m: TxnBodyMsg) -> TxnBodyMsg {
        TxnBodyMsg::decode(m.encode_to_vec().as_slice()).expect("decodes")
    }

    #[test]
    fn every_message_survives_the_wire() {
        let txn = TxnId {
            start_ms: 1_700_000_000_000,
            nonce: 0xdead_beef,
        };
        let table = TableId(3);
        let g = |p| Gpid {
            table,
            partition: PartitionId(p),
        };
        let header = ExecuteHeader {
            txn,
            record: g(5),
            seq: 2,
        };
        assert_eq!(
            incoming(&through_bytes(execute(&header)), table),
            Ok(Incoming::Execute(header))
        );
        let requests = [
            Request::Prepare {
                txn,
                epoch: 7,
                executes: 3,
                writers: Some(vec![g(1), g(4)]),
            },
            Request::Prepare {
                txn,
                epoch: 7,
                executes: 1,
                writers: None,
            },
            Request::Prepare {
                txn,
                epoch: 7,
                executes: 1,
                writers: Some(Vec::new()),
            },
            Request::CommitOne {
                txn,
                epoch: 2,
                executes: 1,
            },
            Request::Decide {
                txn,
                decision: Decision::Aborted,
            },
            Request::Release { txn },
            Request::Heartbeat { txn },
            Request::Status { txn },
            Request::Prevent { txn },
        ];
        for r in requests {
            assert_eq!(
                incoming(&through_bytes(request(&r)), table),
                Ok(Incoming::Request(r.clone())),
                "{r:?}"
            );
        }
        let mut responses = vec![
            Response::Executed {
                txn,
                seq: 4,
                epoch: 9,
                writes: true,
            },
            Response::Prepared { txn },
            Response::Committed { txn },
            Response::Decided { txn },
            Response::Released { txn },
            Response::Alive { txn },
            Response::Status {
                txn,
                decision: Decision::Committed,
            },
            Response::Prevent { txn, found: true },
        ];
        for to in ASKED {
            for why in REFUSALS {
                responses.push(Response::Refused { txn, to, why });
            }
        }
        for r in responses {
            assert_eq!(response_of(&through_bytes(response(&r))), Ok(r.clone()));
        }
    }

    #[test]
    fn bodies_this_build_does_not_know_are_errors() {
        let mut m = TxnBodyMsg {
            kind: 9999,
            ..Default::default()
        };
        assert!(incoming(&m, TableId(1)).is_err());
        assert!(response_of(&m).is_err());
        m.kind = TxnKind::Refused.into();
        m.refusal = 77;
        assert!(response_of(&m).is_err());
        m.kind = TxnKind::Decide.into();
        m.decision = 5;
        assert!(incoming(&m, TableId(1)).is_err());
        // A response is not a request, and the other way round.
        m.kind = TxnKind::Prepared.into();
        assert!(incoming(&m, TableId(1)).is_err());
        m.kind = TxnKind::Prepare.into();
        assert!(response_of(&m).is_err());
    }
}
