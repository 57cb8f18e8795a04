//! Hash commands: a metadata record plus one element record per field (value = the field's value).

use super::Command;

/// The hash family.
pub static COMMANDS: &[Command] = &[];
