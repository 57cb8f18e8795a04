//! Counters behind INFO and the Prometheus metrics.
//!
//! INFO needs values it can read back (totals, per-command calls, error
//! prefixes), so they live here as atomics; every update also goes to the
//! `metrics` recorder for `/metrics`.

use petrel_common::sync::lock;
use std::collections::{BTreeMap, VecDeque};

use petrel_common::command::Command;

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Metric names, in one place.
pub(crate) mod names {
    pub(crate) const CONNECTIONS_TOTAL: &str = "petrel_proxy_connections_total";
    pub(crate) const CONNECTIONS: &str = "petrel_proxy_connections";
    pub(crate) const REJECTED_CONNECTIONS: &str = "petrel_proxy_rejected_connections_total";
    pub(crate) const COMMANDS: &str = "petrel_proxy_commands_total";
    pub(crate) const COMMAND_SECONDS: &str = "petrel_proxy_command_duration_seconds";
    pub(crate) const ERRORS: &str = "petrel_proxy_error_replies_total";
    pub(crate) const PROTOCOL_ERRORS: &str = "petrel_proxy_protocol_errors_total";
    pub(crate) const RETRIES: &str = "petrel_proxy_partition_retries_total";
    pub(crate) const MAP_REFRESHES: &str = "petrel_proxy_map_refreshes_total";
    pub(crate) const MAP_VERSION: &str = "petrel_proxy_map_version";
    pub(crate) const TXN_STARTED: &str = "petrel_proxy_txn_started_total";
    pub(crate) const TXN_ENDED: &str = "petrel_proxy_txn_ended_total";
    pub(crate) const TXN_RESTARTS: &str = "petrel_proxy_txn_restarts_total";
    pub(crate) const OUTPUT_LIMIT_DISCONNECTIONS: &str =
        "petrel_proxy_output_limit_disconnections_total";
    pub(crate) const PUBSUB_RECEIVED: &str = "petrel_proxy_pubsub_received_total";
    pub(crate) const PUBSUB_DROPPED: &str = "petrel_proxy_pubsub_dropped_total";
    pub(crate) const PUBSUB_UNSENT: &str = "petrel_proxy_pubsub_unsent_total";
}

/// Most distinct error prefixes tracked, as Redis's errorstats.
const MAX_ERROR_KINDS: usize = 128;
/// Samples kept for `instantaneous_ops_per_sec`, as Redis (one per 100 ms).
const OPS_SAMPLES: usize = 16;

/// Calls and time of one command.
pub(crate) struct CommandStat {
    pub(crate) calls: AtomicU64,
    pub(crate) usec: AtomicU64,
    pub(crate) failed: AtomicU64,
    name: String,
    /// Its Prometheus series, looked up on first use and kept (looked up per
    /// request they showed in profiles).
    exported: OnceLock<(metrics::Counter, metrics::Histogram)>,
}

impl CommandStat {
    /// Zeroed counters for the command `name`.
    fn new(name: String) -> Self {
        CommandStat {
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            name,
            exported: OnceLock::new(),
        }
    }

    fn export(&self, elapsed: Duration) {
        let (calls, seconds) = self.exported.get_or_init(|| {
            (
                metrics::counter!(names::COMMANDS, "cmd" => self.name.clone()),
                metrics::histogram!(names::COMMAND_SECONDS, "cmd" => self.name.clone()),
            )
        });
        calls.increment(1);
        seconds.record(elapsed.as_secs_f64());
    }
}

/// Process-wide counters.
pub(crate) struct Stats {
    pub(crate) connections_received: AtomicU64,
    pub(crate) rejected_connections: AtomicU64,
    pub(crate) commands_processed: AtomicU64,
    pub(crate) net_input_bytes: AtomicU64,
    pub(crate) net_output_bytes: AtomicU64,
    pub(crate) error_replies: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) unknown_commands: AtomicU64,
    /// By command id; `None` for commands clients cannot call.
    per_command: Vec<Option<CommandStat>>,
    errors: Mutex<BTreeMap<String, u64>>,
    ops: Mutex<OpsSampler>,
    /// SLOWLOG's ring of slow commands.
    pub(crate) slowlog: Mutex<SlowLog>,
}

/// Longest argument list a slow log entry keeps, as Redis.
const SLOWLOG_MAX_ARGC: usize = 32;
/// Longest argument a slow log entry keeps, as Redis.
const SLOWLOG_MAX_ARG_LEN: usize = 128;

/// One slow command, as SLOWLOG GET shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SlowEntry {
    pub(crate) id: u64,
    /// Unix seconds when it was logged.
    pub(crate) time: i64,
    pub(crate) micros: u64,
    /// Truncated like Redis: at most 32 arguments of at most 128 bytes.
    pub(crate) args: Vec<Bytes>,
    pub(crate) addr: String,
    pub(crate) name: String,
}

