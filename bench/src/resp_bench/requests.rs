//! (b) Decoding client requests: the proxy's `RequestDecoder` against
//! `redis-protocol`'s zero-copy `Bytes` decoder (`decode_bytes_mut`), both
//! splitting the arguments off one read buffer as `Bytes`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use petrel_proxy::resp::decode::{DecodeError, RequestDecoder};
use redis_protocol::resp2::{decode::decode_bytes_mut, types::BytesFrame as Frame2};
use tokio_util::codec::Decoder;

use super::check::{Fidelity, Mismatch};
use super::timing::{Case, Contender};
use crate::load::client::encode as request;

/// One request's arguments, name first, as the proxy's dispatcher takes them.
type Args = Vec<Bytes>;

/// Takes every complete request off `buf` with the proxy's decoder.
fn petrel(
    dec: &mut RequestDecoder,
    buf: &mut BytesMut,
    mut sink: impl FnMut(Args),
) -> Result<(), String> {
    loop {
        match dec.decode(buf) {
            Ok(Some(args)) => sink(args),
            Ok(None) => return Ok(()),
            Err(DecodeError::Protocol(e)) => return Err(e.to_string()),
            Err(DecodeError::Io(e)) => return Err(e.to_string()),
        }
    }
}

/// Takes every complete request off `buf` with `redis-protocol`.
fn theirs(buf: &mut BytesMut, mut sink: impl FnMut(Args)) -> Result<(), String> {
    while let Some((frame, _, _)) = decode_bytes_mut(buf).map_err(|e| e.to_string())? {
        sink(args(frame)?);
    }
    Ok(())
}

/// A request frame's arguments; only arrays of bulk strings are requests.
fn args(frame: Frame2) -> Result<Args, String> {
    let Frame2::Array(items) = frame else {
        return Err(format!("not an array: {frame:?}"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Frame2::BulkString(b) => Ok(b),
            other => Err(format!("not a bulk string: {other:?}")),
        })
        .collect()
}

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

fn set(i: usize) -> Vec<u8> {
    request(&[b"SET", &key(i), &[b'v'; 64]])
}

fn get(i: usize) -> Vec<u8> {
    request(&[b"GET", &key(i)])
}

/// A TCP segment's payload on loopback with a 1500-byte MTU.
const SEGMENT: usize = 1460;

/// The inputs: name, bytes, and the size of the reads they arrive in.
fn inputs() -> Vec<(&'static str, Vec<u8>, usize)> {
    let pipeline: Vec<u8> = (0..16)
        .flat_map(|i| if i % 2 == 0 { set(i) } else { get(i) })
        .collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    let keys: Vec<Vec<u8>> = (0..200).map(key).collect();
    let value = [b'v'; 64];
    for k in &keys {
        mset.extend([k.as_slice(), &value]);
    }
    let mset = request(&mset);
    vec![
        ("SET key 64-byte value", set(0), usize::MAX),
        ("GET key", get(0), usize::MAX),
        ("pipeline of 16 (8 SET, 8 GET)", pipeline, usize::MAX),
        ("MSET of 200 keys in 1460-byte reads", mset, SEGMENT),
    ]
}

/// Feeds `input` to `take` in reads of `read` bytes, as a socket would.
fn feed(
    buf: &mut BytesMut,
    input: &[u8],
    read: usize,
    mut take: impl FnMut(&mut BytesMut) -> Result<(), String>,
) -> Result<(), String> {
    for chunk in input.chunks(read) {
        buf.extend_from_slice(chunk);
        take(buf)?;
    }
    Ok(())
}

/// The request decoding cases, each checked to give the same arguments.
pub(crate) fn cases() -> Result<Vec<Case<'static>>, Mismatch> {
    let mut cases = Vec::new();
    for (what, input, read) in inputs() {
        let name = format!("decode requests: {what}");
        let mut ours = Vec::new();
        let mut dec = RequestDecoder::default();
        feed(&mut BytesMut::new(), &input, read, |b| {
            petrel(&mut dec, b, |a| ours.push(a))
        })
        .map_err(|e| Mismatch::new(&name, e))?;
        let mut got = Vec::new();
        feed(&mut BytesMut::new(), &input, read, |b| {
            theirs(b, |a| got.push(a))
        })
        .map_err(|e| Mismatch::new(&name, e))?;
        if got != ours || ours.is_empty() {
            let detail = format!("{} requests against {}", got.len(), ours.len());
            return Err(Mismatch::new(&name, detail));
        }
        cases.push(case(name, input, read));
    }
    Ok(cases)
}

