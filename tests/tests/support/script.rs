//! Differential command scripts (`tests/scripts/*.redis`, and
//! `tests/scripts-pending/*.redis` for features Petrel does not serve yet)
//! and RESP replies.
//!
//! A script has one command per line, arguments split like `redis-cli`
//! does: spaces separate, `"..."` understands `\r \n \t \b \a \" \\ \xHH`,
//! `'...'` understands `\'`. Blank lines and lines starting with `#` are
//! skipped. Key names are written out in full: each script picks its own
//! prefix (`r3:`, `{bl}`...) and nothing rewrites them, so a channel that
//! embeds a key (`__keyspace@0__:ke:a`) names it as written.
//!
//! **Connections.** A line may start with `@name ` (`@sub SUBSCRIBE ch`):
//! it runs on the connection `name`, opened on its first use (fresh for each
//! script, RESP2 until it sends `HELLO 3`); a line without `@name` runs on
//! the script's default connection. `@name` comes first, before any marker.
//!
//! **Markers.** After `@name`, a line may carry one marker that changes how
//! the two replies are compared:
//!
//! - `~unordered` — the replies are arrays/sets with the same elements in
//!   any order;
//! - `~shape` — only the structure must agree (types, lengths, map keys),
//!   not scalar values (e.g. `HELLO`, whose server name/version/id differ);
//! - `~ignore` — sent to both, replies not compared;
//! - `!differs "<reason>" "<reply>"` — Petrel differs from Redis on
//!   purpose; Petrel's reply must be exactly `<reply>` (RESP bytes, escapes
//!   as above); Redis's reply is not checked.
//!
//! **Frames without a command** (pub/sub messages, keyspace events, the
//! extra replies of a command that answers several times). A command line
//! reads exactly one frame: its reply. `SUBSCRIBE a b c` answers with three
//! frames, so the line compares the first (`subscribe a 1`) and the script
//! reads the other two with two `~read` lines. Pseudo-commands, each on its
//! own line and optionally after `@name`:
//!
//! - `~read` — reads one frame that arrives within [`FRAME_WAIT`] and
//!   compares it like a reply (a marker may come before it:
//!   `@sub ~shape ~read`); no frame is a mismatch and ends the script;
//! - `~none` — no frame may arrive within [`NONE_WAIT`];
//! - `~closed` — the server closes the connection (after `QUIT`) within
//!   [`FRAME_WAIT`];
//! - `~sleep MS` — waits MS milliseconds, sending nothing (lets a key with a
//!   50 ms TTL expire); takes no `@name` and no marker.
//!
//! When a script ends, no connection may hold a frame it did not read, so a
//! forgotten `~read` cannot make the lines after it compare the wrong frames.

use std::fmt::Write as _;
use std::time::Duration;

/// How long `~read` and `~closed` wait for the server.
pub const FRAME_WAIT: Duration = Duration::from_secs(5);

/// How long `~none` watches for a frame that must not come.
pub const NONE_WAIT: Duration = Duration::from_millis(200);

/// How a line's two replies are compared.
#[derive(Clone, Debug, PartialEq)]
pub enum Compare {
    Exact,
    Unordered,
    Shape,
    Ignore,
    Differs { reason: String, petrel: Vec<u8> },
}

/// What a line does on its connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Sends the line's arguments and reads the reply.
    Command,
    /// `~read`: reads one frame sent without a command.
    Read,
    /// `~none`: no frame may arrive.
    NoFrame,
    /// `~closed`: the server closes the connection.
    Closed,
    /// `~sleep MS`: waits, sending nothing.
    Sleep(Duration),
}

/// One line of a script.
#[derive(Clone, Debug)]
pub struct Line {
    /// 1-based line number in the script file.
    pub number: usize,
    /// The line as written.
    pub text: String,
    /// The connection's name (`@name`); `None` is the default connection.
    pub conn: Option<String>,
    pub compare: Compare,
    pub action: Action,
    /// The command and its arguments (for a pseudo-command, its words).
    pub args: Vec<Vec<u8>>,
}

impl Line {
    pub fn arg_slices(&self) -> Vec<&[u8]> {
        self.args.iter().map(Vec::as_slice).collect()
    }

    /// The command name, upper-cased.
    pub fn command(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_ascii_uppercase()
    }
}

/// Parses a whole script; errors name the offending line.
pub fn parse_script(text: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let line = parse_line(number, trimmed).map_err(|e| format!("line {number}: {e}"))?;
        lines.push(line);
    }
    Ok(lines)
}

