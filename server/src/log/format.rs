//! Record framing and the binary layout of log records.
//!
//! A segment is a sequence of frames, nothing else (no file header):
//!
//! ```text
//! frame   := len: u32 LE | crc: u32 LE | payload[len]
//!            crc = CRC-32C (Castagnoli, "CRC-32/ISCSI") of payload
//! payload := format: u8 (= 1) | kind: u8 | body
//! ```
//!
//! Format 1 bodies (all integers little-endian):
//!
//! ```text
//! kind 1, entry (34 bytes + mutation):
//!   off  2  table            u32
//!   off  6  partition        u32
//!   off 10  ballot           u64
//!   off 18  decree           u64
//!   off 26  last_committed   u64
//!   off 34  mutation         the rest of the payload (opaque bytes)
//! kind 2, truncate marker (26 bytes):
//!   off  2  table            u32
//!   off  6  partition        u32
//!   off 10  ballot           u64
//!   off 18  decree           u64   (entries of this gpid above it, earlier in the log, are void)
//! ```
//!
//! A frame whose `len` is below the smallest payload (26) or above
//! [`MAX_PAYLOAD`] is invalid: it cannot have been written by us.

use bytes::Bytes;
use petrel_common::ids::{Ballot, Decree, Gpid, PartitionId, TableId};

use super::entry::LogEntry;

/// The payload format this build writes (and the only one it reads).
pub(crate) const FORMAT_V1: u8 = 1;
/// Kind byte of an entry record.
pub(crate) const KIND_ENTRY: u8 = 1;
/// Kind byte of a truncate marker record.
pub(crate) const KIND_TRUNCATE: u8 = 2;
/// Bytes of `len` + `crc` before every payload.
pub(crate) const FRAME_HEADER: usize = 8;
/// Size of a truncate marker payload, the smallest valid payload.
pub(crate) const MARKER_PAYLOAD: usize = 26;
/// Size of an entry payload without its mutation.
pub(crate) const ENTRY_HEADER: usize = 34;
/// Largest payload accepted (write and read): 576 MiB, so any mutation the
/// proxy lets through (a value up to Redis's 512 MiB `proto-max-bulk-len`
/// plus the rest of the command) is logged rather than failing the replica,
/// and still fits one RPC frame to the secondaries.
pub(crate) const MAX_PAYLOAD: usize = 576 << 20;

const _: () = assert!(MAX_PAYLOAD < petrel_common::rpc::frame::MAX_FRAME_LEN);

/// Slice-by-16 tables: the same checksum as the bytewise table, about four
/// times faster, which matters once a record is a 100 MB string.
const CRC32C: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// CRC-32C of a payload.
pub(crate) fn checksum(payload: &[u8]) -> u32 {
    CRC32C.checksum(payload)
}

/// A truncate marker: entries of `gpid` with a decree above `decree` logged before it are void.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Truncation {
    /// The partition truncated.
    pub(crate) gpid: Gpid,
    /// The ballot under which the truncation was decided.
    pub(crate) ballot: Ballot,
    /// The last decree kept.
    pub(crate) decree: Decree,
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A logged mutation.
    Entry(LogEntry),
    /// A truncate marker.
    Truncate(Truncation),
}

/// Why bytes at some offset are not a valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The file ends inside the frame (header or payload).
    Short,
    /// The length field is impossible.
    BadLength,
    /// The payload does not match its checksum.
    Checksum,
}

/// Why a checksummed payload cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayloadError {
    /// A format byte this build does not know.
    UnknownFormat(u8),
    /// A kind byte this build does not know.
    UnknownKind,
    /// The payload is too short for its kind.
    Truncated,
}

fn put_gpid_ballot_decree(out: &mut Vec<u8>, gpid: Gpid, ballot: Ballot, decree: Decree) {
    out.extend_from_slice(&gpid.table.0.to_le_bytes());
    out.extend_from_slice(&gpid.partition.0.to_le_bytes());
    out.extend_from_slice(&ballot.0.to_le_bytes());
    out.extend_from_slice(&decree.0.to_le_bytes());
}

