//! One sorted set as stored: a `member -> score` record and a `score +
//! member` record per member, and the helpers every ZSET command shares.

use std::ops::Bound;

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::score;
use crate::cmd::db::{Db, Entry};
use crate::cmd::events::{GENERIC, ZSET};
use crate::cmd::outcome::CmdError;
use crate::storage::layout::{KeyType, MetaHeader};
use crate::storage::StorageError;

/// First byte of a `member -> score` element.
pub(super) const BY_MEMBER: u8 = b'm';
/// First byte of a `score + member` element.
pub(super) const BY_SCORE: u8 = b's';

/// A member and its score.
pub(crate) type Scored = (Vec<u8>, f64);

/// One live sorted set: its key and metadata.
pub(crate) struct Zset<'k> {
    pub(crate) key: &'k [u8],
    pub(crate) entry: Entry,
}

impl<'k> Zset<'k> {
    /// The live sorted set at `key`; `WRONGTYPE` if it holds another type.
    pub(crate) fn lookup(db: &Db<'_>, key: &'k [u8]) -> Result<Option<Zset<'k>>, CmdError> {
        Ok(db
            .lookup_typed(key, KeyType::ZSet)?
            .map(|entry| Zset { key, entry }))
    }

    /// The live sorted set at `key`, or a new empty one (stored by [`Zset::save`]).
    pub(crate) fn lookup_or_new(db: &Db<'_>, key: &'k [u8]) -> Result<Zset<'k>, CmdError> {
        let entry = db.collection_or_new(key, KeyType::ZSet)?;
        Ok(Zset { key, entry })
    }

    /// A new, empty incarnation of `key`, replacing whatever it holds.
    pub(crate) fn fresh(db: &Db<'_>, key: &'k [u8]) -> Result<Zset<'k>, StorageError> {
        let header = MetaHeader {
            key_type: KeyType::ZSet,
            expire_at_ms: 0,
            version: db.fresh_version(key)?,
            size: 0,
        };
        Ok(Zset {
            key,
            entry: Entry {
                header,
                payload: Bytes::new(),
            },
        })
    }

    /// The member count.
    pub(crate) fn len(&self) -> u64 {
        self.entry.header.size
    }

    fn version(&self) -> u64 {
        self.entry.header.version
    }

    /// The score of `member`, if it is in the set.
    pub(crate) fn score(&self, db: &Db<'_>, member: &[u8]) -> Result<Option<f64>, StorageError> {
        let raw = db.element(self.key, self.version(), &member_element(member))?;
        match raw {
            None => Ok(None),
            Some(raw) => score::decode(&raw)
                .map(Some)
                .ok_or_else(|| StorageError::Corrupt("zset score is not 8 bytes".into())),
        }
    }

    /// Adds a member that is not in the set.
    pub(crate) fn insert(&mut self, db: &mut Db<'_>, member: &[u8], score: f64) {
        self.put(db, member, score);
        self.entry.header.size += 1;
    }

    /// Changes the score of a member from `old` to `new`.
    pub(crate) fn rescore(&mut self, db: &mut Db<'_>, member: &[u8], old: f64, new: f64) {
        db.delete_element(self.key, self.version(), &score_element(old, member));
        self.put(db, member, new);
    }

    /// Removes a member whose score is `score`.
    pub(crate) fn remove(&mut self, db: &mut Db<'_>, member: &[u8], score: f64) {
        let v = self.version();
        db.delete_element(self.key, v, &member_element(member));
        db.delete_element(self.key, v, &score_element(score, member));
        self.entry.header.size -= 1;
    }

    fn put(&self, db: &mut Db<'_>, member: &[u8], score: f64) {
        let v = self.version();
        let score = score::normalize(score);
        db.put_element(self.key, v, &member_element(member), &score::encode(score));
        db.put_element(self.key, v, &score_element(score, member), b"");
    }

    /// Stores the metadata (or deletes the key once empty).
    pub(crate) fn save(&self, db: &mut Db<'_>) {
        db.save_collection(self.key, &self.entry);
    }

    /// The events of members removed (by the saved set): `event`, then
    /// `del` when the set is now empty.
    pub(crate) fn removed(&self, db: &mut Db<'_>, event: &'static str) {
        db.notify(ZSET, event, self.key);
        if self.len() == 0 {
            db.notify(GENERIC, "del", self.key);
        }
    }

    /// Visits members in (score, member) order within the `s`-family
    /// element bounds `range` (descending when `reverse`) until `visit`
    /// returns `false`.
    pub(crate) fn scan(
        &self,
        db: &Db<'_>,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], f64) -> bool,
    ) -> Result<(), StorageError> {
        let family_end = [BY_SCORE + 1];
        let family_start = [BY_SCORE];
        let lo = match range.0 {
            Bound::Unbounded => Bound::Included(&family_start[..]),
            b => b,
        };
        let hi = match range.1 {
            Bound::Unbounded => Bound::Excluded(&family_end[..]),
            b => b,
        };
        let mut corrupt = false;
        db.scan_elements(self.key, self.version(), (lo, hi), reverse, &mut |e, _| {
            match split_score_element(e) {
                Some((score, member)) => visit(member, score),
                None => {
                    corrupt = true;
                    false
                }
            }
        })?;
        if corrupt {
            return Err(StorageError::Corrupt("malformed zset score element".into()));
        }
        Ok(())
    }

    /// Visits every member with its score in member byte order, starting at
    /// the first member >= `from`, until `visit` returns `false`.
    pub(crate) fn scan_members(
        &self,
        db: &Db<'_>,
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], f64) -> bool,
    ) -> Result<(), StorageError> {
        let start = member_element(from);
        let end = [BY_MEMBER + 1];
        let mut corrupt = false;
        db.scan_elements(
            self.key,
            self.version(),
            (Bound::Included(&start), Bound::Excluded(&end)),
            false,
            &mut |e, v| match score::decode(v) {
                Some(score) => visit(&e[1..], score),
                None => {
                    corrupt = true;
                    false
                }
            },
        )?;
        if corrupt {
            return Err(StorageError::Corrupt("zset score is not 8 bytes".into()));
        }
        Ok(())
    }

    /// The lowest (or, `last`, highest) member and score.
    pub(crate) fn end(&self, db: &Db<'_>, last: bool) -> Result<Option<Scored>, StorageError> {
        let mut found = None;
        self.scan(
            db,
            (Bound::Unbounded, Bound::Unbounded),
            last,
            &mut |m, s| {
                found = Some((m.to_vec(), s));
                false
            },
        )?;
        Ok(found)
    }
}

