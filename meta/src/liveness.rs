//! Which servers beacon in time. Kept in memory only: after a meta restart a
//! server counts as alive again once it beacons.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use petrel_common::ids::NodeAddr;

/// Last beacon time of every server heard from since meta started.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    last_beacon: BTreeMap<NodeAddr, Instant>,
    /// When meta started listening: a server not heard from since counts as
    /// silent since then (never longer), so after a meta restart nobody
    /// looks long dead at once.
    baseline: Option<Instant>,
}

impl Liveness {
    /// An empty table whose silences count from `baseline` at most.
    pub(crate) fn with_baseline(baseline: Instant) -> Self {
        Liveness {
            last_beacon: BTreeMap::new(),
            baseline: Some(baseline),
        }
    }

    pub(crate) fn beacon(&mut self, node: &NodeAddr, at: Instant) {
        self.last_beacon.insert(node.clone(), at);
    }

    /// Time since `node`'s last beacon, if it ever sent one.
    pub(crate) fn silence(&self, node: &NodeAddr, now: Instant) -> Option<Duration> {
        self.last_beacon
            .get(node)
            .map(|t| now.saturating_duration_since(*t))
    }

    /// How long `node` has been silent: since its last beacon, or since the
    /// baseline when it has not beaconed since (zero without a baseline).
    pub(crate) fn silent_for(&self, node: &NodeAddr, now: Instant) -> Duration {
        self.silence(node, now)
            .or_else(|| self.baseline.map(|b| now.saturating_duration_since(b)))
            .unwrap_or_default()
    }

    /// Whether `node` beaconed within `grace` of `now`.
    pub(crate) fn is_alive(&self, node: &NodeAddr, now: Instant, grace: Duration) -> bool {
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

    #[test]
    fn a_server_not_heard_from_is_silent_since_the_baseline_but_not_alive() {
        let t0 = Instant::now();
        let mut l = Liveness::with_baseline(t0);
        let (a, b) = (NodeAddr::from("a:1"), NodeAddr::from("b:1"));
        let later = t0 + Duration::from_secs(5);
        assert!(!l.is_alive(&a, t0, Duration::from_secs(1)));
        assert_eq!(l.silent_for(&a, later), Duration::from_secs(5));
        assert_eq!(l.silence(&a, later), None, "no beacon was ever seen");
        l.beacon(&b, t0 + Duration::from_secs(4));
        assert_eq!(l.silent_for(&b, later), Duration::from_secs(1));
        assert_eq!(Liveness::default().silent_for(&a, later), Duration::ZERO);
    }
}
