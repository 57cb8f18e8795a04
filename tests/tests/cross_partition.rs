//! Multi-key commands and MULTI blocks whose keys lie in different
//! partitions (issue 15): atomic, with standalone Redis's exact replies,
//! never `CROSSSLOT`. A onebox with 8 partitions; keys are picked by the
//! partition they hash to.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use petrel_common::hash::partition_of;
use redis::Value;
use support::{Onebox, OneboxOpts};

const PARTITIONS: u32 = 8;

fn onebox() -> Onebox {
    Onebox::start_with(OneboxOpts {
        partitions: Some(PARTITIONS),
        ..Default::default()
    })
}

/// `n` keys named `<prefix>N`, each in a different partition.
fn spread(prefix: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut keys = Vec::new();
    for i in 0.. {
        let k = format!("{prefix}{i}");
        let p = partition_of(k.as_bytes(), PARTITIONS);
        if !seen.contains(&p) {
            seen.push(p);
            keys.push(k);
            if keys.len() == n {
                break;
            }
        }
    }
    keys
}

fn raw(con: &mut redis::Connection, args: &[&str]) -> Value {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn ok() -> Value {
    Value::Okay
}

#[test]
fn mset_and_mget_across_partitions_are_atomic() {
    let ob = onebox();
    let client = ob.redis_client();
    let keys = spread("mk", 8);
    let mut con = client.get_connection().expect("connect");
    let mut mset = vec!["MSET"];
    for k in &keys {
        mset.push(k);
        mset.push("0");
    }
    assert_eq!(raw(&mut con, &mset), ok());
    // One client MSETs every key to the same counter, another MGETs them:
    // no snapshot may mix two MSETs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (keys, stop, client) = (keys.clone(), stop.clone(), client.clone());
        thread::spawn(move || {
            let mut con = client.get_connection().expect("connect");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && n < 300 {
                n += 1;
                let v = n.to_string();
                let mut c = redis::cmd("MSET");
                for k in &keys {
                    c.arg(k).arg(&v);
                }
                let _: () = c.query(&mut con).expect("MSET");
            }
        })
    };
    for _ in 0..300 {
        let got: Vec<String> = redis::cmd("MGET").arg(&keys).query(&mut con).expect("MGET");
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "mixed snapshot {got:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    // Split replies merge as Redis's.
    let n: i64 = redis::cmd("EXISTS")
        .arg(&keys[0])
        .arg("nope")
        .arg(&keys[1])
        .arg(&keys[0])
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(n, 3);
    let n: i64 = redis::cmd("DEL")
        .arg(&keys[..4])
        .arg("nope")
        .query(&mut con)
        .expect("DEL");
    assert_eq!(n, 4);
    let n: i64 = redis::cmd("TOUCH")
        .arg(&keys)
        .query(&mut con)
        .expect("TOUCH");
    assert_eq!(n, 4);
}

#[test]
fn multi_over_several_partitions_answers_like_redis() {
    let ob = onebox();
    let k = spread("tx", 3);
    let (a, b, c) = (k[0].as_str(), k[1].as_str(), k[2].as_str());
    // Byte for byte (a client library would turn the error inside EXEC's
    // array into an error of the whole call).
    let mut raw_con = ob.conn();
    assert_eq!(raw_con.cmd("MULTI"), "+OK\r\n");
    for cmd in [
        format!("SET {a} 1"),
        format!("INCRBY {b} 5"),
        format!("RPUSH {c} x y"),
        format!("INCR {a}"),
        format!("LPOP {a}"),
        format!("MGET {a} {b} {c}"),
        "PING".to_string(),
        format!("GET {b}"),
    ] {
        assert_eq!(raw_con.cmd(&cmd), "+QUEUED\r\n", "{cmd}");
    }
    assert_eq!(
        raw_con.cmd("EXEC"),
        "*8\r\n+OK\r\n:5\r\n:2\r\n:2\r\n\
         -WRONGTYPE Operation against a key holding the wrong kind of value\r\n\
         *3\r\n$1\r\n2\r\n$1\r\n5\r\n$-1\r\n+PONG\r\n$1\r\n5\r\n",
        "a list reads as nil in MGET; the error stays in its place"
    );
    let mut con = ob.redis_client().get_connection().expect("connect");
    // Read-only blocks run too.
    assert_eq!(raw(&mut con, &["MULTI"]), ok());
    raw(&mut con, &["GET", a]);
    raw(&mut con, &["LLEN", c]);
    raw(&mut con, &["GET", b]);
    assert_eq!(
        raw(&mut con, &["EXEC"]),
        Value::Array(vec![bulk("2"), Value::Int(2), bulk("5")])
    );
}

#[test]
fn data_flows_between_partitions() {
    let ob = onebox();
    let mut con = ob.redis_client().get_connection().expect("connect");
    let k = spread("flow", 4);
    let (a, b, c, d) = (k[0].as_str(), k[1].as_str(), k[2].as_str(), k[3].as_str());
    // RENAME keeps the value and the TTL.
    raw(&mut con, &["SET", a, "v", "PX", "100000"]);
    assert_eq!(raw(&mut con, &["RENAME", a, b]), ok());
    assert_eq!(raw(&mut con, &["GET", b]), bulk("v"));
    assert_eq!(raw(&mut con, &["EXISTS", a]), Value::Int(0));
    assert!(matches!(raw(&mut con, &["PTTL", b]), Value::Int(t) if t > 0));
    assert_eq!(raw(&mut con, &["RENAMENX", b, c]), Value::Int(1));
    // LMOVE moves one item; RPOPLPUSH too.
    raw(&mut con, &["RPUSH", a, "x", "y", "z"]);
    assert_eq!(raw(&mut con, &["LMOVE", a, d, "LEFT", "RIGHT"]), bulk("x"));
    assert_eq!(raw(&mut con, &["RPOPLPUSH", a, d]), bulk("z"));
    // RPOPLPUSH pushes on the destination's head.
    assert_eq!(
        raw(&mut con, &["LRANGE", d, "0", "-1"]),
        Value::Array(vec![bulk("z"), bulk("x")])
    );
    assert_eq!(
        raw(&mut con, &["LRANGE", a, "0", "-1"]),
        Value::Array(vec![bulk("y")])
    );
    // SUNIONSTORE over three partitions.
    let s = spread("set", 3);
    raw(&mut con, &["SADD", &s[0], "1", "2"]);
    raw(&mut con, &["SADD", &s[1], "2", "3"]);
    assert_eq!(
        raw(&mut con, &["SUNIONSTORE", &s[2], &s[0], &s[1]]),
        Value::Int(3)
    );
    assert_eq!(raw(&mut con, &["SCARD", &s[2]]), Value::Int(3));
    assert_eq!(raw(&mut con, &["SMOVE", &s[0], &s[1], "1"]), Value::Int(1));
    assert_eq!(raw(&mut con, &["SCARD", &s[1]]), Value::Int(3));
    // MSETNX: all or nothing.
    let m = spread("nx", 3);
    raw(&mut con, &["SET", &m[2], "taken"]);
    assert_eq!(
        raw(&mut con, &["MSETNX", &m[0], "1", &m[1], "2", &m[2], "3"]),
        Value::Int(0)
    );
    assert_eq!(raw(&mut con, &["EXISTS", &m[0], &m[1]]), Value::Int(0));
    raw(&mut con, &["DEL", &m[2]]);
    assert_eq!(
        raw(&mut con, &["MSETNX", &m[0], "1", &m[1], "2", &m[2], "3"]),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut con, &["MGET", &m[0], &m[1], &m[2]]),
        Value::Array(vec![bulk("1"), bulk("2"), bulk("3")])
    );
    // A blocking pop over two partitions pops from the first non-empty key.
    let l = spread("bl", 2);
    raw(&mut con, &["RPUSH", &l[1], "only"]);
    assert_eq!(
        raw(&mut con, &["BLPOP", &l[0], &l[1], "1"]),
        Value::Array(vec![bulk(&l[1]), bulk("only")])
    );
    assert_eq!(raw(&mut con, &["BLPOP", &l[0], &l[1], "0.2"]), Value::Nil);
}

