//! Malformed and hostile input over raw TCP: the proxy answers like Redis
//! (same protocol error text, same closed connection), never executes a
//! truncated command, does not reserve memory for declared lengths, and
//! keeps serving other connections after each case.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::sleep;
use std::time::Duration;

use support::script::{escape, Resp};
use support::{proc_status_bytes, run_checks, Onebox, RawConn, RedisOracle};

/// What a server did with some bytes: what it answered, and whether it
/// closed the connection (rather than waiting for more).
#[derive(PartialEq)]
struct Outcome {
    reply: Vec<u8>,
    closed: bool,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.closed {
            "then closed"
        } else {
            "connection left open"
        };
        write!(f, "\"{}\" {state}", escape(&self.reply))
    }
}

/// Sends `input` on a new connection (then half-closes if `eof`) and
/// collects the answer until the server closes or is silent for a second.
fn probe(port: u16, input: &[u8], eof: bool) -> Outcome {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    // The server may close before reading everything: a failed write is fine.
    let _ = s.write_all(input);
    if eof {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true,
        }
    };
    Outcome { reply, closed }
}

/// A fresh connection still gets PING, SET and GET answered.
fn assert_serves(port: u16, after: &str) {
    let mut c = RawConn::connect(port);
    c.set_timeout(Duration::from_secs(5));
    assert_eq!(c.cmd("PING"), "+PONG\r\n", "PING after {after}");
    let key = format!("mf:alive:{}", after.len());
    assert_eq!(
        c.cmd(&format!("SET {key} ok")),
        "+OK\r\n",
        "SET after {after}"
    );
    assert_eq!(
        c.cmd(&format!("GET {key}")),
        "$2\r\nok\r\n",
        "GET after {after}"
    );
}

/// Bytes Redis has an exact answer for; Petrel must answer the same.
fn redis_cases() -> Vec<(&'static str, Vec<u8>)> {
    let long = |prefix: &str| {
        let mut v = prefix.as_bytes().to_vec();
        v.resize(70 * 1024, b'1');
        v
    };
    vec![
        ("negative bulk length", b"*1\r\n$-5\r\n".to_vec()),
        ("huge bulk length", b"*1\r\n$99999999999\r\n".to_vec()),
        ("bulk length over 512 MB", b"*1\r\n$536870913\r\n".to_vec()),
        ("bulk length not a number", b"*1\r\n$abc\r\n".to_vec()),
        ("huge multibulk count", b"*99999999999\r\n".to_vec()),
        ("multibulk count over INT_MAX", b"*2147483648\r\n".to_vec()),
        ("multibulk count not a number", b"*abc\r\n".to_vec()),
        (
            "wrong type marker in a multibulk",
            b"*2\r\n$3\r\nGET\r\n:5\r\n".to_vec(),
        ),
        ("unterminated 70 KB inline line", vec![b'a'; 70 * 1024]),
        ("unterminated 70 KB multibulk count", long("*")),
        ("unterminated 70 KB bulk length", long("*1\r\n$")),
        (
            "inline line with unbalanced quotes",
            b"SET \"a b\r\n".to_vec(),
        ),
        ("a $ line outside a multibulk", b"$99999999999\r\n".to_vec()),
        (
            "empty and negative multibulks are skipped",
            b"*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n".to_vec(),
        ),
        ("inline commands", b"PING\r\nECHO hi\r\nPING\n\r\n".to_vec()),
    ]
}

fn same_as_redis(petrel: u16, redis: u16) {
    let mut diffs = Vec::new();
    for (name, bytes) in redis_cases() {
        let want = probe(redis, &bytes, false);
        let got = probe(petrel, &bytes, false);
        if want.reply.starts_with(b"-ERR Protocol error") {
            assert!(want.closed, "Redis closes after a protocol error ({name})");
        }
        if got != want {
            diffs.push(format!("{name}: redis {want:?}\n    petrel {got:?}"));
        }
        assert_serves(petrel, name);
    }
    assert!(
        diffs.is_empty(),
        "Petrel answers differently from Redis:\n{}",
        diffs.join("\n")
    );
}

