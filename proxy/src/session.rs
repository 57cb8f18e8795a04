//! Per-connection state that commands read and change.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use petrel_common::command::Command;

use crate::resp::Proto;
use crate::state::ClientHandle;

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
        }
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
