//! How Redis keys become RocksDB records. This layout is fixed forever once
//! data exists: change it only with a migration.
//!
//! Every storage key starts with one prefix byte that names its space:
//!
//! ```text
//! 0x00 | name                                         internal records of the replica
//!        \x00applied_decree -> u64 BE                 last decree applied (same batch as the data)
//!        \x00layout_version -> u32 BE                 this layout's version (see below)
//!
//! 0x01 | user_key                                     metadata of layouts 1 and 2 (moved to 0x04)
//!
//! 0x02 | user_key_len u32 BE | user_key | version u64 BE | element
//!                                                     one per element of a collection
//!
//! 0x03 | kind u8 | txn_id (16 bytes)                  transaction records (layout 2)
//!        'p' prepared/T -> PreparedRecord             (`petrel_common::txn::record`)
//!        'r' record/T   -> TxnRecord
//!        'd' decided/T  -> DecidedRecord
//!
//! 0x04 | scan_hash u64 BE | user_key                  metadata, one per Redis key (layout 3)
//!     -> type u8 | expire_at_ms u64 BE | version u64 BE | size u64 BE | payload
//! ```
//!
//! - `expire_at_ms` is an absolute unix time in milliseconds; 0 means no
//!   expiry. A key is live while `now_ms <= expire_at_ms` (Redis expires a
//!   key once `now > when`).
//! - For strings the payload is the value itself and `size` its length: a
//!   string is a single record. For collections `size` is the element count
//!   and the payload holds type-specific bookkeeping.
//! - `version` ties a collection's elements to one incarnation of its key:
//!   deleting, expiring or overwriting a big key writes its metadata record
//!   and one range delete over the old version's element prefix (see
//!   `cmd::db`), which RocksDB reclaims at compaction: O(1) whatever the
//!   size. Every new incarnation of a key gets a version no earlier
//!   incarnation had ([`new_version`]), so stale elements are never read.
//! - The element bytes and payload per type are documented by each family:
//!   hashes (field -> value), sets (member -> empty) in `cmd::hashes` and
//!   `cmd::sets`; lists (8-byte position -> item, head/tail in the payload)
//!   in `cmd::lists`; sorted sets (`m`+member -> score, `s`+ordered score
//!   +member -> empty) in `cmd::zsets`; streams (entries `e`+id, the
//!   emulated radix-tree nodes `n`+id, groups `g`+name, consumers `c`,
//!   pending entries `p` and each consumer's index of them `q`; the stream's
//!   ids and counters in the payload, XLEN as `size`) in `cmd::streams`.
//! - Element keys carry the user key's length so that the elements of `ab`
//!   and of `a` followed by an element starting with `b` never interleave.
//! - Metadata records are ordered by the CRC-64/NVME of the whole user key
//!   (`petrel_common::hash::scan_hash`) before the key itself, so a walk
//!   over a partition's keys (SCAN, KEYS) is in hash order and where it
//!   stands is a number a SCAN cursor carries (`petrel_common::scan`).
//! - Transaction records (docs/TRANSACTIONS.md "Durable records") live
//!   after the data spaces, keyed by the transaction id's 16-byte encoding
//!   (big-endian, so each kind scans oldest first). They are written only
//!   by replicated mutations, like data, and no Redis command sees them:
//!   every keyspace scan (DBSIZE, KEYS, SCAN, RANDOMKEY) and FLUSHDB's
//!   range deletes cover [`meta_space`] and [`element_space`] only.
//!
//! A replica's database says which version of this layout it holds
//! ([`LAYOUT_VERSION_KEY`]), written when the database is created. A server
//! opens only the version it knows ([`LAYOUT_VERSION`]) and refuses any
//! other ([`StorageError::UnsupportedLayout`]) rather than misread it. A
//! database from before the record existed is version 1.
//!
//! Versions: 1 has the data spaces only; 2 adds the transaction records
//! (0x03); 3 moves the metadata from 0x01 (ordered by user key) to 0x04
//! (ordered by scan hash). A version-1 or -2 database is raised to this
//! build's version when opened: its record first (so an older server refuses it from then on),
//! then its metadata records are moved in batches ([`LEGACY_META_PREFIX`];
//! an interrupted move goes on at the next open). Mutations logged in the
//! old layout (replayed after the move, or sent by a primary of an older
//! build) are read in the new one ([`upgrade_op`]).
//! 4 adds the stream key type (5): a version-3 database is read as is (it
//! holds no stream) and its record raised to 4 when opened, so a server
//! that predates streams refuses it from then on instead of failing on a
//! key it cannot read.
//!
//! Decoding never panics: a malformed record is [`StorageError::Corrupt`].

