//! The nemesis: a fault schedule drawn from a seed up front (so the same
//! seed replays the same schedule), then carried out against the cluster.
//!
//! Faults come one at a time: a quiet period, a fault, its heal, a quiet
//! period again. Targets are named by role where roles matter ("the primary
//! of partition 2"), resolved against the live map when the fault starts.

use std::fmt;
use std::time::{Duration, Instant};

use petrel_common::ids::PartitionId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::cluster::{server_host, Cluster, META_HOST, PROXY_HOST};
use super::multikey::keys::RECORD_PARTITION;

/// Kinds of fault a run may draw from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// kill -9 of the primary of a partition, restarted later.
    KillPrimary,
    /// kill -9 of any server, restarted later.
    Kill,
    /// SIGSTOP of the primary of a partition past its lease, then SIGCONT.
    Pause,
    /// kill -9 of meta, restarted later.
    Meta,
    /// (namespaces) the primary of a partition cut from every other server.
    PartitionPrimary,
    /// (namespaces) the primary of a partition cut from meta.
    PartitionMeta,
    /// (namespaces) the proxy cut from one server.
    PartitionProxy,
    /// (namespaces) one server (sometimes with meta) split from the rest.
    Split,
    /// (namespaces) packets one way only: the primary's to the other
    /// servers, or theirs to it.
    OneWay,
    /// Every byte to and from one server delayed (its relay).
    Delay,
    /// Connections to one server reset at random, as by packet loss (its
    /// relay).
    Loss,
    /// (host faults) a server's wall clock jumps minutes to hours, then back.
    Clock,
    /// (host faults) every fsync of a server fails; its log fails, so the
    /// heal restarts it (as an operator would).
    Fsync,
    /// (host faults) a server's disk fills up; the heal frees it and
    /// restarts the server.
    DiskFull,
    /// kill -9 the proxy while clients (and their transactions) run,
    /// restarted 0.2–3 s later; clients reconnect.
    KillProxy,
    /// kill -9 the primary of the partition that holds the multi-key
    /// workloads' transaction records ([`RECORD_PARTITION`]), restarted later.
    KillRecordPrimary,
    /// (a meta group) kill -9 the meta leader, restarted later.
    KillMetaLeader,
    /// (a meta group) SIGSTOP the meta leader, then SIGCONT.
    PauseMetaLeader,
    /// (a meta group, namespaces) the meta leader cut from every server.
    PartitionMetaLeader,
    /// (spare servers) start one more server; meta moves replicas onto it.
    AddServer,
    /// (spare servers) drain a server for a while, then stop draining it.
    Drain,
    /// (splits) split the table online: double its partition count while
    /// the workloads run, up to the run's cap.
    SplitTable,
}

