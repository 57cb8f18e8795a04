//! `INFO [section ...]`: Redis-shaped sections with the proxy's real values,
//! plus a `# Petrel` section (meta, table, partitions, map version).
//!
//! The `# Keyspace` line needs a DBSIZE across all partitions, so INFO
//! answers asynchronously when that section is asked for.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::connection::REDIS_VERSION;
use crate::action::{Action, Ctx};
use crate::route::split::count_keys;
use crate::state::Shared;

/// Sections in the order Redis prints them; `true` = part of the default set.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
    ("petrel", true),
];

/// Longest INFO waits for the key count before printing without it.
const KEYSPACE_WAIT: Duration = Duration::from_secs(1);

/// `INFO [section ...]`.
pub(crate) fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let wanted = select(&args[1..]);
    let shared = ctx.shared.clone();
    if wanted.contains(&"keyspace") {
        Action::Later(Box::pin(async move {
            let timeout = shared.router.timeout().min(KEYSPACE_WAIT);
            let keys = count_keys(&shared.router, Instant::now() + timeout).await;
            Reply::Verbatim(Bytes::from(render(&shared, &wanted, keys)))
        }))
    } else {
        Action::Reply(Reply::Verbatim(Bytes::from(render(&shared, &wanted, None))))
    }
}

/// The sections named by the arguments (`default`, `all`, `everything` included).
fn select(args: &[Bytes]) -> Vec<&'static str> {
    if args.is_empty() {
        return SECTIONS.iter().filter(|s| s.1).map(|s| s.0).collect();
    }
    let mut want: Vec<&'static str> = Vec::new();
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "all" | "everything" => want.extend(SECTIONS.iter().map(|s| s.0)),
            "default" => want.extend(SECTIONS.iter().filter(|s| s.1).map(|s| s.0)),
            name => want.extend(SECTIONS.iter().filter(|s| s.0 == name).map(|s| s.0)),
        }
    }
    // Print in Redis's order, each once.
    SECTIONS
        .iter()
        .map(|s| s.0)
        .filter(|s| want.contains(s))
        .collect()
}

