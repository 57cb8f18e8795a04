//! Key names that land in chosen partitions, so a multi-key workload really
//! spans partitions (and so the partition holding transaction records is
//! known before the run, for the nemesis to aim at).
//!
//! Names are found by trying suffixes with the hash Petrel routes by
//! ([`petrel_common::hash::partition_of`]), so they depend only on the
//! prefix and the partition count: the same run draws the same names.

use petrel_common::hash::partition_of;

/// The partition every workload's first key lies in: it holds the
/// transaction record of every MSET (whose first key is always key 0), of
/// every LMOVE from the first list and of every bank transfer from an
/// account in it. The `kill-record-primary` nemesis kills its primary.
pub(crate) const RECORD_PARTITION: u32 = 0;

/// `count` key names starting with `prefix`, key `i` in partition
/// `(RECORD_PARTITION + i) % partitions`: spread over every partition, the
/// first in [`RECORD_PARTITION`]. The first stays there while splits grow
/// the table up to `grows_to` partitions (it lies in [`RECORD_PARTITION`]
/// of `grows_to` too); a split moves each other key to either half, so the
/// workloads reach the new partitions. Counts must be powers of two, as
/// every table's is. Names never contain `{`, so no hash tag groups them.
pub(crate) fn spread(prefix: &str, count: usize, partitions: u32, grows_to: u32) -> Vec<String> {
    (0..count)
        .map(|i| {
            let of = if i == 0 {
                grows_to.max(partitions)
            } else {
                partitions
            };
            in_partition(
                &format!("{prefix}:{i}"),
                spread_partition(i, partitions),
                of,
            )
        })
        .collect()
}

/// The partition [`spread`] puts key `i` in.
pub(crate) fn spread_partition(i: usize, partitions: u32) -> u32 {
    (RECORD_PARTITION + i as u32) % partitions.max(1)
}

/// The first name `<stem>:<n>` that lies in partition `want` of
/// `partitions` (a power of two).
pub(crate) fn in_partition(stem: &str, want: u32, partitions: u32) -> String {
    let partitions = partitions.max(1);
    (0u64..)
        .map(|n| format!("{stem}:{n}"))
        .find(|name| partition_of(name.as_bytes(), partitions) == want % partitions)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_every_partition_round_robin() {
        for partitions in [1u32, 2, 4, 8, 16] {
            let keys = spread("bank", 16, partitions, partitions);
            assert_eq!(keys.len(), 16);
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(
                    partition_of(k.as_bytes(), partitions),
                    (RECORD_PARTITION + i as u32) % partitions,
                    "{k} with {partitions} partitions"
                );
                assert!(!k.contains('{'), "no hash tag in {k}");
            }
            let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
            assert_eq!(unique.len(), keys.len(), "names are distinct");
        }
    }

    #[test]
    fn a_name_lands_in_the_partition_asked_for() {
        for want in 0..8 {
            let name = in_partition("bank:applied:17", want, 8);
            assert!(name.starts_with("bank:applied:17:"), "{name}");
            assert_eq!(partition_of(name.as_bytes(), 8), want);
        }
    }

    #[test]
    fn the_same_arguments_give_the_same_names() {
        assert_eq!(spread("mset", 8, 8, 8), spread("mset", 8, 8, 8));
        assert_ne!(spread("mset", 8, 8, 8), spread("list", 8, 8, 8));
    }

    #[test]
    fn the_first_key_stays_in_the_record_partition_through_splits() {
        let keys = spread("bank", 16, 8, 32);
        // Without splits the names are the ones a run always drew.
        assert_eq!(keys[1..], spread("bank", 16, 8, 8)[1..]);
        for count in [8u32, 16, 32] {
            assert_eq!(partition_of(keys[0].as_bytes(), count), RECORD_PARTITION);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(partition_of(k.as_bytes(), 8), spread_partition(i, 8));
        }
    }
}
