//! The channel broker of every partition this server leads
//! (docs/PUBSUB.md): which proxies listen to what, per partition, and one
//! bounded queue of messages per proxy that the proxy's long poll drains.
//!
//! Nothing here is replicated or logged. A partition's registrations are
//! kept with the ballot they were made under; a publish or registration
//! under a newer ballot starts the partition afresh (proxies re-register
//! with the new primary). A proxy that stops polling is forgotten after
//! [`PROXY_IDLE`], its registrations with it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use petrel_common::glob;
use petrel_common::ids::{Ballot, Gpid};
use petrel_common::pubsub::{Audience, Delivery, PollResponse, QueryKind, SubEntry, SubKind};
use petrel_common::sync::lock;
use tokio::sync::Notify;
use tracing::{info, warn};

/// A proxy not heard from (poll or registration) this long is forgotten.
pub(crate) const PROXY_IDLE: Duration = Duration::from_secs(30);
/// Most bytes of messages one poll answer carries.
const POLL_BATCH_BYTES: usize = 1 << 20;
/// Longest a poll is held when nothing is queued.
const POLL_WAIT_MAX: Duration = Duration::from_secs(10);

/// Listener counts per proxy for one name.
type Listeners = HashMap<u64, u32>;

/// One partition's registrations, made under `ballot`.
#[derive(Default)]
struct Registry {
    ballot: Ballot,
    /// Proxies whose full registration this registry holds: only they may
    /// send increments.
    complete: HashSet<u64>,
    channels: HashMap<Bytes, Listeners>,
    patterns: HashMap<Bytes, Listeners>,
    shard: HashMap<Bytes, Listeners>,
    /// Keys tracked (CLIENT TRACKING), each invalidated once.
    tracked: HashMap<Bytes, Listeners>,
    /// Key prefixes tracked in BCAST mode.
    prefixes: HashMap<Bytes, Listeners>,
}

impl Registry {
    fn names(&mut self, kind: SubKind) -> &mut HashMap<Bytes, Listeners> {
        match kind {
            SubKind::Channel => &mut self.channels,
            SubKind::Pattern => &mut self.patterns,
            SubKind::Shard => &mut self.shard,
            SubKind::Tracking => &mut self.tracked,
            SubKind::TrackingPrefix => &mut self.prefixes,
        }
    }

    fn tracks(&self) -> bool {
        !(self.tracked.is_empty() && self.prefixes.is_empty())
    }

    fn forget(&mut self, proxy: u64) {
        self.complete.remove(&proxy);
        for names in [
            &mut self.channels,
            &mut self.patterns,
            &mut self.shard,
            &mut self.tracked,
            &mut self.prefixes,
        ] {
            names.retain(|_, listeners| {
                listeners.remove(&proxy);
                !listeners.is_empty()
            });
        }
    }

    fn set(&mut self, proxy: u64, entry: &SubEntry) {
        let Ok(kind) = SubKind::try_from(entry.kind) else {
            return;
        };
        let names = self.names(kind);
        if entry.count == 0 {
            if let Some(listeners) = names.get_mut(&entry.name) {
                listeners.remove(&proxy);
                if listeners.is_empty() {
                    names.remove(&entry.name);
                }
            }
        } else {
            names
                .entry(entry.name.clone())
                .or_default()
                .insert(proxy, entry.count);
        }
    }

    /// Per proxy, how many of its clients (of `audience`) receive a
    /// message on `channel`.
    fn receivers(&self, channel: &[u8], shard: bool, audience: Audience) -> HashMap<u64, u64> {
        let mut out: HashMap<u64, u64> = HashMap::new();
        let mut add = |listeners: &Listeners| {
            for (&proxy, &n) in listeners {
                *out.entry(proxy).or_default() += u64::from(n);
            }
        };
        if shard {
            if let Some(l) = self.shard.get(channel) {
                add(l);
            }
            return out;
        }
        if audience != Audience::Patterns {
            if let Some(l) = self.channels.get(channel) {
                add(l);
            }
        }
        if audience == Audience::Channel {
            return out;
        }
        for (pattern, l) in &self.patterns {
            if glob::matches(pattern, channel, false) {
                add(l);
            }
        }
        out
    }
}

/// What the broker keeps for one proxy: its queue and when it was last heard.
struct Link {
    queue: VecDeque<Delivery>,
    bytes: usize,
    dropped: u64,
    last_seen: Instant,
    ready: Arc<Notify>,
}

