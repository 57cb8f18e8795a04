//! Redis's bundled `cjson` library (lua-cjson 2.1.0 as Redis ships it):
//! `cjson.encode`, `cjson.decode`, `cjson.null`, the configuration
//! functions, and `cjson.new`.
//!
//! The configuration lives in the library table's functions, so, as in
//! Redis, a script that changes it changes it for the scripts after it.

use std::sync::{Arc, Mutex};

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::{arg_error, check_number, check_string, one_string, type_name};
use crate::cfunc::lib_function;

/// Deeper nesting fails even if a script raises the limit (the encoder and
/// decoder recurse; Redis's own Lua stack stops it not much further).
const HARD_MAX_DEPTH: i64 = 1000;
/// Encoded text longer than Redis's largest bulk string (proto-max-bulk-len)
/// fails instead of exhausting memory outside the Lua state's limit.
const MAX_ENCODED: usize = 512 << 20;

/// lua-cjson's settings, with its defaults.
#[derive(Clone, Debug)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// 0 off, 1 on, 2 encode as null.
    encode_invalid_numbers: i64,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    number_precision: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_keep_buffer: true,
            number_precision: 14,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn config(shared: &Shared) -> Config {
    shared.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// C's `%.<precision>g`.
pub(crate) fn format_g(d: f64, precision: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if d.is_infinite() {
        return if d < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let p = precision.max(1);
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{:.*e}", p - 1, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{d:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn lua_type_name(v: &Value) -> &'static str {
    match v {
        Value::LightUserData(_) => "userdata",
        other => type_name(Some(other)),
    }
}

struct Encoder<'a> {
    cfg: &'a Config,
    out: Vec<u8>,
}

impl Encoder<'_> {
    fn string(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &b in s {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                0x08 => self.out.extend_from_slice(b"\\b"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                0x0c => self.out.extend_from_slice(b"\\f"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                0..=0x1f | 0x7f => self.out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }

    fn number(&mut self, n: f64, what: &Value) -> Result<(), String> {
        match self.cfg.encode_invalid_numbers {
            0 if !n.is_finite() => {
                return Err(format!(
                    "Cannot serialise {}: must not be NaN or Inf",
                    lua_type_name(what)
                ))
            }
            1 if n.is_nan() => {
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            2 if !n.is_finite() => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        self.out
            .extend_from_slice(format_g(n, self.cfg.number_precision).as_bytes());
        Ok(())
    }

    /// lua-cjson's `lua_array_length`: the array length, or `None` for an object.
    fn array_length(&self, t: &Table) -> Result<Option<usize>, String> {
        let (mut max, mut items) = (0i64, 0i64);
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair.map_err(|e| e.to_string())?;
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(None),
            };
            if k == 0.0 || k.floor() != k || k < 1.0 {
                return Ok(None);
            }
            // C compares the double with an int and stores it as an int
            // (x86: out of range becomes INT_MIN).
            if k > max as f64 {
                max = if k > f64::from(i32::MAX) {
                    i32::MIN.into()
                } else {
                    k as i64
                };
            }
            items += 1;
        }
        let cfg = self.cfg;
        if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
            if !cfg.sparse_convert {
                return Err("Cannot serialise table: excessively sparse array".to_string());
            }
            return Ok(None);
        }
        Ok(usize::try_from(max).ok())
    }

    fn value(&mut self, v: &Value, depth: i64) -> Result<(), String> {
        match v {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Integer(i) => self.number(*i as f64, v)?,
            Value::Number(n) => self.number(*n, v)?,
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                let depth = depth + 1;
                if depth > self.cfg.encode_max_depth.min(HARD_MAX_DEPTH) {
                    return Err(format!("Cannot serialise, excessive nesting ({depth})"));
                }
                match self.array_length(t)? {
                    Some(len) if len > 0 => {
                        self.out.push(b'[');
                        for i in 1..=len {
                            if i > 1 {
                                self.out.push(b',');
                            }
                            if self.out.len() > MAX_ENCODED {
                                return Err("Cannot serialise table: result too large".to_string());
                            }
                            let item = t.raw_get::<Value>(i).map_err(|e| e.to_string())?;
                            self.value(&item, depth)?;
                        }
                        self.out.push(b']');
                    }
                    _ => self.object(t, depth)?,
                }
            }
            other => {
                return Err(format!(
                    "Cannot serialise {}: type not supported",
                    lua_type_name(other)
                ))
            }
        }
        Ok(())
    }

    fn object(&mut self, t: &Table, depth: i64) -> Result<(), String> {
        self.out.push(b'{');
        let mut first = true;
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(|e| e.to_string())?;
            if !first {
                self.out.push(b',');
            }
            first = false;
            match &k {
                Value::Integer(_) | Value::Number(_) => {
                    self.out.push(b'"');
                    let n = match k {
                        Value::Integer(i) => i as f64,
                        Value::Number(n) => n,
                        _ => 0.0,
                    };
                    self.number(n, &k)?;
                    self.out.extend_from_slice(b"\":");
                }
                Value::String(s) => {
                    self.string(&s.as_bytes());
                    self.out.push(b':');
                }
                other => {
                    return Err(format!(
                        "Cannot serialise {}: table key must be a number or string",
                        lua_type_name(other)
                    ))
                }
            }
            self.value(&v, depth)?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// A JSON token (lua-cjson's `json_token_t`).
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(e) => e,
        }
    }
}

