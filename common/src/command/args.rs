//! Arguments as Redis's C code reads them.

/// An argument as Redis's C code compares it (`strcasecmp`, `strcmp`): up
/// to its first NUL byte.
pub fn c_arg(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    }
}
