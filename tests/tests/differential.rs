//! Differential tests: every line of `tests/scripts/*.redis` is sent to a real
//! Redis 7 and to Petrel (onebox) and the raw reply bytes must be equal.
//!
//! The scripts run in file-name order against one Redis and one onebox, each
//! on fresh connections (so `SELECT`/`HELLO` do not leak between scripts)
//! and with its own key prefix. The script syntax is documented in
//! `support/script.rs`. Every mismatch of every script is collected and the
//! test fails listing them all (script, line, command, both replies).
//!
//! `PETREL_DIFF_ONLY=<part of a file name>` runs only the matching scripts.
//!
//! `PETREL_DIFF_AGAINST_REDIS=1` runs the scripts against a second Redis
//! instead of onebox: a quick way to check a new script (lines marked
//! `!differs` are then compared exactly, Redis against Redis).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::script::{self, Compare, Line};
use support::{Onebox, RawConn, RedisOracle};

/// Commands the scripts must exercise (checked, so coverage cannot silently shrink).
const REQUIRED: &[&str] = &[
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
];

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// Every script, parsed, in file-name order.
fn load_scripts() -> Vec<(String, Vec<Line>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scripts_dir())
        .expect("tests/scripts exists")
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

/// Runs one script on fresh connections; returns a description of each mismatch.
fn run_script(
    name: &str,
    lines: &[Line],
    redis_port: u16,
    petrel_port: u16,
    petrel_is_redis: bool,
) -> Vec<String> {
    let mut redis = RawConn::connect(redis_port);
    let mut petrel = RawConn::connect(petrel_port);
    petrel.set_timeout(Duration::from_secs(10));
    let mut mismatches = Vec::new();
    for line in lines {
        let args = line.arg_slices();
        let want = redis.call(&args);
        petrel.send(&args);
        let Some(got) = petrel.try_read_reply() else {
            mismatches.push(format!(
                "{name}:{}: {}\n    Petrel closed the connection or did not answer within 10 s; rest of the script skipped\n    redis:  \"{}\"",
                line.number,
                line.text,
                script::escape(&want)
            ));
            break;
        };
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
                "{name}:{}: {}\n    {why}\n    redis:  \"{}\"\n    petrel: \"{}\"",
                line.number,
                line.text,
                script::escape(&want),
                script::escape(&got)
            ));
        }
    }
    mismatches
}

#[test]
fn scripts_match_redis() {
    let mut scripts = load_scripts();
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
    let scripts = load_scripts();
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
