//! A resumable decoder for client requests: RESP arrays of bulk strings
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline commands (`GET k\r\n`).
//!
//! It keeps its place between calls: a bulk that arrives over many reads is
//! waited for by length, never re-parsed, and parsed arguments are split off
//! the read buffer as zero-copy [`Bytes`]. It never reserves memory for a
//! length that was only declared; [`RequestDecoder::wanted`] tells the reader
//! how much more it expects so the reader can grow its buffer step by step.
//! Limits and error texts follow Redis 7.0's `networking.c`.
//! `redis-protocol`'s decoder has none of this (no inline commands, no caps,
//! re-parses a partial request from its start) and took 1.5–2.3x our time
//! in `petrel-resp-bench` (docs/ARCHITECTURE.md, "Dependencies: RESP").

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::util::parse_i64;

/// Redis's `proto-max-bulk-len` default: 512 MiB.
pub(crate) const DEFAULT_MAX_BULK_LEN: u64 = 512 << 20;
/// Most arguments one multibulk request may declare.
pub(crate) const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;
/// Longest inline request, and longest `*N` / `$N` line (Redis's `PROTO_INLINE_MAX_SIZE`).
pub(crate) const MAX_INLINE_LEN: usize = 64 * 1024;
/// Most bytes of arguments one request may carry (Redis's `client-query-buffer-limit`).
pub(crate) const MAX_QUERY_LEN: u64 = 1 << 30;
/// Before AUTH, requests are limited to this many arguments, as in Redis.
const UNAUTH_MULTIBULK_LEN: i64 = 10;
/// Before AUTH, bulks are limited to this many bytes, as in Redis.
const UNAUTH_BULK_LEN: i64 = 16384;

/// A malformed request; the connection answers with the text and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("ERR Protocol error: too big inline request")]
    TooBigInline,
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("ERR Protocol error: expected '$', got '{}'", printable(*.0))]
    ExpectedDollar(u8),
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulk,
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulk,
    #[error("ERR Protocol error: query buffer limit exceeded")]
    QueryTooBig,
}

fn printable(b: u8) -> char {
    // Error replies are one line; Redis blanks CR/LF the same way.
    match b {
        b'\r' | b'\n' => ' ',
        b if b.is_ascii() => char::from(b),
        _ => char::REPLACEMENT_CHARACTER,
    }
}

/// Why decoding stopped: the socket failed, or the client broke the protocol.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
}

/// Where the decoder is inside the current request.
#[derive(Debug)]
enum State {
    /// Between requests.
    Idle,
    /// Inside `*N`: `remaining` arguments still to come; `bulk` is the length
    /// of the one being read once its `$len` line was seen.
    Multibulk {
        remaining: usize,
        args: Vec<Bytes>,
        bulk: Option<usize>,
        bytes: u64,
    },
}

/// Decodes client requests into argument vectors (name first).
#[derive(Debug)]
pub struct RequestDecoder {
    state: State,
    /// Bytes at the front of the buffer already searched for a line end.
    scanned: usize,
    max_bulk_len: u64,
    auth_required: bool,
}

impl Default for RequestDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BULK_LEN)
    }
}

impl RequestDecoder {
    /// A decoder refusing bulks longer than `max_bulk_len`.
    pub(crate) fn new(max_bulk_len: u64) -> Self {
        RequestDecoder {
            state: State::Idle,
            scanned: 0,
            max_bulk_len,
            auth_required: false,
        }
    }

    /// Changes the bulk cap (CONFIG SET proto-max-bulk-len) for bulks not yet started.
    pub(crate) fn set_max_bulk_len(&mut self, len: u64) {
        self.max_bulk_len = len;
    }

