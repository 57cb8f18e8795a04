//! Acknowledged writes survive kill -9 of every server.

mod support;

use std::time::Duration;

use support::Onebox;

#[test]
fn acknowledged_writes_survive_kill_9_of_every_server() {
    let mut ob = Onebox::start();
    let dir = ob.dir.clone();
    let (proxy, meta, server) = (ob.proxy_port, ob.meta_port, ob.server_port);
    // Keep the temporary directory alive across the restart below.
    let tmp = ob.take_tmp();
    let mut con = ob.redis_client().get_connection().expect("connect");
    let mut acked = Vec::new();
    for i in 0..500 {
        let key = format!("durable:{i}");
        let value = format!("v{i}");
        let r: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(&value).query(&mut con);
        r.expect("SET acknowledged");
        acked.push((key, value));
    }
    let counter: i64 = redis::cmd("INCRBY")
        .arg("durable:counter")
        .arg(41)
        .query(&mut con)
        .expect("INCRBY");
    assert_eq!(counter, 41);
    let servers = ob.pids_of("server");
    assert_eq!(servers.len(), 3, "{:?}", ob.lines);
    for pid in &servers {
        // SAFETY: signalling processes this test's onebox started.
        unsafe {
            libc::kill(*pid as libc::pid_t, libc::SIGKILL);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    ob.stop();
    drop(con);

    let ob = Onebox::start_in(&dir, proxy, meta, server);
    let mut con = ob.redis_client().get_connection().expect("reconnect");
    for (key, value) in &acked {
        let got: Option<String> = redis::cmd("GET").arg(key).query(&mut con).expect("GET");
        assert_eq!(
            got.as_deref(),
            Some(value.as_str()),
            "{key} lost after kill -9"
        );
    }
    let counter: i64 = redis::cmd("INCR")
        .arg("durable:counter")
        .query(&mut con)
        .expect("INCR");
    assert_eq!(counter, 42);
    drop(tmp);
}