fn case(name: String, input: Vec<u8>, read: usize) -> Case<'static> {
    let bytes = input.len();
    let input_b = input.clone();
    let mut dec = RequestDecoder::default();
    let (mut b0, mut b1) = (BytesMut::new(), BytesMut::new());
    Case {
        name,
        bytes,
        contenders: vec![
            Contender::new("petrel", move || {
                let _ = feed(&mut b0, &input, read, |b| {
                    petrel(&mut dec, b, |a| drop(black_box(a)))
                });
            }),
            Contender::new("redis-protocol (decode_bytes_mut)", move || {
                let _ = feed(&mut b1, &input_b, read, |b| {
                    theirs(b, |a| drop(black_box(a)))
                });
            }),
        ],
    }
}

/// Requests the proxy must take (or refuse) where `redis-protocol` does
/// otherwise.
pub(crate) fn fidelity() -> Vec<Fidelity> {
    let outcome = |r: Result<Vec<Args>, String>| match r {
        Ok(cmds) if cmds.is_empty() => "waits for more bytes".to_string(),
        Ok(cmds) => format!("{} request(s)", cmds.len()),
        Err(e) => format!("error: {e}"),
    };
    [
        ("inline command `PING`", &b"PING\r\n"[..]),
        (
            "bulk declared over proto-max-bulk-len (512 MiB)",
            b"*1\r\n$536870913\r\nab",
        ),
        ("1,048,577 arguments declared", b"*1048577\r\n$1\r\na\r\n"),
    ]
    .into_iter()
    .map(|(what, input)| {
        let mut ours = Vec::new();
        let mut mine = BytesMut::from(input);
        let petrel_r = petrel(&mut RequestDecoder::default(), &mut mine, |a| ours.push(a));
        let mut got = Vec::new();
        let theirs_r = theirs(&mut BytesMut::from(input), |a| got.push(a));
        Fidelity {
            what,
            petrel: outcome(petrel_r.map(|()| ours)),
            redis_protocol: outcome(theirs_r.map(|()| got)),
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_decoders_agree_on_every_input() {
        let cases = cases().expect("same requests");
        assert_eq!(cases.len(), 4);
    }

    #[test]
    fn the_pipeline_is_sixteen_requests_and_mset_needs_several_reads() {
        let inputs = inputs();
        let mut dec = RequestDecoder::default();
        let mut n = 0;
        petrel(&mut dec, &mut BytesMut::from(&inputs[2].1[..]), |_| n += 1).expect("valid");
        assert_eq!(n, 16);
        let (_, mset, read) = &inputs[3];
        assert!(mset.len() > 5 * read);
    }

    #[test]
    fn a_request_that_is_not_bulk_strings_is_refused() {
        assert!(args(Frame2::Array(vec![Frame2::Integer(1)])).is_err());
        assert!(args(Frame2::Integer(1)).is_err());
    }

    #[test]
    fn fidelity_shows_what_redis_protocol_lacks() {
        let rows = fidelity();
        assert_eq!(rows[0].petrel, "1 request(s)");
        assert!(rows[0].redis_protocol.starts_with("error"));
        assert!(rows[1].petrel.contains("invalid bulk length"));
        assert_eq!(rows[1].redis_protocol, "waits for more bytes");
    }
}
