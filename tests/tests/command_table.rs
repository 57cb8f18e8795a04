//! The one command table against a live redis-server 7: `COMMAND INFO` and
//! `COMMAND DOCS` of every command Redis knows (arity, flags, first/last/step,
//! ACL categories, tips, key specs, subcommands, summary, arguments,
//! history) must be what Redis answers, and `COMMAND GETKEYS` must find the
//! same keys for the commands whose keys move.
//!
//! Subcommands come in Redis's hash order, which changes from run to run,
//! so they are compared sorted; everything else byte for byte.

mod support;

use std::fmt::Write;

use support::script::Resp;
use support::{Onebox, RawConn, RedisOracle};

/// A canonical text of a `COMMAND INFO`/`DOCS` reply: every aggregate in
/// order, except the lists of subcommands, which are sorted.
fn canonical(r: &Resp) -> String {
    let mut out = String::new();
    write_canonical(r, false, &mut out);
    out
}

fn write_canonical(r: &Resp, sort: bool, out: &mut String) {
    match r.kind {
        b'*' | b'~' | b'%' => {
            let map = r.kind == b'%';
            let mut parts: Vec<String> = if map {
                r.items
                    .chunks(2)
                    .filter(|kv| !(sort && is_later(&kv[0])))
                    .map(|kv| {
                        let subcommands = kv[0].bulk.as_deref() == Some(b"subcommands");
                        let mut s = String::new();
                        write_canonical(&kv[0], false, &mut s);
                        s.push_str(" => ");
                        write_canonical(&kv[1], subcommands, &mut s);
                        s
                    })
                    .collect()
            } else {
                // An INFO entry's tenth element lists its subcommands.
                let info_entry = r.items.len() == 10 && r.items[1].kind == b':';
                r.items
                    .iter()
                    .filter(|item| !(sort && is_later(item)))
                    .enumerate()
                    .map(|(i, item)| {
                        let mut s = String::new();
                        write_canonical(item, info_entry && i == 9, &mut s);
                        s
                    })
                    .collect()
            };
            if sort {
                parts.sort();
            }
            let _ = write!(
                out,
                "{}{}[{}]",
                r.kind as char,
                parts.len(),
                parts.join(", ")
            );
        }
        _ => {
            let text = String::from_utf8_lossy(&r.raw);
            let _ = write!(out, "{}", text.trim_end().escape_debug());
        }
    }
}

/// Subcommands Petrel serves from a later Redis than the oracle's
/// (`common/src/command/later.rs`): left out of Petrel's replies here.
const LATER: &[&str] = &["client|setinfo", "client|no-touch"];

/// Commands whose Redis 7.2 definition Petrel serves (`later.rs`):
/// compared with 7.2's arity instead of the oracle's replies.
const REPLACED: &[&str] = &["zrank", "zrevrank"];

fn is_later(r: &Resp) -> bool {
    let name = |x: &Resp| {
        LATER
            .iter()
            .any(|l| x.bulk.as_deref() == Some(l.as_bytes()))
    };
    match r.kind {
        // An INFO entry.
        b'*' => r.items.first().is_some_and(name),
        _ => name(r),
    }
}

fn call(con: &mut RawConn, args: &[&str]) -> Resp {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let raw = con.call(&args);
    Resp::parse(&raw).unwrap_or_else(|e| panic!("unparsable reply to {args:?}: {e}"))
}

