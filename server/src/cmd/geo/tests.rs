//! GEO command tests; expected replies are redis-server 7.0.15's.

use petrel_common::num::format_human;
use petrel_common::reply::errors::{SYNTAX, WRONGTYPE};
use petrel_common::reply::Reply;

use crate::cmd::testing::*;

/// Runs one command written as a line of space-separated words.
fn run(h: &mut Harness, line: &str) -> Reply {
    let args: Vec<&str> = line.split_whitespace().collect();
    h.run(&args)
}

fn sicily() -> Harness {
    let mut h = Harness::new();
    let add = "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania \
               13.583333 37.316667 Agrigento";
    assert_eq!(run(&mut h, add), int(3));
    h
}

/// A coordinate pair from Redis's texts (checked to print back the same).
fn coord(lon: &str, lat: &str) -> Reply {
    let value = |text: &str| {
        let v: f64 = text.parse().unwrap_or(f64::NAN);
        assert_eq!(format_human(v), text);
        Reply::HumanDouble(v)
    };
    Reply::Array(vec![value(lon), value(lat)])
}

fn names(names: &[&str]) -> Reply {
    Reply::Array(names.iter().map(|n| bulk(n)).collect())
}

#[test]
fn geoadd_stores_geohash_scores() {
    let mut h = sicily();
    let palermo = Reply::Double(3479099956230698.0);
    assert_eq!(run(&mut h, "zscore Sicily Palermo"), palermo);
    assert_eq!(run(&mut h, "geoadd Sicily nx 0 0 Palermo"), int(0));
    assert_eq!(run(&mut h, "geoadd Sicily xx ch 0 0 Palermo 1 1 x"), int(1));
    assert_eq!(run(&mut h, "zcard Sicily"), int(3));
    let cases = [
        ("geoadd Sicily nx xx 0 0 a", SYNTAX),
        ("geoadd Sicily ch ch ch", SYNTAX),
        ("geoadd Sicily 0 0 m x", SYNTAX),
        (
            "geoadd Sicily 200 100 m",
            "ERR invalid longitude,latitude pair 200.000000,100.000000",
        ),
        ("geoadd Sicily x 0 m", "ERR value is not a valid float"),
    ];
    for (line, text) in cases {
        assert_eq!(run(&mut h, line), err(text), "{line}");
    }
    run(&mut h, "set s v");
    assert_eq!(run(&mut h, "geoadd s 0 0 m"), err(WRONGTYPE));
}

#[test]
fn positions_hashes_and_distances() {
    let mut h = sicily();
    assert_eq!(
        run(&mut h, "geopos Sicily Palermo nope"),
        Reply::Array(vec![
            coord("13.36138933897018433", "38.11555639549629859"),
            Reply::NilArray
        ])
    );
    assert_eq!(
        run(&mut h, "geohash Sicily Palermo Catania nope"),
        Reply::Array(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), Reply::Nil])
    );
    let cases = [
        ("geodist Sicily Palermo Catania", bulk("166274.1516")),
        ("geodist Sicily Palermo Catania KM", bulk("166.2742")),
        ("geodist Sicily Palermo nope", Reply::Nil),
        ("geodist nokey a b", Reply::Nil),
        (
            "geodist Sicily Palermo Catania yd",
            err("ERR unsupported unit provided. please use M, KM, FT, MI"),
        ),
        ("geodist Sicily a b m x", err(SYNTAX)),
        ("geopos nokey a", Reply::Array(vec![Reply::NilArray])),
    ];
    for (line, reply) in cases {
        assert_eq!(run(&mut h, line), reply, "{line}");
    }
}

#[test]
fn radius_replies_with_every_option() {
    let mut h = sicily();
    let item = |name: &str, dist: &str, hash: i64, lon: &str, lat: &str| {
        Reply::Array(vec![bulk(name), bulk(dist), int(hash), coord(lon, lat)])
    };
    assert_eq!(
        run(
            &mut h,
            "georadius Sicily 15 37 200 km WITHDIST WITHHASH WITHCOORD ASC"
        ),
        Reply::Array(vec![
            item(
                "Catania",
                "56.4413",
                3479447370796909,
                "15.08726745843887329",
                "37.50266842333162032"
            ),
            item(
                "Agrigento",
                "130.4235",
                3479030013248308,
                "13.5833314061164856",
                "37.31666804993816555"
            ),
            item(
                "Palermo",
                "190.4424",
                3479099956230698,
                "13.36138933897018433",
                "38.11555639549629859"
            ),
        ])
    );
    let cases = [
        (
            "geosearch Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC",
            names(&["Catania", "Agrigento", "Palermo"]),
        ),
        (
            "georadiusbymember Sicily Agrigento 100 km",
            names(&["Agrigento", "Palermo"]),
        ),
        (
            "georadius Sicily 15 37 200 km count 1 desc",
            names(&["Palermo"]),
        ),
        ("georadius nokey 15 37 200 km", names(&[])),
        ("georadiusbymember nokey x bad unit", names(&[])),
    ];
    for (line, reply) in cases {
        assert_eq!(run(&mut h, line), reply, "{line}");
    }
}

