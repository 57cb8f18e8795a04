//! Known vectors: every expected value below is what redis-server 7.0.15
//! answered (GET bytes as CRC-32 and length, PFDEBUG DECODE, PFCOUNT) for
//! the same elements added in the same order, `el:<i>` for i in a range.

use super::*;

fn crc32(bytes: &[u8]) -> u32 {
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(bytes)
}

fn elements(range: std::ops::Range<usize>) -> impl Iterator<Item = Vec<u8>> {
    range.map(|i| format!("el:{i}").into_bytes())
}

/// An HLL after PFADDs of `range`, `batch` elements per PFADD (the cache
/// is marked stale by each PFADD, as Redis does).
fn pfadd(hll: &mut Hll, range: std::ops::Range<usize>, batch: usize, max: usize) {
    let all: Vec<Vec<u8>> = elements(range).collect();
    for chunk in all.chunks(batch) {
        let mut updated = false;
        for e in chunk {
            updated |= hll.add(e, max).expect("valid");
        }
        if updated {
            hll.invalidate_cache();
        }
    }
}

/// PFCOUNT of one key: the cache, or a count written into it.
fn pfcount(hll: &mut Hll) -> u64 {
    match hll.cached() {
        Some(card) => card,
        None => {
            let card = hll.count().expect("valid");
            hll.set_cache(card);
            card
        }
    }
}

fn made(range: std::ops::Range<usize>, max: usize) -> Hll {
    let mut hll = Hll::new();
    hll.invalidate_cache();
    pfadd(&mut hll, range, 1000, max);
    hll
}

#[test]
fn a_new_hll_is_one_xzero_with_a_valid_cache() {
    let hll = Hll::new();
    assert_eq!(
        hll.as_bytes(),
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
    );
    assert_eq!(hll.cached(), Some(0));
    assert_eq!(hll.count(), Ok(0));
    assert_eq!(hll.decode().as_deref(), Some("Z:16384"));
}

