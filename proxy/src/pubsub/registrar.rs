//! Keeps the brokers told what this proxy's clients listen to.
//!
//! One task, so a partition's registrations reach it in order. Each round
//! takes the names changed since the last one and sends, per partition, the
//! listener counts of those names that partition brokers (a channel's own
//! partition; every partition for a pattern). A partition whose primary or
//! ballot changed since its last good round, whose broker forgot this
//! proxy, or whose last round failed is sent everything instead. A round in
//! which every partition answered acknowledges the changes it carried.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use petrel_common::ids::PartitionId;
use petrel_common::msg::{method, ExecCode};
use petrel_common::partition::TableMap;
use petrel_common::pubsub::{
    brokers, Brokers, PubSubRequest, PubSubResponse, RegisterMsg, SubEntry, SubKind,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::hub::Hub;
use super::poller;
use super::shared::PubSub;

/// One registration's deadline.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after a round in which some partition did not answer.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_millis(500);
/// Rounds happen at least this often (a missed wake-up costs no more).
const TICK: Duration = Duration::from_secs(1);

/// Where a partition's registrations were last sent whole and accepted.
type Synced = (String, u64);

struct Registrar {
    pubsub: Arc<PubSub>,
    synced: HashMap<u32, Synced>,
    /// Partitions to be sent everything in the next round.
    whole: HashSet<u32>,
    pollers: HashMap<String, JoinHandle<()>>,
    /// Whether any client ever subscribed: until then there is nothing to tell.
    active: bool,
}

/// Runs rounds until `shutdown`.
pub(crate) async fn run(pubsub: Arc<PubSub>, shutdown: CancellationToken) {
    let mut installs = pubsub.router.maps().follow();
    let mut r = Registrar {
        pubsub: pubsub.clone(),
        synced: HashMap::new(),
        whole: HashSet::new(),
        pollers: HashMap::new(),
        active: false,
    };
    let mut retry = RETRY_MIN;
    loop {
        let ok = r.round().await;
        let pause = if ok {
            retry = RETRY_MIN;
            TICK
        } else {
            let p = retry;
            retry = (retry * 2).min(RETRY_MAX);
            p
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = pubsub.wake.notified() => {}
            _ = installs.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
    for (_, poller) in r.pollers.drain() {
        poller.abort();
    }
}

impl Registrar {
    /// One round; whether every partition that had something to hear
    /// accepted it.
    async fn round(&mut self) -> bool {
        let Some(map) = self.pubsub.router.maps().current() else {
            return false;
        };
        if !self.active {
            if self.pubsub.hub().is_empty() {
                return true;
            }
            self.active = true;
        }
        self.keep_pollers(&map);
        let forgotten: Vec<String> = petrel_common::sync::lock(&self.pubsub.forgotten)
            .drain()
            .collect();
        for (pid, config) in map.partitions.iter().enumerate() {
            let pid = pid as u32;
            let at = config
                .primary
                .as_ref()
                .map(|p| (p.0.clone(), config.ballot.0));
            let moved = at.as_ref() != self.synced.get(&pid);
            let lost = at.as_ref().is_some_and(|(p, _)| forgotten.contains(p));
            if moved || lost {
                self.synced.remove(&pid);
                self.whole.insert(pid);
            }
        }
        let (seq, requests) = {
            let mut hub = self.pubsub.hub();
            let changed = std::mem::take(&mut hub.changed);
            let requests = self.requests(&map, &hub, &changed);
            (hub.seq, requests)
        };
        let sends = requests.into_iter().map(|(pid, whole, entries)| {
            let pubsub = self.pubsub.clone();
            let map = map.clone();
            async move { (pid, whole, send(&pubsub, &map, pid, whole, entries).await) }
        });
        let mut all_ok = true;
        for (pid, whole, outcome) in join_all(sends).await {
            match outcome {
                Sent::Accepted(at) => {
                    if whole {
                        self.synced.insert(pid, at);
                        self.whole.remove(&pid);
                    }
                }
                Sent::NeedsWhole => {
                    all_ok = false;
                    self.synced.remove(&pid);
                    self.whole.insert(pid);
                }
                Sent::Failed(why) => {
                    debug!(pid, reason = %why, "pub/sub registration not taken; sending it whole again");
                    all_ok = false;
                    self.synced.remove(&pid);
                    self.whole.insert(pid);
                }
            }
        }
        if all_ok {
            self.pubsub.acked.send_if_modified(|a| {
                let moved = *a < seq;
                *a = (*a).max(seq);
                moved
            });
        } else {
            let maps = self.pubsub.router.maps();
            let seen = maps.generation();
            let _ = tokio::time::timeout(RETRY_MAX, maps.refresh(seen)).await;
        }
        all_ok
    }

    /// Per partition with something to send: whether it is whole, and the entries.
    fn requests(
        &self,
        map: &TableMap,
        hub: &Hub,
        changed: &HashSet<(SubKind, Bytes)>,
    ) -> Vec<(u32, bool, Vec<SubEntry>)> {
        let entry = |kind: SubKind, name: &Bytes, count: u32| SubEntry {
            kind: kind as i32,
            name: name.clone(),
            count,
        };
        let mut out: HashMap<u32, Vec<SubEntry>> = HashMap::new();
        for &pid in &self.whole {
            out.insert(pid, Vec::new());
        }
        for kind in [
            SubKind::Channel,
            SubKind::Shard,
            SubKind::Pattern,
            SubKind::Tracking,
            SubKind::TrackingPrefix,
        ] {
            for (name, count) in hub.all(kind) {
                match brokered_at(map, kind, name) {
                    Some(pid) => {
                        if let Some(entries) = out.get_mut(&pid) {
                            entries.push(entry(kind, name, count));
                        }
                    }
                    None => {
                        for entries in out.values_mut() {
                            entries.push(entry(kind, name, count));
                        }
                    }
                }
            }
        }
        let mut increments: HashMap<u32, Vec<SubEntry>> = HashMap::new();
        for (kind, name) in changed {
            let e = entry(*kind, name, hub.count(*kind, name));
            let pids: Vec<u32> = match brokered_at(map, *kind, name) {
                Some(pid) => vec![pid],
                None => (0..map.partition_count).collect(),
            };
            for pid in pids {
                if !self.whole.contains(&pid) {
                    increments.entry(pid).or_default().push(e.clone());
                }
            }
        }
        out.into_iter()
            .map(|(pid, entries)| (pid, true, entries))
            .chain(increments.into_iter().map(|(pid, e)| (pid, false, e)))
            .collect()
    }

    /// Starts a poller for each server leading a partition and stops those
    /// of servers that lead none any more.
    fn keep_pollers(&mut self, map: &TableMap) {
        let leaders: HashSet<String> = map
            .partitions
            .iter()
            .filter_map(|c| c.primary.as_ref().map(|p| p.0.clone()))
            .collect();
        self.pollers.retain(|server, task| {
            let keep = leaders.contains(server) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for server in leaders {
            if !self.pollers.contains_key(&server) {
                let task = tokio::spawn(poller::run(self.pubsub.clone(), server.clone()));
                self.pollers.insert(server, task);
            }
        }
    }
}

/// The one partition that brokers `name`, or `None` for every partition
/// (patterns, keyevent channels).
fn brokered_at(map: &TableMap, kind: SubKind, name: &[u8]) -> Option<u32> {
    match (kind, brokers(name)) {
        (SubKind::Pattern | SubKind::TrackingPrefix, _) | (SubKind::Channel, Brokers::Every) => {
            None
        }
        (SubKind::Shard | SubKind::Tracking, _) => Some(map.partition_of_key(name).0),
        (SubKind::Channel, Brokers::Key(key)) => Some(map.partition_of_key(key).0),
    }
}

/// What became of one partition's registration.
enum Sent {
    /// Taken by the primary at this address and ballot.
    Accepted(Synced),
    NeedsWhole,
    Failed(String),
}

async fn send(
    pubsub: &PubSub,
    map: &TableMap,
    pid: u32,
    whole: bool,
    entries: Vec<SubEntry>,
) -> Sent {
    let Some(config) = map.partition(PartitionId(pid)) else {
        return Sent::Failed("no such partition".into());
    };
    let Some(primary) = config.primary.as_ref() else {
        return Sent::Failed("no primary".into());
    };
    let req = PubSubRequest {
        table_id: map.id.0,
        partition_id: pid,
        ballot: config.ballot.0,
        partition_count: map.partition_count,
        register: Some(RegisterMsg {
            proxy_id: pubsub.proxy_id,
            full: whole,
            entries,
        }),
        ..PubSubRequest::default()
    };
    let rpc = pubsub.router.maps().rpc();
    let resp: Result<PubSubResponse, _> = rpc
        .call(&primary.0, method::PUBSUB, &req, REGISTER_TIMEOUT)
        .await;
    match resp {
        Ok(r) if r.code == ExecCode::Ok as i32 && r.needs_full => Sent::NeedsWhole,
        Ok(r) if r.code == ExecCode::Ok as i32 => {
            Sent::Accepted((primary.0.clone(), config.ballot.0))
        }
        Ok(r) => Sent::Failed(format!("code {} from {}: {}", r.code, primary.0, r.reason)),
        Err(e) => Sent::Failed(e.to_string()),
    }
}
