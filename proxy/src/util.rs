//! Small parsers that must behave exactly like Redis's own (`string2ll`,
//! `memtoull`, `stringmatchlen`), so replies match a real Redis byte for byte,
//! and Redis's texts for unknown commands.

use bytes::Bytes;
use petrel_common::command::Command;

pub(crate) use petrel_common::num::parse_i64;

/// Parses a memory size like Redis's `memtoull`: digits plus an optional
/// unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case; `k` = 1000, `kb` = 1024).
pub(crate) fn parse_memory(s: &str) -> Option<u64> {
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
pub(crate) fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    petrel_common::glob::matches(pattern, string, nocase)
}

/// Makes text safe for a one-line reply: `\r` and `\n` become spaces, as
/// Redis does for error replies.
pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Bytes as text for messages, cut at the first NUL like the C `%s` Redis uses.
pub(crate) fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Redis 7's text: `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
pub(crate) fn unknown_command(args: &[Bytes]) -> String {
    let name = args.first().map(|n| c_str(n)).unwrap_or_default();
    let mut listed = String::new();
    for a in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let a = c_str(a);
        let a: String = truncate_bytes(&a, room);
        listed.push_str(&format!("'{a}' "));
    }
    one_line(&format!(
        "ERR unknown command '{}', with args beginning with: {listed}",
        truncate_bytes(&name, 128)
    ))
}

/// Redis 7's text: `ERR unknown subcommand 'foo'. Try CLIENT HELP.`.
pub(crate) fn unknown_subcommand(parent: &Command, sub: &[u8]) -> String {
    one_line(&format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate_bytes(&c_str(sub), 128),
        parent.name().to_ascii_uppercase()
    ))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
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

    fn args(list: &[&str]) -> Vec<bytes::Bytes> {
        list.iter()
            .map(|s| bytes::Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn unknown_command_text_matches_redis() {
        assert_eq!(
            unknown_command(&args(&["foo", "a", "b"])),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            unknown_command(&args(&["foo"])),
            "ERR unknown command 'foo', with args beginning with: "
        );
        let long = "x".repeat(300);
        let text = unknown_command(&args(&["foo", &long, "next"]));
        assert_eq!(
            text,
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "x".repeat(128)
            )
        );
        assert_eq!(
            unknown_command(&args(&["a\r\nb"])),
            "ERR unknown command 'a  b', with args beginning with: "
        );
    }

    #[test]
    fn unknown_subcommand_text_matches_redis() {
        let client = petrel_common::command::table()
            .find(b"client")
            .expect("client");
        assert_eq!(
            unknown_subcommand(client, b"foo"),
            "ERR unknown subcommand 'foo'. Try CLIENT HELP."
        );
    }
}
