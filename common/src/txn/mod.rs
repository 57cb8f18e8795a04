//! Transactions across partitions: the decision logic as pure machines.
//!
//! docs/TRANSACTIONS.md is the protocol; this module is its decision logic,
//! with no I/O, no clock reads and no randomness, shared by the proxy (which
//! coordinates) and the server (which participates). A shell drives each
//! machine: it feeds inputs (requests, answers, "durable", time) and
//! performs the outputs in order, like `server/src/replica/machine.rs`.
//!
//! | docs/TRANSACTIONS.md | here |
//! |---|---|
//! | transaction id, age | [`id`]: [`TxnId`], [`TxnId::retry`] |
//! | durable records (`prepared/T`, `record/T`, `decided/T`) | [`record`]: values, encodings, [`Change`] |
//! | the participant: locks, wound-wait, fast path | [`lock`], `participant/locking.rs` |
//! | PREPARE, COMMIT_ONE, DECIDE, RELEASE, HEARTBEAT, PREVENT | `participant/commit.rs` |
//! | the record partition (STATUS), resolution | `participant/resolve.rs` |
//! | idle expiry, `txn_max_age`, new primary | [`participant`]: `tick`, [`participant::Participant::recover`] |
//! | the coordinator | [`coordinator`] |
//! | the messages | [`msg`]; as RPC bodies: [`wire`] |
//! | "What must hold" | `sim/` (tests only): the seeded simulation and its checker |
//!
//! # Driving a participant (the server)
//!
//! One [`participant::Participant`] per partition primary, built when the
//! replica becomes primary and has reconciled ([`participant::Participant::recover`]
//! with every `prepared/T`, `record/T` and `decided/T` in storage, and the
//! ballot as `epoch`); dropped when it stops being primary (the shell then
//! answers every request it still holds "not the primary").
//!
//! - EXECUTE: compute the commands' keys and modes (shared for `RO` key
//!   specs), feed [`participant::Input::Execute`]. On [`participant::Output::Run`]
//!   run the commands against committed state, the uncommitted tail and
//!   `pending`, and feed [`participant::Input::Executed`] with *all* of T's
//!   pending writes (a `Mutation`, encoded). The answer
//!   ([`Response::Executed`] in a [`participant::Output::Reply`]) leaves
//!   with the commands' replies, but only once everything they read is
//!   durable (the replica's commit point has reached the last decree
//!   prepared when they ran): a reader must not return a write that a
//!   failover could still lose.
//! - Other requests: [`participant::Input::Request`]; answers to the
//!   machine's own STATUS / PREVENT ([`participant::Output::Send`]):
//!   [`participant::Input::Response`].
//! - Fast path: before running a command outside a transaction, feed
//!   [`participant::Input::Fast`]; run it on [`participant::Output::FastGo`].
//! - [`participant::Output::Propose`]: one replicated mutation (data writes
//!   and record writes together), proposed after every earlier one; feed
//!   [`participant::Input::Durable`] once committed and applied.
//! - [`participant::Input::Tick`] often (every 100 ms or so).
//!
//! # Driving a coordinator (the proxy)
//!
//! One [`coordinator::Coordinator`] per transaction, for its whole life
//! (retries included). Feed [`coordinator::Input::Execute`] with a round's
//! partitions, attach that round's commands to each
//! [`coordinator::Output::Execute`], feed every answer
//! ([`coordinator::Input::Response`], or [`coordinator::Input::Failed`]
//! when a connection breaks). On [`coordinator::Output::RoundDone`] run the
//! next round or feed [`coordinator::Input::Commit`]; on
//! [`coordinator::Output::Restart`] run the transaction again from the start
//! under the new id; on [`coordinator::Output::Done`] answer the client, and
//! keep feeding ticks and answers until
//! [`coordinator::Coordinator::is_finished`] (DECIDEs in the background).
//!
//! # The simulation
//!
//! `cargo test -p petrel-common txn` runs 500 seeds (and the broken
//! variants, which must be caught). `PETREL_TXN_SIM_SEEDS=5000` runs more;
//! `PETREL_TXN_SIM_SEED=n PETREL_TXN_SIM_TRACE=1 cargo test -p petrel-common
//! txn::sim::tests::one_seed -- --nocapture` replays one seed event by
//! event.

pub mod coordinator;
pub mod id;
pub mod lock;
pub mod msg;
pub mod participant;
pub mod record;
pub mod wire;

pub use crate::codec::DecodeError;
pub use id::TxnId;
pub use lock::LockMode;
pub use msg::{ExecuteHeader, Refusal, Request, Response};
pub use record::{Change, DecidedRecord, Decision, PreparedRecord, RecordOp, TxnRecord};

#[cfg(test)]
mod sim;
