//! Why a payload does not load.

/// Why a payload does not load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// Too short, of a later RDB version, or a wrong CRC (Redis's
    /// `DUMP payload version or checksum are wrong`).
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    /// The data ends inside this part.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// This part is malformed.
    #[error("bad {0}")]
    Bad(&'static str),
    /// An RDB type Petrel does not read (modules, or none at all).
    #[error("unsupported RDB type {0}")]
    Type(u8),
}
