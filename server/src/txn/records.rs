//! The transaction records in storage (`prepared/T`, `record/T`,
//! `decided/T`, under `layout::TXN_PREFIX`): what one of the participant's
//! proposals writes ([`mutation_of`]), and what a new primary reads back
//! ([`load`]).

use petrel_common::txn::participant::Recovered;
use petrel_common::txn::{Change, DecidedRecord, PreparedRecord, RecordOp, TxnRecord};

use crate::log::decode_mutation;
use crate::storage::layout::{self, TxnRecordKind};
use crate::storage::{Mutation, ReadView, StorageError, WriteOp};

/// The one replicated mutation a participant's [`Change`] becomes: its data
/// writes (an encoded [`Mutation`], as the shell handed them to the
/// machine) first, then its record writes, in order.
pub(crate) fn mutation_of(change: &Change) -> Result<Mutation, StorageError> {
    let mut mutation = match &change.data {
        Some(bytes) => decode_mutation(bytes)
            .map_err(|e| StorageError::Corrupt(format!("a transaction's pending writes: {e}")))?,
        None => Mutation::default(),
    };
    for op in &change.records {
        mutation.ops.push(record_op(op));
    }
    Ok(mutation)
}

fn record_op(op: &RecordOp) -> WriteOp {
    use TxnRecordKind::{Decided, Prepared, Record};
    let put =
        |kind, txn, value: bytes::Bytes| WriteOp::Put(layout::txn_key(kind, txn), value.to_vec());
    match op {
        RecordOp::PutPrepared(txn, rec) => put(Prepared, txn, rec.encode()),
        RecordOp::DeletePrepared(txn) => WriteOp::Delete(layout::txn_key(Prepared, txn)),
        RecordOp::PutRecord(txn, rec) => put(Record, txn, rec.encode()),
        RecordOp::DeleteRecord(txn) => WriteOp::Delete(layout::txn_key(Record, txn)),
        RecordOp::PutDecided(txn, rec) => put(Decided, txn, rec.encode()),
        RecordOp::DeleteDecided(txn) => WriteOp::Delete(layout::txn_key(Decided, txn)),
    }
}

/// Every transaction record `view` holds, for
/// `petrel_common::txn::participant::Participant::recover`. A record that
/// does not decode is corruption: the replica must not serve on a guess.
pub(crate) fn load(view: &dyn ReadView) -> Result<Recovered, StorageError> {
    let (start, end) = layout::txn_space();
    let mut rec = Recovered::default();
    let mut failure = None;
    view.scan(
        &start,
        &end,
        &mut |key, value| match add(&mut rec, key, value) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        },
    )?;
    match failure {
        Some(e) => Err(e),
        None => Ok(rec),
    }
}

