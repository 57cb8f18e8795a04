//! Client workers: concurrent Redis clients through the proxy, each doing
//! one operation at a time and recording it.
//!
//! Keys rotate: every `rotate` period the workers move to a fresh window of
//! keys, so each key sees a bounded number of operations (the
//! linearizability search is exponential in concurrency, not in length, but
//! short per-key histories keep it cheap). Register keys (`r:*`) get GET,
//! SET with a unique value and DEL; counter keys (`c:*`) get INCR and GET.
//!
//! A worker whose operation ended with an unknown outcome (timeout, broken
//! connection, "outcome unknown") continues as a new process: the old
//! operation may still take effect later, so in the history it stays open
//! forever, as Jepsen does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::aio::MultiplexedConnection;

use super::history::{Command, History, Op, Outcome, Reply};

/// Shape of the load.
#[derive(Clone, Debug)]
pub(crate) struct Workload {
    pub(crate) workers: usize,
    /// Keys of each kind in one window.
    pub(crate) keys: usize,
    /// How long the workers stay on one window of keys.
    pub(crate) rotate: Duration,
    /// A client gives up on an operation after this long (outcome unknown).
    pub(crate) op_timeout: Duration,
    /// Pause between a worker's operations.
    pub(crate) think: Duration,
}

/// Everything the workers recorded.
pub(crate) struct Recorded {
    pub(crate) history: History,
}

/// The monotonic clock every operation is stamped with.
#[derive(Clone, Copy)]
pub(crate) struct Clock(Instant);