fn render(s: &Arc<Shared>, sections: &[&str], keys: Option<i64>) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut kv = |k: &str, v: String| lines.push((k.to_string(), v));
        let title = match *section {
            "server" => {
                server(s, &mut kv);
                "Server"
            }
            "clients" => {
                let (qbuf, obl) = s.clients.max_buffers();
                kv("connected_clients", s.clients.len().to_string());
                kv("cluster_connections", "0".into());
                kv("maxclients", s.runtime.load().maxclients.to_string());
                kv("client_recent_max_input_buffer", qbuf.to_string());
                kv("client_recent_max_output_buffer", obl.to_string());
                let clients = s.clients.snapshot();
                let count = |f: fn(&crate::state::ClientHandle) -> bool| {
                    clients.iter().filter(|c| f(c)).count().to_string()
                };
                kv("blocked_clients", count(|c| c.is_blocked()));
                kv("tracking_clients", count(|c| c.is_tracking()));
                kv("clients_in_timeout_table", count(|c| c.is_blocked()));
                kv("pubsub_clients", count(|c| c.is_pubsub()));
                "Clients"
            }
            "memory" => {
                let rss = rss_bytes();
                kv("used_memory", rss.to_string());
                kv("used_memory_human", human(rss));
                kv("used_memory_rss", rss.to_string());
                kv("used_memory_rss_human", human(rss));
                kv("maxmemory", s.runtime.load().maxmemory.to_string());
                kv("maxmemory_human", human(s.runtime.load().maxmemory));
                kv(
                    "maxmemory_policy",
                    s.runtime.load().maxmemory_policy.clone(),
                );
                kv("mem_allocator", "libc".into());
                "Memory"
            }
            "persistence" => {
                kv("loading", "0".into());
                kv("async_loading", "0".into());
                kv("rdb_changes_since_last_save", "0".into());
                kv("rdb_bgsave_in_progress", "0".into());
                kv("rdb_last_bgsave_status", "ok".into());
                // Every acknowledged write is on disk: saved as of now (see LASTSAVE).
                kv(
                    "rdb_last_save_time",
                    (petrel_common::time::now_unix_ms() / 1000).to_string(),
                );
                kv(
                    "aof_enabled",
                    u8::from(s.runtime.load().appendonly).to_string(),
                );
                kv("aof_rewrite_in_progress", "0".into());
                kv("aof_last_write_status", "ok".into());
                "Persistence"
            }
            "stats" => {
                let st = &s.stats;
                let (ops, ikbps, okbps) = st.instantaneous();
                kv(
                    "total_connections_received",
                    st.connections_received.load(Relaxed).to_string(),
                );
                kv(
                    "total_commands_processed",
                    st.commands_processed.load(Relaxed).to_string(),
                );
                kv(
                    "instantaneous_ops_per_sec",
                    format!("{}", ops.round() as u64),
                );
                kv(
                    "total_net_input_bytes",
                    st.net_input_bytes.load(Relaxed).to_string(),
                );
                kv(
                    "total_net_output_bytes",
                    st.net_output_bytes.load(Relaxed).to_string(),
                );
                kv("instantaneous_input_kbps", format!("{ikbps:.2}"));
                kv("instantaneous_output_kbps", format!("{okbps:.2}"));
                kv(
                    "rejected_connections",
                    st.rejected_connections.load(Relaxed).to_string(),
                );
                kv("expired_keys", "0".into());
                kv("evicted_keys", "0".into());
                kv("keyspace_hits", "0".into());
                kv("keyspace_misses", "0".into());
                kv("pubsub_channels", "0".into());
                kv("pubsub_patterns", "0".into());
                kv(
                    "total_error_replies",
                    st.error_replies.load(Relaxed).to_string(),
                );
                kv("unexpected_error_replies", "0".into());
                kv(
                    "total_protocol_errors",
                    st.protocol_errors.load(Relaxed).to_string(),
                );
                kv(
                    "total_unknown_commands",
                    st.unknown_commands.load(Relaxed).to_string(),
                );
                "Stats"
            }
            "replication" => {
                kv("role", "master".into());
                kv("connected_slaves", "0".into());
                "Replication"
            }
            "cpu" => {
                let (user, sys) = cpu_seconds();
                kv("used_cpu_sys", format!("{sys:.6}"));
                kv("used_cpu_user", format!("{user:.6}"));
                "CPU"
            }
            "modules" => "Modules",
            "commandstats" => {
                for (name, calls, usec, failed) in s.stats.commands() {
                    let per = if calls > 0 {
                        usec as f64 / calls as f64
                    } else {
                        0.0
                    };
                    kv(
                        &format!("cmdstat_{name}"),
                        format!("calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls=0,failed_calls={failed}"),
                    );
                }
                "Commandstats"
            }
            "errorstats" => {
                for (prefix, count) in s.stats.errors() {
                    kv(&format!("errorstat_{prefix}"), format!("count={count}"));
                }
                "Errorstats"
            }
            // Petrel keeps no latency histograms per command (commandstats
            // has the totals): the section exists, empty.
            "latencystats" => "Latencystats",
            "cluster" => {
                kv("cluster_enabled", "0".into());
                "Cluster"
            }
            "keyspace" => {
                if let Some(n) = keys.filter(|n| *n > 0) {
                    kv("db0", format!("keys={n},expires=0,avg_ttl=0"));
                }
                "Keyspace"
            }
            _ => {
                petrel(s, &mut kv);
                "Petrel"
            }
        };
        let _ = write!(out, "# {title}\r\n");
        for (k, v) in lines {
            let _ = write!(out, "{k}:{v}\r\n");
        }
    }
    out
}

