//! `FUNCTION` and `SCRIPT` housekeeping: Petrel runs no scripts (EVAL and
//! FCALL stay unknown commands), so there is never anything to flush, list,
//! find or kill. Tools that clean up with FUNCTION FLUSH / SCRIPT FLUSH work.

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::action::{Action, Ctx};
use crate::cmd::help::{help_reply, subcommand_syntax_error};
use crate::util::c_str;

const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";

fn is(arg: Option<&Bytes>, word: &[u8]) -> bool {
    arg.is_some_and(|a| a.eq_ignore_ascii_case(word))
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: nothing to delete.
pub(crate) fn function_flush(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 3 {
        return Action::Reply(subcommand_syntax_error(args));
    }
    if args.len() == 3 && !is(args.get(2), b"async") && !is(args.get(2), b"sync") {
        return Action::Reply(Reply::error(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    Action::Reply(Reply::ok())
}

/// `SCRIPT FLUSH [ASYNC|SYNC]`: nothing to delete.
pub(crate) fn script_flush(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let ok = args.len() == 2
        || (args.len() == 3 && (is(args.get(2), b"async") || is(args.get(2), b"sync")));
    Action::Reply(if ok {
        Reply::ok()
    } else {
        Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    })
}

/// `FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]`: no libraries.
pub(crate) fn function_list(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let (mut with_code, mut library) = (false, false);
    let mut i = 2;
    while i < args.len() {
        if !with_code && is(args.get(i), b"withcode") {
            with_code = true;
        } else if !library && is(args.get(i), b"libraryname") {
            if i + 1 >= args.len() {
                return Action::Reply(Reply::error("ERR library name argument was not given"));
            }
            library = true;
            i += 1;
        } else {
            return Action::Reply(Reply::error(format!(
                "ERR Unknown argument {}",
                c_str(&args[i])
            )));
        }
        i += 1;
    }
    Action::Reply(Reply::Array(vec![]))
}

/// `SCRIPT EXISTS sha1 [sha1 ...]`: no script is cached.
pub(crate) fn script_exists(_: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Reply(Reply::Array(vec![Reply::Int(0); args.len() - 2]))
}

/// `FUNCTION KILL` / `SCRIPT KILL`: nothing runs.
pub(crate) fn kill(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::error(NOTBUSY))
}

/// `FUNCTION HELP`.
pub(crate) fn function_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    )
}

/// `SCRIPT HELP`.
pub(crate) fn script_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}
