//! Drives [`crate::reconfig`]: what meta keeps in memory about the cluster
//! (the latest beacon reports, admin requests, servers to avoid), and one
//! reconfiguration round over the durable state.
//!
//! A round is pure apart from the `now` it is given: it builds a
//! [`Snapshot`] per table, calls [`decide`], and carries out each action on
//! the [`MetaState`] only while the partition is still at the ballot the
//! action names ([`MetaState::apply`]). The service persists the state
//! before it releases the lock the round ran under, so no beacon answer and
//! no table query ever shows a configuration that is not on disk, and only
//! then calls [`Observed::note_applied`] and [`record`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use petrel_common::ids::{Ballot, Gpid, NodeAddr, TableId};
use tracing::{debug, info};

use crate::reconfig::{
    decide, restart, Change, DropWhy, Health, ReconfigParams, ReplicaReport, Reports, Snapshot,
    DEFAULT_MAX_PRIMARY_SWITCHES,
};
use crate::state::{Applied, Cause, MetaState};

/// How long a server is not chosen as a learner of a partition whose
/// primary could not reach it.
pub(crate) const AVOID_FOR: Duration = Duration::from_secs(30);

/// How long an admin's add-learner request waits for a round that can
/// carry it out before it is forgotten.
pub(crate) const ADMIN_REQUEST_TTL: Duration = Duration::from_secs(60);

/// The service's settings a round needs.
#[derive(Clone, Debug)]
pub(crate) struct RoundParams {
    /// Meta's grace period; also how long a restarted primary's partition
    /// waits for every alive member's report.
    pub(crate) grace: Duration,
    pub(crate) dropout_delay: Duration,
    /// Planned primary switches and balancing replica moves on or off.
    pub(crate) balance: bool,
    /// Replica moves in flight at most (`max_moves_in_flight`).
    pub(crate) max_moves: usize,
}

impl RoundParams {
    fn reconfig(&self) -> ReconfigParams {
        ReconfigParams {
            dropout_delay: self.dropout_delay,
            max_primary_switches: if self.balance {
                DEFAULT_MAX_PRIMARY_SWITCHES
            } else {
                0
            },
            restart_wait: self.grace,
            max_moves: self.max_moves,
            balance_replicas: self.balance,
            ..ReconfigParams::default()
        }
    }
}

#[derive(Clone, Debug)]
struct AdminRequest {
    node: Option<NodeAddr>,
    until: Instant,
}

/// What meta knows only in memory: rebuilt from beacons after a restart.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Each server's replica reports from its latest beacon.
    reports: BTreeMap<NodeAddr, Vec<ReplicaReport>>,
    admin: BTreeMap<Gpid, AdminRequest>,
    /// Servers not to pick as learners of a partition, until when.
    avoid: BTreeMap<Gpid, BTreeMap<NodeAddr, Instant>>,
    /// Since when each partition's primary has been seen restarted at a ballot.
    restarted_since: BTreeMap<(Gpid, Ballot), Instant>,
}

impl Observed {
    /// Replaces `node`'s reports with those of its latest beacon.
    pub(crate) fn record_beacon(&mut self, node: &NodeAddr, reports: Vec<ReplicaReport>) {
        self.reports.insert(node.clone(), reports);
    }

    /// Whether `node`'s latest beacon reported a replica of `gpid`.
    pub(crate) fn hosts(&self, node: &NodeAddr, gpid: Gpid) -> bool {
        self.reports
            .get(node)
            .is_some_and(|r| r.iter().any(|r| r.gpid == gpid))
    }

    /// An admin asks for a learner of `gpid` now (on `node`, if given).
    pub(crate) fn request_learner(&mut self, gpid: Gpid, node: Option<NodeAddr>, now: Instant) {
        self.admin.insert(
            gpid,
            AdminRequest {
                node,
                until: now + ADMIN_REQUEST_TTL,
            },
        );
    }

    /// Whether an admin request for `gpid` is pending.
    #[cfg(test)]
    pub(crate) fn learner_requested(&self, gpid: Gpid) -> bool {
        self.admin.contains_key(&gpid)
    }

