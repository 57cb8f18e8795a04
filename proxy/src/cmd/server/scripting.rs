//! Scripts: `EVAL`, `EVALSHA` and their `_RO` forms run at the partition
//! of their keys (`crate::script`); `SCRIPT LOAD EXISTS FLUSH KILL` act on
//! this proxy's script cache and the servers' running scripts. Functions
//! are not served yet (FCALL stays an unknown command), so FUNCTION FLUSH /
//! LIST / KILL have nothing to act on; tools that clean up with them work.

use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::command::{table, Internal};
use petrel_common::reply::{errors, Reply};
use petrel_script::engine::NOSCRIPT;

use crate::action::{Action, Ctx, Touches};
use crate::cmd::help::{help_reply, subcommand_syntax_error};
use crate::route::router::Target;
use crate::script::{self, ScriptCall};
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

/// `SCRIPT FLUSH [ASYNC|SYNC]`: forgets this proxy's scripts.
pub(crate) fn script_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let ok = args.len() == 2
        || (args.len() == 3 && (is(args.get(2), b"async") || is(args.get(2), b"sync")));
    if !ok {
        return Action::Reply(Reply::error(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.shared.scripts.flush();
    Action::Reply(Reply::ok())
}

/// `SCRIPT LOAD script`: compiles and keeps it; its SHA1.
pub(crate) fn script_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    Action::Reply(match ctx.shared.scripts.load(&args[2]) {
        Ok(sha) => Reply::Bulk(Bytes::from(sha)),
        Err(e) => e,
    })
}

/// `EVAL script numkeys [key ...] [arg ...]`
pub(crate) fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    eval_generic(ctx, args, false, false)
}

/// `EVAL_RO script numkeys [key ...] [arg ...]`
pub(crate) fn eval_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    eval_generic(ctx, args, false, true)
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`
pub(crate) fn evalsha(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    eval_generic(ctx, args, true, false)
}

/// `EVALSHA_RO sha1 numkeys [key ...] [arg ...]`
pub(crate) fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    eval_generic(ctx, args, true, true)
}

/// The keys and arguments after `numkeys`, with Redis's errors.
fn split_keys(args: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), Reply> {
    let numkeys = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    if numkeys < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let rest = &args[3..];
    if numkeys as u64 > rest.len() as u64 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let (keys, argv) = rest.split_at(numkeys as usize);
    Ok((keys.to_vec(), argv.to_vec()))
}

fn eval_generic(ctx: &mut Ctx<'_>, args: &[Bytes], by_sha: bool, read_only: bool) -> Action {
    let (keys, argv) = match split_keys(args) {
        Ok(split) => split,
        Err(e) => return Action::Reply(e),
    };
    let (sha, body) = if by_sha {
        match ctx.shared.scripts.body(&args[1]) {
            Some(body) => (String::from_utf8_lossy(&args[1]).to_ascii_lowercase(), body),
            None => return Action::Reply(Reply::error(NOSCRIPT)),
        }
    } else {
        match ctx.shared.scripts.load(&args[1]) {
            Ok(sha) => (sha, args[1].clone()),
            Err(e) => return Action::Reply(e),
        }
    };
    // One client's commands stay in order: a script with no declared key
    // may touch any.
    let mut touches = Touches::keys(&keys, !read_only);
    touches.all = keys.is_empty();
    ctx.touches = Some(touches);
    let router = ctx.shared.router_for(ctx.session.db);
    let call = ScriptCall {
        sha,
        body,
        keys,
        argv,
        read_only,
    };
    Action::Later(script::run(router, call).boxed())
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

/// `SCRIPT EXISTS sha1 [sha1 ...]`: 1 for each script this proxy knows.
pub(crate) fn script_exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let scripts = &ctx.shared.scripts;
    Action::Reply(Reply::Array(
        args[2..]
            .iter()
            .map(|sha| Reply::Int(i64::from(scripts.exists(sha))))
            .collect(),
    ))
}

/// `FUNCTION KILL`: no function runs (functions are not served yet).
pub(crate) fn function_kill(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    Action::Reply(Reply::error(NOTBUSY))
}

/// `SCRIPT KILL`: stops the scripts running at this proxy (across
/// partitions) and at every partition's primary; `OK` when one was
/// stopped. A stopped script writes nothing.
pub(crate) fn script_kill(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let here = script::session::kill_running();
    let router = ctx.shared.router_for(ctx.session.db);
    Action::Later(
        async move {
            let deadline = Instant::now() + router.timeout();
            let map = match router.maps().wait_for_map(deadline).await {
                Ok(m) => m,
                Err(e) => return e.into_reply(),
            };
            let kill = table().internal(Internal::ScriptKill);
            let calls = (0..map.partition_count).map(|p| {
                router.call(
                    Target::Partition(p),
                    kill,
                    vec![Bytes::from_static(b"petrel.script.kill")],
                    false,
                    deadline,
                )
            });
            let replies = futures::future::join_all(calls).await;
            if here || replies.iter().any(|r| matches!(r, Ok(Reply::Status(_)))) {
                Reply::ok()
            } else {
                Reply::error(NOTBUSY)
            }
        }
        .boxed(),
    )
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