struct Decoder<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    data: &'a [u8],
    at: usize,
    depth: i64,
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = b.get(..4)?;
    s.iter()
        .try_fold(0u32, |a, &c| Some((a << 4) | (c as char).to_digit(16)?))
}

impl Decoder<'_> {
    fn byte(&self, i: usize) -> u8 {
        // The input is a C string to lua-cjson: it ends at the first NUL.
        self.data.get(i).copied().unwrap_or(0)
    }

    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.byte(self.at), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        let index = self.at;
        let c = self.byte(self.at);
        let simple = match c {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            0 => return (Token::End, index),
            _ => None,
        };
        if let Some(t) = simple {
            self.at += 1;
            return (t, index);
        }
        let rest = &self.data[self.at..];
        let token = match c {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.invalid_number() {
                    return (Token::Error("invalid number"), self.at);
                }
                self.number()
            }
            _ if rest.starts_with(b"true") => {
                self.at += 4;
                Token::Bool(true)
            }
            _ if rest.starts_with(b"false") => {
                self.at += 5;
                Token::Bool(false)
            }
            _ if rest.starts_with(b"null") => {
                self.at += 4;
                Token::Null
            }
            b'i' | b'I' | b'n' | b'N' | b'+'
                if self.cfg.decode_invalid_numbers && self.invalid_number() =>
            {
                self.number()
            }
            _ => Token::Error("invalid token"),
        };
        let index = match token {
            Token::Error(_) => self.at,
            _ => index,
        };
        (token, index)
    }

    fn invalid_number(&self) -> bool {
        let mut p = self.at;
        match self.byte(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.byte(p);
        if c == b'0' {
            let c2 = self.byte(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.byte(p + i).to_ascii_lowercase() == w[i]);
        word(b"inf") || word(b"nan")
    }

    fn number(&mut self) -> Token {
        match strtod(&self.data[self.at..]) {
            Some((n, used)) => {
                self.at += used;
                Token::Num(n)
            }
            None => Token::Error("invalid number"),
        }
    }

    fn string(&mut self) -> Token {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let c = self.byte(self.at);
            if c == b'"' {
                break;
            }
            if c == 0 {
                return Token::Error("unexpected end of string");
            }
            if c != b'\\' {
                out.push(c);
                self.at += 1;
                continue;
            }
            let e = match self.byte(self.at + 1) {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b't' => b'\t',
                b'n' => b'\n',
                b'f' => 0x0c,
                b'r' => b'\r',
                b'u' => match self.unicode(&mut out) {
                    Some(()) => continue,
                    None => return Token::Error("invalid unicode escape code"),
                },
                _ => return Token::Error("invalid escape code"),
            };
            out.push(e);
            self.at += 2;
        }
        self.at += 1;
        Token::Str(out)
    }

    fn unicode(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut cp = hex4(&self.data[(self.at + 2).min(self.data.len())..])?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.byte(self.at + 6) != b'\\' || self.byte(self.at + 7) != b'u' {
                return None;
            }
            let low = hex4(&self.data[(self.at + 8).min(self.data.len())..])?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        let n = if cp <= 0x7F {
            buf[0] = cp as u8;
            1
        } else if cp <= 0x7FF {
            buf[0] = ((cp >> 6) | 0xC0) as u8;
            buf[1] = ((cp & 0x3F) | 0x80) as u8;
            2
        } else if cp <= 0xFFFF {
            buf[0] = ((cp >> 12) | 0xE0) as u8;
            buf[1] = (((cp >> 6) & 0x3F) | 0x80) as u8;
            buf[2] = ((cp & 0x3F) | 0x80) as u8;
            3
        } else {
            buf[0] = ((cp >> 18) | 0xF0) as u8;
            buf[1] = (((cp >> 12) & 0x3F) | 0x80) as u8;
            buf[2] = (((cp >> 6) & 0x3F) | 0x80) as u8;
            buf[3] = ((cp & 0x3F) | 0x80) as u8;
            4
        };
        out.extend_from_slice(&buf[..n]);
        self.at += len;
        Some(())
    }

    fn expected(&self, what: &str, token: &Token, index: usize) -> String {
        format!(
            "Expected {what} but found {} at character {}",
            token.name(),
            index + 1
        )
    }

    fn descend(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth.min(HARD_MAX_DEPTH) {
            return Ok(());
        }
        Err(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.at
        ))
    }

    fn value(&mut self, token: Token, index: usize) -> Result<Value, String> {
        let lua_err = |e: mlua::Error| e.to_string();
        Ok(match token {
            Token::Str(s) => Value::String(self.lua.create_string(s).map_err(lua_err)?),
            Token::Num(n) => Value::Number(n),
            Token::Bool(b) => Value::Boolean(b),
            Token::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
            Token::ObjBegin => {
                self.descend()?;
                let t = self.lua.create_table().map_err(lua_err)?;
                let (mut tok, mut idx) = self.next_token();
                if !matches!(tok, Token::ObjEnd) {
                    loop {
                        let Token::Str(key) = tok else {
                            return Err(self.expected("object key string", &tok, idx));
                        };
                        let (colon, cidx) = self.next_token();
                        if !matches!(colon, Token::Colon) {
                            return Err(self.expected("colon", &colon, cidx));
                        }
                        let (vt, vidx) = self.next_token();
                        let v = self.value(vt, vidx)?;
                        t.raw_set(self.lua.create_string(key).map_err(lua_err)?, v)
                            .map_err(lua_err)?;
                        let (sep, sidx) = self.next_token();
                        if matches!(sep, Token::ObjEnd) {
                            break;
                        }
                        if !matches!(sep, Token::Comma) {
                            return Err(self.expected("comma or object end", &sep, sidx));
                        }
                        (tok, idx) = self.next_token();
                    }
                }
                self.depth -= 1;
                Value::Table(t)
            }
            Token::ArrBegin => {
                self.descend()?;
                let t = self.lua.create_table().map_err(lua_err)?;
                let (mut tok, mut idx) = self.next_token();
                if !matches!(tok, Token::ArrEnd) {
                    for i in 1.. {
                        let v = self.value(tok, idx)?;
                        t.raw_set(i, v).map_err(lua_err)?;
                        let (sep, sidx) = self.next_token();
                        if matches!(sep, Token::ArrEnd) {
                            break;
                        }
                        if !matches!(sep, Token::Comma) {
                            return Err(self.expected("comma or array end", &sep, sidx));
                        }
                        (tok, idx) = self.next_token();
                    }
                }
                self.depth -= 1;
                Value::Table(t)
            }
            other => return Err(self.expected("value", &other, index)),
        })
    }
}

