//! Stream entry ids (`<ms>-<seq>`) and how Redis 7.0 parses them.

use std::fmt;

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::cmd::outcome::CmdError;
use crate::cmd::parse::option;

/// `ERR Invalid stream ID specified as stream command argument`.
pub(crate) const INVALID: &str = "ERR Invalid stream ID specified as stream command argument";

/// An entry id: milliseconds and sequence, ordered as a 128-bit number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub(crate) const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The last possible id.
    pub(crate) const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub(crate) const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// Whether it is `0-0`.
    pub(crate) fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next id (`streamIncrID`); `None` past the last one.
    pub(crate) fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous id (`streamDecrID`); `None` before `0-0`.
    pub(crate) fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The 16 big-endian bytes that sort like the id (Redis's radix-tree key).
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// The id of 16 bytes made by [`StreamId::to_bytes`].
    pub(crate) fn from_bytes(raw: &[u8]) -> Option<StreamId> {
        let ms: [u8; 8] = raw.get(..8)?.try_into().ok()?;
        let seq: [u8; 8] = raw.get(8..16)?.try_into().ok()?;
        (raw.len() == 16).then(|| StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq)))
    }

    /// The id as a bulk string reply.
    pub(crate) fn reply(self) -> Reply {
        Reply::Bulk(Bytes::from(self.to_string()))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// How an id argument is read (`streamGenericParseIDOrReply`).
#[derive(Clone, Copy)]
pub(crate) struct IdRules {
    /// The sequence of an id written as `<ms>` alone.
    pub(crate) missing_seq: u64,
    /// `-` and `+` are refused.
    pub(crate) strict: bool,
    /// `<ms>-*` is accepted (XADD).
    pub(crate) auto_seq: bool,
}

impl IdRules {
    /// A strict id (no `-`/`+`), missing sequence 0: most commands' ids.
    pub(crate) const STRICT: IdRules = IdRules {
        missing_seq: 0,
        strict: true,
        auto_seq: false,
    };
}

/// A parsed id and whether its sequence was given (false for `<ms>-*`).
pub(crate) fn parse_with(arg: &[u8], rules: IdRules) -> Result<(StreamId, bool), CmdError> {
    let invalid = || CmdError::reply(INVALID);
    // Redis copies the argument into a 128-byte buffer first.
    if arg.len() > 127 {
        return Err(invalid());
    }
    let buf = option(arg);
    if buf == b"-" || buf == b"+" {
        if rules.strict {
            return Err(invalid());
        }
        let id = if buf == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok((id, true));
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(dash) => (&buf[..dash], Some(&buf[dash + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid)?;
    let (seq, given) = match seq_part {
        Some(b"*") if rules.auto_seq => (0, false),
        Some(seq) => (string2ull(seq).ok_or_else(invalid)?, true),
        None => (rules.missing_seq, true),
    };
    Ok((StreamId::new(ms, seq), given))
}

/// A strict id (`-` and `+` refused), missing sequence 0.
pub(crate) fn parse_strict(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_with(arg, IdRules::STRICT).map(|(id, _)| id)
}

/// An id where `-` and `+` stand for the first and last possible ids.
pub(crate) fn parse_loose(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    let rules = IdRules {
        missing_seq,
        strict: false,
        auto_seq: false,
    };
    parse_with(arg, rules).map(|(id, _)| id)
}

/// One end of a range (`streamParseIntervalIDOrReply`): `(id` excludes
/// the id (and must be strict); the bool says whether it was excluded.
pub(crate) fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    match arg.split_first() {
        Some((b'(', rest)) if arg.len() > 1 => {
            let rules = IdRules {
                missing_seq,
                strict: true,
                auto_seq: false,
            };
            Ok((parse_with(rest, rules)?.0, true))
        }
        _ => Ok((parse_loose(arg, missing_seq)?, false)),
    }
}

/// The inclusive start of a range: `(id` becomes the id after it.
pub(crate) fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, exclusive) = parse_interval(arg, 0)?;
    if !exclusive {
        return Ok(id);
    }
    id.next()
        .ok_or_else(|| CmdError::reply("ERR invalid start ID for the interval"))
}

/// The inclusive end of a range: `(id` becomes the id before it.
pub(crate) fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, exclusive) = parse_interval(arg, u64::MAX)?;
    if !exclusive {
        return Ok(id);
    }
    id.prev()
        .ok_or_else(|| CmdError::reply("ERR invalid end ID for the interval"))
}