/// Appends the frame for `payload` (built by `fill`) to `out`.
fn frame(out: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    fill(out);
    let payload_len = out.len() - start - FRAME_HEADER;
    let crc = checksum(&out[start + FRAME_HEADER..]);
    // Callers check the size against MAX_PAYLOAD (< u32::MAX) first.
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Payload size of an entry record.
pub(crate) fn entry_payload_len(entry: &LogEntry) -> usize {
    ENTRY_HEADER + entry.mutation.len()
}

/// Appends the frame of an entry record to `out`.
#[cfg(test)]
pub(crate) fn encode_entry(out: &mut Vec<u8>, entry: &LogEntry) {
    out.extend_from_slice(&entry_head(entry));
    out.extend_from_slice(&entry.mutation);
}

/// The frame of an entry record up to its mutation: frame header (length
/// and checksum of the whole payload) and entry header. The mutation follows
/// it on disk unchanged, so a big value is never copied to be logged.
pub(crate) fn entry_head(entry: &LogEntry) -> Vec<u8> {
    let mut head = Vec::with_capacity(FRAME_HEADER + ENTRY_HEADER);
    head.extend_from_slice(&[0u8; FRAME_HEADER]);
    head.push(FORMAT_V1);
    head.push(KIND_ENTRY);
    put_gpid_ballot_decree(&mut head, entry.gpid, entry.ballot, entry.decree);
    head.extend_from_slice(&entry.last_committed.0.to_le_bytes());
    let mut digest = CRC32C.digest();
    digest.update(&head[FRAME_HEADER..]);
    digest.update(&entry.mutation);
    // Callers check the size against MAX_PAYLOAD (< u32::MAX) first.
    let payload_len = (ENTRY_HEADER + entry.mutation.len()) as u32;
    head[0..4].copy_from_slice(&payload_len.to_le_bytes());
    head[4..8].copy_from_slice(&digest.finalize().to_le_bytes());
    head
}

/// Appends the frame of a truncate marker to `out`.
pub(crate) fn encode_truncate(out: &mut Vec<u8>, t: &Truncation) {
    frame(out, |p| {
        p.push(FORMAT_V1);
        p.push(KIND_TRUNCATE);
        put_gpid_ballot_decree(p, t.gpid, t.ballot, t.decree);
    });
}

fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    let b = buf.get(off..off + 4)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    Some(u32::from_le_bytes(a))
}

