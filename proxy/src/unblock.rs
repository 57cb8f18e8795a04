//! `CLIENT UNBLOCK`: a request, kept on the blocked client's handle, that
//! its blocking command (BLPOP and the rest) answers as if its timeout had
//! passed, or with an error. The command takes it between two waits at the
//! primary (each at most `BLOCK_SLICE`): a wait already sent is never
//! abandoned, since the primary may pop for it.

use std::sync::Mutex;

use petrel_common::reply::Reply;
use tokio::sync::Notify;

/// How the unblocked command answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// As if its timeout had passed.
    Timeout,
    /// `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

/// A client's pending unblock request.
#[derive(Default)]
pub(crate) struct Unblock {
    reason: Mutex<Option<Reason>>,
    notify: Notify,
}

impl Unblock {
    /// Asks the client's blocking command to end.
    pub(crate) fn request(&self, reason: Reason) {
        *petrel_common::sync::lock(&self.reason) = Some(reason);
        self.notify.notify_one();
    }

    /// Takes the pending request, if any.
    pub(crate) fn take(&self) -> Option<Reason> {
        petrel_common::sync::lock(&self.reason).take()
    }

    /// Waits for a request (check [`Unblock::take`] after).
    pub(crate) async fn requested(&self) {
        self.notify.notified().await;
    }
}

impl Reason {
    /// What the command answers: `empty` is its timeout reply.
    pub(crate) fn reply(self, empty: Reply) -> Reply {
        match self {
            Reason::Timeout => empty,
            Reason::Error => Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        }
    }
}