/// Parses one non-blank, non-comment line.
fn parse_line(number: usize, text: &str) -> Result<Line, String> {
    let mut args = split_args(text)?;
    let mut conn = None;
    if let Some(name) = args.first().and_then(|a| a.strip_prefix(b"@")) {
        if name.is_empty() {
            return Err("`@` needs a connection name".into());
        }
        conn = Some(String::from_utf8_lossy(name).into_owned());
        args.remove(0);
    }
    let mut compare = Compare::Exact;
    while let Some(first) = args.first() {
        let marker = match first.as_slice() {
            b"~unordered" => Compare::Unordered,
            b"~shape" => Compare::Shape,
            b"~ignore" => Compare::Ignore,
            b"!differs" => {
                if args.len() < 4 {
                    return Err(
                        "`!differs \"<reason>\" \"<reply>\" COMMAND...` needs a reason, a reply and a command".into(),
                    );
                }
                let reason = String::from_utf8_lossy(&args[1]).into_owned();
                let petrel = args[2].clone();
                args.drain(..2);
                Compare::Differs { reason, petrel }
            }
            b"~read" | b"~none" | b"~closed" | b"~sleep" => break,
            m if m.starts_with(b"@") => {
                return Err("`@name` must come first on the line".into());
            }
            m if m.starts_with(b"~") || m.starts_with(b"!") => {
                return Err(format!("unknown marker {}", escape(m)));
            }
            _ => break,
        };
        if compare != Compare::Exact {
            return Err("only one marker per line".into());
        }
        compare = marker;
        args.remove(0);
    }
    let Some(first) = args.first() else {
        return Err("no command".into());
    };
    let action = match first.as_slice() {
        b"~read" => Action::Read,
        b"~none" => Action::NoFrame,
        b"~closed" => Action::Closed,
        b"~sleep" => {
            let ms = args
                .get(1)
                .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u64>().ok())
                .filter(|_| args.len() == 2)
                .ok_or("`~sleep MS` needs one number of milliseconds")?;
            if conn.is_some() || compare != Compare::Exact {
                return Err("`~sleep` takes no `@name` and no marker".into());
            }
            Action::Sleep(Duration::from_millis(ms))
        }
        _ => Action::Command,
    };
    if matches!(action, Action::Read | Action::NoFrame | Action::Closed) && args.len() > 1 {
        return Err(format!("{} takes no arguments", escape(first)));
    }
    if matches!(action, Action::NoFrame | Action::Closed) && compare != Compare::Exact {
        return Err(format!("{} takes no marker", escape(first)));
    }
    Ok(Line {
        number,
        text: text.to_string(),
        conn,
        compare,
        action,
        args,
    })
}

/// Splits a line into arguments the way `redis-cli` (`sdssplitargs`) does.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                match b.get(i) {
                    None => return Err("unbalanced double quotes".into()),
                    Some(b'\\')
                        if b.get(i + 1) == Some(&b'x')
                            && hex_byte(b.get(i + 2..i + 4)).is_some() =>
                    {
                        cur.extend(hex_byte(b.get(i + 2..i + 4)));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        i += 1;
                        cur.push(match b[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            c => c,
                        });
                    }
                    Some(b'"') => {
                        if b.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return Err("closing quote must be followed by a space".into());
                        }
                        i += 1;
                        break;
                    }
                    Some(&c) => cur.push(c),
                }
            } else if in_sq {
                match b.get(i) {
                    None => return Err("unbalanced single quotes".into()),
                    Some(b'\\') if b.get(i + 1) == Some(&b'\'') => {
                        cur.push(b'\'');
                        i += 1;
                    }
                    Some(b'\'') => {
                        if b.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return Err("closing quote must be followed by a space".into());
                        }
                        i += 1;
                        break;
                    }
                    Some(&c) => cur.push(c),
                }
            } else {
                match b.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let d = std::str::from_utf8(digits?).ok()?;
    if d.bytes().all(|c| c.is_ascii_hexdigit()) {
        u8::from_str_radix(d, 16).ok()
    } else {
        None
    }
}

/// A parsed RESP2/RESP3 reply that remembers its raw bytes.
#[derive(Clone, Debug)]
pub struct Resp {
    /// Type byte: `+ - : $ * _ , # ! = ( % ~ > |`.
    pub kind: u8,
    /// The header line without type byte and CRLF (length, or the scalar).
    pub head: Vec<u8>,
    /// Bulk payload, for `$ ! =`.
    pub bulk: Option<Vec<u8>>,
    /// Children of aggregates (a map's keys and values alternate).
    pub items: Vec<Resp>,
    /// The exact bytes of this value.
    pub raw: Vec<u8>,
}