#[test]
fn watch_across_partitions_aborts_on_a_change_and_commits_otherwise() {
    let ob = onebox();
    let client = ob.redis_client();
    let mut a = client.get_connection().expect("connect a");
    let mut b = client.get_connection().expect("connect b");
    let k = spread("w", 2);
    raw(&mut a, &["SET", &k[0], "1"]);
    assert_eq!(raw(&mut a, &["WATCH", &k[0]]), ok());
    raw(&mut b, &["SET", &k[0], "2"]);
    raw(&mut a, &["MULTI"]);
    raw(&mut a, &["SET", &k[1], "from a"]);
    raw(&mut a, &["SET", &k[0], "from a"]);
    assert_eq!(
        raw(&mut a, &["EXEC"]),
        Value::Nil,
        "aborted: the null array"
    );
    assert_eq!(
        raw(&mut a, &["EXISTS", &k[1]]),
        Value::Int(0),
        "nothing applied"
    );
    assert_eq!(raw(&mut a, &["GET", &k[0]]), bulk("2"));
    // Unchanged: it commits.
    raw(&mut a, &["WATCH", &k[0]]);
    raw(&mut a, &["MULTI"]);
    raw(&mut a, &["SET", &k[1], "from a"]);
    raw(&mut a, &["INCR", &k[0]]);
    assert_eq!(
        raw(&mut a, &["EXEC"]),
        Value::Array(vec![ok(), Value::Int(3)])
    );
}