/// The element of the `m` family for `member`.
pub(super) fn member_element(member: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(1 + member.len());
    e.push(BY_MEMBER);
    e.extend_from_slice(member);
    e
}

/// The element of the `s` family for `member` at `score`.
pub(super) fn score_element(score: f64, member: &[u8]) -> Vec<u8> {
    let mut e = score_prefix(score);
    e.extend_from_slice(member);
    e
}

/// `b's' + encode(score)`: where the members of one score start.
pub(super) fn score_prefix(score: f64) -> Vec<u8> {
    let mut e = Vec::with_capacity(9 + 16);
    e.push(BY_SCORE);
    e.extend_from_slice(&score::encode(score));
    e
}

/// (score, member) of an `s`-family element.
pub(super) fn split_score_element(e: &[u8]) -> Option<(f64, &[u8])> {
    if e.len() < 9 || e[0] != BY_SCORE {
        return None;
    }
    Some((score::decode(&e[1..9])?, &e[9..]))
}

/// Replaces `dst` with a sorted set of `members` (distinct), raising
/// `event`, or deletes it when there are none (raising `del` if it was
/// there). Returns the member count.
pub(crate) fn store(
    db: &mut Db<'_>,
    dst: &[u8],
    members: &[Scored],
    event: &'static str,
) -> Result<usize, CmdError> {
    if members.is_empty() {
        db.delete_stored(dst)?;
        return Ok(0);
    }
    let mut z = Zset::fresh(db, dst)?;
    for (member, score) in members {
        z.insert(db, member, *score);
    }
    z.save(db);
    db.notify(ZSET, event, dst);
    Ok(members.len())
}

/// A reply of members, with their scores when `withscores`: a flat array
/// in RESP2, `[member, score]` pairs in RESP3 (as Redis 7 sends them).
pub(crate) fn members_reply(items: Vec<Scored>, withscores: bool) -> Reply {
    if withscores {
        return Reply::Pairs(
            items
                .into_iter()
                .map(|(member, score)| (Reply::Bulk(Bytes::from(member)), Reply::Double(score)))
                .collect(),
        );
    }
    Reply::Array(
        items
            .into_iter()
            .map(|(member, _)| Reply::Bulk(Bytes::from(member)))
            .collect(),
    )
}

/// Redis's `getLongFromObjectOrReply`, with its default message.
pub(super) fn long_arg(arg: &Bytes) -> Result<i64, CmdError> {
    crate::cmd::parse::int_arg(arg)
}

/// `getRangeLongFromObjectOrReply` with a message for both failures.
pub(super) fn long_in(arg: &Bytes, min: i64, max: i64, msg: &str) -> Result<i64, CmdError> {
    match crate::cmd::parse::parse_i64(arg) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(CmdError::reply(format!("ERR {msg}"))),
    }
}
