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

/// Glob-style matching like Redis's `stringmatchlen` (`*`, `?`, `[a-z]`, `[^x]`, `\\`).
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    petrel_common::glob::matches(pattern, string, nocase)
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
