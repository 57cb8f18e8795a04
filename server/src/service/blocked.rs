//! Blocked clients served first come, first served (as Redis serves them):
//! after each applied write, the blocking commands waiting at a partition
//! try their pop in the order the clients first asked, a waiter trying
//! only once every earlier waiter that shares a key with it has tried for
//! that write. The order is the proxy's ticket (when the client's command
//! arrived), so it survives the proxy asking again slice after slice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use petrel_common::ids::Gpid;
use petrel_common::sync::lock;
use tokio::sync::watch;

/// A waiter's place: its ticket, then arrival here to break ties.
pub(crate) type Place = (u64, u64);

struct Waiter {
    place: Place,
    keys: Vec<Bytes>,
    /// The applied version it last tried its pop at.
    tried: u64,
}

/// The waiters of one partition.
pub(crate) struct Queue {
    waiters: Mutex<(u64, Vec<Waiter>)>,
    /// Bumped whenever a waiter tries or leaves.
    progress: watch::Sender<u64>,
}

impl Queue {
    fn new() -> Self {
        Queue {
            waiters: Mutex::new((0, Vec::new())),
            progress: watch::Sender::new(0),
        }
    }

    /// Joins the queue with `ticket` (0: now) for `keys`; leave by dropping
    /// the returned place guard.
    pub(crate) fn join(self: &Arc<Self>, ticket: u64, keys: Vec<Bytes>) -> Joined {
        let mut w = lock(&self.waiters);
        w.0 += 1;
        let ticket = if ticket == 0 {
            petrel_common::time::now_unix_ms().saturating_mul(1000)
        } else {
            ticket
        };
        let place = (ticket, w.0);
        w.1.push(Waiter {
            place,
            keys,
            tried: 0,
        });
        Joined {
            queue: self.clone(),
            place,
        }
    }

    /// Whether every earlier waiter sharing a key with `place` has tried at
    /// `version` (or later).
    fn my_turn(&self, place: Place, version: u64) -> bool {
        let w = lock(&self.waiters);
        let Some(me) = w.1.iter().find(|x| x.place == place) else {
            return true;
        };
        !w.1.iter().any(|x| {
            x.place < place && x.tried < version && x.keys.iter().any(|k| me.keys.contains(k))
        })
    }

    fn tried(&self, place: Place, version: u64) {
        if let Some(x) = lock(&self.waiters).1.iter_mut().find(|x| x.place == place) {
            x.tried = x.tried.max(version);
        }
        self.progress.send_modify(|p| *p += 1);
    }
}

/// A waiter's membership; leaves the queue when dropped.
pub(crate) struct Joined {
    queue: Arc<Queue>,
    place: Place,
}

impl Joined {
    /// Waits until it is this waiter's turn to try at applied `version`, or `until`.
    pub(crate) async fn turn(&self, version: u64, until: tokio::time::Instant) {
        let mut progress = self.queue.progress.subscribe();
        loop {
            progress.borrow_and_update();
            if self.queue.my_turn(self.place, version) {
                return;
            }
            match tokio::time::timeout_at(until, progress.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }

    /// Records that this waiter tried at `version`.
    pub(crate) fn tried(&self, version: u64) {
        self.queue.tried(self.place, version);
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        lock(&self.queue.waiters)
            .1
            .retain(|x| x.place != self.place);
        self.queue.progress.send_modify(|p| *p += 1);
    }
}

/// Every partition's queue on this server.
#[derive(Default)]
pub(crate) struct Queues(Mutex<HashMap<Gpid, Arc<Queue>>>);

impl Queues {
    /// `gpid`'s queue.
    pub(crate) fn of(&self, gpid: Gpid) -> Arc<Queue> {
        lock(&self.0)
            .entry(gpid)
            .or_insert_with(|| Arc::new(Queue::new()))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[tokio::test]
    async fn later_waiters_sharing_a_key_wait_for_earlier_ones_to_try() {
        let q = Arc::new(Queue::new());
        let first = q.join(10, vec![b("k")]);
        let second = q.join(20, vec![b("k"), b("j")]);
        let other = q.join(5, vec![b("x")]);
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        assert!(q.my_turn(first.place, 1));
        assert!(q.my_turn(other.place, 1), "no shared key");
        assert!(!q.my_turn(second.place, 1));
        second.turn(1, soon).await; // times out: not its turn
        first.tried(1);
        assert!(q.my_turn(second.place, 1));
        assert!(
            !q.my_turn(second.place, 2),
            "a new write: the first tries first again"
        );
        drop(first);
        assert!(q.my_turn(second.place, 2), "gone");
        drop(other);
        drop(second);
        assert!(lock(&q.waiters).1.is_empty());
    }
}
