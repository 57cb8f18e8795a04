//! What coordinators and participants say to each other, as plain data.
//!
//! The RPC layer carries these however it likes (the proxy and server map
//! them onto `msg.rs` bodies); the machines only see these types. An
//! EXECUTE also carries the commands to run, which only the shells read:
//! [`ExecuteHeader`] is the part the machines need.

use super::id::TxnId;
use super::record::Decision;
use crate::ids::Gpid;

/// The machine-visible part of an EXECUTE (the shell adds the commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecuteHeader {
    pub txn: TxnId,
    /// The record partition `R`.
    pub record: Gpid,
    /// How many EXECUTEs of `txn` this participant got before this one: a
    /// participant that lost T's state (new primary, expiry) refuses a
    /// non-zero `seq` instead of running half a transaction.
    pub seq: u32,
}

/// Every request except EXECUTE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Make T's writes (and at `R` its record) durable and undecided.
    /// `epoch` and `executes` are what the coordinator saw in this
    /// participant's EXECUTE replies: a participant whose primary changed
    /// since, or that missed an EXECUTE, refuses.
    Prepare {
        txn: TxnId,
        epoch: u64,
        executes: u32,
        /// Only at `R`: the participants with writes, for `record/T`.
        writers: Option<Vec<Gpid>>,
    },
    /// The only writer: commit T's writes here in one proposal.
    CommitOne {
        txn: TxnId,
        epoch: u64,
        executes: u32,
    },
    /// The outcome: apply (or drop) T's writes and release its locks.
    Decide { txn: TxnId, decision: Decision },
    /// Drop an Active T (read-only participant, or giving up before PREPARE).
    /// Answered `Released` only if T still held its locks here until now:
    /// a reader that was wounded (or expired) is refused, and its reads
    /// cannot be trusted.
    Release { txn: TxnId },
    /// The coordinator is alive: do not expire T.
    Heartbeat { txn: TxnId },
    /// (To `R`) what became of T? Decides it if nobody has.
    Status { txn: TxnId },
    /// (From `R`) do you hold T's PREPARE durably? If not, never accept it.
    Prevent { txn: TxnId },
}

/// Which request a refusal answers. Only a refusal of PREPARE (or
/// COMMIT_ONE) decides anything; a late refusal of an EXECUTE or HEARTBEAT
/// must not be mistaken for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    Execute,
    Prepare,
    CommitOne,
    Heartbeat,
    Release,
}

/// Why a participant refused: in every case T was not prepared (or
/// committed) here by this request, and never will be by a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Wounded by an older transaction (wound-wait).
    Wounded,
    /// Waited `lock_wait_ms` for a lock.
    LockTimeout,
    /// Its coordinator released it here (a repeated RELEASE is answered
    /// `Released` again).
    Released,
    /// Older than `max_age_ms`, or its start time is absurdly far ahead.
    TooOld,
    /// This participant has no state for T at the point the request needs
    /// (a new primary, expired, released, or an EXECUTE missed).
    Lost,
    /// The request's epoch is not this primary's.
    EpochChanged,
    /// T is in a state that does not take this request (e.g. PREPARE while
    /// an EXECUTE is still running, COMMIT_ONE after PREPARE).
    WrongState,
    /// T was decided aborted here (PREVENT, STATUS or DECIDE), or its
    /// record says so.
    Aborted,
}

impl Request {
    /// The transaction the request is about.
    pub fn txn(&self) -> TxnId {
        match self {
            Request::Prepare { txn, .. }
            | Request::CommitOne { txn, .. }
            | Request::Decide { txn, .. }
            | Request::Release { txn }
            | Request::Heartbeat { txn }
            | Request::Status { txn }
            | Request::Prevent { txn } => *txn,
        }
    }
}

/// Answers to requests and EXECUTEs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// EXECUTE number `seq` ran (the shell attaches the commands' replies).
    /// `writes`: T now has pending writes here. `epoch`: this primary's, to
    /// quote in PREPARE / COMMIT_ONE.
    Executed {
        txn: TxnId,
        seq: u32,
        epoch: u64,
        writes: bool,
    },
    /// The request `to` is certainly not done here, ever (see
    /// [`Refusal`]): WOUNDED, LOCK_TIMEOUT and REFUSED of the protocol.
    Refused { txn: TxnId, to: Asked, why: Refusal },
    /// PREPARE is durable (at `R`, with `record/T = Staging`).
    Prepared { txn: TxnId },
    /// COMMIT_ONE is durable: T is committed.
    Committed { txn: TxnId },
    /// DECIDE is done (or T was unknown here: DECIDE is idempotent).
    Decided { txn: TxnId },
    /// RELEASE is done, and T held its locks here until it.
    Released { txn: TxnId },
    /// HEARTBEAT: T is still Active here.
    Alive { txn: TxnId },
    /// STATUS: T's decision, final.
    Status { txn: TxnId, decision: Decision },
    /// PREVENT: `found` = T's PREPARE is durable here (or T committed
    /// here); otherwise T is durably aborted here.
    Prevent { txn: TxnId, found: bool },
}

impl Response {
    /// The transaction the response is about.
    pub fn txn(&self) -> TxnId {
        match self {
            Response::Executed { txn, .. }
            | Response::Refused { txn, .. }
            | Response::Prepared { txn }
            | Response::Committed { txn }
            | Response::Decided { txn }
            | Response::Released { txn }
            | Response::Alive { txn }
            | Response::Status { txn, .. }
            | Response::Prevent { txn, .. } => *txn,
        }
    }
}
