//! Binary encoding of [`Mutation`] for the log (the `mutation` bytes of a [`super::LogEntry`]).
//!
//! ```text
//! mutation := format: u8 (= 1) | count: u32 LE | op * count
//! op       := 1 | klen: u32 | key                        Put's key...
//!                | vlen: u32 | value                    ...and value
//!           | 2 | klen: u32 | key                        Delete
//!           | 3 | slen: u32 | start | elen: u32 | end    DeleteRange [start, end)
//! ```
//!
//! Decoding rejects trailing bytes, unknown tags and lengths past the end.

use bytes::Bytes;

use crate::storage::{Mutation, WriteOp};

const FORMAT_V1: u8 = 1;
const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_DELETE_RANGE: u8 = 3;

/// Why bytes are not an encoded mutation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    /// The input ends early.
    #[error("encoded mutation truncated")]
    Truncated,
    /// A format byte this build does not know.
    #[error("encoded mutation has unknown format {0}")]
    UnknownFormat(u8),
    /// An op tag this build does not know.
    #[error("encoded mutation has unknown op tag {0}")]
    UnknownOp(u8),
    /// Bytes left after the last op.
    #[error("encoded mutation has {0} trailing bytes")]
    Trailing(usize),
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Keys and values are far below 4 GiB (the log caps records at 576 MiB).
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Encodes a mutation into the bytes a [`super::LogEntry`] carries.
pub(crate) fn encode_mutation(m: &Mutation) -> Bytes {
    let size = 5 + m
        .ops
        .iter()
        .map(|op| match op {
            WriteOp::Put(k, v) | WriteOp::DeleteRange(k, v) => 9 + k.len() + v.len(),
            WriteOp::Delete(k) => 5 + k.len(),
        })
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(FORMAT_V1);
    out.extend_from_slice(&(m.ops.len() as u32).to_le_bytes());
    for op in &m.ops {
        match op {
            WriteOp::Put(k, v) => {
                out.push(TAG_PUT);
                put_bytes(&mut out, k);
                put_bytes(&mut out, v);
            }
            WriteOp::Delete(k) => {
                out.push(TAG_DELETE);
                put_bytes(&mut out, k);
            }
            WriteOp::DeleteRange(a, b) => {
                out.push(TAG_DELETE_RANGE);
                put_bytes(&mut out, a);
                put_bytes(&mut out, b);
            }
        }
    }
    Bytes::from(out)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.buf.len() < n {
            return Err(CodecError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, CodecError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
}

/// Decodes bytes produced by [`encode_mutation`].
pub(crate) fn decode_mutation(buf: &[u8]) -> Result<Mutation, CodecError> {
    let mut r = Reader { buf };
    let format = r.u8()?;
    if format != FORMAT_V1 {
        return Err(CodecError::UnknownFormat(format));
    }
    let count = r.u32()? as usize;
    // Every op takes at least 5 bytes: never trust `count` for the allocation.
    let mut ops = Vec::with_capacity(count.min(r.buf.len() / 5));
    for _ in 0..count {
        let op = match r.u8()? {
            TAG_PUT => WriteOp::Put(r.bytes()?, r.bytes()?),
            TAG_DELETE => WriteOp::Delete(r.bytes()?),
            TAG_DELETE_RANGE => WriteOp::DeleteRange(r.bytes()?, r.bytes()?),
            tag => return Err(CodecError::UnknownOp(tag)),
        };
        // Logged (or sent by a primary) in an older storage layout: as
        // this layout stores it.
        ops.push(crate::storage::layout::upgrade_op(&op).unwrap_or(op));
    }
    if !r.buf.is_empty() {
        return Err(CodecError::Trailing(r.buf.len()));
    }
    Ok(Mutation { ops })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Mutation {
        Mutation {
            ops: vec![
                WriteOp::Put(b"k1".to_vec(), b"v1".to_vec()),
                WriteOp::Put(Vec::new(), Vec::new()),
                WriteOp::Delete(b"gone".to_vec()),
                WriteOp::DeleteRange(b"a".to_vec(), b"z\xff".to_vec()),
                WriteOp::Put(vec![0u8; 1000], (0..=255u8).collect()),
            ],
        }
    }

    #[test]
    fn mutation_round_trip() {
        for m in [Mutation::default(), sample()] {
            let enc = encode_mutation(&m);
            assert_eq!(decode_mutation(&enc).unwrap(), m);
        }
    }

    #[test]
    fn mutation_decode_rejects_damage() {
        let enc = encode_mutation(&sample());
        for cut in 0..enc.len() {
            assert!(
                decode_mutation(&enc[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        let mut trailing = enc.to_vec();
        trailing.push(0);
        assert_eq!(decode_mutation(&trailing), Err(CodecError::Trailing(1)));
        let mut bad_tag = enc.to_vec();
        bad_tag[5] = 9;
        assert_eq!(decode_mutation(&bad_tag), Err(CodecError::UnknownOp(9)));
        assert_eq!(decode_mutation(&[2]), Err(CodecError::UnknownFormat(2)));
        // A huge count with no ops must fail cleanly, not allocate.
        let huge = [1u8, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode_mutation(&huge), Err(CodecError::Truncated));
    }
}
