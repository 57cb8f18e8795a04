//! `CONFIG GET/SET/RESETSTAT/HELP` over every parameter Redis 7.0 has.
//!
//! Parameters that mean something to the proxy (maxclients, timeout,
//! proto-max-bulk-len, requirepass, slowlog-*) take effect at once
//! ([`PARAMS`]); the persistence and memory ones are accepted and echoed back
//! so tools work, but Petrel's durability does not depend on them (every
//! write is replicated and logged). Every other Redis parameter ([`crate::knobs`])
//! is validated like Redis does and its value remembered.

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::reply::Reply;

pub(crate) use crate::knobs::{Kind, Knob, KNOBS, LATER_KNOBS};

use super::help::help_reply;
use crate::action::{Action, Ctx};
use crate::config::MIN_PROTO_MAX_BULK_LEN;
use crate::settings::{self, Snapshot};
use crate::state::{Runtime, Shared};
use crate::util::{c_str, glob_match, parse_i64, parse_memory};
use petrel_common::msg::SettingsMsg;

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
        get: |s, _| s.config.databases.to_string(),
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
        name: "slowlog-log-slower-than",
        get: |_, r| r.slowlog_log_slower_than.to_string(),
        set: Some(|r, v| {
            r.slowlog_log_slower_than = int_range(v, -1, i64::MAX)?;
            Ok(())
        }),
    },
    Param {
        name: "slowlog-max-len",
        get: |_, r| r.slowlog_max_len.to_string(),
        set: Some(|r, v| {
            r.slowlog_max_len = int_range(v, 0, i64::MAX)? as u64;
            Ok(())
        }),
    },
    Param {
        name: "dir",
        get: |_, _| {
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        },
        set: None,
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
        get: |_, rt| rt.output_limits.render(),
        set: Some(|rt, v| rt.output_limits.set(v)),
    },
];

fn live_param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// The Redis parameter called `name` (any case), aliases included.
fn knob(name: &str) -> Option<&'static Knob> {
    KNOBS
        .iter()
        .chain(LATER_KNOBS)
        .find(|k| k.name.eq_ignore_ascii_case(name))
}

/// The name an alias stands for (`hash-max-ziplist-entries` →
/// `hash-max-listpack-entries`); other names are their own.
fn canonical(k: &Knob) -> &'static str {
    k.canonical.unwrap_or(k.name)
}

/// The value `CONFIG GET` shows for `k`.
fn value_of(shared: &Shared, rt: &Runtime, k: &Knob) -> String {
    let name = canonical(k);
    match live_param(name) {
        Some(p) => (p.get)(shared, rt),
        None => rt
            .knobs
            .get(name)
            .cloned()
            .unwrap_or_else(|| k.default.to_string()),
    }
}

/// Checks `v` against `kind` and returns the value to remember.
fn check(kind: Kind, v: &str) -> Result<String, String> {
    let bounded = |n: i64, min: i64, max: i64| {
        if n < min || n > max {
            Err(format!(
                "argument must be between {min} and {max} inclusive"
            ))
        } else {
            Ok(n.to_string())
        }
    };
    match kind {
        Kind::Bool => yes_no(v).map(yn),
        Kind::Int { min, max } => {
            let n = parse_i64(v.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
            bounded(n, min, max)
        }
        Kind::Memory { min, max } => {
            // Redis keeps the unsigned value in a long long: past i64::MAX
            // it turns negative and fails the bounds.
            let n = memory(v)? as i64;
            bounded(n, min, max)
        }
        Kind::Percent => {
            let bad = || "argument must be a memory or percent value".to_string();
            match v.strip_suffix('%') {
                Some(p) => match parse_i64(p.as_bytes()) {
                    Some(n) if n >= 0 => Ok(format!("{n}%")),
                    _ => Err(bad()),
                },
                None => parse_memory(v)
                    .filter(|n| i64::try_from(*n).is_ok())
                    .map(|n| n.to_string())
                    .ok_or_else(bad),
            }
        }
        Kind::Enum(options) => options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(v))
            .map(|o| o.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                )
            }),
        Kind::Str => Ok(v.to_string()),
        Kind::Immutable => Err("can't set immutable config".into()),
        Kind::Protected => Err("can't set protected config".into()),
    }
}

