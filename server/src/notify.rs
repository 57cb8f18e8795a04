//! Keyspace notifications at this server (docs/PUBSUB.md "Keyspace
//! notifications"): the cluster's `notify-keyspace-events` as this server
//! applies it, and the publishing of the events commands raise
//! ([`crate::cmd::events`]) once their writes have committed.
//!
//! Meta keeps the setting; a server takes it from every beacon answer
//! (before the lease that answer renews) and from meta's push when it
//! changes ([`Notifier::apply`]). Commands read it with one relaxed load.
//!
//! Where an event goes. Every database's channels are brokered by the
//! partitions of database 0's table (`petrel_common::pubsub::brokers`): a
//! keyspace channel by its key's partition, a keyevent channel and every
//! pattern by each partition. So a primary of database 0 publishes its
//! keys' events into its own broker ([`crate::pubsub::Broker`]), which
//! reaches every subscriber on every proxy, in the order they were raised.
//! Two cases go through another partition's broker, in order, by a
//! background task ([`Notifier::forward_loop`]):
//!
//! - a command run here for a key of another partition (a transaction's
//!   `RENAME a b` runs whole at `a`'s partition): its keyspace event is
//!   published here for the patterns (in order with the others) and at the
//!   key's partition for that channel's own subscribers
//!   (`petrel_common::pubsub::Audience`): each listener hears it once;
//! - events of database `n` > 0 (the table `<table>.db<n>`): published at
//!   database 0's partition of the same index.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use petrel_common::hash::partition_of;
use petrel_common::ids::{Ballot, Gpid};
use petrel_common::msg::{method, ExecCode, SettingsMsg};
use petrel_common::notify::{self, KEYEVENT, KEYSPACE};
use petrel_common::pubsub::{Audience, PubSubRequest, PubSubResponse, PublishMsg};
use petrel_common::rpc::client::RpcClient;
use petrel_common::sync::lock;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::cmd::events::Events;
use crate::pubsub::Broker;
use crate::txn::peers::Peers;

/// Events waiting to be published at another partition; more are dropped.
const FORWARD_QUEUE: usize = 65_536;
/// How long one publish at another partition may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a replica's events go: its partition, and which database it is.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub(crate) gpid: Gpid,
    /// The table's partition count, shared with the replica (a split
    /// changes it).
    pub(crate) partition_count: Arc<AtomicU32>,
    /// The Redis database its table serves: `n` for `<table>.db<n>`, else 0.
    pub(crate) db: u32,
    /// Database 0's table, whose partitions broker every database's channels.
    pub(crate) home_table: Arc<str>,
}

impl Place {
    /// The place of partition `gpid` of table `table` (of `partition_count`).
    pub(crate) fn new(gpid: Gpid, table: &str, partition_count: u32) -> Place {
        let (home, db) = database_of(table);
        Place {
            gpid,
            partition_count: Arc::new(AtomicU32::new(partition_count)),
            db,
            home_table: Arc::from(home),
        }
    }
}

/// `<table>.db<n>` (n ≥ 1) is database `n` of `<table>`; any other name is
/// database 0 of itself (the proxy's naming, `proxy/src/databases.rs`).
fn database_of(table: &str) -> (&str, u32) {
    if let Some((home, n)) = table.rsplit_once(".db") {
        if !home.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0') {
            if let Ok(db) = n.parse::<u32>() {
                return (home, db);
            }
        }
    }
    (table, 0)
}

/// Publishes the events of one primary's committed writes.
pub(crate) struct Publisher<'a> {
    pub(crate) notifier: &'a Notifier,
    pub(crate) place: &'a Place,
    /// The primary's ballot now.
    pub(crate) ballot: Ballot,
}

impl Publisher<'_> {
    pub(crate) fn publish(&self, events: Events) {
        self.notifier.publish(self.place, self.ballot, events);
    }
}

/// One message for another partition's broker.
struct Forward {
    table: Arc<str>,
    partition: u32,
    channel: Bytes,
    message: Bytes,
    audience: Audience,
}

/// This server's keyspace notifications: the setting, and the way out.
pub(crate) struct Notifier {
    /// The `notify-keyspace-events` classes (0: off).
    flags: AtomicU32,
    /// The generation of the cluster settings applied.
    generation: Mutex<u64>,
    broker: Arc<Broker>,
    outbox: mpsc::Sender<Forward>,
    /// Taken by [`Notifier::forward_loop`].
    inbox: Mutex<Option<mpsc::Receiver<Forward>>>,
}

impl Notifier {
    /// Notifications off, published into `broker`.
    pub(crate) fn new(broker: Arc<Broker>) -> Self {
        let (outbox, inbox) = mpsc::channel(FORWARD_QUEUE);
        Notifier {
            flags: AtomicU32::new(0),
            generation: Mutex::new(0),
            broker,
            outbox,
            inbox: Mutex::new(Some(inbox)),
        }
    }

