//! Redis's intset (`intset.c`): a set of at most `set-max-intset-entries`
//! (512) integers, sorted, all of the smallest width that holds them.
//!
//! ```text
//! width u32 LE (2, 4 or 8) | count u32 LE | count integers of that width, LE, ascending
//! ```

use super::error::RdbError;

const BAD: RdbError = RdbError::Bad("intset");

/// The members of intset `is`, checking its width, length and order.
pub(crate) fn parse(is: &[u8]) -> Result<Vec<i64>, RdbError> {
    if is.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes([is[0], is[1], is[2], is[3]]) as usize;
    let count = u32::from_le_bytes([is[4], is[5], is[6], is[7]]) as usize;
    if ![2, 4, 8].contains(&width) || count.checked_mul(width) != Some(is.len() - 8) {
        return Err(BAD);
    }
    let members: Vec<i64> = is[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if members.windows(2).any(|w| w[0] >= w[1]) {
        return Err(BAD);
    }
    Ok(members)
}

/// The intset of `members` (ascending, distinct).
pub(crate) fn build(members: &[i64]) -> Vec<u8> {
    let fits = |lo: i64, hi: i64| members.iter().all(|m| (lo..=hi).contains(m));
    let width: usize = if fits(i16::MIN.into(), i16::MAX.into()) {
        2
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for m in members {
        out.extend_from_slice(&m.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_the_smallest_width() {
        for set in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let is = build(&set);
            assert_eq!(parse(&is), Ok(set.clone()));
        }
        assert_eq!(build(&[1, 2])[0], 2);
        assert_eq!(build(&[1, 70000])[0], 4);
    }

    #[test]
    fn damage_is_refused() {
        let is = build(&[1, 2, 3]);
        for cut in 0..is.len() {
            assert!(parse(&is[..cut]).is_err());
        }
        let mut unsorted = is.clone();
        unsorted[8] = 9;
        assert!(parse(&unsorted).is_err());
        let mut width = is;
        width[0] = 3;
        assert!(parse(&width).is_err());
    }
}