    /// Whether `node` is avoided as a learner of `gpid` at `now`.
    #[cfg(test)]
    pub(crate) fn avoids(&self, gpid: Gpid, node: &NodeAddr, now: Instant) -> bool {
        self.avoid
            .get(&gpid)
            .and_then(|a| a.get(node))
            .is_some_and(|until| *until > now)
    }

    fn expire(&mut self, now: Instant) {
        self.admin.retain(|_, r| r.until > now);
        for a in self.avoid.values_mut() {
            a.retain(|_, until| *until > now);
        }
        self.avoid.retain(|_, a| !a.is_empty());
    }

    fn avoid_of(&self, table: TableId) -> BTreeMap<Gpid, BTreeSet<NodeAddr>> {
        self.avoid
            .iter()
            .filter(|(g, _)| g.table == table)
            .map(|(g, a)| (*g, a.keys().cloned().collect()))
            .collect()
    }

    /// Follow-ups of changes that are now persisted: servers a primary
    /// could not reach are avoided for [`AVOID_FOR`]; an admin request is
    /// done once its learner started.
    pub(crate) fn note_applied(&mut self, applied: &[Applied], now: Instant) {
        for a in applied {
            match a {
                Applied::Reconfigured {
                    new,
                    cause: Cause::Change(Change::RemovedOnPrimaryRequest { removed }),
                    ..
                } => {
                    self.avoid
                        .entry(new.gpid)
                        .or_default()
                        .insert(removed.clone(), now + AVOID_FOR);
                }
                Applied::LearnerDropped {
                    gpid,
                    node,
                    why: DropWhy::Unreachable,
                    ..
                } => {
                    self.avoid
                        .entry(*gpid)
                        .or_default()
                        .insert(node.clone(), now + AVOID_FOR);
                }
                Applied::Reconfigured {
                    new,
                    cause: Cause::Change(Change::CancelLearners { learners }),
                    ..
                } => {
                    for (node, why) in learners {
                        if *why == DropWhy::Unreachable {
                            self.avoid
                                .entry(new.gpid)
                                .or_default()
                                .insert(node.clone(), now + AVOID_FOR);
                        }
                    }
                }
                Applied::LearnerAdded { gpid, .. } => {
                    self.admin.remove(gpid);
                }
                _ => {}
            }
        }
    }
}

