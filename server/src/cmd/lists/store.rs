//! One list as records: the metadata payload holds the head and tail
//! positions, and each item is one element record keyed by its position
//! (see the layout in the [module doc](super)).
//!
//! Everything here reads or writes only the positions it is asked about:
//! pushing and popping move `head`/`tail`, an index is one point lookup, a
//! range is one bounded scan. Callers keep `header.size` right by saving
//! through [`save`], which derives it from `tail - head`.

use std::ops::Bound;

use bytes::Bytes;

use crate::cmd::db::{Db, Entry};
use crate::cmd::outcome::CmdError;
use crate::storage::layout::{KeyType, MetaHeader};
use crate::storage::StorageError;

/// Position of the first item of a new list (the middle of the u64 range,
/// i.e. 0 as an i64 biased by 2^63), so it can grow 2^63 items either way.
pub(crate) const CENTER: u64 = 1 << 63;

/// Bytes of the metadata payload: head and tail, u64 big-endian each.
pub(crate) const PAYLOAD_LEN: usize = 16;

/// An end of a list: LEFT is the head (index 0), RIGHT the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` or `RIGHT` (any case, compared like C strings); `None` otherwise.
    pub(crate) fn parse(arg: &[u8]) -> Option<End> {
        if crate::cmd::parse::is_option(arg, "left") {
            Some(End::Left)
        } else if crate::cmd::parse::is_option(arg, "right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

/// A live list: its metadata and the positions `[head, tail)` of its items.
#[derive(Clone, Debug)]
pub(crate) struct List {
    /// Type, expiry, version; `size` is rewritten by [`save`].
    pub(crate) entry: Entry,
    /// Position of the item at index 0.
    pub(crate) head: u64,
    /// One past the position of the last item.
    pub(crate) tail: u64,
}

impl List {
    /// The number of items.
    pub(crate) fn len(&self) -> u64 {
        self.tail - self.head
    }

    /// Whether the list has no items (only ever true for a new list).
    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// The version its element records belong to.
    pub(crate) fn version(&self) -> u64 {
        self.entry.header.version
    }

    /// The position of the item at `index` (0-based from the head).
    pub(crate) fn position(&self, index: u64) -> u64 {
        self.head + index
    }
}

/// The element bytes of position `pos`: 8 bytes big-endian, so element
/// order is list order.
pub(crate) fn element(pos: u64) -> [u8; 8] {
    pos.to_be_bytes()
}

fn corrupt(key: &[u8], what: &str) -> StorageError {
    StorageError::Corrupt(format!("list {}: {what}", String::from_utf8_lossy(key)))
}

fn decode(key: &[u8], entry: Entry) -> Result<List, StorageError> {
    if entry.payload.is_empty() && entry.header.size == 0 {
        // A list not stored yet.
        return Ok(List {
            entry,
            head: CENTER,
            tail: CENTER,
        });
    }
    if entry.payload.len() != PAYLOAD_LEN {
        return Err(corrupt(key, "metadata payload is not head and tail"));
    }
    let mut head = [0u8; 8];
    let mut tail = [0u8; 8];
    head.copy_from_slice(&entry.payload[..8]);
    tail.copy_from_slice(&entry.payload[8..]);
    let (head, tail) = (u64::from_be_bytes(head), u64::from_be_bytes(tail));
    if tail < head || tail - head != entry.header.size {
        return Err(corrupt(key, "head and tail disagree with the size"));
    }
    Ok(List { entry, head, tail })
}

/// The live list at `key`; `WRONGTYPE` if the key holds another type.
pub(crate) fn load(db: &Db<'_>, key: &[u8]) -> Result<Option<List>, CmdError> {
    match db.lookup_typed(key, KeyType::List)? {
        // Redis never keeps an empty list; a stored one counts as missing.
        Some(entry) => Ok(Some(decode(key, entry)?).filter(|l| !l.is_empty())),
        None => Ok(None),
    }
}

/// A new, empty incarnation of the list at `key`, whatever `key` holds
/// (which [`save`] then replaces).
pub(crate) fn fresh(db: &Db<'_>, key: &[u8]) -> Result<List, StorageError> {
    let entry = Entry {
        header: MetaHeader {
            key_type: KeyType::List,
            expire_at_ms: 0,
            version: db.fresh_version(key)?,
            size: 0,
        },
        payload: Bytes::new(),
    };
    decode(key, entry)
}

/// The live list at `key`, or a new empty one (stored by [`save`] once it
/// has items); `WRONGTYPE` if the key holds another type.
pub(crate) fn load_or_new(db: &Db<'_>, key: &[u8]) -> Result<List, CmdError> {
    let entry = db.collection_or_new(key, KeyType::List)?;
    Ok(decode(key, entry)?)
}

/// Stores the list's metadata (size = `tail - head`), or deletes the key
/// when it has no items left: that drops every element record of its
/// version in one range delete, so callers emptying a list need not delete
/// its items one by one.
pub(crate) fn save(db: &mut Db<'_>, key: &[u8], list: &mut List) {
    list.entry.header.size = list.len();
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.extend_from_slice(&list.head.to_be_bytes());
    payload.extend_from_slice(&list.tail.to_be_bytes());
    list.entry.payload = Bytes::from(payload);
    db.save_collection(key, &list.entry);
}

/// The item at `index` (< `len`), by one point lookup.
pub(crate) fn get(db: &Db<'_>, key: &[u8], list: &List, index: u64) -> Result<Bytes, StorageError> {
    let pos = list.position(index);
    match db.element(key, list.version(), &element(pos))? {
        Some(v) => Ok(Bytes::from(v)),
        None => Err(corrupt(key, "an item inside head..tail is missing")),
    }
}

/// Overwrites the item at `index` (< `len`), by one put.
pub(crate) fn set(db: &mut Db<'_>, key: &[u8], list: &List, index: u64, value: &[u8]) {
    let pos = list.position(index);
    db.put_element(key, list.version(), &element(pos), value);
}

/// Visits the items at indexes `first..=last` (both < `len`) in list order,
/// or from `last` down to `first` when `reverse`, until `visit` returns
/// `false`; `visit` gets (index, item). One bounded scan.
///
/// `visit` may not touch the database (the engine may hold a lock).
pub(crate) fn scan(
    db: &Db<'_>,
    key: &[u8],
    list: &List,
    first: u64,
    last: u64,
    reverse: bool,
    visit: &mut dyn FnMut(u64, &[u8]) -> bool,
) -> Result<(), StorageError> {
    if first > last || last >= list.len() {
        return Ok(());
    }
    let (lo, hi) = (element(list.position(first)), element(list.position(last)));
    let mut expected = if reverse { last } else { first };
    let mut broken = false;
    let mut stopped = false;
    db.scan_elements(
        key,
        list.version(),
        (Bound::Included(&lo), Bound::Included(&hi)),
        reverse,
        &mut |e, v| {
            let pos = e.try_into().map(u64::from_be_bytes).ok();
            if pos != Some(list.position(expected)) {
                broken = true;
                return false;
            }
            if !visit(expected, v) {
                stopped = true;
                return false;
            }
            if reverse {
                expected = expected.wrapping_sub(1);
            } else {
                expected += 1;
            }
            true
        },
    )?;
    let complete = if reverse {
        expected == first.wrapping_sub(1)
    } else {
        expected == last + 1
    };
    if broken || (!stopped && !complete) {
        return Err(corrupt(key, "items inside head..tail are missing"));
    }
    Ok(())
}

/// The items at indexes `first..=last`, in list order (reversed when `reverse`).
pub(crate) fn read_range(
    db: &Db<'_>,
    key: &[u8],
    list: &List,
    first: u64,
    last: u64,
    reverse: bool,
) -> Result<Vec<Bytes>, StorageError> {
    let mut out = Vec::new();
    scan(db, key, list, first, last, reverse, &mut |_, v| {
        out.push(Bytes::copy_from_slice(v));
        true
    })?;
    Ok(out)
}

/// Adds `value` at `end`: one put, and `head` or `tail` moves by one.
/// The caller saves the metadata.
pub(crate) fn push(
    db: &mut Db<'_>,
    key: &[u8],
    list: &mut List,
    end: End,
    value: &[u8],
) -> Result<(), CmdError> {
    let pos = match end {
        End::Left => {
            let Some(pos) = list.head.checked_sub(1) else {
                return Err(CmdError::reply("ERR list position overflow"));
            };
            list.head = pos;
            pos
        }
        End::Right => {
            let pos = list.tail;
            let Some(tail) = pos.checked_add(1) else {
                return Err(CmdError::reply("ERR list position overflow"));
            };
            list.tail = tail;
            pos
        }
    };
    db.put_element(key, list.version(), &element(pos), value);
    Ok(())
}

/// Removes up to `count` items from `end` and returns them in pop order
/// (from the tail backwards for RIGHT). Reads and deletes only those items.
/// The caller saves the metadata.
pub(crate) fn pop(
    db: &mut Db<'_>,
    key: &[u8],
    list: &mut List,
    end: End,
    count: u64,
) -> Result<Vec<Bytes>, StorageError> {
    let n = count.min(list.len());
    if n == 0 {
        return Ok(Vec::new());
    }
    let items = match end {
        End::Left => read_range(db, key, list, 0, n - 1, false)?,
        End::Right => read_range(db, key, list, list.len() - n, list.len() - 1, true)?,
    };
    drop_items(db, key, list, end, n);
    Ok(items)
}

/// Deletes the `n` items at `end` without reading them, one delete each.
/// The caller saves the metadata.
///
/// Even when that empties the list (whose key delete then drops the whole
/// version by range), each item is deleted: an incarnation created by an
/// earlier command of the same transaction is not stored yet, so no range
/// delete would cover its pending items.
pub(crate) fn drop_items(db: &mut Db<'_>, key: &[u8], list: &mut List, end: End, n: u64) {
    let n = n.min(list.len());
    let version = list.version();
    for _ in 0..n {
        let pos = match end {
            End::Left => {
                list.head += 1;
                list.head - 1
            }
            End::Right => {
                list.tail -= 1;
                list.tail
            }
        };
        db.delete_element(key, version, &element(pos));
    }
}