use petrel_common::hash::scan_hash;
use petrel_common::txn::TxnId;

use crate::storage::{StorageError, WriteOp};

/// Prefix of the replica's internal records.
pub(crate) const INTERNAL_PREFIX: u8 = 0x00;
/// Prefix of the per-key metadata records of layouts 1 and 2, ordered by
/// user key; moved to [`META_PREFIX`] when a database is opened.
pub(crate) const LEGACY_META_PREFIX: u8 = 0x01;
/// Prefix of the per-key metadata records, ordered by scan hash.
pub(crate) const META_PREFIX: u8 = 0x04;
/// Prefix of the collection element records.
pub(crate) const ELEMENT_PREFIX: u8 = 0x02;
/// Prefix of the transaction records (`prepared/T`, `record/T`, `decided/T`).
pub(crate) const TXN_PREFIX: u8 = 0x03;

/// The internal record holding the last applied decree (u64 BE).
pub(crate) const APPLIED_DECREE_KEY: &[u8] = b"\x00applied_decree";

/// The internal record holding the database's layout version (u32 BE).
pub const LAYOUT_VERSION_KEY: &[u8] = b"\x00layout_version";

/// The layout this build reads and writes. Raise it (with a migration)
/// whenever an older server would misread the new records.
pub const LAYOUT_VERSION: u32 = 4;

/// Older layouts this build reads as they are (see the module documentation).
pub(crate) const READABLE_LAYOUT_VERSIONS: &[u32] = &[1, 2, 3, LAYOUT_VERSION];

/// The layout version of a database that predates [`LAYOUT_VERSION_KEY`].
pub(crate) const UNRECORDED_LAYOUT_VERSION: u32 = 1;

/// Length of the fixed metadata header that precedes the payload.
pub(crate) const META_HEADER_LEN: usize = 1 + 8 + 8 + 8;

/// The Redis type of a key, as stored in its metadata record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyType {
    String,
    Hash,
    List,
    Set,
    ZSet,
    Stream,
}

impl KeyType {
    /// The byte stored on disk (fixed forever).
    pub(crate) fn code(self) -> u8 {
        match self {
            KeyType::String => 0,
            KeyType::Hash => 1,
            KeyType::List => 2,
            KeyType::Set => 3,
            KeyType::ZSet => 4,
            KeyType::Stream => 5,
        }
    }

    /// The type for an on-disk byte, if it names one.
    pub(crate) fn from_code(code: u8) -> Option<KeyType> {
        Some(match code {
            0 => KeyType::String,
            1 => KeyType::Hash,
            2 => KeyType::List,
            3 => KeyType::Set,
            4 => KeyType::ZSet,
            5 => KeyType::Stream,
            _ => return None,
        })
    }

    /// The name Redis's TYPE command answers.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Hash => "hash",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::ZSet => "zset",
            KeyType::Stream => "stream",
        }
    }
}

/// The fixed part of a metadata record (everything but the payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MetaHeader {
    /// The Redis type.
    pub(crate) key_type: KeyType,
    /// Absolute unix time in ms; 0 = no expiry.
    pub(crate) expire_at_ms: u64,
    /// The incarnation its elements belong to.
    pub(crate) version: u64,
    /// Byte length of a string; element count of a collection.
    pub(crate) size: u64,
}

impl MetaHeader {
    /// Whether the key is still visible at `now_ms`.
    pub(crate) fn is_live(&self, now_ms: u64) -> bool {
        self.expire_at_ms == 0 || now_ms <= self.expire_at_ms
    }
}

