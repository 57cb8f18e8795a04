//! This proxy's subscribers: which connections listen to which channels,
//! patterns and shard channels, and the hand-off of a delivered message to
//! each of them. Every change is numbered, and the names it touched wait in
//! `changed` until the registrar takes them to the brokers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use petrel_common::glob;
use petrel_common::pubsub::{Audience, Delivery, SubKind};
use petrel_common::reply::Reply;
use tokio::sync::mpsc;

/// A message on its way to one connection, already in reply form.
pub(crate) struct Push {
    pub(crate) reply: Reply,
    /// Bytes it holds while queued (counted in the connection's mailbox).
    pub(crate) weight: usize,
}

/// The sending side of a connection's queue of pushes.
#[derive(Clone)]
pub(crate) struct Mailbox {
    tx: mpsc::UnboundedSender<Push>,
    /// Bytes queued and not yet taken by the connection.
    queued: Arc<AtomicUsize>,
}

/// Most bytes waiting in one connection's mailbox; messages past it are
/// dropped (the connection's own output limit closes it first by default).
const MAILBOX_MAX: usize = 64 << 20;

/// The connection's side: pushes in the order they were delivered.
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<Push>,
    queued: Arc<AtomicUsize>,
}

/// A new mailbox and its inbox.
pub(crate) fn mailbox() -> (Mailbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Mailbox {
            tx,
            queued: queued.clone(),
        },
        Inbox { rx, queued },
    )
}

impl Mailbox {
    /// Queues `reply` for the connection (gone connections drop it). Past
    /// [`MAILBOX_MAX`] queued bytes (a connection whose task cannot keep
    /// up) the message is dropped: the connection sees the backlog and is
    /// closed at its output limit.
    pub(crate) fn send(&self, reply: Reply, weight: usize) {
        if self.queued.load(Relaxed) > MAILBOX_MAX {
            return;
        }
        self.queued.fetch_add(weight, Relaxed);
        if self.tx.send(Push { reply, weight }).is_err() {
            self.queued.fetch_sub(weight, Relaxed);
        }
    }
}

impl Inbox {
    /// The next push, waiting for one.
    pub(crate) async fn recv(&mut self) -> Option<Push> {
        let push = self.rx.recv().await;
        if let Some(p) = &push {
            self.queued.fetch_sub(p.weight, Relaxed);
        }
        push
    }

    /// Bytes queued for the connection and not taken yet.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Relaxed)
    }

    /// The next push if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Push> {
        let push = self.rx.try_recv().ok();
        if let Some(p) = &push {
            self.queued.fetch_sub(p.weight, Relaxed);
        }
        push
    }
}

/// Listening connections per name, for one kind of subscription.
type Names = HashMap<Bytes, HashMap<u64, Mailbox>>;

/// Where a tracking connection's invalidations go (CLIENT TRACKING).
#[derive(Clone)]
pub(crate) struct Tracker {
    /// Its own mailbox (RESP3: `invalidate` pushes); `None` in RESP2
    /// without a redirect (Redis sends such a client nothing).
    pub(crate) mailbox: Option<Mailbox>,
    /// The client that gets them instead, as `__redis__:invalidate` messages.
    pub(crate) redirect: Option<u64>,
}

/// The channel a redirect target subscribes to for invalidations.
pub(crate) const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// Every subscription of every connection of this proxy.
#[derive(Default)]
pub(crate) struct Hub {
    channels: Names,
    patterns: Names,
    shard: Names,
    /// Keys tracking connections read (each invalidated once).
    tracked: Names,
    /// BCAST prefixes.
    prefixes: Names,
    /// Every tracking connection.
    trackers: HashMap<u64, Tracker>,
    /// The keys each tracking connection tracks.
    tracked_by: HashMap<u64, HashSet<Bytes>>,
    /// Numbers the changes; the registrar acknowledges up to one.
    pub(crate) seq: u64,
    /// Names whose listener count changed since the registrar last looked.
    pub(crate) changed: HashSet<(SubKind, Bytes)>,
}

impl Hub {
    fn names(&self, kind: SubKind) -> &Names {
        match kind {
            SubKind::Channel => &self.channels,
            SubKind::Pattern => &self.patterns,
            SubKind::Shard => &self.shard,
            SubKind::Tracking => &self.tracked,
            SubKind::TrackingPrefix => &self.prefixes,
        }
    }

