//! One row of a family's table: a command's full name and the function
//! that runs it at a partition.

use bytes::Bytes;

use super::db::Db;
use super::outcome::CmdResult;

/// How a partition runs one command; `args` includes the command name.
pub(crate) type RunFn = fn(&mut Db<'_>, &[Bytes]) -> CmdResult;

/// One command's implementation, named by its full name in the one command
/// table (`petrel_common::command`), which says everything else about it.
pub(crate) struct Runner {
    /// Full lower-case name (`get`, `object|encoding`).
    pub(crate) name: &'static str,
    pub(crate) run: RunFn,
}

pub(crate) const fn run(name: &'static str, run: RunFn) -> Runner {
    Runner { name, run }
}
