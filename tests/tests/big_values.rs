//! Big values and big collections through a onebox (proxy, three servers,
//! every write replicated three ways):
//!
//! - strings of 100 MiB and 50 MiB round-trip byte for byte (compared by
//!   digest, never printed), with STRLEN, GETRANGE near the end and APPEND,
//!   without the write costing its partition a replica (a secondary slow to
//!   take 100 MiB is not a failed one); a pipeline of 10 MiB values does too;
//! - a hash of a million fields is built, single-field commands on it work,
//!   and a burst of 10,000 of them neither grows any process's memory by
//!   anything near the hash's size nor runs slower than on a tiny hash
//!   (so no single-field command loads the collection);
//! - DEL of that hash is one small mutation (a metadata delete and a range
//!   delete), not a million element deletes.
//!
//! Figures (times, rates, RSS) are printed for the record, not asserted
//! beyond bounds that separate O(1) from O(collection) by orders of magnitude.

mod support;

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::Path;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use support::{proc_status_bytes, run_checks, Onebox};

const MIB: u64 = 1 << 20;

/// Fields in the big hash.
const FIELDS: usize = 1_000_000;
/// Bytes of every value in the big hash: with 8-byte field names the hash
/// holds ~108 MB of user data, more than the server's 64 MiB block cache, so
/// a command that loaded it whole would stand out from the cache's growth.
const VALUE_LEN: usize = 100;
/// Field/value pairs per HSET while building.
const BATCH: usize = 1000;
/// HSETs in flight at once while building (below the replica's 64-write
/// in-flight cap, so the build never meets back-pressure).
const BUILD_DEPTH: usize = 16;
/// Single-field commands in the measured burst.
const BURST: usize = 10_000;

#[test]
fn big_values_and_big_collections() {
    let ob = Onebox::start();
    let mut con = connect(&ob);
    // The huge strings go last: while replication of a 100 MiB mutation is
    // slow, secondaries may be dropped and re-learned, which would disturb
    // the hash's measurements.
    run_checks(&[
        ("pipelined 10 MiB values", &|| {
            pipelined_values(&mut connect(&ob))
        }),
        ("million-field hash", &|| million_field_hash(&ob)),
        ("huge strings", &|| huge_strings(&ob, &mut connect(&ob))),
    ]);
    assert_alive(&ob);
    let n: i64 = query(&mut con, &redis::cmd("DBSIZE"));
    eprintln!("final DBSIZE {n}");
}

/// A connection that waits long enough for a 100 MiB reply on a busy machine.
fn connect(ob: &Onebox) -> Connection {
    let con = ob.redis_client().get_connection().expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(300)))
        .expect("read timeout");
    con.set_write_timeout(Some(Duration::from_secs(300)))
        .expect("write timeout");
    con
}

fn query<T: redis::FromRedisValue>(con: &mut Connection, cmd: &redis::Cmd) -> T {
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd_name(cmd)))
}