    fn names_mut(&mut self, kind: SubKind) -> &mut Names {
        match kind {
            SubKind::Channel => &mut self.channels,
            SubKind::Pattern => &mut self.patterns,
            SubKind::Shard => &mut self.shard,
            SubKind::Tracking => &mut self.tracked,
            SubKind::TrackingPrefix => &mut self.prefixes,
        }
    }

    /// Adds connection `id` as a listener of `name`; the change's number.
    pub(crate) fn add(&mut self, kind: SubKind, name: &Bytes, id: u64, mailbox: &Mailbox) -> u64 {
        self.names_mut(kind)
            .entry(name.clone())
            .or_default()
            .insert(id, mailbox.clone());
        self.touched(kind, name)
    }

    /// Removes connection `id` from `name`'s listeners; the change's number.
    pub(crate) fn remove(&mut self, kind: SubKind, name: &Bytes, id: u64) -> u64 {
        let names = self.names_mut(kind);
        if let Some(listeners) = names.get_mut(name) {
            listeners.remove(&id);
            if listeners.is_empty() {
                names.remove(name);
            }
        }
        self.touched(kind, name)
    }

    fn touched(&mut self, kind: SubKind, name: &Bytes) -> u64 {
        self.changed.insert((kind, name.clone()));
        self.seq += 1;
        self.seq
    }

    /// How many connections listen to `name`.
    pub(crate) fn count(&self, kind: SubKind, name: &[u8]) -> u32 {
        self.names(kind)
            .get(name)
            .map_or(0, |l| u32::try_from(l.len()).unwrap_or(u32::MAX))
    }

    /// Every name of `kind` with its listener count.
    pub(crate) fn all(&self, kind: SubKind) -> impl Iterator<Item = (&Bytes, u32)> {
        self.names(kind)
            .iter()
            .map(|(n, l)| (n, u32::try_from(l.len()).unwrap_or(u32::MAX)))
    }

    /// Whether any connection listens to anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.channels.is_empty()
            && self.patterns.is_empty()
            && self.shard.is_empty()
            && self.tracked.is_empty()
            && self.prefixes.is_empty()
    }

    /// Starts (or changes) connection `id`'s tracking.
    pub(crate) fn start_tracking(&mut self, id: u64, tracker: Tracker) {
        self.trackers.insert(id, tracker);
    }

    /// Tracks `key` for connection `id`; the change's number when it was
    /// not tracked yet.
    pub(crate) fn track(&mut self, id: u64, key: &Bytes, mailbox: &Mailbox) -> Option<u64> {
        if !self.tracked_by.entry(id).or_default().insert(key.clone()) {
            return None;
        }
        Some(self.add(SubKind::Tracking, key, id, mailbox))
    }

    /// Ends connection `id`'s tracking: its keys and prefixes are dropped.
    pub(crate) fn stop_tracking(&mut self, id: u64, prefixes: &[Bytes]) {
        self.trackers.remove(&id);
        for key in self.tracked_by.remove(&id).unwrap_or_default() {
            self.remove(SubKind::Tracking, &key, id);
        }
        for prefix in prefixes {
            self.remove(SubKind::TrackingPrefix, prefix, id);
        }
    }

    /// Sends an invalidation (of `key`, or of everything) to connection `id`.
    fn invalidate_one(&self, id: u64, key: Option<&Bytes>) {
        let Some(tracker) = self.trackers.get(&id) else {
            return;
        };
        let keys = key.map_or(Reply::Nil, |k| Reply::Array(vec![Reply::Bulk(k.clone())]));
        let weight = key.map_or(0, |k| k.len()) + 64;
        match tracker.redirect {
            Some(target) => {
                let redirected = self
                    .channels
                    .get(INVALIDATE_CHANNEL)
                    .and_then(|l| l.get(&target));
                if let Some(mailbox) = redirected {
                    let message = Reply::Push(vec![
                        Reply::Bulk(Bytes::from_static(b"message")),
                        Reply::Bulk(Bytes::from_static(INVALIDATE_CHANNEL)),
                        keys,
                    ]);
                    mailbox.send(message, weight);
                }
            }
            None => {
                if let Some(mailbox) = &tracker.mailbox {
                    let push =
                        Reply::Push(vec![Reply::Bulk(Bytes::from_static(b"invalidate")), keys]);
                    mailbox.send(push, weight);
                }
            }
        }
    }

    /// Hands a tracking invalidation to the connections tracking its key
    /// (which stop tracking it) or a prefix of it; everything: to every
    /// tracking connection. How many were told.
    fn invalidate(&mut self, d: &Delivery) -> usize {
        if d.everything {
            let ids: Vec<u64> = self.trackers.keys().copied().collect();
            for &id in &ids {
                self.invalidate_one(id, None);
                for key in self.tracked_by.remove(&id).unwrap_or_default() {
                    self.remove(SubKind::Tracking, &key, id);
                }
            }
            return ids.len();
        }
        let mut ids: Vec<u64> = self
            .tracked
            .get(&d.channel)
            .map(|l| l.keys().copied().collect())
            .unwrap_or_default();
        for &id in &ids {
            if let Some(keys) = self.tracked_by.get_mut(&id) {
                keys.remove(&d.channel);
            }
            self.remove(SubKind::Tracking, &d.channel, id);
        }
        for (prefix, listeners) in &self.prefixes {
            if d.channel.starts_with(prefix) {
                ids.extend(listeners.keys().copied());
            }
        }
        ids.sort_unstable();
        ids.dedup();
        for &id in &ids {
            self.invalidate_one(id, Some(&d.channel));
        }
        ids.len()
    }

    /// Hands `d` to its listeners here: the channel's, then each matching
    /// pattern's (shard messages: the shard channel's only), those of its
    /// audience only. The number of connections reached.
    pub(crate) fn deliver(&mut self, d: &Delivery) -> usize {
        if d.invalidate {
            return self.invalidate(d);
        }
        let weight = d.channel.len() + d.message.len() + 64;
        let mut reached = 0;
        if d.shard {
            for mailbox in self
                .shard
                .get(&d.channel)
                .into_iter()
                .flat_map(|l| l.values())
            {
                mailbox.send(message("smessage", None, d), weight);
                reached += 1;
            }
            return reached;
        }
        let audience = Audience::try_from(d.audience).unwrap_or_default();
        let channels = self
            .channels
            .get(&d.channel)
            .filter(|_| audience != Audience::Patterns);
        for mailbox in channels.into_iter().flat_map(|l| l.values()) {
            mailbox.send(message("message", None, d), weight);
            reached += 1;
        }
        if audience == Audience::Channel {
            return reached;
        }
        for (pattern, listeners) in &self.patterns {
            if !glob::matches(pattern, &d.channel, false) {
                continue;
            }
            for mailbox in listeners.values() {
                mailbox.send(message("pmessage", Some(pattern), d), weight);
                reached += 1;
            }
        }
        reached
    }
}