/// One reconfiguration round over every table, at `now`: forgets stale
/// dropped members, decides, and applies what is still current. Returns
/// what changed; the caller persists `state` before anyone may see it.
pub(crate) fn round(
    state: &mut MetaState,
    observed: &mut Observed,
    health: &Health,
    now: Instant,
    params: &RoundParams,
) -> Vec<Applied> {
    observed.expire(now);
    state.forget_dropped(health, params.dropout_delay);
    state.note_built(
        |node, gpid| observed.hosts(node, gpid),
        |n| health.is_alive(n),
    );
    let reconfig = params.reconfig();
    let mut by_table: BTreeMap<TableId, Vec<ReplicaReport>> = BTreeMap::new();
    for r in observed.reports.values().flatten() {
        by_table.entry(r.gpid.table).or_default().push(r.clone());
    }
    let mut load = state.load();
    let mut applied = Vec::new();
    let mut restarted = BTreeSet::new();
    let names: Vec<String> = state.tables.keys().cloned().collect();
    for name in names {
        let Some(table) = state.tables.get(&name) else {
            continue;
        };
        let reports = Reports::new(by_table.remove(&table.id).unwrap_or_default());
        let mut restart_waited = BTreeMap::new();
        for p in &table.partitions {
            if restart::primary_restarted(p, health, &reports) {
                let key = (p.gpid, p.ballot);
                let since = *observed.restarted_since.entry(key).or_insert(now);
                restarted.insert(key);
                restart_waited.insert(p.gpid, now.saturating_duration_since(since));
            }
        }
        let of_table = |g: &Gpid| g.table == table.id;
        let snapshot = Snapshot {
            replica_count: table.replica_count,
            partitions: table.partitions.clone(),
            health: health.clone(),
            reports,
            learners: state
                .learners
                .iter()
                .filter(|(g, _)| of_table(g))
                .map(|(g, l)| (*g, l.clone()))
                .collect(),
            dropped: state
                .dropped
                .iter()
                .filter(|(g, _)| of_table(g))
                .map(|(g, d)| (*g, d.clone()))
                .collect(),
            avoid: observed.avoid_of(table.id),
            admin_add_learner: observed
                .admin
                .iter()
                .filter(|(g, _)| of_table(g))
                .map(|(g, r)| (*g, r.node.clone()))
                .collect(),
            restart_waited,
            moves: state
                .moves
                .iter()
                .filter(|(g, _)| of_table(g))
                .map(|(g, m)| (*g, m.clone()))
                .collect(),
            draining: state.draining.clone(),
            unbuilt: state
                .unbuilt
                .iter()
                .filter(|g| of_table(g))
                .copied()
                .collect(),
        };
        for action in decide(&snapshot, &mut load, &reconfig) {
            match state.apply(&action, health, &snapshot.reports) {
                Ok(a) => {
                    // A server whose replica failed closes it once it is no
                    // longer assigned; it is not asked to host it again soon.
                    for (gpid, node) in leaving(&a) {
                        if snapshot.reports.failed(gpid, &node) {
                            observed
                                .avoid
                                .entry(gpid)
                                .or_default()
                                .insert(node, now + AVOID_FOR);
                        }
                    }
                    applied.push(a);
                }
                Err(e) => {
                    debug!(gpid = %action.gpid(), ?action, reason = %e, "action not carried out")
                }
            }
        }
    }
    observed.restarted_since.retain(|(g, b), _| {
        restarted.contains(&(*g, *b)) && state.partition(*g).is_some_and(|c| c.ballot == *b)
    });
    // A request for a partition that is gone or has all its members (or
    // learners to fill them) cannot be carried out any more.
    observed.admin.retain(|g, _| {
        state
            .tables
            .values()
            .find(|t| t.id == g.table)
            .and_then(|t| t.partition(g.partition).map(|c| (t.replica_count, c)))
            .is_some_and(|(rc, c)| {
                let learning = state.learners.get(g).map_or(0, BTreeSet::len);
                c.members().count() + learning < rc as usize
            })
    });
    applied
}

/// The servers that stop hosting a replica because of `applied`.
fn leaving(applied: &Applied) -> Vec<(Gpid, NodeAddr)> {
    match applied {
        Applied::Reconfigured {
            new,
            cause: Cause::Change(c),
            ..
        } => {
            let mut out: Vec<(Gpid, NodeAddr)> =
                c.removed().into_iter().map(|n| (new.gpid, n)).collect();
            if let Change::CancelLearners { learners } = c {
                out.extend(learners.iter().map(|(n, _)| (new.gpid, n.clone())));
            }
            out
        }
        Applied::LearnerDropped { gpid, node, .. } => vec![(*gpid, node.clone())],
        _ => Vec::new(),
    }
}

