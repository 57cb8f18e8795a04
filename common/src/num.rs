//! Numbers as Redis parses them, shared by the proxy and the server so both
//! accept and refuse exactly the same arguments.

/// Parses a signed 64-bit integer the way Redis's `string2ll` does: optional
/// '-', no '+', no spaces, no leading zeros, no "-0", at most 20 characters.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE (21): longer strings are never integers.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(i64::MIN) is one more than i64::MAX.
        if value > i64::MAX as u64 + 1 {
            return None;
        }
        Some((value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

/// Redis's `double2ll`: the integer a double equals exactly, if it lies
/// within +-2^62 (`LLONG_MAX / 2`). Redis writes such scores as integers.
pub fn double_as_i64(d: f64) -> Option<i64> {
    // LLONG_MAX / 2, as the double C compares against.
    const LIMIT: f64 = 4_611_686_018_427_387_904.0;
    (d.is_finite() && d.fract() == 0.0 && (-LIMIT..=LIMIT).contains(&d)).then_some(d as i64)
}

/// Formats a double like C's `%.17g`, with `inf`, `-inf` and `nan` as Redis
/// writes them (RESP doubles, scores).
pub fn format_g17(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    const P: i32 = 17;
    let sci = format!("{:.*e}", (P - 1) as usize, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..P).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let fixed = format!("{:.*}", (P - 1 - exp) as usize, d);
        trim_zeros(&fixed).to_string()
    }
}

/// Formats a double as Redis's human-friendly long double text
/// (`ld2string` with `LD_STR_HUMAN`, as `addReplyHumanLongDouble` sends
/// coordinates): `%.17Lf` (the double converts to long double exactly),
/// trailing zeros and a trailing '.' removed, "-0" as "0".
pub fn format_human(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let fixed = format!("{d:.17}");
    let text = trim_zeros(&fixed);
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_redis_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn rejects_what_string2ll_rejects() {
        for bad in [
            "",
            "-",
            "-0",
            "+1",
            " 1",
            "1 ",
            "01",
            "00",
            "1.0",
            "1e3",
            "abc",
            "0x10",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "000000000000000000001",
            "1\0",
        ] {
            assert_eq!(parse_i64(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
