//! Which servers beacon in time. Kept in memory only: after a meta restart a
//! server counts as alive again once it beacons.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use petrel_common::ids::NodeAddr;

/// Last beacon time of every server heard from since meta started.
#[derive(Debug, Default)]
pub struct Liveness {
    last_beacon: BTreeMap<NodeAddr, Instant>,
}

impl Liveness {
    pub fn beacon(&mut self, node: &NodeAddr, at: Instant) {
        self.last_beacon.insert(node.clone(), at);
    }

    /// Time since `node`'s last beacon, if it ever sent one.
    pub fn silence(&self, node: &NodeAddr, now: Instant) -> Option<Duration> {
        self.last_beacon
            .get(node)
            .map(|t| now.saturating_duration_since(*t))
    }

    /// Whether `node` beaconed within `grace` of `now`.
    pub fn is_alive(&self, node: &NodeAddr, now: Instant, grace: Duration) -> bool {
        self.silence(node, now).is_some_and(|s| s <= grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_only_within_grace() {
        let mut l = Liveness::default();
        let n = NodeAddr::from("a:1");
        let t0 = Instant::now();
        assert!(!l.is_alive(&n, t0, Duration::from_secs(1)));
        l.beacon(&n, t0);
        assert!(l.is_alive(&n, t0 + Duration::from_millis(900), Duration::from_secs(1)));
        assert!(!l.is_alive(&n, t0 + Duration::from_millis(1100), Duration::from_secs(1)));
    }
}
