//! Differential tests: every line of `tests/scripts/*.redis` is sent to a real
//! Redis 7 and to Petrel (onebox) and the raw reply bytes must be equal.
//!
//! The scripts run in file-name order against one Redis and one onebox, each
//! on fresh connections (so `SELECT`/`HELLO` do not leak between scripts)
//! and with its own key prefix. A script may open several named connections
//! (`@sub SUBSCRIBE ch`) and read frames that come without a command
//! (`@sub ~read`); the script syntax is documented in `support/script.rs`.
//! Every mismatch of every script is collected and the test fails listing
//! them all (script, line, command, both replies).
//!
//! `PETREL_DIFF_ONLY=<part of a file name>` runs only the matching scripts.
//!
//! `PETREL_DIFF_PENDING=1` also runs `tests/scripts-pending/*.redis`: scripts
//! checked against Redis for features Petrel does not serve yet (pub/sub).
//! With `PETREL_DIFF_ONLY` it selects among both folders, e.g.
//! `PETREL_DIFF_PENDING=1 PETREL_DIFF_ONLY=pubsub`. A pending script moves to
//! `tests/scripts/` once Petrel passes it.
//!
//! `PETREL_DIFF_SHOW=1` prints every line with Redis's reply (or frame), to
//! see what a new script records.
//!
//! `PETREL_DIFF_AGAINST_REDIS=1` runs the scripts against a second Redis
//! instead of onebox: a quick way to check a new script (lines marked
//! `!differs` are then compared exactly, Redis against Redis).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::script::{self, Action, Compare, Line};
use support::{Arrival, Onebox, RawConn, RedisOracle};

/// How long the end of a script watches each connection for unread frames.
const LEFTOVER_WAIT: Duration = Duration::from_millis(50);

/// Commands the scripts must exercise (checked, so coverage cannot silently shrink).
const REQUIRED: &[&str] = &[
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PUBLISH",
    "SPUBLISH",
    "PUBSUB",
    "RESET",
    "PING",
    "ECHO",
    "SELECT",
    "DBSIZE",
    "FLUSHALL",
    "FLUSHDB",
    "GET",
    "SET",
    "SETNX",
    "SETEX",
    "PSETEX",
    "GETSET",
    "GETDEL",
    "GETEX",
    "APPEND",
    "STRLEN",
    "GETRANGE",
    "SETRANGE",
    "INCR",
    "DECR",
    "INCRBY",
    "DECRBY",
    "INCRBYFLOAT",
    "MGET",
    "MSET",
    "MSETNX",
    "DEL",
    "UNLINK",
    "EXISTS",
    "TOUCH",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "PEXPIREAT",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TTL",
    "PTTL",
    "PERSIST",
    "TYPE",
    "HELLO",
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "KEYS",
    "RANDOMKEY",
    "SCAN",
    "RENAME",
    "RENAMENX",
    "COPY",
    "DUMP",
    "RESTORE",
    "SORT",
    "SORT_RO",
    "OBJECT",
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HMSET",
    "HDEL",
    "HLEN",
    "HSTRLEN",
    "HEXISTS",
    "HGETALL",
    "HKEYS",
    "HVALS",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HRANDFIELD",
    "HSCAN",
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "RPUSHX",
    "LPOP",
    "RPOP",
    "LLEN",
    "LRANGE",
    "LINDEX",
    "LSET",
    "LREM",
    "LTRIM",
    "LINSERT",
    "LPOS",
    "LMOVE",
    "RPOPLPUSH",
    "LMPOP",
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "SMOVE",
    "SINTER",
    "SINTERCARD",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SSCAN",
    "ZADD",
    "ZINCRBY",
    "ZREM",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGE",
    "ZRANK",
    "ZREVRANK",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZRANDMEMBER",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYLEX",
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZDIFFSTORE",
    "ZRANGESTORE",
    "ZUNION",
    "ZINTER",
    "ZINTERCARD",
    "ZDIFF",
    "ZMPOP",
    "ZSCAN",
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BLMOVE",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
    "MOVE",
    "TIME",
    "LASTSAVE",
    "WAIT",
    "FUNCTION",
    "SCRIPT",
    "EVAL",
    "EVALSHA",
    "EVAL_RO",
    "MEMORY",
    "SLOWLOG",
    "CONFIG",
    "CLIENT",
    "ACL",
    "AUTH",
    "SETBIT",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "BITOP",
    "BITFIELD",
    "BITFIELD_RO",
    "LCS",
    "SUBSTR",
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "PFDEBUG",
    "PFSELFTEST",
    "GEOADD",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUS",
    "GEORADIUS_RO",
    "GEORADIUSBYMEMBER",
    "GEORADIUSBYMEMBER_RO",
    "GEOSEARCH",
    "GEOSEARCHSTORE",
    "XADD",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "XREAD",
    "XDEL",
    "XTRIM",
    "XSETID",
    "XINFO",
    "XGROUP",
    "XREADGROUP",
    "XACK",
    "XPENDING",
    "XCLAIM",
    "XAUTOCLAIM",
];

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// Scripts for features Petrel does not serve yet, run only with
/// `PETREL_DIFF_PENDING=1`; each moves to `tests/scripts` once it passes.
fn pending_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts-pending")
}

