//! Pipelining: many commands written at once, over keys of every partition;
//! the replies must come back in request order with the values a
//! sequential execution gives (checked against a local model).

mod support;

use std::collections::HashMap;

use support::{encode_command, run_checks, Onebox, RawConn};

const COMMANDS: usize = 1000;

/// What one command must answer.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Ok,
    Nil,
    Bulk(String),
    Int(i64),
    Array(Vec<Option<String>>),
    NotInteger,
}

impl Expect {
    fn resp(&self) -> Vec<u8> {
        fn bulk(s: &str) -> String {
            format!("${}\r\n{s}\r\n", s.len())
        }
        match self {
            Expect::Ok => "+OK\r\n".to_string(),
            Expect::Nil => "$-1\r\n".to_string(),
            Expect::Bulk(s) => bulk(s),
            Expect::Int(n) => format!(":{n}\r\n"),
            Expect::Array(items) => {
                let mut out = format!("*{}\r\n", items.len());
                for it in items {
                    out.push_str(&it.as_deref().map_or("$-1\r\n".to_string(), bulk));
                }
                out
            }
            Expect::NotInteger => "-ERR value is not an integer or out of range\r\n".to_string(),
        }
        .into_bytes()
    }

    fn matches(&self, v: &redis::Value) -> bool {
        use redis::Value;
        let bulk_is = |v: &Value, s: &str| matches!(v, Value::BulkString(b) if b == s.as_bytes());
        match (self, v) {
            (Expect::Ok, Value::Okay) | (Expect::Nil, Value::Nil) => true,
            (Expect::Bulk(s), v) => bulk_is(v, s),
            (Expect::Int(n), Value::Int(m)) => n == m,
            (Expect::Array(items), Value::Array(vs)) => {
                items.len() == vs.len()
                    && items.iter().zip(vs).all(|(i, v)| match i {
                        None => matches!(v, Value::Nil),
                        Some(s) => bulk_is(v, s),
                    })
            }
            (Expect::NotInteger, Value::ServerError(e)) => {
                format!("{e:?}").contains("not an integer")
            }
            _ => false,
        }
    }
}

/// A small deterministic generator (no extra dependency needed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `n` commands over keys starting with `prefix`, with the replies a
/// sequential execution gives. `errors` allows commands that fail (INCR on
/// a non-integer string).
fn workload(prefix: &str, n: usize, seed: u64, errors: bool) -> Vec<(Vec<String>, Expect)> {
    let mut rng = Lcg(seed);
    let mut model: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("{prefix}k{}", rng.below(64));
        let ctr = format!("{prefix}c{}", rng.below(16));
        let op = rng.below(10);
        let (cmd, expect) = match op {
            0..=2 => {
                let val = format!("v{i}-{}", rng.below(1_000_000));
                model.insert(key.clone(), val.clone());
                (vec!["SET".into(), key, val], Expect::Ok)
            }
            3 | 4 => {
                let e = model
                    .get(&key)
                    .map_or(Expect::Nil, |v| Expect::Bulk(v.clone()));
                (vec!["GET".into(), key], e)
            }
            5 | 6 => {
                let next = model
                    .get(&ctr)
                    .map_or(0, |v| v.parse::<i64>().expect("counter"))
                    + 1;
                model.insert(ctr.clone(), next.to_string());
                (vec!["INCR".into(), ctr], Expect::Int(next))
            }
            7 | 8 => {
                let keys: Vec<String> = (0..1 + rng.below(8))
                    .map(|_| {
                        format!(
                            "{prefix}{}{}",
                            ["k", "c"][rng.below(2) as usize],
                            rng.below(64)
                        )
                    })
                    .collect();
                let vals = keys.iter().map(|k| model.get(k).cloned()).collect();
                let mut cmd = vec!["MGET".to_string()];
                cmd.extend(keys);
                (cmd, Expect::Array(vals))
            }
            _ if errors && model.get(&key).is_some_and(|v| v.starts_with('v')) => {
                (vec!["INCR".into(), key], Expect::NotInteger)
            }
            _ => {
                let e = model
                    .get(&ctr)
                    .map_or(Expect::Nil, |v| Expect::Bulk(v.clone()));
                (vec!["GET".into(), ctr], e)
            }
        };
        out.push((cmd, expect));
    }
    out
}

