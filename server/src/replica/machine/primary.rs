//! The primary's side of the machine: proposing, re-preparing the tail it
//! takes over, counting acks, committing, failure detection, and feeding
//! learners.

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, NodeAddr};

use super::{dec, Entry, LearnerState, Message, Output, ReplicaMachine, Status, Token, WriteError};

impl ReplicaMachine {
    /// Becomes primary of the current ballot: re-prepare the uncommitted tail
    /// under it (rule 7); reconciled once that tail is committed.
    pub(super) fn take_over(&mut self, was_primary: bool, out: &mut Vec<Output>) {
        self.status = Status::Primary;
        self.reconciled = false;
        self.reported.clear();
        if !was_primary {
            self.learners.clear();
        }
        let config = &self.config;
        self.learners.retain(|n, _| !config.has_member(n));
        for l in self.learners.values_mut() {
            l.ready = false;
            l.through = None;
            l.last_heard_ms = self.now_ms;
        }
        self.last_heard = self
            .config
            .secondaries
            .iter()
            .map(|s| (s.clone(), self.now_ms))
            .collect();
        // Relabel the tail in place: same mutations, new ballot. Nothing is
        // truncated: a crash half-way leaves the same history under mixed ballots.
        let committed = self.committed;
        let lp = self.last_prepared();
        for d in committed.0 + 1..=lp.0 {
            let seq = self.take_seq();
            let (ballot, now) = (self.config.ballot, self.now_ms);
            let slot = self.slot_mut(dec(d)).unwrap();
            slot.entry.ballot = ballot;
            slot.seq = seq;
            slot.sent_ms = now;
            slot.resent_ms = now;
            slot.resends = 0;
            let entry = slot.entry.clone();
            out.push(Output::AppendLog { seq, entry });
        }
        self.reconcile_target = lp;
        self.last_group_check_ms = self.now_ms;
        for peer in self.peers() {
            self.group_check(&peer, out);
            for d in committed.0 + 1..=lp.0 {
                let msg = self.prepare_msg(&self.slot(dec(d)).unwrap().entry);
                self.send(&peer, msg, out);
            }
        }
        self.try_commit(out);
    }

    /// Secondaries other than me, then learners: whoever gets prepares.
    pub(super) fn peers(&self) -> Vec<NodeAddr> {
        let mut v: Vec<NodeAddr> = self
            .config
            .secondaries
            .iter()
            .filter(|s| **s != self.me)
            .cloned()
            .collect();
        v.extend(self.learners.keys().cloned());
        v
    }

    pub(super) fn prepare_msg(&self, entry: &Entry) -> Message {
        Message::Prepare {
            config: self.config.clone(),
            entry: entry.clone(),
            last_committed: self.committed,
        }
    }

    pub(super) fn group_check(&self, to: &NodeAddr, out: &mut Vec<Output>) {
        let msg = Message::GroupCheck {
            config: self.config.clone(),
            learner: self.learners.contains_key(to),
            last_committed: self.committed,
            last_prepared: self.last_prepared(),
        };
        self.send(to, msg, out);
    }

    pub(super) fn propose(&mut self, token: Token, mutation: Bytes, out: &mut Vec<Output>) {
        let err = if self.status != Status::Primary {
            Some(self.not_primary())
        } else if !self.lease_valid {
            Some(WriteError::LeaseExpired {
                ballot: self.config.ballot,
            })
        } else if self.in_flight() >= self.opts.max_in_flight {
            Some(WriteError::Busy {
                in_flight: self.in_flight(),
                limit: self.opts.max_in_flight,
            })
        } else {
            None
        };
        if let Some(e) = err {
            out.push(Output::Reply {
                token,
                result: Err(e),
            });
            return;
        }
        let entry = Entry {
            ballot: self.config.ballot,
            decree: self.last_prepared().next(),
            mutation,
        };
        for peer in self.peers() {
            self.send(&peer, self.prepare_msg(&entry), out);
        }
        self.append(entry, Some(token), out);
    }

