//! Scripts (docs/SCRIPTING.md): this proxy's cache of scripts by SHA1, and
//! running one at the primary of the partition its keys are in.
//!
//! A script runs where its keys are, as one mutation (`petrel.eval`). Its
//! declared keys (`KEYS`) say where to start; a script that touches a key
//! it did not declare is stopped there by the server before anything is
//! written, and runs again with that key listed (so the transaction fast
//! path checks it for locks), up to [`MAX_ATTEMPTS`] times. A script whose
//! keys turn out to span partitions runs at this proxy instead, as one
//! transaction across them (`crate::txn::script`, [`session`]); its SHA1
//! is remembered, so its next calls go that way at once.
//!
//! Either way, what the script published comes back with its reply once
//! its writes have committed, and is sent to the channels' brokers, in
//! order, before the client is answered (`crate::pubsub::publish`).

pub(crate) mod session;

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use bytes::Bytes;
use petrel_common::command::table;
use petrel_common::reply::errors::UNLISTED_KEY;
use petrel_common::reply::Reply;
use petrel_common::sync::lock;
use petrel_script::{EngineConfig, Scripts};

use crate::program::Program;
use crate::pubsub::publish::{release, Outgoing};
use crate::route::router::{Router, Target};
use crate::txn::script::Ended;

/// Runs of one script before it is refused for touching ever more keys it
/// did not declare.
pub(crate) const MAX_ATTEMPTS: usize = 64;

/// Scripts (by SHA1) seen touching keys of several partitions, at most
/// [`ACROSS_REMEMBERED`] (forgotten all at once past it).
static ACROSS: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);
const ACROSS_REMEMBERED: usize = 10_000;

/// Scripts this proxy knows, compiled once to check them (`SCRIPT LOAD`,
/// `EVAL`) and kept by SHA1 for `EVALSHA`.
pub(crate) struct ScriptCache {
    /// `None` when Lua could not be set up (then every script is refused).
    engine: Mutex<Option<Scripts>>,
}

impl Default for ScriptCache {
    fn default() -> Self {
        let engine = Scripts::new(EngineConfig::default())
            .map_err(|e| tracing::error!(error = %e, "no Lua engine: scripts are refused"))
            .ok();
        ScriptCache {
            engine: Mutex::new(engine),
        }
    }
}

impl ScriptCache {
    fn with<T>(&self, f: impl FnOnce(&mut Scripts) -> T) -> Option<T> {
        lock(&self.engine).as_mut().map(f)
    }

    /// Compiles and keeps `body`: its SHA1, or the compile error reply.
    pub(crate) fn load(&self, body: &[u8]) -> Result<String, Reply> {
        self.with(|s| s.load(body))
            .unwrap_or_else(|| Err(Reply::error("ERR the Lua engine did not start")))
    }

    /// The body of the script named `sha` (any case).
    pub(crate) fn body(&self, sha: &[u8]) -> Option<Bytes> {
        let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        self.with(|s| s.body(&sha)).flatten()
    }

    /// Whether the script named `sha` is known.
    pub(crate) fn exists(&self, sha: &[u8]) -> bool {
        self.body(sha).is_some()
    }

    /// Forgets every script.
    pub(crate) fn flush(&self) {
        if let Some(Err(e)) = self.with(|s| s.flush()) {
            tracing::warn!(error = %e, "SCRIPT FLUSH could not reset the Lua state");
        }
    }
}

/// A script call, ready to run.
pub(crate) struct ScriptCall {
    /// The script's SHA1 (lowercase hex), or `function:<name>`.
    pub(crate) sha: String,
    /// A script's body or a library's function.
    pub(crate) program: Program,
    pub(crate) keys: Vec<Bytes>,
    pub(crate) argv: Vec<Bytes>,
    /// `EVAL_RO` / `EVALSHA_RO` / `FCALL_RO`.
    pub(crate) read_only: bool,
    /// The calling user's rules when they limit anything: the script then
    /// runs here, where each `redis.call` is checked against them.
    pub(crate) acl: Option<crate::acl::User>,
}

/// Runs `call` at the primary of its keys' partition, by the router's
/// deadline, then sends what it published through `publisher` (database
/// 0's router: its partitions broker every channel).
pub(crate) async fn run(router: Arc<Router>, publisher: &Router, call: ScriptCall) -> Reply {
    let Ended { mut reply, held } = run_held(router, call).await;
    release(publisher, held, &mut reply).await;
    reply
}

