//! Payloads from redis-server 7.0.15 (`DUMP`), read and written back to the
//! same bytes; older encodings built by hand; damaged payloads refused
//! without a panic.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// `(what, DUMP from redis-server 7.0.15, its contents)`.
fn redis_payloads() -> Vec<(&'static str, Vec<u8>, Value)> {
    vec![
        (
            "SET s hello",
            hex("000568656c6c6f0a006372df766534200a"),
            Value::String(b("hello")),
        ),
        (
            "SET i 12345",
            hex("00c139300a009d94ea2793fc08b9"),
            Value::String(b("12345")),
        ),
        (
            "SET big 12345678901",
            hex("000b31323334353637383930310a00304e52d727176510"),
            Value::String(b("12345678901")),
        ),
        (
            "SET lz a*50",
            hex("00c30932016161e025000161610a0009ac48b9ab15fbc9"),
            Value::String(Bytes::from(vec![b'a'; 50])),
        ),
        (
            "RPUSH l a 1 300 -70000 hello",
            hex("1201021b1b00000005008161020101c12c02f290eefe048568656c6c6f06ff0a00fb8ca74d1fa2fdfe"),
            Value::List(vec![b("a"), b("1"), b("300"), b("-70000"), b("hello")]),
        ),
        (
            "SADD si 3 1 2",
            hex("0b0e02000000030000000100020003000a00a5025ce26d6e4d1b"),
            Value::Set(vec![b("1"), b("2"), b("3")]),
        ),
        (
            "SADD ss a b",
            hex("0202016201610a0075d99d835ef85f65"),
            Value::Set(vec![b("b"), b("a")]),
        ),
        (
            "HSET h a 1 b hello",
            hex("101616000000040081610201018162028568656c6c6f06ff0a00e8c5fe99ee07955d"),
            Value::Hash(vec![(b("a"), b("1")), (b("b"), b("hello"))]),
        ),
        (
            "ZADD z 1 a 2.5 b -3 c",
            hex("111a1a0000000600816302dffd02816102010181620283322e3504ff0a00a68a1ab1a9f2dcc2"),
            Value::ZSet(vec![(b("c"), -3.0), (b("a"), 1.0), (b("b"), 2.5)]),
        ),
    ]
}

/// XADD x 1-1 f v; XADD x 1-2 f w g 7; XGROUP CREATE x g 0;
/// XREADGROUP GROUP g alice COUNT 1 STREAMS x >
fn redis_stream() -> Vec<u8> {
    hex(concat!(
        "130110000000000000000100000000000000013232000000130002010001010181660200010201",
        "000100018176020401000100010101020181660281770281670207010801ff0201020101000002",
        "010167010101010000000000000001000000000000000148ed0852a2010000010105616c696365",
        "48ed0852a201000001000000000000000100000000000000010a00768ed0b0dc63911a"
    ))
}

#[test]
fn redis_payloads_load_and_dump_to_the_same_bytes() {
    for (what, payload, value) in redis_payloads() {
        assert_eq!(load(&payload).as_ref(), Ok(&value), "{what}");
        assert_eq!(dump(&value), payload, "{what}");
    }
}

#[test]
fn a_redis_stream_with_a_group_loads_and_dumps_back() {
    let payload = redis_stream();
    let Ok(Value::Stream(s)) = load(&payload) else {
        panic!("not a stream: {:?}", load(&payload));
    };
    let id = |ms, seq| StreamId { ms, seq };
    assert_eq!(s.length, 2);
    assert_eq!(s.last_id, id(1, 2));
    assert_eq!(s.first_id, id(1, 1));
    assert_eq!(s.entries_added, 2);
    assert_eq!(s.nodes.len(), 1);
    let node = &s.nodes[0];
    assert_eq!(node.fields, vec![b("f")]);
    assert_eq!(node.entries[0].pairs, vec![b("f"), b("v")]);
    assert_eq!(node.entries[1].id, id(1, 2));
    assert_eq!(node.entries[1].pairs, vec![b("f"), b("w"), b("g"), b("7")]);
    assert_eq!(node.bytes, 50);
    let g = &s.groups[0];
    assert_eq!(g.name, b("g"));
    assert_eq!(g.last_id, id(1, 1));
    assert_eq!(g.entries_read, 1);
    assert_eq!(g.pending.len(), 1);
    assert_eq!(g.pending[0].consumer, b("alice"));
    assert_eq!(g.pending[0].delivery_count, 1);
    assert_eq!(g.consumers[0].name, b("alice"));
    assert_eq!(dump(&Value::Stream(s)), payload);
}

/// Wraps a body (type byte and value) in a footer.
fn sealed(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(value);
    seal(body)
}