/// The slow log: newest entry first; ids keep counting across SLOWLOG RESET.
#[derive(Default)]
pub(crate) struct SlowLog {
    pub(crate) entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Adds an entry, dropping the oldest beyond `max_len` (as Redis, a
    /// lowered `slowlog-max-len` trims at the next push).
    pub(crate) fn push(
        &mut self,
        args: &[Bytes],
        micros: u64,
        addr: String,
        name: String,
        max_len: usize,
    ) {
        let entry = SlowEntry {
            id: self.next_id,
            time: (petrel_common::time::now_unix_ms() / 1000) as i64,
            micros,
            args: slowlog_args(args),
            addr,
            name,
        };
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    /// Forgets every entry (SLOWLOG RESET).
    pub(crate) fn reset(&mut self) {
        self.entries.clear();
    }
}

/// Redis's shortening of a logged command: past 32 arguments the last slot
/// says how many more there were; past 128 bytes an argument says how many
/// more bytes it had.
fn slowlog_args(args: &[Bytes]) -> Vec<Bytes> {
    let keep = args.len().min(SLOWLOG_MAX_ARGC);
    let mut out = Vec::with_capacity(keep);
    for (i, a) in args.iter().take(keep).enumerate() {
        if i == SLOWLOG_MAX_ARGC - 1 && args.len() > SLOWLOG_MAX_ARGC {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - SLOWLOG_MAX_ARGC + 1
            )));
        } else if a.len() > SLOWLOG_MAX_ARG_LEN {
            let mut v = a[..SLOWLOG_MAX_ARG_LEN].to_vec();
            v.extend_from_slice(
                format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_ARG_LEN).as_bytes(),
            );
            out.push(Bytes::from(v));
        } else {
            out.push(a.clone());
        }
    }
    out
}

#[derive(Default)]
struct OpsSampler {
    last: Option<(Instant, u64, u64, u64)>,
    samples: Vec<(f64, f64, f64)>,
    next: usize,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Counters for every command in the table.
    pub(crate) fn new() -> Self {
        let per_command = petrel_common::command::table()
            .iter()
            .map(|c| {
                c.is_served()
                    .then(|| CommandStat::new(c.name().to_string()))
            })
            .collect();
        Stats {
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            unknown_commands: AtomicU64::new(0),
            per_command,
            errors: Mutex::new(BTreeMap::new()),
            ops: Mutex::new(OpsSampler::default()),
            slowlog: Mutex::new(SlowLog::default()),
        }
    }

    /// A command finished; `name` is its full name (`client|list`, or
    /// `unknown`), `error` the error text it replied with, if any.
    pub(crate) fn command_done(
        &self,
        command: Option<&Command>,
        name: &'static str,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        self.commands_processed.fetch_add(1, Relaxed);
        let usec = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        let stat = command.and_then(|c| self.per_command.get(usize::from(c.id.0))?.as_ref());
        if let Some(s) = stat {
            s.calls.fetch_add(1, Relaxed);
            s.usec.fetch_add(usec, Relaxed);
            if error.is_some() {
                s.failed.fetch_add(1, Relaxed);
            }
            s.export(elapsed);
        } else {
            metrics::counter!(names::COMMANDS, "cmd" => name).increment(1);
            metrics::histogram!(names::COMMAND_SECONDS, "cmd" => name)
                .record(elapsed.as_secs_f64());
        }
        if let Some(text) = error {
            self.error_reply(text);
        }
    }

    /// An error reply was sent (counted by its first word, like errorstats).
    pub(crate) fn error_reply(&self, text: &str) {
        self.error_replies.fetch_add(1, Relaxed);
        let prefix = text.split(' ').next().unwrap_or("ERR");
        let prefix = if prefix.is_empty() { "ERR" } else { prefix };
        let mut errors = lock(&self.errors);
        if let Some(n) = errors.get_mut(prefix) {
            *n += 1;
        } else if errors.len() < MAX_ERROR_KINDS {
            errors.insert(prefix.to_string(), 1);
        }
        drop(errors);
        metrics::counter!(names::ERRORS).increment(1);
    }

