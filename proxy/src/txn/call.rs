//! One command of a transaction, as the planner and the participants see it.

use bytes::Bytes;
use petrel_common::command::{table, Command, Internal};

/// One command: its entry in the command table and its arguments, name first.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) command: &'static Command,
    pub(crate) args: Vec<Bytes>,
}

impl Call {
    /// An internal `petrel.*` command.
    pub(crate) fn internal(which: Internal, args: Vec<Bytes>) -> Call {
        Call {
            command: table().internal(which),
            args,
        }
    }
}
