//! `CONFIG GET/SET/RESETSTAT/HELP` for the parameters clients and tools read.
//!
//! Parameters that mean something to the proxy (maxclients, timeout,
//! proto-max-bulk-len, requirepass) take effect at once; the persistence and
//! memory ones are accepted and echoed back so tools work, but Petrel's
//! durability does not depend on them (every write is replicated and logged).

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::client::help_reply;
use crate::config::MIN_PROTO_MAX_BULK_LEN;
use crate::dispatch::{Action, Ctx};
use crate::state::{Runtime, Shared};
use crate::util::{c_str, glob_match, parse_i64, parse_memory};

/// Reads a parameter's current value.
type Getter = fn(&Shared, &Runtime) -> String;
/// Validates and applies a new value; `Err` is the reason shown to the client.
type Setter = fn(&mut Runtime, &str) -> Result<(), String>;

/// One CONFIG parameter.
struct Param {
    name: &'static str,
    get: Getter,
    /// `None` for immutable parameters.
    set: Option<Setter>,
}

fn int_range(v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let n = parse_i64(v.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
    if n < lo || n > hi {
        return Err(format!("argument must be between {lo} and {hi} inclusive"));
    }
    Ok(n)
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn memory(v: &str) -> Result<u64, String> {
    parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())
}

fn yn(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

static PARAMS: &[Param] = &[
    Param {
        name: "maxclients",
        get: |_, r| r.maxclients.to_string(),
        set: Some(|r, v| {
            r.maxclients = int_range(v, 1, u32::MAX.into())? as u64;
            Ok(())
        }),
    },
    Param {
        name: "timeout",
        get: |_, r| r.timeout.to_string(),
        set: Some(|r, v| {
            r.timeout = int_range(v, 0, i32::MAX.into())? as u64;
            Ok(())
        }),
    },
    Param {
        name: "databases",
        get: |_, _| "1".into(),
        set: None,
    },
    Param {
        name: "proto-max-bulk-len",
        get: |_, r| r.proto_max_bulk_len.to_string(),
        set: Some(|r, v| {
            let n = memory(v)?;
            if n < MIN_PROTO_MAX_BULK_LEN || n > i64::MAX as u64 {
                return Err(format!(
                    "argument must be between {MIN_PROTO_MAX_BULK_LEN} and {} inclusive",
                    i64::MAX
                ));
            }
            r.proto_max_bulk_len = n;
            Ok(())
        }),
    },
    Param {
        name: "requirepass",
        get: |_, r| r.requirepass.clone(),
        set: Some(|r, v| {
            r.requirepass = v.to_string();
            Ok(())
        }),
    },
    Param {
        name: "save",
        get: |_, r| r.save.clone(),
        set: Some(|r, v| {
            let parts: Vec<&str> = v.split_whitespace().collect();
            let valid =
                parts.len().is_multiple_of(2) && parts.iter().all(|p| p.parse::<u64>().is_ok());
            if !valid {
                return Err("Invalid save parameters".into());
            }
            r.save = parts.join(" ");
            Ok(())
        }),
    },
    Param {
        name: "appendonly",
        get: |_, r| yn(r.appendonly),
        set: Some(|r, v| {
            r.appendonly = yes_no(v)?;
            Ok(())
        }),
    },
    Param {
        name: "appendfsync",
        get: |_, _| "always".into(),
        set: None,
    },
    Param {
        name: "maxmemory",
        get: |_, r| r.maxmemory.to_string(),
        set: Some(|r, v| {
            r.maxmemory = memory(v)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |_, r| r.maxmemory_policy.clone(),
        set: Some(|r, v| {
            const POLICIES: [&str; 8] = [
                "volatile-lru",
                "volatile-lfu",
                "volatile-random",
                "volatile-ttl",
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "noeviction",
            ];
            let v = v.to_ascii_lowercase();
            if !POLICIES.contains(&v.as_str()) {
                return Err("argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                            volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
                    .into());
            }
            r.maxmemory_policy = v;
            Ok(())
        }),
    },
    Param {
        name: "port",
        get: |s, _| s.local_addr.port().to_string(),
        set: None,
    },
    Param {
        name: "bind",
        get: |s, _| s.local_addr.ip().to_string(),
        set: None,
    },
    Param {
        name: "cluster-enabled",
        get: |_, _| "no".into(),
        set: None,
    },
    Param {
        name: "client-output-buffer-limit",
        get: |s, _| {
            format!(
                "normal {} 0 0 slave 0 0 0 pubsub 0 0 0",
                s.config.client_output_buffer_limit
            )
        },
        set: None,
    },
];

fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// `CONFIG GET pattern [pattern ...]`: a map (flat array in RESP2).
pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let rt = ctx.shared.runtime.load();
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for pattern in &args[2..] {
        for p in PARAMS {
            if !seen.contains(&p.name) && glob_match(pattern, p.name.as_bytes(), true) {
                seen.push(p.name);
                out.push((Reply::bulk(p.name), Reply::bulk((p.get)(ctx.shared, &rt))));
            }
        }
    }
    Action::Reply(Reply::Map(out))
}

/// `CONFIG SET parameter value [parameter value ...]`: all or nothing.
pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if !args.len().is_multiple_of(2) {
        return Action::Reply(Reply::Error(petrel_common::reply::errors::wrong_arity(
            ctx.name,
        )));
    }
    let fail = |name: &str, why: &str| {
        Action::Reply(Reply::error(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
        )))
    };
    let mut next: Runtime = (**ctx.shared.runtime.load()).clone();
    let mut seen: Vec<&'static str> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = c_str(&pair[0]);
        let Some(param) = find(&name) else {
            return Action::Reply(Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if seen.contains(&param.name) {
            return fail(&name, "duplicate parameter");
        }
        seen.push(param.name);
        let Some(setter) = param.set else {
            return fail(&name, "can't set immutable config");
        };
        let value = String::from_utf8_lossy(&pair[1]);
        if let Err(why) = setter(&mut next, &value) {
            return fail(&name, &why);
        }
    }
    ctx.shared.runtime.store(std::sync::Arc::new(next));
    Action::Reply(Reply::ok())
}

/// `CONFIG RESETSTAT`: zeroes the INFO counters.
pub fn resetstat(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    ctx.shared.stats.reset();
    Action::Reply(Reply::ok())
}

/// `CONFIG HELP`.
pub fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    )
}
