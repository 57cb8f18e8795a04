//! Petrel's RPC: length-prefixed binary frames over TCP.
//!
//! Every frame is a 4-byte big-endian length, a fixed [`frame::Header`]
//! (version, kind, method, deadline, request id) and a protobuf body. One
//! connection per peer carries many requests at once; responses are matched
//! by request id, in whatever order they come back.
//!
//! - [`frame`]: the header and the frame codec.
//! - [`client`]: a pool of multiplexed peer connections with deadlines and
//!   reconnect backoff.
//! - [`server`]: the accept loop that hands each request to a [`server::Service`].
//! - [`error`]: [`ServiceError`], what a service answers instead of a body,
//!   and its wire form.

pub mod client;
pub mod error;
pub mod frame;
pub mod server;

pub use error::ServiceError;

use thiserror::Error;

/// Write buffer of a connection: small frames coalesce in it, bigger writes
/// bypass it (so it never grows to a big value's size).
const WRITE_BUFFER: usize = 64 * 1024;

/// Why an RPC did not produce a response.
///
/// The variants matter to callers deciding whether a write may be retried:
/// only [`RpcError::Unreachable`] proves the request was never sent.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// No connection could be made; the request was never sent.
    #[error("peer {0} unreachable: {1}")]
    Unreachable(String, String),
    /// The connection broke after the request may have been sent.
    #[error("connection to {0} lost")]
    ConnectionLost(String),
    /// No response before the deadline; the request may have executed.
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The peer answered with an error.
    #[error("peer error: {0}")]
    Remote(ServiceError),
    /// The response body did not decode.
    #[error("bad response body: {0}")]
    Decode(String),
    /// The request (this many bytes framed) is larger than any peer accepts; never sent.
    #[error("request of {0} bytes exceeds the rpc frame limit")]
    TooLarge(usize),
}

impl RpcError {
    /// True when the request certainly did not reach the peer.
    pub fn never_sent(&self) -> bool {
        matches!(self, RpcError::Unreachable(..) | RpcError::TooLarge(_))
    }
}
