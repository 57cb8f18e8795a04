//! RESP for a load generator: encoding requests, parsing and skimming
//! replies.

/// A request as a RESP array of bulk strings.
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    push_header(&mut out, b'*', args.len());
    for a in args {
        push_header(&mut out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `<tag><n>\r\n` without going through the formatter (it is on the hot path).
fn push_header(out: &mut Vec<u8>, tag: u8, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push(tag);
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// A RESP2 reply (all a load generator needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// First word of an error reply (`ERR`, `WRONGTYPE`, `TRYAGAIN`, ...),
    /// `None` for any other reply.
    pub(crate) fn error_kind(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e.split(' ').next().unwrap_or_default()),
            _ => None,
        }
    }
}

/// The bytes are not RESP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol error: {0}")]
pub(crate) struct ProtocolError(pub(crate) String);

/// Parses one reply from the front of `buf`: `Ok(None)` when more bytes are
/// needed, else the reply and the bytes it used.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    parse_nested(buf, 0)
}

/// Deepest array nesting accepted (a hostile server must not overflow the stack).
const MAX_DEPTH: usize = 64;
/// Largest bulk string accepted, Redis's default `proto-max-bulk-len`.
const MAX_BULK: i64 = 512 * 1024 * 1024;

fn parse_nested(buf: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let Some(end) = find_crlf(buf, 1) else {
        return Ok(None);
    };
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let line =
        std::str::from_utf8(&buf[1..end]).map_err(|_| ProtocolError("line is not UTF-8".into()))?;
    let after = end + 2;
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| ProtocolError(format!("bad integer {s:?}")))
    };
    match tag {
        b'+' => Ok(Some((Reply::Status(line.to_string()), after))),
        b'-' => Ok(Some((Reply::Error(line.to_string()), after))),
        b':' => Ok(Some((Reply::Int(int(line)?), after))),
        b'$' => {
            let n = int(line)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), after)));
            }
            if n > MAX_BULK {
                return Err(ProtocolError(format!("bulk string of {n} bytes")));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            if &buf[after + n..after + n + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string without CRLF".into()));
            }
            Ok(Some((
                Reply::Bulk(Some(buf[after..after + n].to_vec())),
                after + n + 2,
            )))
        }
        b'*' => {
            let n = int(line)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), after)));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("arrays nested too deep".into()));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            let mut at = after;
            for _ in 0..n {
                match parse_nested(&buf[at..], depth + 1)? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        other => Err(ProtocolError(format!(
            "unexpected type byte {:?}",
            other as char
        ))),
    }
}

