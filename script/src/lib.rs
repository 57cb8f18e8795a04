//! Lua scripting with Redis 7's semantics, independent of where a script runs.
//!
//! The server runs a script whose keys are in one partition at that primary;
//! the proxy runs one that touches several partitions under the cross-partition
//! transaction. Both drive the same engines and answer its `redis.call`s
//! through their own [`Host`].
//!
//! ```ignore
//! let mut scripts = Scripts::new(EngineConfig::default())?;
//! let reply = scripts.eval(&mut host, b"return redis.call('GET', KEYS[1])", &keys, &args, RunOptions::default());
//! ```
//!
//! - [`engine`]: [`Scripts`] (EVAL-style scripts, compiled once and cached
//!   by SHA1) and [`Functions`] (FUNCTION libraries), each a Lua state with
//!   Redis's sandbox.
//! - [`host`]: the trait through which `redis.call` reaches the data.
//! - [`monitor`]: the running script's clock and kill switch (BUSY, SCRIPT KILL).
//! - [`per_thread`]: one engine per thread, for hosts running scripts on a pool.
//! - [`flags`]: shebang lines (`#!lua flags=no-writes`, `#!lua name=lib`).
//! - [`payload`]: `FUNCTION DUMP` / `RESTORE` payloads in Redis's format.
//! - [`convert`]: Lua values to replies and replies to Lua values, RESP2 and RESP3.
//! - `sandbox`: the globals, read-only tables and `redis.*` (`sandbox.lua`).
//! - `call`: the checks Redis makes before a script's command reaches the host.
//! - [`libs`]: `cjson`, `cmsgpack`, `bit` and `struct`, as Redis bundles them.
//! - `rand`: Redis's platform-independent `math.random`.
//! - `digest`: SHA1 in hex, the name of a script.
//! - `cfunc`: the C closures that stand where Redis has C functions.

pub mod convert;
pub mod engine;
pub mod flags;
pub mod host;
pub mod libs;
pub mod monitor;
pub mod payload;
pub mod per_thread;

mod call;
mod cfunc;
mod digest;
mod rand;
mod sandbox;

pub use engine::{EngineConfig, Function, Functions, Library, RunOptions, Scripts};
pub use flags::ScriptFlags;
pub use host::{held_publish, keyless_reply, Held, Host, LogLevel, NoCalls, HELD_PUBLISH_REPLY};
pub use monitor::{past_budget, was_killed, KillError, Monitor, KILLED, PAST_BUDGET};
pub use per_thread::{with_thread_functions, with_thread_scripts};

pub use digest::sha1hex;

#[cfg(test)]
mod tests;
