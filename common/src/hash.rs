//! Key-to-partition hashing.
//!
//! The hash key is the whole Redis key, or the part inside the first `{...}`
//! when that part is non-empty (the Redis Cluster hash-tag rule), so users can
//! co-locate keys. The hash is CRC-64/NVME (the one Apache Pegasus uses), and
//! `partition = hash & (partition_count - 1)`. Both are fixed forever: data on
//! disk is placed by them.

use crc::{Crc, CRC_64_NVME};

const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_NVME);

/// The part of `key` that decides its partition.
pub fn hash_key(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// CRC-64/NVME of the hash key.
pub fn key_hash(key: &[u8]) -> u64 {
    CRC64.checksum(hash_key(key))
}

/// CRC-64/NVME of the whole key (hash tag or not): where the key stands in
/// its partition's walk order (SCAN, KEYS), so a SCAN cursor can name a
/// position with a number. Fixed forever: metadata records are stored by it.
pub fn scan_hash(key: &[u8]) -> u64 {
    CRC64.checksum(key)
}

/// The partition index of `key` in a table of `partition_count` partitions.
///
/// `partition_count` must be a power of two (checked when tables are created).
pub fn partition_of(key: &[u8], partition_count: u32) -> u32 {
    debug_assert!(partition_count.is_power_of_two());
    (key_hash(key) & (u64::from(partition_count) - 1)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_nvme_check_value() {
        // The catalogue check value of CRC-64/NVME.
        assert_eq!(key_hash(b"123456789"), 0xae8b_1486_0a79_9888);
    }

    #[test]
    fn hash_tag_rule() {
        assert_eq!(hash_key(b"{user1000}.following"), b"user1000");
        assert_eq!(hash_key(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_key(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_key(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_key(b"nobraces"), b"nobraces");
        assert_eq!(hash_key(b"open{only"), b"open{only");
        assert_eq!(hash_key(b""), b"");
    }

    #[test]
    fn fixed_partition_vectors() {
        // These must never change: data on disk is placed by them.
        assert_eq!(key_hash(b"foo"), 0xe4ed_f70e_66ae_0d02);
        assert_eq!(key_hash(b"user:1"), 0x5955_87be_8d69_b680);
        let vectors: [(&[u8], u32, u32); 9] = [
            (b"foo", 8, 2),
            (b"foo", 1024, 258),
            (b"user:1", 1024, 640),
            (b"key:000000000001", 1024, 984),
            (b"123456789", 8, 0),
            (b"123456789", 16, 8),
            (b"123456789", 1024, 0x88),
            (b"{123456789}.a", 1024, 0x88),
            (b"x{123456789}", 4, 0),
        ];
        for (key, count, want) in vectors {
            assert_eq!(partition_of(key, count), want, "key {key:?} count {count}");
        }
        // Same tag, same partition whatever the rest of the key.
        assert_eq!(
            partition_of(b"{tag}a", 64),
            partition_of(b"{tag}bbbbbbbb", 64)
        );
    }
}