fn cmd_name(cmd: &redis::Cmd) -> String {
    cmd.args_iter()
        .next()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// `len` deterministic pseudo-random bytes (incompressible, so RocksDB's
/// compression cannot make a big value small).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Asserts `got == want` without ever printing either.
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes (digest {:x}), want {} bytes (digest {:x}); first difference at {first:?}",
            got.len(),
            digest(got),
            want.len(),
            digest(want)
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// The pids of the proxy and every server, labelled.
fn processes(ob: &Onebox) -> Vec<(String, u32)> {
    let mut out = vec![("proxy".to_string(), ob.pid_of("proxy"))];
    for (i, pid) in ob.pids_of("server").into_iter().enumerate() {
        out.push((format!("server{i}"), pid));
    }
    assert_eq!(out.len(), 4, "{:?}", ob.lines);
    out
}

fn rss_all(ob: &Onebox) -> Vec<(String, u32, u64)> {
    processes(ob)
        .into_iter()
        .map(|(name, pid)| (name, pid, proc_status_bytes(pid, "VmRSS")))
        .collect()
}

/// Runs `f` while sampling every process's RSS every 50 ms; returns `f`'s
/// result and the highest RSS seen per process (a command that loaded a
/// collection and freed it again would show here, not in a sample after).
fn with_peak_rss<T>(ob: &Onebox, f: impl FnOnce() -> T) -> (T, Vec<(String, u32, u64)>) {
    let procs = processes(ob);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let procs = procs.clone();
        std::thread::spawn(move || {
            let mut peak = vec![0u64; procs.len()];
            loop {
                for (p, (_, pid)) in peak.iter_mut().zip(&procs) {
                    *p = (*p).max(proc_status_bytes(*pid, "VmRSS"));
                }
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return peak;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let out = f();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.join().expect("sampler");
    let peaks = procs
        .into_iter()
        .zip(peak)
        .map(|((name, pid), b)| (name, pid, b))
        .collect();
    (out, peaks)
}

fn print_rss(label: &str, rss: &[(String, u32, u64)]) {
    let parts: Vec<String> = rss
        .iter()
        .map(|(name, _, b)| format!("{name} {:.0} MiB", mib(*b)))
        .collect();
    eprintln!("RSS {label}: {}", parts.join(", "));
}

/// Every process onebox started is still running.
fn assert_alive(ob: &Onebox) {
    for (name, pid) in processes(ob) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let state = status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .unwrap_or("gone")
            .trim()
            .to_string();
        assert!(
            !state.starts_with("gone") && !state.starts_with('Z'),
            "{name} (pid {pid}) is not running: {state}"
        );
    }
}

fn huge_strings(ob: &Onebox, con: &mut Connection) {
    let dbsize_before: i64 = query(con, &redis::cmd("DBSIZE"));
    let admin = ob.admin();
    let mut membership_changes = Vec::new();
    for (key, len, seed) in [("bv:str100", 100 * MIB, 1), ("bv:str50", 50 * MIB, 2)] {
        let len = len as usize;
        let at = admin.locate(key);
        let value = payload(len, seed);
        let t = Instant::now();
        let ok: String = query(con, redis::cmd("SET").arg(key).arg(&value));
        assert_eq!(ok, "OK");
        let set_time = t.elapsed();
        let t = Instant::now();
        let got: Vec<u8> = query(con, redis::cmd("GET").arg(key));
        let get_time = t.elapsed();
        assert_same(&got, &value, &format!("GET {key}"));
        drop(got);
        let now = admin.locate(key);
        if now.ballot != at.ballot {
            membership_changes.push(format!(
                "SET {key}: partition {} went from ballot {} {} + {:?} to ballot {} {} + {:?}",
                at.partition,
                at.ballot,
                at.primary,
                at.secondaries,
                now.ballot,
                now.primary,
                now.secondaries
            ));
        }
        eprintln!(
            "{key}: {:.0} MiB, SET {:.2?}, GET {:.2?}, digest {:x}",
            mib(len as u64),
            set_time,
            get_time,
            digest(&value)
        );
        let strlen: i64 = query(con, redis::cmd("STRLEN").arg(key));
        assert_eq!(strlen, len as i64, "STRLEN {key}");
        let (from, to) = (len - 1000, len - 1);
        let tail: Vec<u8> = query(con, redis::cmd("GETRANGE").arg(key).arg(from).arg(to));
        assert_same(
            &tail,
            &value[from..=to],
            &format!("GETRANGE {key} near the end"),
        );
        let last: Vec<u8> = query(con, redis::cmd("GETRANGE").arg(key).arg(-5).arg(-1));
        assert_same(&last, &value[len - 5..], &format!("GETRANGE {key} -5 -1"));
        let past: Vec<u8> = query(
            con,
            redis::cmd("GETRANGE").arg(key).arg(len + 10).arg(len + 20),
        );
        assert!(past.is_empty(), "GETRANGE past the end of {key}");
    }

    // APPEND a little to the 100 MiB string: a ~100 MiB mutation again.
    let mut value = payload(100 * MIB as usize, 1);
    let t = Instant::now();
    let new_len: i64 = query(con, redis::cmd("APPEND").arg("bv:str100").arg("+tail"));
    eprintln!("APPEND to the 100 MiB string: {:.2?}", t.elapsed());
    value.extend_from_slice(b"+tail");
    assert_eq!(new_len, value.len() as i64, "APPEND's reply");
    let strlen: i64 = query(con, redis::cmd("STRLEN").arg("bv:str100"));
    assert_eq!(strlen, value.len() as i64, "STRLEN after APPEND");
    let end: Vec<u8> = query(
        con,
        redis::cmd("GETRANGE").arg("bv:str100").arg(-10).arg(-1),
    );
    assert_same(&end, &value[value.len() - 10..], "GETRANGE after APPEND");
    let got: Vec<u8> = query(con, redis::cmd("GET").arg("bv:str100"));
    assert_same(&got, &value, "GET after APPEND");
    drop(got);

    let dbsize: i64 = query(con, &redis::cmd("DBSIZE"));
    assert_eq!(dbsize, dbsize_before + 2, "DBSIZE after two big SETs");
    let pong: String = query(con, &redis::cmd("PING"));
    assert_eq!(pong, "PONG");
    assert_alive(ob);
    print_rss("after the big strings", &rss_all(ob));
    // Writing a big value must not cost the partition its replicas (a
    // secondary that is merely slow to log 100 MiB is not a failed one).
    assert!(
        membership_changes.is_empty(),
        "big writes changed partition membership:\n{}",
        membership_changes.join("\n")
    );
}

fn pipelined_values(con: &mut Connection) {
    const N: usize = 8;
    const LEN: usize = 10 * MIB as usize;
    // Half share a hash tag, so several 10 MiB prepares of one partition are
    // in flight (and batched to the secondaries) together.
    let keys: Vec<String> = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                format!("bv:{{pipe}}:{i}")
            } else {
                format!("bv:pipe:{i}")
            }
        })
        .collect();
    let values: Vec<Vec<u8>> = (0..N).map(|i| payload(LEN, 100 + i as u64)).collect();
    let mut pipe = redis::pipe();
    for (k, v) in keys.iter().zip(&values) {
        pipe.cmd("SET").arg(k).arg(v);
    }
    let t = Instant::now();
    let oks: Vec<String> = pipe
        .query(con)
        .unwrap_or_else(|e| panic!("pipelined SETs: {e}"));
    let set_time = t.elapsed();
    assert_eq!(oks, vec!["OK".to_string(); N]);
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("GET").arg(k);
    }
    let t = Instant::now();
    let got: Vec<Vec<u8>> = pipe
        .query(con)
        .unwrap_or_else(|e| panic!("pipelined GETs: {e}"));
    let get_time = t.elapsed();
    assert_eq!(got.len(), N);
    for ((k, v), g) in keys.iter().zip(&values).zip(&got) {
        assert_same(g, v, &format!("GET {k}"));
    }
    eprintln!("pipeline of {N} x 10 MiB: SETs {set_time:.2?}, GETs {get_time:.2?}");
    let mut del = redis::cmd("DEL");
    for k in &keys {
        del.arg(k);
    }
    let n: i64 = query(con, &del);
    assert_eq!(n, N as i64);
}

