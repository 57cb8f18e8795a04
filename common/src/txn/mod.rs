//! Transactions across partitions: the decision logic as pure machines.
//! (Module documentation is completed below.)

mod codec;
pub mod coordinator;
pub mod id;
pub mod lock;
pub mod msg;
pub mod participant;
pub mod record;

pub use codec::DecodeError;
pub use id::TxnId;
pub use lock::LockMode;
pub use msg::{ExecuteHeader, Refusal, Request, Response};
pub use record::{Change, DecidedRecord, Decision, PreparedRecord, RecordOp, TxnRecord};

#[cfg(test)]
mod sim;
