//! Frame layout: `u32 length | header | body`.
//!
//! Header (18 bytes, big-endian): `magic u8 (0xPE-ish 0xE7) | version u8 |
//! kind u8 | flags u8 | method u16 | timeout_ms u32 | request_id u64`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::LengthDelimitedCodec;

/// First byte of every header; anything else is not a Petrel peer.
pub const MAGIC: u8 = 0xE7;
/// Wire version this build speaks. A peer accepts `VERSION` and `VERSION - 1`.
pub const VERSION: u8 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 18;
/// Largest frame accepted: a 512 MiB Redis value plus headroom.
pub const MAX_FRAME_LEN: usize = 600 << 20;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    /// A response whose body is a UTF-8 error text.
    ErrorResponse,
}

/// The fixed part of every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: Kind,
    pub method: u16,
    /// Time the caller will wait, so the callee can give up early.
    pub timeout_ms: u32,
    pub request_id: u64,
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than the header")]
    Short(usize),
    #[error("bad magic byte {0:#x}")]
    BadMagic(u8),
    #[error("unsupported wire version {0}")]
    BadVersion(u8),
    #[error("unknown frame kind {0}")]
    BadKind(u8),
}

/// The codec for the length prefix, capped at [`MAX_FRAME_LEN`].
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_LEN)
        .new_codec()
}

impl Header {
    pub fn request(method: u16, timeout_ms: u32, request_id: u64) -> Self {
        Header {
            version: VERSION,
            kind: Kind::Request,
            method,
            timeout_ms,
            request_id,
        }
    }

    /// A response header answering `self`.
    pub fn response(&self, ok: bool) -> Self {
        Header {
            version: VERSION,
            kind: if ok {
                Kind::Response
            } else {
                Kind::ErrorResponse
            },
            method: self.method,
            timeout_ms: 0,
            request_id: self.request_id,
        }
    }

    /// Header followed by `body`, ready for the length codec.
    pub fn encode_with(&self, body: &[u8]) -> Bytes {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + body.len());
        buf.put_u8(MAGIC);
        buf.put_u8(self.version);
        buf.put_u8(match self.kind {
            Kind::Request => 0,
            Kind::Response => 1,
            Kind::ErrorResponse => 2,
        });
        buf.put_u8(0);
        buf.put_u16(self.method);
        buf.put_u32(self.timeout_ms);
        buf.put_u64(self.request_id);
        buf.put_slice(body);
        buf.freeze()
    }

    /// Splits a frame into its header and body (the body is not copied).
    pub fn decode(mut frame: Bytes) -> Result<(Header, Bytes), FrameError> {
        if frame.len() < HEADER_LEN {
            return Err(FrameError::Short(frame.len()));
        }
        let magic = frame.get_u8();
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        let version = frame.get_u8();
        if version != VERSION && version + 1 != VERSION {
            return Err(FrameError::BadVersion(version));
        }
        let kind = match frame.get_u8() {
            0 => Kind::Request,
            1 => Kind::Response,
            2 => Kind::ErrorResponse,
            k => return Err(FrameError::BadKind(k)),
        };
        let _flags = frame.get_u8();
        let method = frame.get_u16();
        let timeout_ms = frame.get_u32();
        let request_id = frame.get_u64();
        Ok((
            Header {
                version,
                kind,
                method,
                timeout_ms,
                request_id,
            },
            frame,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header::request(100, 2500, 0xdead_beef_0001);
        let (back, body) = Header::decode(h.encode_with(b"body")).expect("decodes");
        assert_eq!(back, h);
        assert_eq!(&body[..], b"body");
        let r = h.response(false);
        let (back, _) = Header::decode(r.encode_with(b"")).expect("decodes");
        assert_eq!(back.kind, Kind::ErrorResponse);
        assert_eq!(back.request_id, h.request_id);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            Header::decode(Bytes::from_static(b"short")),
            Err(FrameError::Short(5))
        );
        let mut bad = BytesMut::from(&Header::request(1, 0, 1).encode_with(b"")[..]);
        bad[0] = 0x00;
        assert_eq!(
            Header::decode(bad.clone().freeze()),
            Err(FrameError::BadMagic(0))
        );
        bad[0] = MAGIC;
        bad[1] = 99;
        assert_eq!(
            Header::decode(bad.freeze()),
            Err(FrameError::BadVersion(99))
        );
    }
}
