//! The set commands: executed on the key's partition primary.
//!
//! Specs copied from Redis 7.0.15's `COMMAND INFO` / `COMMAND DOCS`.

use super::CommandSpec;

/// The set family.
pub static COMMANDS: &[CommandSpec] = &[];
