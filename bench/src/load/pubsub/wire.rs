//! What the pub/sub workload puts on the wire and reads back: the stamp at
//! the front of every published message, and the frames a subscriber
//! connection receives.
//!
//! A message is `SSSSSSSSSSSSSSSSPPPPQQQQQQQQQQQQ` (hex: the send time in
//! nanoseconds since the run's epoch, the publisher, its sequence number)
//! padded with `x` to the message size. Hex keeps it printable, so it
//! reads the same through any RESP path.

use crate::load::client::{self, ProtocolError, Reply};

/// Bytes of the stamp; messages are never shorter.
pub(crate) const STAMP_LEN: usize = 32;

/// Who sent a message, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Nanoseconds since the run's epoch when its `PUBLISH` was written.
    pub(crate) sent: u64,
    pub(crate) publisher: u16,
    /// The publisher's count of messages before this one (48 bits).
    pub(crate) seq: u64,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn put_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

fn hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(v))
    })
}

impl Stamp {
    /// The message carrying this stamp, `size` bytes (at least [`STAMP_LEN`]).
    pub(crate) fn message(&self, size: usize) -> Vec<u8> {
        let mut out = vec![b'x'; size.max(STAMP_LEN)];
        put_hex(&mut out[0..16], self.sent);
        put_hex(&mut out[16..20], u64::from(self.publisher));
        put_hex(&mut out[20..32], self.seq);
        out
    }

    /// The stamp at the front of `message`, if it has one.
    pub(crate) fn read(message: &[u8]) -> Option<Stamp> {
        let s = message.get(..STAMP_LEN)?;
        Some(Stamp {
            sent: hex(&s[0..16])?,
            publisher: u16::try_from(hex(&s[16..20])?).ok()?,
            seq: hex(&s[20..32])?,
        })
    }
}

/// One frame a subscriber connection received.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// `message` push: `[message, channel, payload]`.
    Message {
        channel: &'a [u8],
        payload: &'a [u8],
    },
    /// Anything else (a subscribe confirmation, an error), parsed whole.
    Other(Reply),
}

/// The front of a message push, in RESP2 (`*`) and RESP3 (`>`).
const MESSAGE_HEADS: [&[u8]; 2] = [b"*3\r\n$7\r\nmessage\r\n", b">3\r\n$7\r\nmessage\r\n"];

/// The next frame at the front of `buf`: `Ok(None)` when more bytes are
/// needed, else the frame and the bytes it used. Message pushes, the bulk
/// of what arrives, are read in place without allocating.
pub(crate) fn next_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ProtocolError> {
    if let Some(head) = MESSAGE_HEADS.iter().find(|h| buf.starts_with(h)) {
        let Some((channel, at)) = bulk(buf, head.len())? else {
            return Ok(None);
        };
        let Some((payload, end)) = bulk(buf, at)? else {
            return Ok(None);
        };
        return Ok(Some((Frame::Message { channel, payload }, end)));
    }
    if buf.len() < MESSAGE_HEADS[0].len() && MESSAGE_HEADS.iter().any(|h| h.starts_with(buf)) {
        return Ok(None);
    }
    Ok(client::parse(buf)?.map(|(reply, used)| (Frame::Other(reply), used)))
}

/// Largest bulk string accepted, as in [`client::parse`] (Redis's
/// `proto-max-bulk-len`): a bad length must not make us wait forever.
const MAX_BULK: usize = 512 * 1024 * 1024;

/// The bulk string at `buf[at..]`: its bytes and where the next item starts.
fn bulk(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buf[at..];
    let Some(&first) = rest.first() else {
        return Ok(None);
    };
    if first != b'$' {
        return Err(ProtocolError(
            "a message push item is not a bulk string".into(),
        ));
    }
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let len = rest[1..nl]
        .strip_suffix(b"\r")
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<usize>().ok())
        .filter(|&n| n <= MAX_BULK)
        .ok_or_else(|| ProtocolError("bad bulk length in a message push".into()))?;
    let start = nl + 1;
    let end = start + len + 2;
    if rest.len() < end {
        return Ok(None);
    }
    if &rest[end - 2..end] != b"\r\n" {
        return Err(ProtocolError("bulk string without CRLF".into()));
    }
    Ok(Some((&rest[start..end - 2], at + end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_the_message_and_pads_it() {
        let s = Stamp {
            sent: 0x0123_4567_89ab_cdef,
            publisher: 65535,
            seq: (1 << 48) - 1,
        };
        let m = s.message(64);
        assert_eq!(m.len(), 64);
        assert_eq!(&m[..32], b"0123456789abcdefffffffffffffffff");
        assert!(m[32..].iter().all(|&b| b == b'x'));
        assert_eq!(Stamp::read(&m), Some(s));
        // Never shorter than the stamp.
        assert_eq!(s.message(4).len(), STAMP_LEN);
        assert_eq!(Stamp::read(&m[..31]), None);
        assert_eq!(Stamp::read(b"0123456789abcdefFFFF000000000000"), None);
        assert_eq!(Stamp::read(&[b'z'; 40]), None);
    }

    #[test]
    fn reads_message_pushes_in_place_and_other_frames_whole() {
        let push = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
        let mut buf = push.to_vec();
        buf.extend_from_slice(b":1\r\n");
        let (f, used) = next_frame(&buf).unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Message {
                channel: b"ch",
                payload: b"hello"
            }
        );
        assert_eq!(used, push.len());
        assert_eq!(
            next_frame(&buf[used..]).unwrap(),
            Some((Frame::Other(Reply::Int(1)), 4))
        );
        let resp3 = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$0\r\n\r\n";
        assert!(matches!(
            next_frame(resp3).unwrap(),
            Some((Frame::Message { payload: b"", .. }, 30))
        ));
        let confirm = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
        let (f, used) = next_frame(confirm).unwrap().unwrap();
        assert_eq!(used, confirm.len());
        let Frame::Other(Reply::Array(Some(items))) = f else {
            panic!("{f:?}");
        };
        assert_eq!(items[0], Reply::Bulk(Some(b"subscribe".to_vec())));
    }

    #[test]
    fn partial_frames_wait_for_more_and_garbage_is_an_error() {
        let push = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
        for cut in 0..push.len() {
            assert_eq!(next_frame(&push[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n:1\r\n").is_err());
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n$x\r\n").is_err());
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n$1\r\nabc\r\n").is_err());
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n$99999999999999999999999\r\n").is_err());
        assert!(next_frame(b"*3\r\n$7\r\nmessage\r\n$999999999999\r\n").is_err());
        assert!(next_frame(b"?\r\n").is_err());
    }
}