/// [`run`] up to the sending: the reply and what to send.
async fn run_held(router: Arc<Router>, call: ScriptCall) -> Ended {
    let deadline = Instant::now() + router.timeout();
    if call.acl.is_some() || lock(&ACROSS).contains(&call.sha) {
        return across(&router, call, deadline).await;
    }
    let declared = call.keys.len();
    let mut listed = call.keys.clone();
    for _ in 0..MAX_ATTEMPTS {
        let map = match router.maps().wait_for_map(deadline).await {
            Ok(m) => m,
            Err(e) => return Ended::reply(e.into_reply()),
        };
        let home = listed.first().map(|k| map.partition_of_key(k));
        if listed.iter().any(|k| Some(map.partition_of_key(k)) != home) {
            remember_across(&call.sha);
            return across(&router, call, deadline).await;
        }
        let mut args = Vec::with_capacity(7 + listed.len() + call.argv.len());
        args.extend([
            Bytes::from_static(call.program.command_name()),
            Bytes::from(map.partition_count.to_string()),
            Bytes::from(declared.to_string()),
            Bytes::from_static(if call.read_only { b"ro" } else { b"rw" }),
        ]);
        args.extend(call.program.words());
        args.push(Bytes::from(listed.len().to_string()));
        args.extend(listed.iter().cloned());
        args.extend(call.argv.iter().cloned());
        let target = listed.first().cloned().unwrap_or_default();
        let eval = table().internal(call.program.internal());
        match router
            .call_script(Target::Key(target), eval, args, deadline)
            .await
        {
            Ok((Reply::Error(e), _)) if e.starts_with(UNLISTED_KEY) => match unlisted_key(&e) {
                Some(key) if !listed.contains(&key) => listed.push(key),
                _ => {
                    return Ended::reply(Reply::error(
                        "ERR unexpected reply to a script from a partition",
                    ))
                }
            },
            Ok((reply, published)) => {
                return Ended {
                    reply,
                    held: published.into_iter().map(Outgoing::of_script).collect(),
                }
            }
            Err(e) => return Ended::reply(e.into_reply()),
        }
    }
    Ended::reply(Reply::error(format!(
        "ERR the script touched more than {MAX_ATTEMPTS} keys it did not declare in KEYS; declare them"
    )))
}

/// Remembers that the script `sha` touches keys of several partitions.
fn remember_across(sha: &str) {
    let mut seen = lock(&ACROSS);
    if seen.len() >= ACROSS_REMEMBERED {
        seen.clear();
    }
    seen.insert(sha.to_string());
}

/// Runs `call` at this proxy as one transaction over its partitions.
async fn across(router: &Arc<Router>, call: ScriptCall, deadline: Instant) -> Ended {
    let script = session::Script {
        program: call.program,
        keys: call.keys,
        argv: call.argv,
        read_only: call.read_only,
        acl: call.acl,
    };
    crate::txn::run_script(
        router,
        |map| session::starter(script, map.partition_count),
        deadline,
    )
    .await
}

/// Runs a `MULTI` block that holds a script or function at this proxy,
/// as one transaction: the `watched` keys checked first, then `items` in
/// order; EXEC's reply (the null array when a watched key changed). Once
/// the block committed, what it published (its queued `PUBLISH`es, its
/// scripts' messages) is sent through `publisher`, in order, each queued
/// `PUBLISH`'s count put in its place in the reply.
pub(crate) async fn run_block(
    router: &Arc<Router>,
    publisher: &Router,
    watched: Vec<(Bytes, i64)>,
    items: Vec<session::BlockItem>,
    acl: Option<crate::acl::User>,
) -> Reply {
    let deadline = Instant::now() + router.timeout();
    let Ended { mut reply, held } = crate::txn::run_script(
        router,
        |map| session::block_starter(watched, items, acl, map.partition_count),
        deadline,
    )
    .await;
    release(publisher, held, &mut reply).await;
    reply
}

/// The key of an [`UNLISTED_KEY`] error (`PETRELKEY <hex>`).
fn unlisted_key(error: &str) -> Option<Bytes> {
    let hex = error.strip_prefix(UNLISTED_KEY)?.trim();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_keys_decode_from_hex() {
        assert_eq!(
            unlisted_key("PETRELKEY 6f74686572"),
            Some(Bytes::from_static(b"other"))
        );
        assert_eq!(unlisted_key("PETRELKEY "), Some(Bytes::new()));
        assert_eq!(unlisted_key("PETRELKEY 6f7"), None);
        assert_eq!(unlisted_key("PETRELKEY zz"), None);
        assert_eq!(unlisted_key("ERR other"), None);
    }

    #[test]
    fn the_cache_knows_scripts_by_sha_in_any_case() {
        let cache = ScriptCache::default();
        let sha = cache.load(b"return 1").expect("compiles");
        assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert!(cache.exists(sha.to_uppercase().as_bytes()));
        assert_eq!(
            cache.body(sha.as_bytes()),
            Some(Bytes::from_static(b"return 1"))
        );
        assert!(cache.load(b"return (").is_err());
        cache.flush();
        assert!(!cache.exists(sha.as_bytes()));
    }
}