/// Writes the whole workload in one write on one connection and checks every reply.
fn raw_pipeline(port: u16, prefix: &str, seed: u64) {
    let work = workload(prefix, COMMANDS, seed, true);
    let mut bytes = Vec::new();
    for (cmd, _) in &work {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        bytes.extend(encode_command(&args));
    }
    let mut conn = RawConn::connect(port);
    conn.send_raw(&bytes);
    for (i, (cmd, expect)) in work.iter().enumerate() {
        let got = conn.read_reply();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expect.resp()),
            "reply #{i} of the pipeline (to {cmd:?}) is wrong or out of order"
        );
    }
}

/// The same through the `redis` crate's pipeline API.
fn crate_pipeline(client: &redis::Client, prefix: &str, seed: u64) {
    let work = workload(prefix, COMMANDS, seed, false);
    let mut pipe = redis::pipe();
    for (cmd, _) in &work {
        let mut c = redis::cmd(&cmd[0]);
        for a in &cmd[1..] {
            c.arg(a);
        }
        pipe.add_command(c);
    }
    let mut con = client
        .get_connection()
        .expect("connect with the redis crate");
    let replies: Vec<redis::Value> = pipe.query(&mut con).expect("pipeline");
    assert_eq!(replies.len(), work.len(), "one reply per pipelined command");
    for (i, ((cmd, expect), got)) in work.iter().zip(&replies).enumerate() {
        assert!(
            expect.matches(got),
            "reply #{i} (to {cmd:?}): expected {expect:?}, got {got:?}"
        );
    }
}

#[test]
fn pipelines_answer_in_request_order() {
    let ob = Onebox::start();
    let port = ob.proxy_port;
    let client = ob.redis_client();
    run_checks(&[
        ("one write of 1000 commands on one connection", &|| {
            raw_pipeline(port, "pl:raw:", 1)
        }),
        ("redis crate pipeline of 1000 commands", &|| {
            crate_pipeline(&client, "pl:crate:", 2)
        }),
        ("eight raw and four crate pipelines at once", &|| {
            std::thread::scope(|s| {
                let mut handles = Vec::new();
                for t in 0..8u64 {
                    handles
                        .push(s.spawn(move || raw_pipeline(port, &format!("pl:par{t}:"), 100 + t)));
                }
                for t in 0..4u64 {
                    let client = &client;
                    handles.push(
                        s.spawn(move || crate_pipeline(client, &format!("pl:cpar{t}:"), 200 + t)),
                    );
                }
                let failed = handles
                    .into_iter()
                    .map(|h| h.join())
                    .filter(Result::is_err)
                    .count();
                assert_eq!(
                    failed, 0,
                    "{failed} concurrent pipelines failed (see panics above)"
                );
            });
        }),
    ]);
}

#[test]
fn workload_is_mixed() {
    let work = workload("x:", COMMANDS, 1, true);
    let count = |name: &str| work.iter().filter(|(c, _)| c[0] == name).count();
    for name in ["SET", "GET", "INCR", "MGET"] {
        assert!(
            count(name) > 50,
            "{name} appears only {} times",
            count(name)
        );
    }
    assert!(work.iter().any(|(_, e)| *e == Expect::NotInteger));
    assert!(work.iter().any(|(_, e)| matches!(e, Expect::Bulk(_))));
    assert!(work
        .iter()
        .any(|(_, e)| matches!(e, Expect::Array(v) if v.iter().any(Option::is_some))));
}
