//! [`Reply`] to wire bytes, in RESP2 or RESP3.
//!
//! Hand-written rather than `redis-protocol`'s encoders: those need each
//! reply copied into their frame tree first, and without the `index-map`
//! feature their RESP3 maps are `HashMap`s, which would scramble the field
//! order of HELLO, CONFIG GET and COMMAND DOCS. Doubles are formatted like
//! Redis 7.0 (`%.17g`, `inf`, `-inf`). Measured with `petrel-resp-bench`,
//! theirs also takes 1.8–6x our time per typical reply
//! (docs/ARCHITECTURE.md, "Dependencies: RESP").

use petrel_common::num::{format_g17, format_human};
use std::io::Write;

use bytes::{BufMut, BytesMut};
use petrel_common::reply::Reply;

/// The RESP version a client speaks (HELLO switches it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

impl Proto {
    /// The number HELLO and CLIENT LIST show.
    pub fn number(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// Appends `reply` to `out` as `proto`.
pub fn encode(reply: &Reply, proto: Proto, out: &mut BytesMut) {
    let resp3 = proto == Proto::Resp3;
    match reply {
        Reply::Status(s) => line(out, b'+', s),
        Reply::Error(s) => line(out, b'-', s),
        Reply::Int(i) => header(out, b':', *i),
        Reply::Bulk(b) => bulk(out, b'$', b"", b),
        Reply::Nil if resp3 => out.put_slice(b"_\r\n"),
        Reply::Nil => out.put_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
        Reply::NilArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            header(out, b'*', items.len() as i64);
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Set(items) => {
            header(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                header(out, b'%', pairs.len() as i64);
            } else {
                header(out, b'*', 2 * pairs.len() as i64);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                header(out, b'*', pairs.len() as i64);
                for (a, b) in pairs {
                    out.put_slice(b"*2\r\n");
                    encode(a, proto, out);
                    encode(b, proto, out);
                }
            } else {
                header(out, b'*', 2 * pairs.len() as i64);
                for (a, b) in pairs {
                    encode(a, proto, out);
                    encode(b, proto, out);
                }
            }
        }
        Reply::Keyed(pairs) => {
            if resp3 {
                header(out, b'%', pairs.len() as i64);
            } else {
                header(out, b'*', pairs.len() as i64);
            }
            for (k, v) in pairs {
                if !resp3 {
                    out.put_slice(b"*2\r\n");
                }
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) => double(out, &format_g17(*d), resp3),
        Reply::HumanDouble(d) => double(out, &format_human(*d), resp3),
        Reply::Verbatim(text) if resp3 => bulk(out, b'=', b"txt:", text),
        Reply::Verbatim(text) => bulk(out, b'$', b"", text),
        Reply::Bool(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Reply::BigNumber(n) if resp3 => line(out, b'(', n),
        Reply::BigNumber(n) => bulk(out, b'$', b"", n.as_bytes()),
        Reply::Push(items) => {
            header(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Frames(replies) => {
            for reply in replies {
                encode(reply, proto, out);
            }
        }
    }
}

/// A double's text: `,` in RESP3, a bulk string in RESP2.
fn double(out: &mut BytesMut, text: &str, resp3: bool) {
    if resp3 {
        out.put_u8(b',');
        out.put_slice(text.as_bytes());
        out.put_slice(b"\r\n");
    } else {
        bulk(out, b'$', b"", text.as_bytes());
    }
}

/// Encodes one reply into a fresh buffer (handy in tests and one-off writes).
pub fn to_bytes(reply: &Reply, proto: Proto) -> BytesMut {
    let mut out = BytesMut::new();
    encode(reply, proto, &mut out);
    out
}

fn line(out: &mut BytesMut, kind: u8, text: &str) {
    out.put_u8(kind);
    // A status or error is one line: CR/LF inside would break framing.
    for &b in text.as_bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

fn header(out: &mut BytesMut, kind: u8, n: i64) {
    out.put_u8(kind);
    let _ = write!(Writer(out), "{n}");
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, kind: u8, prefix: &[u8], data: &[u8]) {
    header(out, kind, (prefix.len() + data.len()) as i64);
    out.reserve(prefix.len() + data.len() + 2);
    out.put_slice(prefix);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// `io::Write` over a `BytesMut`, to format numbers without a temporary String.
struct Writer<'a>(&'a mut BytesMut);

impl Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.put_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn both(r: &Reply) -> (String, String) {
        let two = to_bytes(r, Proto::Resp2);
        let three = to_bytes(r, Proto::Resp3);
        (
            String::from_utf8_lossy(&two).into_owned(),
            String::from_utf8_lossy(&three).into_owned(),
        )
    }

    fn check(r: Reply, resp2: &str, resp3: &str) {
        assert_eq!(both(&r), (resp2.to_string(), resp3.to_string()), "{r:?}");
    }

    #[test]
    fn scalars() {
        check(Reply::ok(), "+OK\r\n", "+OK\r\n");
        check(
            Reply::error("ERR bad\r\nthing"),
            "-ERR bad  thing\r\n",
            "-ERR bad  thing\r\n",
        );
        check(Reply::Int(-42), ":-42\r\n", ":-42\r\n");
        check(
            Reply::Int(i64::MIN),
            ":-9223372036854775808\r\n",
            ":-9223372036854775808\r\n",
        );
        check(
            Reply::bulk("a\r\nb"),
            "$4\r\na\r\nb\r\n",
            "$4\r\na\r\nb\r\n",
        );
        check(Reply::bulk(""), "$0\r\n\r\n", "$0\r\n\r\n");
        check(Reply::Nil, "$-1\r\n", "_\r\n");
        check(Reply::NilArray, "*-1\r\n", "_\r\n");
    }

    #[test]
    fn booleans_and_big_numbers() {
        // What redis-server 7.0.15 sends for a RESP3 script's `true`, `false`
        // and `{big_number='123'}` to a RESP2 and a RESP3 client.
        check(Reply::Bool(true), ":1\r\n", "#t\r\n");
        check(Reply::Bool(false), ":0\r\n", "#f\r\n");
        check(Reply::BigNumber("123".into()), "$3\r\n123\r\n", "(123\r\n");
    }

    #[test]
    fn doubles() {
        check(Reply::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
        check(
            Reply::HumanDouble(13.361389338970184),
            "$20\r\n13.36138933897018433\r\n",
            ",13.36138933897018433\r\n",
        );
        check(Reply::HumanDouble(180.0), "$3\r\n180\r\n", ",180\r\n");
        check(Reply::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
        check(
            Reply::Double(f64::NEG_INFINITY),
            "$4\r\n-inf\r\n",
            ",-inf\r\n",
        );
        check(Reply::Double(f64::NAN), "$3\r\nnan\r\n", ",nan\r\n");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(-0.0), "-0");
        assert_eq!(format_g17(0.0), "0");
        assert_eq!(format_g17(1e17), "1e+17");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(1.5e-5), "1.5e-05");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(123456.789), "123456.789");
        assert_eq!(format_g17(1e300), "1.0000000000000001e+300");
    }

    #[test]
    fn aggregates() {
        check(
            Reply::Array(vec![Reply::Int(1), Reply::bulk("x"), Reply::Nil]),
            "*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n",
            "*3\r\n:1\r\n$1\r\nx\r\n_\r\n",
        );
        check(Reply::Array(vec![]), "*0\r\n", "*0\r\n");
        check(
            Reply::Map(vec![
                (Reply::bulk("a"), Reply::Int(1)),
                (Reply::bulk("b"), Reply::Double(2.5)),
            ]),
            "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
            "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,2.5\r\n",
        );
        check(
            Reply::Pairs(vec![(Reply::bulk("m"), Reply::Double(1.5))]),
            "*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n",
            "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n",
        );
        check(Reply::Pairs(vec![]), "*0\r\n", "*0\r\n");
        check(
            Reply::Keyed(vec![(Reply::bulk("s"), Reply::Array(vec![]))]),
            "*1\r\n*2\r\n$1\r\ns\r\n*0\r\n",
            "%1\r\n$1\r\ns\r\n*0\r\n",
        );
        check(
            Reply::Set(vec![Reply::bulk("m")]),
            "*1\r\n$1\r\nm\r\n",
            "~1\r\n$1\r\nm\r\n",
        );
        check(
            Reply::Verbatim(Bytes::from_static(b"hi\r\n")),
            "$4\r\nhi\r\n\r\n",
            "=8\r\ntxt:hi\r\n\r\n",
        );
        check(
            Reply::Array(vec![Reply::Map(vec![(Reply::bulk("k"), Reply::NilArray)])]),
            "*1\r\n*2\r\n$1\r\nk\r\n*-1\r\n",
            "*1\r\n%1\r\n$1\r\nk\r\n_\r\n",
        );
    }

    #[test]
    fn proto_numbers() {
        assert_eq!(Proto::Resp2.number(), 2);
        assert_eq!(Proto::Resp3.number(), 3);
    }
}
