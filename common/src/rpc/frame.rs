//! Frame layout: `u32 length | header | body`.
//!
//! Header (18 bytes, big-endian): `magic u8 (0xPE-ish 0xE7) | version u8 |
//! kind u8 | flags u8 | method u16 | timeout_ms u32 | request_id u64`.
//! Flags: bit 0 ([`FLAG_NO_REPLY`]) on a request asks for no response;
//! bit 1 ([`FLAG_TYPED_ERRORS`]) on a request says the caller reads typed
//! error bodies, and on an error response that its body is one (see
//! [`super::error`]). Unknown bits are ignored, so a peer that predates a
//! flag just answers as it always did.
//!
//! Frames are read with [`codec`] and written as an [`OutFrame`]: the length
//! prefix and header in a small array, the body written from where it lies.
//! A 100 MB value thus crosses a connection without being copied into a
//! frame buffer, and no connection keeps a 100 MB write buffer afterwards.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::codec::LengthDelimitedCodec;

/// First byte of every header; anything else is not a Petrel peer.
pub const MAGIC: u8 = 0xE7;
/// Wire version this build speaks. A peer accepts `VERSION` and `VERSION - 1`.
pub const VERSION: u8 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 18;
/// Largest frame accepted: a 512 MiB Redis value plus headroom.
pub const MAX_FRAME_LEN: usize = 600 << 20;

/// Flag bit of a request whose caller wants no response (its result,
/// error or not, is dropped by the callee).
pub const FLAG_NO_REPLY: u8 = 0x01;

/// Flag bit of a request whose caller reads typed error bodies, and of an
/// error response whose body is a typed [`super::error::ErrorMsg`] rather
/// than text.
pub const FLAG_TYPED_ERRORS: u8 = 0x02;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    /// A response whose body is an error: UTF-8 text, or an
    /// [`super::error::ErrorMsg`] when the header's `typed_errors` is set.
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
    /// A request that wants no response ([`FLAG_NO_REPLY`]).
    pub no_reply: bool,
    /// [`FLAG_TYPED_ERRORS`]: on a request, the caller reads typed error
    /// bodies; on a response, its error body is typed.
    pub typed_errors: bool,
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

/// Bytes of the length prefix before every frame.
pub const PREFIX_LEN: usize = 4;

/// A frame ready to write: length prefix and header, then the body untouched.
#[derive(Clone, Debug)]
pub struct OutFrame {
    head: [u8; PREFIX_LEN + HEADER_LEN],
    body: Bytes,
}

impl OutFrame {
    /// Bytes on the wire, length prefix included.
    pub fn wire_len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Writes the frame; `w` should buffer (small frames then share a
    /// write) and pass big writes through, as `tokio::io::BufWriter` does.
    pub async fn write_to<W: AsyncWrite + Unpin>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&self.head).await?;
        w.write_all(&self.body).await
    }
}