/// The push Redis sends for a message: `[kind, (pattern,) channel, payload]`.
fn message(kind: &'static str, pattern: Option<&Bytes>, d: &Delivery) -> Reply {
    let mut items = vec![Reply::Bulk(Bytes::from_static(kind.as_bytes()))];
    if let Some(p) = pattern {
        items.push(Reply::Bulk(p.clone()));
    }
    items.push(Reply::Bulk(d.channel.clone()));
    items.push(Reply::Bulk(d.message.clone()));
    Reply::Push(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[tokio::test]
    async fn a_delivery_reaches_channel_then_pattern_listeners_and_numbers_changes() {
        let mut hub = Hub::default();
        let (one, mut inbox_one) = mailbox();
        let (two, mut inbox_two) = mailbox();
        assert_eq!(hub.add(SubKind::Channel, &b("news"), 1, &one), 1);
        assert_eq!(hub.add(SubKind::Pattern, &b("n*"), 1, &one), 2);
        assert_eq!(hub.add(SubKind::Shard, &b("news"), 2, &two), 3);
        assert_eq!(hub.changed.len(), 3);
        let d = Delivery {
            channel: b("news"),
            message: b("hi"),
            ..Delivery::default()
        };
        assert_eq!(hub.deliver(&d), 2);
        let first = inbox_one.recv().await.unwrap().reply;
        assert_eq!(
            first,
            Reply::Push(
                vec![b("message"), b("news"), b("hi")]
                    .into_iter()
                    .map(Reply::Bulk)
                    .collect()
            )
        );
        let second = inbox_one.recv().await.unwrap().reply;
        assert!(matches!(second, Reply::Push(ref v) if v.len() == 4));
        assert!(
            inbox_two.try_recv().is_none(),
            "shard listeners hear only SPUBLISH"
        );
        assert_eq!(
            hub.deliver(&Delivery {
                shard: true,
                ..d.clone()
            }),
            1
        );
        assert!(inbox_two.try_recv().is_some());
        hub.remove(SubKind::Channel, &b("news"), 1);
        assert_eq!(hub.count(SubKind::Channel, b"news"), 0);
        assert_eq!(hub.deliver(&d), 1, "the pattern still matches");
    }
}