impl Resp {
    /// Parses one complete reply; errors on malformed or trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Resp, String> {
        let (v, used) = parse_at(bytes, 0)?;
        if used != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - used));
        }
        Ok(v)
    }

    /// The structure without scalar values: types, lengths and map keys.
    pub fn shape(&self) -> String {
        let mut s = String::new();
        self.shape_into(&mut s);
        s
    }

    fn shape_into(&self, s: &mut String) {
        match self.kind {
            b'*' | b'~' | b'>' => {
                let _ = write!(s, "{}{}[", self.kind as char, self.items.len());
                for it in &self.items {
                    it.shape_into(s);
                    s.push(' ');
                }
                s.push(']');
            }
            b'%' | b'|' => {
                let _ = write!(s, "{}{}{{", self.kind as char, self.items.len() / 2);
                for kv in self.items.chunks(2) {
                    let _ = write!(s, "{}=", escape(&kv[0].raw));
                    kv[1].shape_into(s);
                    s.push(' ');
                }
                s.push('}');
            }
            b'$' if self.bulk.is_none() => s.push_str("$nil"),
            k => s.push(k as char),
        }
    }

    /// True when both are the same aggregate with the same elements in any order.
    pub fn same_unordered(&self, other: &Resp) -> bool {
        if self.kind != other.kind || self.items.len() != other.items.len() {
            return false;
        }
        let mut a: Vec<&[u8]> = self.items.iter().map(|i| i.raw.as_slice()).collect();
        let mut b: Vec<&[u8]> = other.items.iter().map(|i| i.raw.as_slice()).collect();
        a.sort();
        b.sort();
        a == b
    }
}

fn parse_at(b: &[u8], start: usize) -> Result<(Resp, usize), String> {
    let eol = b[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| start + p)
        .ok_or_else(|| "unterminated line".to_string())?;
    let kind = *b.get(start).ok_or("empty reply")?;
    let head = b[start + 1..eol].to_vec();
    let mut pos = eol + 2;
    let num = || -> Result<i64, String> {
        std::str::from_utf8(&head)
            .ok()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| format!("bad length {}", escape(&head)))
    };
    let mut bulk = None;
    let mut items = Vec::new();
    match kind {
        b'$' | b'!' | b'=' => {
            let n = num()?;
            if n >= 0 {
                let end = pos + n as usize;
                if b.len() < end + 2 || &b[end..end + 2] != b"\r\n" {
                    return Err("truncated bulk".into());
                }
                bulk = Some(b[pos..end].to_vec());
                pos = end + 2;
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            let count = if matches!(kind, b'%' | b'|') {
                n * 2
            } else {
                n
            };
            for _ in 0..count.max(0) {
                let (item, next) = parse_at(b, pos)?;
                items.push(item);
                pos = next;
            }
        }
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
        k => return Err(format!("unknown type byte {}", escape(&[k]))),
    }
    Ok((
        Resp {
            kind,
            head,
            bulk,
            items,
            raw: b[start..pos].to_vec(),
        },
        pos,
    ))
}

/// Compares a line's two replies as its marker says; `Err` explains why not.
pub fn compare(compare: &Compare, redis: &[u8], petrel: &[u8]) -> Result<(), String> {
    let ok = match compare {
        Compare::Exact => redis == petrel,
        Compare::Ignore => true,
        Compare::Differs { petrel: want, .. } => petrel == want.as_slice(),
        Compare::Unordered | Compare::Shape => {
            let (Ok(r), Ok(p)) = (Resp::parse(redis), Resp::parse(petrel)) else {
                return Err("a reply is not valid RESP".into());
            };
            if *compare == Compare::Unordered {
                r.same_unordered(&p)
            } else {
                r.shape() == p.shape()
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(match compare {
            Compare::Shape => "replies differ in shape".into(),
            Compare::Unordered => "replies differ (ignoring order)".into(),
            Compare::Differs { reason, .. } => {
                format!("Petrel's deliberate reply expected ({reason})")
            }
            _ => "replies differ".into(),
        })
    }
}

/// Bytes as a readable string: printable ASCII kept, `\r \n \" \\` and
/// `\xHH` escaped (the script syntax).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &c in bytes {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}