impl Clock {
    pub(crate) fn new() -> Self {
        Clock(Instant::now())
    }
    pub(crate) fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

struct Shared {
    history: Mutex<History>,
    stop: AtomicBool,
    clock: Clock,
    start: Instant,
    next_op: std::sync::atomic::AtomicU64,
    next_process: std::sync::atomic::AtomicU64,
}

/// Runs the workers until `stop` resolves, then returns what they recorded.
pub(crate) async fn run(
    url: String,
    w: Workload,
    seed: u64,
    clock: Clock,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Recorded> {
    let shared = Arc::new(Shared {
        history: Mutex::new(History::default()),
        stop: AtomicBool::new(false),
        clock,
        start: Instant::now(),
        next_op: 0.into(),
        next_process: 0.into(),
    });
    let client = redis::Client::open(url.as_str())?;
    let mut tasks = Vec::new();
    for i in 0..w.workers {
        let shared = shared.clone();
        let client = client.clone();
        let w = w.clone();
        let rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        tasks.push(tokio::spawn(worker(client, w, rng, shared)));
    }
    stop.await;
    shared.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let history = std::mem::take(&mut *shared.history.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Recorded { history })
}

pub(crate) fn register_key(window: usize, k: usize) -> String {
    format!("r:{window}:{k}")
}

pub(crate) fn counter_key(window: usize, k: usize) -> String {
    format!("c:{window}:{k}")
}

pub(crate) async fn connect(
    client: &redis::Client,
    timeout: Duration,
) -> Option<MultiplexedConnection> {
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .ok()
}

async fn worker(client: redis::Client, w: Workload, mut rng: StdRng, shared: Arc<Shared>) {
    let mut process = shared.next_process.fetch_add(1, Ordering::Relaxed);
    let mut con: Option<MultiplexedConnection> = None;
    while !shared.stop.load(Ordering::SeqCst) {
        if con.is_none() {
            con = connect(&client, w.op_timeout).await;
            if con.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let window = (shared.start.elapsed().as_millis() / w.rotate.as_millis().max(1)) as usize;
        let k = rng.gen_range(0..w.keys);
        let id = shared.next_op.fetch_add(1, Ordering::Relaxed);
        let (key, command) = if rng.gen_bool(0.6) {
            let key = register_key(window, k);
            let command = match rng.gen_range(0..10) {
                0..=4 => Command::Get,
                5..=8 => Command::Set(format!("{process}-{id}")),
                _ => Command::Del,
            };
            (key, command)
        } else {
            let key = counter_key(window, k);
            let command = if rng.gen_bool(0.7) {
                Command::Incr
            } else {
                Command::Get
            };
            (key, command)
        };
        let invoke_ns = shared.clock.now_ns();
        let outcome = perform(c, &key, &command, w.op_timeout).await;
        let complete_ns = shared.clock.now_ns();
        let unknown = matches!(outcome, Outcome::Unknown);
        if unknown {
            // The connection may be broken, and this process may still have
            // an operation in flight: continue as a new process.
            con = None;
            process = shared.next_process.fetch_add(1, Ordering::Relaxed);
        }
        let op = Op {
            id,
            process,
            key,
            command,
            invoke_ns,
            complete_ns,
            outcome,
        };
        shared
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(op);
        if !w.think.is_zero() {
            tokio::time::sleep(w.think).await;
        }
    }
}

/// Sends one command and classifies what came back.
async fn perform(
    con: &mut MultiplexedConnection,
    key: &str,
    command: &Command,
    timeout: Duration,
) -> Outcome {
    let mut cmd = match command {
        Command::Get => redis::cmd("GET"),
        Command::Set(_) => redis::cmd("SET"),
        Command::Incr => redis::cmd("INCR"),
        Command::Del => redis::cmd("DEL"),
    };
    cmd.arg(key);
    if let Command::Set(v) = command {
        cmd.arg(v);
    }
    let read = matches!(command, Command::Get);
    let result = tokio::time::timeout(timeout, cmd.query_async::<redis::Value>(con)).await;
    match result {
        Err(_) => not_done_or_unknown(read),
        Ok(Ok(v)) => match to_reply(v) {
            Some(r) => Outcome::Ok(r),
            None => not_done_or_unknown(read),
        },
        Ok(Err(e)) => classify_error(&e, read),
    }
}

/// A read that did not answer changed nothing: drop it. A write may have.
fn not_done_or_unknown(read: bool) -> Outcome {
    if read {
        Outcome::Failed
    } else {
        Outcome::Unknown
    }
}

fn to_reply(v: redis::Value) -> Option<Reply> {
    match v {
        redis::Value::Nil => Some(Reply::Nil),
        redis::Value::Okay => Some(Reply::Ok),
        redis::Value::Int(i) => Some(Reply::Int(i)),
        redis::Value::BulkString(b) => Some(Reply::Str(String::from_utf8_lossy(&b).into_owned())),
        redis::Value::SimpleString(s) if s == "OK" => Some(Reply::Ok),
        _ => None,
    }
}

/// The proxy answers TRYAGAIN or CLUSTERDOWN only when the command provably
/// did not run, and INCR's "value is not an integer" changes nothing.
/// Anything else about a write is unknown. RESP carries an error's code
/// (its first word) and nothing more, so the code decides, and the one
/// `ERR` that proves nothing ran is known by Redis's exact text.
fn classify_error(e: &redis::RedisError, read: bool) -> Outcome {
    if read {
        return Outcome::Failed;
    }
    let not_integer = petrel_common::reply::errors::NOT_INTEGER.strip_prefix("ERR ");
    match e.code() {
        Some("TRYAGAIN" | "CLUSTERDOWN") => Outcome::Failed,
        Some("ERR") if e.detail() == not_integer => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error a client gets for the RESP error line `line`.
    fn error(line: &str) -> redis::RedisError {
        redis::parse_redis_value(format!("-{line}\r\n").as_bytes())
            .and_then(redis::Value::extract_error)
            .expect_err("an error reply")
    }

    #[test]
    fn only_errors_that_prove_nothing_ran_fail_a_write() {
        for (line, outcome) in [
            ("TRYAGAIN partition 3 moved, not executed", Outcome::Failed),
            ("CLUSTERDOWN table 't' is not available", Outcome::Failed),
            (petrel_common::reply::errors::NOT_INTEGER, Outcome::Failed),
            (
                "ERR write outcome unknown on partition 1: the primary changed",
                Outcome::Unknown,
            ),
            // The words alone are not the code.
            ("ERR not TRYAGAIN but out of range", Outcome::Unknown),
        ] {
            assert_eq!(classify_error(&error(line), false), outcome, "{line}");
        }
        assert_eq!(
            classify_error(&error("ERR anything"), true),
            Outcome::Failed,
            "a failed read changes nothing"
        );
    }
}