fn u64_at(buf: &[u8], off: usize) -> Option<u64> {
    let b = buf.get(off..off + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Checks the frame starting at `off`; on success returns the payload range.
pub(crate) fn parse_frame(buf: &[u8], off: usize) -> Result<std::ops::Range<usize>, FrameError> {
    let len = u32_at(buf, off).ok_or(FrameError::Short)? as usize;
    let crc = u32_at(buf, off + 4).ok_or(FrameError::Short)?;
    if !(MARKER_PAYLOAD..=MAX_PAYLOAD).contains(&len) {
        return Err(FrameError::BadLength);
    }
    let start = off + FRAME_HEADER;
    let end = start + len;
    let payload = buf.get(start..end).ok_or(FrameError::Short)?;
    if checksum(payload) != crc {
        return Err(FrameError::Checksum);
    }
    Ok(start..end)
}

/// Whether a valid frame of a known format starts at `off` (used to tell a torn tail from damage).
pub(crate) fn plausible_frame_at(buf: &[u8], off: usize) -> bool {
    // Cheap filters first; the checksum last.
    let Some(len) = u32_at(buf, off) else {
        return false;
    };
    let len = len as usize;
    if !(MARKER_PAYLOAD..=MAX_PAYLOAD).contains(&len) {
        return false;
    }
    let start = off + FRAME_HEADER;
    match buf.get(start..start + 2) {
        Some([FORMAT_V1, KIND_ENTRY | KIND_TRUNCATE]) => {}
        _ => return false,
    }
    parse_frame(buf, off).is_ok()
}

/// Decodes a checksummed payload.
pub(crate) fn decode_payload(p: &[u8]) -> Result<Record, PayloadError> {
    let format = *p.first().ok_or(PayloadError::Truncated)?;
    if format != FORMAT_V1 {
        return Err(PayloadError::UnknownFormat(format));
    }
    let kind = *p.get(1).ok_or(PayloadError::Truncated)?;
    let fields = (|| {
        let gpid = Gpid {
            table: TableId(u32_at(p, 2)?),
            partition: PartitionId(u32_at(p, 6)?),
        };
        Some((gpid, Ballot(u64_at(p, 10)?), Decree(u64_at(p, 18)?)))
    })();
    let (gpid, ballot, decree) = fields.ok_or(PayloadError::Truncated)?;
    match kind {
        KIND_ENTRY => {
            let last_committed = Decree(u64_at(p, 26).ok_or(PayloadError::Truncated)?);
            let mutation = Bytes::copy_from_slice(p.get(ENTRY_HEADER..).unwrap_or_default());
            Ok(Record::Entry(LogEntry {
                gpid,
                ballot,
                decree,
                last_committed,
                mutation,
            }))
        }
        KIND_TRUNCATE => {
            if p.len() != MARKER_PAYLOAD {
                return Err(PayloadError::Truncated);
            }
            Ok(Record::Truncate(Truncation {
                gpid,
                ballot,
                decree,
            }))
        }
        _ => Err(PayloadError::UnknownKind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> LogEntry {
        LogEntry {
            gpid: Gpid::new(7, 3),
            ballot: Ballot(5),
            decree: Decree(42),
            last_committed: Decree(40),
            mutation: Bytes::from_static(b"hello"),
        }
    }

    #[test]
    fn entry_frame_round_trip_and_layout() {
        let e = entry();
        let mut buf = Vec::new();
        encode_entry(&mut buf, &e);
        assert_eq!(buf.len(), FRAME_HEADER + ENTRY_HEADER + 5);
        assert_eq!(&buf[0..4], &((ENTRY_HEADER + 5) as u32).to_le_bytes());
        assert_eq!(buf[8], FORMAT_V1);
        assert_eq!(buf[9], KIND_ENTRY);
        let range = parse_frame(&buf, 0).unwrap();
        assert_eq!(decode_payload(&buf[range]).unwrap(), Record::Entry(e));
    }

    #[test]
    fn checksum_is_crc32c() {
        // The CRC-32C check value, and the bytewise table's answer on odd
        // lengths and alignments: the faster tables change nothing on disk.
        assert_eq!(checksum(b"123456789"), 0xE306_9283);
        let bytewise = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (from, to) in [(0, 0), (0, 1), (3, 20), (1, 4999), (0, 5000)] {
            assert_eq!(
                checksum(&data[from..to]),
                bytewise.checksum(&data[from..to])
            );
        }
    }

    #[test]
    fn entry_head_checksums_the_mutation_it_does_not_hold() {
        let mut e = entry();
        e.mutation = Bytes::from((0..100_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let head = entry_head(&e);
        assert_eq!(head.len(), FRAME_HEADER + ENTRY_HEADER);
        let mut buf = head.clone();
        buf.extend_from_slice(&e.mutation);
        let range = parse_frame(&buf, 0).unwrap();
        assert_eq!(range, FRAME_HEADER..buf.len());
        assert_eq!(
            decode_payload(&buf[range]).unwrap(),
            Record::Entry(e.clone())
        );
        // The same bytes as framing the whole payload at once.
        let mut whole = Vec::new();
        frame(&mut whole, |p| p.extend_from_slice(&buf[FRAME_HEADER..]));
        assert_eq!(whole, buf);
    }

    #[test]
    fn marker_frame_round_trip() {
        let t = Truncation {
            gpid: Gpid::new(1, 2),
            ballot: Ballot(3),
            decree: Decree(4),
        };
        let mut buf = Vec::new();
        encode_truncate(&mut buf, &t);
        assert_eq!(buf.len(), FRAME_HEADER + MARKER_PAYLOAD);
        let range = parse_frame(&buf, 0).unwrap();
        assert_eq!(decode_payload(&buf[range]).unwrap(), Record::Truncate(t));
    }

    #[test]
    fn damaged_frames_are_classified() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, &entry());
        let len = buf.len();
        assert_eq!(parse_frame(&buf[..len - 1], 0), Err(FrameError::Short));
        assert_eq!(parse_frame(&buf[..5], 0), Err(FrameError::Short));
        let mut flipped = buf.clone();
        flipped[len - 1] ^= 0x40;
        assert_eq!(parse_frame(&flipped, 0), Err(FrameError::Checksum));
        let zeros = vec![0u8; 64];
        assert_eq!(parse_frame(&zeros, 0), Err(FrameError::BadLength));
        assert!(!plausible_frame_at(&zeros, 0));
        assert!(plausible_frame_at(&buf, 0));
        let mut future = Vec::new();
        frame(&mut future, |p| p.extend_from_slice(&[9u8; 40]));
        let range = parse_frame(&future, 0).unwrap();
        assert_eq!(
            decode_payload(&future[range]),
            Err(PayloadError::UnknownFormat(9))
        );
    }
}
