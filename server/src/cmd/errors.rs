//! Redis error texts used here and missing from `petrel_common::reply::errors`.

/// DECRBY with i64::MIN.
pub(crate) const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
/// EXPIRE with NX next to XX, GT or LT.
pub(crate) const EXPIRE_NX_CONFLICT: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
/// EXPIRE with both GT and LT.
pub(crate) const EXPIRE_GT_LT_CONFLICT: &str =
    "ERR GT and LT options at the same time are not compatible";

/// `ERR Unsupported option x` (EXPIRE family).
pub(crate) fn unsupported_option(option: &[u8]) -> String {
    format!("ERR Unsupported option {}", c_string(option, usize::MAX))
}

/// [`unknown_command`] for a whole call (`call[0]` the name; empty for none).
pub(crate) fn unknown_call(call: &[impl AsRef<[u8]>]) -> String {
    match call.split_first() {
        Some((name, rest)) => unknown_command(name.as_ref(), rest),
        None => unknown_command(b"", &[b""; 0]),
    }
}

/// Redis's reply to an unknown command: the name and the first arguments,
/// each cut at a NUL byte and the whole bounded as Redis bounds it.
pub(crate) fn unknown_command(name: &[u8], args: &[impl AsRef<[u8]>]) -> String {
    let mut listed = String::new();
    for arg in args {
        // Redis stops once 128 bytes of arguments are listed.
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push('\'');
        listed.push_str(&c_string(arg.as_ref(), room));
        listed.push_str("' ");
    }
    let text = format!(
        "ERR unknown command '{}', with args beginning with: {}",
        c_string(name, 128),
        listed
    );
    sanitize(&text)
}

/// An error text safe for RESP: Redis turns CR and LF into spaces.
pub(crate) fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// `%.Ns` of a C string: bytes up to the first NUL, at most `max` of them.
pub(crate) fn c_string(bytes: &[u8], max: usize) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end.min(max)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_matches_redis() {
        // Answers of redis-server 7.0.15.
        assert_eq!(
            unknown_command(b"foo", &[b"bar", b"baz"]),
            "ERR unknown command 'foo', with args beginning with: 'bar' 'baz' "
        );
        let none: [&[u8]; 0] = [];
        assert_eq!(
            unknown_command(b"foo", &none),
            "ERR unknown command 'foo', with args beginning with: "
        );
        let x200 = [b'x'; 200];
        assert_eq!(
            unknown_command(b"foo\0bar", &[&b"a\r\nb"[..], &x200[..]]),
            format!(
                "ERR unknown command 'foo', with args beginning with: 'a  b' '{}' ",
                "x".repeat(121)
            )
        );
        let (f, a, b) = ([b'f'; 200], [b'a'; 100], [b'b'; 100]);
        assert_eq!(
            unknown_command(&f, &[&a[..], &b[..], &b"c"[..]]),
            format!(
                "ERR unknown command '{}', with args beginning with: '{}' '{}' ",
                "f".repeat(128),
                "a".repeat(100),
                "b".repeat(25)
            )
        );
    }

    #[test]
    fn unsupported_option_text() {
        assert_eq!(unsupported_option(b"foo"), "ERR Unsupported option foo");
    }
}
