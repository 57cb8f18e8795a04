//! Conversions between Lua values and replies, as Redis 7 makes them.
//!
//! Lua to reply (a script's return value): numbers become integers
//! (truncated), strings bulk strings, `{ok=}` statuses, `{err=}` errors,
//! tables arrays up to their first nil; booleans are `:1`/nil under RESP2 and
//! booleans under RESP3, where `{double=}`, `{map=}`, `{set=}`,
//! `{big_number=}` and `{verbatim_string=}` also apply.
//! Reply to Lua (what `redis.call` returns): nil becomes `false` (RESP2) or
//! `nil` (RESP3), statuses `{ok=}`, errors `{err=}`, and RESP3's types their
//! tables.

use bytes::Bytes;
use mlua::{Function, Lua, Table, Value};
use petrel_common::num::{format_g17, format_human};
use petrel_common::reply::Reply;

/// Redis's Lua C stack limit (`LUAI_MAXCSTACK`): a reply nested deeper ends
/// in the error element Redis writes there.
const STACK_LIMIT: usize = 8000;
/// Stack slots in use when the returned value is converted.
const STACK_BASE: usize = 2;
/// Slots one conversion step may need (`lua_checkstack(lua, 4)`).
const STACK_STEP: usize = 4;
const STACK_ERROR: &str = "ERR reached lua stack limit";

/// A script's return value as the reply Redis sends; `resp3` is the protocol
/// the script chose with `redis.setresp` (it decides booleans).
///
/// Iterative, and the tables being walked wait in a Lua table rather than
/// as Rust references, so a value nested thousands deep overflows neither
/// the caller's stack nor mlua's reference slots.
pub fn lua_to_reply(lua: &Lua, value: &Value, resp3: bool) -> Reply {
    match Walk::new(lua) {
        Ok(walk) => walk.run(value, resp3),
        Err(e) => Reply::Error(format!("ERR {e}")),
    }
}

/// The state of one conversion: `held[3d]` is the table at depth `d`,
/// `held[3d+1]` its iteration key, `held[3d+2]` a map value waiting for its
/// key to be converted.
struct Walk {
    held: Table,
    next: Function,
}

impl Walk {
    fn new(lua: &Lua) -> mlua::Result<Walk> {
        let next = match lua.named_registry_value::<Function>(NEXT) {
            Ok(f) => f,
            Err(_) => lua.globals().raw_get("next")?,
        };
        Ok(Walk {
            held: lua.create_table()?,
            next,
        })
    }

    fn run(&self, value: &Value, resp3: bool) -> Reply {
        let mut stack: Vec<Frame> = Vec::new();
        let mut step = self.start(value, resp3, STACK_BASE, 0);
        loop {
            match step {
                Step::Open(frame) => stack.push(frame),
                Step::Done(reply) => match stack.last_mut() {
                    Some(parent) => parent.accept(reply),
                    None => return reply,
                },
            }
            let depth = stack.len() - 1;
            let Some(top) = stack.last_mut() else {
                return Reply::Nil;
            };
            step = match self.next_child(top, depth) {
                Some((child, slot)) => self.start(&child, resp3, slot, depth + 1),
                None => match stack.pop() {
                    Some(frame) => Step::Done(frame.finish()),
                    None => return Reply::Nil,
                },
            };
        }
    }

    fn table(&self, depth: usize) -> Option<Table> {
        self.held.raw_get::<Table>(3 * depth + 1).ok()
    }

    /// The next element of the container at `depth`, with the stack slot it
    /// would sit at in Redis's converter.
    fn next_child(&self, frame: &mut Frame, depth: usize) -> Option<(Value, usize)> {
        let base = 3 * depth + 1;
        match frame {
            Frame::Array { next, slot, .. } => match self.table(depth)?.raw_get::<Value>(*next) {
                Ok(Value::Nil) | Err(_) => None,
                Ok(v) => {
                    *next += 1;
                    Some((v, *slot + 1))
                }
            },
            Frame::Map {
                value_due, slot, ..
            } => {
                if *value_due {
                    *value_due = false;
                    let v = self.held.raw_get::<Value>(base + 2).ok()?;
                    return Some((v, *slot + 3));
                }
                let (k, v) = self.advance(depth)?;
                self.held.raw_set(base + 2, v).ok()?;
                *value_due = true;
                Some((k, *slot + 4))
            }
            Frame::Set { slot, .. } => {
                let (k, _) = self.advance(depth)?;
                Some((k, *slot + 3))
            }
        }
    }

    /// `next(table, key)` for the table at `depth`, remembering the key.
    fn advance(&self, depth: usize) -> Option<(Value, Value)> {
        let base = 3 * depth + 1;
        let t = self.table(depth)?;
        let key = self.held.raw_get::<Value>(base + 1).ok()?;
        let (k, v): (Value, Value) = self.next.call((t, key)).ok()?;
        if k.is_nil() {
            return None;
        }
        self.held.raw_set(base + 1, k.clone()).ok()?;
        Some((k, v))
    }

