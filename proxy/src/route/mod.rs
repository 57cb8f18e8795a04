//! Routing data commands to partition primaries.
//!
//! - [`map`]: the cached partition map, refreshed from meta.
//! - [`split`]: multi-key commands (one partition, or a transaction across
//!   them: `crate::txn`) and fan-out to every partition.
//! - [`merge`]: splitting a multi-key command by partition and merging the
//!   replies, shared with the transactions.
//!
//! One attempt sends `EXECUTE` to the primary the cached map names. An
//! answer that proves the command did not run (NOT_PRIMARY, NO_REPLICA,
//! STALE_MAP, UNAVAILABLE, or a connection that never opened) triggers a map
//! refresh, a backoff (8 ms << n, at most 250 ms) and another attempt, until
//! the request deadline. A write whose outcome is unknown (timeout, lost
//! connection) is never retried: blind retries break linearizability.
//!
//! Errors a client sees (see [`RouteError`]):
//! - `CLUSTERDOWN table '...' is not available: ...`: no map from meta yet,
//!   or the table does not exist.
//! - `CLUSTERDOWN partition N of table '...' has no primary`: meta lists no
//!   primary for the partition until the deadline.
//! - `TRYAGAIN partition N of table '...' is unavailable: ...`: a primary
//!   exists but kept refusing or was unreachable until the deadline; the
//!   command did not run (or it is a read), so retrying is safe.
//! - `ERR write outcome unknown on partition N (...)`: the write may or may
//!   not have been applied; the proxy does not retry it.

pub(crate) mod error;
pub(crate) mod map;
pub(crate) mod merge;
pub(crate) mod router;
pub(crate) mod run;
pub(crate) mod split;
pub(crate) mod streams;

pub(crate) use router::{Router, Target};