fn truncated_frames_then_close(petrel: u16, redis: u16) {
    let cases: [&[u8]; 5] = [
        b"*3\r\n$3\r\nSET\r\n$7\r\nmf:trnc\r\n$5\r\nval",
        b"*3\r\n$3\r\nSET\r\n$7\r\nmf:trnc\r\n",
        b"*2\r\n$3\r\nGET",
        b"*5\r\n",
        b"*1\r\n$4\r\nPI",
    ];
    for bytes in cases {
        let name = format!("truncated frame {:?}", escape(bytes));
        let want = probe(redis, bytes, true);
        let got = probe(petrel, bytes, true);
        assert_eq!(
            want,
            Outcome {
                reply: Vec::new(),
                closed: true
            },
            "Redis on {name}"
        );
        assert_eq!(got, want, "{name} then EOF: no reply, connection closed");
        assert_serves(petrel, &name);
    }
    let mut c = RawConn::connect(petrel);
    assert_eq!(
        c.cmd("EXISTS mf:trnc"),
        ":0\r\n",
        "a truncated SET must not run"
    );
}

fn random_bytes(petrel: u16) {
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u8
    };
    for seed in 0..16 {
        let bytes: Vec<u8> = (0..4096).map(|_| next()).collect();
        let out = probe(petrel, &bytes, seed % 2 == 0);
        // Whatever came back must be well-formed RESP error replies.
        let raw = &out.reply;
        let mut pos = 0;
        while pos < raw.len() {
            let end = raw[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map(|p| pos + p + 2)
                .unwrap_or_else(|| panic!("seed {seed}: unterminated reply in {out:?}"));
            let reply = Resp::parse(&raw[pos..end])
                .unwrap_or_else(|e| panic!("seed {seed}: bad RESP ({e}) in {out:?}"));
            assert_eq!(
                reply.kind, b'-',
                "seed {seed}: random bytes got a non-error reply: {out:?}"
            );
            pos = end;
        }
        assert_serves(petrel, &format!("random bytes (seed {seed})"));
    }
}

fn declared_lengths_are_not_reserved(ob: &Onebox) {
    let pid = ob.pid_of("proxy");
    let rss_before = proc_status_bytes(pid, "VmRSS");
    let size_before = proc_status_bytes(pid, "VmSize");
    let mut hanging = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(("127.0.0.1", ob.proxy_port)).expect("connect");
        s.write_all(b"*1\r\n$536870000\r\nabcdefgh").expect("write");
        hanging.push(s);
    }
    sleep(Duration::from_secs(1));
    assert_serves(ob.proxy_port, "50 connections declaring 512 MB arguments");
    let rss_after = proc_status_bytes(pid, "VmRSS");
    let size_after = proc_status_bytes(pid, "VmSize");
    const MIB: u64 = 1024 * 1024;
    eprintln!(
        "proxy VmRSS {} -> {} MiB, VmSize {} -> {} MiB",
        rss_before / MIB,
        rss_after / MIB,
        size_before / MIB,
        size_after / MIB
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 64 * MIB,
        "proxy VmRSS grew by {} MiB for 50 half-sent 512 MB arguments",
        (rss_after - rss_before) / MIB
    );
    // 50 reservations of the declared 512 MB would add 25 GiB of address space.
    assert!(
        size_after.saturating_sub(size_before) < 8 * 1024 * MIB,
        "proxy VmSize grew by {} MiB: it reserves declared bulk lengths",
        (size_after - size_before) / MIB
    );
    drop(hanging);
    sleep(Duration::from_millis(200));
    assert_serves(ob.proxy_port, "closing the 50 hanging connections");
}

#[test]
fn malformed_input() {
    let ob = Onebox::start();
    let oracle = RedisOracle::start();
    let (petrel, redis) = (ob.proxy_port, oracle.port);
    run_checks(&[
        ("protocol errors answered as Redis does", &|| {
            same_as_redis(petrel, redis)
        }),
        ("truncated frames then close", &|| {
            truncated_frames_then_close(petrel, redis)
        }),
        ("seeded random bytes", &|| random_bytes(petrel)),
        ("declared lengths are not reserved", &|| {
            declared_lengths_are_not_reserved(&ob)
        }),
    ]);
}
