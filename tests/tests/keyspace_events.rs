//! Keyspace notifications across a cluster (docs/PUBSUB.md "Keyspace
//! notifications"): `CONFIG SET notify-keyspace-events` through one proxy
//! holds for the whole cluster at once and is shown by every proxy; writes
//! through another proxy (one partition, across partitions, MULTI, scripts,
//! blocking pops, another database) publish their events after commit, to
//! subscribers on a third, and the background sweep publishes `expired`;
//! the setting survives a restart of every process.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use petrel_common::hash::partition_of;
use support::cluster::{Cluster, ClusterOpts};
use support::{Onebox, OneboxOpts, RawConn};

/// Every keyspace and keyevent channel of every database.
const ALL: &str = "__key*__:*";

/// A RESP array of bulk strings (a push as RESP2 sends it).
fn frame(items: &[&str]) -> Vec<u8> {
    let items: Vec<&[u8]> = items.iter().map(|i| i.as_bytes()).collect();
    support::encode_command(&items)
}

fn subscribe(port: u16, verb: &str, name: &str) -> RawConn {
    let mut c = RawConn::connect(port);
    let reply = c.call(&[verb.as_bytes(), name.as_bytes()]);
    let kind = verb.to_ascii_lowercase();
    assert_eq!(reply, frame_with_count(&kind, name), "{verb} {name}");
    c.set_timeout(Duration::from_secs(5));
    c
}

fn frame_with_count(kind: &str, name: &str) -> Vec<u8> {
    format!(
        "*3\r\n${}\r\n{kind}\r\n${}\r\n{name}\r\n:1\r\n",
        kind.len(),
        name.len()
    )
    .into_bytes()
}

/// The two frames a pattern subscriber to [`ALL`] gets for `event` on `key`
/// of database `db`: the keyspace one, then the keyevent one.
fn both(db: u32, event: &str, key: &str) -> [Vec<u8>; 2] {
    let space = format!("__keyspace@{db}__:{key}");
    let ev = format!("__keyevent@{db}__:{event}");
    [
        frame(&["pmessage", ALL, &space, event]),
        frame(&["pmessage", ALL, &ev, key]),
    ]
}

/// Reads the frames `events` ((event, key) of database 0) give, in order.
fn expect(sub: &mut RawConn, events: &[(&str, &str)]) {
    for (event, key) in events {
        for want in both(0, event, key) {
            let got = sub.read_reply();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{event} {key}"
            );
        }
    }
}

/// Reads the frames of `events` in any order (keys of several partitions).
fn expect_unordered(sub: &mut RawConn, events: &[(&str, &str)]) {
    let mut want: BTreeSet<Vec<u8>> = events.iter().flat_map(|(e, k)| both(0, e, k)).collect();
    while !want.is_empty() {
        let got = sub.read_reply();
        assert!(
            want.remove(&got),
            "unexpected {:?}; still waiting for {} frames",
            String::from_utf8_lossy(&got),
            want.len()
        );
    }
}

fn nothing(sub: &mut RawConn, wait: Duration) {
    sub.set_timeout(wait);
    if let Some(f) = sub.try_read_reply() {
        panic!("unexpected {:?}", String::from_utf8_lossy(&f));
    }
    sub.set_timeout(Duration::from_secs(5));
}

/// A key named from `prefix` whose partition (of 8) `pick` accepts.
fn key_in(prefix: &str, pick: impl Fn(u32) -> bool) -> String {
    (0..1000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| pick(partition_of(k.as_bytes(), 8)))
        .unwrap_or_else(|| panic!("no key for {prefix}"))
}

