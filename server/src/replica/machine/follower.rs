//! The secondary's and learner's side of the machine: accepting prepares
//! into a coherent log, acking what is durable, following the primary's
//! commit point, and learning (rule 8).

use petrel_common::ids::{Ballot, Decree};

use super::{dec, Entry, Learning, Message, Output, ReplicaMachine, Status};

impl ReplicaMachine {
    /// Takes a prepared entry from the primary of the current ballot.
    pub(super) fn accept(&mut self, entry: Entry, out: &mut Vec<Output>) {
        if entry.ballot != self.config.ballot {
            return;
        }
        let d = entry.decree;
        if d <= self.committed {
            // Committed here already, hence durable and the same mutation.
            self.ack(d, out);
            return;
        }
        if let Some(slot) = self.slot(d) {
            if slot.entry.ballot == entry.ballot {
                // A duplicate: ack again if durable (the first ack may be lost).
                if slot.seq <= self.durable_seq {
                    self.ack(d, out);
                }
                return;
            }
        }
        if !self.can_accept(d) {
            if self.stash.len() < self.opts.max_stash || self.stash.contains_key(&d) {
                self.stash.insert(d, entry);
            }
            return;
        }
        self.put(entry, out);
        self.drain_stash(out);
    }

    /// Rule 7: entries of older ballots beyond what the primary prepared were
    /// never committed anywhere (the primary holds every committed entry):
    /// drop them. Beyond our commit points, a log holds a run of entries of
    /// the current ballot (accepted only on top of each other), then at most
    /// such a stale tail.
    pub(super) fn drop_beyond(&mut self, primary_prepared: Decree, out: &mut Vec<Output>) {
        let ballot = self.config.ballot;
        let after = primary_prepared
            .max(self.committed)
            .max(self.known_committed);
        let first_stale = self
            .slots
            .iter()
            .find(|s| s.entry.decree > after && s.entry.ballot < ballot)
            .map(|s| s.entry.decree);
        if let Some(d) = first_stale {
            self.truncate_after(dec(d.0 - 1), out);
        }
    }

    /// Accepts stashed prepares that now extend the log.
    pub(super) fn drain_stash(&mut self, out: &mut Vec<Output>) {
        self.stash.retain(|k, _| *k > self.committed);
        while let Some(e) = self.stash.remove(&self.last_prepared().next()) {
            if !self.can_accept(e.decree) {
                self.stash.insert(e.decree, e);
                break;
            }
            self.put(e, out);
        }
    }

    /// Writes an entry from the primary at its decree (at most `last_prepared + 1`).
    ///
    /// The same mutation under a higher ballot is relabeled in place. A
    /// different mutation cannot be committed anywhere (committed decrees
    /// hold the same mutation everywhere), so neither can anything after it:
    /// the tail is dropped and the entry appended.
    pub(super) fn put(&mut self, entry: Entry, out: &mut Vec<Output>) {
        let d = entry.decree;
        let existing = self
            .slot(d)
            .map(|s| (s.entry.ballot, s.entry.mutation == entry.mutation));
        match existing {
            // Same entry, or a stale one (rule 2: only a higher ballot replaces).
            Some((ballot, _)) if ballot >= entry.ballot => {}
            Some((_, true)) => {
                let seq = self.take_seq();
                out.push(Output::AppendLog {
                    seq,
                    entry: entry.clone(),
                });
                let slot = self.slot_mut(d).unwrap();
                slot.entry = entry;
                slot.seq = seq;
                slot.acked = false;
            }
            Some((_, false)) => {
                self.truncate_after(dec(d.0 - 1), out);
                self.append(entry, None, out);
            }
            None => self.append(entry, None, out),
        }
    }

    /// Whether an entry of the current ballot at `d` extends a coherent
    /// history: contiguous, and everything held after the primary's commit
    /// point was prepared under the current ballot.
    pub(super) fn can_accept(&self, d: Decree) -> bool {
        if d > self.last_prepared().next() {
            return false;
        }
        let from = self.committed.max(self.known_committed).0 + 1;
        (from..d.0).all(|x| {
            self.slot(dec(x))
                .is_some_and(|s| s.entry.ballot == self.config.ballot)
        })
    }

    pub(super) fn ack(&self, decree: Decree, out: &mut Vec<Output>) {
        if let Some(primary) = &self.config.primary {
            let msg = Message::PrepareAck {
                ballot: self.config.ballot,
                decree,
            };
            self.send(primary, msg, out);
        }
    }

    /// Secondaries and learners commit up to what the primary said, as far
    /// as their durable log reaches.
    pub(super) fn advance_follower_commit(&mut self, out: &mut Vec<Output>) {
        let target = self.known_committed.min(self.last_prepared());
        while self.committed < target {
            let slot = self.slot(self.committed.next()).unwrap();
            if slot.seq > self.durable_seq {
                break;
            }
            self.commit_next(out);
        }
        self.trim_window();
    }