    /// Converts a scalar, or opens the table `value` at `depth`.
    fn start(&self, value: &Value, resp3: bool, slot: usize, depth: usize) -> Step {
        if slot + STACK_STEP > STACK_LIMIT {
            return Step::Done(Reply::Error(STACK_ERROR.to_string()));
        }
        Step::Done(match value {
            Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Boolean(b) if resp3 => Reply::Bool(*b),
            Value::Boolean(true) => Reply::Int(1),
            Value::Boolean(false) => Reply::Nil,
            Value::Integer(i) => Reply::Int(*i),
            Value::Number(n) => Reply::Int(lua_number_to_i64(*n)),
            Value::Table(t) => {
                return match table_step(t, slot) {
                    Opened::Reply(r) => Step::Done(r),
                    Opened::Frame(frame, walked) => {
                        let base = 3 * depth + 1;
                        if self.held.raw_set(base, walked).is_err()
                            || self.held.raw_set(base + 1, Value::Nil).is_err()
                        {
                            return Step::Done(Reply::Error(STACK_ERROR.to_string()));
                        }
                        Step::Open(frame)
                    }
                };
            }
            _ => Reply::Nil,
        })
    }
}

/// The registry name of Lua's own `next` (the sandbox replaces the global).
pub(crate) const NEXT: &str = "petrel.next";

/// A converted value, or a container whose elements are still to convert.
enum Step {
    Done(Reply),
    Open(Frame),
}

/// What a table turns out to be.
enum Opened {
    Reply(Reply),
    /// A container, and the table whose elements it walks.
    Frame(Frame, Table),
}

/// A container being converted.
enum Frame {
    /// A table read as an array: elements `1..` up to the first nil.
    Array {
        next: usize,
        items: Vec<Reply>,
        slot: usize,
    },
    /// `{map=}`: keys and values alternate.
    Map {
        key: Option<Reply>,
        value_due: bool,
        out: Vec<(Reply, Reply)>,
        slot: usize,
    },
    /// `{set=}`: the keys.
    Set { out: Vec<Reply>, slot: usize },
}

impl Frame {
    fn accept(&mut self, reply: Reply) {
        match self {
            Frame::Array { items, .. } => items.push(reply),
            Frame::Map { key, out, .. } => match key.take() {
                None => *key = Some(reply),
                Some(k) => out.push((k, reply)),
            },
            Frame::Set { out, .. } => out.push(reply),
        }
    }

    fn finish(self) -> Reply {
        match self {
            Frame::Array { items, .. } => Reply::Array(items),
            Frame::Map { out, .. } => Reply::Map(out),
            Frame::Set { out, .. } => Reply::Set(out),
        }
    }
}

fn table_step(t: &Table, slot: usize) -> Opened {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        return Opened::Reply(Reply::Error(one_line(&e.as_bytes())));
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return Opened::Reply(Reply::Status(one_line(&s.as_bytes())));
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Opened::Reply(Reply::Double(d)),
        Ok(Value::Integer(i)) => return Opened::Reply(Reply::Double(i as f64)),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        return Opened::Reply(Reply::BigNumber(one_line(&s.as_bytes())));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(_)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            return Opened::Reply(Reply::Verbatim(Bytes::copy_from_slice(&s.as_bytes())));
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let frame = Frame::Map {
            key: None,
            value_due: false,
            out: Vec::new(),
            slot,
        };
        return Opened::Frame(frame, m);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        return Opened::Frame(
            Frame::Set {
                out: Vec::new(),
                slot,
            },
            s,
        );
    }
    let frame = Frame::Array {
        next: 1,
        items: Vec::new(),
        slot,
    };
    Opened::Frame(frame, t.clone())
}

/// A Lua number as C's `(long long)` cast gives it on x86-64: out of range
/// and NaN become `i64::MIN`.
pub fn lua_number_to_i64(n: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-TWO_63..TWO_63).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// A status or error text as Redis writes it: up to the first NUL, CR and
/// LF turned into spaces.
fn one_line(s: &[u8]) -> String {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end])
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Redis's error table for `text`: `-CODE msg` keeps its code, any other
/// text gets `ERR`; CR and LF at either end are trimmed.
pub fn error_text(text: &str) -> String {
    let (code, msg) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", text),
    };
    let msg = msg.trim_matches(|c| c == '\r' || c == '\n');
    format!("{code} {msg}")
}

/// `{err = <error_text(text)>, ignore_error_stats_update = true}`, the table
/// `redis.pcall` returns for a failed command.
pub(crate) fn error_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", error_text(text))?;
    t.raw_set("ignore_error_stats_update", true)?;
    Ok(t)
}

