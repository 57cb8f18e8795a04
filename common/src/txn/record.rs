//! The durable records (`prepared/T`, `record/T`, `decided/T`), their byte
//! encodings, and [`Change`]: what one replicated proposal writes.
//!
//! Each value starts with a format byte (1) so a later format can be told
//! apart. Decoding never panics: bad bytes give a [`DecodeError`].

use bytes::Bytes;

use super::id::TxnId;
use crate::codec::{DecodeError, Reader, Writer};
use crate::ids::Gpid;

const FORMAT: u8 = 1;

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Committed,
    Aborted,
}

/// `prepared/T` at a participant with writes: what a new primary needs to
/// rebuild T's exclusive locks and, at the decision, apply its writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedRecord {
    /// The record partition `R`, asked for T's status.
    pub record: Gpid,
    /// The user keys T holds exclusively here.
    pub keys: Vec<Bytes>,
    /// T's writes here, opaque (the server's `Mutation`, encoded).
    pub writes: Bytes,
}

/// `record/T` at the record partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnRecord {
    /// Written with the PREPARE at `R`: T is committed once every listed
    /// writer holds `prepared/T` durably (the parallel-commit rule).
    Staging { writers: Vec<Gpid> },
    /// The decision, final.
    Decided(Decision),
}

/// `decided/T` at a participant: T's outcome here, and when (for garbage
/// collection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecidedRecord {
    pub decision: Decision,
    pub at_ms: u64,
}

/// One write to the transaction key space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOp {
    PutPrepared(TxnId, PreparedRecord),
    DeletePrepared(TxnId),
    PutRecord(TxnId, TxnRecord),
    DeleteRecord(TxnId),
    PutDecided(TxnId, DecidedRecord),
    DeleteDecided(TxnId),
}

/// What one proposal writes, atomically: user-data writes (a transaction's
/// pending writes at its commit) and record writes. The shell turns it into
/// one replicated mutation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Change {
    /// Writes to apply to the data spaces, opaque (as given by the shell).
    pub data: Option<Bytes>,
    /// Record writes, in order.
    pub records: Vec<RecordOp>,
}

fn decision_tag(d: Decision) -> u8 {
    match d {
        Decision::Committed => 0,
        Decision::Aborted => 1,
    }
}

fn decision_of(tag: u8) -> Decision {
    if tag == 0 {
        Decision::Committed
    } else {
        Decision::Aborted
    }
}

fn format(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    r.tag(FORMAT + 1).and_then(|v| {
        if v == FORMAT {
            Ok(())
        } else {
            Err(DecodeError::BadTag {
                what: "record format",
                tag: v,
            })
        }
    })
}

/// Bytes of an encoded [`Gpid`].
const GPID_LEN: usize = 8;

impl PreparedRecord {
    /// The value stored at `prepared/T`.
    pub fn encode(&self) -> Bytes {
        let mut w = Writer::default();
        w.u8(FORMAT).gpid(self.record).u32(self.keys.len() as u32);
        for k in &self.keys {
            w.bytes(k);
        }
        w.bytes(&self.writes);
        w.into_bytes()
    }

    /// Reads a `prepared/T` value.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("prepared record", bytes);
        format(&mut r)?;
        let record = r.gpid()?;
        let n = r.count(4)?;
        let keys = (0..n).map(|_| r.bytes()).collect::<Result<_, _>>()?;
        let writes = r.bytes()?;
        r.finish()?;
        Ok(PreparedRecord {
            record,
            keys,
            writes,
        })
    }
}

impl TxnRecord {
    /// The value stored at `record/T`.
    pub fn encode(&self) -> Bytes {
        let mut w = Writer::default();
        w.u8(FORMAT);
        match self {
            TxnRecord::Staging { writers } => {
                w.u8(0).u32(writers.len() as u32);
                for g in writers {
                    w.gpid(*g);
                }
            }
            TxnRecord::Decided(d) => {
                w.u8(1 + decision_tag(*d));
            }
        }
        w.into_bytes()
    }

