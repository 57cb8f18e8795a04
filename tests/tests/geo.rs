//! GEO beside a real redis-server (issue 19): 10,000 pseudo-random points
//! added to both give byte-equal GEOPOS, GEOHASH and GEODIST replies, and
//! hundreds of radius and box searches (every option, COUNT and ANY)
//! answer byte for byte as Redis's, on a onebox of 8 partitions; stored
//! results land in keys of other partitions equal to Redis's.

mod support;

use support::{two_partitions, Onebox, OneboxOpts, RawConn, RedisOracle};

const PARTITIONS: u32 = 8;
const POINTS: usize = 10_000;
/// Commands per pipelined round trip.
const PIPELINE: usize = 200;

/// A deterministic pseudo-random stream (xorshift64*; the seed must not
/// be zero).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[lo, hi)`.
    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The two servers, compared command by command.
struct Pair {
    redis: RawConn,
    petrel: RawConn,
}

impl Pair {
    /// Sends `commands` to both, pipelined, and asserts every reply is
    /// byte-equal; returns how many were not empty arrays.
    fn same(&mut self, commands: &[Vec<String>]) -> usize {
        let mut found = 0;
        for chunk in commands.chunks(PIPELINE) {
            for con in [&mut self.redis, &mut self.petrel] {
                for c in chunk {
                    let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
                    con.send(&args);
                }
            }
            for c in chunk {
                let want = self.redis.read_reply();
                let got = self.petrel.read_reply();
                assert!(
                    want == got,
                    "{c:?}\n redis: {}\npetrel: {}",
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got)
                );
                found += usize::from(want != b"*0\r\n");
            }
        }
        found
    }
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Half the points anywhere, half in a few dense clusters (so searches of
/// small radii find many members, some on cell borders); one in twenty
/// repeats an earlier point, so distances tie and COUNT's partial sort
/// must move ties as Redis's does.
fn points(rng: &mut Rng) -> Vec<(f64, f64)> {
    let clusters = [
        (13.4, 38.1),
        (-0.12, 51.5),
        (139.7, 35.7),
        (-179.9, 0.0),
        (10.0, 84.9),
    ];
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(POINTS);
    for i in 0..POINTS {
        let point = if i % 20 == 19 {
            out[rng.below(i)]
        } else if i % 2 == 0 {
            (rng.float(-180.0, 180.0), rng.float(-85.05, 85.05))
        } else {
            let (lon, lat) = clusters[rng.below(clusters.len())];
            let lon = (lon + rng.float(-0.5, 0.5)).clamp(-180.0, 180.0);
            (lon, (lat + rng.float(-0.5, 0.5)).clamp(-85.05, 85.05))
        };
        out.push(point);
    }
    out
}

#[test]
fn ten_thousand_points_answer_as_in_redis() {
    let oracle = RedisOracle::start();
    let ob = Onebox::start_with(OneboxOpts {
        partitions: Some(PARTITIONS),
        ..Default::default()
    });
    let mut pair = Pair {
        redis: oracle.conn(),
        petrel: ob.conn(),
    };
    let key = "geo:points";
    let mut rng = Rng(0x6e0);
    let pts = points(&mut rng);
    let adds: Vec<Vec<String>> = pts
        .chunks(500)
        .enumerate()
        .map(|(c, chunk)| {
            let mut cmd = words(&["GEOADD", key]);
            for (i, (lon, lat)) in chunk.iter().enumerate() {
                cmd.extend([
                    lon.to_string(),
                    lat.to_string(),
                    format!("p{}", c * 500 + i),
                ]);
            }
            cmd
        })
        .collect();
    pair.same(&adds);
    pair.same(&[words(&["ZCARD", key])]);

    let members: Vec<String> = (0..POINTS).map(|i| format!("p{i}")).collect();
    let per_member = |name: &str| -> Vec<Vec<String>> {
        members
            .chunks(500)
            .map(|chunk| {
                let mut cmd = words(&[name, key]);
                cmd.extend(chunk.iter().cloned());
                cmd
            })
            .collect()
    };
    pair.same(&per_member("GEOPOS"));
    pair.same(&per_member("GEOHASH"));

    let units = ["m", "km", "ft", "mi"];
    let dists: Vec<Vec<String>> = (0..POINTS)
        .map(|i| {
            let j = (i * 7919 + 1) % POINTS;
            let mut cmd = words(&["GEODIST", key, &members[i], &members[j]]);
            if i % 5 != 0 {
                cmd.push(units[i % 4].to_string());
            }
            cmd
        })
        .collect();
    pair.same(&dists);

    let searches = searches(&mut rng, key, &pts);
    let found = pair.same(&searches);
    eprintln!(
        "{} searches equal, {found} of them found members",
        searches.len()
    );
    assert!(
        found > searches.len() / 2,
        "most searches should find members"
    );

    // Stored results, into a key of another partition (a transaction).
    let (src, dst) = two_partitions("geo:stored", PARTITIONS);
    let mut copy = vec![words(&["COPY", key, &src])];
    copy.extend([
        words(&["GEORADIUS", &src, "13.4", "38.1", "60", "km", "STORE", &dst]),
        words(&["ZRANGE", &dst, "0", "-1", "WITHSCORES"]),
        words(&[
            "GEORADIUSBYMEMBER",
            &src,
            "p1",
            "300",
            "km",
            "STOREDIST",
            &dst,
            "COUNT",
            "50",
        ]),
        words(&["ZRANGE", &dst, "0", "-1", "WITHSCORES"]),
        words(&[
            "GEOSEARCHSTORE",
            &dst,
            &src,
            "FROMLONLAT",
            "139.7",
            "35.7",
            "BYBOX",
            "80",
            "50",
            "km",
        ]),
        words(&["ZRANGE", &dst, "0", "-1", "WITHSCORES"]),
        words(&[
            "GEOSEARCHSTORE",
            &dst,
            &src,
            "FROMMEMBER",
            "p3",
            "BYRADIUS",
            "100",
            "mi",
            "STOREDIST",
            "DESC",
            "COUNT",
            "20",
            "ANY",
        ]),
        words(&["ZRANGE", &dst, "0", "-1", "WITHSCORES"]),
    ]);
    pair.same(&copy);
}

/// Radius and box searches around points and random places, radii from a
/// few meters to thousands of kilometers, with every option.
fn searches(rng: &mut Rng, key: &str, pts: &[(f64, f64)]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for n in 0..600 {
        let (lon, lat) = if n % 3 == 0 {
            (rng.float(-180.0, 180.0), rng.float(-85.05, 85.05))
        } else {
            pts[rng.below(pts.len())]
        };
        // Log-uniform size: 10 m to 10,000 km.
        let size_m = 10f64.powf(rng.float(1.0, 7.0));
        let (unit, per) = [("m", 1.0), ("km", 1000.0), ("mi", 1609.34), ("ft", 0.3048)][n % 4];
        let size = format!("{:.3}", size_m / per);
        let mut cmd = words(&["GEOSEARCH", key]);
        if n % 4 == 1 {
            cmd.extend(words(&[
                "FROMMEMBER",
                &format!("p{}", rng.below(pts.len())),
            ]));
        } else {
            cmd.extend(["FROMLONLAT".to_string(), lon.to_string(), lat.to_string()]);
        }
        if n % 2 == 0 {
            cmd.extend(["BYRADIUS".to_string(), size, unit.to_string()]);
        } else {
            let ratio = rng.float(0.2, 5.0);
            let height = format!("{:.3}", size_m / per * ratio);
            cmd.extend(["BYBOX".to_string(), size, height, unit.to_string()]);
        }
        match n % 5 {
            0 => {}
            1 => cmd.push("ASC".into()),
            2 => cmd.push("DESC".into()),
            3 => cmd.extend(words(&["COUNT", &(1 + rng.below(30)).to_string()])),
            _ => cmd.extend(words(&["COUNT", &(1 + rng.below(30)).to_string(), "ANY"])),
        }
        // The options' replies: members alone, or with any of the extras.
        for (bit, option) in ["WITHDIST", "WITHHASH", "WITHCOORD"].iter().enumerate() {
            if (n / 5) & (1 << bit) != 0 {
                cmd.push(option.to_string());
            }
        }
        out.push(cmd);
        // Its older form, where it has one.
        if n % 10 == 0 {
            let mut radius = words(&["GEORADIUS_RO", key, &lon.to_string(), &lat.to_string()]);
            radius.extend([
                format!("{:.3}", size_m / per),
                unit.to_string(),
                "WITHDIST".into(),
            ]);
            out.push(radius);
        }
    }
    out
}