/// A ziplist of strings, as Redis 6 wrote them (short strings only).
fn ziplist_of(items: &[&str]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10;
    for item in items {
        tail = 10 + entries.len();
        let start = entries.len();
        entries.push(prev as u8);
        entries.push(item.len() as u8);
        entries.extend_from_slice(item.as_bytes());
        prev = entries.len() - start;
    }
    let mut zl = Vec::new();
    zl.extend_from_slice(&((10 + entries.len() + 1) as u32).to_le_bytes());
    zl.extend_from_slice(&(tail as u32).to_le_bytes());
    zl.extend_from_slice(&(items.len() as u16).to_le_bytes());
    zl.extend_from_slice(&entries);
    zl.push(0xff);
    zl
}

fn blob(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    io::write_len(&mut out, raw.len() as u64);
    out.extend_from_slice(raw);
    out
}

#[test]
fn older_encodings_load() {
    let zl = ziplist_of(&["a", "1", "b", "2.5"]);
    assert_eq!(
        load(&sealed(types::LIST_ZIPLIST, &blob(&zl))),
        Ok(Value::List(vec![b("a"), b("1"), b("b"), b("2.5")]))
    );
    let mut quicklist = vec![2];
    quicklist.extend(blob(&zl));
    quicklist.extend(blob(&ziplist_of(&["c"])));
    assert_eq!(
        load(&sealed(types::LIST_QUICKLIST, &quicklist)),
        Ok(Value::List(vec![b("a"), b("1"), b("b"), b("2.5"), b("c")]))
    );
    assert_eq!(
        load(&sealed(types::HASH_ZIPLIST, &blob(&zl))),
        Ok(Value::Hash(vec![(b("a"), b("1")), (b("b"), b("2.5"))]))
    );
    assert_eq!(
        load(&sealed(types::ZSET_ZIPLIST, &blob(&zl))),
        Ok(Value::ZSet(vec![(b("a"), 1.0), (b("b"), 2.5)]))
    );
    let zm = [1, 1, b'f', 1, 0, b'v', 0xff];
    assert_eq!(
        load(&sealed(types::HASH_ZIPMAP, &blob(&zm))),
        Ok(Value::Hash(vec![(b("f"), b("v"))]))
    );
    // ZSET (version 1): text scores, 254 for +inf.
    let zset = [2, 1, b'a', 3, b'1', b'.', b'5', 1, b'b', 254];
    assert_eq!(
        load(&sealed(types::ZSET, &zset)),
        Ok(Value::ZSet(vec![(b("a"), 1.5), (b("b"), f64::INFINITY)]))
    );
    // A plain list and a quicklist 2 with a plain node.
    assert_eq!(
        load(&sealed(types::LIST, &[2, 1, b'x', 0xc0, 7])),
        Ok(Value::List(vec![b("x"), b("7")]))
    );
    assert_eq!(
        load(&sealed(
            types::LIST_QUICKLIST_2,
            &[1, 1, 3, b'b', b'i', b'g']
        )),
        Ok(Value::List(vec![b("big")]))
    );
}

#[test]
fn a_version_1_stream_estimates_read_counters() {
    // The Redis 7.0 stream re-encoded as type 15: no first id, tombstone
    // or entries-added, no group read counter.
    let Ok(Value::Stream(s)) = load(&redis_stream()) else {
        panic!("stream");
    };
    let mut body = vec![types::STREAM_LISTPACKS];
    io::write_len(&mut body, 1);
    io::write_string(&mut body, &s.nodes[0].master.to_bytes());
    let full = dump(&Value::Stream(s.clone()));
    // Take the node's listpack from the version-2 payload.
    let mut r = Reader::new(&full[1..]);
    r.len("nodes").expect("nodes");
    r.string("key").expect("key");
    let lp = r.string("lp").expect("lp");
    io::write_string(&mut body, &lp);
    for n in [2u64, 1, 2] {
        io::write_len(&mut body, n); // length, last id
    }
    io::write_len(&mut body, 1);
    io::write_string(&mut body, b"g");
    io::write_len(&mut body, 1);
    io::write_len(&mut body, 2); // group at the last id
    io::write_len(&mut body, 0);
    io::write_len(&mut body, 0);
    let Ok(Value::Stream(old)) = load(&seal(body)) else {
        panic!("version 1 stream");
    };
    assert_eq!(old.entries_added, 2);
    assert_eq!(old.first_id, StreamId { ms: 1, seq: 1 });
    assert_eq!(old.groups[0].entries_read, 2);
}

