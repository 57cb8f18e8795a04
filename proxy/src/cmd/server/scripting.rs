//! Scripts and functions: `EVAL`, `EVALSHA`, `FCALL` and their `_RO` forms
//! run at the partition of their keys (`crate::script`); `SCRIPT LOAD
//! EXISTS FLUSH` and `FUNCTION LOAD DELETE LIST DUMP RESTORE FLUSH STATS`
//! act on the cluster's scripts and libraries, which meta keeps
//! (`crate::catalog`); `SCRIPT KILL` and `FUNCTION KILL` stop the scripts
//! running on the servers.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::command::{table, Internal};
use petrel_common::reply::{errors, Reply};
use petrel_script::engine::NOSCRIPT;

use petrel_common::msg::RestorePolicy;
use petrel_script::payload;

use crate::action::{Action, Ctx, Touches};
use crate::catalog::LibraryInfo;
use crate::cmd::help::{help_reply, subcommand_syntax_error};
use crate::program::Program;
use crate::route::router::Target;
use crate::script::{self, session, ScriptCall};
use crate::state::Shared;
use crate::util::c_str;

const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";

fn is(arg: Option<&Bytes>, word: &[u8]) -> bool {
    arg.is_some_and(|a| a.eq_ignore_ascii_case(word))
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: deletes every library, cluster-wide.
pub(crate) fn function_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 3 {
        return Action::Reply(subcommand_syntax_error(args));
    }
    if args.len() == 3 && !is(args.get(2), b"async") && !is(args.get(2), b"sync") {
        return Action::Reply(Reply::error(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    let shared = ctx.shared.clone();
    Action::Later(async move { shared.catalog.flush_libraries().await }.boxed())
}

/// `SCRIPT FLUSH [ASYNC|SYNC]`: forgets every script, cluster-wide.
pub(crate) fn script_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let ok = args.len() == 2
        || (args.len() == 3 && (is(args.get(2), b"async") || is(args.get(2), b"sync")));
    if !ok {
        return Action::Reply(Reply::error(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    let shared = ctx.shared.clone();
    Action::Later(async move { shared.catalog.flush_scripts(&shared.scripts).await }.boxed())
}

/// `SCRIPT LOAD script`: compiles it and has meta keep it; its SHA1.
pub(crate) fn script_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    let body = args[2].clone();
    Action::Later(async move { shared.catalog.load_script(&shared.scripts, body).await }.boxed())
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

/// `FCALL function numkeys [key ...] [arg ...]`
pub(crate) fn fcall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    fcall_generic(ctx, args, false)
}

/// `FCALL_RO function numkeys [key ...] [arg ...]`
pub(crate) fn fcall_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    fcall_generic(ctx, args, true)
}

/// The keys and arguments after `numkeys`, with Redis's errors
/// (`not_integer` when `numkeys` is not a number).
fn split_keys(args: &[Bytes], not_integer: &str) -> Result<(Vec<Bytes>, Vec<Bytes>), Reply> {
    let numkeys = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| Reply::error(not_integer))?;
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

/// Keeps one client's commands in order: a script with no declared key
/// may touch any.
fn set_touches(ctx: &mut Ctx<'_>, keys: &[Bytes], read_only: bool) {
    let mut touches = Touches::keys(keys, !read_only);
    touches.all = keys.is_empty();
    ctx.touches = Some(touches);
}

fn eval_generic(ctx: &mut Ctx<'_>, args: &[Bytes], by_sha: bool, read_only: bool) -> Action {
    let (keys, argv) = match split_keys(args, errors::NOT_INTEGER) {
        Ok(split) => split,
        Err(e) => return Action::Reply(e),
    };
    let sha = if by_sha {
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    } else {
        match ctx.shared.scripts.load(&args[1]) {
            Ok(sha) => sha,
            Err(e) => return Action::Reply(e),
        }
    };
    set_touches(ctx, &keys, read_only);
    let acl = ctx.shared.acl.limits(&ctx.session.user);
    let router = ctx.shared.router_for(ctx.session.db);
    let shared = ctx.shared.clone();
    let script = args[1].clone();
    Action::Later(
        async move {
            let body = if by_sha {
                match shared.catalog.script(&shared.scripts, &script).await {
                    Some(body) => body,
                    None => return Reply::error(NOSCRIPT),
                }
            } else {
                script
            };
            let call = ScriptCall {
                sha,
                program: Program::Script(body),
                keys,
                argv,
                read_only,
                acl,
            };
            script::run(router, &shared.router, call).await
        }
        .boxed(),
    )
}

/// Whether `name` runs a script or a function.
pub(crate) fn is_script_command(name: &str) -> bool {
    matches!(
        name,
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// A script or function queued in `MULTI` (`name` as
/// [`is_script_command`] says), ready to run inside the block, or the
/// error reply it gets instead (as alone).
pub(crate) async fn queued_script(
    shared: &Arc<Shared>,
    name: &str,
    args: &[Bytes],
    acl: Option<crate::acl::User>,
) -> Result<session::Script, Reply> {
    let read_only = name.ends_with("_ro");
    let program = if name.starts_with("fcall") {
        let Some(function) = shared.catalog.function(&shared.scripts, &args[1]).await else {
            return Err(Reply::error("ERR Function not found"));
        };
        Program::Function {
            library_code: function.library_code,
            name: args[1].clone(),
        }
    } else if name.starts_with("evalsha") {
        match shared.catalog.script(&shared.scripts, &args[1]).await {
            Some(body) => Program::Script(body),
            None => return Err(Reply::error(NOSCRIPT)),
        }
    } else {
        shared.scripts.load(&args[1])?;
        Program::Script(args[1].clone())
    };
    let not_integer = if name.starts_with("fcall") {
        "ERR Bad number of keys provided"
    } else {
        errors::NOT_INTEGER
    };
    let (keys, argv) = split_keys(args, not_integer)?;
    Ok(session::Script {
        program,
        keys,
        argv,
        read_only,
        acl,
    })
}

/// Redis looks the function up before it reads `numkeys`.
fn fcall_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> Action {
    let split = split_keys(args, "ERR Bad number of keys provided");
    if let Ok((keys, _)) = &split {
        set_touches(ctx, keys, read_only);
    }
    let acl = ctx.shared.acl.limits(&ctx.session.user);
    let router = ctx.shared.router_for(ctx.session.db);
    let shared = ctx.shared.clone();
    let name = args[1].clone();
    Action::Later(
        async move {
            let Some(function) = shared.catalog.function(&shared.scripts, &name).await else {
                return Reply::error("ERR Function not found");
            };
            let (keys, argv) = match split {
                Ok(split) => split,
                Err(e) => return e,
            };
            let call = ScriptCall {
                sha: format!("function:{}", String::from_utf8_lossy(&name)),
                program: Program::Function {
                    library_code: function.library_code,
                    name,
                },
                keys,
                argv,
                read_only,
                acl,
            };
            script::run(router, &shared.router, call).await
        }
        .boxed(),
    )
}

/// `FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]`, libraries by name.
pub(crate) fn function_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let (mut with_code, mut library) = (false, None);
    let mut i = 2;
    while i < args.len() {
        if !with_code && is(args.get(i), b"withcode") {
            with_code = true;
        } else if library.is_none() && is(args.get(i), b"libraryname") {
            if i + 1 >= args.len() {
                return Action::Reply(Reply::error("ERR library name argument was not given"));
            }
            library = Some(args[i + 1].clone());
            i += 1;
        } else {
            return Action::Reply(Reply::error(format!(
                "ERR Unknown argument {}",
                c_str(&args[i])
            )));
        }
        i += 1;
    }
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            let libraries = shared.catalog.libraries(&shared.scripts).await;
            Reply::Array(
                libraries
                    .into_iter()
                    .filter(|l| {
                        library.as_ref().is_none_or(|p| {
                            petrel_common::glob::matches(p, l.name.as_bytes(), true)
                        })
                    })
                    .map(|l| library_reply(l, with_code))
                    .collect(),
            )
        }
        .boxed(),
    )
}

fn text(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// One library of `FUNCTION LIST`, as Redis shows it.
fn library_reply(l: LibraryInfo, with_code: bool) -> Reply {
    let functions = l
        .functions
        .into_iter()
        .map(|(name, description, flags)| {
            Reply::Map(vec![
                (text("name"), text(&name)),
                (
                    text("description"),
                    description.as_deref().map_or(Reply::Nil, text),
                ),
                (
                    text("flags"),
                    Reply::Set(
                        flags
                            .into_iter()
                            .map(|f| Reply::Status(f.to_string()))
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    let mut fields = vec![
        (text("library_name"), text(&l.name)),
        (text("engine"), text("LUA")),
        (text("functions"), Reply::Array(functions)),
    ];
    if with_code {
        fields.push((text("library_code"), Reply::Bulk(l.code)));
    }
    Reply::Map(fields)
}

/// `FUNCTION LOAD [REPLACE] code`: the library's name.
pub(crate) fn function_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut replace = false;
    let mut pos = 2;
    while pos < args.len() - 1 {
        if !is(args.get(pos), b"replace") {
            return Action::Reply(Reply::error(format!(
                "ERR Unknown option given: {}",
                c_str(&args[pos])
            )));
        }
        replace = true;
        pos += 1;
    }
    if pos >= args.len() {
        return Action::Reply(Reply::error("ERR Function code is missing"));
    }
    let code = args[pos].clone();
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            shared
                .catalog
                .load_library(&shared.scripts, code, replace)
                .await
        }
        .boxed(),
    )
}

/// `FUNCTION DELETE library`.
pub(crate) fn function_delete(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    let name = args[2].clone();
    Action::Later(async move { shared.catalog.delete_library(&name).await }.boxed())
}

/// `FUNCTION DUMP`: every library in Redis's payload format.
pub(crate) fn function_dump(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            let libraries = shared.catalog.libraries(&shared.scripts).await;
            Reply::Bulk(payload::dump(libraries.iter().map(|l| &l.code[..])))
        }
        .boxed(),
    )
}

/// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`.
pub(crate) fn function_restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if args.len() > 4 {
        return Action::Reply(subcommand_syntax_error(args));
    }
    let policy =
        match args.get(3) {
            None => RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"append") => RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => RestorePolicy::Replace,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => RestorePolicy::Flush,
            Some(_) => return Action::Reply(Reply::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = match payload::parse(&args[2]) {
        Ok(codes) => codes,
        Err(e) => return Action::Reply(Reply::Error(format!("ERR {e}"))),
    };
    let shared = ctx.shared.clone();
    Action::Later(async move { shared.catalog.restore(codes, policy).await }.boxed())
}

/// `FUNCTION STATS`: the libraries and functions there are. No running
/// function is shown: they run on the servers.
pub(crate) fn function_stats(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            let libraries = shared.catalog.libraries(&shared.scripts).await;
            let functions: usize = libraries.iter().map(|l| l.functions.len()).sum();
            Reply::Map(vec![
                (text("running_script"), Reply::Nil),
                (
                    text("engines"),
                    Reply::Map(vec![(
                        text("LUA"),
                        Reply::Map(vec![
                            (text("libraries_count"), Reply::Int(libraries.len() as i64)),
                            (text("functions_count"), Reply::Int(functions as i64)),
                        ]),
                    )]),
                ),
            ])
        }
        .boxed(),
    )
}

/// `SCRIPT EXISTS sha1 [sha1 ...]`: 1 for each script this proxy or meta knows.
pub(crate) fn script_exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    let shas = args[2..].to_vec();
    Action::Later(async move { shared.catalog.scripts_exist(&shared.scripts, &shas).await }.boxed())
}

/// `FUNCTION KILL`: as `SCRIPT KILL` (a server stops whatever script or
/// function runs there).
pub(crate) fn function_kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    script_kill(ctx, args)
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