/// A version for a new incarnation of a key at `now_ms`, given the metadata
/// the key had before (even if expired).
///
/// Time-based so that a key deleted and then recreated gets a higher version
/// than any it had (the old metadata is gone then), and at least the old
/// version + 1 so that a clock running backwards on a new primary still
/// yields a fresh one. The low 16 bits leave room for 65536 incarnations per
/// millisecond.
pub(crate) fn new_version(now_ms: u64, previous: Option<&MetaHeader>) -> u64 {
    let by_time = now_ms.saturating_mul(1 << 16);
    match previous {
        Some(prev) => by_time.max(prev.version.saturating_add(1)),
        None => by_time,
    }
}

/// Bytes before the user key in a metadata record key.
const META_KEY_HEAD: usize = 1 + 8;

/// The metadata record key of `user_key`.
pub(crate) fn meta_key(user_key: &[u8]) -> Vec<u8> {
    let mut key = meta_position(scan_hash(user_key));
    key.extend_from_slice(user_key);
    key
}

/// Where the metadata records of keys whose scan hash is `position` or
/// more begin.
pub(crate) fn meta_position(position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(META_KEY_HEAD + 16);
    key.push(META_PREFIX);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The user key of a metadata record key.
pub(crate) fn decode_meta_key(raw: &[u8]) -> Result<&[u8], StorageError> {
    match raw.split_first() {
        Some((&META_PREFIX, rest)) if rest.len() >= 8 => Ok(&rest[8..]),
        _ => Err(corrupt("metadata key without the metadata prefix and hash")),
    }
}

/// The scan hash a metadata record key is stored under.
pub(crate) fn meta_key_position(raw: &[u8]) -> Result<u64, StorageError> {
    match raw.get(1..META_KEY_HEAD) {
        Some(hash) if raw[0] == META_PREFIX => read_u64(hash),
        _ => Err(corrupt("metadata key without the metadata prefix and hash")),
    }
}

/// A logged write in layout 1 or 2 as layout 3 stores it: a metadata
/// record under [`LEGACY_META_PREFIX`] moves to its [`meta_key`], and a
/// range over the old metadata space (FLUSHALL) covers the new one.
/// Anything else is unchanged.
pub(crate) fn upgrade_op(op: &WriteOp) -> Option<WriteOp> {
    let legacy = |key: &[u8]| match key.split_first() {
        Some((&LEGACY_META_PREFIX, user_key)) => Some(meta_key(user_key)),
        _ => None,
    };
    match op {
        WriteOp::Put(key, value) => legacy(key).map(|k| WriteOp::Put(k, value.clone())),
        WriteOp::Delete(key) => legacy(key).map(WriteOp::Delete),
        WriteOp::DeleteRange(start, end)
            if start.as_slice() == [LEGACY_META_PREFIX]
                && end.as_slice() == [LEGACY_META_PREFIX + 1] =>
        {
            let (start, end) = meta_space();
            Some(WriteOp::DeleteRange(start, end))
        }
        _ => None,
    }
}

/// `[start, end)` covering the metadata records of layouts 1 and 2.
pub(crate) fn legacy_meta_space() -> (Vec<u8>, Vec<u8>) {
    (vec![LEGACY_META_PREFIX], vec![LEGACY_META_PREFIX + 1])
}

/// Encodes a metadata record.
pub(crate) fn encode_meta(header: &MetaHeader, payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(META_HEADER_LEN + payload.len());
    value.push(header.key_type.code());
    value.extend_from_slice(&header.expire_at_ms.to_be_bytes());
    value.extend_from_slice(&header.version.to_be_bytes());
    value.extend_from_slice(&header.size.to_be_bytes());
    value.extend_from_slice(payload);
    value
}

/// Encodes the metadata record of a string value.
pub(crate) fn encode_string(expire_at_ms: u64, version: u64, value: &[u8]) -> Vec<u8> {
    let header = MetaHeader {
        key_type: KeyType::String,
        expire_at_ms,
        version,
        size: value.len() as u64,
    };
    encode_meta(&header, value)
}

/// Decodes a metadata record into its header and payload.
pub(crate) fn decode_meta(raw: &[u8]) -> Result<(MetaHeader, &[u8]), StorageError> {
    if raw.len() < META_HEADER_LEN {
        return Err(corrupt(format!(
            "metadata record of {} bytes, shorter than its {META_HEADER_LEN}-byte header",
            raw.len()
        )));
    }
    let key_type = KeyType::from_code(raw[0])
        .ok_or_else(|| corrupt(format!("unknown key type {}", raw[0])))?;
    let header = MetaHeader {
        key_type,
        expire_at_ms: read_u64(&raw[1..9])?,
        version: read_u64(&raw[9..17])?,
        size: read_u64(&raw[17..25])?,
    };
    let payload = &raw[META_HEADER_LEN..];
    if key_type == KeyType::String && header.size != payload.len() as u64 {
        return Err(corrupt(format!(
            "string record says {} bytes but holds {}",
            header.size,
            payload.len()
        )));
    }
    Ok((header, payload))
}

/// The key of one element of a collection incarnation.
pub(crate) fn element_key(user_key: &[u8], version: u64, element: &[u8]) -> Vec<u8> {
    let mut key = element_prefix(user_key, version);
    key.extend_from_slice(element);
    key
}

/// The common prefix of every element of one incarnation of `user_key`.
pub(crate) fn element_prefix(user_key: &[u8], version: u64) -> Vec<u8> {
    let mut key = element_key_prefix(user_key);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// `[start, end)` covering the elements of every incarnation of `user_key`.
pub(crate) fn element_range_all_versions(user_key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let start = element_key_prefix(user_key);
    // The prefix starts with 0x02, so it always has a successor.
    let end = prefix_end(&start).unwrap_or_else(|| vec![ELEMENT_PREFIX + 1]);
    (start, end)
}

/// The parts of an element key: user key, version, element.
#[cfg(test)]
pub(crate) fn decode_element_key(raw: &[u8]) -> Result<(&[u8], u64, &[u8]), StorageError> {
    let rest = match raw.split_first() {
        Some((&ELEMENT_PREFIX, rest)) => rest,
        _ => return Err(corrupt("element key without the element prefix")),
    };
    if rest.len() < 4 {
        return Err(corrupt("element key too short for its key length"));
    }
    let (len_bytes, rest) = rest.split_at(4);
    let mut len = [0u8; 4];
    len.copy_from_slice(len_bytes);
    let key_len = u32::from_be_bytes(len) as usize;
    if rest.len() < key_len.saturating_add(8) {
        return Err(corrupt("element key shorter than its key length says"));
    }
    let (user_key, rest) = rest.split_at(key_len);
    let (version, element) = rest.split_at(8);
    Ok((user_key, read_u64(version)?, element))
}

/// The user key a data record (metadata or element), or an element range's
/// start, belongs to; `None` for any other storage key.
pub(crate) fn user_key_of(raw: &[u8]) -> Option<&[u8]> {
    match raw.split_first()? {
        (&META_PREFIX, rest) => rest.get(8..),
        (&ELEMENT_PREFIX, rest) => {
            let (len, rest) = rest.split_first_chunk::<4>()?;
            rest.get(..u32::from_be_bytes(*len) as usize)
        }
        _ => None,
    }
}

/// `[start, end)` covering every metadata record.
pub(crate) fn meta_space() -> (Vec<u8>, Vec<u8>) {
    (vec![META_PREFIX], vec![META_PREFIX + 1])
}

/// `[start, end)` covering every element record.
pub(crate) fn element_space() -> (Vec<u8>, Vec<u8>) {
    (vec![ELEMENT_PREFIX], vec![ELEMENT_PREFIX + 1])
}

/// Which transaction record a `0x03` key holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TxnRecordKind {
    /// `prepared/T`: a participant's prepared writes and locked keys.
    Prepared,
    /// `record/T`: the transaction record at the record partition.
    Record,
    /// `decided/T`: the outcome at a participant.
    Decided,
}

impl TxnRecordKind {
    /// The byte after the prefix (fixed forever).
    pub(crate) fn code(self) -> u8 {
        match self {
            TxnRecordKind::Prepared => b'p',
            TxnRecordKind::Record => b'r',
            TxnRecordKind::Decided => b'd',
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            b'p' => TxnRecordKind::Prepared,
            b'r' => TxnRecordKind::Record,
            b'd' => TxnRecordKind::Decided,
            _ => return None,
        })
    }
}