fn field(i: usize) -> String {
    format!("f{i:07}")
}

/// The value of field `i` at `generation` (VALUE_LEN bytes).
fn field_value(i: usize, generation: u32) -> Vec<u8> {
    let mut v = format!("v{generation}:{i:07}:").into_bytes();
    v.resize(VALUE_LEN, b'.' + (i % 64) as u8);
    v
}

/// Builds the hash with pipelined multi-field HSETs; returns the elapsed time.
fn build_hash(con: &mut Connection, key: &str) -> Duration {
    let t = Instant::now();
    let mut next = 0;
    while next < FIELDS {
        let mut pipe = redis::pipe();
        let mut in_pipe = 0;
        while in_pipe < BUILD_DEPTH && next < FIELDS {
            let cmd = pipe.cmd("HSET").arg(key);
            for i in next..(next + BATCH).min(FIELDS) {
                cmd.arg(field(i)).arg(field_value(i, 0));
            }
            next = (next + BATCH).min(FIELDS);
            in_pipe += 1;
        }
        let added: Vec<i64> = pipe
            .query(con)
            .unwrap_or_else(|e| panic!("HSET batch ending at {next}: {e}"));
        assert!(added.iter().all(|&n| n == BATCH as i64), "{added:?}");
        if next % 200_000 == 0 {
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "  {next} fields in {secs:.1} s ({:.0} fields/s)",
                next as f64 / secs
            );
        }
    }
    t.elapsed()
}

/// `BURST` single-field commands on `key` (a hash whose fields are
/// `field(0..fields)`): HGETs and HSETs alternating, 100 per pipeline, over
/// fields spread across the whole hash. Returns the elapsed time.
fn single_field_burst(con: &mut Connection, key: &str, fields: usize, generation: u32) -> Duration {
    let stride = 7919; // prime: visits fields all over the hash
    let t = Instant::now();
    for chunk in 0..BURST / 100 {
        let mut pipe = redis::pipe();
        let mut expect = Vec::new();
        for j in 0..100 {
            let n = chunk * 100 + j;
            let i = (n * stride) % fields;
            if n % 2 == 0 {
                pipe.cmd("HGET").arg(key).arg(field(i));
                expect.push(Some(i));
            } else {
                pipe.cmd("HSET")
                    .arg(key)
                    .arg(field(i))
                    .arg(field_value(i, generation));
                expect.push(None);
            }
        }
        let replies: Vec<Value> = pipe
            .query(con)
            .unwrap_or_else(|e| panic!("burst chunk {chunk}: {e}"));
        for (r, e) in replies.iter().zip(&expect) {
            match (e, r) {
                // An HGET sees generation 0 or one this burst wrote.
                (Some(_), Value::BulkString(b)) => assert_eq!(b.len(), VALUE_LEN),
                (None, Value::Int(0)) => {}
                _ => panic!("burst chunk {chunk}: unexpected reply {r:?}"),
            }
        }
    }
    t.elapsed()
}