    /// Invited as a learner: drop the uncommitted tail (rule 8), ask for the rest.
    pub(super) fn start_learning(&mut self, out: &mut Vec<Output>) {
        // Rule 8 without losing anything: the uncommitted tail is kept but not
        // trusted (no commit, no ack builds on it) until the primary's reply
        // has been compared with it entry by entry, replacing what differs.
        // Truncating it outright could drop entries the primary already
        // counted when this learner was ready before a restart.
        self.status = Status::Learner;
        self.stash.clear();
        self.known_committed = self.committed;
        for slot in self.slots.iter_mut() {
            slot.acked = false;
        }
        self.learning = Some(Learning {
            requested_ms: self.now_ms,
            reply_end: None,
            sent: false,
        });
        self.request_learn(out);
    }

    pub(super) fn request_learn(&mut self, out: &mut Vec<Output>) {
        if let Some(l) = self.learning.as_mut() {
            l.requested_ms = self.now_ms;
        }
        if let Some(primary) = &self.config.primary {
            let msg = Message::LearnRequest {
                ballot: self.config.ballot,
                committed: self.committed,
            };
            self.send(primary, msg, out);
        }
    }

    pub(super) fn on_learn_reply(
        &mut self,
        last_committed: Decree,
        entries: Vec<Entry>,
        out: &mut Vec<Output>,
    ) {
        if self.learning.is_none() {
            return;
        }
        // The reply covers everything after our commit point up to the
        // primary's last prepared decree.
        let primary_prepared = entries.last().map_or(self.committed, |e| e.decree);
        for e in entries {
            let d = e.decree;
            if d <= self.committed {
                continue;
            }
            if d > self.last_prepared().next() {
                break;
            }
            self.put(e, out);
        }
        self.drop_beyond(primary_prepared, out);
        let end = self.last_prepared();
        if let Some(l) = self.learning.as_mut() {
            l.reply_end = Some(end);
            l.sent = false;
        }
        self.known_committed = self.known_committed.max(last_committed);
        self.drain_stash(out);
        self.advance_follower_commit(out);
        self.maybe_send_completed(out);
    }

    /// Records the primary's commit point. A learner whose log has not yet
    /// been checked against a reply does not trust it, so it ignores it.
    pub(super) fn note_committed(&mut self, last_committed: Decree) {
        if self.status == Status::Learner
            && self
                .learning
                .as_ref()
                .is_some_and(|l| l.reply_end.is_none())
        {
            return;
        }
        self.known_committed = self.known_committed.max(last_committed);
    }

    /// Highest decree up to which the log is durable without a gap.
    pub(super) fn durable_through(&self) -> Decree {
        let mut d = self.committed;
        while let Some(s) = self.slot(d.next()) {
            if s.seq > self.durable_seq {
                break;
            }
            d = d.next();
        }
        d
    }

    /// (Learner) once the latest reply is durable, say how far the log reaches.
    pub(super) fn maybe_send_completed(&mut self, out: &mut Vec<Output>) {
        let through = self.durable_through();
        let Some(l) = self.learning.as_mut() else {
            return;
        };
        if l.sent || l.reply_end.is_none_or(|end| through < end) {
            return;
        }
        l.sent = true;
        if let Some(primary) = &self.config.primary {
            let msg = Message::LearnCompleted {
                ballot: self.config.ballot,
                through,
            };
            self.send(primary, msg, out);
        }
    }

    pub(super) fn checkpoint_installed(
        &mut self,
        ballot: Ballot,
        decree: Decree,
        out: &mut Vec<Output>,
    ) {
        if self.status != Status::Learner
            || ballot != self.config.ballot
            || decree <= self.committed
        {
            return;
        }
        let seq = self.take_seq();
        out.push(Output::TruncateLog { seq, after: decree });
        self.slots.clear();
        self.window_bytes = None;
        self.base = decree;
        self.committed = decree;
        self.known_committed = self.known_committed.max(decree);
        self.stash.retain(|k, _| *k > decree);
        if let Some(l) = self.learning.as_mut() {
            l.reply_end = None;
            l.sent = false;
        }
        self.request_learn(out);
    }

    pub(super) fn learner_tick(&mut self, out: &mut Vec<Output>) {
        let now = self.now_ms;
        let retry = self.opts.resend_ms.max(1) * 2;
        let Some(l) = self.learning.as_mut() else {
            return;
        };
        if now < l.requested_ms + retry {
            return;
        }
        l.requested_ms = now;
        if l.reply_end.is_none() || !self.stash.is_empty() {
            self.request_learn(out);
        } else {
            // Resend the completion (it may have been lost), with how far we are now.
            l.sent = false;
            self.maybe_send_completed(out);
        }
    }
}
