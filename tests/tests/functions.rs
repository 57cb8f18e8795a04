//! Scripts and function libraries are cluster-wide and durable: meta keeps
//! them, so what one proxy loads another serves, a whole-cluster restart
//! keeps them, and a flush through one proxy reaches the others.

mod support;

use std::time::{Duration, Instant};

use support::cluster::{Cluster, ClusterOpts};

const LIBRARY: &str = "#!lua name=shared\n\
    redis.register_function('bump', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)";
const SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

fn query(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match query(con, args) {
        Ok(redis::Value::Int(n)) => n,
        other => panic!("{args:?}: expected an integer, got {other:?}"),
    }
}

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("connect")
}

#[test]
fn libraries_and_scripts_are_cluster_wide_and_survive_a_restart() {
    let mut c = Cluster::start(ClusterOpts {
        servers: 1,
        replicas: 1,
        ..ClusterOpts::default()
    });
    let (mut other, other_port) = c.start_proxy();
    let mut a = connect(c.proxy_port);
    let mut b = connect(other_port);

    // Loaded through A, served by B at once (B asks meta for a function
    // it does not know).
    let name: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(LIBRARY)
        .query(&mut a)
        .expect("FUNCTION LOAD");
    assert_eq!(name, "shared");
    assert_eq!(int(&mut b, &["FCALL", "bump", "1", "fn:k", "5"]), 5);
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query(&mut a)
        .expect("SCRIPT LOAD");
    assert_eq!(int(&mut b, &["EVALSHA", &sha, "1", "fn:n"]), 1);
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&sha)
        .query(&mut b)
        .expect("SCRIPT EXISTS");
    assert_eq!(exists, vec![1]);
    // Loading it again through B: Redis's error, from meta.
    let again = query(&mut b, &["FUNCTION", "LOAD", LIBRARY]).expect_err("exists");
    assert!(
        again
            .to_string()
            .contains("Library 'shared' already exists"),
        "{again}"
    );

    // Every process of the cluster restarts: both are still there.
    drop((a, b));
    other.kill();
    c.restart_all();
    other
        .start()
        .unwrap_or_else(|e| panic!("restarting the second proxy: {e:#}"));
    let mut a = connect(c.proxy_port);
    let mut b = connect_when_up(other_port);
    assert_eq!(int(&mut a, &["FCALL", "bump", "1", "fn:k", "1"]), 6);
    let ro = query(&mut b, &["FCALL_RO", "bump", "1", "fn:k", "1"]).expect_err("writes");
    assert!(ro.to_string().contains("write flag"), "{ro}");
    assert_eq!(int(&mut b, &["EVALSHA", &sha, "1", "fn:n"]), 2);

    // Flushed through A: B learns of it within a map refresh.
    assert_eq!(
        query(&mut b, &["FCALL", "bump", "1", "fn:k", "1"]).expect("FCALL"),
        redis::Value::Int(7)
    );
    let ok: String = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut a)
        .expect("FUNCTION FLUSH");
    assert_eq!(ok, "OK");
    let _: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut a)
        .expect("SCRIPT FLUSH");
    let start = Instant::now();
    loop {
        let r = query(&mut b, &["FCALL", "bump", "1", "fn:k", "1"]);
        match r {
            Err(e) if e.to_string().contains("Function not found") => break,
            other => assert!(
                start.elapsed() < Duration::from_secs(10),
                "FCALL through B still answers {other:?} 10 s after FUNCTION FLUSH through A"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone = query(&mut b, &["EVALSHA", &sha, "1", "fn:n"]).expect_err("flushed");
    assert!(gone.to_string().contains("No matching script"), "{gone}");
    other.kill();
}

/// A connection to a proxy that is still starting.
fn connect_when_up(port: u16) -> redis::Connection {
    let start = Instant::now();
    loop {
        if let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .expect("client")
            .get_connection()
        {
            if query(&mut con, &["DBSIZE"]).is_ok() {
                return con;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the second proxy did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