fn names(list: &Resp) -> Vec<String> {
    list.items
        .iter()
        .map(|n| String::from_utf8_lossy(n.bulk.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

#[test]
fn command_info_and_docs_match_redis() {
    let redis = RedisOracle::start();
    let petrel = Onebox::start();
    let mut r = redis.conn();
    let mut p = petrel.conn();
    for con in [&mut r, &mut p] {
        let hello = call(con, &["HELLO", "3"]);
        assert_eq!(hello.kind, b'%');
    }
    let redis_names = names(&call(&mut r, &["COMMAND", "LIST"]));
    let petrel_names = names(&call(&mut p, &["COMMAND", "LIST"]));
    assert!(redis_names.len() > 300, "{}", redis_names.len());
    for n in &redis_names {
        assert!(petrel_names.contains(n), "COMMAND LIST lacks {n}");
    }
    assert_eq!(
        call(&mut p, &["COMMAND", "COUNT"]).raw,
        call(&mut r, &["COMMAND", "COUNT"]).raw
    );
    let mut mismatches = Vec::new();
    for name in REPLACED {
        let info = canonical(&call(&mut p, &["COMMAND", "INFO", name]));
        assert!(
            info.contains(&format!("${}\\r\\n{name}, :-3,", name.len())),
            "{name} is 7.2's, arity -3: {info}"
        );
        let docs = canonical(&call(&mut p, &["COMMAND", "DOCS", name]));
        assert!(docs.contains("WITHSCORE"), "{docs}");
    }
    for name in redis_names
        .iter()
        .filter(|n| !REPLACED.contains(&n.as_str()))
    {
        for what in ["INFO", "DOCS"] {
            let want = canonical(&call(&mut r, &["COMMAND", what, name]));
            let got = canonical(&call(&mut p, &["COMMAND", what, name]));
            if want != got {
                mismatches.push(format!(
                    "COMMAND {what} {name}\n  redis:  {want}\n  petrel: {got}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} replies differ:\n{}",
        mismatches.len(),
        redis_names.len() * 2,
        mismatches.join("\n")
    );
    // The whole table at once too (order aside; the 7.2 definitions
    // checked above left out).
    let all = |con: &mut RawConn| {
        let mut entries: Vec<String> = call(con, &["COMMAND", "INFO"])
            .items
            .iter()
            .filter(|e| {
                let name = e.items.first().and_then(|n| n.bulk.as_deref());
                !REPLACED.iter().any(|r| name == Some(r.as_bytes()))
            })
            .map(canonical)
            .collect();
        entries.sort();
        entries
    };
    assert_eq!(all(&mut p), all(&mut r));
}

/// Calls whose keys a client finds with `COMMAND GETKEYS`: the commands
/// whose keys move (numkeys, keywords, timeouts at either end), valid and
/// not.
const GETKEYS: &[&str] = &[
    "GET k",
    "SET k v EX 10",
    "MSET a 1 b 2 c 3",
    "MGET a b c",
    "DEL a b c",
    "EXISTS a b",
    "RENAME a b",
    "LMOVE a b LEFT RIGHT",
    "BLMOVE a b LEFT RIGHT 0",
    "BRPOPLPUSH a b 0",
    "BLPOP a b c 0",
    "BZPOPMIN a b 1.5",
    "LMPOP 2 a b LEFT COUNT 3",
    "LMPOP 3 a b LEFT",
    "LMPOP 0 a LEFT",
    "LMPOP x a LEFT",
    "BLMPOP 0 2 a b RIGHT",
    "BZMPOP 1 1 z MIN",
    "ZMPOP 2 a b MAX COUNT 2",
    "ZUNION 2 a b WITHSCORES",
    "ZUNION 3 a b",
    "ZINTER 1 a",
    "ZDIFF 2 a b",
    "ZINTERCARD 2 a b LIMIT 1",
    "ZUNIONSTORE d 2 a b WEIGHTS 1 2",
    "ZINTERSTORE d 1 a",
    "ZDIFFSTORE d 2 a b",
    "ZRANGESTORE d s 0 -1",
    "SINTERCARD 2 a b",
    "SINTERCARD 5 a b",
    "SMOVE a b m",
    "SINTER a b",
    "SDIFFSTORE d a b",
    "BITOP AND d a b",
    "LCS a b",
    "COPY a b REPLACE",
    "OBJECT ENCODING k",
    "MEMORY USAGE k SAMPLES 5",
    "PING",
    "NOSUCH a",
    "GET",
    "XREAD COUNT 2 STREAMS a b 0 0",
    "EVAL script 2 a b c",
    "GEORADIUS g 0 0 1 km STORE d",
];

#[test]
fn getkeys_match_redis() {
    let redis = RedisOracle::start();
    let petrel = Onebox::start();
    let mut r = redis.conn();
    let mut p = petrel.conn();
    let mut mismatches = Vec::new();
    for line in GETKEYS {
        let mut args = vec!["COMMAND", "GETKEYS"];
        args.extend(line.split(' '));
        let want = call(&mut r, &args).raw;
        let got = call(&mut p, &args).raw;
        if want != got {
            mismatches.push(format!(
                "COMMAND GETKEYS {line}\n  redis:  {:?}\n  petrel: {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