impl Kind {
    pub(crate) fn all() -> &'static [Kind] {
        &[
            Kind::KillPrimary,
            Kind::Kill,
            Kind::Pause,
            Kind::Meta,
            Kind::PartitionPrimary,
            Kind::PartitionMeta,
            Kind::PartitionProxy,
            Kind::Split,
            Kind::OneWay,
            Kind::Delay,
            Kind::Loss,
            Kind::Clock,
            Kind::Fsync,
            Kind::DiskFull,
            Kind::KillProxy,
            Kind::KillRecordPrimary,
            Kind::KillMetaLeader,
            Kind::PauseMetaLeader,
            Kind::PartitionMetaLeader,
            Kind::AddServer,
            Kind::Drain,
            Kind::SplitTable,
        ]
    }

    /// Drawn by default only when meta runs as a group of several.
    pub(crate) fn for_meta_group(self) -> bool {
        matches!(
            self,
            Kind::KillMetaLeader | Kind::PauseMetaLeader | Kind::PartitionMetaLeader
        )
    }

    /// Drawn by default only when the cluster has spare servers to add.
    pub(crate) fn for_growth(self) -> bool {
        matches!(self, Kind::AddServer | Kind::Drain)
    }

    /// Drawn by default only when the run may split the table (`--splits`).
    pub(crate) fn for_splits(self) -> bool {
        matches!(self, Kind::SplitTable)
    }

    /// Drawn by default only when a multi-key workload runs, so the
    /// default schedule of a seed without them stays what it always was.
    pub(crate) fn for_transactions(self) -> bool {
        matches!(self, Kind::KillProxy | Kind::KillRecordPrimary)
    }

    /// Whether the kind needs servers started with host faults.
    pub(crate) fn needs_host_faults(self) -> bool {
        matches!(self, Kind::Clock | Kind::Fsync | Kind::DiskFull)
    }

    /// Whether the kind needs the cluster in network namespaces.
    pub(crate) fn needs_netns(self) -> bool {
        matches!(
            self,
            Kind::PartitionPrimary
                | Kind::PartitionMeta
                | Kind::PartitionProxy
                | Kind::Split
                | Kind::OneWay
                | Kind::PartitionMetaLeader
        )
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::KillPrimary => "kill-primary",
            Kind::Kill => "kill",
            Kind::Pause => "pause",
            Kind::Meta => "meta",
            Kind::PartitionPrimary => "partition-primary",
            Kind::PartitionMeta => "partition-meta",
            Kind::PartitionProxy => "partition-proxy",
            Kind::Split => "split",
            Kind::OneWay => "one-way",
            Kind::Delay => "delay",
            Kind::Loss => "loss",
            Kind::Clock => "clock",
            Kind::Fsync => "fsync",
            Kind::DiskFull => "disk-full",
            Kind::KillProxy => "kill-proxy",
            Kind::KillRecordPrimary => "kill-record-primary",
            Kind::KillMetaLeader => "kill-meta-leader",
            Kind::PauseMetaLeader => "pause-meta-leader",
            Kind::PartitionMetaLeader => "partition-meta-leader",
            Kind::AddServer => "add-server",
            Kind::Drain => "drain",
            Kind::SplitTable => "split-table",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Kind> {
        Kind::all().iter().copied().find(|k| k.name() == s)
    }

    /// The kinds a run draws from when `--nemesis` is not given: every kind
    /// the cluster's setup allows (`netns`, `host_faults`), the transaction
    /// kinds only with multi-key workloads (`transactions`), the meta
    /// leader's only with a meta group (`meta_group`), adding and draining
    /// servers only with spare servers (`growth`), table splits only when
    /// the run may split (`splits`).
    pub(crate) fn defaults(
        netns: bool,
        host_faults: bool,
        transactions: bool,
        meta_group: bool,
        growth: bool,
        splits: bool,
    ) -> Vec<Kind> {
        Kind::all()
            .iter()
            .copied()
            .filter(|k| {
                (netns || !k.needs_netns())
                    && (host_faults || !k.needs_host_faults())
                    && (transactions || !k.for_transactions())
                    && (meta_group || !k.for_meta_group())
                    && (growth || !k.for_growth())
                    && (splits || !k.for_splits())
            })
            .collect()
    }
}

/// One fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    KillPrimaryOf(u32),
    KillServer(usize),
    PausePrimaryOf(u32),
    RestartMeta,
    IsolatePrimaryOf(u32),
    CutPrimaryFromMeta(u32),
    CutProxyFrom(usize),
    SplitOff {
        server: usize,
        with_meta: bool,
    },
    OneWay {
        partition: u32,
        from_primary: bool,
    },
    Delay {
        server: usize,
        ms: u64,
    },
    Loss {
        server: usize,
        permille: u32,
    },
    ClockJump {
        server: usize,
        secs: i64,
    },
    FsyncFails(usize),
    DiskFull(usize),
    KillProxy,
    KillMetaLeader,
    PauseMetaLeader,
    CutMetaLeaderFromServers,
    AddServer,
    Drain(usize),
    /// Double the table's partition count (skipped at the run's cap).
    SplitTable,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::KillPrimaryOf(p) => write!(f, "kill -9 the primary of partition {p}"),
            Fault::KillServer(i) => write!(f, "kill -9 server {i}"),
            Fault::PausePrimaryOf(p) => write!(f, "SIGSTOP the primary of partition {p}"),
            Fault::RestartMeta => write!(f, "kill -9 meta"),
            Fault::KillProxy => write!(f, "kill -9 the proxy"),
            Fault::KillMetaLeader => write!(f, "kill -9 the meta leader"),
            Fault::PauseMetaLeader => write!(f, "SIGSTOP the meta leader"),
            Fault::CutMetaLeaderFromServers => write!(f, "cut the meta leader from every server"),
            Fault::AddServer => write!(f, "start a spare server"),
            Fault::Drain(i) => write!(f, "drain server {i}"),
            Fault::SplitTable => write!(f, "split the table (double its partitions)"),
            Fault::IsolatePrimaryOf(p) => {
                write!(f, "cut the primary of partition {p} from the other servers")
            }
            Fault::CutPrimaryFromMeta(p) => {
                write!(f, "cut the primary of partition {p} from meta")
            }
            Fault::CutProxyFrom(i) => write!(f, "cut the proxy from server {i}"),
            Fault::ClockJump { server, secs } => {
                write!(f, "jump the wall clock of server {server} by {secs} s")
            }
            Fault::FsyncFails(i) => write!(f, "fail every fsync of server {i}"),
            Fault::DiskFull(i) => write!(f, "fill the disk of server {i}"),
            Fault::OneWay {
                partition,
                from_primary: true,
            } => write!(
                f,
                "drop packets from the primary of partition {partition} to the other servers"
            ),
            Fault::OneWay {
                partition,
                from_primary: false,
            } => write!(
                f,
                "drop packets from the other servers to the primary of partition {partition}"
            ),
            Fault::Delay { server, ms } => {
                write!(f, "delay every byte to and from server {server} by {ms} ms")
            }
            Fault::Loss { server, permille } => write!(
                f,
                "reset connections to server {server} at {}.{}% of chunks",
                permille / 10,
                permille % 10
            ),
            Fault::SplitOff { server, with_meta } => write!(
                f,
                "split server {server}{} from the rest",
                if *with_meta { " and meta" } else { "" }
            ),
        }
    }
}

