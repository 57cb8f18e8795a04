//! What the two sides of a case must agree on before it is timed, and the
//! inputs where they do not.

/// A case where the two sides disagreed, so timing it would mean nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{case}: redis-protocol disagrees with Petrel: {detail}")]
pub struct Mismatch {
    /// The case's name.
    pub(crate) case: String,
    /// What each side gave.
    pub(crate) detail: String,
}

impl Mismatch {
    pub(super) fn new(case: &str, detail: impl Into<String>) -> Mismatch {
        Mismatch {
            case: case.to_string(),
            detail: detail.into(),
        }
    }
}

/// An input Petrel must treat as Redis does, and what each side makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fidelity {
    /// The input.
    pub(crate) what: &'static str,
    /// Petrel's bytes or outcome.
    pub(crate) petrel: String,
    /// `redis-protocol`'s.
    pub(crate) redis_protocol: String,
}

/// Wire bytes as text: printable ASCII as is, CR and LF as `\r` `\n`,
/// anything else as `\xNN`.
pub(crate) fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            b'\\' => "\\\\".to_string(),
            b' '..=b'~' => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_line_ends_and_binary() {
        assert_eq!(escape(b"+OK\r\n"), "+OK\\r\\n");
        assert_eq!(escape(&[0, b'\\', 0xff]), "\\x00\\\\\\xff");
    }
}
