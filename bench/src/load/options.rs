//! Command-line options of `petrel-bench` and the endpoints they name.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};

/// Load generator for any RESP endpoint (Redis, a Petrel proxy, ...).
///
/// Opens `--clients` connections, each sending batches of `--pipeline`
/// requests and timing every reply; prints a live progress line on stderr
/// and a latency table (or `--json`) on stdout.
#[derive(Debug, Clone, Parser)]
#[command(name = "petrel-bench", version)]
pub struct Options {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Server port.
    #[arg(long, short = 'p', default_value_t = 6379)]
    pub(crate) port: u16,
    /// Endpoint as a URL, `redis://host:port` (overrides --host/--port).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Run the same load against each endpoint in turn and compare:
    /// `name=host:port,name2=host:port2` (overrides --host/--port/--url).
    #[arg(long, value_delimiter = ',')]
    pub(crate) compare: Vec<String>,
    /// Workloads to run one after another, comma separated: set get incr
    /// mset hset lpush zadd ycsb-a (50% GET / 50% SET) ycsb-b (95/5)
    /// ycsb-c (100% GET) ycsb-f (GET then SET of the same key, one op)
    /// multi-1p / multi-2p (MULTI, SET, SET, EXEC with the two keys in one
    /// partition / in two: see --partitions) lmove-2p (LMOVE either way
    /// between the hot lists `<prefix>hot:a` and `<prefix>hot:b:<n>`, in
    /// two partitions; prefill them) evalsha-1p (EVALSHA of a script doing
    /// one INCR; petrel-bench loads it first) multi-3p / script-3p (three
    /// INCRs of keys in three partitions by MULTI / by one EVAL) pubsub
    /// (--publishers PUBLISH to --channels channels, each with
    /// --subscribers-per-channel subscriber connections; see --subscribe-to).
    #[arg(
        long,
        short = 'w',
        value_enum,
        value_delimiter = ',',
        default_value = "set,get"
    )]
    pub(crate) workload: Vec<Workload>,
    /// How keys are drawn from the key space.
    #[arg(long, value_enum, default_value = "uniform")]
    pub(crate) distribution: Distribution,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) keyspace: u64,
    /// Value size in bytes.
    #[arg(long, short = 'd', default_value_t = 64)]
    pub(crate) data_size: usize,
    /// Prefix of every key.
    #[arg(long, default_value = "key:")]
    pub(crate) key_prefix: String,
    /// The table's partition count (Petrel's `petrel onebox` default is 8),
    /// for the workloads that put their keys in one partition or in two
    /// (multi-1p, multi-2p, lmove-2p).
    #[arg(long, default_value_t = 8)]
    pub(crate) partitions: u32,
    /// Concurrent connections.
    #[arg(long, short = 'c', default_value_t = 50)]
    pub(crate) clients: usize,
    /// Requests each connection sends before waiting for their replies.
    #[arg(long, short = 'P', default_value_t = 1)]
    pub(crate) pipeline: usize,
    /// What an operation's latency is: `reply`, from sending its batch to
    /// its own reply; or `first-reply`, from sending its batch to the
    /// batch's first reply, redis-benchmark's definition (the same at
    /// pipeline 1; lower at deeper pipelines).
    #[arg(long, value_enum, default_value_t = Latency::Reply)]
    pub(crate) latency: Latency,
    /// Seconds to run each workload (ignored when --requests is given).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Total operations per workload instead of a duration.
    #[arg(long, short = 'n')]
    pub(crate) requests: Option<u64>,
    /// Seconds of load before measuring starts (not counted).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) warmup: f64,
    /// Limit on operations per second over all clients (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    /// Seed of the key and value choices (per client: seed + client index).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Client threads, each an event loop over its share of the
    /// connections (0 = one per CPU); 1 matches redis-benchmark's default.
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// pubsub: channels to publish to.
    #[arg(long, default_value_t = 1)]
    pub(crate) channels: usize,
    /// pubsub: subscriber connections per channel (each subscribes to one
    /// channel).
    #[arg(long, default_value_t = 1)]
    pub(crate) subscribers_per_channel: usize,
    /// pubsub: publisher connections, each sending --pipeline PUBLISHes at
    /// a time (to the endpoint; --rate caps their sum).
    #[arg(long, default_value_t = 1)]
    pub(crate) publishers: usize,
    /// pubsub: where subscribers connect, `host:port,host:port`, in turn
    /// (default: the endpoint, where the publishers connect).
    #[arg(long, value_delimiter = ',')]
    pub(crate) subscribe_to: Vec<String>,
    /// pubsub: most deliveries announced by PUBLISH replies and not yet
    /// arrived; publishers wait while more are outstanding (0 = no
    /// limit). Without it, a system whose PUBLISH answers before its
    /// fan-out can be published to faster than it delivers, and its
    /// backlog (memory, latency) grows for as long as the run lasts.
    #[arg(long, default_value_t = 0)]
    pub(crate) max_in_flight: u64,
    /// pubsub: after publishing stops, how long to keep waiting for the
    /// remaining deliveries once none arrives (seconds).
    #[arg(long, default_value_t = 3.0)]
    pub(crate) drain: f64,
    /// pubsub: report this process's resident memory (VmRSS) before the
    /// subscribers connect, once they are subscribed and after publishing
    /// (e.g. the proxy or redis-server they are connected to).
    #[arg(long)]
    pub(crate) rss_pid: Option<u32>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