/// Every script of `dir`, parsed, in file-name order.
fn load_scripts(dir: &Path) -> Vec<(String, Vec<Line>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("read script");
            let lines = script::parse_script(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, lines)
        })
        .collect()
}

/// One script connection, open on both servers.
struct Pair {
    redis: RawConn,
    petrel: RawConn,
}

impl Pair {
    fn open(redis_port: u16, petrel_port: u16) -> Pair {
        let mut petrel = RawConn::connect(petrel_port);
        petrel.set_timeout(Duration::from_secs(10));
        Pair {
            redis: RawConn::connect(redis_port),
            petrel,
        }
    }
}

/// A line's outcome on one server, for a mismatch report.
fn describe(arrival: &Arrival, wait: Duration) -> String {
    match arrival {
        Arrival::Frame(bytes) => format!("\"{}\"", script::escape(bytes)),
        Arrival::Closed => "(connection closed)".into(),
        Arrival::Nothing => format!("(no frame within {wait:?})"),
    }
}

/// Runs one script on fresh connections; returns a description of each mismatch.
fn run_script(
    name: &str,
    lines: &[Line],
    redis_port: u16,
    petrel_port: u16,
    petrel_is_redis: bool,
) -> Vec<String> {
    let show = std::env::var_os("PETREL_DIFF_SHOW").is_some();
    let mut conns: BTreeMap<Option<String>, Pair> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for line in lines {
        let at = format!("{name}:{}: {}", line.number, line.text);
        if let Action::Sleep(pause) = line.action {
            std::thread::sleep(pause);
            continue;
        }
        let pair = conns
            .entry(line.conn.clone())
            .or_insert_with(|| Pair::open(redis_port, petrel_port));
        let (want, got) = match line.action {
            Action::Command => {
                let args = line.arg_slices();
                let want = pair.redis.call(&args);
                pair.petrel.send(&args);
                let Some(got) = pair.petrel.try_read_reply() else {
                    mismatches.push(format!(
                        "{at}\n    Petrel closed the connection or did not answer within 10 s; rest of the script skipped\n    redis:  \"{}\"",
                        script::escape(&want)
                    ));
                    return mismatches;
                };
                (want, got)
            }
            Action::Read => {
                let want = pair.redis.wait_frame(script::FRAME_WAIT);
                let got = pair.petrel.wait_frame(script::FRAME_WAIT);
                match (want, got) {
                    (Arrival::Frame(w), Arrival::Frame(g)) => (w, g),
                    (want, got) => {
                        mismatches.push(format!(
                            "{at}\n    a frame expected on both; rest of the script skipped\n    redis:  {}\n    petrel: {}",
                            describe(&want, script::FRAME_WAIT),
                            describe(&got, script::FRAME_WAIT)
                        ));
                        return mismatches;
                    }
                }
            }
            Action::NoFrame | Action::Closed => {
                let (wait, expected, what) = if line.action == Action::NoFrame {
                    (script::NONE_WAIT, Arrival::Nothing, "no frame expected")
                } else {
                    (script::FRAME_WAIT, Arrival::Closed, "closing expected")
                };
                let want = pair.redis.wait_frame(wait);
                let got = pair.petrel.wait_frame(wait);
                if want != expected || got != expected {
                    mismatches.push(format!(
                        "{at}\n    {what}\n    redis:  {}\n    petrel: {}",
                        describe(&want, wait),
                        describe(&got, wait)
                    ));
                }
                continue;
            }
            Action::Sleep(_) => unreachable!("handled above"),
        };
        if show {
            eprintln!("{at}\n    redis:  \"{}\"", script::escape(&want));
        }
        let compare = match &line.compare {
            Compare::Differs { .. } if petrel_is_redis => Compare::Exact,
            c => c.clone(),
        };
        if let Compare::Differs { reason, .. } = &compare {
            eprintln!(
                "{name}:{}: deliberate difference ({reason}): redis \"{}\", petrel \"{}\"",
                line.number,
                script::escape(&want),
                script::escape(&got)
            );
        }
        if let Err(why) = script::compare(&compare, &want, &got) {
            mismatches.push(format!(
                "{at}\n    {why}\n    redis:  \"{}\"\n    petrel: \"{}\"",
                script::escape(&want),
                script::escape(&got)
            ));
        }
    }
    // A frame nobody read means the script lost count (a `~read` missing
    // after a multi-channel SUBSCRIBE) or a server sent one too many. (A
    // script cut short returned above: it leaves frames unread anyway.)
    for (conn, pair) in &mut conns {
        let want = pair.redis.wait_frame(LEFTOVER_WAIT);
        let got = pair.petrel.wait_frame(LEFTOVER_WAIT);
        if matches!(want, Arrival::Frame(_)) || matches!(got, Arrival::Frame(_)) {
            mismatches.push(format!(
                "{name}: end of script: connection {} holds a frame no line read\n    redis:  {}\n    petrel: {}",
                conn.as_deref().map_or("(default)".to_string(), |c| format!("@{c}")),
                describe(&want, LEFTOVER_WAIT),
                describe(&got, LEFTOVER_WAIT)
            ));
        }
    }
    mismatches
}

