//! What a script call runs at a partition's primary: an `EVAL` body or a
//! function of a library (`FCALL`), and the internal command that carries it.

use bytes::Bytes;
use petrel_common::command::Internal;

/// The program of a [`crate::script::ScriptCall`].
#[derive(Clone, Debug)]
pub(crate) enum Program {
    /// `EVAL`/`EVALSHA`: the script's body (`petrel.eval`).
    Script(Bytes),
    /// `FCALL`: the function's name and its library's code (`petrel.fcall`).
    Function { library_code: Bytes, name: Bytes },
}

impl Program {
    /// The internal command that runs it.
    pub(crate) fn internal(&self) -> Internal {
        match self {
            Program::Script(_) => Internal::Eval,
            Program::Function { .. } => Internal::Fcall,
        }
    }

    /// The internal command's name.
    pub(crate) fn command_name(&self) -> &'static [u8] {
        match self {
            Program::Script(_) => b"petrel.eval",
            Program::Function { .. } => b"petrel.fcall",
        }
    }

    /// The words between the mode and `numkeys`.
    pub(crate) fn words(&self) -> Vec<Bytes> {
        match self {
            Program::Script(body) => vec![body.clone()],
            Program::Function { library_code, name } => vec![library_code.clone(), name.clone()],
        }
    }
}
