//! Shebang lines: `#!lua flags=no-writes,allow-oom` on a script,
//! `#!lua name=mylib` on a FUNCTION library.

/// A script's or function's flags (Redis's `SCRIPT_FLAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: Redis's compatibility mode (may write, may cross slots,
    /// and none of the flag checks apply).
    pub eval_compat: bool,
    /// `no-writes`
    pub no_writes: bool,
    /// `allow-oom`
    pub allow_oom: bool,
    /// `allow-stale`
    pub allow_stale: bool,
    /// `no-cluster`
    pub no_cluster: bool,
    /// `allow-cross-slot-keys`
    pub allow_cross_slot: bool,
}

impl ScriptFlags {
    /// The flags of a script without a shebang.
    pub const COMPAT: ScriptFlags = ScriptFlags {
        eval_compat: true,
        no_writes: false,
        allow_oom: false,
        allow_stale: false,
        no_cluster: false,
        allow_cross_slot: false,
    };

    /// Sets the flag named `name`; false when no flag has that name.
    pub fn set(&mut self, name: &[u8]) -> bool {
        let slot = match name {
            b"no-writes" => &mut self.no_writes,
            b"allow-oom" => &mut self.allow_oom,
            b"allow-stale" => &mut self.allow_stale,
            b"no-cluster" => &mut self.no_cluster,
            b"allow-cross-slot-keys" => &mut self.allow_cross_slot,
            _ => return false,
        };
        *slot = true;
        true
    }

    /// The flag names set, in Redis's order (FUNCTION LIST shows them so).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot, "allow-cross-slot-keys"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// A script's shebang: its flags and how many bytes of the body it takes
/// (the newline stays, so line numbers do not move).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shebang {
    /// The flags it declares ([`ScriptFlags::COMPAT`] without a shebang).
    pub flags: ScriptFlags,
    /// Bytes before the newline that ends it; 0 without a shebang.
    pub len: usize,
}

/// Parses an EVAL script's shebang; `Err` is Redis's error text.
pub fn parse_script(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang {
            flags: ScriptFlags::COMPAT,
            len: 0,
        });
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".to_string());
    };
    let parts = split_args(&body[..end]);
    let Some(engine) = parts.first() else {
        return Err("ERR Invalid engine in script shebang".to_string());
    };
    if engine.as_slice() != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(engine)
        ));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            if !flags.set(name) {
                return Err(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(name)
                ));
            }
        }
    }
    Ok(Shebang { flags, len: end })
}

/// A FUNCTION library's shebang: `#!lua name=<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryHeader {
    /// The library's name.
    pub name: String,
    /// Bytes before the newline that ends the shebang.
    pub len: usize,
}

/// Parses a library's first line; `Err` is Redis's error text.
pub fn parse_library(code: &[u8]) -> Result<LibraryHeader, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".to_string());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".to_string());
    };
    let parts = split_args(&code[..end]);
    let Some(first) = parts.first() else {
        return Err("ERR Invalid library metadata".to_string());
    };
    let engine = String::from_utf8_lossy(&first[2..]).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        match part.strip_prefix(b"name=") {
            Some(_) if name.is_some() => {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times"
                        .to_string(),
                )
            }
            Some(n) => name = Some(String::from_utf8_lossy(n).into_owned()),
            None => {
                return Err(format!(
                    "ERR Invalid metadata value given: {}",
                    String::from_utf8_lossy(part)
                ))
            }
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".to_string());
    };
    if !valid_name(&name) {
        return Err(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
                .to_string(),
        );
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok(LibraryHeader { name, len: end })
}

/// Redis's rule for library and function names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits on spaces and tabs (shebangs carry no quoted arguments in practice).
fn split_args(line: &[u8]) -> Vec<Vec<u8>> {
    line.split(|&b| b == b' ' || b == b'\t' || b == b'\r')
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shebang_is_compat_mode() {
        let s = parse_script(b"return 1").unwrap();
        assert!(s.flags.eval_compat);
        assert_eq!(s.len, 0);
    }

    #[test]
    fn flags_are_read_and_the_newline_kept() {
        let s = parse_script(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(!s.flags.eval_compat && s.flags.no_writes && s.flags.allow_oom);
        assert_eq!(s.len, 31);
        let s = parse_script(b"#!lua\nreturn 1").unwrap();
        assert_eq!(s.flags, ScriptFlags::default());
    }

    #[test]
    fn bad_shebangs_get_redis_texts() {
        // Texts from redis-server 7.0.15.
        assert_eq!(
            parse_script(b"#!lua").unwrap_err(),
            "ERR Invalid script shebang"
        );
        assert_eq!(
            parse_script(b"#!python\n").unwrap_err(),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            parse_script(b"#!lua flags=bad\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse_script(b"#!lua x=1\n").unwrap_err(),
            "ERR Unknown lua shebang option: x=1"
        );
    }

    #[test]
    fn library_names() {
        assert_eq!(parse_library(b"#!lua name=mylib\nx").unwrap().name, "mylib");
        assert_eq!(
            parse_library(b"return 1").unwrap_err(),
            "ERR Missing library metadata"
        );
        assert_eq!(
            parse_library(b"#!lua\n").unwrap_err(),
            "ERR Library name was not given"
        );
        assert_eq!(
            parse_library(b"#!js name=x\n").unwrap_err(),
            "ERR Engine 'js' not found"
        );
    }
}
