//! RDB's primitives: lengths, strings (verbatim, integer-encoded or LZF),
//! doubles and millisecond times, read from a byte slice that is never
//! trusted and written as Redis 7.0 writes them.

use bytes::Bytes;

use super::error::RdbError;
use super::lzf;

/// The string encodings behind a length byte `11xxxxxx` (`RDB_ENC_*`).
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Reads RDB primitives from an untrusted slice; every failure is an
/// [`RdbError`] naming what was being read, never a panic.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// What an RDB length field holds.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.pos == self.data.len()
    }

    pub fn byte(&mut self, what: &'static str) -> Result<u8, RdbError> {
        let b = *self.data.get(self.pos).ok_or(RdbError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RdbError> {
        let end = self.pos.checked_add(n).ok_or(RdbError::Truncated(what))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(RdbError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RdbError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn len_or_encoding(&mut self, what: &'static str) -> Result<Len, RdbError> {
        let first = self.byte(what)?;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte(what)?)),
            3 => Len::Encoded(first & 0x3f),
            _ if first == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array(what)?))),
            _ if first == 0x81 => Len::Plain(u64::from_be_bytes(self.array(what)?)),
            _ => return Err(RdbError::Bad(what)),
        })
    }

    /// A length (`rdbLoadLen`).
    pub fn len(&mut self, what: &'static str) -> Result<u64, RdbError> {
        match self.len_or_encoding(what)? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(RdbError::Bad(what)),
        }
    }

    /// A count of things each at least `min_bytes` long in the payload: a
    /// count the remaining bytes cannot hold is refused before anything is
    /// reserved for it.
    pub fn count(&mut self, min_bytes: usize, what: &'static str) -> Result<usize, RdbError> {
        let n = usize::try_from(self.len(what)?).map_err(|_| RdbError::Bad(what))?;
        let left = self.data.len() - self.pos;
        if n.saturating_mul(min_bytes.max(1)) > left {
            return Err(RdbError::Truncated(what));
        }
        Ok(n)
    }

    /// A string in any of its encodings (`rdbGenericLoadStringObject`).
    pub fn string(&mut self, what: &'static str) -> Result<Bytes, RdbError> {
        Ok(match self.len_or_encoding(what)? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated(what))?;
                Bytes::copy_from_slice(self.take(n, what)?)
            }
            Len::Encoded(ENC_INT8) => Bytes::from((self.byte(what)? as i8).to_string()),
            Len::Encoded(ENC_INT16) => {
                Bytes::from(i16::from_le_bytes(self.array(what)?).to_string())
            }
            Len::Encoded(ENC_INT32) => {
                Bytes::from(i32::from_le_bytes(self.array(what)?).to_string())
            }
            Len::Encoded(ENC_LZF) => {
                let compressed =
                    usize::try_from(self.len(what)?).map_err(|_| RdbError::Bad(what))?;
                let original = usize::try_from(self.len(what)?).map_err(|_| RdbError::Bad(what))?;
                let data = self.take(compressed, what)?;
                Bytes::from(lzf::decompress(data, original).ok_or(RdbError::Bad(what))?)
            }
            Len::Encoded(_) => return Err(RdbError::Bad(what)),
        })
    }

    /// A double as ZSET (version 1) writes it: a length byte (253 nan, 254
    /// +inf, 255 -inf) and that many ASCII characters.
    pub fn text_double(&mut self, what: &'static str) -> Result<f64, RdbError> {
        match self.byte(what)? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_double(self.take(usize::from(n), what)?).ok_or(RdbError::Bad(what)),
        }
    }

    /// A binary double, little-endian (ZSET_2).
    pub fn binary_double(&mut self, what: &'static str) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// A time in milliseconds, 8 bytes little-endian.
    pub fn millis(&mut self, what: &'static str) -> Result<u64, RdbError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A raw 128-bit stream id, big-endian ms then seq.
    pub fn raw_id(&mut self, what: &'static str) -> Result<[u8; 16], RdbError> {
        self.array(what)
    }
}

/// A score written as text (`strtod` of a ziplist or listpack element, or
/// ZSET's version-1 doubles); `None` for anything else.
pub fn parse_double(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ if s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// A little-endian two's-complement integer of `raw.len()` bytes (1 to 8),
/// sign-extended: the integer elements of listpacks and ziplists.
pub(crate) fn le_signed(raw: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for (i, &byte) in raw.iter().enumerate() {
        v |= i64::from(byte) << (8 * i);
    }
    let shift = 64 - 8 * raw.len() as u32;
    (v << shift) >> shift
}

/// `rdbSaveLen`.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | 0x40);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbSaveRawString` with `rdbcompression yes`: a short string that reads
/// as a 32-bit integer is written as one; a string longer than 20 bytes is
/// LZF-compressed when that saves at least 4 bytes; anything else verbatim.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(n) = crate::num::parse_i64(s) {
            if let Ok(n) = i8::try_from(n) {
                out.extend_from_slice(&[0xc0 | ENC_INT8, n as u8]);
                return;
            }
            if let Ok(n) = i16::try_from(n) {
                out.push(0xc0 | ENC_INT16);
                out.extend_from_slice(&n.to_le_bytes());
                return;
            }
            if let Ok(n) = i32::try_from(n) {
                out.push(0xc0 | ENC_INT32);
                out.extend_from_slice(&n.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(compressed) = lzf::compress(s, s.len() - 4) {
            out.push(0xc0 | ENC_LZF);
            write_len(out, compressed.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&compressed);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A binary double, little-endian (ZSET_2).
pub fn write_binary_double(out: &mut Vec<u8>, d: f64) {
    out.extend_from_slice(&d.to_le_bytes());
}

/// A time in milliseconds, 8 bytes little-endian.
pub fn write_millis(out: &mut Vec<u8>, ms: u64) {
    out.extend_from_slice(&ms.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, s);
        out
    }

    #[test]
    fn strings_take_redis_encodings() {
        assert_eq!(written(b"5"), [0xc0, 5]);
        assert_eq!(written(b"-128"), [0xc0, 0x80]);
        assert_eq!(written(b"1000"), [0xc1, 0xe8, 0x03]);
        assert_eq!(written(b"100000"), [0xc2, 0xa0, 0x86, 0x01, 0x00]);
        assert_eq!(written(b"05"), [2, b'0', b'5'], "not canonical");
        assert_eq!(written(b"4294967296")[0], 10, "past 32 bits: verbatim");
        let long = [b'a'; 40];
        assert_eq!(written(&long)[0], 0xc3);
        for s in [
            &b""[..],
            b"5",
            b"-7",
            b"1000",
            b"100000",
            b"hello",
            &long,
            b"4294967296",
        ] {
            let out = written(s);
            let mut r = Reader::new(&out);
            assert_eq!(r.string("s").as_deref(), Ok(s));
            assert!(r.is_done());
        }
    }

    #[test]
    fn lengths_round_trip() {
        for n in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            assert_eq!(Reader::new(&out).len("n"), Ok(n));
        }
        assert!(Reader::new(&[0x82]).len("n").is_err());
        assert!(Reader::new(&[0x80, 0]).len("n").is_err());
    }

    #[test]
    fn counts_beyond_the_payload_are_refused() {
        let mut out = Vec::new();
        write_len(&mut out, 1 << 40);
        assert!(Reader::new(&out).count(1, "n").is_err());
    }

    #[test]
    fn text_doubles() {
        assert_eq!(Reader::new(&[254]).text_double("d"), Ok(f64::INFINITY));
        assert_eq!(Reader::new(b"\x031.5").text_double("d"), Ok(1.5));
        assert!(Reader::new(b"\x03abc").text_double("d").is_err());
        assert!(Reader::new(b"\x05").text_double("d").is_err());
    }
}
