//! (a) Encoding the proxy's replies: `petrel_proxy::resp::encode` against
//! `redis-protocol`'s encoder, into one reused buffer.
//!
//! `redis-protocol` encodes its own frame types, so using it in the proxy
//! means turning each [`Reply`] into a frame first ([`Frame::from_reply`]);
//! the report times that path and, apart, the encoder alone on a frame
//! built beforehand (what it would cost if servers answered with frames).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use petrel_common::num::{format_g17, format_human};
use petrel_common::reply::{errors, Reply};
use petrel_proxy::resp::encode::{encode, to_bytes, Proto};
use redis_protocol::bytes_utils::Str;
use redis_protocol::error::RedisProtocolError;
use redis_protocol::resp2::{encode as enc2, types::BytesFrame as Frame2};
use redis_protocol::resp3::{
    encode::complete as enc3,
    types::{BytesFrame as Frame3, FrameMap, FrameSet, VerbatimStringFormat},
};

use super::check::{escape, Fidelity, Mismatch};
use super::timing::{Case, Contender};

/// A reply as one of `redis-protocol`'s frames, for the client's version.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    /// For a RESP2 client.
    Resp2(Frame2),
    /// For a RESP3 client (after HELLO 3).
    Resp3(Frame3),
}

impl Frame {
    /// The closest frame `redis-protocol` has for `reply`.
    pub(crate) fn from_reply(reply: &Reply, proto: Proto) -> Frame {
        match proto {
            Proto::Resp2 => Frame::Resp2(resp2(reply)),
            Proto::Resp3 => Frame::Resp3(resp3(reply)),
        }
    }

    /// Appends the frame's wire form to `out`.
    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<usize, RedisProtocolError> {
        match self {
            Frame::Resp2(f) => enc2::extend_encode(out, f, false),
            Frame::Resp3(f) => enc3::extend_encode(out, f, false),
        }
    }
}

fn resp2(reply: &Reply) -> Frame2 {
    let flat = |pairs: &[(Reply, Reply)]| {
        pairs
            .iter()
            .flat_map(|(k, v)| [resp2(k), resp2(v)])
            .collect()
    };
    match reply {
        Reply::Status(s) => Frame2::SimpleString(Bytes::copy_from_slice(s.as_bytes())),
        Reply::Error(s) => Frame2::Error(Str::from(s.as_str())),
        Reply::Int(i) => Frame2::Integer(*i),
        Reply::Bulk(b) | Reply::Verbatim(b) => Frame2::BulkString(b.clone()),
        // RESP2 has one null here: `$-1`, never the null array `*-1`.
        Reply::Nil | Reply::NilArray => Frame2::Null,
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Frames(items) => {
            Frame2::Array(items.iter().map(resp2).collect())
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => Frame2::Array(flat(pairs)),
        Reply::Keyed(pairs) => Frame2::Array(
            pairs
                .iter()
                .map(|(k, v)| Frame2::Array(vec![resp2(k), resp2(v)]))
                .collect(),
        ),
        Reply::Double(d) => Frame2::BulkString(Bytes::from(format_g17(*d))),
        Reply::HumanDouble(d) => Frame2::BulkString(Bytes::from(format_human(*d))),
        Reply::Bool(b) => Frame2::Integer(i64::from(*b)),
        Reply::BigNumber(n) => Frame2::BulkString(Bytes::copy_from_slice(n.as_bytes())),
    }
}

fn resp3(reply: &Reply) -> Frame3 {
    let attributes = None;
    match reply {
        Reply::Status(s) => Frame3::SimpleString {
            data: Bytes::copy_from_slice(s.as_bytes()),
            attributes,
        },
        Reply::Error(s) => Frame3::SimpleError {
            data: Str::from(s.as_str()),
            attributes,
        },
        Reply::Int(i) => Frame3::Number {
            data: *i,
            attributes,
        },
        Reply::Bulk(b) => Frame3::BlobString {
            data: b.clone(),
            attributes,
        },
        Reply::Nil | Reply::NilArray => Frame3::Null,
        Reply::Array(items) | Reply::Push(items) | Reply::Frames(items) => Frame3::Array {
            data: items.iter().map(resp3).collect(),
            attributes,
        },
        // Without the `index-map` feature these are std's hashed
        // collections: the order Petrel (and Redis) send is not kept.
        Reply::Set(items) => Frame3::Set {
            data: items.iter().map(resp3).collect::<FrameSet<_>>(),
            attributes,
        },
        Reply::Map(pairs) | Reply::Keyed(pairs) => Frame3::Map {
            data: pairs
                .iter()
                .map(|(k, v)| (resp3(k), resp3(v)))
                .collect::<FrameMap<_, _>>(),
            attributes,
        },
        Reply::Pairs(pairs) => Frame3::Array {
            data: pairs
                .iter()
                .map(|(k, v)| Frame3::Array {
                    data: vec![resp3(k), resp3(v)],
                    attributes: None,
                })
                .collect(),
            attributes,
        },
        Reply::Double(d) | Reply::HumanDouble(d) => Frame3::Double {
            data: *d,
            attributes,
        },
        Reply::Verbatim(b) => Frame3::VerbatimString {
            data: b.clone(),
            format: VerbatimStringFormat::Text,
            attributes,
        },
        Reply::Bool(b) => Frame3::Boolean {
            data: *b,
            attributes,
        },
        Reply::BigNumber(n) => Frame3::BigNumber {
            data: Bytes::copy_from_slice(n.as_bytes()),
            attributes,
        },
    }
}

/// What `redis-protocol` writes for `reply` (its error's text if none).
pub(crate) fn their_bytes(reply: &Reply, proto: Proto) -> Result<Vec<u8>, String> {
    let mut out = BytesMut::new();
    Frame::from_reply(reply, proto)
        .encode(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out.to_vec())
}

/// The replies a proxy sends most, by name.
pub(crate) fn typical_replies() -> Vec<(&'static str, Reply)> {
    let value = || Bytes::from(vec![b'v'; 64]);
    vec![
        ("+OK", Reply::ok()),
        ("integer", Reply::Int(1_234_567)),
        ("64-byte bulk", Reply::Bulk(value())),
        (
            "array of 10 64-byte bulks",
            Reply::Array((0..10).map(|_| Reply::Bulk(value())).collect()),
        ),
        ("null", Reply::Nil),
        ("error", Reply::error(errors::NOT_INTEGER)),
    ]
}

/// The encoding cases, each checked byte for byte before it is timed.
pub(crate) fn cases() -> Result<Vec<Case<'static>>, Mismatch> {
    let mut cases = Vec::new();
    for proto in [Proto::Resp2, Proto::Resp3] {
        for (name, reply) in typical_replies() {
            let name = format!("encode RESP{} {name}", proto.number());
            let ours = to_bytes(&reply, proto).to_vec();
            let theirs = their_bytes(&reply, proto).map_err(|e| Mismatch::new(&name, e))?;
            if theirs != ours {
                let detail = format!("{} against {}", escape(&theirs), escape(&ours));
                return Err(Mismatch::new(&name, detail));
            }
            cases.push(case(name, reply, proto, ours.len()));
        }
    }
    Ok(cases)
}

