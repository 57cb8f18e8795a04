//! The one process launcher: `petrel onebox`, petrel-tests and
//! `petrel-chaos` all start meta, servers and proxies through it.
//!
//! - [`process`]: one process slot: start (optionally wrapped, e.g. in a
//!   network namespace), kill -9, SIGSTOP/SIGCONT, restart, SIGTERM stop;
//!   its output appended to a log; killed with its launcher.
//! - [`cluster`]: meta, servers and proxies with the flags each needs,
//!   brought up in order (meta answers, every server registered, the table
//!   exists, DBSIZE answers through each proxy) and taken down in reverse.

pub mod cluster;
pub mod process;

pub use cluster::{Cluster, ClusterSpec, Role, ServerSpec, TableSpec};
pub use process::Process;