/// The storage key of one transaction record.
pub(crate) fn txn_key(kind: TxnRecordKind, txn: &TxnId) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + TxnId::ENCODED_LEN);
    key.push(TXN_PREFIX);
    key.push(kind.code());
    key.extend_from_slice(&txn.encode());
    key
}

/// The kind and transaction of a transaction record's storage key.
pub(crate) fn decode_txn_key(raw: &[u8]) -> Result<(TxnRecordKind, TxnId), StorageError> {
    let Some((&TXN_PREFIX, rest)) = raw.split_first() else {
        return Err(corrupt("transaction record key without its prefix"));
    };
    let Some((&code, id)) = rest.split_first() else {
        return Err(corrupt("transaction record key without its kind"));
    };
    let kind = TxnRecordKind::from_code(code)
        .ok_or_else(|| corrupt(format!("unknown transaction record kind {code}")))?;
    let txn = TxnId::decode(id).map_err(|e| corrupt(format!("transaction record key: {e}")))?;
    Ok((kind, txn))
}

/// `[start, end)` covering every transaction record.
pub(crate) fn txn_space() -> (Vec<u8>, Vec<u8>) {
    (vec![TXN_PREFIX], vec![TXN_PREFIX + 1])
}

/// Encodes a decree for the applied-decree record.
pub(crate) fn encode_decree(decree: u64) -> [u8; 8] {
    decree.to_be_bytes()
}

