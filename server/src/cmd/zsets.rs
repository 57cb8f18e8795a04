//! Sorted-set commands: a metadata record plus element records ordered by member and by score.

use super::Command;

/// The sorted set family.
pub static COMMANDS: &[Command] = &[];
