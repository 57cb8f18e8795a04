//! Client writes on the primary.
//!
//! Writes execute here, one at a time, against committed storage seen
//! through the uncommitted tail ([`Overlay`]). Those of one batch of events
//! are staged and proposed together as one decree (one log record, one
//! prepare, one apply); each is answered with the reply it computed once
//! that decree commits. A write that changes nothing but read uncommitted
//! state is answered only once that state commits (a barrier).

use bytes::Bytes;
use petrel_common::command::Command;
use petrel_common::reply::Reply;
use tokio::sync::oneshot;

use super::Shell;
use crate::log::encode_mutation;
use crate::replica::machine::{Input, Output, Status, WriteError};
use crate::replica::overlay::Overlay;
use crate::replica::WriteOutcome;

/// Staged writes are proposed early once their mutations reach this size…
const STAGE_MAX_BYTES: usize = 1 << 20;
/// …or this many writes.
const STAGE_MAX_WRITES: usize = 256;

/// Writes carried by one decree: each one's reply and where to send it.
pub(super) type Waiting = Vec<(Reply, oneshot::Sender<WriteOutcome>)>;

impl Shell {
    pub(super) fn write(
        &mut self,
        command: &'static Command,
        args: Vec<Bytes>,
        now_ms: u64,
        done: oneshot::Sender<WriteOutcome>,
    ) {
        let refuse = |e| WriteOutcome::Refused(e);
        if self.machine.status() != Status::Primary {
            let _ = done.send(refuse(WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: self.machine.config().primary.clone(),
            }));
            return;
        }
        if !self.machine.lease_valid() {
            let _ = done.send(refuse(WriteError::LeaseExpired {
                ballot: self.machine.ballot(),
            }));
            return;
        }
        if let Err(e) = self.pending.sync(self.machine.uncommitted()) {
            let _ = done.send(WriteOutcome::Failed(e.to_string()));
            return;
        }
        let engine = self.shared.engine();
        let view = Overlay {
            base: engine.as_ref(),
            pending: &self.pending,
        };
        let exec = match crate::cmd::try_execute(&view, command, &args, now_ms) {
            Ok(exec) => exec,
            Err(e) => {
                let _ = done.send(WriteOutcome::Failed(format!("storage failure: {e}")));
                self.fail(&format!("storage read failed: {e}"));
                return;
            }
        };
        drop(engine);
        if exec.mutation.is_empty() {
            // It may have read staged writes: they go first, and it waits
            // for them like for any uncommitted state it read.
            if let Err(e) = self.propose_staged() {
                let _ = done.send(WriteOutcome::Refused(e));
                return;
            }
            if self.machine.in_flight() == 0 {
                let _ = done.send(WriteOutcome::Done(exec.reply));
            } else {
                self.barriers
                    .push((self.machine.last_prepared(), exec.reply, done));
            }
            return;
        }
        let bytes = encode_mutation(&exec.mutation);
        // The log refuses a record past MAX_PAYLOAD (and a refused append
        // fails the replica): refuse the write instead, nothing executed.
        // The entry header and the record framing take a few dozen bytes.
        if bytes.len() > crate::log::MAX_PAYLOAD - 1024 {
            let _ = done.send(WriteOutcome::Done(Reply::error(format!(
                "ERR the write is too big to replicate ({} bytes of changes, at most {})",
                bytes.len(),
                crate::log::MAX_PAYLOAD - 1024
            ))));
            return;
        }
        // Together they would make one record past the log's limit: the
        // earlier ones go first (this one read them, so it fails with them).
        if !self.staged.is_empty() && self.staged_bytes + bytes.len() > STAGE_MAX_BYTES {
            if let Err(e) = self.propose_staged() {
                let _ = done.send(WriteOutcome::Refused(e));
                return;
            }
        }
        if self.staged.is_empty() {
            self.staged_ballot = self.machine.ballot();
        }
        self.staged_bytes += bytes.len();
        self.pending.stage(exec.mutation);
        self.staged.push((exec.reply, done));
        // A big batch goes now: it would be one record past the log's limit,
        // or hold up the writes behind it.
        if self.staged_bytes >= STAGE_MAX_BYTES || self.staged.len() >= STAGE_MAX_WRITES {
            let _ = self.propose_staged();
        }
    }

    /// Proposes the staged writes as one decree. `Err` when the machine
    /// refused them (every one of them is answered so): nothing they did
    /// will ever apply.
    pub(super) fn propose_staged(&mut self) -> Result<(), WriteError> {
        let waiting = std::mem::take(&mut self.staged);
        let mutation = self.pending.take_staged();
        self.staged_bytes = 0;
        if waiting.is_empty() {
            return Ok(());
        }
        if self.machine.ballot() != self.staged_ballot {
            // The configuration changed after they executed: what they read
            // may be gone. Not executed; the client may retry.
            let e = WriteError::NotPrimary {
                ballot: self.machine.ballot(),
                primary: self.machine.config().primary.clone(),
            };
            for (_, done) in waiting {
                let _ = done.send(WriteOutcome::Refused(e.clone()));
            }
            return Err(e);
        }
        let bytes = encode_mutation(&mutation);
        let token = self.next_token;
        self.next_token += 1;
        self.writes.insert(token, waiting);
        let before = self.machine.last_prepared();
        let out = self.machine.handle(Input::Propose {
            token,
            mutation: bytes.clone(),
        });
        let after = self.machine.last_prepared();
        let refused = out.iter().find_map(|o| match o {
            Output::Reply {
                token: t,
                result: Err(e),
            } if *t == token => Some(e.clone()),
            _ => None,
        });
        if after > before {
            self.pending.push(after, bytes, mutation);
        }
        self.perform(out);
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn release_barriers(&mut self) {
        if self.barriers.is_empty() {
            return;
        }
        let primary = self.machine.status() == Status::Primary;
        let committed = self.machine.last_committed();
        let not_primary = || WriteError::NotPrimary {
            ballot: self.machine.ballot(),
            primary: self.machine.config().primary.clone(),
        };
        let mut waiting = Vec::new();
        for (decree, reply, done) in std::mem::take(&mut self.barriers) {
            if !primary {
                // What it read may never commit; it wrote nothing: not executed.
                let _ = done.send(WriteOutcome::Refused(not_primary()));
            } else if committed >= decree {
                let _ = done.send(WriteOutcome::Done(reply));
            } else {
                waiting.push((decree, reply, done));
            }
        }
        self.barriers = waiting;
    }
}
