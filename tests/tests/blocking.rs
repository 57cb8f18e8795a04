//! Blocking pops across proxies: a client blocked in BLPOP on one proxy is
//! woken by a push sent through another proxy (the primary retries the pop
//! after every applied write), a timeout answers nil on time, and a pop
//! that finds data answers at once.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::{Onebox, OneboxOpts, RawConn};

#[test]
fn blocked_pops_wake_on_writes_from_any_proxy() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    // The onebox's second proxy.
    let other = ob.proxy_ports()[1];
    let mut here = ob.redis_client().get_connection().expect("connect");

    // Data present: no wait.
    redis::cmd("RPUSH")
        .arg("q")
        .arg("ready")
        .query::<()>(&mut here)
        .expect("RPUSH");
    let got: (String, String) = redis::cmd("BLPOP")
        .arg("q")
        .arg(5)
        .query(&mut here)
        .expect("BLPOP");
    assert_eq!(got, ("q".into(), "ready".into()));

    // Nothing there: nil after the timeout, not long after.
    let started = Instant::now();
    let none: Option<(String, String)> = redis::cmd("BLPOP")
        .arg("empty")
        .arg("0.5")
        .query(&mut here)
        .expect("BLPOP timeout");
    let waited = started.elapsed();
    assert_eq!(none, None);
    assert!(
        waited >= Duration::from_millis(450),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "returned late: {waited:?}");

    // Woken by a push through the other proxy, well before the timeout,
    // including after waiting past the servers' 2 s slice.
    for delay_ms in [300u64, 2_600] {
        let port = other;
        let pusher = thread::spawn(move || {
            thread::sleep(Duration::from_millis(delay_ms));
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .and_then(|c| c.get_connection())
                .expect("connect to the other proxy");
            redis::cmd("LPUSH")
                .arg("jobs")
                .arg(format!("job-{delay_ms}"))
                .query::<()>(&mut c)
                .expect("LPUSH");
            Instant::now()
        });
        let got: (String, String) = redis::cmd("BLPOP")
            .arg("jobs")
            .arg(0)
            .query(&mut here)
            .expect("BLPOP woken");
        let woke = Instant::now();
        let pushed = pusher.join().expect("pusher");
        assert_eq!(got.1, format!("job-{delay_ms}"));
        let lag = woke.saturating_duration_since(pushed);
        assert!(
            lag < Duration::from_millis(500),
            "woke {lag:?} after the push"
        );
    }

    // Two blocked clients, two pushes: each gets one item, none lost.
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let client = ob.redis_client();
            thread::spawn(move || {
                let mut c = client.get_connection().expect("connect");
                let got: (String, String) = redis::cmd("BRPOP")
                    .arg("pair")
                    .arg(10)
                    .query(&mut c)
                    .expect("BRPOP");
                got.1
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{}/", other))
        .and_then(|c| c.get_connection())
        .expect("connect");
    redis::cmd("LPUSH")
        .arg("pair")
        .arg("a")
        .arg("b")
        .query::<()>(&mut c)
        .expect("LPUSH");
    let mut got: Vec<String> = waiters
        .into_iter()
        .map(|w| w.join().expect("waiter"))
        .collect();
    got.sort();
    assert_eq!(got, vec!["a".to_string(), "b".to_string()]);
}

/// Clients blocked on one list across two proxies are served first come,
/// first served, even after the servers' 2 s slice has restarted their
/// waits in another order; they show as blocked (INFO, CLIENT LIST), and
/// CLIENT UNBLOCK releases one as if timed out or with an error.
#[test]
fn blocked_clients_are_served_in_order_shown_and_unblocked() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    // Three clients block on `line`, 400 ms apart, alternating proxies.
    let mut blocked = Vec::new();
    for (i, port) in [ports[0], ports[1], ports[0]].into_iter().enumerate() {
        let mut c = RawConn::connect(port);
        c.send(&[b"BLPOP", b"line", b"0"]);
        blocked.push(c);
        if i < 2 {
            thread::sleep(Duration::from_millis(400));
        }
    }
    // Past a slice: the first waiter asked again after the second.
    thread::sleep(Duration::from_millis(2_300));
    let mut admin = RawConn::connect(ports[0]);
    let info = admin.cmd("INFO clients");
    assert!(info.contains("blocked_clients:2\r\n"), "{info}");
    let list = admin.cmd("CLIENT LIST");
    assert_eq!(list.matches("flags=b ").count(), 2, "{list}");
    assert_eq!(admin.cmd("RPUSH line 1 2 3"), ":3\r\n");
    for (i, c) in blocked.iter_mut().enumerate() {
        let want = format!("*2\r\n$4\r\nline\r\n$1\r\n{}\r\n", i + 1);
        assert_eq!(
            String::from_utf8_lossy(&c.read_reply()),
            want,
            "client {i} in line"
        );
    }

    // CLIENT UNBLOCK: as if timed out, or with an error; 0 for a client
    // that does not block.
    for (reason, want) in [
        ("TIMEOUT", "*-1\r\n"),
        (
            "ERROR",
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
        ),
    ] {
        let mut c = RawConn::connect(ports[1]);
        let id = c.cmd("CLIENT ID");
        let id = id.trim_start_matches(':').trim();
        c.send(&[b"BLPOP", b"nothing", b"0"]);
        thread::sleep(Duration::from_millis(300));
        let mut other = RawConn::connect(ports[1]);
        assert_eq!(
            other.cmd(&format!("CLIENT UNBLOCK {id} {reason}")),
            ":1\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&c.read_reply()), want, "{reason}");
        assert_eq!(other.cmd(&format!("CLIENT UNBLOCK {id}")), ":0\r\n");
    }

    // CLIENT KILL TYPE pubsub closes subscribers only.
    let mut sub = RawConn::connect(ports[0]);
    sub.call(&[b"SUBSCRIBE", b"c"]);
    let info = admin.cmd("INFO clients");
    assert!(info.contains("pubsub_clients:1\r\n"), "{info}");
    assert_eq!(admin.cmd("CLIENT KILL TYPE pubsub"), ":1\r\n");
    assert!(sub.try_read_reply().is_none(), "the subscriber was closed");
    assert_eq!(admin.cmd("PING"), "+PONG\r\n");
}

/// The RESP2 reply of XREAD with one stream holding one entry `id f v`.
fn one_entry(key: &str, id: &str, value: &str) -> String {
    format!(
        "*1\r\n*2\r\n${}\r\n{key}\r\n*1\r\n*2\r\n${}\r\n{id}\r\n*2\r\n$1\r\nf\r\n${}\r\n{value}\r\n",
        key.len(),
        id.len(),
        value.len()
    )
}

/// XREAD BLOCK and XREADGROUP BLOCK wait like the blocking pops: woken by
/// XADD through another proxy (also past the servers' 2 s slice, `$` still
/// meaning "after the last entry when the client asked"), nil on timeout,
/// group readers served first come, first served, each entry once.
#[test]
fn blocked_stream_reads_wake_on_writes_from_any_proxy() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut writer = RawConn::connect(ports[1]);
    assert_eq!(writer.cmd("XADD s 1-0 f old"), "$3\r\n1-0\r\n");

    for (n, delay_ms) in [(2u64, 300u64), (3, 2_600)] {
        let mut reader = RawConn::connect(ports[0]);
        reader.set_timeout(Duration::from_secs(10));
        reader.send(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
        thread::sleep(Duration::from_millis(delay_ms));
        let id = format!("{n}-0");
        let value = format!("new{n}");
        let added = writer.cmd(&format!("XADD s {id} f {value}"));
        assert_eq!(added, format!("$3\r\n{id}\r\n"));
        let pushed = Instant::now();
        let got = String::from_utf8_lossy(&reader.read_reply()).into_owned();
        assert_eq!(got, one_entry("s", &id, &value), "after {delay_ms} ms");
        assert!(pushed.elapsed() < Duration::from_millis(500));
    }

    // Timeout: nil, on time.
    let mut reader = RawConn::connect(ports[0]);
    let started = Instant::now();
    assert_eq!(reader.cmd("XREAD BLOCK 500 STREAMS s nokey $ $"), "*-1\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // Two consumers of one group wait on two proxies; two entries come one
    // XADD at a time: the first to ask gets the first.
    assert_eq!(writer.cmd("XGROUP CREATE s g $"), "+OK\r\n");
    let mut waiting = Vec::new();
    for (i, port) in [ports[0], ports[1]].into_iter().enumerate() {
        let mut c = RawConn::connect(port);
        c.set_timeout(Duration::from_secs(10));
        let name = format!("c{i}");
        c.send(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            name.as_bytes(),
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"s",
            b">",
        ]);
        waiting.push(c);
        thread::sleep(Duration::from_millis(300));
    }
    for (i, c) in waiting.iter_mut().enumerate() {
        let id = format!("{}-0", 10 + i);
        writer.cmd(&format!("XADD s {id} f g{i}"));
        let got = String::from_utf8_lossy(&c.read_reply()).into_owned();
        assert_eq!(got, one_entry("s", &id, &format!("g{i}")), "consumer {i}");
    }
    // XREADGROUP wrote the group's pending entries (idle times vary).
    let pending = writer.cmd("XPENDING s g - + 10");
    assert!(
        pending.starts_with("*2\r\n*4\r\n$4\r\n10-0\r\n$2\r\nc0\r\n")
            && pending.contains("$4\r\n11-0\r\n$2\r\nc1\r\n"),
        "{pending}"
    );
}

/// A client blocked in XREAD follows a failover: its primary is killed
/// (kill -9), and an XADD at the new primary, through the other proxy,
/// wakes it; the group state written before the kill is still there.
#[test]
fn a_blocked_xread_follows_a_failover() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut writer = RawConn::connect(ports[1]);
    writer.set_timeout(Duration::from_secs(30));
    assert_eq!(writer.cmd("XADD fo 1-0 f old"), "$3\r\n1-0\r\n");
    assert_eq!(writer.cmd("XGROUP CREATE fo g 0"), "+OK\r\n");
    assert!(writer
        .cmd("XREADGROUP GROUP g c STREAMS fo >")
        .contains("old"));

    let mut reader = RawConn::connect(ports[0]);
    reader.set_timeout(Duration::from_secs(60));
    reader.send(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"fo", b"$"]);
    thread::sleep(Duration::from_millis(300));

    let primary = ob.admin().locate("fo").primary;
    let pid = ob
        .lines
        .iter()
        .find(|l| l.starts_with("server") && l.contains(&primary))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|p| p.parse::<i32>().ok())
        .unwrap_or_else(|| panic!("no pid for {primary} in {:?}", ob.lines));
    // SAFETY: signalling a process this test's onebox started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    // Add once the partition has a new primary (a refused or unknown
    // outcome is tried again; "equal or smaller" means an earlier try
    // was applied).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = writer.cmd("XADD fo 2-0 f new");
        if reply == "$3\r\n2-0\r\n" || reply.contains("equal or smaller") {
            break;
        }
        assert!(Instant::now() < deadline, "no primary took over: {reply}");
        thread::sleep(Duration::from_millis(200));
    }
    let got = String::from_utf8_lossy(&reader.read_reply()).into_owned();
    assert_eq!(got, one_entry("fo", "2-0", "new"));
    let pending = writer.cmd("XPENDING fo g");
    assert!(
        pending.starts_with("*4\r\n:1\r\n$3\r\n1-0\r\n$3\r\n1-0\r\n"),
        "{pending}"
    );
}