/// C's `strtod` on a prefix of `s`: the value and the bytes it used.
pub(crate) fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let lower: Vec<u8> = s[i..].iter().take(8).map(u8::to_ascii_lowercase).collect();
    if lower.starts_with(b"inf") {
        let used = if lower.starts_with(b"infinity") { 8 } else { 3 };
        return Some((sign(f64::INFINITY), i + used));
    }
    if lower.starts_with(b"nan") {
        let mut used = i + 3;
        if s.get(used) == Some(&b'(') {
            if let Some(close) = s[used..].iter().position(|&c| c == b')') {
                if s[used + 1..used + close]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    used += close + 1;
                }
            }
        }
        return Some((sign(f64::NAN), used));
    }
    if lower.starts_with(b"0x") {
        let start = i + 2;
        let mut j = start;
        let mut v = 0f64;
        let mut digits = 0;
        while let Some(d) = s.get(j).and_then(|c| (*c as char).to_digit(16)) {
            v = v * 16.0 + f64::from(d);
            j += 1;
            digits += 1;
        }
        let mut scale = 0i32;
        if s.get(j) == Some(&b'.') {
            let mut k = j + 1;
            while let Some(d) = s.get(k).and_then(|c| (*c as char).to_digit(16)) {
                v = v * 16.0 + f64::from(d);
                scale -= 4;
                k += 1;
                digits += 1;
            }
            if digits > 0 {
                j = k;
            }
        }
        if digits == 0 {
            // "0x" alone: strtod reads the "0".
            return Some((sign(0.0), i + 1));
        }
        if matches!(s.get(j), Some(b'p' | b'P')) {
            let mut k = j + 1;
            let eneg = match s.get(k) {
                Some(b'-') => {
                    k += 1;
                    true
                }
                Some(b'+') => {
                    k += 1;
                    false
                }
                _ => false,
            };
            let estart = k;
            let mut e = 0i32;
            while let Some(d) = s.get(k).filter(|c| c.is_ascii_digit()) {
                e = e.saturating_mul(10).saturating_add(i32::from(d - b'0'));
                k += 1;
            }
            if k > estart {
                scale = scale.saturating_add(if eneg { -e } else { e });
                j = k;
            }
        }
        return Some((sign(v * 2f64.powi(scale)), j));
    }
    let mut j = i;
    let mut digits = 0;
    while s.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
        digits += 1;
    }
    if s.get(j) == Some(&b'.') {
        let mut k = j + 1;
        while s.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
            digits += 1;
        }
        if digits > 0 {
            j = k;
        }
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let estart = k;
        while s.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        if k > estart {
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[..j]).ok()?;
    let v: f64 = text.parse().ok()?;
    Some((v, j))
}

