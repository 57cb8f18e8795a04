//! Which requests a replica must refuse because a split moved their keys
//! (README "Online partition split"): checked when a request arrives
//! (`service`) and again when its write is staged (`shell::writes`), since
//! the split may be proposed in between.

use bytes::Bytes;
use petrel_common::command::{self, Command};
use petrel_common::ids::Gpid;

/// Whether this call, routed to `gpid` with `count` partitions, must be
/// refused with the routing error because of a split:
///
/// - a key of it belongs to another partition: the proxy planned it on the
///   map before the split (a MULTI block's keys are checked too;
///   `petrel.txn.run` brings keys of other partitions along by design and
///   only its partition count is checked);
/// - the replica still serves `current` partitions (its split is pending)
///   and the call names no key of its own to check: a keyless command
///   (DBSIZE, SCAN...) would see both halves.
pub(crate) fn misrouted(
    gpid: Gpid,
    count: u32,
    current: u32,
    command: &Command,
    args: &[Bytes],
) -> bool {
    if count <= 1 || !count.is_power_of_two() {
        return false;
    }
    let own = |key: &[u8]| petrel_common::hash::partition_of(key, count) == gpid.partition.0;
    let t = command::table();
    let keys: Vec<Bytes> = if command.id == t.internal(command::Internal::Exec).id {
        crate::txn::keys::keys_of(command, args)
    } else if command.id == t.internal(command::Internal::TxnRun).id {
        return count != current;
    } else {
        command
            .key_positions(args)
            .into_iter()
            .filter_map(|i| args.get(i).cloned())
            .collect()
    };
    if keys.is_empty() {
        return count != current;
    }
    !keys.iter().all(|k| own(k))
}
