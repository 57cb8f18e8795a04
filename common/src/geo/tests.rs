//! Fixed vectors read from redis-server 7.0.15.

use super::area::{estimate_step, Search, Shape};
use super::*;
use crate::num::format_human;

#[test]
fn scores_equal_redis() {
    assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
    assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
    // The top corner sets bit 26 of both offsets.
    assert_eq!(score_of(180.0, LAT_MAX), Some(13510798882111488));
    assert_eq!(score_of(-180.0, LAT_MIN), Some(0));
    assert_eq!(score_of(200.0, 100.0), None);
    assert_eq!(score_of(0.0, 85.06), None);
}

#[test]
fn points_print_as_redis_prints_them() {
    let text = |score: f64| {
        let (lon, lat) = point_of(score);
        (format_human(lon), format_human(lat))
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        text(3479099956230698.0),
        pair("13.36138933897018433", "38.11555639549629859")
    );
    assert_eq!(
        text(3479447370796909.0),
        pair("15.08726745843887329", "37.50266842333162032")
    );
    assert_eq!(
        text(13510798882111488.0),
        pair("180", "85.0511287799999991")
    );
    assert_eq!(
        text(0.0),
        pair("-179.99999731779098511", "-85.05112751263942528")
    );
    // Scores GEOADD never writes, converted as x86-64 C converts them.
    assert_eq!(text(-1.0), pair("180", "85.0511287799999991"));
    assert_eq!(
        text(1e300),
        pair("-179.99999731779098511", "-85.05112751263942528")
    );
    assert_eq!(
        text(1.5),
        pair("-179.99999731779098511", "-85.05112497791824921")
    );
    assert_eq!(
        text(-1e-300),
        pair("-179.99999731779098511", "-85.05112751263942528")
    );
    assert_eq!(
        text(4611686018427387904.0),
        pair("-179.99999731779098511", "85.0511287799999991")
    );
    assert_eq!(
        text(18446744073709551616.0),
        pair("-179.99999731779098511", "-85.05112751263942528")
    );
    assert_eq!(text(-9.3e18), pair("180", "-85.05112751263942528"));
}

#[test]
fn geohash_strings_equal_redis() {
    let s = |score: f64| String::from_utf8(geohash_string(score).to_vec()).unwrap_or_default();
    assert_eq!(s(3479099956230698.0), "sqc8b49rny0");
    assert_eq!(s(3479447370796909.0), "sqdtr74hyu0");
    assert_eq!(s(13510798882111488.0), "bp05b5048p0");
    assert_eq!(s(0.0), "00bh0hbj200");
    assert_eq!(s(1.5), "00bh0hbj210");
}

#[test]
fn distances_equal_redis() {
    let (lon1, lat1) = point_of(3479099956230698.0);
    let (lon2, lat2) = point_of(3479447370796909.0);
    let d = distance::distance(lon1, lat1, lon2, lat2);
    assert_eq!(distance_text(d), "166274.1516");
    assert_eq!(distance_text(d / 1000.0), "166.2742");
    assert_eq!(distance_text(0.0), "0.0000");
    assert_eq!(distance_text(0.00004), "0.0000");
    assert_eq!(distance_text(-0.00006), "-0.0001");
    assert_eq!(distance_text(0.5), "0.5000");
}

#[test]
fn steps_follow_the_radius() {
    assert_eq!(estimate_step(0.0, 0.0), 26);
    assert_eq!(estimate_step(f64::INFINITY, 0.0), 1);
    assert!(estimate_step(1000.0, 0.0) > estimate_step(100_000.0, 0.0));
    assert_eq!(estimate_step(1000.0, 70.0) + 1, estimate_step(1000.0, 0.0));
    assert_eq!(estimate_step(1000.0, -81.0) + 2, estimate_step(1000.0, 0.0));
}

#[test]
fn neighbours_wrap_and_move_one_cell() {
    let c = Cell::encode(&Range::LON, &Range::LAT, 0.0, 0.0, 4).unwrap_or_default();
    let n = c.neighbours();
    let area = |c: Cell| c.decode(&Range::LON, &Range::LAT);
    assert_eq!(area(n.north).lat.min, area(c).lat.max);
    assert_eq!(area(n.south).lat.max, area(c).lat.min);
    assert_eq!(area(n.east).lon.min, area(c).lon.max);
    assert_eq!(area(n.west).lon.max, area(c).lon.min);
    assert_eq!(area(n.north_east).lon.min, area(c).lon.max);
    // The east edge wraps to the west edge.
    let edge = Cell::encode(&Range::LON, &Range::LAT, 179.0, 0.0, 4).unwrap_or_default();
    assert_eq!(area(edge.neighbours().east).lon.min, LON_MIN);
}

#[test]
fn a_small_radius_scans_cells_around_its_centre() {
    let search = Search {
        lon: 15.0,
        lat: 37.0,
        shape: Shape::Radius(200.0),
        to_meters: 1000.0,
    };
    let cells = search.cells();
    let scan = cells.to_scan();
    assert!(!scan.is_empty() && scan.len() <= 9);
    assert_eq!(scan[0], cells.centre);
    let (lon, lat) = point_of(3479447370796909.0);
    let d = search.distance_within(lon, lat);
    assert!(d.is_some_and(|d| d < 200_000.0));
    // The point's score lies in one of the scanned cells.
    let score = 3479447370796909u64;
    assert!(scan.iter().any(|c| {
        let (min, max) = c.score_range();
        (min..max).contains(&score)
    }));
    let boxed = Search {
        shape: Shape::Box {
            width: 10.0,
            height: 10.0,
        },
        ..search
    };
    assert_eq!(boxed.distance_within(lon, lat), None);
}

#[test]
fn repeated_cells_are_scanned_once() {
    let cells = Cells {
        centre: Cell { bits: 5, step: 2 },
        area: Cell { bits: 5, step: 2 }.decode(&Range::LON, &Range::LAT),
        around: [
            Cell { bits: 1, step: 2 },
            Cell { bits: 1, step: 2 },
            Cell::NONE,
            Cell { bits: 5, step: 2 },
            Cell { bits: 5, step: 2 },
            Cell { bits: 2, step: 2 },
            Cell { bits: 1, step: 2 },
            Cell::NONE,
        ],
    };
    // North is never compared with the centre (Redis's index 0 reads as
    // "none scanned yet"), so the centre's cell comes twice.
    let bits: Vec<u64> = cells.to_scan().iter().map(|c| c.bits).collect();
    assert_eq!(bits, vec![5, 1, 5, 2, 1]);
}
