//! `CLIENT PAUSE`: the pause every connection shares, and the gate routed
//! work passes through while it lasts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use petrel_common::reply::Reply;

/// A `CLIENT PAUSE` in force: until when, and whether only writes wait.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Paused {
    until: Instant,
    writes_only: bool,
}

/// `CLIENT PAUSE` state shared by every connection.
#[derive(Default)]
pub(crate) struct Pause {
    state: Mutex<Option<Paused>>,
    /// Woken whenever the pause changes (UNPAUSE, a longer or wider pause).
    changed: tokio::sync::Notify,
}

impl Pause {
    /// Pauses clients for `ms`; like Redis, a pause already in force keeps
    /// the later end and the wider kind.
    pub(crate) fn pause(&self, ms: u64, writes_only: bool) {
        let until = Instant::now() + Duration::from_millis(ms);
        let mut s = petrel_common::sync::lock(&self.state);
        let next = match *s {
            Some(p) if p.until > Instant::now() => Paused {
                until: p.until.max(until),
                writes_only: p.writes_only && writes_only,
            },
            _ => Paused { until, writes_only },
        };
        *s = Some(next);
        drop(s);
        self.changed.notify_waiters();
    }

    /// Ends the pause at once.
    pub(crate) fn unpause(&self) {
        *petrel_common::sync::lock(&self.state) = None;
        self.changed.notify_waiters();
    }

    /// Until when a command (a write or not) must wait; `None` to run now.
    fn holds(&self, write: bool) -> Option<Instant> {
        let s = *petrel_common::sync::lock(&self.state);
        s.filter(|p| p.until > Instant::now() && (write || !p.writes_only))
            .map(|p| p.until)
    }

    /// Waits until a command (a write or not) may run.
    async fn wait(&self, write: bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so an UNPAUSE in between is not missed.
            changed.as_mut().enable();
            let Some(until) = self.holds(write) else {
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = changed => {}
            }
        }
    }
}

/// The CLIENT PAUSE gate: while clients are paused (all commands, or only
/// writes with `WRITE`), the work of a routed command (or EXEC) waits until
/// the pause ends. Commands the proxy answers itself are not held, so
/// CLIENT UNPAUSE, PING and INFO keep working.
pub(crate) fn gate(
    pause: &Arc<Pause>,
    work: BoxFuture<'static, Reply>,
    write: bool,
) -> BoxFuture<'static, Reply> {
    if pause.holds(write).is_none() {
        return work;
    }
    let pause = pause.clone();
    Box::pin(async move {
        pause.wait(write).await;
        work.await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pause_holds_until_unpause() {
        let p = Arc::new(Pause::default());
        assert!(p.holds(true).is_none());
        p.pause(60_000, false);
        assert!(p.holds(false).is_some());
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.wait(false).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        p.unpause();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released by UNPAUSE")
            .expect("no panic");
    }

    #[tokio::test]
    async fn write_pause_lets_reads_through_and_ends_by_itself() {
        let p = Pause::default();
        p.pause(50, true);
        assert!(p.holds(false).is_none());
        assert!(p.holds(true).is_some());
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), p.wait(true))
            .await
            .expect("the pause ends");
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn overlapping_pauses_keep_the_later_end_and_wider_kind() {
        let p = Pause::default();
        p.pause(60_000, false);
        p.pause(10, true);
        // Still ALL, still long.
        assert!(p.holds(false).is_some());
        let s = petrel_common::sync::lock(&p.state).expect("paused");
        assert!(s.until > Instant::now() + Duration::from_secs(30));
        assert!(!s.writes_only);
    }
}
