//! One row of a family's table: a command's full name and the function
//! that runs it at a partition.

use bytes::Bytes;

use super::db::Db;
use super::outcome::CmdResult;

/// How a partition runs one command; `args` includes the command name.
pub type RunFn = fn(&mut Db<'_>, &[Bytes]) -> CmdResult;

/// One command's implementation, named by its full name in the one command
/// table (`petrel_common::command`), which says everything else about it.
pub struct Runner {
    /// Full lower-case name (`get`, `object|encoding`).
    pub name: &'static str,
    pub run: RunFn,
}

pub const fn run(name: &'static str, run: RunFn) -> Runner {
    Runner { name, run }
}
