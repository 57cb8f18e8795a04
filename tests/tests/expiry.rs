//! Expiry as time passes: keys vanish when their TTL runs out, PERSIST
//! really removes the expiry, TTL/PTTL fall in the right ranges, and expired
//! keys are not counted by DBSIZE/EXISTS.

mod support;

use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{run_checks, Onebox, RawConn};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Sends a space-separated command; returns the reply text.
fn cmd(c: &mut RawConn, line: &str) -> String {
    c.cmd(line)
}

/// The integer of an integer reply.
fn int(c: &mut RawConn, line: &str) -> i64 {
    let r = c.cmd(line);
    r.strip_prefix(':')
        .and_then(|s| s.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("{line}: expected an integer reply, got {r:?}"))
}

fn assert_in(what: &str, v: i64, range: std::ops::RangeInclusive<i64>) {
    assert!(
        range.contains(&v),
        "{what} = {v}, expected within {range:?}"
    );
}

/// On a fresh cluster: five keys with PX 200 stop counting once expired.
fn expired_keys_not_counted(c: &mut RawConn) {
    assert_eq!(int(c, "DBSIZE"), 0, "a fresh cluster is empty");
    // Names chosen to spread over partitions.
    let live = ["ex:live:a", "ex:live:b", "ex:live:c"];
    let dying = [
        "ex:dying:1",
        "ex:dying:2",
        "ex:dying:3",
        "ex:dying:4",
        "ex:dying:5",
    ];
    for k in live {
        assert_eq!(cmd(c, &format!("SET {k} v")), "+OK\r\n");
    }
    for k in dying {
        assert_eq!(cmd(c, &format!("SET {k} v PX 200")), "+OK\r\n");
    }
    assert_eq!(int(c, "DBSIZE"), 8, "all keys are live right after SET");
    let all = [&live[..], &dying[..]].concat().join(" ");
    assert_eq!(int(c, &format!("EXISTS {all}")), 8);
    sleep(Duration::from_millis(400));
    assert_eq!(int(c, "DBSIZE"), 3, "DBSIZE must count only live keys");
    assert_eq!(
        int(c, &format!("EXISTS {all}")),
        3,
        "EXISTS must not count expired keys"
    );
    assert_eq!(
        cmd(c, "MGET ex:live:a ex:dying:1 ex:dying:5"),
        "*3\r\n$1\r\nv\r\n$-1\r\n$-1\r\n"
    );
    // An expired key is absent for writes too.
    assert_eq!(
        cmd(c, "SET ex:dying:1 again NX"),
        "+OK\r\n",
        "SET NX on an expired key"
    );
    assert_eq!(
        int(c, "INCR ex:dying:2"),
        1,
        "INCR on an expired key starts from 0"
    );
    assert_eq!(
        cmd(c, "GETSET ex:dying:3 x"),
        "$-1\r\n",
        "GETSET on an expired key"
    );
    assert_eq!(int(c, "TTL ex:dying:1"), -1, "the new key has no TTL");
    assert_eq!(int(c, "DBSIZE"), 6);
    assert_eq!(
        int(c, "DEL ex:dying:4 ex:dying:5"),
        0,
        "DEL of expired keys deletes nothing"
    );
}

fn px_then_get(c: &mut RawConn) {
    assert_eq!(cmd(c, "SET ex:px v PX 300"), "+OK\r\n");
    assert_eq!(
        cmd(c, "GET ex:px"),
        "$1\r\nv\r\n",
        "GET before the TTL runs out"
    );
    assert_in("PTTL", int(c, "PTTL ex:px"), 1..=300);
    assert_in("TTL", int(c, "TTL ex:px"), 0..=1);
    sleep(Duration::from_millis(500));
    assert_eq!(cmd(c, "GET ex:px"), "$-1\r\n", "GET after the TTL ran out");
    assert_eq!(int(c, "EXISTS ex:px"), 0);
    assert_eq!(int(c, "TTL ex:px"), -2);
    assert_eq!(int(c, "PTTL ex:px"), -2);
    assert_eq!(cmd(c, "TYPE ex:px"), "+none\r\n");
    assert_eq!(int(c, "STRLEN ex:px"), 0);
}

fn expire_then_persist(c: &mut RawConn) {
    assert_eq!(cmd(c, "SET ex:persist v"), "+OK\r\n");
    assert_eq!(int(c, "EXPIRE ex:persist 1"), 1);
    assert_in("TTL", int(c, "TTL ex:persist"), 0..=1);
    assert_eq!(int(c, "PERSIST ex:persist"), 1);
    assert_eq!(int(c, "TTL ex:persist"), -1);
    assert_eq!(int(c, "PTTL ex:persist"), -1);
    assert_eq!(int(c, "PERSIST ex:persist"), 0, "nothing left to persist");
    sleep(Duration::from_millis(1300));
    assert_eq!(
        cmd(c, "GET ex:persist"),
        "$1\r\nv\r\n",
        "PERSIST must remove the expiry for good"
    );
}

