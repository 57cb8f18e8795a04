//! The byte size of Redis's stream nodes, computed rather than stored.
//!
//! Redis keeps a stream as a radix tree of listpacks ("nodes"), and two of
//! its observable behaviours depend on their shape: XADD starts a new node
//! when the tail one holds `stream-node-max-entries` entries (deleted ones
//! included) or when its bytes plus the new entry's field and value lengths
//! reach `stream-node-max-bytes`; and `~` trimming removes whole nodes
//! only. Petrel keeps one record per node with its counters (see
//! [`super::store`]) and this module gives the listpack's exact size, so
//! node boundaries fall where Redis's do.
//!
//! A node's listpack is a 6-byte header and a 1-byte end, the master entry
//! (`count`, `deleted`, the number of master fields, the fields, `0`), then
//! each entry: `flags`, the id's ms and seq deltas from the master id, the
//! number of fields and the fields unless they are the master's
//! (`SAMEFIELDS`), the values, and the entry's element count. Each element
//! is its encoding plus a back-length; a string that reads as a 64-bit
//! integer is stored as one.

use bytes::Bytes;
use petrel_common::rdb;

use super::id::StreamId;

/// `stream-node-max-bytes` (Redis's default; Petrel's nodes keep it).
pub(crate) const NODE_MAX_BYTES: u64 = 4096;
/// `stream-node-max-entries` (Redis's default; Petrel's nodes keep it).
pub(crate) const NODE_MAX_ENTRIES: u64 = 100;
/// `STREAM_LISTPACK_MAX_SIZE`: no entry's fields and values may sum past it.
pub(crate) const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// Header (total bytes, element count) and end byte of an empty listpack.
const EMPTY: u64 = 6 + 1;

/// `STREAM_ITEM_FLAG_SAMEFIELDS`.
const SAMEFIELDS: i64 = 2;

/// Bytes of one integer element.
pub(crate) fn int_element(v: i64) -> u64 {
    rdb::listpack::int_size(v)
}

/// Bytes of one string element (an integer when `lpStringToInt64` reads it
/// as one: the same rules as `string2ll`).
pub(crate) fn str_element(s: &[u8]) -> u64 {
    rdb::listpack::str_size(s)
}

/// Bytes of a node's master entry but its two counters: the number of
/// fields, the fields and the terminating `0`.
pub(crate) fn master_body(fields: &[Bytes]) -> u64 {
    int_element(fields.len() as i64)
        + fields.iter().map(|f| str_element(f)).sum::<u64>()
        + int_element(0)
}

/// Bytes of one entry `id` with `pairs` (field, value, ...) in a node whose
/// master id is `master`, its fields omitted when `same` (they are the
/// master's).
pub(crate) fn entry(master: StreamId, id: StreamId, pairs: &[Bytes], same: bool) -> u64 {
    let fields = (pairs.len() / 2) as i64;
    let flags = if same { SAMEFIELDS } else { 0 };
    // Redis stores the deltas as signed 64-bit integers, wrapping.
    let ms_delta = id.ms.wrapping_sub(master.ms) as i64;
    let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
    let mut bytes = int_element(flags) + int_element(ms_delta) + int_element(seq_delta);
    let mut lp_count = fields + 3;
    if !same {
        bytes += int_element(fields);
        lp_count += fields + 1;
    }
    for (i, p) in pairs.iter().enumerate() {
        if same && i % 2 == 0 {
            continue;
        }
        bytes += str_element(p);
    }
    bytes + int_element(lp_count)
}

/// A node's listpack bytes with `count` live and `deleted` entries and
/// `body` bytes of everything but those two counters.
pub(crate) fn node_bytes(count: u64, deleted: u64, body: u64) -> u64 {
    let as_int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    EMPTY + int_element(as_int(count)) + int_element(as_int(deleted)) + body
}

/// Whether XADD must start a new node rather than append an entry whose
/// fields and values sum to `new_bytes` to a tail node of `count` live and
/// `deleted` entries and `bytes` bytes.
pub(crate) fn node_full(bytes: u64, count: u64, deleted: u64, new_bytes: u64) -> bool {
    bytes.saturating_add(new_bytes) >= NODE_MAX_BYTES
        || count.saturating_add(deleted) >= NODE_MAX_ENTRIES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn element_sizes_follow_listpack() {
        assert_eq!(int_element(0), 2);
        assert_eq!(int_element(127), 2);
        assert_eq!(int_element(128), 3);
        assert_eq!(int_element(-1), 3);
        assert_eq!(int_element(-4097), 4);
        assert_eq!(int_element(1 << 40), 10);
        assert_eq!(str_element(b"12"), 2, "an integer");
        assert_eq!(str_element(b"012"), 5, "not an integer: 1 + 3 + 1");
        assert_eq!(str_element(b"field"), 7);
        assert_eq!(str_element(&[b'x'; 64]), 2 + 64 + 1);
        assert_eq!(str_element(&[b'x'; 200]), 2 + 200 + 2);
    }

    #[test]
    fn a_one_entry_node() {
        // XADD s 1-1 a 1: master [1, 0, 1, "a", 0], entry [2, 0, 0, "1", 4].
        let pairs = b(&["a", "1"]);
        let id = StreamId::new(1, 1);
        let body = master_body(&b(&["a"])) + entry(id, id, &pairs, true);
        assert_eq!(body, (2 + 3 + 2) + (2 + 2 + 2 + 2 + 2));
        assert_eq!(node_bytes(1, 0, body), 7 + 2 + 2 + 17);
        // Negative deltas (a later ms, a smaller seq) take two bytes.
        assert_eq!(
            entry(StreamId::new(1, 5), StreamId::new(2, 0), &pairs, true),
            2 + 2 + 3 + 2 + 2
        );
        assert!(node_full(4000, 1, 0, 96));
        assert!(!node_full(4000, 1, 0, 95));
        assert!(node_full(10, 60, 40, 0));
    }
}
