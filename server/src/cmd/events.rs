//! Keyspace notifications as commands raise them (docs/PUBSUB.md
//! "Keyspace notifications"): each command calls `Db::notify` with the
//! event Redis 7.0 publishes, in Redis's order and under Redis's
//! conditions (SADD of a member already there raises nothing); the `Db`
//! itself raises `new` when a command stores a key that did not exist, and
//! `expired` and `keymiss` when a command looks its keys up
//! (`Db::before_command`).
//! The events travel with the command's mutation and are published by the
//! primary once it has committed (`crate::notify`).
//!
//! With notifications off (the default) a `Db`'s classes are 0 and
//! `Db::notify` is one test of them: nothing is allocated or formatted.

#[cfg(test)]
mod tests;

use bytes::Bytes;
use petrel_common::command::Command;

pub(crate) use petrel_common::notify::{
    EXPIRED, GENERIC, HASH, KEY_MISS, LIST, NEW, SET, STREAM, STRING, ZSET,
};

/// Which keyspace events a command raises, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Notify {
    /// The `notify-keyspace-events` classes (0: none).
    pub(crate) flags: u32,
    /// The command runs on the read path: it cannot write, so the expired
    /// keys it meets are noted for the sweep instead of deleted.
    pub(crate) reading: bool,
}

/// Whether `command` raises events itself: every client command, and the
/// internal ones that run client commands or stand for them (MULTI blocks,
/// scripts, the sweep, MOVE's halves, SORT with its patterns' values). Others (a transaction's
/// `petrel.txn.replace`, the state another partition's command computed)
/// raise none: the command they serve raised them.
pub(crate) fn raises_events(command: &Command) -> bool {
    !command.is_internal()
        || matches!(
            command.name(),
            "petrel.exec"
                | "petrel.eval"
                | "petrel.fcall"
                | "petrel.sweep"
                | "petrel.restore"
                | "petrel.moved"
                | "petrel.sort"
        )
}

/// One event: its class (one of `petrel_common::notify`'s), Redis's name
/// for it, and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) class: u32,
    pub(crate) name: &'static str,
    pub(crate) key: Bytes,
}

/// The events of a command (or of several, in order), with the classes
/// they were raised under (which say whether they go to keyspace channels,
/// keyevent channels or both).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Events {
    pub(crate) flags: u32,
    pub(crate) list: Vec<Event>,
}

impl Events {
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Appends `more` (raised after these).
    pub(crate) fn append(&mut self, more: Events) {
        if more.list.is_empty() {
            return;
        }
        self.flags |= more.flags;
        self.list.extend(more.list);
    }

    /// Takes out the `keymiss` events: a read's, published at once rather
    /// than with the writes of its transaction.
    pub(crate) fn take_misses(&mut self) -> Events {
        if !self.list.iter().any(|e| e.class == KEY_MISS) {
            return Events::default();
        }
        let (misses, rest) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|e| e.class == KEY_MISS);
        self.list = rest;
        Events {
            flags: self.flags,
            list: misses,
        }
    }
}
