//! What [`super::MutationLog::open`] found in the log.

use std::collections::{BTreeMap, HashMap};

use petrel_common::ids::{Decree, Gpid};

use super::entry::LogEntry;
use super::format::Record;
#[cfg(test)]
use super::format::Truncation;

/// The valid content of the log at open, truncate markers already applied.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Every entry in log order, minus those voided by a later truncate marker.
    pub(crate) entries: Vec<LogEntry>,
    /// Every truncate marker in log order (already applied to `entries`).
    #[cfg(test)]
    pub(crate) truncations: Vec<Truncation>,
    /// Entries dropped because a later truncate marker voided them.
    #[cfg(test)]
    pub(crate) dropped_by_truncation: usize,
    /// Bytes cut from a torn or corrupt tail of the last segment (0 if none).
    pub(crate) torn_tail_bytes: u64,
    /// Segment files read.
    pub(crate) segments: usize,
}

impl Replay {
    /// Per partition, one entry per decree (the highest ballot; the later one on a tie), sorted by decree.
    pub(crate) fn latest_per_partition(&self) -> HashMap<Gpid, Vec<LogEntry>> {
        let mut by_gpid: HashMap<Gpid, BTreeMap<Decree, &LogEntry>> = HashMap::new();
        for e in &self.entries {
            let slot = by_gpid.entry(e.gpid).or_default();
            match slot.get(&e.decree) {
                Some(old) if old.ballot > e.ballot => {}
                _ => {
                    slot.insert(e.decree, e);
                }
            }
        }
        by_gpid
            .into_iter()
            .map(|(g, m)| (g, m.into_values().cloned().collect()))
            .collect()
    }
}

/// Accumulates records in log order and applies truncate markers as they come.
#[derive(Default)]
pub(crate) struct ReplayBuilder {
    slots: Vec<Option<LogEntry>>,
    /// Indices into `slots` of the live entries of each partition.
    live: HashMap<Gpid, Vec<usize>>,
    #[cfg(test)]
    truncations: Vec<Truncation>,
    #[cfg(test)]
    dropped: usize,
}

impl ReplayBuilder {
    pub(crate) fn push(&mut self, record: Record) {
        match record {
            Record::Entry(e) => {
                self.live.entry(e.gpid).or_default().push(self.slots.len());
                self.slots.push(Some(e));
            }
            Record::Truncate(t) => {
                if let Some(idx) = self.live.get_mut(&t.gpid) {
                    let slots = &mut self.slots;
                    #[cfg(test)]
                    let live = idx.len();
                    idx.retain(|&i| {
                        let void = slots[i].as_ref().is_some_and(|e| e.decree > t.decree);
                        if void {
                            slots[i] = None;
                        }
                        !void
                    });
                    #[cfg(test)]
                    {
                        self.dropped += live - idx.len();
                    }
                }
                #[cfg(test)]
                self.truncations.push(t);
            }
        }
    }

    pub(crate) fn finish(self, torn_tail_bytes: u64, segments: usize) -> Replay {
        Replay {
            entries: self.slots.into_iter().flatten().collect(),
            #[cfg(test)]
            truncations: self.truncations,
            #[cfg(test)]
            dropped_by_truncation: self.dropped,
            torn_tail_bytes,
            segments,
        }
    }
}
