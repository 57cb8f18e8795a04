//! The last check before meta persists a configuration, whoever proposed it.

use std::collections::BTreeSet;

use petrel_common::ids::{Ballot, Gpid, NodeAddr};
use petrel_common::partition::PartitionConfig;

use super::model::Health;

/// Why a proposed configuration must not be persisted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("configuration of partition {proposed} proposed for partition {current}")]
    WrongPartition { proposed: Gpid, current: Gpid },
    #[error("ballot {proposed} must be exactly the current ballot {current} plus one")]
    BallotNotNext { proposed: Ballot, current: Ballot },
    #[error("{0} is listed twice")]
    DuplicateMember(NodeAddr),
    #[error("no primary although {0} is alive")]
    NoPrimary(NodeAddr),
    #[error("new primary {0} is not a member of the current configuration")]
    PrimaryNotMember(NodeAddr),
    #[error("new primary {0} is not alive")]
    PrimaryDead(NodeAddr),
    #[error("no current member would remain: the committed log would be lost")]
    LosesEveryMember,
}

/// Checks `proposed` as the successor of `current`:
///
/// - same partition, ballot exactly `current.ballot + 1`;
/// - members distinct;
/// - a primary, unless no member is alive;
/// - a new primary was a member of `current` (never a learner or a
///   stranger: only members are sure to hold every committed mutation) and
///   is alive;
/// - at least one member of `current` remains (when it had any), so the
///   committed log survives.
pub(crate) fn validate_config(
    current: &PartitionConfig,
    proposed: &PartitionConfig,
    health: &Health,
) -> Result<(), Invalid> {
    if proposed.gpid != current.gpid {
        return Err(Invalid::WrongPartition {
            proposed: proposed.gpid,
            current: current.gpid,
        });
    }
    if proposed.ballot != current.ballot.next() {
        return Err(Invalid::BallotNotNext {
            proposed: proposed.ballot,
            current: current.ballot,
        });
    }
    let mut seen = BTreeSet::new();
    for m in proposed.members() {
        if !seen.insert(m) {
            return Err(Invalid::DuplicateMember(m.clone()));
        }
    }
    match &proposed.primary {
        None => {
            if let Some(alive) = proposed.members().find(|m| health.is_alive(m)) {
                return Err(Invalid::NoPrimary(alive.clone()));
            }
        }
        Some(p) if current.primary.as_ref() != Some(p) => {
            if !current.has_member(p) {
                return Err(Invalid::PrimaryNotMember(p.clone()));
            }
            if !health.is_alive(p) {
                return Err(Invalid::PrimaryDead(p.clone()));
            }
        }
        Some(_) => {}
    }
    if current.members().next().is_some() && !proposed.members().any(|m| current.has_member(m)) {
        return Err(Invalid::LosesEveryMember);
    }
    Ok(())
}

/// The configuration a planned switch to `to` ends in, once the old primary
/// has stepped down: `to` leads, the old primary becomes the first
/// secondary, the others keep their order.
pub(crate) fn switched_config(current: &PartitionConfig, to: &NodeAddr) -> PartitionConfig {
    PartitionConfig {
        gpid: current.gpid,
        ballot: current.ballot.next(),
        primary: Some(to.clone()),
        secondaries: current
            .primary
            .iter()
            .chain(current.secondaries.iter())
            .filter(|m| *m != to)
            .cloned()
            .collect(),
    }
}