/// The frame would pass [`MAX_FRAME_LEN`]; the peer would refuse it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
pub struct TooLarge(pub usize);

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
            no_reply: false,
            typed_errors: true,
        }
    }

    /// A request the callee runs without answering: a message whose loss
    /// the caller copes with anyway, spared a response frame, a pending
    /// slot and a timer.
    pub fn one_way(method: u16, request_id: u64) -> Self {
        Header {
            no_reply: true,
            ..Header::request(method, 0, request_id)
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
            no_reply: false,
            // An error body is typed only for a caller that reads that form.
            typed_errors: self.typed_errors,
        }
    }

    fn put(&self, buf: &mut impl BufMut) {
        buf.put_u8(MAGIC);
        buf.put_u8(self.version);
        buf.put_u8(match self.kind {
            Kind::Request => 0,
            Kind::Response => 1,
            Kind::ErrorResponse => 2,
        });
        let mut flags = 0;
        if self.no_reply {
            flags |= FLAG_NO_REPLY;
        }
        if self.typed_errors {
            flags |= FLAG_TYPED_ERRORS;
        }
        buf.put_u8(flags);
        buf.put_u16(self.method);
        buf.put_u32(self.timeout_ms);
        buf.put_u64(self.request_id);
    }

    /// Header followed by `body`, ready for the length codec.
    pub fn encode_with(&self, body: &[u8]) -> Bytes {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + body.len());
        self.put(&mut buf);
        buf.put_slice(body);
        buf.freeze()
    }

    /// The whole frame (length prefix, header, `body`) for writing, without
    /// copying `body`; refused when the peer's codec would refuse it.
    pub fn frame(&self, body: Bytes) -> Result<OutFrame, TooLarge> {
        let len = HEADER_LEN + body.len();
        if len > MAX_FRAME_LEN {
            return Err(TooLarge(len));
        }
        let mut head = [0u8; PREFIX_LEN + HEADER_LEN];
        let mut at = &mut head[..];
        // MAX_FRAME_LEN < u32::MAX, so the length fits.
        at.put_u32(len as u32);
        self.put(&mut at);
        Ok(OutFrame { head, body })
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
        let flags = frame.get_u8();
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
                no_reply: flags & FLAG_NO_REPLY != 0,
                typed_errors: flags & FLAG_TYPED_ERRORS != 0,
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
        assert!(!back.no_reply);
        let o = Header::one_way(102, 9);
        let (back, _) = Header::decode(o.encode_with(b"")).expect("decodes");
        assert_eq!(back, o);
        assert!(back.no_reply);
        assert!(
            !o.response(true).no_reply,
            "a response never carries the flag"
        );
        assert!(h.typed_errors, "this build reads typed errors");
        assert!(r.typed_errors, "so its errors are answered typed");
        // A request from a peer that predates typed errors (no flag bit)
        // gets text errors.
        let mut old = BytesMut::from(&h.encode_with(b"")[..]);
        old[3] = 0;
        let (back, _) = Header::decode(old.freeze()).expect("decodes");
        assert!(!back.typed_errors);
        assert!(!back.response(false).typed_errors);
        // Unknown flag bits are ignored.
        let mut raw = BytesMut::from(&h.encode_with(b"")[..]);
        raw[3] |= 0x80;
        let (back, _) = Header::decode(raw.freeze()).expect("decodes");
        assert_eq!(back, h);
    }

    /// Frames written as [`OutFrame`]s read back through [`codec`].
    #[tokio::test]
    async fn out_frames_read_back_through_the_codec() {
        use futures::StreamExt;
        use tokio_util::codec::FramedRead;

        let big = Bytes::from((0..3_000_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let frames = [
            Header::request(7, 100, 1).frame(Bytes::from_static(b"small")),
            Header::request(8, 0, 2).frame(big.clone()),
            Header::request(9, 0, 3).response(false).frame(Bytes::new()),
        ];
        let (mut w, r) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            let mut w = tokio::io::BufWriter::with_capacity(16 * 1024, &mut w);
            for f in &frames {
                let f = f.as_ref().expect("fits");
                f.write_to(&mut w).await.expect("write");
            }
            w.flush().await.expect("flush");
        });
        let mut read = FramedRead::new(r, codec());
        let (h, body) = Header::decode(read.next().await.unwrap().unwrap().freeze()).unwrap();
        assert_eq!((h.method, h.timeout_ms, h.request_id), (7, 100, 1));
        assert_eq!(&body[..], b"small");
        let (h, body) = Header::decode(read.next().await.unwrap().unwrap().freeze()).unwrap();
        assert_eq!((h.method, h.request_id), (8, 2));
        assert!(body == big, "3 MB body intact");
        let (h, body) = Header::decode(read.next().await.unwrap().unwrap().freeze()).unwrap();
        assert_eq!(
            (h.kind, h.request_id, body.len()),
            (Kind::ErrorResponse, 3, 0)
        );
        writer.await.expect("writer");
    }

    #[test]
    fn frames_past_the_limit_are_refused_before_sending() {
        let h = Header::request(1, 0, 1);
        // Zeroed (calloc'd) and never touched: costs no real memory.
        let at_limit = Bytes::from(vec![0u8; MAX_FRAME_LEN - HEADER_LEN]);
        let f = h.frame(at_limit).expect("exactly the limit fits");
        assert_eq!(f.wire_len(), PREFIX_LEN + MAX_FRAME_LEN);
        let over = Bytes::from(vec![0u8; MAX_FRAME_LEN - HEADER_LEN + 1]);
        assert_eq!(h.frame(over).unwrap_err(), TooLarge(MAX_FRAME_LEN + 1));
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
