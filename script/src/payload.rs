//! `FUNCTION DUMP` / `FUNCTION RESTORE` payloads in Redis 7.0's format, so
//! a payload from redis-server restores here and one from here restores in
//! redis-server: per library the RDB opcode `FUNCTION2` (245) and its code
//! as an RDB string, then the RDB version (10, two bytes little-endian) and
//! a CRC64 (Jones, as Redis computes it; eight bytes little-endian) of
//! everything before it.
//!
//! Strings are written as Redis writes them with `rdbcompression yes`:
//! LZF-compressed (Redis's `lzf_compress`, ported) when longer than 20
//! bytes and it saves at least 4, verbatim otherwise; so the same libraries
//! dump to the same bytes. Reading takes every string encoding and the
//! older `FUNCTION` opcode (246) of 7.0's release candidates.

use bytes::Bytes;
use crc::{Crc, CRC_64_REDIS};

/// The RDB version Redis 7.0 writes.
pub const RDB_VERSION: u16 = 10;
const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION: u8 = 246;
const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// Why a payload does not restore, as Redis's error texts (without `ERR `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    #[error("can not read data type")]
    Type,
    #[error("given type is not a function")]
    NotAFunction,
    #[error("{0}")]
    Field(&'static str),
}

/// The payload of libraries with these codes, in order.
pub fn dump<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Bytes {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        write_string(&mut out, code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

/// The library codes in a payload, in order.
pub fn parse(payload: &[u8]) -> Result<Vec<Bytes>, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::Footer);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(PayloadError::Footer);
    }
    let crc = CRC64.checksum(&payload[..payload.len() - 8]);
    if footer[2..] != crc.to_le_bytes() {
        return Err(PayloadError::Footer);
    }
    let mut r = Reader { data: body, pos: 0 };
    let mut codes = Vec::new();
    while r.pos < body.len() {
        let kind = r.byte().ok_or(PayloadError::Type)?;
        match kind {
            OPCODE_FUNCTION2 => codes.push(
                r.string()
                    .ok_or(PayloadError::Field("Failed loading library payload"))?,
            ),
            OPCODE_FUNCTION => {
                let name = r
                    .string()
                    .ok_or(PayloadError::Field("Failed loading library name"))?;
                let engine = r
                    .string()
                    .ok_or(PayloadError::Field("Failed loading engine name"))?;
                let has_desc = r.len().ok_or(PayloadError::Field(
                    "Failed loading library description indicator",
                ))?;
                if has_desc != 0 {
                    r.string()
                        .ok_or(PayloadError::Field("Failed loading library description"))?;
                }
                let blob = r
                    .string()
                    .ok_or(PayloadError::Field("Failed loading library blob"))?;
                let mut code = Vec::new();
                code.extend_from_slice(b"#!");
                code.extend_from_slice(&engine);
                code.extend_from_slice(b" name=");
                code.extend_from_slice(&name);
                code.push(b'\n');
                code.extend_from_slice(&blob);
                codes.push(Bytes::from(code));
            }
            _ => return Err(PayloadError::NotAFunction),
        }
    }
    Ok(codes)
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    let len = len as u64;
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

