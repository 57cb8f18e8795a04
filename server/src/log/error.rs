//! Errors of the mutation log.

use std::io;
use std::path::PathBuf;

/// Everything the mutation log can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    /// An I/O error outside the append/sync path (open, scan, GC).
    #[error("mutation log I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A damaged record that cannot be a torn tail (older segment, or valid records after it).
    #[error("mutation log corrupt: {segment} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file holding the damaged record.
        segment: PathBuf,
        /// Byte offset of the damaged record in that segment.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record with a valid checksum but a format version this build does not know.
    #[error("mutation log record in {segment} at offset {offset} has unknown format {version}")]
    UnsupportedFormat {
        /// The segment file holding the record.
        segment: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// The record's format byte.
        version: u8,
    },
    /// An entry whose encoded record exceeds the maximum record size.
    #[error("mutation log record of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Encoded payload size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The log hit a write or fdatasync error earlier; it refuses every operation since.
    #[error("mutation log failed and refuses all writes: {cause}")]
    Failed {
        /// The first error that failed the log.
        cause: String,
    },
    /// The log was dropped while a caller waited for durability.
    #[error("mutation log closed")]
    Closed,
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether this is the permanent failed state (the replica must be rebuilt).
    #[cfg(test)]
    pub(crate) fn is_failed(&self) -> bool {
        matches!(self, LogError::Failed { .. })
    }
}
