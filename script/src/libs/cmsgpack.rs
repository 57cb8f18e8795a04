//! Redis's bundled `cmsgpack` library (lua-cmsgpack 0.4.0): MessagePack
//! encoding of Lua values and back.

use mlua::{Lua, MultiValue, Table, Value};

use super::{check_number, check_string, one_string};
use crate::cfunc::{lib_function, NAME_SLOT, NO_POSITION};

/// Tables nested deeper are encoded as nil (cycles end there).
const MAX_NESTING: usize = 16;
/// Decoded values nested deeper fail. Redis stops near 8000, where its Lua
/// stack ends; this bound keeps the decoder's recursion small.
const MAX_DECODE_DEPTH: usize = 1000;
/// Values one call may return (Redis's Lua stack).
const MAX_RESULTS: usize = 7990;
const TOO_MANY: &str =
    "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)";

fn is_int64(n: f64) -> bool {
    !n.is_infinite() && crate::convert::lua_number_to_i64(n) as f64 == n
}

fn is_int32(n: f64) -> bool {
    !n.is_infinite()
        && n >= f64::from(i32::MIN)
        && n <= f64::from(i32::MAX)
        && (n as i32) as f64 == n
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    if is_int64(n) {
        encode_int(out, n as i64);
    } else if n == f64::from(n as f32) {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_header(out: &mut Vec<u8>, n: usize, fix: u8, m16: u8, m32: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 65535 {
        out.push(m16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Whether the keys are exactly 1..n (`table_is_an_array`).
fn is_array(t: &Table) -> bool {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let Ok((k, _)) = pair else { return false };
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return false,
        };
        if n <= 0.0 || !is_int32(n) {
            return false;
        }
        max = max.max(n as i64);
        count += 1;
    }
    max == count
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t) {
                let len = t.raw_len();
                encode_header(out, len, 0x90, 0xdc, 0xdd);
                for j in 1..=len {
                    encode(out, &t.get::<Value>(j)?, level + 1)?;
                }
            } else {
                let pairs: Vec<(Value, Value)> =
                    t.pairs::<Value, Value>().collect::<mlua::Result<_>>()?;
                encode_header(out, pairs.len(), 0x80, 0xde, 0xdf);
                for (k, v) in pairs {
                    encode(out, &k, level + 1)?;
                    encode(out, &v, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// Why decoding stopped.
enum DecodeError {
    Eof,
    BadFormat,
    Lua(String),
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<&[u8], DecodeError> {
        self.data
            .get(self.at..self.at.checked_add(n).ok_or(DecodeError::Eof)?)
            .ok_or(DecodeError::Eof)
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, DecodeError> {
        let b = self.need(n)?.to_vec();
        self.at += n;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }
}

fn decode(lua: &Lua, c: &mut Cursor<'_>, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DECODE_DEPTH {
        return Err(DecodeError::Lua(TOO_MANY.to_string()));
    }
    let lua_err = |e: mlua::Error| DecodeError::Lua(e.to_string());
    let tag = c.need(1)?[0];
    c.at += 1;
    let num = |n: f64| Ok(Value::Number(n));
    match tag {
        0xcc => num(c.be(1)? as f64),
        0xd0 => num(f64::from(c.be(1)? as u8 as i8)),
        0xcd => num(c.be(2)? as f64),
        0xd1 => num(f64::from(c.be(2)? as u16 as i16)),
        0xce => num(c.be(4)? as f64),
        0xd2 => num(f64::from(c.be(4)? as u32 as i32)),
        0xcf => num(c.be(8)? as f64),
        0xd3 => num(c.be(8)? as i64 as f64),
        0xc0 => Ok(Value::Nil),
        0xc3 => Ok(Value::Boolean(true)),
        0xc2 => Ok(Value::Boolean(false)),
        0xca => num(f64::from(f32::from_bits(c.be(4)? as u32))),
        0xcb => num(f64::from_bits(c.be(8)?)),
        0xd9..=0xdb => {
            let width = match tag {
                0xd9 => 1,
                0xda => 2,
                _ => 4,
            };
            let len = c.be(width)? as usize;
            let s = c.take(len)?;
            Ok(Value::String(lua.create_string(s).map_err(lua_err)?))
        }
        0xdc | 0xdd => {
            let len = c.be(if tag == 0xdc { 2 } else { 4 })? as usize;
            array(lua, c, len, depth)
        }
        0xde | 0xdf => {
            let len = c.be(if tag == 0xde { 2 } else { 4 })? as usize;
            map(lua, c, len, depth)
        }
        t if t & 0x80 == 0 => num(f64::from(t)),
        t if t & 0xe0 == 0xe0 => num(f64::from(t as i8)),
        t if t & 0xe0 == 0xa0 => {
            let s = c.take(usize::from(t & 0x1f))?;
            Ok(Value::String(lua.create_string(s).map_err(lua_err)?))
        }
        t if t & 0xf0 == 0x90 => array(lua, c, usize::from(t & 0xf), depth),
        t if t & 0xf0 == 0x80 => map(lua, c, usize::from(t & 0xf), depth),
        _ => Err(DecodeError::BadFormat),
    }
}

fn array(lua: &Lua, c: &mut Cursor<'_>, len: usize, depth: usize) -> Result<Value, DecodeError> {
    let t = lua
        .create_table()
        .map_err(|e| DecodeError::Lua(e.to_string()))?;
    for i in 1..=len {
        let v = decode(lua, c, depth + 1)?;
        t.raw_set(i, v)
            .map_err(|e| DecodeError::Lua(e.to_string()))?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, c: &mut Cursor<'_>, len: usize, depth: usize) -> Result<Value, DecodeError> {
    let t = lua
        .create_table()
        .map_err(|e| DecodeError::Lua(e.to_string()))?;
    for _ in 0..len {
        let k = decode(lua, c, depth + 1)?;
        let v = decode(lua, c, depth + 1)?;
        match &k {
            Value::Nil => return Err(DecodeError::Lua(format!("{NO_POSITION}table index is nil"))),
            Value::Number(n) if n.is_nan() => {
                return Err(DecodeError::Lua(format!("{NO_POSITION}table index is NaN")))
            }
            _ => {}
        }
        t.raw_set(k, v)
            .map_err(|e| DecodeError::Lua(e.to_string()))?;
    }
    Ok(Value::Table(t))
}

/// `mp_unpack_full`: values from `offset`, at most `limit` (0 and 0: all,
/// without the offset result).
fn unpack_full(
    lua: &Lua,
    args: &[Value],
    name: &str,
    limit: i64,
    offset: i64,
) -> Result<MultiValue, String> {
    let data = check_string(lua, args, 0, name)?;
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            len as i32
        ));
    }
    if offset as usize > len {
        return Err(format!(
            "Start offset {offset} greater than input length {}.",
            len as i32
        ));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut c = Cursor {
        data: &data,
        at: offset as usize,
    };
    let mut out = Vec::new();
    while c.at < len && (out.len() as i64) < limit {
        if out.len() >= MAX_RESULTS {
            return Err(TOO_MANY.to_string());
        }
        match decode(lua, &mut c, 0) {
            Ok(v) => out.push(v),
            Err(DecodeError::Eof) => return Err("Missing bytes in input.".to_string()),
            Err(DecodeError::BadFormat) => return Err("Bad data format in input.".to_string()),
            Err(DecodeError::Lua(m)) => return Err(m),
        }
    }
    if !decode_all {
        let next = if c.at >= len { -1.0 } else { c.at as f64 };
        out.insert(0, Value::Number(next));
    }
    Ok(MultiValue::from_iter(out))
}

/// `luaL_optinteger`.
fn opt_integer(args: &[Value], i: usize, name: &str, default: i64) -> Result<i64, String> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => Ok(check_number(args, i, name)? as i64),
    }
}

/// The library table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lib_function(lua, |lua, args| {
            if args.is_empty() {
                return Err(format!(
                    "bad argument #0 to '{NAME_SLOT}' (MessagePack pack needs input.)"
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(&mut out, v, 0).map_err(|e| e.to_string())?;
            }
            one_string(lua, out)
        })?,
    )?;
    t.set(
        "unpack",
        lib_function(lua, |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            unpack_full(lua, &args, "unpack", 0, 0)
        })?,
    )?;
    t.set(
        "unpack_one",
        lib_function(lua, |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            let offset = opt_integer(&args, 1, "unpack_one", 0)?;
            unpack_full(lua, &args, "unpack_one", 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lib_function(lua, |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            let limit = check_number(&args, 1, "unpack_limit")? as i64;
            let offset = opt_integer(&args, 2, "unpack_limit", 0)?;
            unpack_full(lua, &args, "unpack_limit", limit, offset)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}
