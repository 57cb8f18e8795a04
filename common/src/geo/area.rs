//! A search area (Redis's `GeoShape`) and the nine geohash cells that
//! cover it (`geohashCalculateAreasByShapeWGS84`).

use super::cell::{Cell, CellArea, Range};
use super::distance::{deg_rad, distance, lat_distance, rad_deg, EARTH_RADIUS_M};

/// What is searched around the centre, in the request's unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A shape around a point; `to_meters` converts the shape's unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    pub to_meters: f64,
}

/// The cell holding the centre and its neighbours, some left out
/// ([`Cell::NONE`]) when the shape cannot reach them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cells {
    pub centre: Cell,
    pub area: CellArea,
    /// North, south, east, west, north-east, north-west, south-east,
    /// south-west: the order Redis searches them in, after the centre.
    pub around: [Cell; 8],
}

impl Cells {
    /// The nine cells in Redis's search order, each with whether to scan
    /// it: a cell equal to the last one scanned is skipped (at a huge
    /// radius neighbours repeat), as is a left-out one.
    pub fn to_scan(&self) -> Vec<Cell> {
        let all: Vec<Cell> = std::iter::once(self.centre).chain(self.around).collect();
        let mut out = Vec::with_capacity(9);
        // Redis remembers the index of the last scanned cell, and index 0
        // (the centre) reads as "none yet".
        let mut last: usize = 0;
        for (i, cell) in all.iter().enumerate() {
            if cell.is_none() {
                continue;
            }
            if last != 0 && *cell == all[last] {
                continue;
            }
            out.push(*cell);
            last = i;
        }
        out
    }
}

impl Search {
    /// Half the height and half the width in meters.
    fn half_extent_m(&self) -> (f64, f64) {
        match self.shape {
            Shape::Radius(r) => (self.to_meters * r, self.to_meters * r),
            Shape::Box { width, height } => (
                self.to_meters * (height / 2.0),
                self.to_meters * (width / 2.0),
            ),
        }
    }

    /// `[min_lon, min_lat, max_lon, max_lat]` enclosing the shape
    /// (`geohashBoundingBox`).
    pub fn bounding_box(&self) -> [f64; 4] {
        let (height, width) = self.half_extent_m();
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        // The shape is widest on its side nearer the equator.
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The cells whose score ranges hold every point of the shape.
    pub fn cells(&self) -> Cells {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius_m = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.to_meters;
        let mut step = estimate_step(radius_m, self.lat);
        let at = |step: u8| {
            let centre = Cell::encode(&Range::LON, &Range::LAT, self.lon, self.lat, step)
                .unwrap_or(Cell { bits: 0, step });
            (
                centre,
                centre.neighbours(),
                centre.decode(&Range::LON, &Range::LAT),
            )
        };
        let (mut centre, mut n, mut area) = at(step);
        // Near a cell's edge the step may be too fine for the neighbours to
        // cover the box: one step coarser then.
        let decode = |c: Cell| c.decode(&Range::LON, &Range::LAT);
        let too_small = decode(n.north).lat.max < max_lat
            || decode(n.south).lat.min > min_lat
            || decode(n.east).lon.max < max_lon
            || decode(n.west).lon.min > min_lon;
        if step > 1 && too_small {
            step -= 1;
            (centre, n, area) = at(step);
        }
        let mut around = [
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ];
        // Leave out the neighbours (indices into `around`) on a side the
        // box does not reach.
        if step >= 2 {
            let beyond = [
                (area.lat.min < min_lat, [1, 6, 7]),
                (area.lat.max > max_lat, [0, 4, 5]),
                (area.lon.min < min_lon, [3, 5, 7]),
                (area.lon.max > max_lon, [2, 4, 6]),
            ];
            for (side, cells) in beyond {
                if side {
                    for i in cells {
                        around[i] = Cell::NONE;
                    }
                }
            }
        }
        Cells {
            centre,
            area,
            around,
        }
    }

    /// The distance in meters from the centre to a point, when the point is
    /// within the shape (`geoWithinShape`).
    pub fn distance_within(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                if d > r * self.to_meters {
                    None
                } else {
                    Some(d)
                }
            }
            Shape::Box { width, height } => {
                let (width_m, height_m) = (width * self.to_meters, height * self.to_meters);
                // The cheaper latitude test first, as Redis does.
                if lat_distance(lat, self.lat) > height_m / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width_m / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }
}

/// The step whose cells are about as large as the radius
/// (`geohashEstimateStepsByRadius`), coarser towards the poles.
pub fn estimate_step(range_m: f64, lat: f64) -> u8 {
    const MERCATOR_MAX: f64 = 20037726.37;
    if range_m == 0.0 {
        return 26;
    }
    let mut range_m = range_m;
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}
