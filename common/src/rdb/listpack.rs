//! Redis's listpack (`listpack.c`): the compact encoding of small hashes,
//! sorted sets, quicklist nodes and stream nodes.
//!
//! ```text
//! total-bytes u32 LE | element-count u16 LE | element... | 0xFF
//! element: encoding (+ data) | back-length of the encoding and data
//! ```
//!
//! An element is an integer (7, 13, 16, 24, 32 or 64 bits) or a string (6,
//! 12 or 32-bit length). A string that reads as a 64-bit integer
//! (`string2ll`'s rules) is always stored as an integer, so writing gives
//! Redis's bytes.

use bytes::Bytes;

use super::error::RdbError;
use super::io::le_signed;

/// The end byte.
const END: u8 = 0xff;
/// Header: total bytes and element count.
const HEADER: usize = 6;
/// The element count when it is too big for the header's 16 bits.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Item<'_> {
    /// The element as a string (an integer in decimal).
    pub(crate) fn to_bytes(&self) -> Bytes {
        match self {
            Item::Int(n) => Bytes::from(n.to_string()),
            Item::Str(s) => Bytes::copy_from_slice(s),
        }
    }

    /// The element as an integer, if it is one.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Item::Int(n) => Some(*n),
            Item::Str(s) => crate::num::parse_i64(s),
        }
    }
}

const BAD: RdbError = RdbError::Bad("listpack");

/// Every element of listpack `lp`, checking its header, each element's
/// encoding and back-length, its end and its count.
pub(crate) fn parse(lp: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    if lp.len() < HEADER + 1 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    let count = u16::from_le_bytes([lp[4], lp[5]]);
    if total != lp.len() || lp[total - 1] != END {
        return Err(BAD);
    }
    let body = &lp[HEADER..total - 1];
    let mut items = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let (item, len) = element(&body[p..])?;
        let back = backlen_size(len as u64);
        let encoded = body.get(p + len..p + len + back).ok_or(BAD)?;
        if decode_backlen(encoded) != Some(len as u64) {
            return Err(BAD);
        }
        items.push(item);
        p += len + back;
    }
    if count != COUNT_UNKNOWN && usize::from(count) != items.len() {
        return Err(BAD);
    }
    Ok(items)
}

/// The element at the start of `p` and the bytes of its encoding and data.
fn element(p: &[u8]) -> Result<(Item<'_>, usize), RdbError> {
    let b = *p.first().ok_or(BAD)?;
    let bytes = |n: usize| p.get(1..1 + n).ok_or(BAD);
    let string = |len_bytes: usize, len: usize| -> Result<(Item<'_>, usize), RdbError> {
        let start = 1 + len_bytes;
        let s = p
            .get(start..start.checked_add(len).ok_or(BAD)?)
            .ok_or(BAD)?;
        Ok((Item::Str(s), start + len))
    };
    Ok(match b {
        0x00..=0x7f => (Item::Int(i64::from(b)), 1),
        0x80..=0xbf => string(0, usize::from(b & 0x3f))?,
        0xc0..=0xdf => {
            let v = (i64::from(b & 0x1f) << 8) | i64::from(*p.get(1).ok_or(BAD)?);
            (Item::Int((v << 51) >> 51), 2)
        }
        0xe0..=0xef => string(
            1,
            (usize::from(b & 0x0f) << 8) | usize::from(*p.get(1).ok_or(BAD)?),
        )?,
        0xf0 => {
            let raw = bytes(4)?;
            string(
                4,
                u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize,
            )?
        }
        0xf1 => (Item::Int(le_signed(bytes(2)?)), 3),
        0xf2 => (Item::Int(le_signed(bytes(3)?)), 4),
        0xf3 => (Item::Int(le_signed(bytes(4)?)), 5),
        0xf4 => (Item::Int(le_signed(bytes(8)?)), 9),
        _ => return Err(BAD),
    })
}

