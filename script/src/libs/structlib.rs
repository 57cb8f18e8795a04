//! Redis's bundled `struct` library (Roberto Ierusalimschy's struct 0.2):
//! `struct.pack`, `struct.unpack`, `struct.size`, with the sizes and
//! alignment of x86-64 Linux, where Redis runs (long and size_t 8 bytes,
//! native little-endian, maximum alignment 8).

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_error, check_number, check_string, one_string};
use crate::cfunc::lib_function;
use crate::convert::lua_number_to_i64;

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// A format string being read.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// A decimal count after an option, or `default`.
    fn number(&mut self, default: usize) -> Result<usize, String> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|c| c.is_ascii_digit()) {
            let d = usize::from(d - b'0');
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
                return Err("integral size overflow".to_string());
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (`optsize`).
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAXINTSIZE {
                    return Err(format!(
                        "integral size {sz} is larger than limit of {MAXINTSIZE}"
                    ));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Endianness and alignment options (`controloptions`).
    fn control(&mut self, opt: u8, h: &mut Header, name: &str) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAXALIGN)?;
                if a == 0 || a & (a - 1) != 0 {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            _ => {
                return Err(arg_error(
                    0,
                    name,
                    &format!("invalid format option '{}'", opt as char),
                ))
            }
        }
        Ok(())
    }
}

/// Padding needed to align an item of `size` at `len` (`gettoalign`).
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// A Lua number as struct stores integers: C's casts on x86-64.
fn to_bits(n: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if n < 0.0 {
        lua_number_to_i64(n) as u64
    } else if n < TWO_63 {
        n as u64
    } else if n < 2.0 * TWO_63 {
        ((n - TWO_63) as u64) ^ (1 << 63)
    } else {
        0
    }
}

/// `luaL_checknumber` in `struct.pack`, which pushes a nil after its
/// arguments: the first missing one is "nil", the next "no value".
fn pack_number(args: &[Value], i: usize) -> Result<f64, String> {
    if i == args.len() {
        return Err(arg_error(i, "pack", "number expected, got nil"));
    }
    check_number(args, i, "pack")
}

fn pack(lua: &Lua, args: &[Value]) -> Result<Vec<u8>, String> {
    let fmt = check_string(lua, args, 0, "pack")?;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut arg = 1;
    let mut out = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut value = to_bits(pack_number(args, arg)?);
                arg += 1;
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = (value & 0xff) as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                if !h.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = pack_number(args, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                });
            }
            b'd' => {
                let v = pack_number(args, arg)?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                });
            }
            b'c' | b's' => {
                if arg == args.len() {
                    return Err(arg_error(arg, "pack", "string expected, got nil"));
                }
                let s = check_string(lua, args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // struct reports the argument after the string.
                    return Err(arg_error(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h, "pack")?,
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, args: &[Value]) -> Result<MultiValue, String> {
    let fmt = check_string(lua, args, 0, "unpack")?;
    let data = check_string(lua, args, 1, "unpack")?;
    let ld = data.len();
    let pos = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => check_number(args, 2, "unpack")? as i64,
    };
    if pos <= 0 {
        return Err(arg_error(2, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (pos - 1) as usize;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let short = || arg_error(1, "unpack", "data string too short");
    let string = |b: &[u8]| -> Result<Value, String> {
        lua.create_string(b)
            .map(Value::String)
            .map_err(|e| e.to_string())
    };
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                let mut l: u64 = 0;
                let mut push = |b: u8| l = (l << 8) | u64::from(b);
                if h.little {
                    bytes.iter().rev().for_each(|&b| push(b));
                } else {
                    bytes.iter().for_each(|&b| push(b));
                }
                let n = if opt.is_ascii_lowercase() {
                    // Shift counts past 63 wrap as x86's shl does.
                    let mask = u64::MAX << ((size * 8).wrapping_sub(1) as u32 & 63);
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f64::from(v)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let Some(Value::Number(n)) = out.pop() else {
                        return Err("format 'c0' needs a previous size".to_string());
                    };
                    size = n as usize;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                out.push(string(&data[pos..pos + size])?);
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".to_string());
                };
                out.push(string(&data[pos..pos + end])?);
                size = end + 1;
            }
            _ => f.control(opt, &mut h, "unpack")?,
        }
        pos = pos.saturating_add(size);
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: &[Value]) -> Result<usize, String> {
    let fmt = check_string(lua, args, 0, "size")?;
    let mut f = Format { fmt: &fmt, at: 0 };
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(0, "size", "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(0, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h, "size")?;
        }
        pos = pos.saturating_add(size);
    }
    Ok(pos)
}

/// The library table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lib_function(lua, |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            one_string(lua, pack(lua, &args)?)
        })?,
    )?;
    t.set(
        "unpack",
        lib_function(lua, |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            unpack(lua, &args)
        })?,
    )?;
    t.set(
        "size",
        lib_function(lua, |lua, args| {
            let args: Vec<Value> = args.into_iter().collect();
            Ok(MultiValue::from_iter([Value::Number(
                size(lua, &args)? as f64
            )]))
        })?,
    )?;
    Ok(t)
}
