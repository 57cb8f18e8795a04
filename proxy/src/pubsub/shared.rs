//! The proxy's pub/sub state every connection shares.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::hub::Hub;
use crate::route::Router;

/// The proxy's pub/sub state, shared by every connection.
pub(crate) struct PubSub {
    /// Names this proxy to the brokers (random per process).
    pub(crate) proxy_id: u64,
    hub: Mutex<Hub>,
    /// The highest change number every broker has.
    pub(super) acked: watch::Sender<u64>,
    /// Wakes the registrar.
    pub(super) wake: Notify,
    /// Servers whose poll did not know this proxy: their partitions'
    /// registrations are gone and are sent again whole.
    pub(super) forgotten: Mutex<HashSet<String>>,
    /// Database 0's router: channels hash to its table's partitions.
    pub(super) router: Arc<Router>,
}

impl PubSub {
    /// The state for a proxy routing channels with `router`.
    pub(crate) fn new(router: Arc<Router>) -> Self {
        PubSub {
            proxy_id: rand::random(),
            hub: Mutex::default(),
            acked: watch::Sender::new(0),
            wake: Notify::new(),
            forgotten: Mutex::default(),
            router,
        }
    }

    /// The hub, to change subscriptions or look at them.
    pub(crate) fn hub(&self) -> MutexGuard<'_, Hub> {
        petrel_common::sync::lock(&self.hub)
    }

    /// Tells the registrar the hub changed.
    pub(crate) fn changed(&self) {
        self.wake.notify_one();
    }

    /// Waits until every broker has change `seq`, at most `limit`; whether it does.
    pub(crate) async fn registered(&self, seq: u64, limit: Duration) -> bool {
        let mut acked = self.acked.subscribe();
        tokio::time::timeout(limit, acked.wait_for(|&a| a >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}