impl Link {
    fn new() -> Self {
        Link {
            queue: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            last_seen: Instant::now(),
            ready: Arc::new(Notify::new()),
        }
    }
}

#[derive(Default)]
struct Inner {
    proxies: HashMap<u64, Link>,
    partitions: HashMap<Gpid, Registry>,
}

impl Inner {
    /// `gpid`'s registry if it was made under `ballot`; a newer ballot
    /// starts it afresh (the proxies re-register with a new primary).
    fn registry(&mut self, gpid: Gpid, ballot: Ballot) -> Option<&mut Registry> {
        let reg = self.partitions.entry(gpid).or_default();
        if reg.ballot < ballot {
            *reg = Registry {
                ballot,
                ..Registry::default()
            };
        }
        (reg.ballot == ballot).then_some(reg)
    }
}

/// Why a registration was not applied.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RegisterRefusal {
    /// An increment without a full registration first: send everything.
    NeedsFull,
    /// The ballot is older than the one the partition's registry holds.
    Stale,
}

/// Every partition's broker on this server.
pub(crate) struct Broker {
    inner: Mutex<Inner>,
    /// Most bytes queued for one proxy; more messages are dropped.
    queue_limit: usize,
    /// Whether any partition has a tracked key or prefix: writes look no
    /// further when none has.
    tracking: std::sync::atomic::AtomicBool,
}

