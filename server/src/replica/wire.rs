//! Replica messages on the wire: [`Message`] to and from [`ReplicaMessageMsg`].

use petrel_common::ids::{Ballot, Decree, Gpid};
use petrel_common::msg::{EntryMsg, PartitionConfigMsg, ReplicaMessageMsg};
use petrel_common::partition::PartitionConfig;

use crate::replica::machine::{Entry, Message};

mod kind {
    pub(crate) const PREPARE: u32 = 1;
    pub(crate) const PREPARE_ACK: u32 = 2;
    pub(crate) const GROUP_CHECK: u32 = 3;
    pub(crate) const GROUP_CHECK_ACK: u32 = 4;
    pub(crate) const LEARN_REQUEST: u32 = 5;
    pub(crate) const LEARN_REPLY: u32 = 6;
    pub(crate) const LEARN_COMPLETED: u32 = 7;
    pub(crate) const REJECT: u32 = 8;
    /// Shell to shell, not a machine message: "a checkpoint of mine is what
    /// you need; fetch it". Carries the ballot.
    pub(crate) const CHECKPOINT_OFFER: u32 = 100;
}

/// What arrived for one replica.
#[derive(Debug)]
pub(crate) enum Incoming {
    Machine(Message),
    CheckpointOffer { ballot: Ballot },
}

fn entry_msg(e: &Entry) -> EntryMsg {
    EntryMsg {
        ballot: e.ballot.0,
        decree: e.decree.0,
        mutation: e.mutation.clone(),
    }
}

fn entry(m: &EntryMsg) -> Entry {
    Entry {
        ballot: Ballot(m.ballot),
        decree: Decree(m.decree),
        mutation: m.mutation.clone(),
    }
}

fn base(gpid: Gpid, kind: u32) -> ReplicaMessageMsg {
    ReplicaMessageMsg {
        table_id: gpid.table.0,
        partition_id: gpid.partition.0,
        kind,
        ..ReplicaMessageMsg::default()
    }
}

/// The wire form of `msg` for partition `gpid`.
pub(crate) fn encode(gpid: Gpid, msg: &Message) -> ReplicaMessageMsg {
    match msg {
        Message::Prepare {
            config,
            entry,
            last_committed,
        } => ReplicaMessageMsg {
            config: Some(PartitionConfigMsg::from(config)),
            entries: vec![entry_msg(entry)],
            last_committed: last_committed.0,
            ..base(gpid, kind::PREPARE)
        },
        Message::PrepareAck { ballot, decree } => ReplicaMessageMsg {
            ballot: ballot.0,
            decree: decree.0,
            ..base(gpid, kind::PREPARE_ACK)
        },
        Message::GroupCheck {
            config,
            learner,
            last_committed,
            last_prepared,
        } => ReplicaMessageMsg {
            config: Some(PartitionConfigMsg::from(config)),
            learner: *learner,
            last_committed: last_committed.0,
            last_prepared: last_prepared.0,
            ..base(gpid, kind::GROUP_CHECK)
        },
        Message::GroupCheckAck {
            ballot,
            last_committed,
            last_prepared,
        } => ReplicaMessageMsg {
            ballot: ballot.0,
            last_committed: last_committed.0,
            last_prepared: last_prepared.0,
            ..base(gpid, kind::GROUP_CHECK_ACK)
        },
        Message::LearnRequest { ballot, committed } => ReplicaMessageMsg {
            ballot: ballot.0,
            decree: committed.0,
            ..base(gpid, kind::LEARN_REQUEST)
        },
        Message::LearnReply {
            ballot,
            last_committed,
            entries,
        } => ReplicaMessageMsg {
            ballot: ballot.0,
            last_committed: last_committed.0,
            entries: entries.iter().map(entry_msg).collect(),
            ..base(gpid, kind::LEARN_REPLY)
        },
        Message::LearnCompleted { ballot, through } => ReplicaMessageMsg {
            ballot: ballot.0,
            decree: through.0,
            ..base(gpid, kind::LEARN_COMPLETED)
        },
        Message::Reject { config } => ReplicaMessageMsg {
            config: Some(PartitionConfigMsg::from(config)),
            ..base(gpid, kind::REJECT)
        },
    }
}

/// The wire form of a checkpoint offer.
pub(crate) fn encode_checkpoint_offer(gpid: Gpid, ballot: Ballot) -> ReplicaMessageMsg {
    ReplicaMessageMsg {
        ballot: ballot.0,
        ..base(gpid, kind::CHECKPOINT_OFFER)
    }
}

/// The partition a wire message is for.
pub(crate) fn gpid_of(m: &ReplicaMessageMsg) -> Gpid {
    Gpid::new(m.table_id, m.partition_id)
}

