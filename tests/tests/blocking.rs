//! Blocking pops across proxies: a client blocked in BLPOP on one proxy is
//! woken by a push sent through another proxy (the primary retries the pop
//! after every applied write), a timeout answers nil on time, and a pop
//! that finds data answers at once.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::{Onebox, OneboxOpts};

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