fn case(name: String, reply: Reply, proto: Proto, bytes: usize) -> Case<'static> {
    let prebuilt = Frame::from_reply(&reply, proto);
    let (a, b) = (reply.clone(), reply);
    let buf = || BytesMut::with_capacity(4096);
    let (mut b0, mut b1, mut b2) = (buf(), buf(), buf());
    Case {
        name,
        bytes,
        contenders: vec![
            Contender::new("petrel", move || {
                b0.clear();
                encode(&a, proto, &mut b0);
                black_box(&b0);
            }),
            Contender::new("redis-protocol from Reply", move || {
                b1.clear();
                let _ = black_box(Frame::from_reply(&b, proto).encode(&mut b1));
            }),
            Contender::new("redis-protocol, frame prebuilt", move || {
                b2.clear();
                let _ = black_box(prebuilt.encode(&mut b2));
            }),
        ],
    }
}

/// Replies the proxy sends where `redis-protocol` may write other bytes.
pub(crate) fn fidelity() -> Vec<Fidelity> {
    let hello = Reply::Map(
        [
            ("server", "redis"),
            ("version", "7.0.15"),
            ("mode", "standalone"),
            ("role", "master"),
        ]
        .into_iter()
        .map(|(k, v)| (Reply::bulk(k), Reply::bulk(v)))
        .chain([
            (Reply::bulk("proto"), Reply::Int(3)),
            (Reply::bulk("id"), Reply::Int(7)),
            (Reply::bulk("modules"), Reply::Array(vec![])),
        ])
        .collect(),
    );
    [
        (
            "RESP2 null array (BLPOP timing out)",
            Reply::NilArray,
            Proto::Resp2,
        ),
        (
            "RESP3 double (ZSCORE of 0.1)",
            Reply::Double(0.1),
            Proto::Resp3,
        ),
        ("RESP3 map (HELLO's field order)", hello, Proto::Resp3),
        (
            "error text holding CR LF",
            Reply::error("ERR bad\r\nthing"),
            Proto::Resp2,
        ),
    ]
    .into_iter()
    .map(|(what, reply, proto)| Fidelity {
        what,
        petrel: escape(&to_bytes(&reply, proto)),
        redis_protocol: their_bytes(&reply, proto).map_or_else(|e| e, |b| escape(&b)),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typical_reply_encodes_to_the_same_bytes() {
        let cases = cases().expect("redis-protocol agrees on the typical replies");
        assert_eq!(cases.len(), 12);
        assert!(cases.iter().all(|c| c.contenders.len() == 3));
    }

    #[test]
    fn the_frame_tree_keeps_aggregates_and_their_order() {
        let reply = Reply::Array(vec![Reply::Int(1), Reply::bulk("x"), Reply::Nil]);
        assert_eq!(
            their_bytes(&reply, Proto::Resp2).expect("encodes"),
            b"*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n"
        );
        assert_eq!(
            their_bytes(&reply, Proto::Resp3).expect("encodes"),
            b"*3\r\n:1\r\n$1\r\nx\r\n_\r\n"
        );
    }

    #[test]
    fn fidelity_rows_name_what_differs() {
        let rows = fidelity();
        let null_array = &rows[0];
        assert_eq!(null_array.petrel, "*-1\\r\\n");
        assert_eq!(null_array.redis_protocol, "$-1\\r\\n");
        assert_eq!(rows[1].petrel, ",0.10000000000000001\\r\\n");
    }
}
