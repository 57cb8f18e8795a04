//! The byte-level reader and writer durable records share (transaction
//! records, the server's stream records).
//!
//! Fixed-width big-endian integers and `u32`-length-prefixed byte strings.
//! Decoding checks every length against what is left, so bad bytes from disk
//! give a [`DecodeError`], never a panic or a huge allocation.

use bytes::Bytes;

use crate::ids::Gpid;

/// Why stored bytes are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the field does.
    #[error("{what}: truncated")]
    Truncated { what: &'static str },
    /// A tag or version byte this code does not know.
    #[error("{what}: unknown tag {tag}")]
    BadTag { what: &'static str, tag: u8 },
    /// Bytes left over after the last field.
    #[error("{what}: {extra} trailing bytes")]
    Trailing { what: &'static str, extra: usize },
}

/// Reads fields from a byte slice, naming `what` in its errors.
pub struct Reader<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Reader { what, rest: bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated { what: self.what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// `N` raw bytes.
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.array()
    }

    /// Every byte left (a record's last field).
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }

    /// A count of items, each at least `min_item` bytes: refused when the
    /// bytes left cannot hold that many (no allocation from a bad count).
    pub fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.rest.len() {
            return Err(DecodeError::Truncated { what: self.what });
        }
        Ok(n)
    }

    pub fn gpid(&mut self) -> Result<Gpid, DecodeError> {
        let table = self.u32()?;
        let partition = self.u32()?;
        Ok(Gpid::new(table, partition))
    }

    /// A tag byte that must be below `limit`.
    pub fn tag(&mut self, limit: u8) -> Result<u8, DecodeError> {
        let tag = self.u8()?;
        if tag >= limit {
            return Err(DecodeError::BadTag {
                what: self.what,
                tag,
            });
        }
        Ok(tag)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing {
                what: self.what,
                extra: self.rest.len(),
            })
        }
    }
}

/// Appends fields in the format [`Reader`] reads.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Raw bytes, no length (fixed-size fields, or a record's last field).
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    /// A length-prefixed byte string (records hold user keys and
    /// mutations, far below 4 GiB; the server caps values well below it).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
        self
    }

    pub fn gpid(&mut self, g: Gpid) -> &mut Self {
        self.u32(g.table.0).u32(g.partition.0)
    }

    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.0)
    }
}
