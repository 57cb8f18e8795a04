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