/// Redis's `string2ull`: a strict decimal (`string2ll`), or else what C's
/// `strtoull` accepts whole (leading spaces, a sign, leading zeros; a
/// negative value wraps around).
pub(crate) fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(n) = petrel_common::num::parse_i64(s) {
        return u64::try_from(n).ok();
    }
    let mut rest = s;
    while let Some((&c, tail)) = rest.split_first() {
        if !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            break;
        }
        rest = tail;
    }
    let negative = match rest.split_first() {
        Some((b'-', tail)) => {
            rest = tail;
            true
        }
        Some((b'+', tail)) => {
            rest = tail;
            false
        }
        _ => false,
    };
    if rest.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &d in rest {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn ids_parse_like_redis() {
        let ok = |a: &str| parse_strict(a.as_bytes()).ok();
        assert_eq!(ok("5-3"), Some(id(5, 3)));
        assert_eq!(ok("5"), Some(id(5, 0)));
        assert_eq!(ok(" 5-+3"), Some(id(5, 3)), "strtoull's leniency");
        assert_eq!(ok("05-003"), Some(id(5, 3)));
        assert_eq!(ok("5-3\0junk"), Some(id(5, 3)), "a C string");
        assert_eq!(
            ok("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(ok("-18446744073709551615"), None, "the ms part is empty");
        assert_eq!(ok("18446744073709551616"), None);
        assert_eq!(ok("-1"), None);
        assert_eq!(ok("1--1"), None);
        assert_eq!(ok("1-"), None);
        assert_eq!(ok("-"), None);
        assert_eq!(ok("+"), None);
        assert_eq!(ok("1-*"), None);
        assert_eq!(ok(""), None);
        assert_eq!(ok(&"1".repeat(128)), None);
        assert_eq!(string2ull(b"-18446744073709551615"), Some(1));
        assert_eq!(string2ull(b"-0"), Some(0));
        assert_eq!(string2ull(b" "), None);
        let auto = IdRules {
            missing_seq: 0,
            strict: true,
            auto_seq: true,
        };
        assert_eq!(parse_with(b"7-*", auto).ok(), Some((id(7, 0), false)));
        assert_eq!(parse_with(b"7-1", auto).ok(), Some((id(7, 1), true)));
        assert_eq!(parse_loose(b"-", 0).ok(), Some(StreamId::MIN));
        assert_eq!(parse_loose(b"+", 0).ok(), Some(StreamId::MAX));
        assert_eq!(parse_loose(b"9", u64::MAX).ok(), Some(id(9, u64::MAX)));
    }

    #[test]
    fn intervals_and_neighbours() {
        assert_eq!(range_start(b"(5-3").ok(), Some(id(5, 4)));
        assert_eq!(range_start(b"(5").ok(), Some(id(5, 1)));
        assert_eq!(range_end(b"(5").ok(), Some(id(5, u64::MAX - 1)));
        assert_eq!(range_end(b"(5-0").ok(), Some(id(4, u64::MAX)));
        assert_eq!(range_end(b"5").ok(), Some(id(5, u64::MAX)));
        assert_eq!(range_start(b"(").ok(), None, "`(` alone is an id");
        assert!(range_start(b"(-").is_err());
        assert!(range_end(b"(0-0").is_err());
        assert!(range_start(b"(18446744073709551615-18446744073709551615").is_err());
        assert_eq!(id(1, u64::MAX).next(), Some(id(2, 0)));
        assert_eq!(StreamId::MIN.prev(), None);
        let raw = id(1, 2).to_bytes();
        assert_eq!(StreamId::from_bytes(&raw), Some(id(1, 2)));
        assert_eq!(StreamId::from_bytes(&raw[1..]), None);
        assert!(id(1, 9) < id(2, 0));
        assert_eq!(id(12, 3).to_string(), "12-3");
    }
}
