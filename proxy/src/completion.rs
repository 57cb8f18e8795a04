//! When one routed command of a client has finished: the later commands of
//! that client on the same keys wait for it (see `conn::Conn::ordered`).
//!
//! A connection asks every earlier command still listed whether it is done
//! each time it starts one, so asking is one atomic load; the wait is a
//! [`Notify`] woken once, when the command's future completes or is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Shared between a running command (which marks it through a
/// [`DoneOnDrop`]) and the later commands that wait for it.
#[derive(Clone, Default)]
pub(crate) struct Completion(Arc<Inner>);

#[derive(Default)]
struct Inner {
    done: AtomicBool,
    notify: Notify,
}

impl Completion {
    pub(crate) fn new() -> Completion {
        Completion::default()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.0.done.load(Ordering::Acquire)
    }

    /// Returns once the command has finished.
    pub(crate) async fn wait(&self) {
        loop {
            // Registered before the check: a notification between the two
            // still wakes it.
            let notified = self.0.notify.notified();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }

    /// Marks the command finished when dropped: on completion, and also if
    /// the connection drops the command's future.
    pub(crate) fn done_on_drop(&self) -> DoneOnDrop {
        DoneOnDrop(self.clone())
    }
}

pub(crate) struct DoneOnDrop(Completion);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        let inner = &(self.0).0;
        inner.done.store(true, Ordering::Release);
        inner.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_when_the_guard_drops_and_not_before() {
        let c = Completion::new();
        let guard = c.done_on_drop();
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { c.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "woke before the command finished");
        assert!(!c.is_done());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken once the guard dropped")
            .expect("waiter ran");
        assert!(c.is_done());
    }

    #[tokio::test]
    async fn waiting_on_a_finished_command_returns_at_once() {
        let c = Completion::new();
        drop(c.done_on_drop());
        tokio::time::timeout(Duration::from_secs(5), c.wait())
            .await
            .expect("no wait for a finished command");
    }
}