fn encode(lua: &Lua, shared: &Shared, args: &[Value]) -> Result<MultiValue, String> {
    if args.len() != 1 {
        return Err(arg_error(0, "encode", "expected 1 argument"));
    }
    let cfg = config(shared);
    let mut enc = Encoder {
        cfg: &cfg,
        out: Vec::new(),
    };
    enc.value(&args[0], 0)?;
    one_string(lua, enc.out)
}

fn decode(lua: &Lua, shared: &Shared, args: &[Value]) -> Result<MultiValue, String> {
    if args.len() != 1 {
        return Err(arg_error(0, "decode", "expected 1 argument"));
    }
    let data = check_string(lua, args, 0, "decode")?;
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err("JSON parser does not support UTF-16 or UTF-32".to_string());
    }
    let cfg = config(shared);
    let mut dec = Decoder {
        lua,
        cfg: &cfg,
        data: &data,
        at: 0,
        depth: 0,
    };
    let (tok, idx) = dec.next_token();
    let v = dec.value(tok, idx)?;
    let (end, eidx) = dec.next_token();
    if !matches!(end, Token::End) {
        return Err(dec.expected("the end", &end, eidx));
    }
    Ok(MultiValue::from_iter([v]))
}

/// `json_arg_init`: at most `n` arguments.
fn at_most(args: &[Value], n: usize, name: &str) -> Result<(), String> {
    if args.len() > n {
        return Err(arg_error(n, name, "found too many arguments"));
    }
    Ok(())
}

