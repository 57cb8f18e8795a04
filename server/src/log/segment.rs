//! Segment files: naming, listing, scanning, and what GC needs to know about each.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use petrel_common::ids::{Decree, Gpid};

use super::error::LogError;
use super::format::{self, FrameError, PayloadError, Record};

/// File name of the segment whose first record has sequence number `first_seq`.
pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("log.{first_seq:020}.seg")
}

/// Parses a segment file name; `None` for anything else.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("log.")?.strip_suffix(".seg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, sorted by first sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let item = item.map_err(|e| LogError::io(dir, e))?;
        let name = item.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_name) {
            out.push((seq, item.path()));
        }
    }
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// What GC needs to know about one segment.
#[derive(Debug)]
pub(crate) struct SegmentMeta {
    pub(crate) first_seq: u64,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) records: u64,
    /// Highest decree of an entry, per partition.
    pub(crate) max_decree: HashMap<Gpid, Decree>,
    /// Truncate markers: (partition, last decree kept).
    pub(crate) markers: Vec<(Gpid, Decree)>,
}

impl SegmentMeta {
    pub(crate) fn new(first_seq: u64, path: PathBuf) -> Self {
        SegmentMeta {
            first_seq,
            path,
            bytes: 0,
            records: 0,
            max_decree: HashMap::new(),
            markers: Vec::new(),
        }
    }

    /// Accounts for one more record of `bytes` framed bytes.
    pub(crate) fn note(&mut self, record: RecordSummary, bytes: u64) {
        self.bytes += bytes;
        self.records += 1;
        match record {
            RecordSummary::Entry(g, d) => {
                let m = self.max_decree.entry(g).or_insert(d);
                *m = (*m).max(d);
            }
            RecordSummary::Truncate(g, d) => self.markers.push((g, d)),
        }
    }
}

/// The part of a record GC cares about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecordSummary {
    Entry(Gpid, Decree),
    Truncate(Gpid, Decree),
}

impl From<&Record> for RecordSummary {
    fn from(r: &Record) -> Self {
        match r {
            Record::Entry(e) => RecordSummary::Entry(e.gpid, e.decree),
            Record::Truncate(t) => RecordSummary::Truncate(t.gpid, t.decree),
        }
    }
}

/// The valid records of one segment.
pub(crate) struct Scan {
    /// Records with their framed size, in file order.
    pub(crate) records: Vec<(Record, u64)>,
    /// Length of the valid prefix of the file.
    pub(crate) good_len: u64,
    /// Length of the file as found.
    pub(crate) file_len: u64,
}

/// Reads a segment; in the last segment a damaged tail is reported via `good_len < file_len`.
///
/// A damaged record is a torn tail only if it is in the last segment and no
/// valid record follows it anywhere in the file; otherwise acknowledged data
/// could be behind it, and the segment is reported corrupt.
pub(crate) fn scan_segment(path: &Path, is_last: bool) -> Result<Scan, LogError> {
    let buf = fs::read(path).map_err(|e| LogError::io(path, e))?;
    let corrupt = |offset: usize, reason: &'static str| LogError::Corrupt {
        segment: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut records = Vec::new();
    let mut off = 0usize;
    while off < buf.len() {
        let range = match format::parse_frame(&buf, off) {
            Ok(range) => range,
            Err(err) => {
                let reason = match err {
                    FrameError::Short => "record cut short",
                    FrameError::BadLength => "impossible record length",
                    FrameError::Checksum => "checksum mismatch",
                };
                if !is_last {
                    return Err(corrupt(off, reason));
                }
                if (off + 1..buf.len()).any(|p| format::plausible_frame_at(&buf, p)) {
                    return Err(corrupt(off, "damaged record followed by valid records"));
                }
                break;
            }
        };
        let end = range.end;
        let record = format::decode_payload(&buf[range]).map_err(|e| match e {
            PayloadError::UnknownFormat(version) => LogError::UnsupportedFormat {
                segment: path.to_path_buf(),
                offset: off as u64,
                version,
            },
            PayloadError::UnknownKind => corrupt(off, "unknown record kind"),
            PayloadError::Truncated => corrupt(off, "record payload too short for its kind"),
        })?;
        records.push((record, (end - off) as u64));
        off = end;
    }
    Ok(Scan {
        records,
        good_len: off as u64,
        file_len: buf.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_name(1), "log.00000000000000000001.seg");
        assert_eq!(
            parse_segment_name(&segment_name(987654321)),
            Some(987654321)
        );
        assert_eq!(parse_segment_name("log.12.seg"), Some(12));
        assert_eq!(parse_segment_name("log..seg"), None);
        assert_eq!(parse_segment_name("log.-1.seg"), None);
        assert_eq!(parse_segment_name("log.1.seg.tmp"), None);
        assert_eq!(parse_segment_name("other"), None);
    }
}