/// Decodes the applied-decree record.
pub(crate) fn decode_decree(raw: &[u8]) -> Result<u64, StorageError> {
    read_u64(raw)
}

/// The applied decree held by the [`APPLIED_DECREE_KEY`] record (0 when a
/// replica has none yet).
pub(crate) fn applied_decree(
    record: Option<&[u8]>,
) -> Result<petrel_common::ids::Decree, StorageError> {
    Ok(petrel_common::ids::Decree(match record {
        Some(raw) => decode_decree(raw)?,
        None => 0,
    }))
}

/// Encodes the layout-version record.
pub fn encode_layout_version(version: u32) -> [u8; 4] {
    version.to_be_bytes()
}

/// The version a layout-version record holds (`None`: no record).
pub(crate) fn layout_version(record: Option<&[u8]>) -> Result<Option<u32>, StorageError> {
    record
        .map(|raw| {
            <[u8; 4]>::try_from(raw)
                .map(u32::from_be_bytes)
                .map_err(|_| {
                    corrupt(format!(
                        "layout version record of {} bytes, expected 4",
                        raw.len()
                    ))
                })
        })
        .transpose()
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// when there is none (the prefix is empty or all 0xff).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn element_key_prefix(user_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 4 + user_key.len() + 8);
    key.push(ELEMENT_PREFIX);
    // Redis keys are capped far below 4 GiB (proto-max-bulk-len), so the
    // length always fits; saturate rather than wrap if that ever changes.
    let len = u32::try_from(user_key.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(user_key);
    key
}

fn read_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(format!("expected 8 bytes, found {}", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        let header = MetaHeader {
            key_type: KeyType::Hash,
            expire_at_ms: 1_700_000_000_123,
            version: 42,
            size: 7,
        };
        let raw = encode_meta(&header, b"extra");
        assert_eq!(raw.len(), META_HEADER_LEN + 5);
        let (decoded, payload) = decode_meta(&raw).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(payload, b"extra");
    }

    #[test]
    fn txn_record_keys_are_fixed_and_after_the_data_spaces() {
        let t = TxnId {
            start_ms: 0x0102,
            nonce: 0x0304,
        };
        let key = txn_key(TxnRecordKind::Prepared, &t);
        assert_eq!(
            key,
            [
                &[0x03, b'p'][..],
                &[0, 0, 0, 0, 0, 0, 1, 2],
                &[0, 0, 0, 0, 0, 0, 3, 4]
            ]
            .concat()
        );
        assert_eq!(decode_txn_key(&key).unwrap(), (TxnRecordKind::Prepared, t));
        for kind in [TxnRecordKind::Record, TxnRecordKind::Decided] {
            let key = txn_key(kind, &t);
            assert_eq!(decode_txn_key(&key).unwrap(), (kind, t));
            let (start, end) = txn_space();
            assert!(start.as_slice() <= key.as_slice() && key.as_slice() < end.as_slice());
        }
        // Outside every space a Redis command scans or FLUSHDB deletes.
        let (txn_start, txn_end) = txn_space();
        for (start, end) in [meta_space(), element_space(), legacy_meta_space()] {
            assert!(end <= txn_start || start >= txn_end);
        }
        assert!(decode_txn_key(b"\x03x0123456789abcdef").is_err());
        assert!(decode_txn_key(b"\x03p01").is_err());
        assert!(decode_txn_key(b"\x01p").is_err());
    }

    #[test]
    fn the_layout_version_record_is_fixed() {
        assert_eq!(LAYOUT_VERSION_KEY[0], INTERNAL_PREFIX);
        assert_eq!(encode_layout_version(1), [0, 0, 0, 1]);
        assert_eq!(layout_version(None).unwrap(), None);
        assert_eq!(layout_version(Some(&[0, 0, 1, 2])).unwrap(), Some(258));
        assert!(matches!(
            layout_version(Some(&[1, 2])),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn meta_layout_is_fixed() {
        // The exact bytes: changing them breaks every existing replica.
        let raw = encode_string(0x0102, 0x0304, b"hi");
        assert_eq!(
            raw,
            [
                &[0u8][..],
                &[0, 0, 0, 0, 0, 0, 1, 2],
                &[0, 0, 0, 0, 0, 0, 3, 4],
                &[0, 0, 0, 0, 0, 0, 0, 2],
                b"hi"
            ]
            .concat()
        );
        // 0x04, CRC-64/NVME of the whole key (its check value), the key.
        assert_eq!(
            meta_key(b"123456789"),
            b"\x04\xae\x8b\x14\x86\x0a\x79\x98\x88123456789"
        );
        let key = meta_key(b"{tag}k");
        assert_eq!(decode_meta_key(&key).unwrap(), b"{tag}k");
        assert_eq!(meta_key_position(&key).unwrap(), scan_hash(b"{tag}k"));
        assert_eq!(user_key_of(&key), Some(&b"{tag}k"[..]));
        assert!(decode_meta_key(b"\x04short").is_err());
        assert!(decode_meta_key(b"\x01k").is_err());
        assert_eq!(
            element_key(b"ab", 5, b"f"),
            b"\x02\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x05f"
        );
        assert_eq!(APPLIED_DECREE_KEY[0], INTERNAL_PREFIX);
    }

    #[test]
    fn writes_logged_in_layout_2_are_read_in_layout_3() {
        let put = WriteOp::Put(b"\x01k".to_vec(), b"v".to_vec());
        assert_eq!(
            upgrade_op(&put),
            Some(WriteOp::Put(meta_key(b"k"), b"v".to_vec()))
        );
        assert_eq!(
            upgrade_op(&WriteOp::Delete(b"\x01k".to_vec())),
            Some(WriteOp::Delete(meta_key(b"k")))
        );
        let (start, end) = meta_space();
        assert_eq!(
            upgrade_op(&WriteOp::DeleteRange(vec![0x01], vec![0x02])),
            Some(WriteOp::DeleteRange(start, end))
        );
        let element = WriteOp::Put(element_key(b"k", 1, b"f"), b"v".to_vec());
        assert_eq!(upgrade_op(&element), None);
        assert_eq!(
            upgrade_op(&WriteOp::Put(meta_key(b"k"), b"v".to_vec())),
            None
        );
    }

    #[test]
    fn string_meta_round_trip() {
        let raw = encode_string(0, 9, b"value");
        let (header, payload) = decode_meta(&raw).unwrap();
        assert_eq!(header.key_type, KeyType::String);
        assert_eq!(header.size, 5);
        assert_eq!(header.version, 9);
        assert_eq!(payload, b"value");
    }

    #[test]
    fn corrupt_meta_is_an_error() {
        assert!(matches!(decode_meta(b""), Err(StorageError::Corrupt(_))));
        assert!(matches!(
            decode_meta(&[0u8; META_HEADER_LEN - 1]),
            Err(StorageError::Corrupt(_))
        ));
        let mut bad_type = encode_string(0, 0, b"");
        bad_type[0] = 200;
        assert!(matches!(
            decode_meta(&bad_type),
            Err(StorageError::Corrupt(_))
        ));
        let mut truncated = encode_string(0, 0, b"abc");
        truncated.pop();
        assert!(matches!(
            decode_meta(&truncated),
            Err(StorageError::Corrupt(_))
        ));
    }

    #[test]
    fn key_types_round_trip() {
        for t in [
            KeyType::String,
            KeyType::Hash,
            KeyType::List,
            KeyType::Set,
            KeyType::ZSet,
            KeyType::Stream,
        ] {
            assert_eq!(KeyType::from_code(t.code()), Some(t));
        }
        assert_eq!(KeyType::from_code(6), None);
        assert_eq!(KeyType::Stream.name(), "stream");
        assert_eq!(KeyType::ZSet.name(), "zset");
    }

    #[test]
    fn element_key_round_trip() {
        let raw = element_key(b"user", 77, b"field");
        let (key, version, element) = decode_element_key(&raw).unwrap();
        assert_eq!((key, version, element), (&b"user"[..], 77, &b"field"[..]));
        assert!(raw.starts_with(&element_prefix(b"user", 77)));
        let (start, end) = element_range_all_versions(b"user");
        assert!(start.as_slice() <= raw.as_slice() && raw.as_slice() < end.as_slice());
    }

    #[test]
    fn element_ranges_do_not_mix_keys() {
        // "a" + element "b..." must not fall in the range of key "ab".
        let of_a = element_key(b"a", 1, b"bcdefgh");
        let (start, end) = element_range_all_versions(b"ab");
        assert!(!(start.as_slice() <= of_a.as_slice() && of_a.as_slice() < end.as_slice()));
    }

    #[test]
    fn corrupt_element_key_is_an_error() {
        assert!(decode_element_key(b"").is_err());
        assert!(decode_element_key(b"\x01abc").is_err());
        assert!(decode_element_key(b"\x02\x00\x00").is_err());
        // Says 10 bytes of key but holds 2.
        assert!(decode_element_key(b"\x02\x00\x00\x00\x0aab").is_err());
    }

    #[test]
    fn meta_key_round_trip() {
        assert_eq!(decode_meta_key(&meta_key(b"x")).unwrap(), b"x");
        assert!(decode_meta_key(b"\x02x").is_err());
        assert!(decode_meta_key(b"").is_err());
    }

    #[test]
    fn decree_round_trip() {
        assert_eq!(decode_decree(&encode_decree(123)).unwrap(), 123);
        assert!(decode_decree(b"short").is_err());
    }

    #[test]
    fn prefix_end_cases() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn spaces_cover_their_records_only() {
        let (ms, me) = meta_space();
        let (es, ee) = element_space();
        let meta = meta_key(b"\xff\xff");
        let element = element_key(b"\xff", u64::MAX, b"\xff");
        assert!(ms <= meta && meta < me);
        assert!(es <= element && element < ee);
        assert!(APPLIED_DECREE_KEY < ms.as_slice());
    }

    #[test]
    fn versions_only_grow() {
        let old = MetaHeader {
            key_type: KeyType::Hash,
            expire_at_ms: 0,
            version: new_version(1000, None),
            size: 0,
        };
        // Same millisecond, and a clock that went backwards.
        assert!(new_version(1000, Some(&old)) > old.version);
        assert!(new_version(10, Some(&old)) > old.version);
        assert!(new_version(1001, None) > old.version);
    }

    #[test]
    fn liveness_follows_redis() {
        let header = MetaHeader {
            key_type: KeyType::String,
            expire_at_ms: 100,
            version: 0,
            size: 0,
        };
        assert!(header.is_live(99));
        assert!(header.is_live(100));
        assert!(!header.is_live(101));
        let forever = MetaHeader {
            expire_at_ms: 0,
            ..header
        };
        assert!(forever.is_live(u64::MAX));
    }
}
