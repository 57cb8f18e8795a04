//! Redis's bundled `bit` library (LuaBitOp 1.0.2): 32-bit operations on Lua
//! numbers, results as signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_error, parse_lua_number, type_name};
use crate::cfunc::lib_function;

/// `lua_tonumber`: a number or a numeric string.
fn to_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => parse_lua_number(&s.to_str().ok()?),
        _ => None,
    }
}

/// An argument as 32 bits: the number rounded to an integer, modulo 2^32
/// (LuaBitOp adds 2^52+2^51 and keeps the low word).
fn barg(args: &[Value], i: usize, name: &str) -> Result<u32, String> {
    let n = to_number(args.get(i));
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && n.is_none() {
        return Err(arg_error(
            i,
            name,
            &format!("number expected, got {}", type_name(args.get(i))),
        ));
    }
    Ok(b)
}

fn ret(b: u32) -> MultiValue {
    MultiValue::from_iter([Value::Number(f64::from(b as i32))])
}

type Op = fn(&[Value], &str) -> Result<MultiValue, String>;

fn fold(args: &[Value], name: &str, f: fn(u32, u32) -> u32) -> Result<MultiValue, String> {
    let mut b = barg(args, 0, name)?;
    for i in (1..args.len()).rev() {
        b = f(b, barg(args, i, name)?);
    }
    Ok(ret(b))
}

fn shift(args: &[Value], name: &str, f: fn(u32, u32) -> u32) -> Result<MultiValue, String> {
    let b = barg(args, 0, name)?;
    let n = barg(args, 1, name)? & 31;
    Ok(ret(f(b, n)))
}

const OPS: &[(&str, Op)] = &[
    ("tobit", |a, n| Ok(ret(barg(a, 0, n)?))),
    ("bnot", |a, n| Ok(ret(!barg(a, 0, n)?))),
    ("band", |a, n| fold(a, n, |x, y| x & y)),
    ("bor", |a, n| fold(a, n, |x, y| x | y)),
    ("bxor", |a, n| fold(a, n, |x, y| x ^ y)),
    ("lshift", |a, n| shift(a, n, |b, s| b << s)),
    ("rshift", |a, n| shift(a, n, |b, s| b >> s)),
    ("arshift", |a, n| {
        shift(a, n, |b, s| ((b as i32) >> s) as u32)
    }),
    ("rol", |a, n| shift(a, n, |b, s| b.rotate_left(s))),
    ("ror", |a, n| shift(a, n, |b, s| b.rotate_right(s))),
    ("bswap", |a, n| Ok(ret(barg(a, 0, n)?.swap_bytes()))),
];

/// The library table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for &(name, op) in OPS {
        let f = lib_function(lua, move |_, args| {
            let args: Vec<Value> = args.into_iter().collect();
            op(&args, name)
        })?;
        t.set(name, f)?;
    }
    let f = lib_function(lua, |lua, args| {
        let args: Vec<Value> = args.into_iter().collect();
        let text = hex(&args)?;
        let s = lua.create_string(text).map_err(|e| e.to_string())?;
        Ok(MultiValue::from_iter([Value::String(s)]))
    })?;
    t.set("tohex", f)?;
    Ok(t)
}

/// `bit.tohex(x [, n])`: `n` hex digits (upper case when negative), 8 by default.
fn hex(args: &[Value]) -> Result<Vec<u8>, String> {
    let mut b = barg(args, 0, "tohex")?;
    let mut n = match args.get(1) {
        None => 8,
        Some(_) => barg(args, 1, "tohex")? as i32,
    };
    let digits: &[u8; 16] = if n < 0 {
        n = n.wrapping_neg();
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut buf = vec![0u8; n.clamp(0, 8) as usize];
    for slot in buf.iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(buf)
}