    /// Per-command stats with at least one call, for INFO commandstats.
    pub(crate) fn commands(&self) -> Vec<(String, u64, u64, u64)> {
        let mut v: Vec<_> = self
            .per_command
            .iter()
            .flatten()
            .filter(|s| s.calls.load(Relaxed) > 0)
            .map(|s| {
                (
                    s.name.clone(),
                    s.calls.load(Relaxed),
                    s.usec.load(Relaxed),
                    s.failed.load(Relaxed),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Error counts by prefix, for INFO errorstats.
    pub(crate) fn errors(&self) -> Vec<(String, u64)> {
        lock(&self.errors)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Zeroes what CONFIG RESETSTAT resets.
    pub(crate) fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.error_replies,
            &self.protocol_errors,
            &self.unknown_commands,
        ] {
            c.store(0, Relaxed);
        }
        for s in self.per_command.iter().flatten() {
            s.calls.store(0, Relaxed);
            s.usec.store(0, Relaxed);
            s.failed.store(0, Relaxed);
        }
        lock(&self.errors).clear();
        *lock(&self.ops) = OpsSampler::default();
    }

    /// Takes one throughput sample; call every 100 ms.
    pub(crate) fn sample(&self) {
        let now = Instant::now();
        let cur = (
            self.commands_processed.load(Relaxed),
            self.net_input_bytes.load(Relaxed),
            self.net_output_bytes.load(Relaxed),
        );
        let mut ops = lock(&self.ops);
        if let Some((t, c, i, o)) = ops.last {
            let secs = now.duration_since(t).as_secs_f64().max(1e-6);
            let s = (
                cur.0.saturating_sub(c) as f64 / secs,
                cur.1.saturating_sub(i) as f64 / secs / 1024.0,
                cur.2.saturating_sub(o) as f64 / secs / 1024.0,
            );
            if ops.samples.len() < OPS_SAMPLES {
                ops.samples.push(s);
            } else {
                let i = ops.next;
                ops.samples[i] = s;
            }
            ops.next = (ops.next + 1) % OPS_SAMPLES;
        }
        ops.last = Some((now, cur.0, cur.1, cur.2));
    }

    /// (ops/sec, input kbps, output kbps) averaged over the recent samples.
    pub(crate) fn instantaneous(&self) -> (f64, f64, f64) {
        let ops = lock(&self.ops);
        let n = ops.samples.len().max(1) as f64;
        let sum = ops
            .samples
            .iter()
            .fold((0.0, 0.0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
        (sum.0 / n, sum.1 / n, sum.2 / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_commands_and_error_prefixes() {
        let s = Stats::new();
        let t = petrel_common::command::table();
        let (get, list) = (t.find(b"get"), t.find(b"client|list"));
        s.command_done(get, "get", Duration::from_micros(5), None);
        s.command_done(
            get,
            "get",
            Duration::from_micros(7),
            Some("WRONGTYPE Operation"),
        );
        s.command_done(list, "client|list", Duration::from_micros(1), None);
        let cmds = s.commands();
        assert_eq!(cmds[0], ("client|list".to_string(), 1, 1, 0));
        assert_eq!(cmds[1], ("get".to_string(), 2, 12, 1));
        assert_eq!(s.errors(), vec![("WRONGTYPE".to_string(), 1)]);
        s.reset();
        assert!(s.commands().is_empty());
        assert_eq!(s.commands_processed.load(Relaxed), 0);
    }
}

#[cfg(test)]
mod slowlog_tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn entries_are_shortened_like_redis() {
        let long = "x".repeat(200);
        let mut args: Vec<Bytes> = vec![b("rpush"), b(&long)];
        args.extend((0..40).map(|i| b(&i.to_string())));
        let out = slowlog_args(&args);
        assert_eq!(out.len(), 32);
        assert_eq!(
            out[1],
            Bytes::from(format!("{}... (72 more bytes)", "x".repeat(128)))
        );
        assert_eq!(out[30], b("28"));
        assert_eq!(out[31], b("... (11 more arguments)"));
        let exact: Vec<Bytes> = (0..32).map(|i| b(&i.to_string())).collect();
        assert_eq!(slowlog_args(&exact), exact);
        assert_eq!(
            slowlog_args(&[b(&"y".repeat(128))]),
            vec![b(&"y".repeat(128))]
        );
    }

    #[test]
    fn newest_first_bounded_and_ids_survive_reset() {
        let mut log = SlowLog::default();
        for i in 0..5 {
            log.push(
                &[b("get"), b(&i.to_string())],
                10,
                "1.2.3.4:5".into(),
                "".into(),
                3,
            );
        }
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        assert_eq!(log.entries[0].args, vec![b("get"), b("4")]);
        log.reset();
        assert!(log.entries.is_empty());
        log.push(&[b("ping")], 1, "a:1".into(), "n".into(), 128);
        assert_eq!(log.entries[0].id, 5);
        // A lowered max length applies at the next push.
        log.push(&[b("ping")], 1, "a:1".into(), "n".into(), 1);
        assert_eq!(log.entries.len(), 1);
    }
}