/// Bytes of the back-length of an element of `len` bytes.
fn backlen_size(len: u64) -> usize {
    match len {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// Bytes of an integer's encoding (`lpEncodeIntegerGetType`).
fn int_encoding(v: i64) -> u64 {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    }
}

/// Bytes of one integer element, back-length included.
pub fn int_size(v: i64) -> u64 {
    let enc = int_encoding(v);
    enc + backlen_size(enc) as u64
}

/// Bytes of one string element, back-length included (an integer when
/// `lpStringToInt64` reads it as one: `string2ll`'s rules).
pub fn str_size(s: &[u8]) -> u64 {
    let enc = match crate::num::parse_i64(s) {
        Some(v) => int_encoding(v),
        None => {
            let len = s.len() as u64;
            match len {
                0..=63 => 1 + len,
                64..=4095 => 2 + len,
                _ => 5 + len,
            }
        }
    };
    enc + backlen_size(enc) as u64
}

/// Reads a back-length written by [`write_backlen`] (most significant
/// 7 bits first, every byte but the first flagged).
fn decode_backlen(raw: &[u8]) -> Option<u64> {
    let (first, rest) = raw.split_first()?;
    if first & 0x80 != 0 || rest.iter().any(|b| b & 0x80 == 0) {
        return None;
    }
    Some(
        raw.iter()
            .fold(0u64, |v, &b| (v << 7) | u64::from(b & 0x7f)),
    )
}

fn write_backlen(out: &mut Vec<u8>, len: u64) {
    let n = backlen_size(len);
    for i in (0..n).rev() {
        let part = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i == n - 1 { part } else { part | 0x80 });
    }
}

/// Builds a listpack element by element, as `lpAppend` and
/// `lpAppendInteger` do.
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }
}

impl Builder {
    /// Appends an integer in its smallest encoding.
    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        let start = self.buf.len();
        match v {
            0..=127 => self.buf.push(v as u8),
            -4096..=4095 => {
                let u = (v as u64) & 0x1fff;
                self.buf.push(0xc0 | (u >> 8) as u8);
                self.buf.push(u as u8);
            }
            -32768..=32767 => {
                self.buf.push(0xf1);
                self.buf.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                self.buf.push(0xf2);
                self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            -2_147_483_648..=2_147_483_647 => {
                self.buf.push(0xf3);
                self.buf.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                self.buf.push(0xf4);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        let len = (self.buf.len() - start) as u64;
        write_backlen(&mut self.buf, len);
        self.count += 1;
        self
    }

    /// Appends a string, as an integer when it reads as one.
    pub(crate) fn string(&mut self, s: &[u8]) -> &mut Self {
        if let Some(v) = crate::num::parse_i64(s) {
            return self.int(v);
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xe0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let len = (self.buf.len() - start) as u64;
        write_backlen(&mut self.buf, len);
        self.count += 1;
        self
    }

    /// The listpack's bytes so far, were it finished now.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Elements so far.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The finished listpack.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_round_trips() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ];
        let long = vec![b'x'; 5000];
        let strings: [&[u8]; 6] = [b"", b"a", &[b'y'; 63], &[b'z'; 64], &[b'w'; 4095], &long];
        let mut b = Builder::default();
        for &i in &ints {
            b.int(i);
        }
        for s in strings {
            b.string(s);
        }
        b.string(b"12");
        let lp = b.finish();
        let items = parse(&lp).expect("parses");
        let mut want: Vec<Item<'_>> = ints.iter().map(|&i| Item::Int(i)).collect();
        want.extend(strings.iter().map(|s| Item::Str(s)));
        want.push(Item::Int(12));
        assert_eq!(items, want);
    }

    #[test]
    fn redis_bytes() {
        // HSET h a 1 in redis-server 7.0: the listpack of a small hash.
        let mut b = Builder::default();
        b.string(b"a").string(b"1");
        assert_eq!(
            b.finish(),
            [0x0c, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0x01, 1, 0xff]
        );
        let mut b = Builder::default();
        b.int(-1).string(&[b'q'; 200]);
        let lp = b.finish();
        // 13-bit -1, then a 12-bit length string with a 2-byte back-length.
        assert_eq!(&lp[6..9], &[0xdf, 0xff, 2]);
        assert_eq!(&lp[9..11], &[0xe0, 200]);
        assert_eq!(&lp[lp.len() - 3..lp.len() - 1], &[0x01, 0xca]);
    }

    #[test]
    fn damage_is_refused() {
        let mut b = Builder::default();
        b.string(b"hello").int(300);
        let lp = b.finish();
        assert!(parse(&lp).is_ok());
        for cut in 0..lp.len() {
            assert!(parse(&lp[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..lp.len() {
            let mut bad = lp.clone();
            bad[i] ^= 0x40;
            let _ = parse(&bad);
        }
        let mut wrong_count = lp.clone();
        wrong_count[4] = 3;
        assert!(parse(&wrong_count).is_err());
    }
}
