//! The Rust side of `redis.call`, `redis.pcall`, `redis.setresp`,
//! `redis.set_repl`, `redis.acl_check_cmd`, `redis.log` and
//! `redis.register_function`, with the checks Redis makes before a script's
//! command reaches the host.
//!
//! Each answers `(true, value)` or `(false, error table)`; the Lua wrappers
//! in `sandbox.lua` raise the error table, so errors carry Redis's shape.

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};
use petrel_common::command::{c_arg, table, CommandFlags, Resolved, TimeoutArg};
use petrel_common::num::format_g17;

use crate::convert::{error_table, reply_to_lua};
use crate::flags::{valid_name, ScriptFlags};
use crate::host::{Host, LogLevel};

/// The operation codes `sandbox.lua` passes first.
const OP_CALL: i64 = 1;
const OP_PCALL: i64 = 2;
const OP_SETRESP: i64 = 3;
const OP_SET_REPL: i64 = 4;
const OP_ACL: i64 = 5;
const OP_LOG: i64 = 6;
const OP_REGISTER: i64 = 7;

/// A function `redis.register_function` declared while a library loads.
#[derive(Clone, Debug)]
pub(crate) struct Registered {
    pub name: String,
    pub description: Option<String>,
    pub callback: Function,
    pub flags: ScriptFlags,
}

/// What one run of a script (or a library load) may do and has chosen.
pub(crate) struct RunCtx<'h> {
    pub host: &'h mut dyn Host,
    /// The protocol the script speaks (`redis.setresp`); RESP2 to start.
    pub resp3: bool,
    /// Writes are refused (`*_RO`, or the `no-writes` flag).
    pub read_only: bool,
    /// `Some` while a FUNCTION LOAD body runs: what it registered.
    pub registering: Option<Vec<Registered>>,
}

type Answer = (bool, Value);

/// Entry point for `ctx.dispatch(op, ...)`.
pub(crate) fn dispatch(
    lua: &Lua,
    ctx: &mut RunCtx<'_>,
    mut args: MultiValue,
) -> mlua::Result<Answer> {
    let op = match args.pop_front() {
        Some(Value::Integer(i)) => i,
        Some(Value::Number(n)) => n as i64,
        _ => 0,
    };
    let args: Vec<Value> = args.into_iter().collect();
    let fail =
        |text: &str| -> mlua::Result<Answer> { Ok((false, Value::Table(error_table(lua, text)?))) };
    match op {
        OP_CALL | OP_PCALL => command(lua, ctx, args, op == OP_CALL),
        OP_SETRESP => {
            if args.len() != 1 {
                return fail("redis.setresp() requires one argument.");
            }
            match to_number(&args[0]) as i64 {
                2 => ctx.resp3 = false,
                3 => ctx.resp3 = true,
                _ => return fail("RESP version must be 2 or 3."),
            }
            Ok((true, Value::Nil))
        }
        OP_SET_REPL => {
            if args.len() != 1 {
                return fail("redis.set_repl() requires two arguments.");
            }
            // Petrel replicates a script's effects as one mutation, always.
            if (to_number(&args[0]) as i64) & !3 != 0 {
                return fail(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            Ok((true, Value::Nil))
        }
        OP_ACL => {
            let argv = match to_argv(&args) {
                Ok(argv) => argv,
                Err(text) => return fail(text),
            };
            if resolve(&argv).is_none() {
                return fail("Invalid command passed to redis.acl_check_cmd()");
            }
            Ok((true, Value::Boolean(ctx.host.acl_check(&argv).is_ok())))
        }
        OP_LOG => log(lua, ctx, &args),
        OP_REGISTER => register(lua, ctx, args),
        _ => fail("unknown operation"),
    }
}

/// `redis.call` / `redis.pcall`.
fn command(lua: &Lua, ctx: &mut RunCtx<'_>, args: Vec<Value>, raise: bool) -> mlua::Result<Answer> {
    let refused = |text: &str| -> mlua::Result<Answer> {
        Ok((!raise, Value::Table(error_table(lua, text)?)))
    };
    let argv = match to_argv(&args) {
        Ok(argv) => argv,
        Err(text) => return refused(text),
    };
    let Some(cmd) = resolve(&argv) else {
        return refused("Unknown Redis command called from script");
    };
    if !cmd.arity_ok(argv.len()) {
        return refused("Wrong number of args calling Redis command from script");
    }
    if cmd.has(CommandFlags::NOSCRIPT) {
        return refused("This Redis command is not allowed from script");
    }
    if let Err(why) = ctx.host.acl_check(&argv) {
        return refused(&format!("The user executing the script {why}"));
    }
    if ctx.read_only && (cmd.is_write() || cmd.may_replicate()) {
        return refused("Write commands are not allowed from read-only scripts.");
    }
    // XREAD and XREADGROUP refuse BLOCK here (BLPOP and the like just do
    // not wait, as in MULTI).
    let reply = if cmd.timeout_arg() == Some(TimeoutArg::BlockOption) && cmd.blocks(&argv) {
        petrel_common::reply::Reply::error(format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            String::from_utf8_lossy(c_arg(&argv[0]))
        ))
    } else {
        ctx.host.call(argv)
    };
    let failed = reply.is_error();
    let value = reply_to_lua(lua, reply, ctx.resp3)?;
    Ok((!(raise && failed), value))
}

/// The command `argv` names, as Redis's `lookupCommand` finds it: an unknown
/// subcommand or one of Petrel's internal commands is no command.
fn resolve(argv: &[Bytes]) -> Option<&'static petrel_common::command::Command> {
    match table().resolve(argv) {
        Resolved::Command(c) if !c.is_internal() => Some(c),
        _ => None,
    }
}