/// Logs and counts a persisted change.
pub(crate) fn record(applied: &Applied) {
    match applied {
        Applied::Reconfigured {
            table,
            old,
            new,
            cause,
        } => {
            metrics::counter!("petrel_meta_reconfigurations_total", "change" => cause.kind())
                .increment(1);
            if let Cause::Change(Change::CancelLearners { learners }) = cause {
                for (_, why) in learners {
                    metrics::counter!("petrel_meta_learners_dropped_total", "why" => why.as_str())
                        .increment(1);
                }
            }
            let primary = new.primary.as_ref().map_or("-", NodeAddr::as_str);
            let secondaries: Vec<&str> = new.secondaries.iter().map(NodeAddr::as_str).collect();
            info!(
                table = %table,
                gpid = %new.gpid,
                old_ballot = old.ballot.0,
                new_ballot = new.ballot.0,
                old_primary = old.primary.as_ref().map_or("-", NodeAddr::as_str),
                primary,
                secondaries = ?secondaries,
                why = cause.kind(),
                detail = ?cause,
                "partition configuration changed"
            );
        }
        Applied::LearnerAdded { table, gpid, node } => {
            metrics::counter!("petrel_meta_learners_added_total").increment(1);
            info!(table = %table, gpid = %gpid, learner = %node, "learner added");
        }
        Applied::LearnerDropped {
            table,
            gpid,
            node,
            why,
        } => {
            metrics::counter!("petrel_meta_learners_dropped_total", "why" => why.as_str())
                .increment(1);
            info!(table = %table, gpid = %gpid, learner = %node, why = why.as_str(), "learner dropped");
        }
        Applied::MoveStarted {
            table,
            gpid,
            from,
            to,
        } => {
            metrics::counter!("petrel_meta_moves_started_total").increment(1);
            info!(table = %table, gpid = %gpid, from = %from, to = %to, "replica move started");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconfig::ReplicaRole;
    use petrel_common::ids::{Decree, PartitionId};
    use petrel_common::partition::PartitionConfig;

    fn n(s: &str) -> NodeAddr {
        NodeAddr::from(s)
    }

    fn g0() -> Gpid {
        Gpid::new(1, 0)
    }

    /// Table `t`, one partition, members exactly as given (primary first).
    fn state(members: &[&str], replica_count: u32) -> MetaState {
        let mut st = MetaState::default();
        let nodes: Vec<NodeAddr> = members.iter().map(|m| n(m)).collect();
        for node in &nodes {
            st.register_node(node);
        }
        st.create_table("t", 1, members.len() as u32, &nodes)
            .expect("create");
        let t = st.tables.get_mut("t").expect("t");
        t.replica_count = replica_count;
        t.partitions[0].primary = Some(nodes[0].clone());
        t.partitions[0].secondaries = nodes[1..].to_vec();
        st
    }

    fn config(st: &MetaState) -> PartitionConfig {
        st.tables["t"].partitions[0].clone()
    }

    fn report(node: &str, ballot: u64, role: ReplicaRole, prepared: u64) -> ReplicaReport {
        ReplicaReport::new(
            n(node),
            g0(),
            Ballot(ballot),
            role,
            Decree(prepared),
            Decree(prepared),
        )
    }

    fn params() -> RoundParams {
        RoundParams {
            grace: Duration::from_secs(3),
            dropout_delay: Duration::from_secs(300),
            balance: true,
            max_moves: crate::reconfig::DEFAULT_MAX_MOVES,
        }
    }

    fn alive(nodes: &[&str]) -> Health {
        Health::with_alive(&nodes.iter().map(|s| n(s)).collect::<Vec<_>>())
    }

    #[test]
    fn a_restarted_primary_waits_for_every_alive_member_then_the_longest_log_leads() {
        let mut st = state(&["a", "b", "c"], 3);
        let mut obs = Observed::default();
        let health = alive(&["a", "b", "c"]);
        let t0 = Instant::now();
        obs.record_beacon(&n("a"), vec![report("a", 1, ReplicaRole::Inactive, 10)]);
        obs.record_beacon(&n("b"), vec![report("b", 1, ReplicaRole::Secondary, 12)]);
        assert!(round(&mut st, &mut obs, &health, t0, &params()).is_empty());
        assert!(
            round(
                &mut st,
                &mut obs,
                &health,
                t0 + Duration::from_secs(2),
                &params()
            )
            .is_empty(),
            "c is alive but has not reported yet"
        );
        obs.record_beacon(&n("c"), vec![report("c", 1, ReplicaRole::Secondary, 11)]);
        let applied = round(
            &mut st,
            &mut obs,
            &health,
            t0 + Duration::from_secs(2),
            &params(),
        );
        assert_eq!(applied.len(), 1);
        assert_eq!(config(&st).ballot, Ballot(2));
        assert_eq!(config(&st).primary, Some(n("b")));
        assert_eq!(config(&st).secondaries, vec![n("a"), n("c")]);
    }

    #[test]
    fn a_restarted_primary_gets_its_ballot_after_the_wait_even_if_a_member_stays_silent() {
        let mut st = state(&["a", "b"], 2);
        let mut obs = Observed::default();
        let health = alive(&["a", "b"]);
        let t0 = Instant::now();
        obs.record_beacon(&n("a"), vec![report("a", 1, ReplicaRole::Inactive, 10)]);
        assert!(round(&mut st, &mut obs, &health, t0, &params()).is_empty());
        let applied = round(
            &mut st,
            &mut obs,
            &health,
            t0 + Duration::from_secs(3),
            &params(),
        );
        assert_eq!(applied.len(), 1);
        assert_eq!(config(&st).primary, Some(n("a")));
        assert_eq!(config(&st).ballot, Ballot(2));
        assert!(
            obs.restarted_since.is_empty(),
            "the wait is over with the ballot"
        );
    }

    #[test]
    fn a_secondary_removed_on_the_primarys_request_is_not_made_a_learner_for_a_while() {
        let mut st = state(&["a", "b", "c"], 3);
        let mut obs = Observed::default();
        let health = alive(&["a", "b", "c"]);
        let mut r = report("a", 1, ReplicaRole::Primary, 5);
        r.unreachable = vec![n("c")];
        obs.record_beacon(&n("a"), vec![r]);
        let t0 = Instant::now();
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        assert_eq!(applied.len(), 1);
        obs.note_applied(&applied, t0);
        assert_eq!(config(&st).secondaries, vec![n("b")]);
        assert_eq!(st.dropped[&g0()], vec![n("c")]);
        assert!(obs.avoids(g0(), &n("c"), t0));
        let later = t0 + Duration::from_secs(1);
        assert!(round(&mut st, &mut obs, &health, later, &params()).is_empty());
        assert!(
            st.learners.is_empty(),
            "c is avoided and nobody else is free"
        );
        let much_later = t0 + AVOID_FOR + Duration::from_secs(1);
        let applied = round(&mut st, &mut obs, &health, much_later, &params());
        assert!(matches!(
            applied.as_slice(),
            [Applied::LearnerAdded { node, .. }] if *node == n("c")
        ));
    }

    #[test]
    fn an_unreachable_learner_is_dropped_and_avoided() {
        let mut st = state(&["a", "b"], 3);
        st.learners.entry(g0()).or_default().insert(n("d"));
        st.register_node(&n("d"));
        let mut obs = Observed::default();
        let health = alive(&["a", "b", "d"]);
        let mut r = report("a", 1, ReplicaRole::Primary, 5);
        r.unreachable = vec![n("d")];
        obs.record_beacon(&n("a"), vec![r]);
        let t0 = Instant::now();
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        obs.note_applied(&applied, t0);
        assert!(st.learners.is_empty());
        assert!(obs.avoids(g0(), &n("d"), t0 + Duration::from_secs(29)));
        assert!(!obs.avoids(g0(), &n("d"), t0 + Duration::from_secs(31)));
    }

    #[test]
    fn a_failed_replica_is_replaced_at_once_and_its_server_avoided() {
        let mut st = state(&["a", "b", "c"], 3);
        st.register_node(&n("d"));
        let mut obs = Observed::default();
        let health = alive(&["a", "b", "c", "d"]);
        obs.record_beacon(&n("a"), vec![report("a", 1, ReplicaRole::Error, 5)]);
        obs.record_beacon(&n("b"), vec![report("b", 1, ReplicaRole::Secondary, 4)]);
        obs.record_beacon(&n("c"), vec![report("c", 1, ReplicaRole::Secondary, 5)]);
        let t0 = Instant::now();
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        assert!(matches!(
            applied.as_slice(),
            [Applied::Reconfigured {
                cause: Cause::Change(Change::PromoteSecondary { .. }),
                ..
            }]
        ));
        assert_eq!(
            config(&st).primary,
            Some(n("c")),
            "the longest log of the others"
        );
        assert!(obs.avoids(g0(), &n("a"), t0));
        // a closes the failed replica and reports nothing; d learns, not a.
        obs.record_beacon(&n("a"), vec![]);
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        assert!(matches!(
            applied.as_slice(),
            [Applied::LearnerAdded { node, .. }] if *node == n("d")
        ));
    }

    #[test]
    fn a_ready_learner_is_dropped_with_a_new_ballot_and_forgotten() {
        let mut st = state(&["a", "b"], 3);
        st.register_node(&n("d"));
        st.learners.entry(g0()).or_default().insert(n("d"));
        let mut obs = Observed::default();
        let health = alive(&["a", "b", "d"]);
        let mut r = report("a", 1, ReplicaRole::Primary, 5);
        r.ready_learners = [n("d")].into_iter().collect();
        r.unreachable = vec![n("d")];
        obs.record_beacon(&n("a"), vec![r]);
        let t0 = Instant::now();
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        obs.note_applied(&applied, t0);
        assert_eq!(config(&st).ballot, Ballot(2));
        assert_eq!(config(&st).secondaries, vec![n("b")]);
        assert!(st.learners.is_empty());
        assert!(st.assignments_for(&n("d")).is_empty());
        assert!(obs.avoids(g0(), &n("d"), t0));
    }

    #[test]
    fn an_admin_request_starts_a_learner_at_once_and_is_then_done() {
        let mut st = state(&["a", "b", "c"], 3);
        for x in ["d", "e"] {
            st.register_node(&n(x));
        }
        // b died a minute ago: its slot is held for the dropout delay.
        let t0 = Instant::now();
        let mut health = alive(&["a", "c", "d", "e"]);
        health.set_dead(&n("b"), Duration::from_secs(60));
        let mut obs = Observed::default();
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        assert_eq!(applied.len(), 1, "b removed");
        assert!(round(&mut st, &mut obs, &health, t0, &params()).is_empty());
        obs.request_learner(g0(), Some(n("e")), t0);
        let applied = round(&mut st, &mut obs, &health, t0, &params());
        assert!(matches!(
            applied.as_slice(),
            [Applied::LearnerAdded { node, .. }] if *node == n("e")
        ));
        obs.note_applied(&applied, t0);
        assert!(!obs.learner_requested(g0()));
        assert_eq!(
            st.assignments_for(&n("a"))[0].learners,
            vec![n("e")],
            "the primary is told to invite e"
        );
    }

    #[test]
    fn admin_requests_expire() {
        let mut st = state(&["a"], 2);
        let mut obs = Observed::default();
        let t0 = Instant::now();
        obs.request_learner(g0(), Some(n("zz")), t0);
        let health = alive(&["a"]);
        round(&mut st, &mut obs, &health, t0, &params());
        assert!(obs.learner_requested(g0()), "no server can learn yet");
        round(
            &mut st,
            &mut obs,
            &health,
            t0 + ADMIN_REQUEST_TTL + Duration::from_secs(1),
            &params(),
        );
        assert!(!obs.learner_requested(g0()));
    }

    #[test]
    fn balancing_can_be_turned_off() {
        // a leads two partitions, b none, and both logs are even.
        let mut st = MetaState::default();
        let (a, b) = (n("a"), n("b"));
        st.create_table("t", 2, 2, &[a.clone(), b.clone()])
            .expect("create");
        let t = st.tables.get_mut("t").expect("t");
        for p in &mut t.partitions {
            p.primary = Some(a.clone());
            p.secondaries = vec![b.clone()];
        }
        let mut obs = Observed::default();
        for node in ["a", "b"] {
            let reports = (0..2)
                .map(|p| {
                    let mut r = report(node, 1, ReplicaRole::Secondary, 7);
                    r.gpid = Gpid {
                        table: TableId(1),
                        partition: PartitionId(p),
                    };
                    r
                })
                .collect();
            obs.record_beacon(&n(node), reports);
        }
        let health = alive(&["a", "b"]);
        let off = RoundParams {
            balance: false,
            ..params()
        };
        let mut quiet = st.clone();
        assert!(round(&mut quiet, &mut obs, &health, Instant::now(), &off).is_empty());
        let applied = round(&mut st, &mut obs, &health, Instant::now(), &params());
        assert!(matches!(
            applied.as_slice(),
            [Applied::Reconfigured {
                cause: Cause::PlannedSwitch,
                ..
            }]
        ));
    }
}
