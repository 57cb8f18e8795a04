//! Interchangeable proxies: what a client changes through one proxy holds
//! through every other (DESIGN.md "Cluster-wide state"). ACL users set or
//! deleted through one proxy log in (or stop logging in) through another,
//! and survive a restart of every proxy; `CONFIG SET` through one proxy is
//! what `CONFIG GET` shows through another, and takes effect there. (SCAN cursors moving between
//! proxies: tests/tests/keyspace.rs.)

mod support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use support::cluster::{Cluster, ClusterOpts};

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

/// `AUTH user pass` on a fresh connection to `port`: the error text, if any.
fn auth(port: u16, user: &str, pass: &str) -> Result<(), String> {
    let mut con = connect(port);
    redis::cmd("AUTH")
        .arg(user)
        .arg(pass)
        .query::<()>(&mut con)
        .map_err(|e| e.to_string())
}

/// Waits (up to 10 s) until `AUTH` through `port` gives `want`.
fn until_auth(port: u16, user: &str, pass: &str, want: bool) -> Duration {
    let start = Instant::now();
    loop {
        let got = auth(port, user, pass);
        if got.is_ok() == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "AUTH {user} through port {port}: {got:?}, wanted success = {want}"
        );
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn acl_users_set_through_one_proxy_hold_through_every_other() {
    let mut cluster = Cluster::start(ClusterOpts::default());
    let a = cluster.proxy_port;
    let (second, b) = cluster.start_proxy();
    let mut con_a = connect(a);
    let ok: String = redis::cmd("ACL")
        .arg(
            &[
                "SETUSER", "Alice", "on", ">s3cret", "~app:*", "+get", "+set",
            ][..],
        )
        .query(&mut con_a)
        .expect("ACL SETUSER");
    assert_eq!(ok, "OK");
    // The proxy that took it serves it at once; the other within its sync.
    auth(a, "Alice", "s3cret").expect("AUTH where it was set");
    let took = until_auth(b, "Alice", "s3cret", true);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let err = auth(b, "alice", "s3cret").expect_err("user names have case");
    assert!(err.contains("WRONGPASS"), "{err}");
    // Its rules came along, not only its password.
    let mut con_b = connect(b);
    redis::cmd("AUTH")
        .arg("Alice")
        .arg("s3cret")
        .query::<()>(&mut con_b)
        .expect("AUTH");
    redis::cmd("SET")
        .arg("app:1")
        .arg("v")
        .query::<()>(&mut con_b)
        .expect("SET within its keys");
    let denied = redis::cmd("SET")
        .arg("other")
        .arg("v")
        .query::<()>(&mut con_b)
        .expect_err("outside its keys");
    assert!(denied.to_string().contains("no permissions"), "{denied}");
    let denied = redis::cmd("DEL")
        .arg("app:1")
        .query::<i64>(&mut con_b)
        .expect_err("not among its commands");
    assert!(denied.to_string().contains("no permissions"), "{denied}");
    let users: Vec<String> = redis::cmd("ACL")
        .arg("USERS")
        .query(&mut connect(b))
        .expect("ACL USERS");
    assert_eq!(users, ["Alice", "default"]);

    // A change through the other proxy comes back.
    redis::cmd("ACL")
        .arg(&["SETUSER", "Alice", "resetpass", ">n3w"][..])
        .query::<String>(&mut connect(b))
        .expect("ACL SETUSER");
    until_auth(a, "Alice", "n3w", true);
    assert!(
        auth(a, "Alice", "s3cret").is_err(),
        "the old password is gone"
    );

    // Every process restarted, and a proxy that never saw it: the user is
    // still there.
    drop(second);
    cluster.restart_all();
    cluster.wait_ready(Duration::from_secs(60));
    let (_third, b) = cluster.start_proxy();
    until_auth(a, "Alice", "n3w", true);
    until_auth(b, "Alice", "n3w", true);

    // Connections logged in as Alice, through both proxies.
    let logged_in = |port: u16| {
        let mut con = connect(port);
        redis::cmd("AUTH")
            .arg("Alice")
            .arg("n3w")
            .query::<()>(&mut con)
            .expect("AUTH");
        // (Alice may not run CLIENT; the default user looks.)
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut connect(port))
            .expect("CLIENT LIST");
        assert!(list.contains(" user=Alice "), "{list}");
        con
    };
    let (mut alice_a, mut alice_b) = (logged_in(a), logged_in(b));

    // Deleted through one, gone through both.
    let n: i64 = redis::cmd("ACL")
        .arg(&["DELUSER", "Alice", "nobody"][..])
        .query(&mut connect(a))
        .expect("ACL DELUSER");
    assert_eq!(n, 1);
    assert!(auth(a, "Alice", "n3w").is_err());
    until_auth(b, "Alice", "n3w", false);
    // Their connections are closed, as Redis closes a deleted user's.
    for (port, con) in [(a, &mut alice_a), (b, &mut alice_b)] {
        let start = Instant::now();
        while redis::cmd("PING").query::<String>(con).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "a connection of the deleted user through port {port} still answers"
            );
            sleep(Duration::from_millis(50));
        }
    }
    let err = redis::cmd("ACL")
        .arg(&["DELUSER", "default"][..])
        .query::<i64>(&mut connect(b))
        .expect_err("default stays");
    assert!(err.to_string().contains("cannot be removed"), "{err}");
}

/// `CONFIG GET name` through `port`: the value.
fn config_get(port: u16, name: &str) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(&mut connect(port))
        .expect("CONFIG GET");
    pair.get(1).cloned().unwrap_or_default()
}

#[test]
fn config_set_through_one_proxy_holds_through_every_other() {
    let mut cluster = Cluster::start(ClusterOpts::default());
    let a = cluster.proxy_port;
    let (_second, b) = cluster.start_proxy();
    let ok: String = redis::cmd("CONFIG")
        .arg(
            &[
                "SET",
                "hash-max-listpack-entries",
                "300",
                "slowlog-max-len",
                "77",
            ][..],
        )
        .query(&mut connect(a))
        .expect("CONFIG SET");
    assert_eq!(ok, "OK");
    // Read back through the other proxy at once (CONFIG GET asks meta).
    assert_eq!(config_get(b, "hash-max-listpack-entries"), "300");
    assert_eq!(config_get(b, "hash-max-ziplist-entries"), "300");
    assert_eq!(config_get(b, "slowlog-max-len"), "77");
    // A parameter the proxy acts on takes effect there without a CONFIG
    // GET: a password set through one proxy is asked for by the other.
    redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "pw"][..])
        .query::<String>(&mut connect(a))
        .expect("CONFIG SET requirepass");
    let start = Instant::now();
    loop {
        let refused = redis::cmd("GET")
            .arg("k")
            .query::<Option<String>>(&mut connect(b))
            .is_err();
        if refused {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the other proxy still serves without the password"
        );
        sleep(Duration::from_millis(50));
    }
    auth(b, "default", "pw").expect("AUTH with the new password");
    // Refused values change nothing anywhere.
    let mut admin = connect(a);
    redis::cmd("AUTH")
        .arg("pw")
        .query::<()>(&mut admin)
        .expect("AUTH");
    let err = redis::cmd("CONFIG")
        .arg(&["SET", "slowlog-max-len", "-5"][..])
        .query::<String>(&mut admin)
        .expect_err("out of range");
    assert!(err.to_string().contains("slowlog-max-len"), "{err}");
    let shown: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", "slowlog-max-len"][..])
        .query(&mut admin)
        .expect("CONFIG GET");
    assert_eq!(shown, ["slowlog-max-len", "77"]);
}
