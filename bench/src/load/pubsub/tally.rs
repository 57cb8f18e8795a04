//! Counting a pub/sub run: the one clock every stamp is read against, the
//! measured window, what the threads share while it runs, and what each
//! subscriber thread counts.
//!
//! Deliveries count by when they *arrive*: those that arrive inside the
//! window make the delivered rate and the latency histogram (each timed
//! from its `PUBLISH`'s write), so both describe the same interval as the
//! published rate. Loss is counted over the whole run: every receiver a
//! `PUBLISH` reply announced, against every message that arrived.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::load::stats::Stats;
use crate::load::workloads::OpKind;

use super::wire::Stamp;

/// The run's monotonic clock, in nanoseconds since its epoch: publishers
/// stamp messages with it and subscribers read it on arrival (one process,
/// so one clock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    pub(crate) fn now(&self) -> u64 {
        self.at(Instant::now())
    }

    /// `t` in nanoseconds since the epoch (0 before it).
    pub(crate) fn at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The measured interval, `[from, to)` in the clock's nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) from: u64,
    pub(crate) to: u64,
}

impl Window {
    pub(crate) fn contains(&self, t: u64) -> bool {
        (self.from..self.to).contains(&t)
    }

    /// Its length in seconds.
    pub(crate) fn secs(&self) -> f64 {
        self.to.saturating_sub(self.from) as f64 / 1e9
    }
}

/// What the publisher, subscriber and main threads share during a run.
#[derive(Default)]
pub(crate) struct Progress {
    /// Subscriber connections whose `SUBSCRIBE` was confirmed.
    pub(crate) subscribed: AtomicUsize,
    /// Messages received by every subscriber so far.
    pub(crate) delivered: AtomicU64,
    /// `PUBLISH` replies so far.
    pub(crate) published: AtomicU64,
    /// The deliveries those replies announced.
    pub(crate) announced: AtomicU64,
    /// Set once every subscriber is in; publishing starts then.
    pub(crate) window: OnceLock<Window>,
    /// The first failure of a connection that was needed (connect, subscribe).
    failure: Mutex<Option<String>>,
}

impl Progress {
    /// Deliveries announced and not arrived yet.
    pub(crate) fn in_flight(&self) -> u64 {
        let announced = self.announced.load(Relaxed);
        announced.saturating_sub(self.delivered.load(Relaxed))
    }

    /// Records a failure; the first one is what the run reports.
    pub(crate) fn fail(&self, why: String) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(why);
    }

    /// The first failure, if any.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What one subscriber thread counted.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    /// [`OpKind::Deliver`] latencies of the messages that arrived in the window.
    pub(crate) stats: Stats,
    /// Every message that arrived, window or not.
    pub(crate) received: u64,
    /// Of those, the ones that arrived after the window (late, or drained).
    pub(crate) after_window: u64,
    /// Messages that came before an earlier one of the same publisher on
    /// the same connection.
    pub(crate) reordered: u64,
    /// Messages without a readable stamp.
    pub(crate) malformed: u64,
    /// Subscriber connections closed by the server or failed while the
    /// run went on.
    pub(crate) subscribers_lost: u64,
    /// When the last message arrived (clock nanoseconds).
    pub(crate) last_arrival: u64,
}

impl Deliveries {
    /// One message that arrived at `arrived`, with its payload's stamp.
    pub(crate) fn record(&mut self, window: Option<&Window>, stamp: Option<Stamp>, arrived: u64) {
        self.received += 1;
        self.last_arrival = self.last_arrival.max(arrived);
        let Some(stamp) = stamp else {
            self.malformed += 1;
            return;
        };
        match window {
            Some(w) if w.contains(arrived) => {
                let latency = Duration::from_nanos(arrived.saturating_sub(stamp.sent));
                self.stats.record(OpKind::Deliver, latency);
            }
            Some(w) if arrived >= w.to => self.after_window += 1,
            _ => {}
        }
    }

