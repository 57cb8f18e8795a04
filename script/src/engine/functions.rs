//! FUNCTION libraries: `FUNCTION LOAD` runs a library's body, which
//! registers functions with `redis.register_function`; `FCALL` calls them.

use std::collections::BTreeMap;

use bytes::Bytes;
use mlua::{chunk::ChunkMode, Function as LuaFunction, MultiValue, Value};
use petrel_common::reply::Reply;

use super::run::{
    compile_message, error_text, internal, prepare, reply_of, EngineConfig, How, RunOptions, State,
};
use crate::flags::{parse_library, ScriptFlags};
use crate::host::Host;
use crate::monitor::{Kind, Monitor};

/// One registered function.
#[derive(Clone, Debug)]
pub struct Function {
    /// Its name (unique across libraries).
    pub name: String,
    /// The `description` it was registered with.
    pub description: Option<String>,
    /// Its flags (`no-writes`, ...).
    pub flags: ScriptFlags,
    callback: LuaFunction,
}

/// A loaded library.
#[derive(Clone, Debug)]
pub struct Library {
    /// Its name (`#!lua name=<name>`).
    pub name: String,
    /// Its code as loaded (FUNCTION DUMP and LIST WITHCODE give it back).
    pub code: Bytes,
    /// Its functions, in registration order.
    pub functions: Vec<Function>,
}

/// The FUNCTION engine: one Lua state and the libraries loaded in it.
pub struct Functions {
    state: State,
    config: EngineConfig,
    libraries: BTreeMap<String, Library>,
}

impl Functions {
    /// A fresh engine; fails only if Lua cannot be set up.
    pub fn new(config: EngineConfig) -> mlua::Result<Functions> {
        Functions::with_monitor(config, Monitor::default())
    }

    /// A fresh engine reporting to `monitor` (see [`crate::Scripts::with_monitor`]).
    pub fn with_monitor(config: EngineConfig, monitor: Monitor) -> mlua::Result<Functions> {
        Ok(Functions {
            state: State::open(true, &config, monitor)?,
            config,
            libraries: BTreeMap::new(),
        })
    }

    /// The running function's monitor (BUSY, FUNCTION KILL).
    pub fn monitor(&self) -> Monitor {
        self.state.monitor.clone()
    }

    /// `FUNCTION LOAD [REPLACE] code`: the library's name, or the error reply.
    pub fn load(
        &mut self,
        host: &mut dyn Host,
        code: &[u8],
        replace: bool,
    ) -> Result<String, Reply> {
        let header = parse_library(code).map_err(Reply::Error)?;
        if self.libraries.contains_key(&header.name) && !replace {
            return Err(Reply::Error(format!(
                "ERR Library '{}' already exists",
                header.name
            )));
        }
        let sandbox = &self.state.sandbox;
        let body = sandbox
            .lua
            .load(&code[header.len..])
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(sandbox.globals.clone())
            .into_function()
            .map_err(|e| {
                Reply::Error(format!(
                    "ERR Error compiling function: {}",
                    compile_message(&e)
                ))
            })?;
        sandbox.set_loading.call::<()>(true).map_err(internal)?;
        let how = How {
            read_only: false,
            registering: true,
            kind: Kind::Function,
            budget: Some(self.config.load_timeout),
        };
        let outcome = self.state.run(
            host,
            how,
            &sandbox.run_library,
            MultiValue::from_iter([Value::Function(body)]),
        );
        sandbox.set_loading.call::<()>(false).map_err(internal)?;
        let outcome = outcome.map_err(internal)?;
        if !outcome.ok {
            let text = error_text(&outcome.value, None);
            return Err(Reply::Error(format!(
                "ERR Error registering functions: {text}"
            )));
        }
        let registered = outcome.registered.unwrap_or_default();
        if registered.is_empty() {
            return Err(Reply::error("ERR No functions registered"));
        }
        for f in &registered {
            let taken = self
                .libraries
                .values()
                .filter(|l| l.name != header.name)
                .any(|l| {
                    l.functions
                        .iter()
                        .any(|g| g.name.eq_ignore_ascii_case(&f.name))
                });
            if taken {
                return Err(Reply::Error(format!(
                    "ERR Function {} already exists",
                    f.name
                )));
            }
        }
        let library = Library {
            name: header.name.clone(),
            code: Bytes::copy_from_slice(code),
            functions: registered
                .into_iter()
                .map(|r| Function {
                    name: r.name,
                    description: r.description,
                    flags: r.flags,
                    callback: r.callback,
                })
                .collect(),
        };
        self.libraries.insert(header.name.clone(), library);
        Ok(header.name)
    }

    /// `FUNCTION DELETE name`.
    pub fn delete(&mut self, name: &str) -> Result<(), Reply> {
        match self.libraries.remove(name) {
            Some(_) => Ok(()),
            None => Err(Reply::error("ERR Library not found")),
        }
    }

    /// `FUNCTION FLUSH`.
    pub fn flush(&mut self) {
        self.libraries.clear();
        self.state.sandbox.lua.gc_collect().ok();
    }

    /// Every library, by name.
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// The function called `name` (in any case, as Redis finds them).
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.library_of(name)?
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The library of the function called `name` (in any case).
    pub fn library_of(&self, name: &str) -> Option<&Library> {
        self.libraries.values().find(|l| {
            l.functions
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(name))
        })
    }

    /// Makes sure the library whose code is `code` is loaded, as it is
    /// (hosts that are sent a library's code with each call). A library
    /// deleted or renamed elsewhere may still hold one of its function names
    /// here: then the engine starts over with this library alone.
    pub fn ensure(&mut self, code: &[u8]) -> Result<(), Reply> {
        if self.libraries().any(|l| l.code == code) {
            return Ok(());
        }
        if self.load(&mut crate::host::NoCalls, code, true).is_ok() {
            return Ok(());
        }
        self.flush();
        self.load(&mut crate::host::NoCalls, code, true).map(|_| ())
    }

    /// `FCALL name numkeys keys... args...` (the caller split keys from args).
    pub fn fcall(
        &mut self,
        host: &mut dyn Host,
        name: &str,
        keys: &[Bytes],
        args: &[Bytes],
        opts: RunOptions,
    ) -> Reply {
        let Some(f) = self.function(name) else {
            return Reply::error("ERR Function not found");
        };
        let (callback, flags) = (f.callback.clone(), f.flags);
        let read_only = match prepare(flags, opts) {
            Ok(ro) => ro,
            Err(e) => return e,
        };
        let state = &self.state;
        let outcome = (|| {
            let keys = state.strings(keys)?;
            let args = state.strings(args)?;
            let how = How {
                read_only,
                registering: false,
                kind: Kind::Function,
                budget: opts.budget,
            };
            state.run(
                host,
                how,
                &state.sandbox.run_function,
                MultiValue::from_iter([
                    Value::Function(callback),
                    Value::Table(keys),
                    Value::Table(args),
                ]),
            )
        })();
        match outcome {
            Ok(o) => reply_of(&self.state.sandbox.lua, o, name),
            Err(e) => internal(e),
        }
    }
}