#[test]
fn one_element_sets_redis_register() {
    let cases: [(&[u8], &str); 5] = [
        (b"", "Z:5938 v:2,1 Z:10445"),
        (b"a", "Z:12711 v:2,1 Z:3672"),
        (b"hello", "Z:9216 v:1,1 Z:7167"),
        (b"12345678", "Z:10579 v:3,1 Z:5804"),
        (b"123456789abcdefgh", "Z:1958 v:3,1 Z:14425"),
    ];
    for (element, decoded) in cases {
        let mut hll = Hll::new();
        assert_eq!(hll.add(element, DEFAULT_SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(hll.decode().as_deref(), Some(decoded), "{element:?}");
        assert_eq!(hll.add(element, DEFAULT_SPARSE_MAX_BYTES), Ok(false));
    }
    let all: Vec<u8> = (0..=255).collect();
    let mut hll = Hll::new();
    hll.add(&all, DEFAULT_SPARSE_MAX_BYTES).expect("valid");
    assert_eq!(hll.decode().as_deref(), Some("Z:12361 v:1,1 Z:4022"));
}

#[test]
fn three_elements_give_redis_bytes() {
    let mut hll = Hll::new();
    for e in [&b"a"[..], b"b", b"c"] {
        hll.add(e, DEFAULT_SPARSE_MAX_BYTES).expect("valid");
    }
    hll.invalidate_cache();
    assert_eq!(
        hll.as_bytes(),
        b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ"
    );
    assert_eq!(pfcount(&mut hll), 3);
    assert_eq!(
        &hll.as_bytes()[..HEADER_LEN],
        b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00"
    );
    assert_eq!(
        hll.decode().as_deref(),
        Some("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603")
    );
}

#[test]
fn sparse_values_match_redis() {
    // (elements, length, CRC before PFCOUNT, count, CRC after)
    let cases = [
        (3, 27, 1_497_498_414u32, 3, 2_597_579_367u32),
        (100, 289, 4_274_919_040, 100, 2_087_809_047),
        (1000, 1892, 428_717_927, 999, 913_729_062),
    ];
    for (n, len, before, count, after) in cases {
        let mut hll = made(0..n, DEFAULT_SPARSE_MAX_BYTES);
        assert_eq!(hll.encoding(), Encoding::Sparse, "{n}");
        assert_eq!(hll.as_bytes().len(), len, "{n}");
        assert_eq!(crc32(hll.as_bytes()), before, "{n}");
        assert_eq!(pfcount(&mut hll), count, "{n}");
        assert_eq!(crc32(hll.as_bytes()), after, "{n}");
    }
}

#[test]
fn dense_values_match_redis() {
    let cases = [
        (2000, 4_135_855_914u32, 1987, 1_407_625_904u32),
        (20_000, 805_908_816, 20_030, 3_148_164_804),
        (200_000, 1_898_501_442, 197_365, 4_090_340_531),
    ];
    for (n, before, count, after) in cases {
        let mut hll = made(0..n, DEFAULT_SPARSE_MAX_BYTES);
        assert_eq!(hll.encoding(), Encoding::Dense, "{n}");
        assert_eq!(hll.as_bytes().len(), DENSE_LEN);
        assert_eq!(crc32(hll.as_bytes()), before, "{n}");
        assert_eq!(pfcount(&mut hll), count, "{n}");
        assert_eq!(crc32(hll.as_bytes()), after, "{n}");
    }
}

#[test]
fn a_lower_sparse_limit_turns_dense_sooner() {
    let hll = made(0..60, 200);
    assert_eq!(hll.encoding(), Encoding::Sparse);
    assert_eq!(crc32(hll.as_bytes()), 622_831_599);
    let hll = made(0..40, 200);
    assert_eq!(
        (hll.as_bytes().len(), crc32(hll.as_bytes())),
        (137, 1_027_219_484)
    );
    let mut one_by_one = Hll::new();
    one_by_one.invalidate_cache();
    pfadd(&mut one_by_one, 0..100, 1, 200);
    assert_eq!(one_by_one.encoding(), Encoding::Dense);
    assert_eq!(crc32(one_by_one.as_bytes()), 1_124_676_989);
    assert_eq!(made(0..100, 200), one_by_one);
    assert_eq!(pfcount(&mut one_by_one), 100);
}

/// PFMERGE as Redis runs it: the union of every key (the destination
/// included), the destination dense when any of them is, then each
/// non-zero register raised in order.
fn pfmerge(dest: Option<Hll>, sources: &[&Hll]) -> Hll {
    let mut max = Registers::new();
    let mut dense = false;
    for hll in dest.iter().chain(sources.iter().copied()) {
        dense |= hll.encoding() == Encoding::Dense;
        max.merge(hll).expect("valid");
    }
    let mut out = dest.unwrap_or_default();
    if dense {
        out.to_dense().expect("valid");
    }
    for (i, &v) in max.values().iter().enumerate() {
        if v != 0 {
            let _ = out.raise(i, v, DEFAULT_SPARSE_MAX_BYTES);
        }
    }
    out.invalidate_cache();
    out
}

#[test]
fn merges_match_redis() {
    let a = made(0..100, DEFAULT_SPARSE_MAX_BYTES);
    let b = made(50..2050, DEFAULT_SPARSE_MAX_BYTES);
    let c = made(5000..5300, DEFAULT_SPARSE_MAX_BYTES);
    let mut m1 = pfmerge(None, &[&a, &c]);
    assert_eq!(m1.encoding(), Encoding::Sparse);
    assert_eq!(
        (m1.as_bytes().len(), crc32(m1.as_bytes())),
        (865, 3_695_681_591)
    );
    assert_eq!(pfcount(&mut m1), 399);
    assert_eq!(crc32(m1.as_bytes()), 2_432_973_725);
    let mut m2 = pfmerge(None, &[&a, &b]);
    assert_eq!(m2.encoding(), Encoding::Dense);
    assert_eq!(crc32(m2.as_bytes()), 976_446_419);
    assert_eq!(pfcount(&mut m2), 2039);
    // Into an existing sparse destination.
    let a_c = pfmerge(Some(a.clone()), &[&c]);
    assert_eq!(crc32(a_c.as_bytes()), 3_695_681_591);
    // PFCOUNT of several keys: the union's registers.
    let mut union = Registers::new();
    for hll in [&a, &b, &c] {
        union.merge(hll).expect("valid");
    }
    assert_eq!(union.count(), 2349);
    let mut union = Registers::new();
    for hll in [&a, &c] {
        union.merge(hll).expect("valid");
    }
    assert_eq!(union.count(), 399);
}

#[test]
fn only_redis_hll_strings_are_accepted() {
    assert_eq!(check(b""), Err(HllError::NotHll));
    assert_eq!(
        check(b"HYLL\x01\x00\x00\x00\x00\x00\x00"),
        Err(HllError::NotHll)
    );
    assert_eq!(
        check(b"HYLX\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        Err(HllError::NotHll)
    );
    // Header only: a sparse value without opcodes is an HLL...
    let empty = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80";
    assert_eq!(check(empty), Ok(Encoding::Sparse));
    // ...whose registers do not add up.
    let hll = Hll::parse(empty).expect("an HLL");
    assert_eq!(hll.count(), Err(HllError::Corrupt));
    assert_eq!(hll.decode().as_deref(), Some(""));
    assert_eq!(hll.registers(), Err(HllError::Corrupt));
    assert_eq!(hll.clone().add(b"a", 3000), Err(HllError::Corrupt));
    assert_eq!(hll.clone().to_dense(), Err(HllError::Corrupt));
    // Encoding 2 and up is unknown; dense must be 12,304 bytes long.
    let mut bytes = Hll::new().into_bytes();
    bytes[4] = 2;
    assert_eq!(check(&bytes), Err(HllError::NotHll));
    bytes[4] = 0;
    assert_eq!(check(&bytes), Err(HllError::NotHll));
    bytes.truncate(HEADER_LEN);
    bytes.resize(DENSE_LEN, 0);
    assert_eq!(check(&bytes), Ok(Encoding::Dense));
    assert_eq!(Hll::parse(&bytes).expect("dense").count(), Ok(0));
}

#[test]
fn corrupt_sparse_values_are_read_as_redis_reads_them() {
    let header = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80".to_vec();
    // Registers past 16,384: found registers still change, counting fails.
    let mut too_long = header.clone();
    too_long.extend_from_slice(b"\x7f\xff\x7f\xff");
    let mut hll = Hll::parse(&too_long).expect("an HLL");
    assert_eq!(hll.count(), Err(HllError::Corrupt));
    assert_eq!(hll.add(b"a", 3000), Ok(true));
    assert_eq!(
        hll.decode().as_deref(),
        Some("Z:12711 v:2,1 Z:3672 Z:16384")
    );
    // An XZERO cut short by the end reads its missing byte as 0.
    let mut cut = header.clone();
    cut.extend_from_slice(b"\x7f");
    let mut hll = Hll::parse(&cut).expect("an HLL");
    assert_eq!(hll.decode().as_deref(), Some("Z:16129"));
    assert_eq!(hll.count(), Err(HllError::Corrupt));
    // Split there, the sequence is cut to the opcode's nominal length.
    assert_eq!(hll.add(b"a", 3000), Ok(true));
    assert_eq!(&hll.as_bytes()[HEADER_LEN..], b"q\xa6\x84M");
    // A VAL that would run past the last register stops the reading.
    let mut past = header;
    past.extend_from_slice(b"\x7f\xfe\x83");
    let hll = Hll::parse(&past).expect("an HLL");
    assert_eq!(hll.registers(), Err(HllError::Corrupt));
    assert_eq!(hll.clone().to_dense(), Err(HllError::Corrupt));
}

#[test]
fn dense_registers_keep_their_neighbours() {
    let mut registers = vec![0u8; DENSE_LEN - HEADER_LEN];
    for i in 0..REGISTERS {
        dense::set(&mut registers, i, (i % 64) as u8);
    }
    for i in 0..REGISTERS {
        assert_eq!(dense::get(&registers, i), (i % 64) as u8, "{i}");
    }
    let mut hll = Hll::new();
    hll.to_dense().expect("valid");
    assert_eq!(hll.raise(REGISTERS - 1, 51, 3000), Ok(true));
    assert_eq!(hll.registers().expect("dense").values()[REGISTERS - 1], 51);
    assert_eq!(hll.raise(REGISTERS - 1, 50, 3000), Ok(false));
}

#[test]
fn the_self_test_passes() {
    assert_eq!(selftest(7, DEFAULT_SPARSE_MAX_BYTES), Ok(()));
}
