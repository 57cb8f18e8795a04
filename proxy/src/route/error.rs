//! Why a routed command has no reply from a server, as the client sees it.

use petrel_common::reply::Reply;

/// Why a routed command has no reply from a server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum RouteError {
    /// No usable map: meta unreachable or the table missing.
    #[error("CLUSTERDOWN table '{table}' is not available: {why}")]
    NoMap { table: String, why: String },
    /// Meta lists no primary for the partition.
    #[error("CLUSTERDOWN partition {pid} of table '{table}' has no primary")]
    NoPrimary { table: String, pid: u32 },
    /// Every attempt until the deadline was refused or failed; not executed (or a read).
    #[error("TRYAGAIN partition {pid} of table '{table}' is unavailable: {last}")]
    Unavailable {
        table: String,
        pid: u32,
        last: String,
    },
    /// A write may or may not have been applied.
    #[error(
        "ERR write outcome unknown on partition {pid} (primary {node}): {cause}; it may or may not have been applied"
    )]
    Indeterminate {
        pid: u32,
        node: String,
        cause: String,
    },
    /// The table split after the call was planned on its old map; the
    /// part was not sent.
    #[error("TRYAGAIN table '{table}' split while the command was planned; not sent")]
    Split { table: String },
    /// The server broke the contract (e.g. OK without a reply).
    #[error("ERR {0}")]
    Server(String),
}

impl RouteError {
    /// The error as the reply a client gets.
    pub(crate) fn into_reply(self) -> Reply {
        Reply::Error(crate::util::one_line(&self.to_string()))
    }
}
