//! Entries as Redis replies them, and the error texts that name a key or
//! a group.

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::id::StreamId;
use crate::cmd::outcome::CmdError;
use crate::cmd::parse::option;

/// One entry as Redis replies it: `[id, [field, value, ...]]`.
pub(crate) fn entry_reply(id: StreamId, pairs: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        id.reply(),
        Reply::Array(pairs.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// Entries as an array of [`entry_reply`]s.
pub(crate) fn entries_reply(entries: Vec<(StreamId, Vec<Bytes>)>) -> Reply {
    Reply::Array(
        entries
            .into_iter()
            .map(|(id, pairs)| entry_reply(id, pairs))
            .collect(),
    )
}

/// A name as Redis's `%s` prints it: up to the first NUL byte.
pub(crate) fn c_text(name: &[u8]) -> String {
    String::from_utf8_lossy(option(name)).into_owned()
}

/// An error text Redis built with a leading `-` (its own code word).
pub(crate) fn errors_text(text: String) -> String {
    crate::cmd::errors::sanitize(&text)
}

/// `NOGROUP No such key 'key' or consumer group 'group'`.
pub(crate) fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::reply(errors_text(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        c_text(key),
        c_text(group)
    )))
}

/// `NOGROUP No such consumer group 'group' for key name 'key'`.
pub(crate) fn no_group_for_key(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::reply(errors_text(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        c_text(group),
        c_text(key)
    )))
}
