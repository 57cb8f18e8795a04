//! (c) Decoding replies as `petrel-bench`'s client does: `skim` (where a
//! reply ends, and an error's first word) against `redis-protocol`'s
//! `decode_range`, and `parse` (the whole reply) against its copying
//! `decode` and its zero-copy `decode_bytes`.

use std::hint::black_box;

use bytes::Bytes;
use redis_protocol::resp2::decode::{decode, decode_bytes, decode_range};
use redis_protocol::resp2::types::{BytesFrame, OwnedFrame, RangeFrame};

use super::check::Mismatch;
use super::timing::{Case, Contender};
use crate::load::client::{parse, skim, Reply};

/// What skimming one reply yields: its length and an error's first word.
type Skimmed = (usize, Option<String>);

/// Calls `sink` with everything `one` takes off the front of `buf`, in
/// order, until it needs more bytes.
fn each<T>(
    buf: &[u8],
    mut one: impl FnMut(&[u8]) -> Result<Option<(T, usize)>, String>,
    mut sink: impl FnMut(T),
) -> Result<(), String> {
    let mut at = 0;
    while let Some((item, used)) = one(&buf[at..])? {
        at += used;
        sink(item);
    }
    Ok(())
}

/// Skims every reply in `buf` with petrel-bench's `skim`.
fn petrel_skim(buf: &[u8], sink: impl FnMut(Skimmed)) -> Result<(), String> {
    let one = |b: &[u8]| {
        let found = skim(b).map_err(|e| e.to_string())?;
        Ok(found.map(|(used, kind)| ((used, kind), used)))
    };
    each(buf, one, sink)
}

/// Skims every reply in `buf` with `redis-protocol`'s range decoder.
fn their_skim(buf: &[u8], sink: impl FnMut(Skimmed)) -> Result<(), String> {
    let one = |b: &[u8]| {
        let found = decode_range(b).map_err(|e| e.to_string())?;
        Ok(found.map(|(frame, used)| ((used, error_kind(&frame, b)), used)))
    };
    each(buf, one, sink)
}

/// An error reply's first word, as petrel-bench counts errors.
fn error_kind(frame: &RangeFrame, buf: &[u8]) -> Option<String> {
    let RangeFrame::Error((start, end)) = *frame else {
        return None;
    };
    let word = buf[start..end].split(|&b| b == b' ').next()?;
    Some(String::from_utf8_lossy(word).into_owned())
}

/// Parses every reply in `buf` with `parse`.
fn petrel_parse(buf: &[u8], sink: impl FnMut(Reply)) -> Result<(), String> {
    each(buf, |b| parse(b).map_err(|e| e.to_string()), sink)
}

/// Parses every reply in `buf` with `redis-protocol`'s copying decoder.
fn their_parse(buf: &[u8], sink: impl FnMut(OwnedFrame)) -> Result<(), String> {
    each(buf, |b| decode(b).map_err(|e| e.to_string()), sink)
}

/// Parses every reply in `buf` with `redis-protocol`'s zero-copy decoder.
fn their_parse_bytes(buf: &Bytes, sink: impl FnMut(BytesFrame)) -> Result<(), String> {
    let one = |b: &[u8]| decode_bytes(&buf.slice_ref(b)).map_err(|e| e.to_string());
    each(buf, one, sink)
}

/// `redis-protocol`'s frame as petrel-bench's reply, to compare them.
fn reply_of(frame: OwnedFrame) -> Reply {
    match frame {
        OwnedFrame::SimpleString(s) => Reply::Status(String::from_utf8_lossy(&s).into_owned()),
        OwnedFrame::Error(e) => Reply::Error(e),
        OwnedFrame::Integer(i) => Reply::Int(i),
        OwnedFrame::BulkString(b) => Reply::Bulk(Some(b)),
        OwnedFrame::Array(items) => Reply::Array(Some(items.into_iter().map(reply_of).collect())),
        // RESP2 frames lose which null it was; petrel-bench never cares.
        OwnedFrame::Null => Reply::Bulk(None),
    }
}