    /// While true, the tighter pre-AUTH limits apply, as in Redis.
    pub(crate) fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
    }

    /// How many more bytes the current request certainly needs (0 if unknown).
    pub(crate) fn wanted(&self, buffered: usize) -> usize {
        match self.state {
            State::Multibulk {
                bulk: Some(len), ..
            } => (len + 2).saturating_sub(buffered),
            _ => 0,
        }
    }

    /// True when no request is partly read.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    fn decode_inline(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(nl) = find(src, self.scanned, b'\n') else {
            if src.len() > MAX_INLINE_LEN {
                return Err(ProtocolError::TooBigInline);
            }
            self.scanned = src.len();
            return Ok(None);
        };
        self.scanned = 0;
        let mut line = src.split_to(nl + 1).freeze();
        line.truncate(nl);
        if line.last() == Some(&b'\r') {
            line.truncate(nl - 1);
        }
        if line.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::TooBigInline);
        }
        split_args(&line)
            .ok_or(ProtocolError::UnbalancedQuotes)
            .map(Some)
    }
}

impl Decoder for RequestDecoder {
    type Item = Vec<Bytes>;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, DecodeError> {
        loop {
            match &mut self.state {
                State::Idle => {
                    let Some(&first) = src.first() else {
                        return Ok(None);
                    };
                    if first != b'*' {
                        match self.decode_inline(src)? {
                            // An empty line is skipped, as Redis does.
                            Some(args) if args.is_empty() => continue,
                            other => return Ok(other),
                        }
                    }
                    let Some(len) = read_line(src, &mut self.scanned)? else {
                        if src.len() > MAX_INLINE_LEN {
                            return Err(ProtocolError::TooBigMultibulkCount.into());
                        }
                        return Ok(None);
                    };
                    let count = parse_i64(&len[1..]);
                    let count = match count {
                        Some(n) if n > MAX_MULTIBULK_LEN => None,
                        other => other,
                    }
                    .ok_or(ProtocolError::InvalidMultibulkLength)?;
                    if count > UNAUTH_MULTIBULK_LEN && self.auth_required {
                        return Err(ProtocolError::UnauthenticatedMultibulk.into());
                    }
                    if count <= 0 {
                        // `*0` and `*-1` are empty requests: skipped.
                        continue;
                    }
                    let count = count as usize;
                    self.state = State::Multibulk {
                        remaining: count,
                        // Never trust a declared count for allocation.
                        args: Vec::with_capacity(count.min(1024)),
                        bulk: None,
                        bytes: 0,
                    };
                }
                State::Multibulk {
                    remaining,
                    args,
                    bulk,
                    bytes,
                } => {
                    let len = match *bulk {
                        Some(len) => len,
                        None => {
                            let Some(&first) = src.first() else {
                                return Ok(None);
                            };
                            if first != b'$' {
                                return Err(ProtocolError::ExpectedDollar(first).into());
                            }
                            let Some(line) = read_line(src, &mut self.scanned)? else {
                                if src.len() > MAX_INLINE_LEN {
                                    return Err(ProtocolError::TooBigBulkCount.into());
                                }
                                return Ok(None);
                            };
                            let len = match parse_i64(&line[1..]) {
                                Some(n) if n >= 0 && (n as u64) <= self.max_bulk_len => n,
                                _ => return Err(ProtocolError::InvalidBulkLength.into()),
                            };
                            if len > UNAUTH_BULK_LEN && self.auth_required {
                                return Err(ProtocolError::UnauthenticatedBulk.into());
                            }
                            *bytes += len as u64;
                            if *bytes > MAX_QUERY_LEN {
                                return Err(ProtocolError::QueryTooBig.into());
                            }
                            let len = usize::try_from(len)
                                .map_err(|_| ProtocolError::InvalidBulkLength)?;
                            *bulk = Some(len);
                            len
                        }
                    };
                    // Wait for the whole bulk and its CRLF; nothing is
                    // reserved here, the reader grows the buffer as data comes.
                    if src.len() < len + 2 {
                        return Ok(None);
                    }
                    args.push(src.split_to(len).freeze());
                    // Like Redis, the two bytes after a bulk are skipped unchecked.
                    src.advance(2);
                    *bulk = None;
                    *remaining -= 1;
                    if *remaining == 0 {
                        let args = std::mem::take(args);
                        self.state = State::Idle;
                        return Ok(Some(args));
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, DecodeError> {
        // A request cut short by the client closing is dropped silently.
        self.decode(src)
    }
}

/// Takes one `*N` / `$N` line (up to its `\r`, plus the byte after it) off
/// the buffer, as Redis does: it looks for `\r` and skips two bytes.
fn read_line(src: &mut BytesMut, scanned: &mut usize) -> Result<Option<BytesMut>, ProtocolError> {
    match find(src, *scanned, b'\r') {
        Some(cr) if cr + 1 < src.len() => {
            *scanned = 0;
            let mut line = src.split_to(cr + 2);
            line.truncate(cr);
            Ok(Some(line))
        }
        Some(cr) => {
            *scanned = cr;
            Ok(None)
        }
        None => {
            *scanned = src.len();
            Ok(None)
        }
    }
}

fn find(src: &[u8], from: usize, byte: u8) -> Option<usize> {
    src.get(from..)?
        .iter()
        .position(|&b| b == byte)
        .map(|i| i + from)
}

/// Splits an inline request like Redis's `sdssplitargs`; `None` for
/// unbalanced quotes. Unquoted arguments are zero-copy slices of `line`.
pub(crate) fn split_args(line: &Bytes) -> Option<Vec<Bytes>> {
    // Redis works on a C string: a NUL ends the line.
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    let p = &line[..end];
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < p.len() && is_space(p[i]) {
            i += 1;
        }
        if i >= p.len() {
            return Some(args);
        }
        let start = i;
        let mut owned: Option<Vec<u8>> = None;
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            let c = p.get(i).copied();
            if in_dq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if p.get(i + 1) == Some(&b'x')
                            && p.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                            && p.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                        let byte = hex(p[i + 2]) * 16 + hex(p[i + 3]);
                        owned.get_or_insert_with(Vec::new).push(byte);
                        i += 4;
                    }
                    Some(b'\\') if i + 1 < p.len() => {
                        let byte = match p[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        };
                        owned.get_or_insert_with(Vec::new).push(byte);
                        i += 2;
                    }
                    Some(b'"') => {
                        // The closing quote must be followed by a space or the end.
                        if p.get(i + 1).is_some_and(|&b| !is_space(b)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => {
                        owned.get_or_insert_with(Vec::new).push(b);
                        i += 1;
                    }
                }
            } else if in_sq {
                match c {
                    None => return None,
                    Some(b'\\') if p.get(i + 1) == Some(&b'\'') => {
                        owned.get_or_insert_with(Vec::new).push(b'\'');
                        i += 2;
                    }
                    Some(b'\'') => {
                        if p.get(i + 1).is_some_and(|&b| !is_space(b)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => {
                        owned.get_or_insert_with(Vec::new).push(b);
                        i += 1;
                    }
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(q @ (b'"' | b'\'')) => {
                        // Entering quotes mid-token: the token so far is kept.
                        owned.get_or_insert_with(|| p[start..i].to_vec());
                        if q == b'"' {
                            in_dq = true;
                        } else {
                            in_sq = true;
                        }
                        i += 1;
                    }
                    Some(b) => {
                        if let Some(o) = owned.as_mut() {
                            o.push(b);
                        }
                        i += 1;
                    }
                }
            }
        }
        args.push(match owned {
            Some(o) => Bytes::from(o),
            None => line.slice(start..i),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(dec: &mut RequestDecoder, input: &[u8]) -> Result<Vec<Vec<Bytes>>, DecodeError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(cmd) = dec.decode(&mut buf)? {
            out.push(cmd);
        }
        Ok(out)
    }

    fn cmds(input: &[u8]) -> Vec<Vec<Bytes>> {
        decode_all(&mut RequestDecoder::default(), input).expect("valid input")
    }

    fn err(input: &[u8]) -> String {
        match decode_all(&mut RequestDecoder::default(), input) {
            Err(DecodeError::Protocol(e)) => e.to_string(),
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn multibulk() {
        assert_eq!(
            cmds(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"),
            vec![args(&["GET", "k"]), args(&["PING"])]
        );
        assert_eq!(cmds(b"*1\r\n$0\r\n\r\n"), vec![args(&[""])]);
    }

    #[test]
    fn binary_safe_bulk() {
        assert_eq!(
            cmds(b"*2\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n"),
            vec![vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"a\r\nb")
            ]]
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        assert_eq!(
            cmds(b"*0\r\n*-1\r\n\r\n\n   \r\nPING\r\n"),
            vec![args(&["PING"])]
        );
    }

    #[test]
    fn inline_quoting() {
        assert_eq!(cmds(b"SET k v\r\n"), vec![args(&["SET", "k", "v"])]);
        assert_eq!(cmds(b"  SET   k\tv  \n"), vec![args(&["SET", "k", "v"])]);
        assert_eq!(
            cmds(b"SET \"a b\" 'c d'\r\n"),
            vec![args(&["SET", "a b", "c d"])]
        );
        assert_eq!(
            cmds(b"ECHO \"\\x41\\n\\t\\\"q\\\\\"\r\n"),
            vec![args(&["ECHO", "A\n\t\"q\\"])]
        );
        assert_eq!(cmds(b"ECHO 'it\\'s'\r\n"), vec![args(&["ECHO", "it's"])]);
        assert_eq!(cmds(b"ECHO 'a\\nb'\r\n"), vec![args(&["ECHO", "a\\nb"])]);
        assert_eq!(cmds(b"ECHO a\"b c\"\r\n"), vec![args(&["ECHO", "ab c"])]);
        assert_eq!(cmds(b"ECHO \"\"\r\n"), vec![args(&["ECHO", ""])]);
        assert_eq!(cmds(b"ECHO \"\\xZZ\"\r\n"), vec![args(&["ECHO", "xZZ"])]);
    }

    #[test]
    fn protocol_errors_have_redis_texts() {
        assert_eq!(
            err(b"ECHO \"abc\r\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"ECHO 'abc\r\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"ECHO \"a\"b\r\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"*1\r\nx\r\n"),
            "ERR Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            err(b"*x\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1048577\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n$-1\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"*1\r\n$x\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"*1\r\n$536870913\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        let long = vec![b'a'; MAX_INLINE_LEN + 1];
        assert_eq!(err(&long), "ERR Protocol error: too big inline request");
        let mut star = b"*".to_vec();
        star.extend(vec![b'1'; MAX_INLINE_LEN + 1]);
        assert_eq!(err(&star), "ERR Protocol error: too big mbulk count string");
        let mut dollar = b"*1\r\n$".to_vec();
        dollar.extend(vec![b'1'; MAX_INLINE_LEN + 1]);
        assert_eq!(
            err(&dollar),
            "ERR Protocol error: too big bulk count string"
        );
    }

    #[test]
    fn commands_before_an_error_are_returned_first() {
        let mut dec = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"PING\r\n*1\r\nx"[..]);
        assert_eq!(dec.decode(&mut buf).expect("ping"), Some(args(&["PING"])));
        assert!(matches!(
            dec.decode(&mut buf),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn bulk_cap_is_configurable() {
        let mut dec = RequestDecoder::new(1 << 20);
        assert!(decode_all(&mut dec, b"*1\r\n$1048577\r\n").is_err());
        let mut dec = RequestDecoder::new(1 << 20);
        assert!(decode_all(&mut dec, b"*1\r\n$1048576\r\n").is_ok());
    }

    #[test]
    fn unauthenticated_limits() {
        let mut dec = RequestDecoder::default();
        dec.set_auth_required(true);
        match decode_all(&mut dec, b"*11\r\n") {
            Err(DecodeError::Protocol(e)) => assert_eq!(
                e.to_string(),
                "ERR Protocol error: unauthenticated multibulk length"
            ),
            other => panic!("{other:?}"),
        }
        let mut dec = RequestDecoder::default();
        dec.set_auth_required(true);
        match decode_all(&mut dec, b"*1\r\n$16385\r\n") {
            Err(DecodeError::Protocol(e)) => {
                assert_eq!(
                    e.to_string(),
                    "ERR Protocol error: unauthenticated bulk length"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn declared_length_reserves_nothing() {
        let mut dec = RequestDecoder::default();
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"*2\r\n$3\r\nSET\r\n$536870912\r\nabc");
        let cap = buf.capacity();
        assert_eq!(dec.decode(&mut buf).expect("incomplete"), None);
        assert!(buf.capacity() <= cap, "decoder must not grow the buffer");
        assert_eq!(dec.wanted(buf.len()), 536870912 + 2 - 3);
    }

    #[test]
    fn resumes_without_reparsing() {
        // Feed a large bulk one byte at a time; the decoder keeps its place.
        let mut dec = RequestDecoder::default();
        let value = vec![b'v'; 10_000];
        let mut input = format!("*2\r\n$4\r\nECHO\r\n${}\r\n", value.len()).into_bytes();
        input.extend_from_slice(&value);
        input.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in &input {
            buf.extend_from_slice(&[b]);
            if let Some(cmd) = dec.decode(&mut buf).expect("valid") {
                got = Some(cmd);
            }
        }
        let got = got.expect("one command");
        assert_eq!(got[1].len(), value.len());
        assert!(dec.is_idle());
    }

    #[test]
    fn eof_mid_request_is_not_an_error() {
        let mut dec = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET"[..]);
        assert_eq!(dec.decode_eof(&mut buf).expect("no error"), None);
    }

    fn encode_multibulk(cmd: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", cmd.len()).into_bytes();
        for a in cmd {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn arb_cmds() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
        prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
            1..6,
        )
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_commands(cmds in arb_cmds(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let input: Vec<u8> = cmds.iter().flat_map(|c| encode_multibulk(c)).collect();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            points.sort_unstable();
            let mut dec = RequestDecoder::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain(std::iter::once(input.len())) {
                buf.extend_from_slice(&input[last..p]);
                last = p;
                while let Some(cmd) = dec.decode(&mut buf).expect("valid input") {
                    got.push(cmd);
                }
            }
            let want: Vec<Vec<Bytes>> = cmds
                .iter()
                .map(|c| c.iter().map(|a| Bytes::copy_from_slice(a)).collect())
                .collect();
            prop_assert_eq!(got, want);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn inline_any_split(words in prop::collection::vec("[a-zA-Z0-9:_]{1,10}", 1..6), cut in any::<prop::sample::Index>()) {
            let line = format!("{}\r\n", words.join(" "));
            let input = line.as_bytes();
            let p = cut.index(input.len() + 1);
            let mut dec = RequestDecoder::default();
            let mut buf = BytesMut::from(&input[..p]);
            let mut got = Vec::new();
            while let Some(cmd) = dec.decode(&mut buf).expect("valid") { got.push(cmd); }
            buf.extend_from_slice(&input[p..]);
            while let Some(cmd) = dec.decode(&mut buf).expect("valid") { got.push(cmd); }
            let want: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
            prop_assert_eq!(got, vec![want]);
        }

        #[test]
        fn random_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut dec = RequestDecoder::new(1 << 20);
            let mut buf = BytesMut::new();
            'outer: for c in chunks {
                buf.extend_from_slice(&c);
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
        }

        #[test]
        fn protocol_like_noise_never_panics(parts in prop::collection::vec(prop_oneof![
            Just(b"*".to_vec()), Just(b"$".to_vec()), Just(b"\r\n".to_vec()), Just(b"\r".to_vec()),
            Just(b"-1".to_vec()), Just(b"3".to_vec()), Just(b"\"".to_vec()), Just(b"'".to_vec()),
            Just(b"\\x4".to_vec()), Just(b" ".to_vec()), Just(b"abc".to_vec()), Just(vec![0u8]),
        ], 0..40)) {
            let input: Vec<u8> = parts.concat();
            let mut dec = RequestDecoder::default();
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(_)) = dec.decode(&mut buf) {}
        }
    }
}
