//! Per-connection state that commands read and change.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use petrel_common::command::Command;

use crate::pubsub::hub::{self, Inbox, Mailbox};
use crate::resp::Proto;
use crate::state::ClientHandle;
use indexmap::IndexSet;
use petrel_common::pubsub::SubKind;

/// One client's connection state, owned by its connection task.
pub(crate) struct Session {
    /// What other connections see of this one (name, last command...).
    pub(crate) handle: Arc<ClientHandle>,
    /// RESP version replies are encoded in (HELLO changes it).
    pub(crate) proto: Proto,
    /// Whether AUTH (or HELLO ... AUTH) succeeded.
    pub(crate) authenticated: bool,
    /// The ACL user the connection runs as.
    pub(crate) user: String,
    /// CLIENT REPLY OFF: no replies until CLIENT REPLY ON.
    pub(crate) reply_off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is not sent.
    pub(crate) skip_next: bool,
    /// Commands queued since MULTI, until EXEC or DISCARD.
    pub(crate) tx: Option<Transaction>,
    /// The selected database (SELECT).
    pub(crate) db: u32,
    /// Keys WATCHed, with their fingerprints (filled in as WATCH completes).
    pub(crate) watch: Arc<Mutex<Watch>>,
    /// What the connection is subscribed to.
    pub(crate) subs: Subscriptions,
    /// Where the hub sends this connection's messages (made on first subscribe).
    mailbox: Option<Mailbox>,
    /// The connection task's end of the mailbox.
    pub(crate) inbox: Option<Inbox>,
    /// CLIENT TRACKING, when on.
    pub(crate) tracking: Option<Tracking>,
}

/// A connection's CLIENT TRACKING mode.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tracking {
    pub(crate) bcast: bool,
    pub(crate) optin: bool,
    pub(crate) optout: bool,
    pub(crate) noloop: bool,
    pub(crate) redirect: Option<u64>,
    /// BCAST prefixes (none given: the empty prefix, every key).
    pub(crate) prefixes: Vec<Bytes>,
    /// CLIENT CACHING YES/NO, for the next command.
    pub(crate) caching: Option<bool>,
}

impl Tracking {
    /// Whether a read now tracks its keys (default mode, with OPTIN/OPTOUT
    /// and CLIENT CACHING taken into account).
    pub(crate) fn tracks_reads(&self) -> bool {
        if self.bcast {
            return false;
        }
        if self.optin {
            return self.caching == Some(true);
        }
        if self.optout {
            return self.caching != Some(false);
        }
        true
    }
}

/// What a client subscribes to with (P|S)SUBSCRIBE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listen {
    Channel,
    Pattern,
    Shard,
}

impl Listen {
    /// The registration kind brokers know it by.
    pub(crate) fn kind(self) -> SubKind {
        match self {
            Listen::Channel => SubKind::Channel,
            Listen::Pattern => SubKind::Pattern,
            Listen::Shard => SubKind::Shard,
        }
    }
}

/// A connection's subscriptions, in the order they were made.
#[derive(Default)]
pub(crate) struct Subscriptions {
    channels: IndexSet<Bytes>,
    patterns: IndexSet<Bytes>,
    shard: IndexSet<Bytes>,
}

impl Subscriptions {
    /// The names of one kind.
    pub(crate) fn of(&mut self, kind: Listen) -> &mut IndexSet<Bytes> {
        match kind {
            Listen::Channel => &mut self.channels,
            Listen::Pattern => &mut self.patterns,
            Listen::Shard => &mut self.shard,
        }
    }

    /// The count Redis's confirmations carry: channels and patterns
    /// together; shard channels on their own.
    pub(crate) fn count(&self, kind: Listen) -> usize {
        match kind {
            Listen::Shard => self.shard.len(),
            Listen::Channel | Listen::Pattern => self.channels.len() + self.patterns.len(),
        }
    }

    /// Channels, patterns and shard channels (CLIENT LIST).
    pub(crate) fn counts(&self) -> [usize; 3] {
        [self.channels.len(), self.patterns.len(), self.shard.len()]
    }

    /// Whether the connection listens to anything (RESP2: subscribed mode).
    pub(crate) fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

/// A transaction being queued.
#[derive(Default)]
pub(crate) struct Transaction {
    /// Each resolved once, when queued.
    pub(crate) queued: Vec<(&'static Command, Vec<Bytes>)>,
    /// A command was rejected while queuing: EXEC answers EXECABORT.
    pub(crate) failed: bool,
}

/// Watched keys. `generation` moves on at every UNWATCH, EXEC and DISCARD,
/// so a WATCH still reading fingerprints then adds nothing.
#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) generation: u64,
    pub(crate) keys: Vec<(Bytes, i64)>,
}

/// Locks the watch list (a panic elsewhere cannot poison it for good).
pub(crate) fn lock(watch: &Mutex<Watch>) -> std::sync::MutexGuard<'_, Watch> {
    petrel_common::sync::lock(watch)
}

impl Session {
    /// A fresh session: RESP2, authenticated only when no password is set.
    pub(crate) fn new(handle: Arc<ClientHandle>, password_required: bool) -> Self {
        Session {
            handle,
            proto: Proto::Resp2,
            authenticated: !password_required,
            user: "default".to_string(),
            reply_off: false,
            skip_next: false,
            tx: None,
            db: 0,
            watch: Arc::default(),
            subs: Subscriptions::default(),
            mailbox: None,
            inbox: None,
            tracking: None,
        }
    }

    /// The connection's mailbox, made (with its inbox) on first use.
    pub(crate) fn mailbox(&mut self) -> Mailbox {
        if let Some(m) = &self.mailbox {
            return m.clone();
        }
        let (mailbox, inbox) = hub::mailbox();
        self.mailbox = Some(mailbox.clone());
        self.inbox = Some(inbox);
        mailbox
    }

    /// RESP2 subscribed mode: only (un)subscribing, PING, QUIT and RESET.
    pub(crate) fn in_subscribed_mode(&self) -> bool {
        self.proto == Proto::Resp2 && self.subs.any()
    }

    /// The client id (CLIENT ID).
    pub(crate) fn id(&self) -> u64 {
        self.handle.id
    }

    /// Forgets every watched key; returns them.
    pub(crate) fn unwatch(&mut self) -> Vec<(Bytes, i64)> {
        let mut w = lock(&self.watch);
        w.generation += 1;
        std::mem::take(&mut w.keys)
    }

    /// Marks the transaction being queued, if any, as failed.
    pub(crate) fn flag_transaction(&mut self) {
        if let Some(tx) = &mut self.tx {
            tx.failed = true;
        }
    }

    /// Switches the protocol, keeping CLIENT LIST in step.
    pub(crate) fn set_proto(&mut self, proto: Proto) {
        self.proto = proto;
        self.handle.info().proto = proto;
    }
}