#[test]
fn events_of_writes_through_one_proxy_reach_subscribers_on_another() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(3),
        partitions: Some(8),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut writer = RawConn::connect(ports[0]);
    let mut sub = subscribe(ports[1], "PSUBSCRIBE", ALL);
    let mut admin = RawConn::connect(ports[2]);

    // Off by default: nothing is published.
    assert_eq!(writer.cmd("SET quiet 1"), "+OK\r\n");
    nothing(&mut sub, Duration::from_millis(300));

    // Set through the third proxy, shown by every one, effective at once.
    assert_eq!(
        admin.cmd("CONFIG SET notify-keyspace-events KEA"),
        "+OK\r\n"
    );
    for &port in &ports {
        let got = RawConn::connect(port).cmd("CONFIG GET notify-keyspace-events");
        assert_eq!(
            got, "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n",
            "proxy {port}"
        );
    }
    assert!(
        admin
            .cmd("CONFIG SET notify-keyspace-events KEQ")
            .starts_with("-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character."),
        "refused"
    );

    // One key: Redis's events, in order.
    assert_eq!(writer.cmd("SET k1 v"), "+OK\r\n");
    expect(&mut sub, &[("set", "k1")]);
    assert_eq!(writer.cmd("SADD k2 a"), ":1\r\n");
    expect(&mut sub, &[("sadd", "k2")]);
    assert_eq!(writer.cmd("SADD k2 a"), ":0\r\n");
    assert_eq!(writer.cmd("RPUSH k3 x"), ":1\r\n");
    expect(&mut sub, &[("rpush", "k3")]);
    assert_eq!(writer.cmd("RPOP k3"), "$1\r\nx\r\n");
    expect(&mut sub, &[("rpop", "k3"), ("del", "k3")]);

    // A MULTI block and a script on one partition: their commands' events,
    // in order, once they commit.
    assert_eq!(writer.cmd("MULTI"), "+OK\r\n");
    assert_eq!(writer.cmd("SET {t}a 1"), "+QUEUED\r\n");
    assert_eq!(writer.cmd("HSET {t}h f v"), "+QUEUED\r\n");
    assert_eq!(writer.cmd("INCR {t}a"), "+QUEUED\r\n");
    assert_eq!(writer.cmd("EXEC"), "*3\r\n+OK\r\n:1\r\n:2\r\n");
    expect(
        &mut sub,
        &[("set", "{t}a"), ("hset", "{t}h"), ("incrby", "{t}a")],
    );
    let script = "redis.call('DEL', KEYS[1]); return redis.call('ZADD', KEYS[2], 1, 'm')";
    let reply = writer.call(&[b"EVAL", script.as_bytes(), b"2", b"{t}a", b"{t}z"]);
    assert_eq!(reply, b":1\r\n");
    expect(&mut sub, &[("del", "{t}a"), ("zadd", "{t}z")]);

    // A blocked pop, served by a push through another proxy.
    let mut blocked = RawConn::connect(ports[2]);
    blocked.send(&[b"BLPOP", b"{t}q", b"5"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(writer.cmd("RPUSH {t}q job"), ":1\r\n");
    assert_eq!(blocked.read_reply(), frame(&["{t}q", "job"]));
    expect(
        &mut sub,
        &[("rpush", "{t}q"), ("lpop", "{t}q"), ("del", "{t}q")],
    );

    // Across partitions. RENAME runs whole at its source's partition,
    // which publishes all its events in order; the destination's own
    // channel reaches its subscribers at the destination's partition.
    let src = key_in("src", |p| p == 0);
    let dst = key_in("dst", |p| p == 5);
    let own = format!("__keyspace@0__:{dst}");
    let mut exact = subscribe(ports[1], "SUBSCRIBE", &own);
    assert_eq!(writer.cmd(&format!("SET {src} v")), "+OK\r\n");
    expect(&mut sub, &[("set", &src)]);
    assert_eq!(writer.cmd(&format!("RENAME {src} {dst}")), "+OK\r\n");
    expect(&mut sub, &[("rename_from", &src), ("rename_to", &dst)]);
    assert_eq!(exact.read_reply(), frame(&["message", &own, "rename_to"]));
    // A transaction over two partitions: each publishes its part at commit.
    let other = key_in("other", |p| p == 3);
    assert_eq!(writer.cmd(&format!("MSET {dst} 1 {other} 2")), "+OK\r\n");
    expect_unordered(&mut sub, &[("set", &dst), ("set", &other)]);
    assert_eq!(exact.read_reply(), frame(&["message", &own, "set"]));

    // Another database: its own channels, through database 0's brokers.
    let mut db1 = RawConn::connect(ports[0]);
    assert_eq!(db1.cmd("SELECT 1"), "+OK\r\n");
    assert_eq!(db1.cmd("SET k1 w"), "+OK\r\n");
    for want in both(1, "set", "k1") {
        assert_eq!(
            String::from_utf8_lossy(&sub.read_reply()),
            String::from_utf8_lossy(&want)
        );
    }

    // `expired` from the background sweep, with nobody reading the key.
    assert_eq!(writer.cmd("SET short v PX 100"), "+OK\r\n");
    expect(&mut sub, &[("set", "short"), ("expire", "short")]);
    let started = Instant::now();
    expect(&mut sub, &[("expired", "short")]);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Off again: nothing more.
    let off = admin.call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    assert_eq!(off, b"+OK\r\n");
    assert_eq!(writer.cmd("SET k1 again"), "+OK\r\n");
    nothing(&mut sub, Duration::from_millis(300));
}

#[test]
fn the_setting_survives_a_restart_of_every_process() {
    let mut c = Cluster::start(ClusterOpts::default());
    assert_eq!(
        c.conn().cmd("CONFIG SET notify-keyspace-events Kg$"),
        "+OK\r\n"
    );
    c.restart_all();
    c.wait_ready(Duration::from_secs(60));
    assert_eq!(
        c.conn().cmd("CONFIG GET notify-keyspace-events"),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\ng$K\r\n"
    );
    let mut sub = subscribe(c.proxy_port, "PSUBSCRIBE", ALL);
    let mut w = c.conn();
    // The restarted servers took the setting from meta before serving.
    assert_eq!(w.cmd("SET after v"), "+OK\r\n");
    assert_eq!(
        sub.read_reply(),
        frame(&["pmessage", ALL, "__keyspace@0__:after", "set"])
    );
}
