//! Pub/sub through real client libraries, unchanged, across several proxies
//! of one cluster (a onebox with `--proxies 3`): publisher and subscriber
//! connect to different proxies, so every message crosses the cluster.
//!
//! - node-redis 5 (npm `redis`): a `client.duplicate()` subscriber beside
//!   the publisher and one on another proxy; `subscribe`, `pSubscribe`,
//!   receiver counts of PUBLISH, PUBSUB introspection, unsubscribing. Run
//!   with its defaults (RESP2: node-redis 5 sends no HELLO) and with
//!   `RESP: 3` (HELLO 3, push frames).
//! - redis-py 8: `pubsub()` with channels and patterns, `get_message`,
//!   `listen`, handlers under `run_in_thread`; with its defaults (RESP3)
//!   and `protocol=2`.
//! - socket.io with `@socket.io/redis-adapter`: two socket.io servers whose
//!   adapters use different proxies; broadcasts, room broadcasts,
//!   `fetchSockets` and `serverSideEmit` between them.
//!
//! Each program also runs against a real redis-server (the publisher and
//! subscribers then share it), which must pass: it shows the programs are
//! right, so a failing onebox variant points at Petrel, not the program.
//!
//! The programs and their pinned packages are in `tests/clients/pubsub/`;
//! installing them and running scripts: `support/clients.rs`.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::clients::{clients_src, node_env_in, python_env, run_script};
use support::{Onebox, OneboxOpts, RedisOracle};

/// `tests/clients/pubsub/`: the programs and their npm manifest.
fn pubsub_src() -> PathBuf {
    clients_src().join("pubsub")
}

/// A onebox whose three proxies share one cluster.
fn three_proxies() -> (Onebox, [u16; 3]) {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(3),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let ports = [ports[0], ports[1], ports[2]];
    (ob, ports)
}

/// `node PROGRAM 127.0.0.1 ARGS...` with the pinned packages on NODE_PATH.
fn node(program: &str, args: &[String]) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(pubsub_src().join(program))
        .arg("127.0.0.1")
        .args(args)
        .env("NODE_PATH", node_env_in(&pubsub_src()));
    cmd
}

/// node-redis with its defaults (RESP2), then with `RESP: 3`: publisher on
/// `publisher`, subscribers there and on `subscriber`.
fn node_redis(target: &str, publisher: u16, subscriber: u16) {
    let ports = [publisher.to_string(), subscriber.to_string()];
    run_script(
        &format!("node-redis, defaults (RESP2), {target}"),
        node("node_redis_pubsub.js", &ports),
    );
    let resp3 = [ports[0].clone(), ports[1].clone(), "3".into()];
    run_script(
        &format!("node-redis, RESP: 3, {target}"),
        node("node_redis_pubsub.js", &resp3),
    );
}

/// redis-py with its defaults (RESP3), then `protocol=2`.
fn redis_py(target: &str, publisher: u16, subscriber: u16) {
    let python = python_env(&clients_src().join("requirements.txt"));
    let mut cmd = Command::new(python);
    cmd.arg(pubsub_src().join("redis_py_pubsub.py"))
        .args(["127.0.0.1", &publisher.to_string(), &subscriber.to_string()])
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run_script(&format!("redis-py, {target}"), cmd);
}

/// Two socket.io servers, their adapters on `a` and `b`.
fn socket_io(target: &str, a: u16, b: u16) {
    run_script(
        &format!("socket.io redis-adapter, {target}"),
        node("socketio_redis_adapter.js", &[a.to_string(), b.to_string()]),
    );
}

#[test]
fn node_redis_pubsub_on_redis_server() {
    let redis = RedisOracle::start();
    node_redis("redis-server", redis.port, redis.port);
}

#[test]
fn node_redis_pubsub_across_proxies() {
    let (_ob, ports) = three_proxies();
    node_redis(
        "publisher on proxy 1, subscriber on proxy 3",
        ports[0],
        ports[2],
    );
}

#[test]
fn redis_py_pubsub_on_redis_server() {
    let redis = RedisOracle::start();
    redis_py("redis-server", redis.port, redis.port);
}

#[test]
fn redis_py_pubsub_across_proxies() {
    let (_ob, ports) = three_proxies();
    redis_py(
        "publisher on proxy 1, subscriber on proxy 2",
        ports[0],
        ports[1],
    );
}

#[test]
fn socket_io_redis_adapter_on_redis_server() {
    let redis = RedisOracle::start();
    socket_io("redis-server", redis.port, redis.port);
}

#[test]
fn socket_io_redis_adapter_across_proxies() {
    let (_ob, ports) = three_proxies();
    socket_io(
        "server A on proxy 2, server B on proxy 3",
        ports[1],
        ports[2],
    );
}