/// Finds the end of one reply at the front of `buf` without building it:
/// `Ok(None)` when more bytes are needed, else the bytes it used and, for
/// an error reply, the first word of its text (a load generator only needs
/// that, and allocating every reply slowed it at deep pipelines).
pub(crate) fn skim(buf: &[u8]) -> Result<Option<(usize, Option<String>)>, ProtocolError> {
    let error = |line: &[u8]| {
        let word = line.split(|&b| b == b' ').next().unwrap_or_default();
        String::from_utf8_lossy(word).into_owned()
    };
    match buf.first() {
        None => Ok(None),
        Some(b'-') => Ok(find_crlf(buf, 1).map(|end| (end + 2, Some(error(&buf[1..end]))))),
        Some(b'+' | b':') => Ok(find_crlf(buf, 1).map(|end| (end + 2, None))),
        // GET's reply: skip the value instead of copying it out.
        Some(b'$') => {
            let Some(end) = find_crlf(buf, 1) else {
                return Ok(None);
            };
            let n = std::str::from_utf8(&buf[1..end])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| ProtocolError("bad bulk length".into()))?;
            if n < 0 {
                return Ok(Some((end + 2, None)));
            }
            if n > MAX_BULK {
                return Err(ProtocolError(format!("bulk string of {n} bytes")));
            }
            let used = end + 2 + n as usize + 2;
            if buf.len() < used {
                return Ok(None);
            }
            if &buf[used - 2..used] != b"\r\n" {
                return Err(ProtocolError("bulk string without CRLF".into()));
            }
            Ok(Some((used, None)))
        }
        // Arrays are rare enough (and small) to parse fully.
        Some(_) => Ok(parse(buf)?.map(|(reply, used)| {
            let kind = reply.error_kind().map(str::to_string);
            (used, kind)
        })),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_bulk_array() {
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        let long = vec![b'v'; 1234];
        assert!(encode(&[&long]).starts_with(b"*1\r\n$1234\r\nvvv"));
        assert_eq!(encode(&[]), b"*0\r\n");
        assert_eq!(
            encode(&[b"SET", b"k", b""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn parses_the_five_reply_types() {
        let p = |b: &[u8]| parse(b).unwrap().unwrap();
        assert_eq!(p(b"+OK\r\n"), (Reply::Status("OK".into()), 5));
        assert_eq!(p(b":-42\r\nrest"), (Reply::Int(-42), 6));
        assert_eq!(p(b"$3\r\nabc\r\n"), (Reply::Bulk(Some(b"abc".to_vec())), 9));
        assert_eq!(p(b"$-1\r\n"), (Reply::Bulk(None), 5));
        assert_eq!(p(b"*-1\r\n"), (Reply::Array(None), 5));
        let (r, used) = p(b"*2\r\n:1\r\n$1\r\nx\r\n");
        assert_eq!(used, 15);
        assert_eq!(
            r,
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"x".to_vec()))]))
        );
        let (e, _) = p(b"-WRONGTYPE Operation against a key\r\n");
        assert_eq!(e.error_kind(), Some("WRONGTYPE"));
        assert_eq!(Reply::Int(1).error_kind(), None);
    }

    #[test]
    fn skimming_finds_reply_ends_and_error_kinds() {
        let s = |b: &[u8]| skim(b).unwrap();
        assert_eq!(s(b"+OK\r\n+OK"), Some((5, None)));
        assert_eq!(s(b":12\r\n"), Some((5, None)));
        assert_eq!(s(b"$3\r\nabc\r\n"), Some((9, None)));
        assert_eq!(s(b"*2\r\n:1\r\n$-1\r\n"), Some((13, None)));
        assert_eq!(
            s(b"-WRONGTYPE Operation\r\n"),
            Some((22, Some("WRONGTYPE".to_string())))
        );
        for partial in [&b""[..], b"+OK", b"-ERR x\r", b"$3\r\nab", b"*2\r\n:1\r\n"] {
            assert_eq!(s(partial), None, "{partial:?}");
        }
        assert!(skim(b"?x\r\n").is_err());
        assert!(skim(b"$1\r\nabc\r\n").is_err());
        assert!(skim(b"$x\r\n").is_err());
        assert_eq!(s(b"$-1\r\n+OK\r\n"), Some((5, None)));
        assert_eq!(s(b"$0\r\n\r\n"), Some((6, None)));
        // Skimming and parsing agree on where a reply ends.
        for reply in [&b"$5\r\nhello\r\n"[..], b"$-1\r\n", b"*1\r\n$2\r\nab\r\n"] {
            assert_eq!(
                s(reply).map(|(n, _)| n),
                parse(reply).unwrap().map(|(_, n)| n)
            );
        }
    }

    #[test]
    fn partial_input_needs_more_and_garbage_is_an_error() {
        for partial in [
            &b""[..],
            b"+OK",
            b"+OK\r",
            b"$3\r\nab",
            b"$3\r\nabc\r",
            b"*2\r\n:1\r\n",
        ] {
            assert_eq!(parse(partial).unwrap(), None, "{partial:?}");
        }
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$1\r\nabc\r\n").is_err());
        assert!(parse(b"$9999999999\r\n").is_err());
        assert!(parse(&b"*1\r\n".repeat(100)).is_err());
    }
}