fn writes_keep_or_clear_ttl(c: &mut RawConn) {
    // KEEPTTL, APPEND, INCR and SETRANGE keep the TTL; plain SET clears it.
    assert_eq!(cmd(c, "SET ex:keep v PX 300"), "+OK\r\n");
    assert_eq!(cmd(c, "SET ex:keep w KEEPTTL"), "+OK\r\n");
    assert_eq!(cmd(c, "SET ex:append a PX 300"), "+OK\r\n");
    assert_eq!(int(c, "APPEND ex:append b"), 2);
    assert_eq!(cmd(c, "SET ex:incr 1 PX 300"), "+OK\r\n");
    assert_eq!(int(c, "INCR ex:incr"), 2);
    assert_eq!(cmd(c, "SET ex:clear v PX 300"), "+OK\r\n");
    assert_eq!(cmd(c, "SET ex:clear w"), "+OK\r\n");
    assert_eq!(cmd(c, "SET ex:getex v"), "+OK\r\n");
    assert_eq!(cmd(c, "GETEX ex:getex PX 300"), "$1\r\nv\r\n");
    sleep(Duration::from_millis(500));
    assert_eq!(
        cmd(c, "MGET ex:keep ex:append ex:incr ex:clear ex:getex"),
        "*5\r\n$-1\r\n$-1\r\n$-1\r\n$1\r\nw\r\n$-1\r\n"
    );
}

fn pexpireat_in_the_past_deletes(c: &mut RawConn) {
    assert_eq!(cmd(c, "SET ex:past v"), "+OK\r\n");
    let past = now_ms() - 1000;
    assert_eq!(int(c, &format!("PEXPIREAT ex:past {past}")), 1);
    assert_eq!(cmd(c, "GET ex:past"), "$-1\r\n");
    assert_eq!(int(c, "EXISTS ex:past"), 0);
    assert_eq!(
        int(c, &format!("PEXPIREAT ex:past {past}")),
        0,
        "the key is gone"
    );
    assert_eq!(cmd(c, "SET ex:past2 v"), "+OK\r\n");
    assert_eq!(
        int(c, &format!("EXPIREAT ex:past2 {}", now_ms() / 1000 - 10)),
        1
    );
    assert_eq!(int(c, "EXISTS ex:past2"), 0);
    assert_eq!(cmd(c, &format!("SET ex:past3 v PXAT {past}")), "+OK\r\n");
    assert_eq!(int(c, "EXISTS ex:past3"), 0);
}

fn ttl_ranges(c: &mut RawConn) {
    assert_eq!(cmd(c, "SET ex:ttl v EX 100"), "+OK\r\n");
    assert_in("TTL after EX 100", int(c, "TTL ex:ttl"), 99..=100);
    assert_in("PTTL after EX 100", int(c, "PTTL ex:ttl"), 98_000..=100_000);
    assert_eq!(int(c, "PEXPIRE ex:ttl 5000"), 1);
    assert_in(
        "PTTL after PEXPIRE 5000",
        int(c, "PTTL ex:ttl"),
        4_000..=5_000,
    );
    assert_in("TTL after PEXPIRE 5000", int(c, "TTL ex:ttl"), 4..=5);
    let at = now_ms() + 20_000;
    assert_eq!(int(c, &format!("PEXPIREAT ex:ttl {at}")), 1);
    assert_in(
        "PTTL after PEXPIREAT +20 s",
        int(c, "PTTL ex:ttl"),
        18_000..=20_000,
    );
    assert_eq!(int(c, "PEXPIRETIME ex:ttl"), at);
    assert_eq!(cmd(c, "SETEX ex:ttl2 50 v"), "+OK\r\n");
    assert_in("TTL after SETEX 50", int(c, "TTL ex:ttl2"), 49..=50);
    assert_eq!(cmd(c, "PSETEX ex:ttl2 1500 v"), "+OK\r\n");
    assert_in(
        "PTTL after PSETEX 1500",
        int(c, "PTTL ex:ttl2"),
        500..=1_500,
    );
    let exp = int(c, "PEXPIRETIME ex:ttl2");
    assert_in("PEXPIRETIME after PSETEX 1500", exp - now_ms(), 0..=1_500);
    assert_eq!(cmd(c, "GETEX ex:ttl2 EX 30"), "$1\r\nv\r\n");
    assert_in("TTL after GETEX EX 30", int(c, "TTL ex:ttl2"), 29..=30);
    assert_eq!(
        int(c, "EXPIRE ex:ttl2 10 GT"),
        0,
        "GT: 10 s is not greater than 30 s"
    );
    assert_eq!(int(c, "EXPIRE ex:ttl2 10 LT"), 1);
    assert_in("TTL after EXPIRE 10 LT", int(c, "TTL ex:ttl2"), 9..=10);
}

#[test]
fn expiry() {
    let ob = Onebox::start();
    // Each check on its own connection; the first needs the fresh, empty cluster.
    let ob = &ob;
    let with = |f: fn(&mut RawConn)| move || f(&mut ob.conn());
    run_checks(&[
        (
            "expired keys are not counted (fresh cluster)",
            &with(expired_keys_not_counted),
        ),
        ("SET PX 300 then GET before and after", &with(px_then_get)),
        ("EXPIRE then PERSIST", &with(expire_then_persist)),
        (
            "writes keep or clear the TTL",
            &with(writes_keep_or_clear_ttl),
        ),
        (
            "PEXPIREAT in the past deletes",
            &with(pexpireat_in_the_past_deletes),
        ),
        ("TTL and PTTL ranges", &with(ttl_ranges)),
    ]);
}