#[test]
fn store_forms_write_sorted_sets() {
    let mut h = sicily();
    let store = "georadius Sicily 15 37 200 km STORE dst";
    assert_eq!(run(&mut h, store), int(3));
    let palermo = Reply::Double(3479099956230698.0);
    assert_eq!(run(&mut h, "zscore dst Palermo"), palermo);
    let dist = "geosearchstore dd Sicily FROMMEMBER Catania BYRADIUS 100 km STOREDIST";
    assert_eq!(run(&mut h, dist), int(1));
    assert_eq!(run(&mut h, "zscore dd Catania"), Reply::Double(0.0));
    // Nothing found (or no source): the destination goes.
    assert_eq!(
        run(&mut h, "georadius nokey 15 37 200 km STORE dst"),
        int(0)
    );
    assert_eq!(run(&mut h, "exists dst"), int(0));
    // Only the first STORE is a declared key.
    assert_eq!(
        run(&mut h, "georadius Sicily 15 37 200 km STORE a STORE b"),
        err("ERR Petrel cannot run this command with STORE or STOREDIST given more than once")
    );
}

#[test]
fn option_errors_are_redis_texts() {
    let mut h = sicily();
    let cases = [
        (
            "georadius Sicily 15 37 -1 km",
            "ERR radius cannot be negative",
        ),
        ("georadius Sicily 15 37 x km", "ERR need numeric radius"),
        (
            "georadius Sicily 15 37 1 km count 0",
            "ERR COUNT must be > 0",
        ),
        (
            "georadius Sicily 15 37 1 km any",
            "ERR the ANY argument requires COUNT argument",
        ),
        (
            "georadius Sicily 15 37 1 km withdist store x",
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and \
             WITHCOORD options",
        ),
        ("georadius_ro Sicily 15 37 1 km store x", SYNTAX),
        (
            "georadiusbymember Sicily nope 1 km",
            "ERR could not decode requested zset member",
        ),
        (
            "GeoSearch Sicily BYRADIUS 1 km ASC ASC",
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GeoSearch",
        ),
        (
            "geosearch Sicily FROMLONLAT 1 1 ASC ASC",
            "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch",
        ),
        (
            "geosearch Sicily FROMLONLAT 1 1 FROMMEMBER Palermo BYRADIUS 1 m",
            SYNTAX,
        ),
        (
            "geosearch Sicily FROMLONLAT 1 1 BYBOX 1 -1 m",
            "ERR height or width cannot be negative",
        ),
        (
            "geosearch Sicily FROMLONLAT 1 1 BYBOX x 1 m",
            "ERR need numeric width",
        ),
        (
            "geosearchstore d Sicily FROMLONLAT 1 1 BYRADIUS 1 m WITHCOORD",
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ),
    ];
    for (line, text) in cases {
        assert_eq!(run(&mut h, line), err(text), "{line}");
    }
    run(&mut h, "set s v");
    let search = "geosearch s FROMLONLAT 1 1 BYRADIUS 1 m";
    assert_eq!(run(&mut h, search), err(WRONGTYPE));
}

#[test]
fn count_any_stops_early() {
    let mut h = Harness::new();
    for i in 0..50 {
        let lon = 10.0 + f64::from(i) * 0.001;
        run(&mut h, &format!("geoadd g {lon} 45 m{i}"));
    }
    let search = "geosearch g FROMLONLAT 10 45 BYRADIUS 100 km";
    let Reply::Array(all) = run(&mut h, search) else {
        panic!("not an array");
    };
    assert_eq!(all.len(), 50);
    let any = run(&mut h, &format!("{search} COUNT 3 ANY"));
    assert_eq!(any, Reply::Array(all[..3].to_vec()));
}