#[test]
fn scripts_match_redis() {
    let mut scripts = load_scripts(&scripts_dir());
    assert!(
        scripts.len() >= 9,
        "expected the differential scripts in {:?}",
        scripts_dir()
    );
    let used: std::collections::BTreeSet<String> = scripts
        .iter()
        .flat_map(|(_, ls)| ls.iter().map(Line::command))
        .collect();
    let missing: Vec<&&str> = REQUIRED.iter().filter(|c| !used.contains(**c)).collect();
    assert!(missing.is_empty(), "no script exercises {missing:?}");
    // PETREL_DIFF_PENDING=1 adds the scripts that wait for a feature.
    if std::env::var_os("PETREL_DIFF_PENDING").is_some() {
        scripts.extend(load_scripts(&pending_dir()));
        scripts.sort_by(|a, b| a.0.cmp(&b.0));
    }
    // PETREL_DIFF_ONLY=hashes runs only the scripts whose name contains it.
    if let Ok(only) = std::env::var("PETREL_DIFF_ONLY") {
        scripts.retain(|(name, _)| name.contains(&only));
    }

    let oracle = RedisOracle::start();
    let petrel_is_redis = std::env::var_os("PETREL_DIFF_AGAINST_REDIS").is_some();
    let (_petrel, petrel_port): (Box<dyn std::any::Any>, u16) = if petrel_is_redis {
        let other = RedisOracle::start();
        let port = other.port;
        (Box::new(other), port)
    } else {
        let ob = Onebox::start();
        let port = ob.proxy_port;
        (Box::new(ob), port)
    };

    let mut report = Vec::new();
    let mut total = 0;
    for (name, lines) in &scripts {
        total += lines.len();
        let mismatches = run_script(name, lines, oracle.port, petrel_port, petrel_is_redis);
        eprintln!(
            "{name}: {} commands, {} mismatches",
            lines.len(),
            mismatches.len()
        );
        report.extend(mismatches);
    }
    assert!(
        report.is_empty(),
        "{} of {total} commands differ from Redis 7:\n{}",
        report.len(),
        report.join("\n")
    );
}

/// The keys a multi-key command names.
fn keys_of(line: &Line) -> Vec<&[u8]> {
    let args = &line.args[1..];
    match line.command().as_str() {
        "MSET" | "MSETNX" => args.iter().step_by(2).map(Vec::as_slice).collect(),
        _ => args.iter().map(Vec::as_slice).collect(),
    }
}

/// The multi-key lines really fan out: every big one touches all 8
/// partitions of the default table, so the suite compares transactions
/// across partitions with Redis; MSETNX among them.
#[test]
fn multi_key_scripts_span_partitions() {
    use petrel_common::hash::partition_of;
    let scripts = load_scripts(&scripts_dir());
    let (_, lines) = scripts
        .iter()
        .find(|(n, _)| n.contains("multikey"))
        .expect("a multikey script");
    let mut big = 0;
    for line in lines {
        let keys = keys_of(line);
        let parts: std::collections::BTreeSet<u32> =
            keys.iter().map(|k| partition_of(k, 8)).collect();
        if keys.len() >= 20 {
            big += 1;
            assert_eq!(
                parts.len(),
                8,
                "line {} covers partitions {parts:?}",
                line.number
            );
        }
        if line.command() == "MSETNX" {
            // Atomic across partitions too: compared byte for byte.
            assert!(
                !matches!(line.compare, Compare::Differs { .. }),
                "line {}: MSETNX answers as Redis whatever partitions its keys span",
                line.number
            );
        }
    }
    assert!(big >= 8, "only {big} multi-key commands with 20+ keys");
}

