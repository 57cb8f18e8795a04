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
//! - [`keys`]: the keys a call touches and how (shared or exclusive): an
//!   EXECUTE's locks, the keys a fast-path command waits on.
//! - [`gate`]: the keys prepared transactions hold, published by the
//!   replica task for reads served outside it, which wait on them.
//! - [`peers`]: a participant's messages to other partitions' primaries,
//!   routed by the table's map from meta.
//! - [`records`]: the durable records in storage: a participant's
//!   proposal as one mutation, and the records a new primary recovers.

pub(crate) mod carry;
pub(crate) mod exec;
pub(crate) mod gate;
pub(crate) mod keys;
pub(crate) mod peers;
pub(crate) mod records;