/// A transfer as a script with `numkeys 0`: it builds every key from its
/// arguments (`from to amount`), as scripts of task queues do.
const TRANSFER: &str = "redis.call('DECRBY', ARGV[1], ARGV[3]) \
     redis.call('INCRBY', ARGV[2], ARGV[3]) \
     return {redis.call('GET', ARGV[1]), redis.call('GET', ARGV[2])}";

#[test]
fn scripts_over_several_partitions_are_atomic() {
    let ob = onebox();
    let client = ob.redis_client();
    let accounts = spread("acct", 4);
    let mut con = client.get_connection().expect("connect");
    for a in &accounts {
        assert_eq!(raw(&mut con, &["SET", a, "100"]), ok());
    }
    // Two clients move money between accounts in different partitions by
    // script; a third reads every balance at once: the sum never changes.
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..2)
        .map(|w| {
            let (accounts, stop, client) = (accounts.clone(), stop.clone(), client.clone());
            thread::spawn(move || {
                let mut con = client.get_connection().expect("connect");
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) && done < 150 {
                    let from = &accounts[(done + w) % 4];
                    let to = &accounts[(done + w + 1 + done % 2) % 4];
                    let got: Vec<i64> = redis::cmd("EVAL")
                        .arg(TRANSFER)
                        .arg(0)
                        .arg(from)
                        .arg(to)
                        .arg(3)
                        .query(&mut con)
                        .expect("EVAL transfer");
                    assert_eq!(got.len(), 2);
                    done += 1;
                }
                done
            })
        })
        .collect();
    for _ in 0..200 {
        let got: Vec<i64> = redis::cmd("MGET")
            .arg(&accounts)
            .query(&mut con)
            .expect("MGET");
        assert_eq!(got.iter().sum::<i64>(), 400, "money made or lost: {got:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let moved: usize = movers.into_iter().map(|m| m.join().expect("mover")).sum();
    assert!(moved > 0);
    let got: Vec<i64> = redis::cmd("MGET")
        .arg(&accounts)
        .query(&mut con)
        .expect("MGET");
    assert_eq!(got.iter().sum::<i64>(), 400, "{got:?}");
    // A script that fails after a write keeps the write, as in Redis; one
    // call over keys of two partitions inside a script runs by its plan,
    // inside the script's transaction.
    let (a, b) = (&accounts[0], &accounts[1]);
    let r = redis::cmd("EVAL")
        .arg("redis.call('SET', KEYS[1], 'kept') return redis.call('HGET', KEYS[2], 'f')")
        .arg(2)
        .arg(a)
        .arg(b)
        .query::<Value>(&mut con);
    assert!(r.is_err(), "{r:?}");
    assert_eq!(raw(&mut con, &["GET", a]), bulk("kept"));
    let outside = raw(&mut con, &["GET", b]);
    let inside = redis::cmd("EVAL")
        .arg("return redis.call('MGET', KEYS[1], KEYS[2])")
        .arg(2)
        .arg(a)
        .arg(b)
        .query::<Value>(&mut con)
        .expect("MGET inside a script");
    assert_eq!(inside, Value::Array(vec![bulk("kept"), outside.clone()]));
    // RENAME between partitions, then reads of both inside the same run.
    let renamed = redis::cmd("EVAL")
        .arg(
            "redis.call('RENAME', KEYS[1], KEYS[2]) \
             return {redis.call('EXISTS', KEYS[1]), redis.call('GET', KEYS[2])}",
        )
        .arg(2)
        .arg(b)
        .arg(a)
        .query::<Value>(&mut con)
        .expect("RENAME inside a script");
    assert_eq!(renamed, Value::Array(vec![Value::Int(0), outside.clone()]));
    assert_eq!(raw(&mut con, &["GET", a]), outside);
    assert_eq!(raw(&mut con, &["EXISTS", b]), Value::Int(0));
}

#[test]
fn script_kill_stops_a_script_and_nothing_it_wrote_applies() {
    let ob = onebox();
    let client = ob.redis_client();
    let mut con = client.get_connection().expect("connect");
    let across = spread("kill", 2);
    let one = vec!["{kill}a".to_string(), "{kill}b".to_string()];
    for keys in [&across, &one] {
        for k in keys {
            assert_eq!(raw(&mut con, &["SET", k, "before"]), ok());
        }
        let runner = {
            let (client, keys) = (client.clone(), keys.clone());
            thread::spawn(move || {
                let mut con = client.get_connection().expect("connect");
                redis::cmd("EVAL")
                    .arg("redis.call('SET', KEYS[1], 'x') redis.call('SET', KEYS[2], 'x') while true do end")
                    .arg(2)
                    .arg(&keys)
                    .query::<Value>(&mut con)
            })
        };
        // SCRIPT KILL answers NOTBUSY until the script runs.
        let mut killed = false;
        for _ in 0..40 {
            thread::sleep(std::time::Duration::from_millis(50));
            if raw_result(&mut con, &["SCRIPT", "KILL"]).is_ok() {
                killed = true;
                break;
            }
        }
        assert!(killed, "SCRIPT KILL never found the script ({keys:?})");
        let e = runner.join().expect("runner").expect_err("killed");
        assert!(e.to_string().contains("Script killed"), "{e}");
        for k in keys {
            assert_eq!(raw(&mut con, &["GET", k]), bulk("before"), "{k}");
        }
    }
}

fn raw_result(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<Value> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
}

#[test]
fn functions_over_several_partitions_are_one_transaction() {
    let ob = onebox();
    let client = ob.redis_client();
    let mut con = client.get_connection().expect("connect");
    let keys = spread("fnx", 2);
    let lib = "#!lua name=xfer\n\
               redis.register_function('xfer', function(keys, args) \
               redis.call('DECRBY', keys[1], args[1]) \
               return redis.call('INCRBY', keys[2], args[1]) end)";
    assert_eq!(raw(&mut con, &["FUNCTION", "LOAD", lib]), bulk("xfer"));
    assert_eq!(raw(&mut con, &["SET", &keys[0], "10"]), ok());
    let got = raw(&mut con, &["FCALL", "xfer", "2", &keys[0], &keys[1], "4"]);
    assert_eq!(got, Value::Int(4));
    assert_eq!(raw(&mut con, &["GET", &keys[0]]), bulk("6"));
    assert_eq!(raw(&mut con, &["GET", &keys[1]]), bulk("4"));
}

#[test]
fn replies_too_deep_or_cyclic_are_refused_and_every_server_lives_on() {
    let ob = onebox();
    let client = ob.redis_client();
    let mut con = client.get_connection().expect("connect");
    let across = spread("deep", 2);
    let cyclic = "local t = {} t[1] = t return t";
    let deep = "local t = {} local c = t for i = 1, 150 do c[1] = {} c = c[1] end return t";
    for body in [cyclic, deep] {
        for keys in [vec![], vec!["{deep}a".to_string()], across.clone()] {
            let mut c = redis::cmd("EVAL");
            c.arg(body).arg(keys.len()).arg(&keys);
            let e = c.query::<Value>(&mut con).expect_err("refused");
            assert!(e.to_string().contains("nested more than 64 levels"), "{e}");
        }
    }
    // Every partition still answers.
    for k in spread("alive", PARTITIONS as usize) {
        assert_eq!(raw(&mut con, &["SET", &k, "1"]), ok());
    }
}

/// SORT whose BY/GET patterns name keys of other partitions reads them in
/// one transaction: under concurrent MSETs of every weight, each SORT sees
/// one MSET's values, sorted, and its STORE (to yet another partition)
/// holds exactly what it read.
#[test]
fn sort_patterns_across_partitions_read_one_snapshot() {
    let ob = onebox();
    let client = ob.redis_client();
    let mut con = client.get_connection().expect("connect");
    let ids: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    let weights: Vec<String> = ids.iter().map(|i| format!("sw_{i}")).collect();
    let parts: std::collections::BTreeSet<u32> = weights
        .iter()
        .map(|k| partition_of(k.as_bytes(), PARTITIONS))
        .collect();
    assert!(parts.len() >= 3, "weights span partitions {parts:?}");
    let source = "sl";
    let dst = spread("sd", 8)
        .into_iter()
        .find(|k| {
            let p = partition_of(k.as_bytes(), PARTITIONS);
            p != partition_of(source.as_bytes(), PARTITIONS)
        })
        .expect("a destination elsewhere");
    let mut push = vec!["RPUSH", source];
    push.extend(ids.iter().map(String::as_str));
    raw(&mut con, &push);
    // Weight of element i after MSET number n: n*100 + (7 - i), so the
    // sorted order is 7..0 and every value names its MSET.
    let mset = |con: &mut redis::Connection, n: u64| {
        let mut c = redis::cmd("MSET");
        for (i, k) in weights.iter().enumerate() {
            c.arg(k).arg(n * 100 + (7 - i as u64));
        }
        let _: () = c.query(con).expect("MSET");
    };
    mset(&mut con, 1);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, client) = (stop.clone(), client.clone());
        let weights = weights.clone();
        thread::spawn(move || {
            let mut con = client.get_connection().expect("connect");
            let mut n = 1u64;
            while !stop.load(Ordering::Relaxed) && n < 300 {
                n += 1;
                let mut c = redis::cmd("MSET");
                for (i, k) in weights.iter().enumerate() {
                    c.arg(k).arg(n * 100 + (7 - i as u64));
                }
                let _: () = c.query(&mut con).expect("MSET");
            }
        })
    };
    let one_snapshot = |got: &[String]| {
        let vals: Vec<u64> = got.iter().map(|v| v.parse().expect("a weight")).collect();
        assert!(
            vals.windows(2).all(|w| w[0] / 100 == w[1] / 100),
            "mixed {vals:?}"
        );
        assert!(vals.windows(2).all(|w| w[0] < w[1]), "not sorted {vals:?}");
    };
    for round in 0..150 {
        if round % 2 == 0 {
            let got: Vec<String> = redis::cmd("SORT")
                .arg(source)
                .arg("BY")
                .arg("sw_*")
                .arg("GET")
                .arg("sw_*")
                .query(&mut con)
                .expect("SORT");
            assert_eq!(got.len(), 8);
            one_snapshot(&got);
        } else {
            let n: i64 = redis::cmd("SORT")
                .arg(source)
                .arg("BY")
                .arg("sw_*")
                .arg("GET")
                .arg("sw_*")
                .arg("STORE")
                .arg(&dst)
                .query(&mut con)
                .expect("SORT STORE");
            assert_eq!(n, 8);
            let got: Vec<String> = redis::cmd("LRANGE")
                .arg(&dst)
                .arg(0)
                .arg(-1)
                .query(&mut con)
                .expect("LRANGE");
            one_snapshot(&got);
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
}
