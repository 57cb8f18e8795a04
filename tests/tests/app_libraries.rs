//! Job-queue and cache libraries from PyPI, unchanged and with their
//! default settings, against a onebox of 8 partitions: rq enqueues 20 jobs
//! and a burst worker runs them; celery (Redis broker, Redis result
//! backend, a solo-pool worker subprocess) runs 10 tasks; django-redis
//! `set_many` / `get_many` / `incr` / `delete_many` over keys in different
//! partitions; redis-py's `Lock` and `register_script` and the `limits`
//! rate limiters, each a Lua script (issue 16). Each needs MULTI/EXEC or multi-key commands that span
//! partitions (issue 15, served); celery's result backend also waits on
//! SUBSCRIBE (issue 17, served); rq keeps job results in streams (XADD,
//! XREVRANGE; issue 19, served).
//!
//! The scripts (`tests/clients/apps/`) exit non-zero naming the cause: a
//! request refused with CROSSSLOT, or a command Petrel does not serve. They
//! are checked against a real redis-server too, so a script that could not
//! pass anywhere is told apart from a Petrel failure.
//! Installing the libraries and running scripts: `support/clients.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::clients::{clients_src, python_env, run_script};
use support::{Onebox, OneboxOpts, RedisOracle};

/// Partitions of the onebox: enough that every library's keys spread.
const PARTITIONS: u32 = 8;

/// `tests/clients/apps/`: the scripts and their pinned requirements.
fn apps() -> PathBuf {
    clients_src().join("apps")
}

/// The command running `script` (in `tests/clients/apps/`) against `port`,
/// with any further arguments.
fn script(python: &Path, script: &str, port: u16, rest: &[&str]) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(apps().join(script))
        .args(["127.0.0.1", &port.to_string()])
        .args(rest)
        .env("PYTHONUNBUFFERED", "1")
        // The scripts import each other: keep __pycache__ out of the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Runs one script against a fresh onebox of [`PARTITIONS`] partitions.
fn against_petrel(name: &str, file: &str, rest: &[&str]) {
    let python = python_env(&apps().join("requirements.txt"));
    let ob = Onebox::start_with(OneboxOpts {
        partitions: Some(PARTITIONS),
        ..OneboxOpts::default()
    });
    run_script(name, script(&python, file, ob.proxy_port, rest));
}

#[test]
fn rq_runs_twenty_jobs() {
    against_petrel("rq", "rq_jobs.py", &[]);
}

#[test]
fn celery_runs_ten_tasks() {
    against_petrel("celery", "celery_tasks.py", &[]);
}

#[test]
fn redis_py_lock_registered_scripts_and_limits() {
    against_petrel("redis scripts", "redis_scripts.py", &[]);
}

#[test]
fn redis_py_streams_with_consumer_groups() {
    against_petrel("redis streams", "redis_streams.py", &[]);
}

#[test]
fn django_redis_set_many_get_many_delete_many_incr() {
    against_petrel(
        "django-redis",
        "django_cache.py",
        &[&PARTITIONS.to_string()],
    );
}

/// The same scripts pass against standalone Redis: what Petrel must match.
#[test]
fn the_scripts_pass_against_redis_server() {
    let python = python_env(&apps().join("requirements.txt"));
    let redis = RedisOracle::start();
    run_script(
        "rq on redis-server",
        script(&python, "rq_jobs.py", redis.port, &[]),
    );
    run_script(
        "celery on redis-server",
        script(&python, "celery_tasks.py", redis.port, &[]),
    );
    run_script(
        "redis scripts on redis-server",
        script(&python, "redis_scripts.py", redis.port, &[]),
    );
    run_script(
        "redis streams on redis-server",
        script(&python, "redis_streams.py", redis.port, &[]),
    );
    run_script(
        "django-redis on redis-server",
        script(
            &python,
            "django_cache.py",
            redis.port,
            &[&PARTITIONS.to_string()],
        ),
    );
}
