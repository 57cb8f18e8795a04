//! A string seen as bits: offsets, reading and setting one bit, and the
//! string a bit command works on, shared by SETBIT/GETBIT and BITFIELD.

use crate::cmd::db::{Db, Entry};
use crate::cmd::outcome::CmdError;
use crate::cmd::parse::parse_i64;
use crate::cmd::strings::PROTO_MAX_BULK_LEN;

/// Bad SETBIT/GETBIT/BITFIELD offset.
pub(super) const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
/// SETBIT value other than 0 or 1.
pub(super) const BAD_BIT: &str = "ERR bit is not an integer or out of range";
/// BITPOS bit other than 0 or 1.
pub(super) const BAD_BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";
/// BITOP NOT with several sources.
pub(super) const NOT_ONE_SOURCE: &str = "ERR BITOP NOT must be called with a single source key.";

/// Redis's `getBitOffsetFromArgument`: a bit offset below 2^32 (the bits of
/// a 512 MB string). With `field_bits` (BITFIELD), `#N` means N fields of
/// that width; the multiplication wraps as Redis's does.
pub(super) fn bit_offset(arg: &[u8], field_bits: Option<u32>) -> Result<u64, CmdError> {
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .map(|n| n.wrapping_mul(scale))
        .ok_or_else(|| CmdError::reply(BAD_OFFSET))?;
    if offset < 0 || (offset as u64 >> 3) >= PROTO_MAX_BULK_LEN {
        return Err(CmdError::reply(BAD_OFFSET));
    }
    Ok(offset as u64)
}

/// The bit at `offset` (0 past the end).
pub(super) fn bit_at(value: &[u8], offset: u64) -> u8 {
    let byte = usize::try_from(offset >> 3).ok().and_then(|i| value.get(i));
    byte.map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

/// Sets or clears the bit at `offset`; the value must reach that far.
pub(super) fn set_bit_at(value: &mut [u8], offset: u64, on: bool) {
    let mask = 1u8 << (7 - (offset & 7));
    let byte = usize::try_from(offset >> 3)
        .ok()
        .and_then(|i| value.get_mut(i));
    if let Some(b) = byte {
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }
}

/// The string at `key` as Redis's `lookupStringForBitCommand` makes it: the
/// stored value (or a new empty one), zero-padded to hold bit `max_bit`.
pub(super) fn string_for_bits(
    db: &Db<'_>,
    key: &[u8],
    max_bit: u64,
) -> Result<(Option<Entry>, Vec<u8>), CmdError> {
    let entry = db.lookup_string(key)?;
    let mut value = entry.as_ref().map_or_else(Vec::new, |e| e.payload.to_vec());
    // Offsets are checked below 2^32 bits (+ 64 for BITFIELD): this fits.
    let len = usize::try_from((max_bit >> 3) + 1).unwrap_or(usize::MAX);
    if value.len() < len {
        value.resize(len, 0);
    }
    Ok((entry, value))
}

/// Stores a string changed by a bit command: in place (same expiry and
/// version) when the key existed, as a new key otherwise. An existing value
/// that did not change is not written.
pub(super) fn save_bits(
    db: &mut Db<'_>,
    key: &[u8],
    entry: Option<&Entry>,
    value: &[u8],
) -> Result<(), CmdError> {
    match entry {
        Some(e) if e.payload[..] == *value => {}
        Some(e) => db.put_string(key, e.header.expire_at_ms, e.header.version, value),
        None => {
            let version = db.fresh_version(key)?;
            db.put_string(key, 0, version, value);
        }
    }
    Ok(())
}