/// Sixteen replies of each kind petrel-bench's workloads get, in one buffer.
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let bulk = || {
        let mut b = b"$64\r\n".to_vec();
        b.extend([b'v'; 64]);
        b.extend(b"\r\n");
        b
    };
    let mut array = b"*10\r\n".to_vec();
    (0..10).for_each(|_| array.extend(bulk()));
    let sixteen = |one: &[u8]| one.repeat(16);
    vec![
        ("16 x +OK (SET at pipeline 16)", sixteen(b"+OK\r\n")),
        ("16 x integer (INCR)", sixteen(b":1234567\r\n")),
        ("16 x 64-byte bulk (GET)", sixteen(&bulk())),
        (
            "16 x error",
            sixteen(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ),
        ("16 x array of 10 64-byte bulks", sixteen(&array)),
    ]
}

/// The reply decoding cases, each checked to agree before it is timed.
pub(crate) fn cases() -> Result<Vec<Case<'static>>, Mismatch> {
    let mut cases = Vec::new();
    for (what, input) in inputs() {
        let name = format!("skim replies: {what}");
        let (mut ours, mut got) = (Vec::new(), Vec::new());
        petrel_skim(&input, |s| ours.push(s)).map_err(|e| Mismatch::new(&name, e))?;
        their_skim(&input, |s| got.push(s)).map_err(|e| Mismatch::new(&name, e))?;
        if got != ours || ours.len() != 16 {
            return Err(Mismatch::new(&name, format!("{got:?} against {ours:?}")));
        }
        cases.push(skim_case(name, input.clone()));

        let name = format!("parse replies: {what}");
        let (mut ours, mut got, mut got_bytes) = (Vec::new(), Vec::new(), Vec::new());
        let shared = Bytes::from(input.clone());
        petrel_parse(&input, |r| ours.push(r)).map_err(|e| Mismatch::new(&name, e))?;
        their_parse(&input, |f| got.push(reply_of(f))).map_err(|e| Mismatch::new(&name, e))?;
        their_parse_bytes(&shared, |f| got_bytes.push(reply_of(f.to_owned_frame())))
            .map_err(|e| Mismatch::new(&name, e))?;
        if got != ours || got_bytes != ours || ours.len() != 16 {
            return Err(Mismatch::new(&name, format!("{got:?} against {ours:?}")));
        }
        cases.push(parse_case(name, input, shared));
    }
    Ok(cases)
}

fn skim_case(name: String, input: Vec<u8>) -> Case<'static> {
    let input_b = input.clone();
    Case {
        name,
        bytes: input.len(),
        contenders: vec![
            Contender::new("petrel (skim)", move || {
                let _ = petrel_skim(&input, |s| drop(black_box(s)));
            }),
            Contender::new("redis-protocol (decode_range)", move || {
                let _ = their_skim(&input_b, |s| drop(black_box(s)));
            }),
        ],
    }
}

fn parse_case(name: String, input: Vec<u8>, shared: Bytes) -> Case<'static> {
    let input_b = input.clone();
    Case {
        name,
        bytes: input.len(),
        contenders: vec![
            Contender::new("petrel (parse)", move || {
                let _ = petrel_parse(&input, |r| drop(black_box(r)));
            }),
            Contender::new("redis-protocol (decode)", move || {
                let _ = their_parse(&input_b, |f| drop(black_box(f)));
            }),
            Contender::new("redis-protocol (decode_bytes)", move || {
                let _ = their_parse_bytes(&shared, |f| drop(black_box(f)));
            }),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_agree_on_every_input() {
        let cases = cases().expect("same replies");
        assert_eq!(cases.len(), 10);
    }

    #[test]
    fn an_error_reply_is_skimmed_to_its_first_word() {
        let mut got = Vec::new();
        their_skim(b"-ERR x y\r\n+OK\r\n", |s| got.push(s)).expect("valid");
        assert_eq!(got, vec![(10, Some("ERR".to_string())), (5, None)]);
    }

    #[test]
    fn an_incomplete_reply_is_left_for_the_next_read() {
        let mut n = 0;
        their_skim(b"+OK\r\n$3\r\nab", |_| n += 1).expect("valid so far");
        assert_eq!(n, 1);
        assert!(their_skim(b"?\r\n", |_| ()).is_err());
    }
}
