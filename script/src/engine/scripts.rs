//! EVAL-style scripts: compiled once, cached by SHA1, run with KEYS and ARGV.

use std::collections::HashMap;

use bytes::Bytes;
use mlua::{chunk::ChunkMode, Function as LuaFunction, MultiValue, Value};
use petrel_common::reply::Reply;

use super::run::{
    compile_message, internal, prepare, reply_of, EngineConfig, How, RunOptions, State,
};
use crate::flags::{parse_script, ScriptFlags};
use crate::host::Host;
use crate::monitor::{Kind, Monitor};

/// `NOSCRIPT`, Redis's text.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

struct Script {
    function: LuaFunction,
    flags: ScriptFlags,
    body: Bytes,
    last_used: u64,
}

/// The EVAL engine: one Lua state and its script cache.
pub struct Scripts {
    state: State,
    config: EngineConfig,
    cache: HashMap<String, Script>,
    clock: u64,
}

impl Scripts {
    /// A fresh engine; fails only if Lua cannot be set up.
    pub fn new(config: EngineConfig) -> mlua::Result<Scripts> {
        Scripts::with_monitor(config, Monitor::default())
    }

    /// A fresh engine reporting to `monitor`, which a [`crate::Functions`]
    /// run by the same thread may share, so that `SCRIPT KILL` during a
    /// function gets Redis's answer.
    pub fn with_monitor(config: EngineConfig, monitor: Monitor) -> mlua::Result<Scripts> {
        Ok(Scripts {
            state: State::open(false, &config, monitor)?,
            config,
            cache: HashMap::new(),
            clock: 0,
        })
    }

    /// The running script's monitor (BUSY, SCRIPT KILL).
    pub fn monitor(&self) -> Monitor {
        self.state.monitor.clone()
    }

    /// `SCRIPT LOAD`: compiles and caches `body`; its SHA1, or the error reply.
    pub fn load(&mut self, body: &[u8]) -> Result<String, Reply> {
        let sha = crate::digest::sha1hex(body);
        self.clock += 1;
        if let Some(s) = self.cache.get_mut(&sha) {
            s.last_used = self.clock;
            return Ok(sha);
        }
        let shebang = parse_script(body).map_err(Reply::Error)?;
        let code = &body[shebang.len..];
        let function = if code.first() == Some(&0x1b) {
            // Redis's parser reads bytecode as text and fails so.
            Err("user_script:1: unexpected symbol near 'char(27)'".to_string())
        } else {
            self.state
                .sandbox
                .lua
                .load(code)
                .set_name("@user_script")
                .set_mode(ChunkMode::Text)
                .set_environment(self.state.sandbox.globals.clone())
                .into_function()
                .map_err(|e| compile_message(&e))
        }
        .map_err(|m| Reply::Error(format!("ERR Error compiling script (new function): {m}")))?;
        self.make_room();
        self.cache.insert(
            sha.clone(),
            Script {
                function,
                flags: shebang.flags,
                body: Bytes::copy_from_slice(body),
                last_used: self.clock,
            },
        );
        Ok(sha)
    }

    /// Drops the least recently used tenth of the cache when it is full.
    fn make_room(&mut self) {
        let limit = self.config.script_cache.max(1);
        if self.cache.len() < limit {
            return;
        }
        let mut ages: Vec<u64> = self.cache.values().map(|s| s.last_used).collect();
        ages.sort_unstable();
        let cut = ages[(limit / 10).min(ages.len() - 1)];
        self.cache.retain(|_, s| s.last_used > cut);
    }

    /// `SCRIPT EXISTS` for one SHA1 (any case).
    pub fn exists(&self, sha: &str) -> bool {
        self.cache.contains_key(&sha.to_ascii_lowercase())
    }

    /// A cached script's flags (to route it before running it).
    pub fn flags(&self, sha: &str) -> Option<ScriptFlags> {
        self.cache.get(&sha.to_ascii_lowercase()).map(|s| s.flags)
    }

    /// A cached script's body (to send it elsewhere).
    pub fn body(&self, sha: &str) -> Option<Bytes> {
        self.cache
            .get(&sha.to_ascii_lowercase())
            .map(|s| s.body.clone())
    }

    /// `SCRIPT FLUSH`: forgets every script and, as Redis does, starts a
    /// new Lua state (cjson settings, `math.random`'s state and memory go).
    pub fn flush(&mut self) -> mlua::Result<()> {
        self.cache.clear();
        self.state = State::open(false, &self.config, self.state.monitor.clone())?;
        Ok(())
    }

    /// How many scripts are cached.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no script is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// `EVAL body numkeys keys... args...` (the caller split keys from args).
    pub fn eval(
        &mut self,
        host: &mut dyn Host,
        body: &[u8],
        keys: &[Bytes],
        args: &[Bytes],
        opts: RunOptions,
    ) -> Reply {
        match self.load(body) {
            Ok(sha) => self.run(host, &sha, keys, args, opts),
            Err(e) => e,
        }
    }

    /// `EVALSHA sha numkeys keys... args...`.
    pub fn evalsha(
        &mut self,
        host: &mut dyn Host,
        sha: &str,
        keys: &[Bytes],
        args: &[Bytes],
        opts: RunOptions,
    ) -> Reply {
        let sha = sha.to_ascii_lowercase();
        if !self.cache.contains_key(&sha) {
            return Reply::error(NOSCRIPT);
        }
        self.run(host, &sha, keys, args, opts)
    }

    fn run(
        &mut self,
        host: &mut dyn Host,
        sha: &str,
        keys: &[Bytes],
        args: &[Bytes],
        opts: RunOptions,
    ) -> Reply {
        self.clock += 1;
        let Some(script) = self.cache.get_mut(sha) else {
            return Reply::error(NOSCRIPT);
        };
        script.last_used = self.clock;
        let (function, flags) = (script.function.clone(), script.flags);
        let read_only = match prepare(flags, opts) {
            Ok(ro) => ro,
            Err(e) => return e,
        };
        let state = &self.state;
        let outcome = (|| {
            state
                .sandbox
                .set_eval_args
                .call::<()>((state.strings(keys)?, state.strings(args)?))?;
            let how = How {
                read_only,
                registering: false,
                kind: Kind::Eval,
                budget: opts.budget,
            };
            state.run(
                host,
                how,
                &state.sandbox.run_eval,
                MultiValue::from_iter([Value::Function(function)]),
            )
        })();
        match outcome {
            Ok(o) => reply_of(&self.state.sandbox.lua, o, sha),
            Err(e) => internal(e),
        }
    }
}