impl Broker {
    /// A broker queueing at most `queue_limit` bytes per proxy.
    pub(crate) fn new(queue_limit: usize) -> Self {
        Broker {
            inner: Mutex::default(),
            queue_limit,
            tracking: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether some client tracks keys here (CLIENT TRACKING).
    pub(crate) fn tracking(&self) -> bool {
        self.tracking.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn note_tracking(&self, inner: &Inner) {
        let any = inner.partitions.values().any(Registry::tracks);
        self.tracking
            .store(any, std::sync::atomic::Ordering::Relaxed);
    }

    /// After a write committed at `gpid` (primary, `ballot`): an
    /// invalidation of each written key for each proxy tracking it (a
    /// tracked key's registration is then dropped: tracking is once per
    /// read) or a prefix of it; `everything` (a flush) invalidates every
    /// key for every proxy tracking anything here.
    pub(crate) fn invalidate(&self, gpid: Gpid, ballot: Ballot, keys: &[Bytes], everything: bool) {
        let mut inner = lock(&self.inner);
        let Some(reg) = inner.partitions.get_mut(&gpid) else {
            return;
        };
        if reg.ballot != ballot || !reg.tracks() {
            return;
        }
        let mut out: Vec<(u64, Delivery)> = Vec::new();
        let invalidation = |channel: Bytes, everything: bool| Delivery {
            channel,
            message: Bytes::new(),
            shard: false,
            invalidate: true,
            everything,
            ..Delivery::default()
        };
        if everything {
            let mut proxies: Vec<u64> = reg
                .tracked
                .values()
                .chain(reg.prefixes.values())
                .flat_map(|l| l.keys().copied())
                .collect();
            proxies.sort_unstable();
            proxies.dedup();
            reg.tracked.clear();
            out.extend(
                proxies
                    .into_iter()
                    .map(|p| (p, invalidation(Bytes::new(), true))),
            );
        } else {
            for key in keys {
                let mut proxies: Vec<u64> = reg
                    .tracked
                    .remove(key)
                    .map(|l| l.into_keys().collect())
                    .unwrap_or_default();
                for (prefix, l) in &reg.prefixes {
                    if key.starts_with(prefix) {
                        proxies.extend(l.keys().copied());
                    }
                }
                proxies.sort_unstable();
                proxies.dedup();
                out.extend(
                    proxies
                        .into_iter()
                        .map(|p| (p, invalidation(key.clone(), false))),
                );
            }
        }
        for (proxy, delivery) in out {
            if let Some(link) = inner.proxies.get_mut(&proxy) {
                let weight = delivery.weight();
                if link.bytes + weight > self.queue_limit {
                    link.dropped += 1;
                    continue;
                }
                link.bytes += weight;
                link.queue.push_back(delivery);
                link.ready.notify_one();
            }
        }
        self.note_tracking(&inner);
    }

    /// [`Broker::publish_to`] everyone.
    #[cfg(test)]
    pub(crate) fn publish(
        &self,
        gpid: Gpid,
        ballot: Ballot,
        channel: &Bytes,
        message: &Bytes,
        shard: bool,
    ) -> i64 {
        self.publish_to(gpid, ballot, channel, message, shard, Audience::Everyone)
    }

    /// Queues `message` on `channel` for every proxy with a listener of
    /// `audience` (a non-shard channel's) at `gpid` (as registered under
    /// `ballot`); the number of listening clients.
    pub(crate) fn publish_to(
        &self,
        gpid: Gpid,
        ballot: Ballot,
        channel: &Bytes,
        message: &Bytes,
        shard: bool,
        audience: Audience,
    ) -> i64 {
        let mut inner = lock(&self.inner);
        let Some(reg) = inner.registry(gpid, ballot) else {
            return 0;
        };
        let receivers = reg.receivers(channel, shard, audience);
        if receivers.is_empty() {
            metrics::counter!("petrel_server_pubsub_published_total").increment(1);
            return 0;
        }
        let mut total: u64 = 0;
        let delivery = Delivery {
            channel: channel.clone(),
            message: message.clone(),
            shard,
            audience: audience.into(),
            ..Delivery::default()
        };
        let weight = delivery.weight();
        let mut queued = 0u64;
        let mut dropped = 0u64;
        for (proxy, n) in receivers {
            total += n;
            let Some(link) = inner.proxies.get_mut(&proxy) else {
                continue;
            };
            if link.bytes + weight > self.queue_limit {
                if link.dropped == 0 {
                    warn!(
                        proxy = format!("{proxy:016x}"),
                        bytes = link.bytes,
                        "a proxy's pub/sub queue is full (it is not polling fast enough); dropping its messages"
                    );
                }
                link.dropped += 1;
                dropped += 1;
                continue;
            }
            link.bytes += weight;
            link.queue.push_back(delivery.clone());
            link.ready.notify_one();
            queued += 1;
        }
        metrics::counter!("petrel_server_pubsub_published_total").increment(1);
        metrics::counter!("petrel_server_pubsub_queued_total").increment(queued);
        if dropped > 0 {
            metrics::counter!("petrel_server_pubsub_dropped_total").increment(dropped);
        }
        i64::try_from(total).unwrap_or(i64::MAX)
    }

    /// Applies a proxy's registration at `gpid`.
    pub(crate) fn register(
        &self,
        gpid: Gpid,
        ballot: Ballot,
        proxy: u64,
        full: bool,
        entries: &[SubEntry],
    ) -> Result<(), RegisterRefusal> {
        let mut inner = lock(&self.inner);
        inner
            .proxies
            .entry(proxy)
            .or_insert_with(Link::new)
            .last_seen = Instant::now();
        let Some(reg) = inner.registry(gpid, ballot) else {
            return Err(RegisterRefusal::Stale);
        };
        if full {
            reg.forget(proxy);
            reg.complete.insert(proxy);
        } else if !reg.complete.contains(&proxy) {
            return Err(RegisterRefusal::NeedsFull);
        }
        for entry in entries {
            reg.set(proxy, entry);
        }
        self.note_tracking(&inner);
        Ok(())
    }

    /// Answers a `PUBSUB` question about `gpid`: names, or counts.
    pub(crate) fn query(
        &self,
        gpid: Gpid,
        ballot: Ballot,
        kind: QueryKind,
        args: &[Bytes],
    ) -> (Vec<Bytes>, Vec<i64>) {
        let mut inner = lock(&self.inner);
        let Some(reg) = inner.registry(gpid, ballot) else {
            return (Vec::new(), vec![0; args.len()]);
        };
        let sum = |l: Option<&Listeners>| l.map_or(0, |l| l.values().map(|&n| i64::from(n)).sum());
        let listed = |names: &HashMap<Bytes, Listeners>| {
            names
                .keys()
                .filter(|n| args.first().is_none_or(|p| glob::matches(p, n, false)))
                .cloned()
                .collect::<Vec<_>>()
        };
        match kind {
            QueryKind::NumSub => (
                Vec::new(),
                args.iter().map(|c| sum(reg.channels.get(c))).collect(),
            ),
            QueryKind::ShardNumSub => (
                Vec::new(),
                args.iter().map(|c| sum(reg.shard.get(c))).collect(),
            ),
            QueryKind::Channels => (listed(&reg.channels), Vec::new()),
            QueryKind::ShardChannels => (listed(&reg.shard), Vec::new()),
            QueryKind::Patterns => (reg.patterns.keys().cloned().collect(), Vec::new()),
        }
    }

    /// A proxy's long poll: what is queued for it, waiting up to `wait`
    /// for something when nothing is.
    pub(crate) async fn poll(&self, proxy: u64, wait: Duration) -> PollResponse {
        let (known, ready) = {
            let mut inner = lock(&self.inner);
            let known = inner.proxies.contains_key(&proxy);
            let link = inner.proxies.entry(proxy).or_insert_with(Link::new);
            link.last_seen = Instant::now();
            (known, link.ready.clone())
        };
        if !known {
            info!(
                proxy = format!("{proxy:016x}"),
                "a proxy polls for pub/sub messages"
            );
            return PollResponse {
                known,
                deliveries: Vec::new(),
                dropped: 0,
            };
        }
        let until = tokio::time::Instant::now() + wait.min(POLL_WAIT_MAX);
        loop {
            if let Some(resp) = self.drain(proxy) {
                return resp;
            }
            if tokio::time::timeout_at(until, ready.notified())
                .await
                .is_err()
            {
                return self.drain(proxy).unwrap_or(PollResponse {
                    known: true,
                    deliveries: Vec::new(),
                    dropped: 0,
                });
            }
        }
    }

    /// Takes up to a batch of `proxy`'s queue; `None` when nothing is queued.
    fn drain(&self, proxy: u64) -> Option<PollResponse> {
        let mut inner = lock(&self.inner);
        let link = inner.proxies.get_mut(&proxy)?;
        link.last_seen = Instant::now();
        if link.queue.is_empty() && link.dropped == 0 {
            return None;
        }
        let mut deliveries = Vec::new();
        let mut bytes = 0;
        while let Some(d) = link.queue.front() {
            if !deliveries.is_empty() && bytes + d.weight() > POLL_BATCH_BYTES {
                break;
            }
            bytes += d.weight();
            if let Some(d) = link.queue.pop_front() {
                deliveries.push(d);
            }
        }
        link.bytes -= bytes;
        Some(PollResponse {
            known: true,
            deliveries,
            dropped: std::mem::take(&mut link.dropped),
        })
    }

    /// Forgets proxies not heard from for `idle`, and their registrations.
    pub(crate) fn forget_idle(&self, idle: Duration) {
        let mut inner = lock(&self.inner);
        let gone: Vec<u64> = inner
            .proxies
            .iter()
            .filter(|(_, l)| l.last_seen.elapsed() > idle)
            .map(|(&p, _)| p)
            .collect();
        for proxy in gone {
            info!(
                proxy = format!("{proxy:016x}"),
                "forgetting a proxy that stopped polling for pub/sub messages"
            );
            inner.proxies.remove(&proxy);
            for reg in inner.partitions.values_mut() {
                reg.forget(proxy);
            }
        }
        self.note_tracking(&inner);
        metrics::gauge!("petrel_server_pubsub_proxies").set(inner.proxies.len() as f64);
    }

    /// Forgets the partitions this server no longer hosts.
    pub(crate) fn retain_partitions(&self, hosted: impl Fn(Gpid) -> bool) {
        lock(&self.inner).partitions.retain(|&g, _| hosted(g));
    }
}

/// The user keys a committed mutation wrote, and whether it wiped every
/// key (FLUSHDB, FLUSHALL: a range over a whole record space).
pub(crate) fn written_keys(m: &crate::storage::Mutation) -> (Vec<Bytes>, bool) {
    use crate::storage::layout::user_key_of;
    use crate::storage::WriteOp;
    let mut keys: Vec<Bytes> = Vec::new();
    let mut everything = false;
    for op in &m.ops {
        let raw = match op {
            WriteOp::Put(k, _) | WriteOp::Delete(k) => k,
            WriteOp::DeleteRange(start, _) if start.len() <= 1 => {
                everything = true;
                continue;
            }
            WriteOp::DeleteRange(start, _) => start,
        };
        if let Some(key) = user_key_of(raw) {
            if keys.last().is_none_or(|k| k.as_ref() != key) {
                keys.push(Bytes::copy_from_slice(key));
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    (keys, everything)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: SubKind, name: &str, count: u32) -> SubEntry {
        SubEntry {
            kind: kind as i32,
            name: Bytes::copy_from_slice(name.as_bytes()),
            count,
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    const G: Gpid = Gpid::new(1, 0);

    #[tokio::test]
    async fn publish_counts_channel_and_pattern_listeners_of_every_proxy() {
        let broker = Broker::new(1 << 20);
        let ballot = Ballot(3);
        broker.poll(1, Duration::ZERO).await;
        broker.poll(2, Duration::ZERO).await;
        let one = [
            entry(SubKind::Channel, "news", 2),
            entry(SubKind::Pattern, "n*", 1),
        ];
        broker.register(G, ballot, 1, true, &one).unwrap();
        broker
            .register(G, ballot, 2, true, &[entry(SubKind::Channel, "news", 1)])
            .unwrap();
        assert_eq!(broker.publish(G, ballot, &b("news"), &b("hi"), false), 4);
        assert_eq!(broker.publish(G, ballot, &b("nope"), &b("x"), false), 1);
        assert_eq!(broker.publish(G, ballot, &b("other"), &b("x"), false), 0);
        assert_eq!(broker.publish(G, ballot, &b("news"), &b("x"), true), 0);
        let got = broker.poll(1, Duration::ZERO).await;
        let channels: Vec<_> = got.deliveries.iter().map(|d| d.channel.clone()).collect();
        assert_eq!(
            channels,
            vec![b("news"), b("nope")],
            "one per message, none for SPUBLISH"
        );
        assert_eq!(broker.poll(2, Duration::ZERO).await.deliveries.len(), 1);
        // An increment to zero removes; an increment before a full
        // registration is refused.
        broker
            .register(G, ballot, 2, false, &[entry(SubKind::Channel, "news", 0)])
            .unwrap();
        assert_eq!(broker.publish(G, ballot, &b("news"), &b("hi"), false), 3);
        assert_eq!(
            broker.register(G, ballot, 9, false, &[]),
            Err(RegisterRefusal::NeedsFull)
        );
    }

    #[tokio::test]
    async fn a_new_ballot_starts_afresh_and_an_old_one_is_refused() {
        let broker = Broker::new(1 << 20);
        broker
            .register(G, Ballot(3), 1, true, &[entry(SubKind::Channel, "c", 1)])
            .unwrap();
        assert_eq!(broker.publish(G, Ballot(4), &b("c"), &b("m"), false), 0);
        assert_eq!(
            broker.register(G, Ballot(3), 1, true, &[]),
            Err(RegisterRefusal::Stale)
        );
        assert_eq!(
            broker.register(G, Ballot(4), 1, false, &[]),
            Err(RegisterRefusal::NeedsFull)
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_says_so_and_an_idle_proxy_is_forgotten() {
        let broker = Broker::new(1000);
        broker.poll(1, Duration::ZERO).await;
        broker
            .register(G, Ballot(1), 1, true, &[entry(SubKind::Channel, "c", 1)])
            .unwrap();
        let big = Bytes::from(vec![b'x'; 400]);
        for _ in 0..5 {
            assert_eq!(broker.publish(G, Ballot(1), &b("c"), &big, false), 1);
        }
        let got = broker.poll(1, Duration::ZERO).await;
        assert_eq!((got.deliveries.len(), got.dropped), (2, 3));
        broker.forget_idle(Duration::ZERO);
        let again = broker.poll(1, Duration::ZERO).await;
        assert!(!again.known, "forgotten");
        assert_eq!(broker.publish(G, Ballot(1), &b("c"), &big, false), 0);
    }

    #[tokio::test]
    async fn a_waiting_poll_wakes_on_publish() {
        let broker = Arc::new(Broker::new(1 << 20));
        broker.poll(7, Duration::ZERO).await;
        broker
            .register(G, Ballot(1), 7, true, &[entry(SubKind::Shard, "s", 1)])
            .unwrap();
        let b2 = broker.clone();
        let waiting = tokio::spawn(async move { b2.poll(7, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(broker.publish(G, Ballot(1), &b("s"), &b("m"), true), 1);
        let got = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.deliveries.len(), 1);
        assert!(got.deliveries[0].shard);
        let (names, _) = broker.query(G, Ballot(1), QueryKind::ShardChannels, &[]);
        assert_eq!(names, vec![b("s")]);
        let (_, counts) = broker.query(G, Ballot(1), QueryKind::ShardNumSub, &[b("s"), b("t")]);
        assert_eq!(counts, vec![1, 0]);
    }
}