#[test]
fn big_values_take_the_big_encodings_and_round_trip() {
    let many: Vec<Bytes> = (0..3000)
        .map(|i| Bytes::from(format!("item-{i}")))
        .collect();
    let list = Value::List(many.clone());
    let payload = dump(&list);
    assert_eq!(payload[0], types::LIST_QUICKLIST_2);
    assert!(payload[1] > 1, "several nodes");
    assert_eq!(load(&payload), Ok(list));
    let set = Value::Set(many.clone());
    assert_eq!(dump(&set)[0], types::SET);
    assert_eq!(load(&dump(&set)), Ok(set));
    let ints = Value::Set((0..600).map(|i| Bytes::from(i.to_string())).collect());
    assert_eq!(dump(&ints)[0], types::SET, "past 512 integers");
    let hash = Value::Hash(many.iter().map(|m| (m.clone(), m.clone())).collect());
    assert_eq!(dump(&hash)[0], types::HASH);
    assert_eq!(load(&dump(&hash)), Ok(hash));
    let long_field = Value::Hash(vec![(Bytes::from(vec![b'f'; 65]), b("v"))]);
    assert_eq!(dump(&long_field)[0], types::HASH);
    let zset: Vec<(Bytes, f64)> = many
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), i as f64 / 3.0))
        .collect();
    let payload = dump(&Value::ZSet(zset.clone()));
    assert_eq!(payload[0], types::ZSET_2);
    let Ok(Value::ZSet(mut back)) = load(&payload) else {
        panic!("zset");
    };
    back.reverse();
    assert_eq!(back, zset);
    let odd = vec![
        (b("a"), 1e300),
        (b("b"), -0.5),
        (b("c"), f64::INFINITY),
        (b("d"), f64::NEG_INFINITY),
        (b("e"), 4_611_686_018_427_387_905.0 * 2.0),
    ];
    let Ok(Value::ZSet(mut back)) = load(&dump(&Value::ZSet(odd.clone()))) else {
        panic!("zset");
    };
    back.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(back, odd);
}

#[test]
fn footers_are_checked() {
    let (_, payload, _) = redis_payloads().remove(0);
    for cut in 0..payload.len() {
        assert_eq!(load(&payload[..cut]), Err(RdbError::Footer), "cut at {cut}");
    }
    let mut newer = payload[..payload.len() - 10].to_vec();
    newer.extend_from_slice(&11u16.to_le_bytes());
    let crc = CRC64.checksum(&newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(load(&newer), Err(RdbError::Footer), "RDB 11 (Redis 7.2)");
    let mut older = payload[..payload.len() - 10].to_vec();
    older.extend_from_slice(&9u16.to_le_bytes());
    let crc = CRC64.checksum(&older);
    older.extend_from_slice(&crc.to_le_bytes());
    assert!(load(&older).is_ok(), "RDB 9 (Redis 6)");
    for i in 0..payload.len() {
        let mut bad = payload.clone();
        bad[i] ^= 0x10;
        assert_eq!(load(&bad), Err(RdbError::Footer), "byte {i}");
    }
}

#[test]
fn malformed_bodies_are_refused_without_panicking() {
    let mut all: Vec<Vec<u8>> = redis_payloads().into_iter().map(|(_, p, _)| p).collect();
    all.push(redis_stream());
    let mut seed = 7u64;
    for payload in &all {
        let body = &payload[..payload.len() - 10];
        // Every truncation, resealed, is refused or (as in Redis) read
        // into the footer; never a panic.
        for cut in 0..body.len() {
            let _ = load(&seal(body[..cut].to_vec()));
        }
        assert!(load(&seal(body[..1].to_vec())).is_err());
        // Random damage, resealed, never panics.
        for _ in 0..2000 {
            let mut bad = body.to_vec();
            for _ in 0..1 + (seed % 3) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (seed >> 33) as usize % bad.len();
                bad[at] ^= 1 << ((seed >> 20) % 8);
            }
            let _ = load(&seal(bad));
        }
    }
    assert_eq!(load(&sealed(6, &[0])), Err(RdbError::Type(6)), "modules");
    assert_eq!(
        load(&sealed(20, &[0])),
        Err(RdbError::Type(20)),
        "Redis 7.2's set listpack"
    );
    assert!(load(&sealed(types::SET, &[0])).is_err(), "empty set");
    assert!(
        load(&sealed(types::SET, &[2, 1, b'a', 1, b'a'])).is_err(),
        "duplicates"
    );
    assert_eq!(
        load(&sealed(types::STRING, &[1, b'a', 0])),
        Ok(Value::String(b("a"))),
        "bytes after the value are ignored, as in Redis"
    );
    assert_eq!(
        load(&sealed(types::STRING, &[3, b'a'])),
        Ok(Value::String(Bytes::from_static(b"a\x0a\x00"))),
        "a string that runs into the footer takes its bytes, as in Redis"
    );
    let huge_lzf = [
        0xc3, 0x02, 0x81, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x01, b'a', b'b',
    ];
    assert!(
        load(&sealed(types::STRING, &huge_lzf)).is_err(),
        "LZF claiming 2^64 bytes"
    );
}
