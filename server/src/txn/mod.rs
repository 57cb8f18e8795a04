//! A partition primary's side of transactions across partitions (the
//! protocol is `docs/TRANSACTIONS.md`).
//!
//! - [`exec`]: runs one EXECUTE's commands against committed state, the
//!   uncommitted tail and the transaction's own pending writes, which stay
//!   in memory until the transaction commits.
//! - [`carry`]: commands whose data flows between partitions (`RENAME`,
//!   `LMOVE`, `SUNIONSTORE`...): the keys of other partitions are brought
//!   to the one that runs the command (`petrel.txn.run`), and the state the
//!   command leaves them in is sent back (`petrel.txn.replace`).
//! - [`records`]: the durable records in storage: a participant's
//!   proposal as one mutation, and the records a new primary recovers.

pub mod carry;
pub mod exec;
pub mod records;
