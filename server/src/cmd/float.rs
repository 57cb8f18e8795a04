//! Redis's `long double` arithmetic for INCRBYFLOAT, emulated exactly.
//!
//! Redis parses both operands with `strtold`, adds them as x87 80-bit
//! extended floats (64-bit significand, 15-bit exponent) and prints the sum
//! with `%.17Lf`, then strips trailing zeros. Doing the same in `f64` gives
//! visibly different answers (`0.1 + 0.2` is `0.3` in Redis), so this module
//! reproduces the three steps bit for bit: correctly rounded parsing
//! (round-to-nearest-even, like glibc), one correctly rounded addition, and
//! exact decimal printing. Exactness needs a little big-integer arithmetic.

use std::cmp::Ordering;

/// Redis refuses float strings this long or longer (`MAX_LONG_DOUBLE_CHARS`).
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;
/// Exponent of the least significant bit of the smallest subnormal (2^-16445).
const MIN_LSB_EXP: i64 = -16382 - 63;
/// Largest binary exponent of a finite value's leading bit.
const MAX_EXP: i64 = 16383;

/// An x87 extended-precision value: `(-1)^neg * mant * 2^exp`, or a special.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LongDouble {
    /// A finite value; `mant == 0` is a (signed) zero.
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
    Infinite {
        neg: bool,
    },
    NaN,
}

impl LongDouble {
    /// Positive zero.
    pub(crate) const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    };

    /// Parses a float the way Redis's `string2ld` does (`strtold` plus
    /// Redis's checks): the whole string must be one number, no leading
    /// space, no NaN, no overflow to infinity or underflow to zero; "inf"
    /// and hexadecimal floats are accepted.
    pub(crate) fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS || s[0].is_ascii_whitespace() {
            return None;
        }
        // C's isspace also covers \v, which Rust's is_ascii_whitespace does not.
        if s[0] == 0x0b {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Infinite { neg });
        }
        let is_hex = body.len() > 2
            && body[0] == b'0'
            && (body[1] | 0x20) == b'x'
            && (body[2].is_ascii_hexdigit()
                || (body[2] == b'.' && body.get(3).is_some_and(u8::is_ascii_hexdigit)));
        if is_hex {
            parse_hex(neg, &body[2..])
        } else {
            parse_decimal(neg, body)
        }
    }

    /// Whether the value is neither infinite nor NaN.
    pub(crate) fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// The correctly rounded sum (round to nearest, ties to even).
    pub(crate) fn plus(self, other: LongDouble) -> LongDouble {
        use LongDouble::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => NaN,
            (Infinite { neg: a }, Infinite { neg: b }) => {
                if a == b {
                    Infinite { neg: a }
                } else {
                    NaN
                }
            }
            (Infinite { neg }, _) | (_, Infinite { neg }) => Infinite { neg },
            (
                Finite {
                    neg: na,
                    mant: ma,
                    exp: ea,
                },
                Finite {
                    neg: nb,
                    mant: mb,
                    exp: eb,
                },
            ) => {
                if ma == 0 && mb == 0 {
                    // IEEE: -0 + -0 = -0, any other pair of zeros is +0.
                    return Finite {
                        neg: na && nb,
                        mant: 0,
                        exp: 0,
                    };
                }
                if ma == 0 {
                    return other;
                }
                if mb == 0 {
                    return self;
                }
                // Exact sum over a common exponent, then one rounding.
                let low = ea.min(eb);
                let a = Big::from_u128(u128::from(ma)).shl((ea - low) as u64);
                let b = Big::from_u128(u128::from(mb)).shl((eb - low) as u64);
                if na == nb {
                    round(na, &a.add(&b), low, false)
                } else {
                    match a.cmp(&b) {
                        Ordering::Equal => LongDouble::ZERO,
                        Ordering::Greater => round(na, &a.sub(&b), low, false),
                        Ordering::Less => round(nb, &b.sub(&a), low, false),
                    }
                }
            }
        }
    }

    /// Formats a finite value as Redis's human-friendly `ld2string` does:
    /// `%.17Lf`, trailing zeros and a trailing '.' removed, "-0" as "0".
    /// Specials print as C does ("inf", "-inf", "nan"); Redis never stores them.
    pub(crate) fn to_redis_string(self) -> String {
        let (neg, mant, exp) = match self {
            LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
            LongDouble::Infinite { neg: false } => return "inf".into(),
            LongDouble::Infinite { neg: true } => return "-inf".into(),
            LongDouble::NaN => return "nan".into(),
        };
        let fixed = if exp >= 0 {
            // An integer: every decimal is zero.
            format!(
                "{}.00000000000000000",
                Big::from_u128(u128::from(mant))
                    .shl(exp as u64)
                    .to_decimal()
            )
        } else {
            let units = scaled_round(mant, (-exp) as u64);
            let scale = 10u128.pow(17);
            format!("{}.{:017}", units / scale, units % scale)
        };
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        let text = if neg {
            format!("-{trimmed}")
        } else {
            trimmed.to_string()
        };
        if text == "-0" {
            "0".into()
        } else {
            text
        }
    }
}