/// A command's reply as the Lua value `redis.call` returns, for a script
/// speaking RESP3 (`resp3`) or RESP2.
pub fn reply_to_lua(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Value> {
    let single = |field: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(field, v)?;
        Ok(Value::Table(t))
    };
    let string = |b: &[u8]| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(b)?)) };
    Ok(match reply {
        Reply::Status(s) => single("ok", string(s.as_bytes())?)?,
        Reply::Error(e) => Value::Table(error_table(lua, &format!("-{e}"))?),
        Reply::Int(i) => Value::Number(i as f64),
        Reply::Bulk(b) => string(&b)?,
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) | Reply::Frames(items) => {
            sequence(lua, items, resp3)?
        }
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Reply::Set(items) => sequence(lua, items, resp3)?,
        Reply::Map(pairs) | Reply::Keyed(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            single("map", Value::Table(map))?
        }
        Reply::Pairs(pairs) if resp3 => {
            let items = pairs
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect();
            sequence(lua, items, resp3)?
        }
        Reply::Keyed(pairs) => {
            let items = pairs
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect();
            sequence(lua, items, resp3)?
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            let flat = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            sequence(lua, flat, resp3)?
        }
        Reply::Double(d) | Reply::HumanDouble(d) if resp3 => single("double", Value::Number(d))?,
        Reply::Double(d) => string(format_g17(d).as_bytes())?,
        Reply::HumanDouble(d) => string(format_human(d).as_bytes())?,
        Reply::Bool(b) if resp3 => Value::Boolean(b),
        Reply::Bool(b) => Value::Number(if b { 1.0 } else { 0.0 }),
        Reply::BigNumber(n) if resp3 => single("big_number", string(n.as_bytes())?)?,
        Reply::BigNumber(n) => string(n.as_bytes())?,
        Reply::Verbatim(text) if resp3 => {
            let v = lua.create_table()?;
            v.raw_set("string", lua.create_string(&text)?)?;
            v.raw_set("format", "txt")?;
            single("verbatim_string", Value::Table(v))?
        }
        Reply::Verbatim(text) => string(&text)?,
    })
}

fn sequence(lua: &Lua, items: Vec<Reply>, resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_truncate_like_c() {
        assert_eq!(lua_number_to_i64(3.99), 3);
        assert_eq!(lua_number_to_i64(-3.99), -3);
        // redis-server 7.0.15 answers `return 1e20` and `return 0/0` so.
        assert_eq!(lua_number_to_i64(1e20), i64::MIN);
        assert_eq!(lua_number_to_i64(f64::NAN), i64::MIN);
    }

    #[test]
    fn error_texts_get_a_code() {
        assert_eq!(error_text("boom"), "ERR boom");
        assert_eq!(error_text("-MY boom"), "MY boom");
        assert_eq!(error_text("-X"), "ERR X");
        assert_eq!(error_text("-WRONGTYPE Op\r\n"), "WRONGTYPE Op");
    }

    #[test]
    fn resp2_and_resp3_replies_become_lua_values() {
        let lua = Lua::new();
        let v = reply_to_lua(&lua, Reply::Nil, false).unwrap();
        assert_eq!(v, Value::Boolean(false));
        assert_eq!(reply_to_lua(&lua, Reply::Nil, true).unwrap(), Value::Nil);
        let m = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        let Value::Table(t) = reply_to_lua(&lua, m.clone(), false).unwrap() else {
            panic!("a table")
        };
        assert_eq!(t.raw_len(), 2);
        let Value::Table(t) = reply_to_lua(&lua, m, true).unwrap() else {
            panic!("a table")
        };
        let map: Table = t.raw_get("map").unwrap();
        assert_eq!(map.raw_get::<i64>("a").unwrap(), 1);
    }

    #[test]
    fn lua_values_become_replies() {
        let lua = Lua::new();
        let v: Value = lua
            .load("return {1, 2.9, 'x', {ok='a\\nb'}, {err='E x'}, true, false, nil, 5}")
            .eval()
            .unwrap();
        assert_eq!(
            lua_to_reply(&lua, &v, false),
            Reply::Array(vec![
                Reply::Int(1),
                Reply::Int(2),
                Reply::bulk("x"),
                Reply::Status("a b".into()),
                Reply::Error("E x".into()),
                Reply::Int(1),
                Reply::Nil,
            ])
        );
        let v: Value = lua
            .load("return {true, {double=1.5}, {big_number='12'}}")
            .eval()
            .unwrap();
        assert_eq!(
            lua_to_reply(&lua, &v, true),
            Reply::Array(vec![
                Reply::Bool(true),
                Reply::Double(1.5),
                Reply::BigNumber("12".into())
            ])
        );
    }
}
