//! The typed Redis reply a server computes and a proxy encodes for its client.
//!
//! Servers own Redis semantics and answer with a [`Reply`]; the proxy decides
//! how it goes on the wire (RESP2 or RESP3) for each client.

use bytes::Bytes;

/// A Redis reply value, independent of protocol version.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...` (the text includes its prefix, e.g. `WRONGTYPE ...`).
    Error(String),
    Int(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Nil,
    Array(Vec<Reply>),
    /// The null array (`*-1` in RESP2, `_` in RESP3).
    NilArray,
    /// A double: a bulk string in RESP2, `,` in RESP3.
    Double(f64),
    /// A double printed as Redis's `addReplyHumanLongDouble` prints it
    /// ([`crate::num::format_human`]): a bulk string in RESP2, `,` in RESP3
    /// (GEOPOS and WITHCOORD coordinates).
    HumanDouble(f64),
    /// Pairs: a flat array in RESP2, `%` in RESP3.
    Map(Vec<(Reply, Reply)>),
    /// A set: an array in RESP2, `~` in RESP3.
    Set(Vec<Reply>),
    /// Pairs sent as a flat array in RESP2 and as an array of two-element
    /// arrays in RESP3 (ZRANGE ... WITHSCORES, HRANDFIELD ... WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// Pairs sent as a map in RESP3 and as an array of two-element arrays
    /// in RESP2 (XREAD's streams, each with its entries).
    Keyed(Vec<(Reply, Reply)>),
    /// Text that RESP3 sends as a verbatim string (`=`), RESP2 as a bulk string.
    Verbatim(Bytes),
    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2 (what a RESP3 script returns).
    Bool(bool),
    /// A big number: `(` in RESP3, a bulk string in RESP2.
    BigNumber(String),
    /// An out-of-band message (pub/sub, invalidations): `>` in RESP3, an
    /// array in RESP2. Only the proxy makes these.
    Push(Vec<Reply>),
    /// Several replies sent one after another for one command (SUBSCRIBE
    /// answers once per channel). Only the proxy makes these.
    Frames(Vec<Reply>),
}

impl Reply {
    /// Whether containers nest in this reply more than `limit` deep (a
    /// scalar is depth 0, an array of scalars 1). Iterative, so any depth
    /// is safe to ask about.
    pub fn nests_deeper_than(&self, limit: usize) -> bool {
        let mut stack: Vec<(&Reply, usize)> = vec![(self, 0)];
        while let Some((r, depth)) = stack.pop() {
            let children: Box<dyn Iterator<Item = &Reply>> = match r {
                Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Frames(v) => {
                    Box::new(v.iter())
                }
                Reply::Map(p) | Reply::Pairs(p) | Reply::Keyed(p) => {
                    Box::new(p.iter().flat_map(|(k, v)| [k, v]))
                }
                _ => continue,
            };
            if depth + 1 > limit {
                return true;
            }
            stack.extend(children.map(|c| (c, depth + 1)));
        }
        false
    }

    pub fn ok() -> Reply {
        Reply::Status("OK".to_string())
    }

    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn bulk(data: impl Into<Bytes>) -> Reply {
        Reply::Bulk(data.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// How deep a script's reply may nest (servers carry replies between
/// processes, whose decoders stop at 100 levels); deeper is
/// [`errors::SCRIPT_REPLY_TOO_DEEP`].
pub const SCRIPT_REPLY_DEPTH: usize = 64;

/// Redis's standard error texts, in one place so every command uses the same words.
pub mod errors {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// A server's answer to `petrel.eval` when the script touched a key the
    /// request did not list: this word, a space, the key in lowercase hex.
    /// Never reaches a client (the proxy runs the script again).
    pub const UNLISTED_KEY: &str = "PETRELKEY";
    /// A script's reply nested deeper than [`SCRIPT_REPLY_DEPTH`].
    pub const SCRIPT_REPLY_TOO_DEEP: &str =
        "ERR Petrel cannot return a script reply nested more than 64 levels deep";
    pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

    /// `ERR wrong number of arguments for 'cmd' command`.
    pub fn wrong_arity(cmd: &str) -> String {
        format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.to_ascii_lowercase()
        )
    }

    /// Redis's `addReplySubcommandSyntaxError`: a subcommand unknown, or
    /// given the wrong arguments, named as the client typed it (`args[1]`,
    /// at most 128 characters, cut at a NUL; CR and LF become spaces).
    pub fn subcommand_syntax(args: &[impl AsRef<[u8]>]) -> String {
        let c_str = |a: Option<&[u8]>| {
            let a = a.unwrap_or_default();
            let end = a.iter().position(|&b| b == 0).unwrap_or(a.len());
            String::from_utf8_lossy(&a[..end]).into_owned()
        };
        let sub: String = c_str(args.get(1).map(|a| a.as_ref()))
            .chars()
            .take(128)
            .collect();
        let name = c_str(args.first().map(|a| a.as_ref())).to_ascii_uppercase();
        format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP.")
            .replace(['\r', '\n'], " ")
    }

    /// `ERR invalid expire time in 'cmd' command`.
    pub fn invalid_expire(cmd: &str) -> String {
        format!(
            "ERR invalid expire time in '{}' command",
            cmd.to_ascii_lowercase()
        )
    }
}
