//! List commands: a metadata record plus one element record per item.

use super::Command;

/// The list family.
pub static COMMANDS: &[Command] = &[];
