//! What both engines share: limits, the checks before a run, one run of
//! Lua with the host bound to `redis.call`, and turning its outcome into a
//! reply.

use std::time::Duration;

use bytes::Bytes;
use mlua::{Function as LuaFunction, MultiValue, Table, Value};
use petrel_common::reply::Reply;

use crate::call::{dispatch, Registered, RunCtx};
use crate::convert::lua_to_reply;
use crate::flags::ScriptFlags;
use crate::host::Host;
use crate::monitor::{Kind, Monitor};
use crate::sandbox::{self, Sandbox};

/// Limits an engine keeps.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Bytes the Lua state may allocate; `None` for no limit.
    pub memory_limit: Option<usize>,
    /// Compiled scripts kept; past it the least recently used are dropped
    /// (a client then gets `NOSCRIPT` and sends the script again).
    pub script_cache: usize,
    /// How long a FUNCTION LOAD body may run (Redis: 500 ms).
    pub load_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_limit: Some(256 << 20),
            script_cache: 100_000,
            load_timeout: Duration::from_millis(500),
        }
    }
}

/// How a script is called.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// `EVAL_RO`, `EVALSHA_RO`, `FCALL_RO`: writes are refused.
    pub read_only: bool,
    /// The server is a cluster (scripts flagged `no-cluster` are refused).
    pub cluster: bool,
    /// Past it the script stops with [`crate::monitor::PAST_BUDGET`] (a
    /// host that runs short scripts where a long one would be in the way
    /// runs it again elsewhere); `None`: no limit but `SCRIPT KILL`.
    pub budget: Option<Duration>,
}

/// Redis's checks before running a script with `flags` (scriptPrepareForRun);
/// the error text when it may not run, and whether it runs read-only.
pub(super) fn prepare(flags: ScriptFlags, opts: RunOptions) -> Result<bool, Reply> {
    if flags.eval_compat {
        return Ok(opts.read_only);
    }
    if flags.no_cluster && opts.cluster {
        return Err(Reply::error(
            "ERR Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    if !flags.no_writes && opts.read_only {
        return Err(Reply::error(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(opts.read_only || flags.no_writes)
}

/// What running some Lua gave: its first value or its error value, and the
/// protocol the script ended with.
pub(super) struct Outcome {
    pub(super) ok: bool,
    pub(super) value: Value,
    resp3: bool,
    pub(super) registered: Option<Vec<Registered>>,
}

/// How one run goes.
pub(super) struct How {
    /// Writes are refused.
    pub(super) read_only: bool,
    /// A FUNCTION LOAD body: `redis.register_function` collects functions.
    pub(super) registering: bool,
    pub(super) kind: Kind,
    /// Past it the run stops (FUNCTION LOAD's timeout).
    pub(super) budget: Option<Duration>,
}

/// One sandboxed state and its monitor.
pub(super) struct State {
    pub(super) sandbox: Sandbox,
    pub(super) monitor: Monitor,
}

impl State {
    pub(super) fn open(
        functions: bool,
        config: &EngineConfig,
        monitor: Monitor,
    ) -> mlua::Result<State> {
        let sandbox = sandbox::open(functions, &monitor, config.memory_limit)?;
        Ok(State { sandbox, monitor })
    }

    /// Runs `runner(args)` with `ctx.dispatch` bound to `host` for the run.
    pub(super) fn run(
        &self,
        host: &mut dyn Host,
        how: How,
        runner: &LuaFunction,
        args: MultiValue,
    ) -> mlua::Result<Outcome> {
        let How {
            read_only,
            registering,
            kind,
            budget,
        } = how;
        let lua = &self.sandbox.lua;
        let ctx_table = &self.sandbox.ctx;
        let mut ctx = RunCtx {
            host,
            resp3: false,
            read_only,
            registering: registering.then(Vec::new),
        };
        let at_deadline = if registering {
            crate::monitor::Stop::LoadTimeout
        } else {
            crate::monitor::Stop::PastBudget
        };
        self.monitor.start(kind, budget, at_deadline);
        let result = lua.scope(|scope| {
            let f =
                scope.create_function_mut(|lua, args: MultiValue| dispatch(lua, &mut ctx, args))?;
            ctx_table.raw_set("dispatch", f)?;
            let out = runner.call::<MultiValue>(args);
            ctx_table.raw_set("dispatch", Value::Nil)?;
            out
        });
        self.monitor.finish();
        let mut values = result?.into_iter();
        let ok = matches!(values.next(), Some(Value::Boolean(true)));
        Ok(Outcome {
            ok,
            value: values.next().unwrap_or(Value::Nil),
            resp3: ctx.resp3,
            registered: ctx.registering,
        })
    }

    /// A Lua table of `items` as strings (KEYS, ARGV).
    pub(super) fn strings(&self, items: &[Bytes]) -> mlua::Result<Table> {
        let lua = &self.sandbox.lua;
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(t)
    }
}

/// A finished run as its reply: the value converted, or the error with
/// where it happened (` script: <name>, on @user_script:1.`).
pub(super) fn reply_of(lua: &mlua::Lua, outcome: Outcome, name: &str) -> Reply {
    if outcome.ok {
        return lua_to_reply(lua, &outcome.value, outcome.resp3);
    }
    Reply::Error(error_text(&outcome.value, Some(name)))
}

/// The text of a script's error value (Redis's luaExtractErrorInformation);
/// with `script`, followed by where it happened.
pub(super) fn error_text(value: &Value, script: Option<&str>) -> String {
    match value {
        Value::Table(t) => {
            let field = |k: &str| -> Option<String> {
                match t.get::<Value>(k).ok()? {
                    Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
                    Value::Integer(i) => Some(i.to_string()),
                    Value::Number(n) => Some(lua_number_text(n)),
                    _ => None,
                }
            };
            // A table without `err` (`error({})`) crashes redis-server 7.0.15.
            let mut text = field("err").unwrap_or_else(|| "ERR unknown error".to_string());
            if let (Some(name), Some(source), Some(line)) = (script, field("source"), field("line"))
            {
                text.push_str(&format!(" script: {name}, on {source}:{line}."));
            }
            one_line(&text)
        }
        other => {
            let msg = match other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".to_string(),
            };
            let msg: String = msg.chars().take(100).collect();
            let name = script.unwrap_or_default();
            one_line(&format!("ERR Error running script {name}, {msg}"))
        }
    }
}

/// An error as one protocol line.
fn one_line(text: &str) -> String {
    text.trim_end_matches(['\r', '\n'])
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Lua's `%.14g` for a number shown in a message.
fn lua_number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e14 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A failure of the Lua machinery itself (not of a script), as a reply.
pub(super) fn internal(e: mlua::Error) -> Reply {
    Reply::Error(one_line(&format!("ERR {e}")))
}

/// The message of a compile error, as Lua prints it.
pub(super) fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(_) => "not enough memory".to_string(),
        other => other.to_string(),
    }
}