/// How an operation's latency is measured (see `--latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Latency {
    /// From sending the batch to this operation's reply.
    Reply,
    /// From sending the batch to the batch's first reply (redis-benchmark).
    FirstReply,
}

impl Latency {
    /// The latency to record, given the batch's first reply and this one's.
    pub(crate) fn pick(
        self,
        first: std::time::Duration,
        own: std::time::Duration,
    ) -> std::time::Duration {
        match self {
            Latency::Reply => own,
            Latency::FirstReply => first,
        }
    }
}

/// What each operation sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    Set,
    Get,
    Incr,
    Mset,
    Hset,
    Lpush,
    Zadd,
    YcsbA,
    YcsbB,
    YcsbC,
    YcsbF,
    #[value(name = "multi-1p")]
    Multi1p,
    #[value(name = "multi-2p")]
    Multi2p,
    #[value(name = "lmove-2p")]
    Lmove2p,
    #[value(name = "evalsha-1p")]
    Evalsha1p,
    #[value(name = "multi-3p")]
    Multi3p,
    #[value(name = "script-3p")]
    Script3p,
    Pubsub,
}

impl Workload {
    /// Name as given on the command line.
    pub(crate) fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// How keys are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// YCSB's zipfian generator, theta 0.99: key 0 is the most popular.
    Zipfian,
    /// Keys 0, 1, 2, ... shared by all clients, wrapping at the key space.
    Sequential,
}

/// One server to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Label in reports.
    pub(crate) name: String,
    /// `host:port`.
    pub(crate) addr: String,
}

impl Options {
    /// The endpoints to run against, in order (the first is the baseline).
    pub(crate) fn endpoints(&self) -> anyhow::Result<Vec<Endpoint>> {
        if !self.compare.is_empty() {
            return self
                .compare
                .iter()
                .map(|spec| parse_compare(spec))
                .collect();
        }
        let addr = match &self.url {
            Some(url) => parse_url(url)?,
            None => format!("{}:{}", self.host, self.port),
        };
        Ok(vec![Endpoint {
            name: addr.clone(),
            addr,
        }])
    }

    /// Checks values clap cannot.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.clients == 0 || self.pipeline == 0 || self.keyspace == 0 {
            bail!("--clients, --pipeline and --keyspace must be at least 1");
        }
        // Duration::from_secs_f64 panics on NaN, negative or huge values.
        let seconds_ok = |s: f64| s.is_finite() && (0.0..1e9).contains(&s);
        if !seconds_ok(self.warmup) || !seconds_ok(self.duration) {
            bail!("--warmup and --duration must be non-negative seconds");
        }
        if self.duration == 0.0 && self.requests.is_none() {
            bail!("--duration must be positive");
        }
        if self.workload.contains(&Workload::Pubsub) {
            if self.channels == 0 || self.subscribers_per_channel == 0 || self.publishers == 0 {
                bail!("--channels, --subscribers-per-channel and --publishers must be at least 1");
            }
            if self.requests.is_some() {
                bail!("the pubsub workload runs for --duration, not --requests");
            }
            if !seconds_ok(self.drain) {
                bail!("--drain must be non-negative seconds");
            }
            if !self.subscribe_to.is_empty() && self.compare.len() > 1 {
                bail!("--subscribe-to names one system's endpoints: run each system on its own, not with --compare");
            }
            if self.publishers > usize::from(u16::MAX) {
                bail!("at most {} publishers", u16::MAX);
            }
        }
        Ok(())
    }

    /// Measured run length when no request count is given.
    pub(crate) fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// Unmeasured lead-in.
    pub(crate) fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup)
    }

    /// pubsub: the wait for late deliveries.
    pub(crate) fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.drain)
    }
}

/// `name=host:port`.
fn parse_compare(spec: &str) -> anyhow::Result<Endpoint> {
    let (name, addr) = spec
        .split_once('=')
        .with_context(|| format!("--compare entry {spec:?} is not name=host:port"))?;
    let addr = if addr.starts_with("redis://") {
        parse_url(addr)?
    } else {
        addr.to_string()
    };
    if name.is_empty() || !addr.contains(':') {
        bail!("--compare entry {spec:?} is not name=host:port");
    }
    Ok(Endpoint {
        name: name.to_string(),
        addr,
    })
}

/// `redis://host[:port][/db]` to `host:port`.
pub(crate) fn parse_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("redis://")
        .with_context(|| format!("URL {url:?} must start with redis://"))?;
    let hostport = rest.split('/').next().unwrap_or_default();
    if hostport.contains('@') {
        bail!("URL {url:?}: credentials are not supported");
    }
    if hostport.is_empty() {
        bail!("URL {url:?} has no host");
    }
    Ok(if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:6379")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_url_and_compare() {
        assert_eq!(parse_url("redis://h:7000/0").unwrap(), "h:7000");
        assert_eq!(parse_url("redis://h").unwrap(), "h:6379");
        assert!(parse_url("http://h").is_err());
        let o = Options::parse_from(["petrel-bench", "--compare", "redis=a:1,petrel=b:2"]);
        let e = o.endpoints().unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].name, "petrel");
        assert_eq!(e[1].addr, "b:2");
        let o = Options::parse_from(["petrel-bench", "-w", "ycsb-a,set"]);
        assert_eq!(o.workload, vec![Workload::YcsbA, Workload::Set]);
        assert_eq!(o.workload[0].name(), "ycsb-a");
    }
}