/// A fault, when it starts (from the run's start) and how long it lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) at: Duration,
    pub(crate) fault: Fault,
    pub(crate) lasts: Duration,
}

/// Draws the schedule for a run of `duration`.
#[cfg(test)]
pub(crate) fn schedule(
    seed: u64,
    duration: Duration,
    kinds: &[Kind],
    servers: usize,
    partitions: u32,
) -> Vec<Step> {
    schedule_covering(seed, duration, kinds, servers, partitions, false)
}

/// Like [`schedule`]; with `every_kind` the first faults are every kind
/// once, in an order the seed draws, and only then drawn at random (a run
/// too short for them all stops where its time does).
pub(crate) fn schedule_covering(
    seed: u64,
    duration: Duration,
    kinds: &[Kind],
    servers: usize,
    partitions: u32,
    every_kind: bool,
) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    if kinds.is_empty() {
        return steps;
    }
    let mut first: Vec<Kind> = if every_kind {
        kinds.to_vec()
    } else {
        Vec::new()
    };
    if every_kind {
        rand::seq::SliceRandom::shuffle(first.as_mut_slice(), &mut rng);
    }
    first.reverse();
    let mut t = Duration::from_secs(5);
    loop {
        let kind = match first.pop() {
            Some(k) => k,
            None => kinds[rng.gen_range(0..kinds.len())],
        };
        let (fault, lasts) = match kind {
            Kind::KillPrimary => (
                Fault::KillPrimaryOf(rng.gen_range(0..partitions)),
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::Kill => (
                Fault::KillServer(rng.gen_range(0..servers)),
                Duration::from_millis(rng.gen_range(1_000..10_000)),
            ),
            Kind::Pause => (
                Fault::PausePrimaryOf(rng.gen_range(0..partitions)),
                // Sometimes within the lease, mostly past meta's grace period.
                Duration::from_millis(rng.gen_range(1_000..8_000)),
            ),
            Kind::Meta => (
                Fault::RestartMeta,
                Duration::from_millis(rng.gen_range(500..6_000)),
            ),
            Kind::PartitionPrimary => (
                Fault::IsolatePrimaryOf(rng.gen_range(0..partitions)),
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::PartitionMeta => (
                Fault::CutPrimaryFromMeta(rng.gen_range(0..partitions)),
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::PartitionProxy => (
                Fault::CutProxyFrom(rng.gen_range(0..servers)),
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::Split => (
                Fault::SplitOff {
                    server: rng.gen_range(0..servers),
                    with_meta: rng.gen_bool(0.5),
                },
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::Clock => {
                let secs = rng.gen_range(60..7_200) * if rng.gen_bool(0.5) { 1 } else { -1 };
                (
                    Fault::ClockJump {
                        server: rng.gen_range(0..servers),
                        secs,
                    },
                    Duration::from_millis(rng.gen_range(2_000..10_000)),
                )
            }
            Kind::Fsync => (
                Fault::FsyncFails(rng.gen_range(0..servers)),
                Duration::from_millis(rng.gen_range(1_000..5_000)),
            ),
            Kind::OneWay => (
                Fault::OneWay {
                    partition: rng.gen_range(0..partitions),
                    from_primary: rng.gen_bool(0.5),
                },
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::Delay => (
                Fault::Delay {
                    server: rng.gen_range(0..servers),
                    // Up to about the lease: slow enough to time requests out.
                    ms: rng.gen_range(20..2_500),
                },
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::Loss => (
                Fault::Loss {
                    server: rng.gen_range(0..servers),
                    permille: rng.gen_range(5..150),
                },
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::DiskFull => (
                Fault::DiskFull(rng.gen_range(0..servers)),
                Duration::from_millis(rng.gen_range(1_000..6_000)),
            ),
            Kind::KillProxy => (
                Fault::KillProxy,
                Duration::from_millis(rng.gen_range(200..3_000)),
            ),
            Kind::KillRecordPrimary => (
                Fault::KillPrimaryOf(RECORD_PARTITION),
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::KillMetaLeader => (
                Fault::KillMetaLeader,
                Duration::from_millis(rng.gen_range(500..8_000)),
            ),
            Kind::PauseMetaLeader => (
                Fault::PauseMetaLeader,
                Duration::from_millis(rng.gen_range(500..8_000)),
            ),
            Kind::PartitionMetaLeader => (
                Fault::CutMetaLeaderFromServers,
                Duration::from_millis(rng.gen_range(2_000..10_000)),
            ),
            Kind::AddServer => (
                Fault::AddServer,
                // Time for the moves onto it before the next fault.
                Duration::from_millis(rng.gen_range(5_000..15_000)),
            ),
            Kind::Drain => (
                Fault::Drain(rng.gen_range(0..servers)),
                Duration::from_millis(rng.gen_range(5_000..20_000)),
            ),
            Kind::SplitTable => (
                Fault::SplitTable,
                // Time for the children to be built before the next fault
                // (which may still land on a split in progress).
                Duration::from_millis(rng.gen_range(5_000..15_000)),
            ),
        };
        if t + lasts + Duration::from_secs(2) > duration {
            break;
        }
        steps.push(Step {
            at: t,
            fault,
            lasts,
        });
        t += lasts + Duration::from_millis(rng.gen_range(3_000..8_000));
    }
    steps
}

/// What the nemesis did, for the report; each step is printed as it happens.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) faults: usize,
}

impl Log {
    fn note(&mut self, start: Instant, text: String) {
        println!("nemesis [{:>8.3}s] {text}", start.elapsed().as_secs_f64());
    }
}

/// Carries out `steps` (relative to `start`), healing each fault after it.
pub(crate) async fn run(cluster: &mut Cluster, steps: &[Step], start: Instant) -> Log {
    let mut log = Log::default();
    for step in steps {
        let wake = start + step.at;
        tokio::time::sleep_until(wake.into()).await;
        for dead in cluster.reap() {
            log.note(start, format!("noticed: {dead}"));
        }
        if step_needs_netns(&step.fault) && cluster.network().is_none() {
            log.note(
                start,
                format!("skipped ({}): no network namespaces", step.fault),
            );
            continue;
        }
        if matches!(
            step.fault,
            Fault::ClockJump { .. } | Fault::FsyncFails(_) | Fault::DiskFull(_)
        ) && !cluster.has_host_faults()
        {
            log.note(
                start,
                format!("skipped ({}): servers run without host faults", step.fault),
            );
            continue;
        }
        let target = match &step.fault {
            Fault::KillPrimaryOf(p)
            | Fault::PausePrimaryOf(p)
            | Fault::IsolatePrimaryOf(p)
            | Fault::CutPrimaryFromMeta(p)
            | Fault::OneWay { partition: p, .. } => match primary_index(cluster, *p).await {
                Some((i, q)) => {
                    if q != *p {
                        log.note(
                            start,
                            format!("partition {p} is partition {q} of the table now"),
                        );
                    }
                    Some(i)
                }
                None => {
                    log.note(
                        start,
                        format!("skipped ({}): no live primary known", step.fault),
                    );
                    continue;
                }
            },
            Fault::KillServer(i)
            | Fault::CutProxyFrom(i)
            | Fault::FsyncFails(i)
            | Fault::DiskFull(i) => Some(*i),
            Fault::ClockJump { server, .. }
            | Fault::Delay { server, .. }
            | Fault::Loss { server, .. } => Some(*server),
            Fault::SplitOff { server, .. } => Some(*server),
            Fault::Drain(i) => Some(*i),
            Fault::KillMetaLeader | Fault::PauseMetaLeader | Fault::CutMetaLeaderFromServers => {
                match cluster.meta_leader().await {
                    Some(m) => Some(m),
                    None => {
                        log.note(start, format!("skipped ({}): no meta leader", step.fault));
                        continue;
                    }
                }
            }
            Fault::SplitTable => match cluster.split_status().await {
                Ok((count, _)) if count * 2 > cluster.spec.max_partitions => {
                    log.note(
                        start,
                        format!("skipped ({}): {count} partitions, the cap", step.fault),
                    );
                    continue;
                }
                _ => None,
            },
            Fault::RestartMeta | Fault::KillProxy | Fault::AddServer => None,
        };
        log.faults += 1;
        match &step.fault {
            Fault::KillPrimaryOf(_) | Fault::KillServer(_) => {
                let i = target.unwrap_or_default();
                log.note(
                    start,
                    format!("{}: server {i} ({})", step.fault, cluster.server_addr(i)),
                );
                cluster.kill_server(i);
                tokio::time::sleep(step.lasts).await;
                match cluster.start_server(i) {
                    Ok(()) => log.note(start, format!("restarted server {i}")),
                    Err(e) => log.note(start, format!("cannot restart server {i}: {e:#}")),
                }
            }
            Fault::PausePrimaryOf(_) => {
                let i = target.unwrap_or_default();
                log.note(
                    start,
                    format!(
                        "{}: server {i} ({}) for {} ms",
                        step.fault,
                        cluster.server_addr(i),
                        step.lasts.as_millis()
                    ),
                );
                cluster.pause_server(i);
                tokio::time::sleep(step.lasts).await;
                cluster.resume_server(i);
                log.note(start, format!("SIGCONT server {i}"));
            }
            Fault::IsolatePrimaryOf(_)
            | Fault::CutPrimaryFromMeta(_)
            | Fault::CutProxyFrom(_)
            | Fault::SplitOff { .. }
            | Fault::OneWay { .. } => {
                let i = target.unwrap_or_default();
                let cut = cut(cluster, &step.fault, i);
                match cut {
                    Ok(()) => log.note(
                        start,
                        format!("{}: server {i} ({})", step.fault, cluster.server_addr(i)),
                    ),
                    Err(e) => {
                        log.note(start, format!("cannot cut ({}): {e:#}", step.fault));
                        continue;
                    }
                }
                tokio::time::sleep(step.lasts).await;
                match cluster.heal_network() {
                    Ok(()) => log.note(start, "healed the network".into()),
                    Err(e) => log.note(start, format!("cannot heal the network: {e:#}")),
                }
            }
            Fault::Delay { server, ms } => {
                cluster.delay_server(*server, Duration::from_millis(*ms));
                log.note(start, step.fault.to_string());
                tokio::time::sleep(step.lasts).await;
                cluster.delay_server(*server, Duration::ZERO);
                log.note(start, format!("no delay to server {server}"));
            }
            Fault::Loss { server, permille } => {
                cluster.lose_packets_to(*server, f64::from(*permille) / 1000.0);
                log.note(start, step.fault.to_string());
                tokio::time::sleep(step.lasts).await;
                cluster.lose_packets_to(*server, 0.0);
                log.note(start, format!("no loss to server {server}"));
            }
            Fault::DiskFull(i) => {
                match cluster.fill_disk(*i, 0) {
                    Ok(bytes) => log.note(
                        start,
                        format!("{}: took the last {} KiB", step.fault, bytes >> 10),
                    ),
                    Err(e) => log.note(
                        start,
                        format!("{}: reported an error, healing anyway: {e:#}", step.fault),
                    ),
                }
                tokio::time::sleep(step.lasts).await;
                if let Err(e) = cluster.free_disk(*i) {
                    log.note(start, format!("cannot free the disk of server {i}: {e:#}"));
                }
                // A log that failed to append stays failed: restart, as an
                // operator would after freeing space.
                cluster.kill_server(*i);
                match cluster.start_server(*i) {
                    Ok(()) => log.note(start, format!("disk freed; restarted server {i}")),
                    Err(e) => log.note(start, format!("cannot restart server {i}: {e:#}")),
                }
            }
            Fault::ClockJump { server, secs } => {
                if let Err(e) = cluster.jump_clock(*server, *secs) {
                    log.note(start, format!("cannot jump the clock: {e:#}"));
                    continue;
                }
                log.note(start, step.fault.to_string());
                tokio::time::sleep(step.lasts).await;
                match cluster.jump_clock(*server, 0) {
                    Ok(()) => log.note(start, format!("reset the clock of server {server}")),
                    Err(e) => log.note(start, format!("cannot reset the clock: {e:#}")),
                }
            }
            Fault::FsyncFails(i) => {
                match cluster.fail_fsync(*i, true) {
                    Ok(()) => log.note(start, step.fault.to_string()),
                    // libfiu may still apply a command whose reply was lost:
                    // heal as if it took effect.
                    Err(e) => log.note(
                        start,
                        format!("{}: reported an error, healing anyway: {e:#}", step.fault),
                    ),
                }
                tokio::time::sleep(step.lasts).await;
                // A failed log stays failed: restart the server, as an
                // operator would after replacing the disk.
                let _ = cluster.fail_fsync(*i, false);
                cluster.kill_server(*i);
                match cluster.start_server(*i) {
                    Ok(()) => log.note(start, format!("fsyncs work again; restarted server {i}")),
                    Err(e) => log.note(start, format!("cannot restart server {i}: {e:#}")),
                }
            }
            Fault::KillProxy => {
                log.note(start, step.fault.to_string());
                cluster.kill_proxy();
                tokio::time::sleep(step.lasts).await;
                match cluster.start_proxy() {
                    Ok(()) => log.note(start, "restarted the proxy".into()),
                    Err(e) => log.note(start, format!("cannot restart the proxy: {e:#}")),
                }
            }
            Fault::KillMetaLeader => {
                let m = target.unwrap_or_default();
                log.note(start, format!("{}: meta {m}", step.fault));
                cluster.kill_meta_at(m);
                tokio::time::sleep(step.lasts).await;
                match cluster.start_meta() {
                    Ok(()) => log.note(start, format!("restarted meta {m}")),
                    Err(e) => log.note(start, format!("cannot restart meta {m}: {e:#}")),
                }
            }
            Fault::PauseMetaLeader => {
                let m = target.unwrap_or_default();
                log.note(start, format!("{}: meta {m}", step.fault));
                cluster.pause_meta(m);
                tokio::time::sleep(step.lasts).await;
                cluster.resume_meta(m);
                log.note(start, format!("SIGCONT meta {m}"));
            }
            Fault::CutMetaLeaderFromServers => {
                let m = target.unwrap_or_default();
                let cut = cluster.network().map(|net| {
                    (0..cluster.server_count())
                        .try_for_each(|i| net.isolate(cluster.meta_host(m), server_host(i)))
                });
                match cut {
                    Some(Ok(())) => log.note(start, format!("{}: meta {m}", step.fault)),
                    Some(Err(e)) => {
                        log.note(start, format!("cannot cut ({}): {e:#}", step.fault));
                        continue;
                    }
                    None => continue,
                }
                tokio::time::sleep(step.lasts).await;
                match cluster.heal_network() {
                    Ok(()) => log.note(start, "healed the network".into()),
                    Err(e) => log.note(start, format!("cannot heal the network: {e:#}")),
                }
            }
            Fault::AddServer => {
                match cluster.add_server() {
                    Ok(Some(i)) => log.note(
                        start,
                        format!("{}: server {i} ({})", step.fault, cluster.server_addr(i)),
                    ),
                    Ok(None) => log.note(start, format!("skipped ({}): no spare left", step.fault)),
                    Err(e) => log.note(start, format!("cannot add a server: {e:#}")),
                }
                tokio::time::sleep(step.lasts).await;
            }
            Fault::Drain(i) => {
                match cluster.drain(*i, true).await {
                    Ok(n) => log.note(start, format!("{}: {n} replicas on it", step.fault)),
                    Err(e) => {
                        log.note(start, format!("cannot drain ({}): {e:#}", step.fault));
                        continue;
                    }
                }
                tokio::time::sleep(step.lasts).await;
                match cluster.drain(*i, false).await {
                    Ok(n) => log.note(
                        start,
                        format!("stopped draining server {i}: {n} replicas on it"),
                    ),
                    Err(e) => log.note(start, format!("cannot stop draining server {i}: {e:#}")),
                }
            }
            Fault::SplitTable => {
                let began = Instant::now();
                // The previous split may still be building.
                match cluster.split_table(step.lasts).await {
                    Ok(Some((from, to))) => {
                        log.note(start, format!("{}: {from} -> {to}", step.fault))
                    }
                    Ok(None) => log.note(start, format!("{}: at the cap already", step.fault)),
                    Err(e) => log.note(start, format!("cannot split the table: {e:#}")),
                }
                let until = began + step.lasts;
                while Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Ok((count, 0)) = cluster.split_status().await {
                        log.note(
                            start,
                            format!(
                                "every partition of {count} built ({:.1} s)",
                                began.elapsed().as_secs_f64()
                            ),
                        );
                        break;
                    }
                }
                tokio::time::sleep_until(until.into()).await;
            }
            Fault::RestartMeta => {
                log.note(start, step.fault.to_string());
                cluster.kill_meta();
                tokio::time::sleep(step.lasts).await;
                match cluster.start_meta() {
                    Ok(()) => log.note(start, "restarted meta".into()),
                    Err(e) => log.note(start, format!("cannot restart meta: {e:#}")),
                }
            }
        }
    }
    log
}

fn step_needs_netns(f: &Fault) -> bool {
    matches!(
        f,
        Fault::CutMetaLeaderFromServers
            | Fault::IsolatePrimaryOf(_)
            | Fault::CutPrimaryFromMeta(_)
            | Fault::CutProxyFrom(_)
            | Fault::SplitOff { .. }
            | Fault::OneWay { .. }
    )
}

/// Puts a network fault in place (server `i` is its target).
fn cut(cluster: &Cluster, fault: &Fault, i: usize) -> anyhow::Result<()> {
    let net = cluster
        .network()
        .ok_or_else(|| anyhow::anyhow!("no network namespaces"))?;
    let me = server_host(i);
    let others: Vec<usize> = (0..cluster.server_count())
        .filter(|&j| j != i)
        .map(server_host)
        .collect();
    match fault {
        Fault::IsolatePrimaryOf(_) => {
            for o in others {
                net.isolate(me, o)?;
            }
        }
        Fault::CutPrimaryFromMeta(_) => net.isolate(me, META_HOST)?,
        Fault::CutProxyFrom(_) => net.isolate(PROXY_HOST, me)?,
        Fault::OneWay { from_primary, .. } => {
            for o in others {
                if *from_primary {
                    net.drop_one_way(me, o)?;
                } else {
                    net.drop_one_way(o, me)?;
                }
            }
        }
        Fault::SplitOff { with_meta, .. } => {
            let mut minority = vec![me];
            let mut majority = others;
            majority.push(PROXY_HOST);
            if *with_meta {
                minority.push(META_HOST);
            } else {
                majority.push(META_HOST);
            }
            net.partition(&[minority, majority])?;
        }
        _ => {}
    }
    Ok(())
}

/// The live server leading `partition` (named modulo the table's current
/// count: the schedule names partitions splits have not made yet), and
/// the partition it leads.
async fn primary_index(cluster: &Cluster, partition: u32) -> Option<(usize, u32)> {
    let table = cluster.table().await.ok()?;
    let partition = partition % table.partition_count.max(1);
    let primary = table
        .partition(PartitionId(partition))?
        .primary
        .as_ref()?
        .0
        .clone();
    let i = cluster.server_index(&primary)?;
    cluster.is_server_up(i).then_some((i, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_comes_first_once_when_asked_and_old_schedules_stay() {
        let all = Kind::all().to_vec();
        assert_eq!(
            schedule(5, Duration::from_secs(600), &all, 3, 8),
            schedule_covering(5, Duration::from_secs(600), &all, 3, 8, false)
        );
        // Kinds whose faults are each of their own variant.
        let kinds = [
            Kind::KillPrimary,
            Kind::Kill,
            Kind::Pause,
            Kind::Meta,
            Kind::Clock,
            Kind::Fsync,
        ];
        for seed in 0..20 {
            let steps = schedule_covering(seed, Duration::from_secs(600), &kinds, 3, 8, true);
            let mut first: Vec<_> = steps[..kinds.len()]
                .iter()
                .map(|s| std::mem::discriminant(&s.fault))
                .collect();
            first.dedup();
            let distinct: std::collections::HashSet<_> = first.into_iter().collect();
            assert_eq!(distinct.len(), kinds.len(), "seed {seed}");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        let kinds = [Kind::KillPrimary, Kind::Kill, Kind::Pause, Kind::Meta];
        let a = schedule(7, Duration::from_secs(600), &kinds, 3, 4);
        let b = schedule(7, Duration::from_secs(600), &kinds, 3, 4);
        let c = schedule(8, Duration::from_secs(600), &kinds, 3, 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() > 20, "a 10 minute run has many faults: {}", a.len());
        let last = a.last().expect("faults");
        assert!(last.at + last.lasts <= Duration::from_secs(600));
        for kind in &kinds {
            assert!(
                a.iter().any(|s| matches!(
                    (&s.fault, kind),
                    (Fault::KillPrimaryOf(_), Kind::KillPrimary)
                        | (Fault::KillServer(_), Kind::Kill)
                        | (Fault::PausePrimaryOf(_), Kind::Pause)
                        | (Fault::RestartMeta, Kind::Meta)
                )),
                "{kind:?} drawn"
            );
        }
    }

    #[test]
    fn proxy_and_record_primary_kills_are_drawn_reproducibly() {
        let kinds = [Kind::KillProxy, Kind::KillRecordPrimary];
        let a = schedule(3, Duration::from_secs(300), &kinds, 3, 8);
        assert_eq!(a, schedule(3, Duration::from_secs(300), &kinds, 3, 8));
        let record = Fault::KillPrimaryOf(RECORD_PARTITION);
        assert!(a.iter().any(|s| s.fault == Fault::KillProxy));
        assert!(a.iter().any(|s| s.fault == record));
        assert!(a
            .iter()
            .all(|s| s.fault == Fault::KillProxy || s.fault == record));
    }

    #[test]
    fn default_kinds_without_transactions_are_the_ones_seeds_were_drawn_with() {
        // Adding kinds must not change what an old command line draws.
        let old: Vec<&str> = Kind::defaults(true, true, false, false, false, false)
            .iter()
            .map(|k| k.name())
            .collect();
        assert_eq!(
            old,
            [
                "kill-primary",
                "kill",
                "pause",
                "meta",
                "partition-primary",
                "partition-meta",
                "partition-proxy",
                "split",
                "one-way",
                "delay",
                "loss",
                "clock",
                "fsync",
                "disk-full"
            ]
        );
        assert_eq!(
            Kind::defaults(false, false, false, false, false, false),
            [
                Kind::KillPrimary,
                Kind::Kill,
                Kind::Pause,
                Kind::Meta,
                Kind::Delay,
                Kind::Loss
            ]
        );
        let with = Kind::defaults(false, false, true, false, false, false);
        assert!(with.contains(&Kind::KillProxy) && with.contains(&Kind::KillRecordPrimary));
        let grown = Kind::defaults(true, false, false, true, true, false);
        for k in [
            Kind::KillMetaLeader,
            Kind::PauseMetaLeader,
            Kind::PartitionMetaLeader,
            Kind::AddServer,
            Kind::Drain,
        ] {
            assert!(grown.contains(&k), "{k:?}");
        }
        assert!(!Kind::defaults(false, false, false, true, true, false)
            .contains(&Kind::PartitionMetaLeader));
    }

    #[test]
    fn meta_leader_and_growth_faults_are_drawn_reproducibly() {
        let kinds = [
            Kind::KillMetaLeader,
            Kind::PauseMetaLeader,
            Kind::PartitionMetaLeader,
            Kind::AddServer,
            Kind::Drain,
        ];
        let a = schedule(11, Duration::from_secs(600), &kinds, 3, 8);
        assert_eq!(a, schedule(11, Duration::from_secs(600), &kinds, 3, 8));
        for f in [
            Fault::KillMetaLeader,
            Fault::PauseMetaLeader,
            Fault::CutMetaLeaderFromServers,
            Fault::AddServer,
        ] {
            assert!(a.iter().any(|s| s.fault == f), "{f} drawn");
        }
        assert!(a
            .iter()
            .any(|s| matches!(s.fault, Fault::Drain(i) if i < 3)));
    }

    #[test]
    fn table_splits_are_drawn_only_with_splits_and_do_not_move_old_schedules() {
        for flags in 0..32u32 {
            let f = |i: u32| flags & (1 << i) != 0;
            let without = Kind::defaults(f(0), f(1), f(2), f(3), f(4), false);
            let with = Kind::defaults(f(0), f(1), f(2), f(3), f(4), true);
            assert!(!without.contains(&Kind::SplitTable));
            // The new kind comes last: every other kind keeps its index, so
            // a seed drawn without splits draws what it always did.
            assert_eq!(with[..with.len() - 1], without[..]);
            assert_eq!(with.last(), Some(&Kind::SplitTable));
        }
        let a = schedule(
            5,
            Duration::from_secs(600),
            &[Kind::SplitTable, Kind::Kill],
            3,
            32,
        );
        assert_eq!(
            a,
            schedule(
                5,
                Duration::from_secs(600),
                &[Kind::SplitTable, Kind::Kill],
                3,
                32
            )
        );
        assert!(a.iter().any(|s| s.fault == Fault::SplitTable));
    }

    #[test]
    fn only_the_kinds_asked_for_are_drawn() {
        let s = schedule(1, Duration::from_secs(300), &[Kind::Meta], 3, 4);
        assert!(!s.is_empty());
        assert!(s.iter().all(|s| s.fault == Fault::RestartMeta));
        assert!(schedule(1, Duration::from_secs(300), &[], 3, 4).is_empty());
    }
}
