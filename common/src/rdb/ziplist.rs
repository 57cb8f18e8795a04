//! The encodings older Redis versions wrote and 7.0 still reads: the
//! ziplist (`ziplist.c`, lists, hashes and sorted sets before 7.0) and the
//! zipmap (`zipmap.c`, hashes before 2.6). Read only: Petrel never writes
//! them.
//!
//! ```text
//! ziplist: total-bytes u32 LE | tail-offset u32 LE | count u16 LE | entry... | 0xFF
//! entry:   previous-length (1 byte, or 0xFE + u32 LE) | encoding (+ data)
//! zipmap:  count u8 | (len key len value free-byte value padding)... | 0xFF
//!          len: 1 byte, or 0xFE + u32 LE
//! ```

use bytes::Bytes;

use super::error::RdbError;
use super::io::le_signed;
use super::listpack::Item;

const END: u8 = 0xff;
const HEADER: usize = 10;
/// A previous-length or zipmap length that takes 4 more bytes.
const BIG_LEN: u8 = 0xfe;

const BAD_ZIPLIST: RdbError = RdbError::Bad("ziplist");
const BAD_ZIPMAP: RdbError = RdbError::Bad("zipmap");

/// Every element of ziplist `zl`, checking its header, each entry's
/// previous-length, the tail offset, the end and the count.
pub(crate) fn parse(zl: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    let bad = BAD_ZIPLIST;
    if zl.len() < HEADER + 1 {
        return Err(bad);
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let count = u16::from_le_bytes([zl[8], zl[9]]);
    if total != zl.len() || zl[total - 1] != END {
        return Err(bad);
    }
    let end = total - 1;
    let mut items = Vec::new();
    let mut p = HEADER;
    let mut prev_len = 0usize;
    let mut last_start = HEADER;
    while p < end {
        let start = p;
        let (prev, prev_size) = if zl[p] == BIG_LEN {
            let raw = zl.get(p + 1..p + 5).ok_or(bad)?;
            (
                u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize,
                5,
            )
        } else {
            (usize::from(zl[p]), 1)
        };
        if prev != prev_len {
            return Err(bad);
        }
        p += prev_size;
        let enc = *zl.get(p).ok_or(bad)?;
        let data = |n: usize, at: usize| zl.get(at..at.checked_add(n)?).filter(|_| at + n <= end);
        let (item, size) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                (Item::Str(data(n, p + 1).ok_or(bad)?), 1 + n)
            }
            1 => {
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(*zl.get(p + 1).ok_or(bad)?);
                (Item::Str(data(n, p + 2).ok_or(bad)?), 2 + n)
            }
            2 => {
                let raw = data(4, p + 1).ok_or(bad)?;
                let n = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
                (Item::Str(data(n, p + 5).ok_or(bad)?), 5 + n)
            }
            _ => match enc {
                0xc0 => (Item::Int(le_signed(data(2, p + 1).ok_or(bad)?)), 3),
                0xd0 => (Item::Int(le_signed(data(4, p + 1).ok_or(bad)?)), 5),
                0xe0 => (Item::Int(le_signed(data(8, p + 1).ok_or(bad)?)), 9),
                0xf0 => (Item::Int(le_signed(data(3, p + 1).ok_or(bad)?)), 4),
                0xfe => (Item::Int(le_signed(data(1, p + 1).ok_or(bad)?)), 2),
                0xf1..=0xfd => (Item::Int(i64::from(enc & 0x0f) - 1), 1),
                _ => return Err(bad),
            },
        };
        p += size;
        if p > end {
            return Err(bad);
        }
        items.push(item);
        prev_len = p - start;
        last_start = start;
    }
    if tail != last_start || (count != u16::MAX && usize::from(count) != items.len()) {
        return Err(bad);
    }
    Ok(items)
}

/// The field-value pairs of zipmap `zm`.
pub(crate) fn parse_zipmap(zm: &[u8]) -> Result<Vec<(Bytes, Bytes)>, RdbError> {
    let bad = BAD_ZIPMAP;
    let mut p = 1usize;
    let len = |p: &mut usize| -> Result<usize, RdbError> {
        let b = *zm.get(*p).ok_or(bad)?;
        if b == BIG_LEN {
            let raw = zm.get(*p + 1..*p + 5).ok_or(bad)?;
            *p += 5;
            Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
        } else if b == END {
            Err(bad)
        } else {
            *p += 1;
            Ok(usize::from(b))
        }
    };
    let take = |p: &mut usize, n: usize| -> Result<Bytes, RdbError> {
        let s = zm.get(*p..p.checked_add(n).ok_or(bad)?).ok_or(bad)?;
        *p += n;
        Ok(Bytes::copy_from_slice(s))
    };
    let mut pairs = Vec::new();
    loop {
        match zm.get(p) {
            None => return Err(bad),
            Some(&END) => break,
            Some(_) => {}
        }
        let n = len(&mut p)?;
        let field = take(&mut p, n)?;
        let n = len(&mut p)?;
        let free = usize::from(*zm.get(p).ok_or(bad)?);
        p += 1;
        let value = take(&mut p, n)?;
        p = p.checked_add(free).ok_or(bad)?;
        pairs.push((field, value));
    }
    if p + 1 != zm.len() {
        return Err(bad);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_6_ziplist() {
        // "a", 1, 300, 70000, -128 as redis 6 writes a list's ziplist.
        let fixed: Vec<u8> = vec![
            0x1c, 0, 0, 0, // total 28
            0x18, 0, 0, 0, // tail at 24
            5, 0, // count
            0x00, 0x01, b'a', // prev 0, 6-bit string "a"
            0x03, 0xf2, // prev 3, immediate 1
            0x02, 0xc0, 0x2c, 0x01, // prev 2, int16 300
            0x04, 0xf0, 0x70, 0x11, 0x01, // prev 4, int24 70000
            0x05, 0xfe, 0x80, // prev 5, int8 -128
            0xff,
        ];
        let items = parse(&fixed).expect("parses");
        assert_eq!(
            items,
            vec![
                Item::Str(b"a"),
                Item::Int(1),
                Item::Int(300),
                Item::Int(70000),
                Item::Int(-128)
            ]
        );
        for cut in 0..fixed.len() {
            assert!(parse(&fixed[..cut]).is_err());
        }
    }

    #[test]
    fn a_zipmap() {
        let zm: &[u8] = &[
            2, 1, b'a', 1, 0, b'1', 2, b'b', b'c', 3, 2, b'x', b'y', b'z', 0, 0, 0xff,
        ];
        assert_eq!(
            parse_zipmap(zm),
            Ok(vec![
                (Bytes::from_static(b"a"), Bytes::from_static(b"1")),
                (Bytes::from_static(b"bc"), Bytes::from_static(b"xyz")),
            ])
        );
        for cut in 0..zm.len() {
            assert!(parse_zipmap(&zm[..cut]).is_err());
        }
    }
}
