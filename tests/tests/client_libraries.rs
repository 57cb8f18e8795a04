//! Real client libraries, unchanged, through the proxy: redis-py (PyPI) and
//! ioredis (npm) connect with their default settings — their connect-time
//! handshakes (HELLO 3, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS, the INFO
//! ready check) included — and run the scripts in `tests/clients/`, which
//! cover every data type, the keyspace, transactions, pipelining and Lua
//! scripts (ioredis `defineCommand`, plain, pipelined and after `SCRIPT
//! FLUSH`).
//!
//! How the libraries are installed and the scripts run: `support/clients.rs`.

mod support;

use std::process::Command;

use support::clients::{clients_src, node_env, python_env, run_script};
use support::Onebox;

#[test]
fn redis_py_through_the_proxy() {
    let python = python_env(&clients_src().join("requirements.txt"));
    let ob = Onebox::start();
    let mut cmd = Command::new(python);
    cmd.arg(clients_src().join("redis_py_smoke.py"))
        .args(["127.0.0.1", &ob.proxy_port.to_string()])
        .env("PYTHONUNBUFFERED", "1");
    run_script("redis-py", cmd);
}

#[test]
fn ioredis_through_the_proxy() {
    let modules = node_env();
    let ob = Onebox::start();
    let mut cmd = Command::new("node");
    cmd.arg(clients_src().join("ioredis_smoke.js"))
        .args(["127.0.0.1", &ob.proxy_port.to_string()])
        .env("NODE_PATH", modules);
    run_script("ioredis", cmd);
}
