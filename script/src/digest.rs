//! Script names: the SHA1 of the body, in lower-case hex.

/// The SHA1 of `body` in lower-case hex, as Redis names scripts.
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}
