//! The admin verbs about replica placement: draining a server and showing
//! the moves meta has in flight and plans to make.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use petrel_common::ids::{Gpid, NodeAddr};
use petrel_common::msg::{BalanceResponse, DrainRequest, DrainResponse, MoveMsg};
use petrel_common::rpc::server::{encode, Handled};
use petrel_common::rpc::ServiceError;
use petrel_common::sync::lock;
use tracing::info;

use super::MetaService;
use crate::reconfig::moves::{plan_to_balance, PlannedStep};
use crate::reconfig::{Health, ReconfigParams, DEFAULT_MAX_PRIMARY_SWITCHES};
use crate::state::MetaState;

/// At most this many planned steps in a `BALANCE` answer.
const PLAN_LIMIT: usize = 10_000;

/// Replica moves in flight towards (`.0`) and away from (`.1`) each server.
pub(super) fn moves_per_node(state: &MetaState) -> BTreeMap<NodeAddr, (u32, u32)> {
    let mut out: BTreeMap<NodeAddr, (u32, u32)> = BTreeMap::new();
    for mv in state.moves.values() {
        out.entry(mv.to.clone()).or_default().0 += 1;
        out.entry(mv.from.clone()).or_default().1 += 1;
    }
    out
}

/// Members and learners `node` holds in `state`.
fn replicas_on(state: &MetaState, node: &NodeAddr) -> u32 {
    let members = state.load().replicas.get(node).copied().unwrap_or(0);
    let learning = state.learners.values().filter(|l| l.contains(node)).count() as u32;
    members + learning
}

/// A move (or switch) as the CLI shows it.
fn move_msg(state: &MetaState, gpid: Gpid, kind: &str, from: &NodeAddr, to: &NodeAddr) -> MoveMsg {
    MoveMsg {
        table: state
            .tables
            .values()
            .find(|t| t.id == gpid.table)
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        partition_id: gpid.partition.0,
        kind: kind.to_string(),
        from: from.0.clone(),
        to: to.0.clone(),
    }
}

impl MetaService {
    /// Admin: start or stop draining a server. Meta then moves its
    /// replicas away at the next rounds (its primaries hand their lead
    /// over first) and places nothing new on it.
    pub(super) async fn drain(self: Arc<Self>, req: DrainRequest) -> Handled {
        let node = NodeAddr(req.node.clone());
        let on = !req.cancel;
        let target = node.clone();
        let changed = self
            .mutate(move |st, _| {
                st.set_draining(&target, on)
                    .map(Some)
                    .map_err(ServiceError::from)
            })
            .await?
            .unwrap_or(false);
        if changed {
            info!(node = %node, draining = on, "admin changed draining");
        }
        let replicas = replicas_on(&lock(&self.state), &node);
        encode(&DrainResponse { changed, replicas })
    }

    /// Admin: the moves in flight and what meta would do next until every
    /// server holds its share and every draining server is empty.
    pub(super) fn balance(&self) -> Handled {
        let state = lock(&self.state).clone();
        let health = {
            let liveness = lock(&self.liveness);
            Health::from_liveness(&liveness, &state.nodes, Instant::now(), self.grace())
        };
        let params = ReconfigParams {
            max_primary_switches: if self.config.balance {
                DEFAULT_MAX_PRIMARY_SWITCHES
            } else {
                0
            },
            balance_replicas: self.config.balance,
            max_moves: self.config.max_moves_in_flight,
            ..ReconfigParams::default()
        };
        let tables: Vec<(u32, Vec<_>)> = state
            .tables
            .values()
            .map(|t| (t.replica_count, t.partitions.clone()))
            .collect();
        let planned = if params.max_moves == 0 {
            Vec::new()
        } else {
            plan_to_balance(
                &tables,
                &state.moves,
                &health,
                &state.draining,
                &params,
                PLAN_LIMIT + 1,
            )
        };
        let truncated = planned.len() > PLAN_LIMIT;
        encode(&BalanceResponse {
            in_flight: state
                .moves
                .iter()
                .map(|(g, mv)| move_msg(&state, *g, "move", &mv.from, &mv.to))
                .collect(),
            planned: planned
                .iter()
                .take(PLAN_LIMIT)
                .map(|step| match step {
                    PlannedStep::Move { gpid, from, to } => {
                        move_msg(&state, *gpid, "move", from, to)
                    }
                    PlannedStep::SwitchPrimary { gpid, from, to } => {
                        move_msg(&state, *gpid, "switch_primary", from, to)
                    }
                })
                .collect(),
            draining: state.draining.iter().map(|n| n.0.clone()).collect(),
            truncated,
        })
    }
}
