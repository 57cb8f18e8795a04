//! Argument parsing with Redis's exact rules.

use bytes::Bytes;
use petrel_common::reply::errors;

use crate::cmd::outcome::CmdError;

pub(crate) use petrel_common::num::parse_i64;

/// An integer argument, or Redis's "not an integer" error.
pub(crate) fn int_arg(arg: &Bytes) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or_else(|| CmdError::reply(errors::NOT_INTEGER))
}

/// An option name as Redis's C code compares it: up to the first NUL byte.
pub(crate) fn option(arg: &[u8]) -> &[u8] {
    petrel_common::command::c_arg(arg)
}

/// Whether an option argument is `name`, ignoring ASCII case.
pub(crate) fn is_option(arg: &[u8], name: &str) -> bool {
    option(arg).eq_ignore_ascii_case(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_compare_like_c_strings() {
        assert!(is_option(b"ex", "EX"));
        assert!(is_option(b"Ex\0junk", "ex"));
        assert!(!is_option(b"exat", "ex"));
        assert!(!is_option(b"", "ex"));
    }
}