    /// Adds another thread's counts.
    pub(crate) fn merge(&mut self, other: &Deliveries) {
        self.stats.merge(&other.stats);
        self.received += other.received;
        self.after_window += other.after_window;
        self.reordered += other.reordered;
        self.malformed += other.malformed;
        self.subscribers_lost += other.subscribers_lost;
        self.last_arrival = self.last_arrival.max(other.last_arrival);
    }
}

/// The last sequence number seen from each publisher on one connection.
#[derive(Debug, Default)]
pub(crate) struct Order {
    /// Indexed by publisher: its last sequence number plus one (0: none yet).
    next: Vec<u64>,
}

impl Order {
    /// Notes `stamp`; whether it came after everything its publisher sent
    /// before on this connection.
    pub(crate) fn in_order(&mut self, stamp: &Stamp) -> bool {
        let p = usize::from(stamp.publisher);
        if self.next.len() <= p {
            self.next.resize(p + 1, 0);
        }
        let ok = stamp.seq + 1 > self.next[p];
        self.next[p] = self.next[p].max(stamp.seq + 1);
        ok
    }
}

/// Deliveries announced by `PUBLISH` replies that never arrived, and
/// deliveries that arrived beyond them: `(lost, extra)`.
pub(crate) fn loss(expected: u64, received: u64) -> (u64, u64) {
    (
        expected.saturating_sub(received),
        received.saturating_sub(expected),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sent: u64, publisher: u16, seq: u64) -> Option<Stamp> {
        Some(Stamp {
            sent,
            publisher,
            seq,
        })
    }

    #[test]
    fn deliveries_count_by_arrival_against_the_window() {
        let w = Window {
            from: 1_000_000,
            to: 2_000_000,
        };
        assert_eq!(w.secs(), 0.001);
        let mut d = Deliveries::default();
        // Before the window: counted as received only.
        d.record(Some(&w), stamp(0, 0, 0), 500_000);
        // Sent before the window, arrived in it: timed (700 µs).
        d.record(Some(&w), stamp(300_000, 0, 1), 1_000_000);
        // Sent and arrived in it: 20 µs.
        d.record(Some(&w), stamp(1_500_000, 0, 2), 1_520_000);
        // Arrived after it.
        d.record(Some(&w), stamp(1_999_000, 0, 3), 2_000_000);
        // Before any window (subscribing), and a message without a stamp.
        d.record(None, stamp(0, 0, 4), 10);
        d.record(Some(&w), None, 1_600_000);
        assert_eq!(d.received, 6);
        assert_eq!(d.after_window, 1);
        assert_eq!(d.malformed, 1);
        assert_eq!(d.last_arrival, 2_000_000);
        let h = &d.stats.kinds[OpKind::Deliver.index()]
            .as_ref()
            .unwrap()
            .latency;
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 20);
        assert!((h.max() as i64 - 700).abs() <= 1, "{}", h.max());
        let mut all = Deliveries {
            subscribers_lost: 2,
            ..Deliveries::default()
        };
        all.merge(&d);
        all.merge(&d);
        assert_eq!(all.received, 12);
        assert_eq!(all.subscribers_lost, 2);
        assert_eq!(all.stats.ops(), 4);
    }

    #[test]
    fn order_is_per_publisher_and_loss_is_either_way() {
        let mut o = Order::default();
        let s = |p, q| stamp(0, p, q).unwrap();
        assert!(o.in_order(&s(3, 0)));
        assert!(o.in_order(&s(0, 5)), "another publisher starts anywhere");
        assert!(o.in_order(&s(3, 2)), "gaps are not reordering");
        assert!(!o.in_order(&s(3, 1)));
        assert!(!o.in_order(&s(3, 2)), "a repeat is out of order");
        assert!(o.in_order(&s(3, 3)));
        assert_eq!(loss(10, 7), (3, 0));
        assert_eq!(loss(10, 12), (0, 2));
        assert_eq!(loss(0, 0), (0, 0));
    }
}
