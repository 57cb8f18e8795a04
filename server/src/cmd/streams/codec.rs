//! Stream record fields over the records' shared codec
//! (`petrel_common::codec`): ids as 16 big-endian bytes, and lists of byte
//! strings (a count, then each with its length). A malformed record is a
//! decode error, never a panic.

use bytes::Bytes;
use petrel_common::codec::DecodeError;
pub(crate) use petrel_common::codec::{Reader, Writer};

use super::id::StreamId;

/// The fields stream records add to a [`Reader`].
pub(crate) trait ReadFields {
    fn id(&mut self) -> Result<StreamId, DecodeError>;
    fn items(&mut self) -> Result<Vec<Bytes>, DecodeError>;
}

impl ReadFields for Reader<'_> {
    fn id(&mut self) -> Result<StreamId, DecodeError> {
        let raw: [u8; 16] = self.fixed()?;
        Ok(StreamId::from_bytes(&raw).unwrap_or_default())
    }

    fn items(&mut self) -> Result<Vec<Bytes>, DecodeError> {
        // Each item takes at least its 4-byte length.
        let count = self.count(4)?;
        (0..count).map(|_| self.bytes()).collect()
    }
}

/// The fields stream records add to a [`Writer`].
pub(crate) trait WriteFields {
    fn id(&mut self, id: StreamId) -> &mut Self;
    fn items(&mut self, items: &[Bytes]) -> &mut Self;
}

impl WriteFields for Writer {
    fn id(&mut self, id: StreamId) -> &mut Self {
        self.raw(&id.to_bytes())
    }

    fn items(&mut self, items: &[Bytes]) -> &mut Self {
        self.u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
        for item in items {
            self.bytes(item);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let mut w = Writer::default();
        w.u8(1)
            .u64(7)
            .i64(-1)
            .id(StreamId::new(3, 4))
            .items(&[Bytes::from_static(b"a"), Bytes::new()])
            .raw(b"xyz");
        let raw = w.0;
        let mut r = Reader::new("test", &raw);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.i64().unwrap(), -1);
        assert_eq!(r.id().unwrap(), StreamId::new(3, 4));
        assert_eq!(r.items().unwrap(), [Bytes::from_static(b"a"), Bytes::new()]);
        assert_eq!(r.rest(), b"xyz");
        assert!(r.finish().is_ok());
        for cut in 0..raw.len() - 3 {
            let mut r = Reader::new("test", &raw[..cut]);
            let all = (|| -> Result<(), DecodeError> {
                r.u8()?;
                r.u64()?;
                r.i64()?;
                r.id()?;
                r.items()?;
                Ok(())
            })();
            assert!(all.is_err(), "cut at {cut}");
        }
        let huge = [0xffu8, 0xff, 0xff, 0xff];
        assert!(Reader::new("test", &huge).items().is_err());
    }
}
