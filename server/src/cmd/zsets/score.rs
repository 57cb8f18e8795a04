//! Scores: the order-preserving storage encoding, Redis's float parsing
//! (`strtod` plus Redis's checks) and Redis 7.0's score texts.

use crate::cmd::float::LongDouble;
use petrel_common::num::format_g17;

/// The 8 bytes of `score` whose byte order is numeric order.
///
/// IEEE doubles order like sign-magnitude integers: flipping every bit of a
/// negative and only the sign bit of a positive turns that into unsigned
/// order. -0.0 becomes 0.0 first (Redis compares them equal), so equal
/// scores have equal encodings. NaN is never stored.
pub(crate) fn encode(score: f64) -> [u8; 8] {
    let bits = normalize(score).to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// The score [`encode`] turned into these bytes (`None` if not 8 bytes).
pub(crate) fn decode(raw: &[u8]) -> Option<f64> {
    let ordered = u64::from_be_bytes(raw.try_into().ok()?);
    let bits = if ordered >> 63 == 1 {
        ordered ^ (1 << 63)
    } else {
        !ordered
    };
    Some(f64::from_bits(bits))
}

/// The score as stored: -0.0 as 0.0, as Redis 7.0's listpack stores it.
pub(crate) fn normalize(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// What C's `strtod` makes of a byte string.
struct Strtod {
    value: f64,
    /// Bytes consumed (0 when no number was found, leading spaces included).
    consumed: usize,
    /// Whether `errno` would be ERANGE (overflow or underflow).
    erange: bool,
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        consumed: 0,
        erange: false,
    };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let sign_at = i;
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    let signed = |v: f64| if neg { -v } else { v };
    if starts(b"infinity") || starts(b"inf") {
        let len = if starts(b"infinity") { 8 } else { 3 };
        return Strtod {
            value: signed(f64::INFINITY),
            consumed: i + len,
            erange: false,
        };
    }
    if starts(b"nan") {
        let mut len = 3;
        // "nan(chars)" is one token.
        if rest.get(3) == Some(&b'(') {
            if let Some(close) = rest[4..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
            {
                if rest[4 + close] == b')' {
                    len = 4 + close + 1;
                }
            }
        }
        return Strtod {
            value: f64::NAN,
            consumed: i + len,
            erange: false,
        };
    }
    let hex_digit_at = |j: usize| rest.get(j).is_some_and(u8::is_ascii_hexdigit);
    if rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (hex_digit_at(2) || (rest[2] == b'.' && hex_digit_at(3)))
    {
        let mut j = 2;
        while hex_digit_at(j) {
            j += 1;
        }
        if rest.get(j) == Some(&b'.') {
            j += 1;
            while hex_digit_at(j) {
                j += 1;
            }
        }
        j += exponent_len(&rest[j..], b'p');
        let text = &s[sign_at..i + j];
        return match LongDouble::parse(text) {
            Some(ld) => Strtod {
                value: long_double_to_f64(ld),
                consumed: i + j,
                erange: false,
            },
            // Only overflow or underflow makes a well-formed hex float fail.
            None => {
                let zero = rest[2..j]
                    .iter()
                    .take_while(|&&b| b != b'p' && b != b'P')
                    .all(|&b| b == b'0' || b == b'.');
                Strtod {
                    value: signed(if zero { 0.0 } else { f64::INFINITY }),
                    consumed: i + j,
                    erange: !zero,
                }
            }
        };
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one digit.
    let mut j = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while rest.get(j).is_some_and(u8::is_ascii_digit) {
        nonzero |= rest[j] != b'0';
        j += 1;
        digits += 1;
    }
    if rest.get(j) == Some(&b'.') {
        let mut k = j + 1;
        while rest.get(k).is_some_and(u8::is_ascii_digit) {
            nonzero |= rest[k] != b'0';
            k += 1;
            digits += 1;
        }
        if digits > 0 {
            j = k;
        }
    }
    if digits == 0 {
        return none;
    }
    j += exponent_len(&rest[j..], b'e');
    let text = std::str::from_utf8(&rest[..j]).unwrap_or("0");
    let magnitude: f64 = text.parse().unwrap_or(0.0);
    let erange = magnitude.is_infinite() || (magnitude == 0.0 && nonzero);
    Strtod {
        value: signed(magnitude),
        consumed: i + j,
        erange,
    }
}

/// Length of an exponent part (`e-12`, `p+3`) at the start of `s`, or 0
/// when there is none (a bare `e` is not consumed).
fn exponent_len(s: &[u8], letter: u8) -> usize {
    if s.first().map(|b| b | 0x20) != Some(letter) {
        return 0;
    }
    let mut k = 1;
    if matches!(s.get(1), Some(b'+' | b'-')) {
        k = 2;
    }
    let start = k;
    while s.get(k).is_some_and(u8::is_ascii_digit) {
        k += 1;
    }
    if k == start {
        0
    } else {
        k
    }
}

fn long_double_to_f64(ld: LongDouble) -> f64 {
    match ld {
        LongDouble::NaN => f64::NAN,
        LongDouble::Infinite { neg } => {
            if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        LongDouble::Finite { neg, mant, exp } => {
            let mut v = mant as f64;
            let mut e = exp;
            // Scale in steps that cannot overflow an exponent on the way.
            while e > 0 {
                let step = e.min(1000);
                v *= 2f64.powi(step as i32);
                e -= step;
            }
            while e < 0 {
                let step = (-e).min(1000);
                v /= 2f64.powi(step as i32);
                e += step;
            }
            if neg {
                -v
            } else {
                v
            }
        }
    }
}

/// A score argument as Redis's `getDoubleFromObject` reads it: the whole
/// string one number, no leading space, no NaN, no overflow or underflow
/// to zero (a literal "inf" is fine).
pub(crate) fn parse(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = strtod(s);
    let out_of_range = r.erange && (r.value.is_infinite() || r.value == 0.0);
    if r.consumed != s.len() || out_of_range || r.value.is_nan() {
        return None;
    }
    Some(r.value)
}

/// A value SORT sorts by, as `sort.c` checks `strtod`: read up to the end
/// of the C string, leading spaces and "" (zero) accepted, no NaN, no
/// overflow or underflow (ERANGE).
pub(crate) fn parse_sort_weight(s: &[u8]) -> Option<f64> {
    let s = match s.iter().position(|&b| b == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    let r = strtod(s);
    (r.consumed == s.len() && !r.erange && !r.value.is_nan()).then_some(r.value)
}

/// One end of a score range as Redis's `zslParseRange` reads it: an
/// optional '(' (exclusive), then `strtod` up to the end of the C string.
/// Leading spaces, "" (zero) and overflow to infinity are accepted; NaN is
/// not. Returns (value, exclusive).
pub(crate) fn parse_bound(s: &[u8]) -> Option<(f64, bool)> {
    let s = match s.iter().position(|&b| b == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    let (s, exclusive) = match s.first() {
        Some(b'(') => (&s[1..], true),
        _ => (s, false),
    };
    let r = strtod(s);
    if r.consumed != s.len() || r.value.is_nan() {
        return None;
    }
    Some((r.value, exclusive))
}

/// A score as Redis 7.0's `d2string` writes it (ZSCAN's score strings):
/// integers within +-2^62 in integer form, anything else as `%.17g`.
pub(crate) fn to_text(score: f64) -> String {
    match petrel_common::num::double_as_i64(score) {
        Some(n) => n.to_string(),
        None => format_g17(score),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tricky values in increasing numeric order.
    fn ordered_values() -> Vec<f64> {
        vec![
            f64::NEG_INFINITY,
            f64::MIN,
            -1e300,
            -1e20,
            -4503599627370497.0,
            -2.5,
            -1.0,
            -0.5,
            -1e-300,
            -f64::MIN_POSITIVE,
            -5e-324,
            0.0,
            5e-324,
            f64::MIN_POSITIVE,
            1e-300,
            1.5e-7,
            0.1,
            0.5,
            1.0,
            2.5,
            3.0,
            4503599627370497.0,
            1e20,
            1e300,
            f64::MAX,
            f64::INFINITY,
        ]
    }

    #[test]
    fn encoding_preserves_order_and_round_trips() {
        let values = ordered_values();
        for (i, &a) in values.iter().enumerate() {
            assert_eq!(decode(&encode(a)), Some(a), "{a}");
            for &b in &values[i + 1..] {
                assert!(encode(a) < encode(b), "{a} < {b}");
            }
        }
        // Every adjacent pair of doubles around zero and one keeps its order.
        for start in [-1.0f64, 0.0, 1.0] {
            let mut x = start;
            for _ in 0..1000 {
                let next = f64::from_bits(if x >= 0.0 {
                    x.to_bits() + 1
                } else {
                    x.to_bits() - 1
                });
                let next = if x == 0.0 { 5e-324 } else { next };
                assert!(encode(x) < encode(next), "{x} < {next}");
                x = next;
            }
        }
        assert_eq!(encode(-0.0), encode(0.0));
        assert_eq!(decode(&encode(-0.0)).map(f64::to_bits), Some(0));
    }

    #[test]
    fn score_arguments_parse_like_redis() {
        for (text, want) in [
            ("1", 1.0),
            ("-2.5", -2.5),
            ("+3", 3.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("0x10", 16.0),
            ("0x1p-2", 0.25),
            ("1e-310", 1e-310),
            ("-0", 0.0),
        ] {
            assert_eq!(parse(text.as_bytes()), Some(want), "{text}");
        }
        for bad in [
            "", " 1", "1 ", "abc", "nan", "-nan", "1e999", "-1e999", "1e-999", "1e", "1x", "--1",
            "1\x002", "(1", "0x",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn range_bounds_parse_like_redis() {
        assert_eq!(parse_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_bound(b"1.5"), Some((1.5, false)));
        assert_eq!(parse_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(parse_bound(b"(+inf"), Some((f64::INFINITY, true)));
        assert_eq!(parse_bound(b""), Some((0.0, false)));
        assert_eq!(parse_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_bound(b"1e999"), Some((f64::INFINITY, false)));
        assert_eq!(parse_bound(b"3\0junk"), Some((3.0, false)));
        for bad in ["nan", "(nan", "x", "((1", "1 ", " "] {
            assert_eq!(parse_bound(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn texts_match_redis_7_0() {
        // Answers of redis-server 7.0.15 (ZSCORE via %.17g, ZSCAN via d2string).
        for (v, g17, text) in [
            (0.1, "0.10000000000000001", "0.10000000000000001"),
            (1e20, "1e+20", "1e+20"),
            (1.5e-7, "1.4999999999999999e-07", "1.4999999999999999e-07"),
            (3.0, "3", "3"),
            (-0.0, "-0", "0"),
            (1e17, "1e+17", "100000000000000000"),
            (-2.5, "-2.5", "-2.5"),
            (f64::INFINITY, "inf", "inf"),
            (f64::NEG_INFINITY, "-inf", "-inf"),
        ] {
            assert_eq!(format_g17(v), g17, "{v}");
            assert_eq!(to_text(v), text, "{v}");
        }
    }
}
