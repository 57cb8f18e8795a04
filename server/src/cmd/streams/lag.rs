//! A consumer group's read counter and lag, from the stream's counters
//! alone, as Redis 7.0 estimates them (`streamEstimateDistanceFromFirstEverEntry`,
//! `streamRangeHasTombstones`, `streamReplyWithCGLag`).

use super::groups::{Group, INVALID_ENTRIES_READ};
use super::id::StreamId;
use super::store::Stream;

impl Stream<'_> {
    /// Whether a deleted entry may lie in `[start, end]` (both open when
    /// `None`).
    pub(crate) fn has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.len() == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries were added up to `id`, when that can be told;
    /// [`INVALID_ENTRIES_READ`] otherwise.
    pub(crate) fn entries_read_at(&self, id: StreamId) -> i64 {
        let added = i64::try_from(self.entries_added).unwrap_or(i64::MAX);
        if self.entries_added == 0 {
            return 0;
        }
        if self.len() == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        let length = i64::try_from(self.len()).unwrap_or(i64::MAX);
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return added - length;
            } else if id == self.first_id {
                return added - length + 1;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// The entries `group` has yet to read, when that can be told.
    pub(crate) fn lag(&self, group: &Group) -> Option<i64> {
        let added = i64::try_from(self.entries_added).unwrap_or(i64::MAX);
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != INVALID_ENTRIES_READ
            && !self.has_tombstones(Some(group.last_id), None)
        {
            return Some(added - group.entries_read);
        }
        match self.entries_read_at(group.last_id) {
            INVALID_ENTRIES_READ => None,
            read => Some(added - read),
        }
    }

    /// Moves `group` past `id`, delivered to it now, keeping its read
    /// counter as Redis does.
    pub(crate) fn advance(&self, group: &mut Group, id: StreamId) {
        if id <= group.last_id {
            return;
        }
        if group.entries_read != INVALID_ENTRIES_READ && !self.has_tombstones(Some(id), None) {
            group.entries_read += 1;
        } else if self.entries_added != 0 {
            group.entries_read = self.entries_read_at(id);
        }
        group.last_id = id;
    }
}