/// `CONFIG GET pattern [pattern ...]`: a map (flat array in RESP2).
///
/// As Redis, a name without glob characters is looked up directly and
/// answered under the name as the client typed it. Cluster settings
/// (`crate::settings`) are read from meta first.
pub(crate) fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let mut shown: Vec<(String, &'static Knob)> = Vec::new();
    let mut add = |name: String, k: &'static Knob| {
        if !shown.iter().any(|(s, _)| s.eq_ignore_ascii_case(&name)) {
            shown.push((name, k));
        }
    };
    for pattern in &args[2..] {
        if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            let name = String::from_utf8_lossy(pattern).into_owned();
            if let Some(k) = knob(&name) {
                add(name, k);
            }
            continue;
        }
        for k in KNOBS {
            if glob_match(pattern, k.name.as_bytes(), true) {
                add(k.name.to_string(), k);
            }
        }
    }
    let answer = move |shared: &Shared, cluster: Option<&Snapshot>| {
        let rt = shared.runtime.load();
        let out = shown
            .iter()
            .map(|(name, k)| {
                let value = match cluster {
                    Some(c) if settings::is_cluster(canonical(k)) => c.shown(canonical(k)),
                    _ => value_of(shared, &rt, k),
                };
                (Reply::bulk(name.clone()), Reply::bulk(value))
            })
            .collect();
        Reply::Map(out)
    };
    // Parameters are cluster-wide: what another proxy set shows here too.
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            let cluster = shared.settings.current().await;
            apply_cluster(&shared, cluster.message());
            answer(&shared, Some(&cluster))
        }
        .boxed(),
    )
}

/// Takes the values meta holds for this proxy's parameters (set through
/// any proxy with `CONFIG SET`) into its runtime; a value this build does
/// not accept is left out, with a warning.
pub(crate) fn apply_cluster(shared: &Shared, settings: &SettingsMsg) {
    let current = shared.runtime.load();
    let mut next: Runtime = (**current).clone();
    let mut changed = false;
    for setting in &settings.settings {
        let Some(k) = knob(&setting.name) else {
            continue;
        };
        let name = canonical(k);
        if settings::is_cluster(name) || value_of(shared, &next, k) == setting.value {
            continue;
        }
        let result = match live_param(name).and_then(|p| p.set) {
            Some(setter) => setter(&mut next, &setting.value),
            None => check(k.kind, &setting.value).map(|v| {
                next.knobs.insert(name, v);
            }),
        };
        match result {
            Ok(()) => changed = true,
            Err(why) => tracing::warn!(
                parameter = name,
                value = %setting.value,
                why = %why,
                "meta holds a CONFIG value this proxy does not accept; keeping its own"
            ),
        }
    }
    if changed {
        shared.runtime.store(std::sync::Arc::new(next));
    }
}

