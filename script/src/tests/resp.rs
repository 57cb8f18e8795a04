//! RESP2/RESP3 bytes of a reply, as redis-server writes them (to compare
//! with recorded answers).

use petrel_common::num::{format_g17, format_human};
use petrel_common::reply::Reply;

/// `reply` encoded for a RESP3 (`resp3`) or RESP2 client.
pub(crate) fn encode(reply: &Reply, resp3: bool) -> Vec<u8> {
    let mut out = Vec::new();
    put(reply, resp3, &mut out);
    out
}

fn put(reply: &Reply, resp3: bool, out: &mut Vec<u8>) {
    let head = |out: &mut Vec<u8>, t: u8, n: usize| {
        out.push(t);
        out.extend_from_slice(format!("{n}\r\n").as_bytes());
    };
    let bulk = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    };
    match reply {
        Reply::Status(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
        Reply::Error(s) => out.extend_from_slice(format!("-{s}\r\n").as_bytes()),
        Reply::Int(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
        Reply::Bulk(b) => bulk(out, b),
        Reply::Nil | Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) | Reply::Push(items) | Reply::Frames(items) => {
            head(out, b'*', items.len());
            items.iter().for_each(|i| put(i, resp3, out));
        }
        Reply::Set(items) => {
            head(out, if resp3 { b'~' } else { b'*' }, items.len());
            items.iter().for_each(|i| put(i, resp3, out));
        }
        Reply::Keyed(pairs) => {
            head(out, if resp3 { b'%' } else { b'*' }, pairs.len());
            for (k, v) in pairs {
                if !resp3 {
                    head(out, b'*', 2);
                }
                put(k, resp3, out);
                put(v, resp3, out);
            }
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            if resp3 {
                head(out, b'%', pairs.len());
            } else {
                head(out, b'*', pairs.len() * 2);
            }
            for (k, v) in pairs {
                put(k, resp3, out);
                put(v, resp3, out);
            }
        }
        Reply::Double(d) if resp3 => {
            out.extend_from_slice(format!(",{}\r\n", format_g17(*d)).as_bytes())
        }
        Reply::Double(d) => bulk(out, format_g17(*d).as_bytes()),
        Reply::HumanDouble(d) if resp3 => {
            out.extend_from_slice(format!(",{}\r\n", format_human(*d)).as_bytes())
        }
        Reply::HumanDouble(d) => bulk(out, format_human(*d).as_bytes()),
        Reply::Verbatim(t) if resp3 => {
            out.extend_from_slice(format!("={}\r\ntxt:", t.len() + 4).as_bytes());
            out.extend_from_slice(t);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Verbatim(t) => bulk(out, t),
        Reply::Bool(b) if resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Reply::BigNumber(n) if resp3 => out.extend_from_slice(format!("({n}\r\n").as_bytes()),
        Reply::BigNumber(n) => bulk(out, n.as_bytes()),
    }
}