    /// The classes commands raise events for now (0: off, the default).
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Relaxed)
    }

    /// Applies the cluster settings unless older ones than those applied
    /// (keyspace notifications here; `hll-sparse-max-bytes` in
    /// [`crate::cmd::hll`]); the generation applied after.
    pub(crate) fn apply(&self, settings: &SettingsMsg) -> u64 {
        let mut generation = lock(&self.generation);
        if settings.generation < *generation {
            return *generation;
        }
        *generation = settings.generation;
        // The other cluster setting, applied under the same lock so an
        // older message never overwrites a newer one.
        crate::cmd::hll::apply_settings(settings);
        let text = settings
            .settings
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(notify::SETTING))
            .map_or("", |s| s.value.as_str());
        let Some(flags) = notify::parse(text.as_bytes()) else {
            warn!(
                value = text,
                generation = settings.generation,
                "meta holds a notify-keyspace-events this server does not read; keeping the classes it had"
            );
            return *generation;
        };
        if self.flags.swap(flags, Relaxed) != flags {
            info!(
                classes = notify::format(flags),
                generation = settings.generation,
                "keyspace notifications changed"
            );
        }
        *generation
    }

    /// Publishes `events`, raised at `place` (whose primary holds `ballot`)
    /// by writes that have committed, in order.
    pub(crate) fn publish(&self, place: &Place, ballot: Ballot, events: Events) {
        if events.is_empty() {
            return;
        }
        metrics::counter!("petrel_server_keyspace_events_total")
            .increment(events.list.len() as u64);
        let own = place.gpid.partition.0;
        for event in events.list {
            if events.flags & KEYSPACE != 0 {
                let channel = Bytes::from(notify::keyspace_channel(place.db, &event.key));
                let message = Bytes::from_static(event.name.as_bytes());
                let count = place.partition_count.load(Relaxed);
                let partition = partition_of(&event.key, count);
                if partition == own {
                    self.deliver(place, ballot, &channel, &message, Audience::Everyone);
                } else {
                    self.deliver(place, ballot, &channel, &message, Audience::Patterns);
                    self.forward(place, partition, channel, message, Audience::Channel);
                }
            }
            if events.flags & KEYEVENT != 0 {
                let channel = Bytes::from(notify::keyevent_channel(place.db, event.name));
                self.deliver(place, ballot, &channel, &event.key, Audience::Everyone);
            }
        }
    }

    /// Publishes to `audience` at `place`'s own partition of database 0:
    /// here for database 0, at database 0's partition of the same index
    /// otherwise.
    fn deliver(
        &self,
        place: &Place,
        ballot: Ballot,
        channel: &Bytes,
        message: &Bytes,
        audience: Audience,
    ) {
        if place.db == 0 {
            self.broker
                .publish_to(place.gpid, ballot, channel, message, false, audience);
        } else {
            let own = place.gpid.partition.0;
            self.forward(place, own, channel.clone(), message.clone(), audience);
        }
    }

    fn forward(
        &self,
        place: &Place,
        partition: u32,
        channel: Bytes,
        message: Bytes,
        audience: Audience,
    ) {
        let f = Forward {
            table: place.home_table.clone(),
            partition,
            channel,
            message,
            audience,
        };
        if self.outbox.try_send(f).is_err() {
            metrics::counter!("petrel_server_keyspace_events_dropped_total").increment(1);
        }
    }

    /// Publishes what [`Notifier::publish`] left for other partitions'
    /// brokers, one at a time in order, routed by the tables' maps (a
    /// stale map is read again once). A message that cannot be delivered
    /// is dropped: notifications are at most once, as in Redis.
    pub(crate) async fn forward_loop(self: Arc<Self>, peers: Arc<Peers>, rpc: RpcClient) {
        let Some(mut inbox) = lock(&self.inbox).take() else {
            return;
        };
        while let Some(f) = inbox.recv().await {
            let mut sent = forward_one(&peers, &rpc, &f).await;
            if let Err(Stale(true)) = sent {
                peers.forget(&f.table);
                sent = forward_one(&peers, &rpc, &f).await;
            }
            if sent.is_err() {
                metrics::counter!("petrel_server_keyspace_events_dropped_total").increment(1);
            }
        }
    }
}

/// Why a forwarded event was not published: `true` when the map may be
/// stale (read it again and retry).
struct Stale(bool);

