//! Helpers of the planner's and the driver's tests.

use bytes::Bytes;
use petrel_common::command::table;
use petrel_common::reply::Reply;

use super::call::Call;

/// Words as arguments.
pub(crate) fn words(w: &[&str]) -> Vec<Bytes> {
    w.iter().map(|s| Bytes::from(s.to_string())).collect()
}

/// A command from its words.
pub(crate) fn call(w: &[&str]) -> Call {
    let args = words(w);
    let command = table().find(&args[0]).expect("command");
    Call { command, args }
}

/// Keys name their partition by their first character: `1a` is in 1.
pub(crate) fn by_digit(k: &[u8]) -> u32 {
    u32::from(k[0] - b'0')
}

/// A bulk string reply.
pub(crate) fn b(s: &str) -> Reply {
    Reply::Bulk(Bytes::from(s.to_string()))
}