/// `rdbSaveRawString` with compression on (codes are never integers:
/// they start with `#!`).
fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > 20 {
        if let Some(compressed) = lzf_compress(s, s.len() - 4) {
            out.push(0xc3);
            write_len(out, compressed.len());
            write_len(out, s.len());
            out.extend_from_slice(&compressed);
            return;
        }
    }
    write_len(out, s.len());
    out.extend_from_slice(s);
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// What an RDB length field holds.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn len_or_encoding(&mut self) -> Option<Len> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            3 => Len::Encoded(first & 0x3f),
            _ if first == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().ok()?,
            ))),
            _ if first == 0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            _ => return None,
        })
    }

    fn len(&mut self) -> Option<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    fn string(&mut self) -> Option<Bytes> {
        match self.len_or_encoding()? {
            Len::Plain(n) => self
                .take(usize::try_from(n).ok()?)
                .map(Bytes::copy_from_slice),
            Len::Encoded(0) => Some(Bytes::from((self.byte()? as i8).to_string())),
            Len::Encoded(1) => Some(Bytes::from(
                i16::from_le_bytes(self.take(2)?.try_into().ok()?).to_string(),
            )),
            Len::Encoded(2) => Some(Bytes::from(
                i32::from_le_bytes(self.take(4)?.try_into().ok()?).to_string(),
            )),
            Len::Encoded(3) => {
                let compressed = usize::try_from(self.len()?).ok()?;
                let original = usize::try_from(self.len()?).ok()?;
                let data = self.take(compressed)?;
                lzf_decompress(data, original).map(Bytes::from)
            }
            Len::Encoded(_) => None,
        }
    }
}

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// Redis's `lzf_compress` (liblzf 3.6 with `VERY_FAST`): the compressed
/// bytes, or `None` when they would not fit in `out_len`.
fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    let idx = |h: u32| -> usize {
        ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
    };
    let first = |p: usize| -> u32 { (u32::from(input[p]) << 8) | u32::from(input[p + 1]) };
    let next = |v: u32, p: usize| -> u32 { (v << 8) | u32::from(input[p + 2]) };
    // Positions + 1 (0: empty).
    let mut htab = vec![0usize; HSIZE];
    let mut out = vec![0u8; out_len];
    let mut ip = 0usize;
    let mut op = 1usize; // start run
    let mut lit: usize = 0;
    let mut hval = first(ip);
    while ip + 2 < in_len {
        hval = next(hval, ip);
        let slot = idx(hval);
        let reference = htab[slot].checked_sub(1);
        htab[slot] = ip + 1;
        let matched = reference.filter(|&r| {
            r < ip
                && ip - r - 1 < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r] == input[ip]
                && input[r + 1] == input[ip + 1]
        });
        if let Some(r) = matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
                                         // liblzf checks 16 bytes before it looks at `maxlen`, so a
                                         // match may run up to the input's end past it.
            let mut open = true;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        open = false;
                        break;
                    }
                }
            }
            while open {
                len += 1;
                open = len < maxlen && input[r + len] == input[ip + len];
            }
            len -= 2; // #octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = first(ip);
            hval = next(hval, ip);
            htab[idx(hval)] = ip + 1;
            ip += 1;
            hval = next(hval, ip);
            htab[idx(hval)] = ip + 1;
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        literal(&mut out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Copies one literal byte to `out` at `op`; a run of [`MAX_LIT`] is closed
/// (its length byte written) and the next one started.
fn literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// LZF decompression to exactly `len` bytes, `None` if the data is bad.
fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 1 << 5 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(ip..ip + run)?);
            ip += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            let start = out.len().checked_sub(back)?;
            for i in 0..run + 2 {
                let b = out[start + i];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `FUNCTION DUMP` from redis-server 7.0.15 after
    /// `FUNCTION LOAD "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)"`.
    const REDIS_DUMP: &[u8] = b"\xf5\xc3@V@[\x1f#!lua name=mylib\x0aredis.register_\x0bfunction('my@\x0b\x02', @\x06`\x12\x11keys, args) return`\x0c\x07[1] end)\x0a\x00\x8dY6\xad\xc6\xe7\x07\xda";

    #[test]
    fn a_redis_payload_parses_and_dumps_back_to_the_same_bytes() {
        let codes = parse(REDIS_DUMP).expect("parses");
        assert_eq!(
            codes,
            vec![Bytes::from_static(
                b"#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)"
            )]
        );
        assert_eq!(dump(codes.iter().map(|c| &c[..])), REDIS_DUMP);
    }

    #[test]
    fn damaged_payloads_are_refused() {
        assert_eq!(parse(b"short"), Err(PayloadError::Footer));
        let mut bad = REDIS_DUMP.to_vec();
        bad[5] ^= 1;
        assert_eq!(parse(&bad), Err(PayloadError::Footer));
        let mut v = vec![1u8];
        v.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&v);
        v.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(parse(&v), Err(PayloadError::NotAFunction));
        assert_eq!(parse(&dump([])), Ok(vec![]));
    }

    #[test]
    fn compression_round_trips_on_varied_inputs() {
        let mut seed = 42u64;
        for len in 0..600usize {
            let alphabet = 1 + (len % 7) as u64 * 40;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((seed >> 33) % alphabet) as u8
                })
                .collect();
            if let Some(c) = lzf_compress(&input, len.saturating_sub(4)) {
                assert!(c.len() <= len.saturating_sub(4));
                assert_eq!(
                    lzf_decompress(&c, len).as_deref(),
                    Some(&input[..]),
                    "{len}"
                );
            }
            let payload = dump([&input[..]]);
            assert_eq!(parse(&payload), Ok(vec![Bytes::from(input)]));
        }
    }

    #[test]
    fn compression_round_trips() {
        for input in [
            &b"#!lua name=a\nredis.register_function('a', function() return 1 end)"[..],
            &b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"[..],
            &b"abcdefghijklmnopqrstuvwxyz0123456789"[..],
            &b"0123456789abcdefghijklmnopqrs0123456789abcdefghijklmnopqrs"[..],
        ] {
            let payload = dump([input]);
            assert_eq!(parse(&payload), Ok(vec![Bytes::copy_from_slice(input)]));
        }
    }
}