/// `mant * 2^-shift * 10^17`, rounded to an integer (ties to even).
fn scaled_round(mant: u64, shift: u64) -> u128 {
    // mant * 10^17 < 2^64 * 2^57, so it fits in a u128.
    let product = u128::from(mant) * 10u128.pow(17);
    if shift >= 128 {
        // product < 2^121 <= half of 2^shift: rounds to zero.
        return 0;
    }
    let quotient = product >> shift;
    let rest = product & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rest > half || (rest == half && quotient & 1 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

/// Rounds `m * 2^e` (plus a sticky "a little more" bit) to the nearest
/// extended value, ties to even, honouring subnormals and overflow.
fn round(neg: bool, m: &Big, e: i64, sticky: bool) -> LongDouble {
    let bits = m.bit_len() as i64;
    if bits == 0 {
        return LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    let shift = (bits - 64).max(MIN_LSB_EXP - e);
    let (mant, exp) = if shift <= 0 {
        // Fits exactly (the caller never sets sticky with so few bits).
        ((m.low_u128() as u64) << (-shift), e + shift)
    } else {
        let shift_bits = shift as u64;
        let top = m.shr_low_u128(shift_bits) as u64;
        let half = m.bit(shift_bits - 1);
        let below = sticky || m.any_bit_below(shift_bits - 1);
        let up = half && (below || top & 1 == 1);
        let (rounded, carried) = top.overflowing_add(u64::from(up));
        if carried {
            (1u64 << 63, e + shift + 1)
        } else {
            (rounded, e + shift)
        }
    };
    if mant == 0 {
        return LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    let top_bit = exp + 63 - i64::from(mant.leading_zeros());
    if top_bit > MAX_EXP {
        return LongDouble::Infinite { neg };
    }
    LongDouble::Finite { neg, mant, exp }
}

/// A nonzero text that rounds to zero or infinity is rejected, as `strtold`'s
/// ERANGE makes Redis do.
fn accept_rounded(value: LongDouble) -> Option<LongDouble> {
    match value {
        LongDouble::Finite { mant: 0, .. } | LongDouble::Infinite { .. } | LongDouble::NaN => None,
        finite => Some(finite),
    }
}

/// Parses the exponent digits after 'e' or 'p'; `None` unless the whole rest
/// is `[+-]?[0-9]+`. Saturates far beyond any representable exponent.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        value = (value * 10 + i64::from(d - b'0')).min(1_000_000_000);
    }
    Some(if neg { -value } else { value })
}

/// Splits `int[.frac][<marker>exp]` into its parts, with every mantissa
/// digit checked by `is_digit`; `None` if malformed or without digits.
fn split_number(s: &[u8], marker: u8, is_digit: fn(&u8) -> bool) -> Option<(&[u8], &[u8], i64)> {
    let mantissa_end = s
        .iter()
        .position(|c| c.eq_ignore_ascii_case(&marker))
        .unwrap_or(s.len());
    let (mantissa, exponent) = s.split_at(mantissa_end);
    let exp = match exponent.split_first() {
        None => 0,
        Some((_, rest)) => parse_exponent(rest)?,
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&c| c == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &mantissa[..0]),
    };
    if int_part.len() + frac_part.len() == 0
        || !int_part.iter().all(is_digit)
        || !frac_part.iter().all(is_digit)
    {
        return None;
    }
    Some((int_part, frac_part, exp))
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (int_part, frac_part, exp10) = split_number(s, b'e', u8::is_ascii_digit)?;
    let digits: Vec<u8> = int_part.iter().chain(frac_part).copied().collect();
    let first = digits.iter().position(|&d| d != b'0');
    let Some(first) = first else {
        return Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        });
    };
    let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(first);
    let significant = &digits[first..=last];
    // value = significant * 10^exp10, with trailing zeros folded in.
    let exp10 = exp10 - frac_part.len() as i64 + (digits.len() - 1 - last) as i64;
    let magnitude = significant.len() as i64 + exp10; // value < 10^magnitude
    if magnitude > 4934 {
        return None; // beyond LDBL_MAX (~1.19e4932)
    }
    if magnitude < -4952 {
        return None; // below half the smallest subnormal (~3.6e-4951)
    }
    let mut d = Big::zero();
    for &c in significant {
        d.mul_small(10);
        d.add_small(u32::from(c - b'0'));
    }
    if exp10 >= 0 {
        d.mul_pow10(exp10 as u64);
        return accept_rounded(round(neg, &d, 0, false));
    }
    let mut divisor = Big::from_u128(1);
    divisor.mul_pow10((-exp10) as u64);
    // Scale so the quotient has 66 or 67 bits: enough for 64 plus rounding.
    let shift = 66 - (d.bit_len() as i64 - divisor.bit_len() as i64);
    let (numerator, divisor) = if shift >= 0 {
        (d.shl(shift as u64), divisor)
    } else {
        (d, divisor.shl((-shift) as u64))
    };
    let (quotient, remainder_is_zero) = numerator.div_small_quotient(&divisor);
    let q = Big::from_u128(quotient);
    accept_rounded(round(neg, &q, -shift, !remainder_is_zero))
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (int_part, frac_part, exp2) = split_number(s, b'p', u8::is_ascii_hexdigit)?;
    let mut m = Big::zero();
    for &c in int_part.iter().chain(frac_part) {
        m.mul_small(16);
        // The digits were checked above, so to_digit always succeeds.
        m.add_small(char::from(c).to_digit(16).unwrap_or(0));
    }
    if m.bit_len() == 0 {
        return Some(LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let exp2 = exp2 - 4 * frac_part.len() as i64;
    accept_rounded(round(neg, &m, exp2, false))
}

/// A little-endian base-2^32 natural number with no trailing zero limbs:
/// just the operations exact float conversion needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    fn bit(&self, i: u64) -> bool {
        let limb = (i / 32) as usize;
        self.0.get(limb).is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// Whether any bit strictly below bit `i` is set.
    fn any_bit_below(&self, i: u64) -> bool {
        let full = (i / 32) as usize;
        let partial = (i % 32) as u32;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        partial > 0
            && self
                .0
                .get(full)
                .is_some_and(|&l| l & ((1u32 << partial) - 1) != 0)
    }

    fn low_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .enumerate()
            .fold(0u128, |acc, (i, &l)| acc | (u128::from(l) << (32 * i)))
    }

    /// The low 128 bits of `self >> shift`.
    fn shr_low_u128(&self, shift: u64) -> u128 {
        let mut out = 0u128;
        for i in 0..128u64 {
            if self.bit(shift + i) {
                out |= 1u128 << i;
            }
        }
        out
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            if carry == 0 {
                break;
            }
            let v = u64::from(*limb) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u64) {
        while n >= 9 {
            self.mul_small(1_000_000_000);
            n -= 9;
        }
        self.mul_small(10u32.pow(n as u32));
    }

    fn shl(&self, bits: u64) -> Big {
        if self.0.is_empty() {
            return Big::zero();
        }
        let limbs = (bits / 32) as usize;
        let rest = (bits % 32) as u32;
        let mut out = vec![0u32; limbs];
        if rest == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &l in &self.0 {
                out.push((l << rest) | carry);
                carry = l >> (32 - rest);
            }
            out.push(carry);
        }
        let mut big = Big(out);
        big.trim();
        big
    }

    fn add(&self, other: &Big) -> Big {
        let len = self.0.len().max(other.0.len());
        let mut out = Vec::with_capacity(len + 1);
        let mut carry = 0u64;
        for i in 0..len {
            let v = u64::from(self.0.get(i).copied().unwrap_or(0))
                + u64::from(other.0.get(i).copied().unwrap_or(0))
                + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        out.push(carry as u32);
        let mut big = Big(out);
        big.trim();
        big
    }

    /// `self - other`; the caller guarantees `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v =
                i64::from(self.0[i]) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            out.push(v as u32);
        }
        let mut big = Big(out);
        big.trim();
        big
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self / divisor` when the quotient is known to fit in 127 bits, and
    /// whether the division was exact. Shift-and-subtract: only ~67 rounds.
    fn div_small_quotient(&self, divisor: &Big) -> (u128, bool) {
        let mut rest = self.clone();
        let mut quotient = 0u128;
        let span = self.bit_len().saturating_sub(divisor.bit_len());
        for i in (0..=span.min(126)).rev() {
            let shifted = divisor.shl(i);
            if rest.cmp(&shifted) != Ordering::Less {
                rest = rest.sub(&shifted);
                quotient |= 1u128 << i;
            }
        }
        (quotient, rest.0.is_empty())
    }

    fn to_decimal(&self) -> String {
        if self.0.is_empty() {
            return "0".into();
        }
        let mut chunks = Vec::new();
        let mut n = self.clone();
        while !n.0.is_empty() {
            let mut rem = 0u64;
            for limb in n.0.iter_mut().rev() {
                let v = (rem << 32) | u64::from(*limb);
                *limb = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            n.trim();
            chunks.push(rem as u32);
        }
        let mut out = String::new();
        for (i, chunk) in chunks.iter().rev().enumerate() {
            if i == 0 {
                out.push_str(&chunk.to_string());
            } else {
                out.push_str(&format!("{chunk:09}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(current: &str, by: &str) -> Option<String> {
        let a = LongDouble::parse(current.as_bytes())?;
        let b = LongDouble::parse(by.as_bytes())?;
        let sum = a.plus(b);
        sum.is_finite().then(|| sum.to_redis_string())
    }

    fn show(s: &str) -> Option<String> {
        LongDouble::parse(s.as_bytes()).map(|v| v.to_redis_string())
    }

    // Every expected string below is what redis-server 7.0.15 answered.
    #[test]
    fn sums_match_redis() {
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("0.3", "0.3").as_deref(), Some("0.6"));
        assert_eq!(incr("-5", "5").as_deref(), Some("0"));
        assert_eq!(incr("0", "-0.0").as_deref(), Some("0"));
        assert_eq!(
            incr("1", "1e300").map(|s| s[..40].to_string()).as_deref(),
            Some("1000000000000000000008997324079559193870")
        );
        assert_eq!(incr("inf", "1"), None);
        assert_eq!(incr("inf", "-inf"), None);
    }

    #[test]
    fn formatting_matches_redis() {
        assert_eq!(show("3.0e3").as_deref(), Some("3000"));
        assert_eq!(show("0x10").as_deref(), Some("16"));
        assert_eq!(show("0x1p-3").as_deref(), Some("0.125"));
        assert_eq!(show("0X1.8P1").as_deref(), Some("3"));
        assert_eq!(show("0x.8").as_deref(), Some("0.5"));
        assert_eq!(show("1e-20").as_deref(), Some("0"));
        assert_eq!(show("1.5e-16").as_deref(), Some("0.00000000000000015"));
        assert_eq!(show("-1e-30").as_deref(), Some("0"));
        assert_eq!(show("5.").as_deref(), Some("5"));
        assert_eq!(show(".5").as_deref(), Some("0.5"));
        assert_eq!(show("+1.5").as_deref(), Some("1.5"));
        assert_eq!(show("-.5e1").as_deref(), Some("-5"));
        assert_eq!(show("1e+2").as_deref(), Some("100"));
        assert_eq!(
            show("123456789012345678901234567890").as_deref(),
            Some("123456789012345678899921813504")
        );
        assert_eq!(
            show("1.23456789012345678").as_deref(),
            Some("1.23456789012345678")
        );
        assert_eq!(
            show("0.00000000000000001").as_deref(),
            Some("0.00000000000000001")
        );
        assert_eq!(show("0.000000000000000005").as_deref(), Some("0"));
        assert_eq!(
            show("0.000000000000000015").as_deref(),
            Some("0.00000000000000002")
        );
        assert_eq!(
            show("1.0000000000000000000000000000001").as_deref(),
            Some("1")
        );
        assert_eq!(show("1e-4940").as_deref(), Some("0"));
        assert_eq!(show("0e99999999999999999").as_deref(), Some("0"));
    }

    #[test]
    fn random_cases_match_redis() {
        // Drawn from 10,000 random pairs that all matched redis-server
        // 7.0.15 (SET k a; INCRBYFLOAT k b).
        let cases = [
            (
                "-0X3Ffcb3f91BEfA300.11cF5p-9398",
                "+10482.82474336263219804399",
                "10482.82474336263219783",
            ),
            (".2e-36", "0x07.b27D465F0e3e7F4AcbddFp-12578", "0"),
            (
                "-0xEE.5dBd6d9dbD794Baeb7fp-4680",
                "-0xFcec8c1e.F",
                "-4243360798.9375",
            ),
            (
                "-896181.0471391085",
                "3.6e-4951",
                "-896181.04713910850000502",
            ),
            ("-672727.8543570", "2e-4951", "-672727.85435699999999315"),
            (
                "773444735178042.49148338158458",
                "337393577737.59381E-35",
                "773444735178042.491455078125",
            ),
            (
                "+8376906.80140173366e24",
                "-598098749115229892832034.6981491193339",
                "8376906203302984544383248891904",
            ),
            (
                "-56666054660532992.93131585760032",
                "-0XDED443dDeE9dBEb8dd.BB4b",
                "-4110529163194579805184",
            ),
            (
                "-0.1",
                "+0XFA3E8568E44.0fC7",
                "17196652072515.96162986755371094",
            ),
            ("53.780617e-2642", "5.32129200E-13", "0.00000000000053213"),
            (
                "0Xd83B34cF.AEp-15967",
                "6815096248317936368118919.8939286745898234956003",
                "6815096248317936368353280",
            ),
            (
                "+75544.1e33",
                "0.08542860340192347590",
                "75544100000000000001750213118878810112",
            ),
            (
                "+.724200590744e35",
                "+19691508.1718E-3711",
                "72420059074400000001056601213501440",
            ),
            ("+833.86862619290", "-.841224e18", "-841223999999999166.125"),
        ];
        for (a, b, expected) in cases {
            assert_eq!(incr(a, b).as_deref(), Some(expected), "{a} + {b}");
        }
        assert_eq!(incr("-3.6e-4951", "--950358.2035018448"), None);
        assert_eq!(incr("+3130.5", "-inf"), None);
        assert_eq!(incr("-0X.7496d7ACa70A3cEc1AB9p9209", "-inf"), None);
    }

    #[test]
    fn decimal_ties_round_to_even() {
        // 2^-18 and 3 * 2^-18 end in an exact 5 at the 18th decimal.
        assert_eq!(
            show("0.000003814697265625").as_deref(),
            Some("0.00000381469726562")
        );
        assert_eq!(
            show("0.000011444091796875").as_deref(),
            Some("0.00001144409179688")
        );
    }

    #[test]
    fn huge_values_print_every_digit() {
        let text = show("1.7976931348623157e308").unwrap();
        assert_eq!(text.len(), 309);
        assert!(text.starts_with("17976931348623156999592104677410443404838644694432917848531442"));
        let big = show("1e4932").unwrap();
        assert_eq!(big.len(), 4933);
        assert!(big.starts_with("100000000000000000000601894938796389132383777425453311477378504"));
    }

    #[test]
    fn rejects_what_redis_rejects() {
        for bad in [
            "", " 1", "1 ", "\t1", "abc", "1e", "0x", "0x1p", ".", "nan", "NaN", "-nan", "1e5000",
            "1.2e4932", "1e-4960", "1\0", "\0", "infinit", "0xg", "1..2", "--1", "e5", "1e+",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert!(LongDouble::parse(&vec![b'1'; MAX_LONG_DOUBLE_CHARS]).is_none());
        assert!(LongDouble::parse(&vec![b'1'; MAX_LONG_DOUBLE_CHARS - 1]).is_none());
        // overflows
    }

    #[test]
    fn accepts_infinity_spellings() {
        for good in ["inf", "INF", "-inf", "+Infinity", "infinity"] {
            let v = LongDouble::parse(good.as_bytes()).unwrap();
            assert!(matches!(v, LongDouble::Infinite { .. }), "{good}");
        }
    }

    #[test]
    fn extreme_exponents() {
        // The largest finite value parses; twice it overflows.
        let max = LongDouble::parse(b"1.18973149535723176502e4932").unwrap();
        assert!(max.is_finite());
        assert!(!max.plus(max).is_finite());
        // Subnormals survive parsing (strtold's ERANGE with a nonzero result).
        let tiny = LongDouble::parse(b"4e-4951").unwrap();
        assert!(matches!(tiny, LongDouble::Finite { mant, .. } if mant != 0));
        assert_eq!(tiny.to_redis_string(), "0");
    }

    #[test]
    fn cancellation_gives_positive_zero() {
        let a = LongDouble::parse(b"1.1").unwrap();
        let b = LongDouble::parse(b"-1.1").unwrap();
        assert_eq!(a.plus(b), LongDouble::ZERO);
        let nz = LongDouble::parse(b"-0").unwrap();
        assert_eq!(
            nz.plus(nz),
            LongDouble::Finite {
                neg: true,
                mant: 0,
                exp: 0
            }
        );
    }

    #[test]
    fn big_helpers() {
        let mut n = Big::from_u128(1);
        n.mul_pow10(30);
        assert_eq!(n.to_decimal(), "1000000000000000000000000000000");
        assert_eq!(Big::zero().to_decimal(), "0");
        let a = Big::from_u128(u128::MAX);
        let b = a.add(&Big::from_u128(1));
        assert_eq!(b.bit_len(), 129);
        assert_eq!(b.sub(&Big::from_u128(1)), a);
        assert_eq!(Big::from_u128(5).shl(100).bit_len(), 103);
        let (q, exact) = Big::from_u128(100).div_small_quotient(&Big::from_u128(7));
        assert_eq!((q, exact), (14, false));
    }
}
