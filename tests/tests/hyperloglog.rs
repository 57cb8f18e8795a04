//! HyperLogLog beside a real redis-server (issue 19): the same 1,000,000
//! pseudo-random elements, pipelined in batches, give the same PFCOUNT and
//! the same bytes; PFCOUNT of several keys and PFMERGE across partitions
//! agree with Redis; and HLL values moved with GET/SET from Redis to
//! Petrel and back keep counting alike as more elements come.

mod support;

use redis::Connection;
use support::{two_partitions, Beside};

const PARTITIONS: u32 = 8;
/// Elements per PFADD.
const BATCH: usize = 500;
/// PFADDs per round trip.
const PIPELINE: usize = 20;

/// A deterministic stream of distinct-looking elements (SplitMix64).
struct Elements(u64);

impl Elements {
    fn next_batch(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                format!("{:016x}", z ^ (z >> 31))
            })
            .collect()
    }
}

/// Adds `n` elements of `gen` to `key` on every connection, pipelined.
fn pfadd_all(cons: &mut [&mut Connection], key: &str, gen: &mut Elements, n: usize) {
    let mut left = n;
    while left > 0 {
        let mut pipe = redis::pipe();
        for _ in 0..PIPELINE {
            if left == 0 {
                break;
            }
            let take = left.min(BATCH);
            pipe.cmd("PFADD").arg(key).arg(gen.next_batch(take));
            left -= take;
        }
        for con in cons.iter_mut() {
            let _: Vec<i64> = pipe
                .query(*con)
                .unwrap_or_else(|e| panic!("PFADD {key}: {e}"));
        }
    }
}

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&[u8]]) -> T {
    let mut c = redis::cmd(&String::from_utf8_lossy(args[0]));
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn pfcount(con: &mut Connection, keys: &[&str]) -> i64 {
    let mut args: Vec<&[u8]> = vec![b"PFCOUNT"];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    query(con, &args)
}

fn get(con: &mut Connection, key: &str) -> Vec<u8> {
    query(con, &[b"GET", key.as_bytes()])
}

fn set(con: &mut Connection, key: &str, value: &[u8]) {
    let _: () = query(con, &[b"SET", key.as_bytes(), value]);
}

fn encoding(con: &mut Connection, key: &str) -> String {
    query(con, &[b"PFDEBUG", b"ENCODING", key.as_bytes()])
}

/// Asserts both servers count `keys` alike and hold the same bytes at
/// each of them; returns the count.
fn same(redis: &mut Connection, petrel: &mut Connection, keys: &[&str], what: &str) -> i64 {
    let want = pfcount(redis, keys);
    assert_eq!(pfcount(petrel, keys), want, "PFCOUNT {keys:?} {what}");
    for key in keys {
        assert!(get(redis, key) == get(petrel, key), "GET {key} {what}");
    }
    want
}

#[test]
fn hyperloglogs_count_and_travel_as_in_redis() {
    let mut side = Beside::start(PARTITIONS);
    let (redis, petrel) = (&mut side.redis, &mut side.petrel);

    a_million_elements(redis, petrel);
    values_move_both_ways(redis, petrel);
}

/// 1,000,000 elements into one key, compared at every power of ten: the
/// count, the bytes (sparse, then dense, and the cache PFCOUNT writes),
/// then unions and merges with a key of another partition.
fn a_million_elements(redis: &mut Connection, petrel: &mut Connection) {
    // Keys of two partitions: PFCOUNT and PFMERGE over them are transactions.
    let (big, other) = two_partitions("hll:big", PARTITIONS);
    let mut gen = Elements(0x5eed);
    let mut added = 0;
    for target in [1_000, 10_000, 100_000, 1_000_000] {
        pfadd_all(
            &mut [&mut *redis, &mut *petrel],
            &big,
            &mut gen,
            target - added,
        );
        added = target;
        assert_eq!(encoding(redis, &big), encoding(petrel, &big));
        let count = same(redis, petrel, &[&big], &format!("after {added}"));
        // HyperLogLog's standard error is 0.81%.
        let error = (count - added as i64).abs() as f64 / added as f64;
        assert!(error < 0.03, "{count} counted for {added}");
        eprintln!("{added} elements: PFCOUNT {count} on both");
    }
    let mut gen = Elements(0xd1ff);
    pfadd_all(&mut [&mut *redis, &mut *petrel], &other, &mut gen, 20_000);
    let union = pfcount(redis, &[&big, &other]);
    assert_eq!(pfcount(petrel, &[&big, &other]), union);
    for con in [&mut *redis, &mut *petrel] {
        let _: () = query(con, &[b"PFMERGE", other.as_bytes(), big.as_bytes()]);
    }
    assert_eq!(same(redis, petrel, &[&other], "after PFMERGE"), union);
}

/// Values GET from one side and SET into the other, sparse and dense, keep
/// counting alike (and byte for byte) as more elements are added to both.
fn values_move_both_ways(redis: &mut Connection, petrel: &mut Connection) {
    for (n, encoded) in [(300, "sparse"), (50_000, "dense")] {
        let key = format!("hll:moved:{n}");
        let mut gen = Elements(n as u64);
        pfadd_all(&mut [&mut *redis], &key, &mut gen, n);
        assert_eq!(encoding(redis, &key), encoded);
        // Redis to Petrel, as Redis left it (cache stale).
        let value = get(redis, &key);
        set(petrel, &key, &value);
        same(redis, petrel, &[&key], &format!("{n} from Redis"));
        pfadd_all(&mut [&mut *redis, &mut *petrel], &key, &mut gen, n);
        same(redis, petrel, &[&key], &format!("{n} more"));
        // Petrel to Redis, into a key of its own there.
        let back = format!("{key}:back");
        let value = get(petrel, &key);
        set(redis, &back, &value);
        set(petrel, &back, &value);
        pfadd_all(&mut [&mut *redis, &mut *petrel], &back, &mut gen, n);
        assert_eq!(
            pfcount(redis, &[&back]),
            pfcount(petrel, &[&back]),
            "{n} back in Redis"
        );
        assert!(get(redis, &back) == get(petrel, &back), "GET {back}");
    }
}
