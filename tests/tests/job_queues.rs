//! BullMQ (npm), unchanged and with its defaults, against a onebox of 8
//! partitions: a `Queue` adds 20 jobs, a `Worker` runs them, and
//! `QueueEvents` hears every completion through a blocking `XREAD` on the
//! queue's events stream. BullMQ does its work in Lua scripts whose keys
//! (`bull:<queue>:wait`, `:active`, `:events`, each job's hash...) have no
//! hash tag, so they spread over every partition: each script runs as one
//! transaction across them (issues 15 and 16), and each one appends to a
//! stream (issue 19).
//!
//! The program also runs against a real redis-server, which must pass: a
//! failing onebox variant then points at Petrel, not the program. The
//! program and its pinned packages are in `tests/clients/queues/`;
//! installing them and running scripts: `support/clients.rs`.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::clients::{clients_src, node_env_in, run_script};
use support::{Onebox, OneboxOpts, RedisOracle};

/// Partitions of the onebox: enough that BullMQ's keys spread.
const PARTITIONS: u32 = 8;

/// `tests/clients/queues/`: the program and its npm manifest.
fn queues_src() -> PathBuf {
    clients_src().join("queues")
}

/// `node bullmq_jobs.js 127.0.0.1 PORT` with the pinned packages on NODE_PATH.
fn bullmq_jobs(port: u16) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(queues_src().join("bullmq_jobs.js"))
        .args(["127.0.0.1", &port.to_string()])
        .env("NODE_PATH", node_env_in(&queues_src()));
    cmd
}

#[test]
fn bullmq_queue_worker_and_queue_events_run_twenty_jobs() {
    let ob = Onebox::start_with(OneboxOpts {
        partitions: Some(PARTITIONS),
        ..OneboxOpts::default()
    });
    run_script("bullmq on Petrel", bullmq_jobs(ob.proxy_port));
}

/// The same program passes against standalone Redis: what Petrel must match.
#[test]
fn bullmq_passes_against_redis_server() {
    let redis = RedisOracle::start();
    run_script("bullmq on redis-server", bullmq_jobs(redis.port));
}