/// Decodes a wire message; `None` for an unknown kind or a missing field
/// (a newer peer, or garbage: dropped, the sender retries or times out).
pub(crate) fn decode(m: ReplicaMessageMsg) -> Option<Incoming> {
    let config = |m: &ReplicaMessageMsg| -> Option<PartitionConfig> {
        let c = PartitionConfig::from(m.config.as_ref()?);
        (c.gpid == gpid_of(m)).then_some(c)
    };
    let msg = match m.kind {
        kind::PREPARE => {
            if m.entries.len() != 1 {
                return None;
            }
            Message::Prepare {
                config: config(&m)?,
                entry: entry(&m.entries[0]),
                last_committed: Decree(m.last_committed),
            }
        }
        kind::PREPARE_ACK => Message::PrepareAck {
            ballot: Ballot(m.ballot),
            decree: Decree(m.decree),
        },
        kind::GROUP_CHECK => Message::GroupCheck {
            config: config(&m)?,
            learner: m.learner,
            last_committed: Decree(m.last_committed),
            last_prepared: Decree(m.last_prepared),
        },
        kind::GROUP_CHECK_ACK => Message::GroupCheckAck {
            ballot: Ballot(m.ballot),
            last_committed: Decree(m.last_committed),
            last_prepared: Decree(m.last_prepared),
        },
        kind::LEARN_REQUEST => Message::LearnRequest {
            ballot: Ballot(m.ballot),
            committed: Decree(m.decree),
        },
        kind::LEARN_REPLY => Message::LearnReply {
            ballot: Ballot(m.ballot),
            last_committed: Decree(m.last_committed),
            entries: m.entries.iter().map(entry).collect(),
        },
        kind::LEARN_COMPLETED => Message::LearnCompleted {
            ballot: Ballot(m.ballot),
            through: Decree(m.decree),
        },
        kind::REJECT => Message::Reject {
            config: config(&m)?,
        },
        kind::CHECKPOINT_OFFER => {
            return Some(Incoming::CheckpointOffer {
                ballot: Ballot(m.ballot),
            })
        }
        _ => return None,
    };
    Some(Incoming::Machine(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use petrel_common::ids::NodeAddr;

    #[test]
    fn every_message_round_trips() {
        let gpid = Gpid::new(3, 1);
        let config = PartitionConfig {
            gpid,
            ballot: Ballot(4),
            primary: Some(NodeAddr::from("127.0.0.1:1")),
            secondaries: vec![NodeAddr::from("127.0.0.1:2")],
        };
        let e = Entry {
            ballot: Ballot(4),
            decree: Decree(9),
            mutation: Bytes::from_static(b"m"),
        };
        let all = vec![
            Message::Prepare {
                config: config.clone(),
                entry: e.clone(),
                last_committed: Decree(8),
            },
            Message::PrepareAck {
                ballot: Ballot(4),
                decree: Decree(9),
            },
            Message::GroupCheck {
                config: config.clone(),
                learner: true,
                last_committed: Decree(8),
                last_prepared: Decree(9),
            },
            Message::GroupCheckAck {
                ballot: Ballot(4),
                last_committed: Decree(7),
                last_prepared: Decree(9),
            },
            Message::LearnRequest {
                ballot: Ballot(4),
                committed: Decree(2),
            },
            Message::LearnReply {
                ballot: Ballot(4),
                last_committed: Decree(8),
                entries: vec![e.clone(), e],
            },
            Message::LearnCompleted {
                ballot: Ballot(4),
                through: Decree(9),
            },
            Message::Reject { config },
        ];
        for msg in all {
            let wire = encode(gpid, &msg);
            assert_eq!(gpid_of(&wire), gpid);
            match decode(wire) {
                Some(Incoming::Machine(back)) => assert_eq!(back, msg),
                other => panic!("{msg:?} came back as {other:?}"),
            }
        }
        let offer = encode_checkpoint_offer(gpid, Ballot(4));
        assert!(matches!(
            decode(offer),
            Some(Incoming::CheckpointOffer { ballot: Ballot(4) })
        ));
    }

    #[test]
    fn malformed_messages_are_dropped() {
        let gpid = Gpid::new(3, 1);
        assert!(decode(base(gpid, 77)).is_none());
        // A prepare without its entry or config.
        assert!(decode(base(gpid, kind::PREPARE)).is_none());
        // A config for another partition.
        let mut m = encode(
            gpid,
            &Message::Reject {
                config: PartitionConfig {
                    gpid: Gpid::new(3, 2),
                    ballot: Ballot(1),
                    primary: None,
                    secondaries: vec![],
                },
            },
        );
        m.partition_id = 1;
        assert!(decode(m).is_none());
    }
}