fn add(rec: &mut Recovered, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
    let (kind, txn) = layout::decode_txn_key(key)?;
    let bad = |e: petrel_common::txn::DecodeError| {
        StorageError::Corrupt(format!("transaction record of {txn}: {e}"))
    };
    match kind {
        TxnRecordKind::Prepared => rec
            .prepared
            .push((txn, PreparedRecord::decode(value).map_err(bad)?)),
        TxnRecordKind::Record => rec
            .records
            .push((txn, TxnRecord::decode(value).map_err(bad)?)),
        TxnRecordKind::Decided => rec
            .decided
            .push((txn, DecidedRecord::decode(value).map_err(bad)?)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use petrel_common::ids::{Decree, Gpid};
    use petrel_common::txn::{Decision, TxnId};

    use super::*;
    use crate::cmd::testing::Harness;
    use crate::log::encode_mutation;
    use crate::storage::memory::MemEngine;
    use crate::storage::Engine;
    use petrel_common::reply::Reply;

    fn t(n: u64) -> TxnId {
        TxnId {
            start_ms: n,
            nonce: 7,
        }
    }

    fn prepared() -> PreparedRecord {
        PreparedRecord {
            record: Gpid::new(1, 2),
            keys: vec![Bytes::from_static(b"k")],
            writes: Bytes::from_static(b"w"),
        }
    }

    #[test]
    fn a_change_is_its_data_then_its_records_and_they_load_back() {
        let engine = MemEngine::new();
        let data = Mutation {
            ops: vec![WriteOp::Put(layout::meta_key(b"k"), b"v".to_vec())],
        };
        let decided = DecidedRecord {
            decision: Decision::Committed,
            at_ms: 5,
        };
        let change = Change {
            data: Some(encode_mutation(&data)),
            records: vec![
                RecordOp::PutPrepared(t(1), prepared()),
                RecordOp::PutRecord(t(2), TxnRecord::Decided(Decision::Aborted)),
                RecordOp::PutDecided(t(3), decided),
                RecordOp::PutDecided(t(4), decided),
            ],
        };
        let m = mutation_of(&change).expect("decodes");
        assert_eq!(m.ops[0], data.ops[0]);
        assert_eq!(m.ops.len(), 5);
        engine.apply(Decree(1), &m).expect("apply");
        let rec = load(&engine).expect("load");
        assert_eq!(rec.prepared, vec![(t(1), prepared())]);
        assert_eq!(
            rec.records,
            vec![(t(2), TxnRecord::Decided(Decision::Aborted))]
        );
        assert_eq!(rec.decided, vec![(t(3), decided), (t(4), decided)]);
        // Deletes remove them.
        let change = Change {
            data: None,
            records: vec![
                RecordOp::DeletePrepared(t(1)),
                RecordOp::DeleteRecord(t(2)),
                RecordOp::DeleteDecided(t(3)),
            ],
        };
        engine
            .apply(Decree(2), &mutation_of(&change).expect("ok"))
            .expect("apply");
        let rec = load(&engine).expect("load");
        assert!(rec.prepared.is_empty() && rec.records.is_empty());
        assert_eq!(rec.decided, vec![(t(4), decided)]);
    }

    #[test]
    fn bad_bytes_are_errors() {
        let change = Change {
            data: Some(Bytes::from_static(b"\xffnot a mutation")),
            records: vec![],
        };
        assert!(mutation_of(&change).is_err());
        let engine = MemEngine::new();
        let key = layout::txn_key(TxnRecordKind::Record, &t(1));
        let m = Mutation {
            ops: vec![WriteOp::Put(key, b"\x01\x09".to_vec())],
        };
        engine.apply(Decree(1), &m).expect("apply");
        assert!(matches!(load(&engine), Err(StorageError::Corrupt(_))));
    }

    /// No Redis command sees or deletes a transaction record.
    #[test]
    fn records_are_invisible_to_every_redis_command() {
        let mut h = Harness::new();
        h.run(&["set", "a", "1"]);
        let change = Change {
            data: None,
            records: vec![
                RecordOp::PutPrepared(t(1), prepared()),
                RecordOp::PutRecord(t(1), TxnRecord::Staging { writers: vec![] }),
            ],
        };
        h.apply(&mutation_of(&change).expect("ok"));
        assert_eq!(h.run(&["dbsize"]), Reply::Int(1));
        assert_eq!(h.run(&["keys", "*"]), Reply::Array(vec![Reply::bulk("a")]));
        assert_eq!(h.run(&["randomkey"]), Reply::bulk("a"));
        // petrel.scan is SCAN's share of one partition.
        let Reply::Array(page) = h.run(&["petrel.scan", "", "100"]) else {
            panic!("petrel.scan answers an array");
        };
        assert_eq!(page.last(), Some(&Reply::Array(vec![Reply::bulk("a")])));
        h.run(&["flushdb"]);
        assert_eq!(h.run(&["dbsize"]), Reply::Int(0));
        assert_eq!(h.run(&["randomkey"]), Reply::Nil);
        let rec = load(&h.engine).expect("load");
        assert_eq!(rec.prepared.len(), 1, "FLUSHDB left the records");
        assert_eq!(rec.records.len(), 1);
    }
}