/// `CONFIG SET parameter value [parameter value ...]`: all or nothing.
///
/// Like Redis, every name is checked (unknown, immutable, protected,
/// duplicate) before any value. Every value goes to meta, which keeps it
/// for the whole cluster (the reply waits until every server applies the
/// servers' settings); this proxy applies them once meta took them, the
/// others within a second (`crate::cluster_sync`) or at their next
/// `CONFIG GET`.
pub(crate) fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if !args.len().is_multiple_of(2) {
        return Action::Reply(Reply::error(petrel_common::reply::errors::SYNTAX));
    }
    let mut pairs: Vec<(String, &'static Knob, String)> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = c_str(&pair[0]);
        let Some(k) = knob(&name) else {
            return Action::Reply(Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        let live = live_param(canonical(k));
        if matches!(k.kind, Kind::Protected) {
            return Action::Reply(set_failed(&name, "can't set protected config"));
        }
        if matches!(k.kind, Kind::Immutable) || live.is_some_and(|p| p.set.is_none()) {
            return Action::Reply(set_failed(&name, "can't set immutable config"));
        }
        // Like Redis, an alias and its name count as different parameters.
        if pairs.iter().any(|(_, seen, _)| seen.name == k.name) {
            return Action::Reply(set_failed(&name, "duplicate parameter"));
        }
        pairs.push((name, k, String::from_utf8_lossy(&pair[1]).into_owned()));
    }
    let mut next: Runtime = (**ctx.shared.runtime.load()).clone();
    let mut cluster = Vec::new();
    for (name, k, value) in &pairs {
        let canon = canonical(k);
        let result = if settings::is_cluster(canon) {
            settings::check(canon, value)
                .map_err(str::to_string)
                .map(|()| value.clone())
        } else {
            match live_param(canon).and_then(|p| p.set) {
                Some(setter) => setter(&mut next, value).map(|()| value.clone()),
                None => check(k.kind, value).inspect(|v| {
                    next.knobs.insert(canon, v.clone());
                }),
            }
        };
        let result = result.map(|stored| cluster.push((canon.to_string(), stored)));
        if let Err(why) = result {
            return Action::Reply(set_failed(name, &why));
        }
    }
    // Commands after it wait for it: they run under the new settings.
    ctx.touches = Some(crate::action::Touches::everything());
    let shared = ctx.shared.clone();
    let first = pairs
        .first()
        .map(|(name, _, _)| name.clone())
        .unwrap_or_default();
    Action::Later(
        async move {
            match shared.settings.set(cluster).await {
                Ok(()) => {
                    shared.runtime.store(std::sync::Arc::new(next));
                    Reply::ok()
                }
                Err(why) => set_failed(&first, &why),
            }
        }
        .boxed(),
    )
}

/// Redis's error for a refused `CONFIG SET` of `name`.
fn set_failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// `CONFIG RESETSTAT`: zeroes the INFO counters.
pub(crate) fn resetstat(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    ctx.shared.stats.reset();
    Action::Reply(Reply::ok())
}

/// `CONFIG HELP`.
pub(crate) fn help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::default_knobs;

    #[test]
    fn every_knob_is_unique_and_its_default_passes_its_own_check() {
        let mut names = std::collections::HashSet::new();
        for k in KNOBS.iter().chain(LATER_KNOBS) {
            assert!(names.insert(k.name), "duplicate {}", k.name);
            if let Some(c) = k.canonical {
                assert!(knob(c).is_some_and(|t| t.canonical.is_none()), "{}", k.name);
            }
            if !matches!(k.kind, Kind::Immutable | Kind::Protected) {
                assert_eq!(
                    check(k.kind, k.default).as_deref(),
                    Ok(k.default),
                    "{}",
                    k.name
                );
            }
        }
        // Every parameter with a live meaning is a Redis parameter.
        for p in PARAMS {
            assert!(knob(p.name).is_some(), "{}", p.name);
        }
    }

    #[test]
    fn values_are_checked_like_redis() {
        let int = Kind::Int { min: 0, max: 10 };
        assert_eq!(check(int, "7"), Ok("7".into()));
        assert_eq!(
            check(int, "11"),
            Err("argument must be between 0 and 10 inclusive".into())
        );
        assert_eq!(
            check(int, "07"),
            Err("argument couldn't be parsed into an integer".into())
        );
        let mem = Kind::Memory {
            min: 0,
            max: i64::MAX,
        };
        assert_eq!(check(mem, "1kb"), Ok("1024".into()));
        assert_eq!(
            check(mem, "1zb"),
            Err("argument must be a memory value".into())
        );
        // Past i64::MAX (hll-sparse-max-bytes 9223372036854775808).
        assert_eq!(
            check(mem, "9223372036854775808"),
            Err("argument must be between 0 and 9223372036854775807 inclusive".into())
        );
        assert_eq!(check(Kind::Percent, "10%"), Ok("10%".into()));
        assert_eq!(check(Kind::Percent, "1mb"), Ok("1048576".into()));
        assert_eq!(check(Kind::Bool, "YES"), Ok("yes".into()));
        assert_eq!(check(Kind::Enum(&["a", "b"]), "B"), Ok("b".into()));
        assert_eq!(
            check(Kind::Enum(&["a", "b"]), "c"),
            Err("argument(s) must be one of the following: a, b".into())
        );
    }

    #[test]
    fn aliases_share_one_value() {
        let alias = knob("HASH-MAX-ZIPLIST-ENTRIES").expect("known");
        assert_eq!(canonical(alias), "hash-max-listpack-entries");
        assert!(default_knobs().contains_key("hash-max-listpack-entries"));
        assert!(!default_knobs().contains_key("hash-max-ziplist-entries"));
    }
}
