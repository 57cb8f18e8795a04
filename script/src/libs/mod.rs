//! The C libraries Redis bundles with its Lua, rewritten in Rust with the
//! same behaviour: `cjson`, `cmsgpack`, `bit` and `struct`.
//!
//! Their functions fail with the text Redis's library raises; `cfunc`
//! raises it as a Lua string placed at the caller, as luaL_error does.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use mlua::{Lua, MultiValue, Value};

/// The type name Lua's error messages use.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(Value::UserData(_)) | Some(Value::LightUserData(_)) => "userdata",
        Some(_) => "userdata",
    }
}

/// `bad argument #i to 'name' (msg)`; the name is filled in as the caller
/// called the function (`name` documents which one it is).
pub(crate) fn arg_error(i: usize, name: &str, msg: &str) -> String {
    let _ = name;
    format!(
        "bad argument #{} to '{}' ({msg})",
        i + 1,
        crate::cfunc::NAME_SLOT
    )
}

/// `luaL_checknumber`: a number or a numeric string.
pub(crate) fn check_number(args: &[Value], i: usize, name: &str) -> Result<f64, String> {
    match args.get(i) {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| parse_lua_number(&s))
            .ok_or_else(|| arg_error(i, name, "number expected, got string")),
        other => Err(arg_error(
            i,
            name,
            &format!("number expected, got {}", type_name(other)),
        )),
    }
}

/// Lua's string-to-number conversion (decimal, hex `0x`, surrounding spaces).
pub(crate) fn parse_lua_number(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    if t.is_empty() {
        return None;
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    if body.eq_ignore_ascii_case("inf")
        || body.eq_ignore_ascii_case("nan")
        || body.contains("inity")
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// `luaL_checklstring`: strings, and numbers as Lua prints them.
pub(crate) fn check_string(
    lua: &Lua,
    args: &[Value],
    i: usize,
    name: &str,
) -> Result<Vec<u8>, String> {
    match args.get(i) {
        Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| arg_error(i, name, "string expected, got no value")),
        other => Err(arg_error(
            i,
            name,
            &format!("string expected, got {}", type_name(other)),
        )),
    }
}

/// One Lua string as a function's results.
pub(crate) fn one_string(lua: &Lua, bytes: impl AsRef<[u8]>) -> Result<MultiValue, String> {
    let s = lua.create_string(bytes).map_err(|e| e.to_string())?;
    Ok(MultiValue::from_iter([Value::String(s)]))
}
