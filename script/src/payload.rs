//! `FUNCTION DUMP` / `FUNCTION RESTORE` payloads in Redis 7.0's format, so
//! a payload from redis-server restores here and one from here restores in
//! redis-server: per library the RDB opcode `FUNCTION2` (245) and its code
//! as an RDB string, then the RDB version (10, two bytes little-endian) and
//! a CRC64 (Jones, as Redis computes it; eight bytes little-endian) of
//! everything before it.
//!
//! Strings, the footer and its CRC are `petrel_common::rdb`'s (as Redis
//! writes them with `rdbcompression yes`), so the same libraries dump to
//! the same bytes. Reading takes every string encoding and the older
//! `FUNCTION` opcode (246) of 7.0's release candidates.

use bytes::Bytes;
use petrel_common::rdb::io::{write_string, Reader};
use petrel_common::rdb::{seal, unseal, RdbError};

const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION: u8 = 246;

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
    Bytes::from(seal(out))
}

/// The library codes in a payload, in order.
pub fn parse(payload: &[u8]) -> Result<Vec<Bytes>, PayloadError> {
    let body = unseal(payload).map_err(|_| PayloadError::Footer)?;
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    let field = |what: &'static str| move |_: RdbError| PayloadError::Field(what);
    while !r.is_done() {
        let kind = r.byte("type").map_err(|_| PayloadError::Type)?;
        match kind {
            OPCODE_FUNCTION2 => codes.push(
                r.string("library")
                    .map_err(field("Failed loading library payload"))?,
            ),
            OPCODE_FUNCTION => {
                let name = r
                    .string("name")
                    .map_err(field("Failed loading library name"))?;
                let engine = r
                    .string("engine")
                    .map_err(field("Failed loading engine name"))?;
                let has_desc = r
                    .len("description indicator")
                    .map_err(field("Failed loading library description indicator"))?;
                if has_desc != 0 {
                    r.string("description")
                        .map_err(field("Failed loading library description"))?;
                }
                let blob = r
                    .string("blob")
                    .map_err(field("Failed loading library blob"))?;
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
        assert_eq!(parse(&seal(vec![1u8])), Err(PayloadError::NotAFunction));
        assert_eq!(parse(&dump([])), Ok(vec![]));
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
