//! Geohash cells (Redis's `geohash.c`): a cell is `step` bits of latitude
//! interleaved with `step` bits of longitude, latitude in the even bits.

/// Latitudes Redis can index (the Web Mercator limits).
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// Whether `lon`, `lat` lie within the indexable limits.
pub fn in_limits(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// An interval of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    /// Longitudes Redis encodes.
    pub const LON: Range = Range {
        min: LON_MIN,
        max: LON_MAX,
    };
    /// Latitudes Redis encodes.
    pub const LAT: Range = Range {
        min: LAT_MIN,
        max: LAT_MAX,
    };
}

/// A geohash cell: `bits` holds `2 * step` interleaved bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

/// A decoded cell: its longitude and latitude intervals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellArea {
    pub lon: Range,
    pub lat: Range,
}

impl Cell {
    /// "No cell" (Redis's zeroed `GeoHashBits`): a neighbour left out.
    pub const NONE: Cell = Cell { bits: 0, step: 0 };

    /// Whether this is [`Cell::NONE`].
    pub fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell of `step` bits holding the point (`geohashEncode`); `None`
    /// outside Redis's limits or the ranges.
    pub fn encode(
        lon_range: &Range,
        lat_range: &Range,
        lon: f64,
        lat: f64,
        step: u8,
    ) -> Option<Cell> {
        if step == 0 || step > 32 {
            return None;
        }
        if !in_limits(lon, lat) {
            return None;
        }
        if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max
        {
            return None;
        }
        let scale = (1u64 << step) as f64;
        let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
        let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * scale;
        // C converts the offsets to uint32_t, truncating.
        Some(Cell {
            bits: interleave(lat_offset as u32, lon_offset as u32),
            step,
        })
    }

    /// The cell's intervals (`geohashDecode`).
    pub fn decode(&self, lon_range: &Range, lat_range: &Range) -> CellArea {
        let sep = deinterleave(self.bits);
        let ilat = sep as u32;
        let ilon = (sep >> 32) as u32;
        let div = (1u64 << self.step) as f64;
        let lat_scale = lat_range.max - lat_range.min;
        let lon_scale = lon_range.max - lon_range.min;
        // `ilat + 1` is 32-bit unsigned arithmetic in C.
        CellArea {
            lat: Range {
                min: lat_range.min + (f64::from(ilat) / div) * lat_scale,
                max: lat_range.min + (f64::from(ilat.wrapping_add(1)) / div) * lat_scale,
            },
            lon: Range {
                min: lon_range.min + (f64::from(ilon) / div) * lon_scale,
                max: lon_range.min + (f64::from(ilon.wrapping_add(1)) / div) * lon_scale,
            },
        }
    }

    /// The cell's bits left-aligned to 52 (the score of its first point).
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The scores of the cell's points: `[min, max)`.
    pub fn score_range(&self) -> (u64, u64) {
        let next = Cell {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        (self.align52(), next.align52())
    }

    /// The eight cells around this one (wrapping at the edges, as Redis's
    /// `geohashNeighbors` does).
    pub fn neighbours(&self) -> Neighbours {
        let at = |dx: i8, dy: i8| self.moved_x(dx).moved_y(dy);
        Neighbours {
            north: at(0, 1),
            south: at(0, -1),
            east: at(1, 0),
            west: at(-1, 0),
            north_east: at(1, 1),
            north_west: at(-1, 1),
            south_east: at(1, -1),
            south_west: at(-1, -1),
        }
    }

    /// One cell east (`d > 0`) or west (`d < 0`).
    fn moved_x(self, d: i8) -> Cell {
        self.moved(d, 0xaaaa_aaaa_aaaa_aaaa)
    }

    /// One cell north (`d > 0`) or south (`d < 0`).
    fn moved_y(self, d: i8) -> Cell {
        self.moved(d, 0x5555_5555_5555_5555)
    }

    /// Adds or subtracts one in the bits of `mask` (one coordinate), the
    /// other coordinate's bits kept.
    fn moved(self, d: i8, mask: u64) -> Cell {
        if d == 0 {
            return self;
        }
        let shift = 64 - u32::from(self.step) * 2;
        let this = self.bits & mask;
        let other = self.bits & !mask;
        // The other coordinate's bits, set, carry an addition across them.
        let filler = !mask >> shift;
        let moved = if d > 0 {
            this.wrapping_add(filler.wrapping_add(1))
        } else {
            (this | filler).wrapping_sub(filler.wrapping_add(1))
        };
        Cell {
            bits: (moved & (mask >> shift)) | other,
            step: self.step,
        }
    }
}

impl CellArea {
    /// The centre, clamped to the limits (`geohashDecodeAreaToLongLat`).
    pub fn centre(&self) -> (f64, f64) {
        let lon = ((self.lon.min + self.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
        let lat = ((self.lat.min + self.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
        (lon, lat)
    }
}

/// The eight cells around one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbours {
    pub north: Cell,
    pub south: Cell,
    pub east: Cell,
    pub west: Cell,
    pub north_east: Cell,
    pub north_west: Cell,
    pub south_east: Cell,
    pub south_west: Cell,
}

/// Spreads the 32 bits of `x` over the even bits and those of `y` over the
/// odd bits.
fn interleave(x: u32, y: u32) -> u64 {
    spread(u64::from(x)) | (spread(u64::from(y)) << 1)
}

fn spread(v: u64) -> u64 {
    let mut v = v;
    v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v | (v << 2)) & 0x3333_3333_3333_3333;
    (v | (v << 1)) & 0x5555_5555_5555_5555
}

/// The inverse of [`interleave`]: even bits in the low half, odd bits in
/// the high half.
fn deinterleave(v: u64) -> u64 {
    gather(v) | (gather(v >> 1) << 32)
}

fn gather(v: u64) -> u64 {
    let mut v = v & 0x5555_5555_5555_5555;
    v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
    v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
    v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
    (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
}
