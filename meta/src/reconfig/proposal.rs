//! Rule 3: a primary that cannot reach a secondary asks meta to remove it.
//!
//! PacificA: meta accepts a proposed change only if it carries the current
//! ballot; the accepted change bumps the ballot, so of conflicting proposals
//! for one ballot the first wins and the others are refused.
//!
//! The proposals arrive as the `unreachable` list of the primary's report:
//! [`decide_requested_removal`] turns the secondaries in it into proposals
//! at the report's ballot and judges them in order, and
//! [`drop_unreachable_learners`] drops the learners in it.

use petrel_common::ids::{Ballot, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::model::{Action, Change, DropWhy, Health, Reports};

/// The primary's report at the current ballot, when the primary is alive.
fn current_primary_report<'a>(
    config: &PartitionConfig,
    health: &Health,
    reports: &'a Reports,
) -> Option<&'a super::model::ReplicaReport> {
    let primary = config.primary.as_ref().filter(|p| health.is_alive(p))?;
    reports.at(config.gpid, primary, config.ballot)
}

/// The removal the alive primary asks for in its report at the current
/// ballot: every secondary in its `unreachable` list becomes a
/// [`RemovalProposal`], judged in the order listed; the first accepted one
/// is the answer (the others are stale once it is persisted, and the
/// primary repeats them at the new ballot if it still needs to).
pub(crate) fn decide_requested_removal(
    config: &PartitionConfig,
    health: &Health,
    reports: &Reports,
) -> Option<Action> {
    let report = current_primary_report(config, health, reports)?;
    let proposals: Vec<RemovalProposal> = report
        .unreachable
        .iter()
        .filter(|n| config.secondaries.contains(n))
        .map(|n| RemovalProposal {
            gpid: config.gpid,
            ballot: report.ballot,
            from: report.node.clone(),
            remove: n.clone(),
        })
        .collect();
    judge_removals(config, &proposals)
        .into_iter()
        .find_map(Result::ok)
}

/// Learners (in progress, not members) that the alive primary lists as
/// unreachable in its report at the current ballot: each is dropped with
/// [`DropWhy::Unreachable`].
pub(crate) fn drop_unreachable_learners<'a>(
    config: &PartitionConfig,
    learners: impl IntoIterator<Item = &'a NodeAddr>,
    health: &Health,
    reports: &Reports,
) -> Vec<Action> {
    let Some(report) = current_primary_report(config, health, reports) else {
        return Vec::new();
    };
    learners
        .into_iter()
        .filter(|l| !config.has_member(l) && report.unreachable.contains(l))
        .map(|l| Action::DropLearner {
            gpid: config.gpid,
            ballot: config.ballot,
            node: l.clone(),
            why: DropWhy::Unreachable,
        })
        .collect()
}

/// "Remove secondary `remove` from `gpid`", sent by `from` at `ballot`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemovalProposal {
    pub(crate) gpid: Gpid,
    pub(crate) ballot: Ballot,
    pub(crate) from: NodeAddr,
    pub(crate) remove: NodeAddr,
}

/// Why meta refuses a proposal. The proposer should fetch the current
/// configuration and act on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("proposal for partition {proposed}, not {current}")]
    WrongPartition { proposed: Gpid, current: Gpid },
    #[error("proposal carries ballot {proposed}, the current ballot is {current}")]
    StaleBallot { proposed: Ballot, current: Ballot },
    #[error("another change was accepted first for ballot {ballot}")]
    Superseded { ballot: Ballot },
    #[error("{from} is not the primary at this ballot")]
    NotPrimary { from: NodeAddr },
    #[error("{node} is not a secondary at this ballot")]
    NotASecondary { node: NodeAddr },
}

/// Judges one removal proposal against the current configuration: accepted
/// only when it carries the current ballot, comes from the current primary
/// and names a current secondary. The answer is the change to persist
/// (ballot + 1, without that secondary).
pub(crate) fn judge_removal(
    current: &PartitionConfig,
    p: &RemovalProposal,
) -> Result<Action, Refusal> {
    if p.gpid != current.gpid {
        return Err(Refusal::WrongPartition {
            proposed: p.gpid,
            current: current.gpid,
        });
    }
    if p.ballot != current.ballot {
        return Err(Refusal::StaleBallot {
            proposed: p.ballot,
            current: current.ballot,
        });
    }
    if current.primary.as_ref() != Some(&p.from) {
        return Err(Refusal::NotPrimary {
            from: p.from.clone(),
        });
    }
    if !current.secondaries.contains(&p.remove) {
        return Err(Refusal::NotASecondary {
            node: p.remove.clone(),
        });
    }
    let mut next = current.clone();
    next.ballot = current.ballot.next();
    next.secondaries.retain(|s| *s != p.remove);
    Ok(Action::Reconfigure {
        ballot: current.ballot,
        config: next,
        change: Change::RemovedOnPrimaryRequest {
            removed: p.remove.clone(),
        },
    })
}

/// Judges proposals for one partition in arrival order, as if each accepted
/// one were persisted before the next is looked at: the first proposal for a
/// ballot wins, later ones for that ballot are [`Refusal::Superseded`].
pub(crate) fn judge_removals(
    current: &PartitionConfig,
    proposals: &[RemovalProposal],
) -> Vec<Result<Action, Refusal>> {
    let mut config = current.clone();
    let mut decided: Vec<Ballot> = Vec::new();
    proposals
        .iter()
        .map(|p| {
            if p.gpid == config.gpid && decided.contains(&p.ballot) {
                return Err(Refusal::Superseded { ballot: p.ballot });
            }
            let verdict = judge_removal(&config, p);
            if let Ok(Action::Reconfigure { config: next, .. }) = &verdict {
                decided.push(config.ballot);
                config = next.clone();
            }
            verdict
        })
        .collect()
}
