//! Redis's geospatial math (GEO commands), bit for bit: a point is stored
//! as a sorted-set score, the 52-bit interleaved geohash of its longitude
//! and latitude, and searches scan the scores of nine geohash cells.
//!
//! - [`cell`]: geohash cells: encoding, decoding, neighbours, the 52-bit
//!   score and the standard 11-character geohash string.
//! - [`distance`]: the haversine distance Redis uses (its earth radius).
//! - [`area`]: a search shape (radius or box around a point) and the nine
//!   cells whose score ranges cover it.
//! - [`pqsort`]: Redis's partial quicksort, which orders results cut by
//!   COUNT.
//!
//! Everything here is pure arithmetic in `f64` with the same operations, in
//! the same order, as Redis's `geohash.c`, `geohash_helper.c` and `geo.c`,
//! so distances, coordinates and the cells searched equal Redis's.

pub mod area;
pub mod cell;
pub mod distance;
pub mod pqsort;

#[cfg(test)]
mod tests;

pub use area::{Cells, Shape};
pub use cell::{in_limits, Cell, CellArea, Range, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN};

/// Bits of precision per coordinate: 26 + 26 = 52, exact in a double.
pub const STEP_MAX: u8 = 26;

/// The score Redis stores for a point, or `None` outside the limits.
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    Cell::encode(&Range::LON, &Range::LAT, lon, lat, STEP_MAX).map(|c| c.align52())
}

/// The point a score stands for: the centre of its cell (Redis's
/// `decodeGeohash`, which reads any score, even one GEOADD never wrote).
pub fn point_of(score: f64) -> (f64, f64) {
    let cell = Cell {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    cell.decode(&Range::LON, &Range::LAT).centre()
}

/// The standard 11-character geohash (latitudes over +-90) of a score's
/// point, as GEOHASH answers it.
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = point_of(score);
    let standard = Range {
        min: -90.0,
        max: 90.0,
    };
    // The centre is always within the limits, so this never fails.
    let bits = Cell::encode(&Range::LON, &standard, lon, lat, STEP_MAX).map_or(0, |c| c.bits);
    let mut out = [b'0'; 11];
    // 52 bits make ten characters; the eleventh is '0', as in Redis.
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

/// C's `(uint64_t)` of a double as x86-64 compiles it: scores a user wrote
/// with ZADD may be negative, huge or fractional.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // cvttsd2si answers 0x8000000000000000 for NaN and out-of-range values.
    let cvt = |v: f64| {
        if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
            i64::MIN as u64
        } else {
            v as i64 as u64
        }
    };
    if d < TWO_63 || d.is_nan() {
        cvt(d)
    } else {
        cvt(d - TWO_63) ^ (1 << 63)
    }
}

/// A distance as Redis replies it: meters converted to the unit, four
/// decimals, rounded half to even (`fixedpoint_d2string`).
pub fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10_000.0).round_ties_even();
    // llrint of a value past the range of long long gives LLONG_MIN.
    let v = if scaled.is_nan()
        || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&scaled)
    {
        i64::MIN
    } else {
        scaled as i64
    };
    let sign = if v < 0 { "-" } else { "" };
    let abs = v.unsigned_abs();
    format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000)
}
