//! Set commands: a metadata record plus one element record per member (empty value).

use super::Command;

/// The set family.
pub static COMMANDS: &[Command] = &[];
