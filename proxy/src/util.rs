//! Small parsers that must behave exactly like Redis's own (`string2ll`,
//! `memtoull`, `stringmatchlen`), so replies match a real Redis byte for byte.

pub use petrel_common::num::parse_i64;

/// Parses a memory size like Redis's `memtoull`: digits plus an optional
/// unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case; `k` = 1000, `kb` = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Glob-style matching like Redis's `stringmatchlen` (`*`, `?`, `[a-z]`, `[^x]`, `\`).
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    glob_at(pattern, string, nocase, 0)
}

fn glob_at(mut p: &[u8], mut s: &[u8], nocase: bool, depth: usize) -> bool {
    // Redis bounds recursion too; a hostile pattern of many stars must not
    // blow the stack.
    if depth > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while let Some(&pc) = p.first() {
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if glob_at(&p[1..], &s[i..], nocase, depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some(&c) = s.first() else { return false };
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p {
                        [b'\\', esc, rest @ ..] => {
                            if eq(*esc, c) {
                                matched = true;
                            }
                            p = rest;
                        }
                        [b']', ..] => break,
                        [] => {
                            // Unterminated class: Redis treats the end as `]`.
                            break;
                        }
                        [lo, b'-', hi, rest @ ..] if *hi != b']' || rest.is_empty() => {
                            let (mut lo, mut hi) = (*lo, *hi);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            let (l, h, x) = if nocase {
                                (
                                    lo.to_ascii_lowercase(),
                                    hi.to_ascii_lowercase(),
                                    c.to_ascii_lowercase(),
                                )
                            } else {
                                (lo, hi, c)
                            };
                            if x >= l && x <= h {
                                matched = true;
                            }
                            p = rest;
                        }
                        [x, rest @ ..] => {
                            if eq(*x, c) {
                                matched = true;
                            }
                            p = rest;
                        }
                    }
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // Pattern ended inside the class.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                match s.first() {
                    Some(&c) if eq(p[0], c) => s = &s[1..],
                    _ => return false,
                }
            }
            _ => match s.first() {
                Some(&c) if eq(pc, c) => s = &s[1..],
                _ => return false,
            },
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Makes text safe for a one-line reply: `\r` and `\n` become spaces, as
/// Redis does for error replies.
pub fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Bytes as text for messages, cut at the first NUL like the C `%s` Redis uses.
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("mb"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b"anything", false));
        assert!(glob_match(b"max*", b"maxclients", false));
        assert!(glob_match(b"MAX*", b"maxclients", true));
        assert!(!glob_match(b"MAX*", b"maxclients", false));
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        assert!(!glob_match(b"a\\*b", b"axb", false));
        assert!(glob_match(b"*clients", b"maxclients", false));
        assert!(!glob_match(b"*clients", b"maxclient", false));
        assert!(glob_match(b"", b"", false));
        assert!(!glob_match(b"", b"a", false));
        assert!(glob_match(b"a*", b"a", false));
    }

    #[test]
    fn text_helpers() {
        assert_eq!(one_line("a\r\nb"), "a  b");
        assert_eq!(c_str(b"ab\0cd"), "ab");
    }
}
