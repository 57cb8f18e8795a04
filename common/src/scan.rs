//! SCAN cursors that carry their own position, so any proxy can continue a
//! walk another one started (docs: README "Keyspace walks").
//!
//! Each partition stores its keys' metadata in the order of
//! [`crate::hash::scan_hash`], so where a walk stands inside a partition is
//! a number: the scan hash of the next key to look at. A cursor is the
//! partition index and the top [`POSITION_BITS`] bits of that hash:
//!
//! ```text
//! cursor = partition << POSITION_BITS | position >> (64 - POSITION_BITS)
//! ```
//!
//! 16 bits of partition (at most 65,536) and 37 of position keep every
//! cursor below 2^53, so clients that parse cursors as doubles keep them
//! exact. A cursor resumes at the start of its position's bucket, at or
//! before the key it names: nothing is skipped, and the few keys of that
//! bucket already returned may come again (SCAN allows duplicates). A
//! partition's page never ends inside the bucket it started in
//! ([`same_bucket`]), so every cursor moves forward. Cursor 0 starts a
//! walk and ends one, as in Redis.
//!
//! A table split in two (partition `p` of `n` becomes `p` and `p + n`)
//! keeps old cursors valid: the walk goes on in `p` from the position,
//! then through every later partition from its start, so each key present
//! throughout is still returned at least once.

/// Bits of the in-partition position a cursor keeps.
pub const POSITION_BITS: u32 = 37;

/// Bits of the partition index.
pub const PARTITION_BITS: u32 = 16;

const SHIFT: u32 = 64 - POSITION_BITS;

/// The cursor of position `position` (a scan hash, or the start of one's
/// bucket) in partition `partition`.
pub fn encode(partition: u32, position: u64) -> u64 {
    (u64::from(partition) << POSITION_BITS) | (position >> SHIFT)
}

/// The partition and the position to resume from that `cursor` names, or
/// `None` for a number no cursor can be (beyond the partition bits).
pub fn decode(cursor: u64) -> Option<(u32, u64)> {
    let partition = cursor >> POSITION_BITS;
    if partition >= 1 << PARTITION_BITS {
        return None;
    }
    let position = (cursor & ((1 << POSITION_BITS) - 1)) << SHIFT;
    Some((partition as u32, position))
}

/// Whether two positions fall in the same cursor bucket: a page that
/// started at `from` must not end at a `next` in the same one.
pub fn same_bucket(from: u64, next: u64) -> bool {
    from >> SHIFT == next >> SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_start_of_their_bucket() {
        let position = 0xdead_beef_1234_5678;
        let cursor = encode(5, position);
        let (partition, resume) = decode(cursor).expect("a cursor");
        assert_eq!(partition, 5);
        assert!(resume <= position);
        assert!(same_bucket(resume, position));
        assert_eq!(encode(partition, resume), cursor);
    }

    #[test]
    fn every_cursor_fits_a_double_and_zero_is_the_start() {
        let last = encode((1 << PARTITION_BITS) - 1, u64::MAX);
        assert!(last < 1 << 53);
        assert_eq!(decode(0), Some((0, 0)));
        assert_eq!(decode(last + 1), None);
        assert_eq!(decode(u64::MAX), None);
    }

    #[test]
    fn a_later_bucket_makes_a_larger_cursor() {
        let a = encode(0, 1 << SHIFT);
        let b = encode(0, 2 << SHIFT);
        assert!(a < b && a != 0);
        assert!(!same_bucket(1 << SHIFT, 2 << SHIFT));
        assert!(same_bucket(1 << SHIFT, (1 << SHIFT) + 77));
        assert!(encode(0, u64::MAX) < encode(1, 0));
    }
}