/// `json_integer_option`.
fn integer_option(
    args: &[Value],
    i: usize,
    name: &str,
    setting: &mut i64,
    min: i64,
    max: i64,
) -> Result<Value, String> {
    if !matches!(args.get(i), None | Some(Value::Nil)) {
        let v = check_number(args, i, name)? as i64;
        if v < min || v > max {
            return Err(arg_error(
                0,
                name,
                &format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = v;
    }
    Ok(Value::Number(*setting as f64))
}

/// `json_enum_option` for on/off settings (`true`/`false` or "on"/"off").
fn bool_option(
    lua: &Lua,
    args: &[Value],
    i: usize,
    name: &str,
    setting: &mut bool,
) -> Result<Value, String> {
    match args.get(i) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = *b,
        Some(Value::String(s)) if &*s.as_bytes() == b"on" => *setting = true,
        Some(Value::String(s)) if &*s.as_bytes() == b"off" => *setting = false,
        Some(Value::String(s)) => {
            let text = String::from_utf8_lossy(&s.as_bytes()).into_owned();
            return Err(arg_error(i, name, &format!("invalid option '{text}'")));
        }
        other => {
            return Err(arg_error(
                i,
                name,
                &format!("string expected, got {}", type_name(other)),
            ))
        }
    }
    let _ = lua;
    Ok(Value::Boolean(*setting))
}

/// Builds one cjson module table over `shared` settings.
fn build(lua: &Lua, shared: Shared) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let s = shared.clone();
    t.set(
        "encode",
        lib_function(lua, move |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            encode(lua, &s, &args)
        })?,
    )?;
    let s = shared.clone();
    t.set(
        "decode",
        lib_function(lua, move |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            decode(lua, &s, &args)
        })?,
    )?;
    type Setter = fn(&Lua, &[Value], &mut Config) -> Result<Vec<Value>, String>;
    let setters: [(&str, Setter); 7] = [
        ("encode_sparse_array", |lua, a, c| {
            at_most(a, 3, "encode_sparse_array")?;
            Ok(vec![
                bool_option(lua, a, 0, "encode_sparse_array", &mut c.sparse_convert)?,
                integer_option(
                    a,
                    1,
                    "encode_sparse_array",
                    &mut c.sparse_ratio,
                    0,
                    i64::from(i32::MAX),
                )?,
                integer_option(
                    a,
                    2,
                    "encode_sparse_array",
                    &mut c.sparse_safe,
                    0,
                    i64::from(i32::MAX),
                )?,
            ])
        }),
        ("encode_max_depth", |_, a, c| {
            at_most(a, 1, "encode_max_depth")?;
            Ok(vec![integer_option(
                a,
                0,
                "encode_max_depth",
                &mut c.encode_max_depth,
                1,
                i64::from(i32::MAX),
            )?])
        }),
        ("decode_max_depth", |_, a, c| {
            at_most(a, 1, "decode_max_depth")?;
            Ok(vec![integer_option(
                a,
                0,
                "decode_max_depth",
                &mut c.decode_max_depth,
                1,
                i64::from(i32::MAX),
            )?])
        }),
        ("encode_number_precision", |_, a, c| {
            at_most(a, 1, "encode_number_precision")?;
            let mut p = c.number_precision as i64;
            let v = integer_option(a, 0, "encode_number_precision", &mut p, 1, 14)?;
            c.number_precision = p as usize;
            Ok(vec![v])
        }),
        ("encode_keep_buffer", |lua, a, c| {
            at_most(a, 1, "encode_keep_buffer")?;
            Ok(vec![bool_option(
                lua,
                a,
                0,
                "encode_keep_buffer",
                &mut c.encode_keep_buffer,
            )?])
        }),
        ("encode_invalid_numbers", |lua, a, c| {
            at_most(a, 1, "encode_invalid_numbers")?;
            match a.first() {
                None | Some(Value::Nil) => {}
                Some(Value::Boolean(b)) => c.encode_invalid_numbers = i64::from(*b),
                Some(Value::String(s)) => {
                    c.encode_invalid_numbers = match &*s.as_bytes() {
                        b"off" => 0,
                        b"on" => 1,
                        b"null" => 2,
                        other => {
                            let text = String::from_utf8_lossy(other).into_owned();
                            return Err(arg_error(
                                0,
                                "encode_invalid_numbers",
                                &format!("invalid option '{text}'"),
                            ));
                        }
                    }
                }
                other => {
                    return Err(arg_error(
                        0,
                        "encode_invalid_numbers",
                        &format!("string expected, got {}", type_name(other)),
                    ))
                }
            }
            Ok(vec![match c.encode_invalid_numbers {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null").map_err(|e| e.to_string())?),
            }])
        }),
        ("decode_invalid_numbers", |lua, a, c| {
            at_most(a, 1, "decode_invalid_numbers")?;
            Ok(vec![bool_option(
                lua,
                a,
                0,
                "decode_invalid_numbers",
                &mut c.decode_invalid_numbers,
            )?])
        }),
    ];
    for (name, setter) in setters {
        let s = shared.clone();
        t.set(
            name,
            lib_function(lua, move |lua, args| {
                let args: Vec<Value> = args.into_iter().collect();
                let mut cfg = s.lock().unwrap_or_else(|e| e.into_inner());
                Ok(MultiValue::from_iter(setter(lua, &args, &mut cfg)?))
            })?,
        )?;
    }
    t.set(
        "new",
        lib_function(lua, |lua, _| {
            let fresh = build(lua, Arc::default()).map_err(|e| e.to_string())?;
            Ok(MultiValue::from_iter([Value::Table(fresh)]))
        })?,
    )?;
    t.set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// The library table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    build(lua, Arc::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_format_matches_c() {
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(-2.5, 14), "-2.5");
        assert_eq!(format_g(100.0, 14), "100");
    }

    #[test]
    fn strtod_reads_what_c_reads() {
        assert_eq!(strtod(b"12abc"), Some((12.0, 2)));
        assert_eq!(strtod(b"-1.5e3,"), Some((-1500.0, 6)));
        assert_eq!(strtod(b"1e"), Some((1.0, 1)));
        assert_eq!(strtod(b"0x10"), Some((16.0, 4)));
        assert_eq!(strtod(b"Infinity"), Some((f64::INFINITY, 8)));
        assert_eq!(strtod(b"-"), None);
    }
}
