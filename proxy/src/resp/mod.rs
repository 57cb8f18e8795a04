//! The Redis wire protocol as the proxy speaks it to clients.
//!
//! - [`decode`]: requests in, resumable and capped like Redis.
//! - [`encode`]: replies out, in RESP2 or RESP3.

pub mod decode;
pub mod encode;

pub(crate) use decode::{DecodeError, RequestDecoder};
pub(crate) use encode::{encode, Proto};