fn server(s: &Arc<Shared>, kv: &mut impl FnMut(&str, String)) {
    let uptime = s.started.elapsed().as_secs();
    kv("redis_version", REDIS_VERSION.into());
    kv("redis_git_sha1", "00000000".into());
    kv("redis_git_dirty", "0".into());
    kv("redis_build_id", "0".into());
    kv("redis_mode", "standalone".into());
    kv("petrel_version", env!("CARGO_PKG_VERSION").into());
    kv("os", os_name());
    kv("arch_bits", (usize::BITS).to_string());
    kv("multiplexing_api", "epoll".into());
    kv("process_id", std::process::id().to_string());
    kv("process_supervised", "no".into());
    kv("run_id", s.run_id.clone());
    kv("tcp_port", s.local_addr.port().to_string());
    kv(
        "server_time_usec",
        (petrel_common::time::now_unix_ms() * 1000).to_string(),
    );
    kv("uptime_in_seconds", uptime.to_string());
    kv("uptime_in_days", (uptime / 86400).to_string());
    kv("hz", "10".into());
    kv("configured_hz", "10".into());
    kv(
        "executable",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    kv(
        "config_file",
        s.config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
    kv("io_threads_active", "0".into());
}

fn petrel(s: &Arc<Shared>, kv: &mut impl FnMut(&str, String)) {
    let maps = s.router.maps();
    let map = maps.current();
    let status = maps.status();
    kv("meta", maps.meta().join(","));
    kv("table", maps.table().to_string());
    kv(
        "table_id",
        map.as_ref().map(|m| m.id.0.to_string()).unwrap_or_default(),
    );
    kv(
        "partition_count",
        map.as_ref()
            .map(|m| m.partition_count.to_string())
            .unwrap_or_else(|| "0".into()),
    );
    kv(
        "replica_count",
        map.as_ref()
            .map(|m| m.replica_count.to_string())
            .unwrap_or_else(|| "0".into()),
    );
    kv(
        "partitions_with_primary",
        map.as_ref()
            .map(|m| {
                m.partitions
                    .iter()
                    .filter(|p| p.primary.is_some())
                    .count()
                    .to_string()
            })
            .unwrap_or_else(|| "0".into()),
    );
    kv(
        "partitions_without_primary",
        map.as_ref()
            .map(|m| {
                m.partitions
                    .iter()
                    .filter(|p| p.primary.is_none())
                    .count()
                    .to_string()
            })
            .unwrap_or_else(|| "0".into()),
    );
    kv(
        "map_version",
        map.as_ref()
            .map(|m| m.version.to_string())
            .unwrap_or_else(|| "0".into()),
    );
    kv("map_loaded", u8::from(map.is_some()).to_string());
    kv(
        "map_age_ms",
        status
            .last_success
            .map(|t| t.elapsed().as_millis().to_string())
            .unwrap_or_else(|| "-1".into()),
    );
    kv("map_refreshes", status.refreshes.to_string());
    kv("map_refresh_failures", status.failures.to_string());
    kv("map_last_error", crate::util::one_line(&status.last_error));
    kv(
        "request_timeout_ms",
        s.router.timeout().as_millis().to_string(),
    );
}

fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

/// Resident memory from `/proc/self/statm` (0 where unavailable).
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// User and system CPU seconds from `/proc/self/stat` (assumes 100 ticks/s).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14th and 15th overall.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(args: &[&str]) -> Vec<&'static str> {
        let a: Vec<Bytes> = args
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        select(&a)
    }

    #[test]
    fn section_selection() {
        assert!(!sel(&[]).contains(&"commandstats"));
        assert!(sel(&[]).contains(&"petrel"));
        assert_eq!(sel(&["CLIENTS", "server"]), vec!["server", "clients"]);
        assert!(sel(&["all"]).contains(&"commandstats"));
        assert!(sel(&["nosuch"]).is_empty());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(10), "10B");
        assert_eq!(human(2048), "2.00K");
        assert_eq!(human(3 << 20), "3.00M");
    }
}