async fn forward_one(peers: &Peers, rpc: &RpcClient, f: &Forward) -> Result<(), Stale> {
    let (map, config) = peers.locate(&f.table, f.partition).await.map_err(|e| {
        debug!(table = %f.table, error = %e, "no map to publish a keyspace event by");
        Stale(false)
    })?;
    let Some(primary) = config.primary else {
        return Err(Stale(true));
    };
    let req = PubSubRequest {
        table_id: map.id.0,
        partition_id: f.partition,
        ballot: config.ballot.0,
        partition_count: map.partition_count,
        publish: Some(PublishMsg {
            channel: f.channel.clone(),
            message: f.message.clone(),
            shard: false,
            audience: f.audience.into(),
        }),
        ..PubSubRequest::default()
    };
    let resp: PubSubResponse = rpc
        .call(&primary.0, method::PUBSUB, &req, FORWARD_TIMEOUT)
        .await
        .map_err(|e| {
            debug!(%primary, error = %e, "a keyspace event was not published at another partition");
            Stale(true)
        })?;
    match ExecCode::try_from(resp.code) {
        Ok(ExecCode::Ok) => Ok(()),
        _ => Err(Stale(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::events::Event;
    use petrel_common::msg::SettingMsg;
    use petrel_common::pubsub::{SubEntry, SubKind};

    #[test]
    fn databases_are_named_like_the_proxy_names_them() {
        assert_eq!(database_of("default"), ("default", 0));
        assert_eq!(database_of("default.db3"), ("default", 3));
        assert_eq!(database_of("a.db.db12"), ("a.db", 12));
        assert_eq!(database_of("x.db0"), ("x.db0", 0));
        assert_eq!(database_of("x.db"), ("x.db", 0));
        assert_eq!(database_of(".db2"), (".db2", 0));
    }

    fn settings(generation: u64, value: &str) -> SettingsMsg {
        SettingsMsg {
            generation,
            settings: vec![SettingMsg {
                name: notify::SETTING.into(),
                value: value.into(),
            }],
        }
    }

    #[test]
    fn newer_settings_apply_and_older_ones_do_not() {
        let n = Notifier::new(Arc::new(Broker::new(1 << 20)));
        assert_eq!(n.flags(), 0);
        assert_eq!(n.apply(&settings(2, "KEA")), 2);
        assert_eq!(n.flags(), notify::parse(b"KEA").unwrap_or(0));
        assert_eq!(n.apply(&settings(1, "")), 2, "older: ignored");
        assert_eq!(n.flags(), notify::parse(b"KEA").unwrap_or(0));
        assert_eq!(n.apply(&settings(3, "bad!")), 3);
        assert_ne!(n.flags(), 0, "unreadable: the classes stay");
        assert_eq!(
            n.apply(&SettingsMsg {
                generation: 4,
                settings: Vec::new()
            }),
            4
        );
        assert_eq!(n.flags(), 0, "absent: the default, off");
    }

    #[tokio::test]
    async fn database_0_events_reach_its_own_broker_in_order() {
        let broker = Arc::new(Broker::new(1 << 20));
        let n = Notifier::new(broker.clone());
        let gpid = Gpid::new(1, 0);
        // A key of partition 0 of 1.
        let place = Place::new(gpid, "default", 1);
        broker.poll(7, Duration::ZERO).await;
        let pattern = SubEntry {
            kind: SubKind::Pattern as i32,
            name: Bytes::from_static(b"__key*__:*"),
            count: 1,
        };
        broker
            .register(gpid, Ballot(1), 7, true, &[pattern])
            .expect("register");
        let event = |name, key: &'static [u8]| Event {
            class: notify::STRING,
            name,
            key: Bytes::from_static(key),
        };
        let events = Events {
            flags: notify::parse(b"KEA").unwrap_or(0),
            list: vec![event("new", b"k"), event("set", b"k")],
        };
        n.publish(&place, Ballot(1), events);
        let got = broker.poll(7, Duration::ZERO).await;
        let frames: Vec<(Bytes, Bytes)> = got
            .deliveries
            .into_iter()
            .map(|d| (d.channel, d.message))
            .collect();
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(
            frames,
            vec![
                (b("__keyspace@0__:k"), b("new")),
                (b("__keyevent@0__:new"), b("k")),
                (b("__keyspace@0__:k"), b("set")),
                (b("__keyevent@0__:set"), b("k")),
            ]
        );
        // A key of another partition (raised here by a transaction's
        // carried command): its keyspace channel here for the patterns
        // only (its own subscribers hear it from its partition).
        let wide = Place::new(gpid, "default", 8);
        let foreign = (0..100)
            .map(|i| format!("f{i}"))
            .find(|k| partition_of(k.as_bytes(), 8) != 0)
            .expect("a key of another partition");
        let events = Events {
            flags: notify::parse(b"K$").unwrap_or(0),
            list: vec![Event {
                class: notify::STRING,
                name: "set",
                key: Bytes::from(foreign.clone()),
            }],
        };
        n.publish(&wide, Ballot(1), events);
        let got = broker.poll(7, Duration::ZERO).await;
        assert_eq!(got.deliveries.len(), 1);
        let d = &got.deliveries[0];
        assert_eq!(d.channel, Bytes::from(format!("__keyspace@0__:{foreign}")));
        assert_eq!(d.audience, i32::from(Audience::Patterns));
    }
}