/// Total size of the servers' mutation log segments under the onebox dir.
fn log_bytes(dir: &Path) -> u64 {
    fn walk(p: &Path, total: &mut u64) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, total);
            } else if path.extension().is_some_and(|x| x == "seg") {
                *total += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    let mut total = 0;
    walk(dir, &mut total);
    total
}

fn million_field_hash(ob: &Onebox) {
    let con = &mut connect(ob);
    let key = "bv:hash";
    let dbsize_before: i64 = query(con, &redis::cmd("DBSIZE"));

    let rss_start = rss_all(ob);
    let took = build_hash(con, key);
    print_rss("before the build", &rss_start);
    print_rss("after the build", &rss_all(ob));
    let data_mb = (FIELDS * (8 + VALUE_LEN)) as f64 / 1e6;
    eprintln!(
        "built {FIELDS} fields ({data_mb:.0} MB of fields and values) in {took:.1?}: {:.0} fields/s, {:.1} MB/s",
        FIELDS as f64 / took.as_secs_f64(),
        data_mb / took.as_secs_f64()
    );
    let hlen: i64 = query(con, redis::cmd("HLEN").arg(key));
    assert_eq!(hlen, FIELDS as i64);

    // Single fields.
    for i in [0, 1, FIELDS / 2, FIELDS - 1] {
        let v: Vec<u8> = query(con, redis::cmd("HGET").arg(key).arg(field(i)));
        assert_same(&v, &field_value(i, 0), &format!("HGET {}", field(i)));
        let e: i64 = query(con, redis::cmd("HEXISTS").arg(key).arg(field(i)));
        assert_eq!(e, 1, "HEXISTS {}", field(i));
        let n: i64 = query(con, redis::cmd("HSTRLEN").arg(key).arg(field(i)));
        assert_eq!(n, VALUE_LEN as i64, "HSTRLEN {}", field(i));
    }
    let missing: Option<Vec<u8>> = query(con, redis::cmd("HGET").arg(key).arg("nope"));
    assert_eq!(missing, None);
    let e: i64 = query(con, redis::cmd("HEXISTS").arg(key).arg("nope"));
    assert_eq!(e, 0);
    let n: i64 = query(con, redis::cmd("HSET").arg(key).arg("extra").arg("x"));
    assert_eq!(n, 1, "HSET of a new field");
    let n: i64 = query(con, redis::cmd("HSET").arg(key).arg(field(7)).arg("seven"));
    assert_eq!(n, 0, "HSET of an existing field");
    let v: String = query(con, redis::cmd("HGET").arg(key).arg(field(7)));
    assert_eq!(v, "seven");
    // Back to a full-length value, as the burst below expects of every field.
    let _: i64 = query(
        con,
        redis::cmd("HSET")
            .arg(key)
            .arg(field(7))
            .arg(field_value(7, 0)),
    );
    let hlen: i64 = query(con, redis::cmd("HLEN").arg(key));
    assert_eq!(hlen, FIELDS as i64 + 1);
    let n: i64 = query(con, redis::cmd("HDEL").arg(key).arg("extra").arg("nope"));
    assert_eq!(n, 1, "HDEL of one present and one absent field");
    let hlen: i64 = query(con, redis::cmd("HLEN").arg(key));
    assert_eq!(hlen, FIELDS as i64);

    // HSCAN: the first pages come back promptly and hold real fields.
    let mut cursor = "0".to_string();
    let mut seen = 0;
    let t = Instant::now();
    for _ in 0..5 {
        let (next, page): (String, Vec<Vec<u8>>) = query(
            con,
            redis::cmd("HSCAN")
                .arg(key)
                .arg(&cursor)
                .arg("COUNT")
                .arg(100),
        );
        assert_eq!(page.len() % 2, 0);
        assert!(
            !page.is_empty() && page.len() <= 2 * 1000,
            "page of {}",
            page.len()
        );
        for pair in page.chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]);
            assert!(name.starts_with('f') && name.len() == 8, "field {name}");
        }
        seen += page.len() / 2;
        assert_ne!(
            next, "0",
            "a million-field hash is not scanned in five pages"
        );
        cursor = next;
    }
    eprintln!("HSCAN: 5 pages, {seen} fields, {:.2?}", t.elapsed());

    // The burst. Reference first: the same burst on a 1000-field hash.
    let small = "bv:small";
    let mut cmd = redis::cmd("HSET");
    cmd.arg(small);
    for i in 0..1000 {
        cmd.arg(field(i)).arg(field_value(i, 0));
    }
    let _: i64 = query(con, &cmd);
    let small_time = single_field_burst(con, small, 1000, 1);
    // Warm-up on the big hash (allocator arenas, first cache fill), and a
    // pause for the flushes and compactions the build started.
    single_field_burst(con, key, FIELDS, 1);
    std::thread::sleep(Duration::from_secs(3));
    let before = rss_all(ob);
    let (big_time, peak) = with_peak_rss(ob, || single_field_burst(con, key, FIELDS, 2));
    let after = rss_all(ob);
    print_rss("before the burst", &before);
    print_rss("peak during the burst", &peak);
    print_rss("after the burst", &after);
    eprintln!(
        "{BURST} single-field HGET/HSET: {small_time:.2?} on a 1000-field hash, {big_time:.2?} on the {FIELDS}-field hash ({:.0} ops/s)",
        BURST as f64 / big_time.as_secs_f64()
    );
    // Loading the hash per command would cost ~a second each (10,000 s in
    // all); RocksDB's deeper tree and colder cache cost a few times at most.
    assert!(
        big_time < small_time * 20 + Duration::from_secs(5),
        "single-field commands on the big hash are much slower than on a small one"
    );
    // Growth allowed: the 64 MiB block cache filling with the blocks the
    // burst touches (10,000 fields 7919 apart: up to one 4 KiB block each,
    // ~40 MiB) plus memtables and allocator slack. Loading the hash whole,
    // even once, needs more than its ~108 MB of user data (plus per-element
    // overhead); the proxy holds no data and should barely move.
    for ((name, _, b), (_, _, a)) in before.iter().zip(&peak) {
        let growth = a.saturating_sub(*b);
        let limit = if name == "proxy" { 32 * MIB } else { 96 * MIB };
        assert!(
            growth < limit,
            "{name} RSS grew by {:.0} MiB during the burst (limit {:.0} MiB)",
            mib(growth),
            mib(limit)
        );
    }

    // DEL: one metadata delete and one range delete, however big the hash.
    let dbsize: i64 = query(con, &redis::cmd("DBSIZE"));
    assert_eq!(dbsize, dbsize_before + 2, "DBSIZE with the two hashes");
    let log_before = log_bytes(&ob.dir);
    let t = Instant::now();
    let n: i64 = query(con, redis::cmd("DEL").arg(key));
    let del_time = t.elapsed();
    let log_growth = log_bytes(&ob.dir).saturating_sub(log_before);
    assert_eq!(n, 1);
    eprintln!(
        "DEL of the {FIELDS}-field hash: {del_time:.2?}, mutation logs grew {log_growth} bytes"
    );
    // A DEL that deleted every element would log ~20 MB (three copies of a
    // million element keys); the range delete is a few hundred bytes.
    assert!(
        log_growth < MIB,
        "DEL logged {log_growth} bytes: it deletes element by element"
    );
    assert!(del_time < Duration::from_secs(5), "DEL took {del_time:?}");
    let hlen: i64 = query(con, redis::cmd("HLEN").arg(key));
    assert_eq!(hlen, 0);
    let v: Option<Vec<u8>> = query(con, redis::cmd("HGET").arg(key).arg(field(1)));
    assert_eq!(v, None);
    let dbsize: i64 = query(con, &redis::cmd("DBSIZE"));
    assert_eq!(dbsize, dbsize_before + 1, "DBSIZE after DEL");
    // A new hash under the same key starts empty.
    let n: i64 = query(con, redis::cmd("HSET").arg(key).arg(field(1)).arg("new"));
    assert_eq!(n, 1);
    let hlen: i64 = query(con, redis::cmd("HLEN").arg(key));
    assert_eq!(hlen, 1);
    let _: i64 = query(con, redis::cmd("DEL").arg(key).arg(small));
    assert_alive(ob);
}