/// Lua arguments as a command's arguments: strings as they are, numbers as
/// `%.17g`; anything else is refused.
fn to_argv(args: &[Value]) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|a| match a {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => Ok(Bytes::from(i.to_string())),
            Value::Number(n) => Ok(Bytes::from(format_g17(*n))),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// `lua_tonumber`: numbers and numeric strings, else 0.
fn to_number(v: &Value) -> f64 {
    match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

fn is_number(v: &Value) -> bool {
    match v {
        Value::Integer(_) | Value::Number(_) => true,
        Value::String(s) => s
            .to_str()
            .ok()
            .is_some_and(|s| s.trim().parse::<f64>().is_ok()),
        _ => false,
    }
}

/// `redis.log(level, ...)`.
fn log(lua: &Lua, ctx: &mut RunCtx<'_>, args: &[Value]) -> mlua::Result<Answer> {
    let fail =
        |text: &str| -> mlua::Result<Answer> { Ok((false, Value::Table(error_table(lua, text)?))) };
    if args.len() < 2 {
        return fail("redis.log() requires two arguments or more.");
    }
    if !is_number(&args[0]) {
        return fail("First argument must be a number (log level).");
    }
    let level = match to_number(&args[0]) as i64 {
        0 => LogLevel::Debug,
        1 => LogLevel::Verbose,
        2 => LogLevel::Notice,
        3 => LogLevel::Warning,
        _ => return fail("Invalid debug level."),
    };
    let mut message = Vec::new();
    for (j, a) in args.iter().enumerate().skip(1) {
        if let Ok(Some(s)) = lua.coerce_string(a.clone()) {
            if j != 1 {
                message.push(b' ');
            }
            message.extend_from_slice(&s.as_bytes());
        }
    }
    ctx.host.log(level, &message);
    Ok((true, Value::Nil))
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=, callback=, flags=, description=}`.
fn register(lua: &Lua, ctx: &mut RunCtx<'_>, args: Vec<Value>) -> mlua::Result<Answer> {
    let fail =
        |text: &str| -> mlua::Result<Answer> { Ok((false, Value::Table(error_table(lua, text)?))) };
    let Some(registered) = ctx.registering.as_mut() else {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    };
    let function = match read_register_args(lua, args) {
        Ok(f) => f,
        Err(text) => return fail(text),
    };
    if !valid_name(&function.name) {
        return fail(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        );
    }
    if registered.iter().any(|f| f.name == function.name) {
        return fail("Function already exists in the library");
    }
    registered.push(function);
    Ok((true, Value::Nil))
}

fn read_register_args(lua: &Lua, args: Vec<Value>) -> Result<Registered, &'static str> {
    let text = |v: &Value| -> Option<String> {
        lua.coerce_string(v.clone())
            .ok()
            .flatten()
            .filter(|_| matches!(v, Value::String(_) | Value::Integer(_) | Value::Number(_)))
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
    };
    match args.as_slice() {
        [name, callback] => {
            let name =
                text(name).ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(callback) = callback else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok(Registered {
                name,
                description: None,
                callback: callback.clone(),
                flags: ScriptFlags::default(),
            })
        }
        [named] => {
            let Value::Table(t) = named else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            read_named(t, text)
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

fn read_named(
    t: &Table,
    text: impl Fn(&Value) -> Option<String>,
) -> Result<Registered, &'static str> {
    let (mut name, mut description, mut callback, mut flags) =
        (None, None, None, ScriptFlags::default());
    for pair in t.pairs::<Value, Value>() {
        let Ok((k, v)) = pair else { continue };
        let key = text(&k)
            .ok_or("named argument key given to redis.register_function is not a string")?;
        match key.to_ascii_lowercase().as_str() {
            "function_name" => {
                name = Some(text(&v).ok_or(
                    "function_name argument given to redis.register_function must be a string",
                )?)
            }
            "description" => {
                description = Some(text(&v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?)
            }
            "callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            "flags" => {
                let Value::Table(list) = v else {
                    return Err("flags argument to redis.register_function must be a table representing function flags");
                };
                for i in 1.. {
                    let flag = match list.get::<Value>(i) {
                        Ok(Value::Nil) => break,
                        Ok(f) => text(&f).ok_or("unknown flag given")?,
                        Err(_) => return Err("unknown flag given"),
                    };
                    if !flags.set(flag.to_ascii_lowercase().as_bytes()) {
                        return Err("unknown flag given");
                    }
                }
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok(Registered {
        name,
        description,
        callback,
        flags,
    })
}