#[test]
fn script_syntax() {
    let a = script::split_args(r#"SET "a b" 'c\'d' "\x41\r\n\"\\" plain"#).unwrap();
    assert_eq!(
        a,
        vec![
            b"SET".to_vec(),
            b"a b".to_vec(),
            b"c'd".to_vec(),
            b"A\r\n\"\\".to_vec(),
            b"plain".to_vec()
        ]
    );
    assert_eq!(
        script::split_args(r#"GET """#).unwrap(),
        vec![b"GET".to_vec(), Vec::new()]
    );
    assert_eq!(
        script::split_args(r#"X "\xZZ""#).unwrap()[1],
        b"xZZ".to_vec()
    );
    assert!(script::split_args(r#"GET "abc"#).is_err());
    assert!(script::split_args(r#"GET "a"b"#).is_err());

    let text =
        "# c\n\n~unordered MGET a b\n!differs \"why\" \"-ERR x\\r\\n\" MSETNX a 1 b 2\nPING\n";
    let lines = script::parse_script(text).unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].compare, Compare::Unordered);
    assert_eq!(lines[0].number, 3);
    assert_eq!(
        lines[1].compare,
        Compare::Differs {
            reason: "why".into(),
            petrel: b"-ERR x\r\n".to_vec()
        }
    );
    assert_eq!(lines[1].command(), "MSETNX");
    assert!(script::parse_script("~bogus PING").is_err());
    assert!(script::parse_script("~shape").is_err());

    let a = script::Resp::parse(b"%2\r\n+server\r\n$5\r\nredis\r\n+proto\r\n:3\r\n").unwrap();
    let b = script::Resp::parse(b"%2\r\n+server\r\n$6\r\npetrel\r\n+proto\r\n:3\r\n").unwrap();
    let c = script::Resp::parse(b"%2\r\n+server\r\n$6\r\npetrel\r\n+mode\r\n:3\r\n").unwrap();
    assert_eq!(a.shape(), b.shape());
    assert_ne!(a.shape(), c.shape());
    let x = script::Resp::parse(b"*2\r\n$1\r\na\r\n_\r\n").unwrap();
    let y = script::Resp::parse(b"*2\r\n_\r\n$1\r\na\r\n").unwrap();
    assert!(x.same_unordered(&y));
    assert!(script::compare(&Compare::Exact, b"+OK\r\n", b"+OK\r\n").is_ok());
    assert!(script::compare(&Compare::Exact, b"+OK\r\n", b"-ERR\r\n").is_err());
    assert!(script::compare(&Compare::Shape, b"*1\r\n:1\r\n", b"*2\r\n:1\r\n:2\r\n").is_err());
}

#[test]
fn script_syntax_connections_and_frames() {
    let text = "PING\n@sub SUBSCRIBE a b\n@sub ~read\n@sub ~unordered PUBSUB CHANNELS\n\
                @sub ~shape ~read\n@sub ~none\n~sleep 50\n@q ~closed\n~read\n";
    let lines = script::parse_script(text).unwrap();
    let got: Vec<(Option<&str>, &Compare, &Action)> = lines
        .iter()
        .map(|l| (l.conn.as_deref(), &l.compare, &l.action))
        .collect();
    let sub = Some("sub");
    assert_eq!(
        got,
        vec![
            (None, &Compare::Exact, &Action::Command),
            (sub, &Compare::Exact, &Action::Command),
            (sub, &Compare::Exact, &Action::Read),
            (sub, &Compare::Unordered, &Action::Command),
            (sub, &Compare::Shape, &Action::Read),
            (sub, &Compare::Exact, &Action::NoFrame),
            (
                None,
                &Compare::Exact,
                &Action::Sleep(Duration::from_millis(50))
            ),
            (Some("q"), &Compare::Exact, &Action::Closed),
            (None, &Compare::Exact, &Action::Read),
        ]
    );
    assert_eq!(
        lines[1].args,
        vec![b"SUBSCRIBE".to_vec(), b"a".to_vec(), b"b".to_vec()]
    );
    for bad in [
        "@ PING",
        "@sub",
        "~unordered @sub PING",
        "@sub ~read extra",
        "@sub ~shape ~none",
        "@sub ~sleep 5",
        "~sleep",
        "~sleep x",
        "~sleep 5 6",
        "~shape ~closed",
    ] {
        assert!(script::parse_script(bad).is_err(), "{bad:?} parsed");
    }
}

/// The pending scripts parse, even while no run includes them (the folder
/// may hold none: each script leaves it once it passes).
#[test]
fn pending_scripts_parse() {
    load_scripts(&pending_dir());
}