    /// Reads a `record/T` value.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("transaction record", bytes);
        format(&mut r)?;
        let rec = match r.tag(3)? {
            0 => {
                let n = r.count(GPID_LEN)?;
                let writers = (0..n).map(|_| r.gpid()).collect::<Result<_, _>>()?;
                TxnRecord::Staging { writers }
            }
            t => TxnRecord::Decided(decision_of(t - 1)),
        };
        r.finish()?;
        Ok(rec)
    }
}

impl DecidedRecord {
    /// The value stored at `decided/T`.
    pub fn encode(&self) -> Bytes {
        let mut w = Writer::default();
        w.u8(FORMAT).u8(decision_tag(self.decision)).u64(self.at_ms);
        w.into_bytes()
    }

    /// Reads a `decided/T` value.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("decided record", bytes);
        format(&mut r)?;
        let decision = decision_of(r.tag(2)?);
        let at_ms = r.u64()?;
        r.finish()?;
        Ok(DecidedRecord { decision, at_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared() -> PreparedRecord {
        PreparedRecord {
            record: Gpid::new(3, 7),
            keys: vec![
                Bytes::from_static(b"a"),
                Bytes::new(),
                Bytes::from(vec![0xff; 300]),
            ],
            writes: Bytes::from_static(b"\x00mutation\x01"),
        }
    }

    fn records() -> Vec<TxnRecord> {
        vec![
            TxnRecord::Staging { writers: vec![] },
            TxnRecord::Staging {
                writers: vec![Gpid::new(1, 0), Gpid::new(1, u32::MAX)],
            },
            TxnRecord::Decided(Decision::Committed),
            TxnRecord::Decided(Decision::Aborted),
        ]
    }

    #[test]
    fn round_trips() {
        let p = prepared();
        assert_eq!(PreparedRecord::decode(&p.encode()), Ok(p));
        for rec in records() {
            assert_eq!(TxnRecord::decode(&rec.encode()), Ok(rec));
        }
        for d in [Decision::Committed, Decision::Aborted] {
            let rec = DecidedRecord {
                decision: d,
                at_ms: 1_234_567,
            };
            assert_eq!(DecidedRecord::decode(&rec.encode()), Ok(rec));
        }
    }

    /// Every strict prefix of a valid value is an error; every single-byte
    /// corruption decodes to an error or to some value, never a panic.
    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let decided = DecidedRecord {
            decision: Decision::Aborted,
            at_ms: 9,
        }
        .encode();
        let p = prepared().encode();
        let recs: Vec<Bytes> = records().iter().map(TxnRecord::encode).collect();
        for cut in 0..p.len() {
            assert!(PreparedRecord::decode(&p[..cut]).is_err(), "cut {cut}");
        }
        for v in &recs {
            for cut in 0..v.len() {
                assert!(TxnRecord::decode(&v[..cut]).is_err(), "cut {cut}");
            }
        }
        for cut in 0..decided.len() {
            assert!(DecidedRecord::decode(&decided[..cut]).is_err());
        }
        for v in recs.iter().chain([&p, &decided]) {
            for i in 0..v.len() {
                for b in [0u8, 1, 2, 3, 0x7f, 0xff] {
                    let mut c = v.to_vec();
                    c[i] = b;
                    let _ = PreparedRecord::decode(&c);
                    let _ = TxnRecord::decode(&c);
                    let _ = DecidedRecord::decode(&c);
                }
            }
        }
        assert!(matches!(
            TxnRecord::decode(&[1, 9]),
            Err(DecodeError::BadTag { tag: 9, .. })
        ));
        assert!(matches!(
            DecidedRecord::decode(&[2, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadTag { tag: 2, .. })
        ));
        // A count claiming more items than bytes left is refused up front.
        assert!(matches!(
            TxnRecord::decode(&[1, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut long = prepared().encode().to_vec();
        long.push(0);
        assert!(matches!(
            PreparedRecord::decode(&long),
            Err(DecodeError::Trailing { extra: 1, .. })
        ));
    }
}
