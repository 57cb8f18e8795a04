//! Builds a Lua state with Redis's environment: the libraries it loads, the
//! read-only globals, `redis.*`, and the runners the engine calls.
//!
//! The Lua half lives in `sandbox.lua`; this half opens the standard
//! libraries, provides the native functions it needs and keeps handles on
//! what it returns.

use std::sync::Arc;

use mlua::{chunk::ChunkMode, Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use crate::cfunc;
use crate::libs;
use crate::monitor::Monitor;
use crate::rand::{Rand48, LRAND48_MAX};

const SANDBOX: &str = include_str!("sandbox.lua");

/// The Redis version scripts see (`redis.REDIS_VERSION`); Petrel speaks 7.0.
pub(crate) const REDIS_VERSION: &str = "7.0.15";
/// `redis.REDIS_VERSION_NUM`: 0x00MMmmpp.
pub(crate) const REDIS_VERSION_NUM: i64 = 0x07_00_0f;

/// Handles on a sandboxed state's pieces.
pub(crate) struct Sandbox {
    pub lua: Lua,
    /// What scripts see as their globals (the read-only proxy).
    pub globals: Table,
    /// The per-run table whose `dispatch` field the engine sets.
    pub ctx: Table,
    pub set_eval_args: Function,
    pub set_loading: Function,
    pub run_eval: Function,
    pub run_function: Function,
    pub run_library: Function,
}

/// Opens a state for EVAL scripts (`functions = false`) or for FUNCTION
/// libraries (Redis keeps them in separate states with slightly different
/// globals).
pub(crate) fn open(
    functions: bool,
    monitor: &Monitor,
    memory_limit: Option<usize>,
) -> mlua::Result<Sandbox> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::new(),
    )?;
    let next: Function = lua.globals().raw_get("next")?;
    lua.set_named_registry_value(crate::convert::NEXT, next)?;
    let native = natives(&lua, functions, monitor)?;
    let ctx = lua.create_table()?;
    let exports: Table = lua
        .load(SANDBOX)
        .set_name("=petrel_sandbox")
        .set_mode(ChunkMode::Text)
        .call((native, ctx.clone()))?;
    let globals: Table = exports.get("globals")?;
    // Chunks compiled from now on (and `getfenv(0)`) see the proxy.
    lua.set_globals(globals.clone())?;
    let watch = monitor.clone();
    lua.set_global_hook(
        mlua::HookTriggers::new().every_nth_instruction(100_000),
        move |_, _| match watch.check() {
            Some(stop) => Err(mlua::Error::runtime(stop.message())),
            None => Ok(mlua::VmState::Continue),
        },
    )?;
    if let Some(limit) = memory_limit {
        lua.set_memory_limit(limit)?;
    }
    Ok(Sandbox {
        globals,
        ctx,
        set_eval_args: exports.get("set_eval_args")?,
        set_loading: exports.get("set_loading")?,
        run_eval: exports.get("run_eval")?,
        run_function: exports.get("run_function")?,
        run_library: exports.get("run_library")?,
        lua,
    })
}

/// The functions `sandbox.lua` receives as `native`.
fn natives(lua: &Lua, functions: bool, monitor: &Monitor) -> mlua::Result<Table> {
    let native = lua.create_table()?;
    native.set("functions", functions)?;
    native.set("version", REDIS_VERSION)?;
    native.set("version_num", REDIS_VERSION_NUM)?;

    let watch = monitor.clone();
    native.set(
        "killed",
        lua.create_function(move |_, ()| Ok(watch.stopped().map(|s| s.message())))?,
    )?;
    native.set(
        "c",
        lua.create_function(|lua, inner: Function| cfunc::wrap(lua, inner))?,
    )?;
    native.set(
        "where",
        lua.create_function(|lua, level: usize| {
            Ok(lua
                .inspect_stack(level, |d| {
                    let s = d.source();
                    let line = d.current_line().map(|l| l as i64).unwrap_or(-1);
                    (s.what, s.source.map(|c| c.into_owned()), line)
                })
                .map(|(what, source, line)| (Some(what), source, Some(line)))
                .unwrap_or((None, None, None)))
        })?,
    )?;
    native.set(
        "sha1hex",
        lua.create_function(|lua, v: Value| {
            let body = lua.coerce_string(v).ok().flatten();
            let bytes = body.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
            Ok(crate::digest::sha1hex(&bytes))
        })?,
    )?;

    let rand = Arc::new(Rand48::default());
    let r = rand.clone();
    native.set(
        "random",
        cfunc::lib_function(lua, move |_, args| {
            let args: Vec<Value> = args.into_iter().collect();
            random(&r, &args)
        })?,
    )?;
    native.set(
        "randomseed",
        cfunc::lib_function(lua, move |_, args| {
            let args: Vec<Value> = args.into_iter().collect();
            rand.seed(check_int(&args, 0, "randomseed")?);
            Ok(MultiValue::new())
        })?,
    )?;
    native.set("cjson", libs::cjson::open(lua)?)?;
    native.set("cmsgpack", libs::cmsgpack::open(lua)?)?;
    native.set("bit", libs::bit::open(lua)?)?;
    native.set("struct", libs::structlib::open(lua)?)?;
    Ok(native)
}

/// `luaL_checkint` for argument `i` of `name` (1-based in messages).
pub(crate) fn check_int(args: &[Value], i: usize, name: &str) -> Result<i32, String> {
    let n = libs::check_number(args, i, name)?;
    Ok(n as i64 as i32)
}

/// Redis's `math.random`.
fn random(rand: &Rand48, args: &[Value]) -> Result<MultiValue, String> {
    let r = (rand.next() % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
    let empty = |i: usize| format!("bad argument #{i} to 'random' (interval is empty)");
    let v = match args.len() {
        0 => r,
        1 => {
            let u = check_int(args, 0, "random")?;
            if u < 1 {
                return Err(empty(1));
            }
            (r * f64::from(u)).floor() + 1.0
        }
        2 => {
            let l = check_int(args, 0, "random")?;
            let u = check_int(args, 1, "random")?;
            if l > u {
                return Err(empty(2));
            }
            (r * (f64::from(u) - f64::from(l) + 1.0)).floor() + f64::from(l)
        }
        _ => return Err("wrong number of arguments".to_string()),
    };
    Ok(MultiValue::from_iter([Value::Number(v)]))
}