    /// Commits, in order, every entry that every member (and every ready
    /// learner) has durably under the current ballot.
    pub(super) fn try_commit(&mut self, out: &mut Vec<Output>) {
        if self.status != Status::Primary {
            return;
        }
        loop {
            let d = self.committed.next();
            let Some(slot) = self.slot(d) else { break };
            if slot.seq > self.durable_seq || slot.entry.ballot != self.config.ballot {
                break;
            }
            let all_members = self
                .config
                .secondaries
                .iter()
                .all(|s| *s == self.me || slot.acks.contains(s));
            let all_learners = self
                .learners
                .iter()
                .all(|(n, l)| !l.ready || slot.acks.contains(n));
            if !(all_members && all_learners) {
                break;
            }
            self.commit_next(out);
        }
        if !self.reconciled && self.committed >= self.reconcile_target {
            self.reconciled = true;
        }
        self.trim_window();
    }

    pub(super) fn on_prepare_ack(
        &mut self,
        from: NodeAddr,
        ballot: Ballot,
        decree: Decree,
        out: &mut Vec<Output>,
    ) {
        if self.status != Status::Primary || ballot != self.config.ballot {
            return;
        }
        self.heard(&from);
        if let Some(slot) = self.slot_mut(decree) {
            if slot.entry.ballot == ballot {
                slot.acks.insert(from.clone());
            }
        }
        self.try_commit(out);
        self.check_ready(&from, out);
    }

    pub(super) fn heard(&mut self, from: &NodeAddr) {
        let now = self.now_ms;
        if let Some(t) = self.last_heard.get_mut(from) {
            *t = now;
        }
        if let Some(l) = self.learners.get_mut(from) {
            l.last_heard_ms = now;
        }
    }

    pub(super) fn add_learner(&mut self, ballot: Ballot, node: NodeAddr, out: &mut Vec<Output>) {
        if self.status != Status::Primary
            || ballot != self.config.ballot
            || node == self.me
            || self.config.has_member(&node)
        {
            return;
        }
        let now = self.now_ms;
        self.learners.entry(node.clone()).or_insert(LearnerState {
            ready: false,
            through: None,
            last_heard_ms: now,
            checkpoint_ms: None,
        });
        self.group_check(&node, out);
    }

    pub(super) fn on_learn_request(
        &mut self,
        from: NodeAddr,
        committed: Decree,
        out: &mut Vec<Output>,
    ) {
        if self.status != Status::Primary || !self.learners.contains_key(&from) {
            return;
        }
        self.heard(&from);
        self.feed_learner(&from, committed, out);
    }

    /// Sends a learner what follows `after`: from the in-memory window if it
    /// reaches back that far, else as a storage checkpoint (rate-limited).
    pub(super) fn feed_learner(&mut self, to: &NodeAddr, after: Decree, out: &mut Vec<Output>) {
        if after >= self.base {
            self.send_learn_reply(to, after, out);
            return;
        }
        let now = self.now_ms;
        let timeout = self.opts.failure_timeout_ms;
        let Some(l) = self.learners.get_mut(to) else {
            return;
        };
        if l.checkpoint_ms.is_none_or(|t| now >= t + timeout) {
            l.checkpoint_ms = Some(now);
            out.push(Output::SendCheckpoint {
                ballot: self.config.ballot,
                to: to.clone(),
            });
        }
    }

    pub(super) fn send_learn_reply(&self, to: &NodeAddr, after: Decree, out: &mut Vec<Output>) {
        let entries: Vec<Entry> = self
            .slots
            .iter()
            .filter(|s| s.entry.decree > after)
            .map(|s| s.entry.clone())
            .collect();
        let msg = Message::LearnReply {
            ballot: self.config.ballot,
            last_committed: self.committed,
            entries,
        };
        self.send(to, msg, out);
    }

    pub(super) fn on_learn_completed(
        &mut self,
        from: NodeAddr,
        through: Decree,
        out: &mut Vec<Output>,
    ) {
        if self.status != Status::Primary {
            return;
        }
        self.heard(&from);
        let Some(l) = self.learners.get_mut(&from) else {
            return;
        };
        if l.ready {
            return;
        }
        l.through = Some(l.through.map_or(through, |t| t.max(through)));
        self.check_ready(&from, out);
        if !self.learners[&from].ready {
            // It missed decrees that are committed by now: send them.
            self.feed_learner(&from, through, out);
        }
    }

    /// A learner is ready once it holds, durably, everything this primary prepared.
    pub(super) fn check_ready(&mut self, node: &NodeAddr, out: &mut Vec<Output>) {
        let Some(l) = self.learners.get(node) else {
            return;
        };
        let Some(through) = l.through else { return };
        if l.ready {
            return;
        }
        let lp = self.last_prepared();
        let complete = (through.0 + 1..=lp.0)
            .all(|d| self.slot(dec(d)).is_some_and(|s| s.acks.contains(node)));
        if complete {
            self.learners.get_mut(node).unwrap().ready = true;
            out.push(Output::LearnerReady {
                ballot: self.config.ballot,
                node: node.clone(),
            });
        }
    }

    pub(super) fn primary_tick(&mut self, out: &mut Vec<Output>) {
        let now = self.now_ms;
        let peers = self.peers();
        // Resend prepares nobody acked in time.
        let first = self.committed.0 + 1;
        for d in first..=self.last_prepared().0 {
            let slot = self.slot(dec(d)).unwrap();
            // Messages travel over TCP: a resend only helps when a connection
            // broke, so each one waits twice as long as the one before (up to
            // 8x), plus the time the entry's size may take.
            let wait = (self.opts.resend_ms << slot.resends.min(3))
                + super::size_allowance_ms(slot.entry.mutation.len());
            if now < slot.resent_ms + wait {
                continue;
            }
            let msg = self.prepare_msg(&slot.entry);
            for p in peers.iter().filter(|p| !slot.acks.contains(*p)) {
                self.send(p, msg.clone(), out);
            }
            let slot = self.slot_mut(dec(d)).unwrap();
            slot.resent_ms = now;
            slot.resends = slot.resends.saturating_add(1);
        }
        if now >= self.last_group_check_ms + self.opts.group_check_ms {
            self.last_group_check_ms = now;
            for p in &peers {
                self.group_check(p, out);
            }
            // Meta may have missed it: repeat until the learner is a member.
            for (n, l) in &self.learners {
                if l.ready {
                    out.push(Output::LearnerReady {
                        ballot: self.config.ballot,
                        node: n.clone(),
                    });
                }
            }
        }
        // Failure detection: silent, or not acking the oldest waiting entry.
        // A big entry extends both: a member receiving, logging and syncing
        // 100 MB may send nothing else meanwhile.
        let timeout = self.opts.failure_timeout_ms;
        // Whether `node`, last heard from at `heard`, is silent or stuck on
        // the oldest entry it has not acked (one scan of the window).
        let suspect = |node: &NodeAddr, heard: Option<u64>| {
            let waiting = (first..=self.last_prepared().0)
                .map(|d| self.slot(dec(d)).unwrap())
                .find(|s| !s.acks.contains(node))
                .map(|s| (s.sent_ms, super::size_allowance_ms(s.entry.mutation.len())));
            let extra = waiting.map_or(0, |(_, extra)| extra);
            let silent = heard.is_none_or(|t| now >= t + timeout + extra);
            let stuck = waiting.is_some_and(|(sent, extra)| now >= sent + extra + timeout);
            (silent, stuck)
        };
        let mut failed = Vec::new();
        for s in self.config.secondaries.iter().filter(|s| **s != self.me) {
            let (silent, stuck) = suspect(s, self.last_heard.get(s).copied());
            let recently = self.reported.get(s).is_some_and(|t| now < t + timeout);
            if (silent || stuck) && !recently {
                failed.push(s.clone());
            }
        }
        // A learner that is not ready yet is simply dropped. A ready one is
        // not: meta may be making it a secondary on our word right now, so it
        // keeps counting for commit until a new ballot settles its fate
        // (meta cancels a learner by issuing one).
        let mut dropped = Vec::new();
        for (n, l) in &self.learners {
            let (silent, stuck) = suspect(n, Some(l.last_heard_ms));
            let recently = self.reported.get(n).is_some_and(|t| now < t + timeout);
            if !l.ready && silent {
                dropped.push(n.clone());
            } else if l.ready && (silent || stuck) && !recently {
                failed.push(n.clone());
            }
        }
        for n in failed {
            self.reported.insert(n.clone(), now);
            out.push(Output::ReportFailure {
                ballot: self.config.ballot,
                node: n,
            });
        }
        for n in dropped {
            self.learners.remove(&n);
            out.push(Output::ReportFailure {
                ballot: self.config.ballot,
                node: n,
            });
        }
    }
}
