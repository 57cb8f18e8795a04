//! Redis's partial quicksort (`pqsort.c`, a BSD qsort that only recurses
//! into the parts that hold a wanted range). GEO sorts with it when COUNT
//! cuts the results, so the order among equal distances, and which of them
//! make the cut, depend on its exact moves: this does the same moves.

use std::cmp::Ordering;

/// Sorts `v` enough that positions `first..=last` hold what a full sort
/// would put there, moving elements exactly as Redis's `pqsort` does.
pub fn pqsort<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering, first: usize, last: usize) {
    let wanted = Wanted { first, last };
    sort_part(v, 0, v.len(), cmp, wanted);
}

/// The positions the caller wants sorted.
#[derive(Clone, Copy)]
struct Wanted {
    first: usize,
    last: usize,
}

impl Wanted {
    /// Whether the part `[start, start + len)` holds a wanted position
    /// (or lies between the ends of the range).
    fn touches(self, start: usize, len: usize) -> bool {
        let end = start + len;
        !((self.first < start && self.last < start) || (self.first >= end && self.last >= end))
    }
}

fn sort_part<T>(
    v: &mut [T],
    mut lo: usize,
    mut n: usize,
    cmp: &dyn Fn(&T, &T) -> Ordering,
    wanted: Wanted,
) {
    let gt = |v: &[T], a: usize, b: usize| cmp(&v[a], &v[b]) == Ordering::Greater;
    loop {
        if n < 7 {
            // Insertion sort.
            for m in lo + 1..lo + n {
                let mut l = m;
                while l > lo && gt(v, l - 1, l) {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = lo + n / 2;
        if n > 7 {
            let mut pl = lo;
            let mut pn = lo + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(lo, pm);
        // Bentley-McIlroy three-way partition around v[lo]: equal elements
        // gather at both ends, then move to the middle.
        let (mut pa, mut pb) = (lo + 1, lo + 1);
        let (mut pc, mut pd) = (lo + n - 1, lo + n - 1);
        loop {
            while pb <= pc {
                match cmp(&v[pb], &v[lo]) {
                    Ordering::Greater => break,
                    Ordering::Equal => {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    Ordering::Less => {}
                }
                pb += 1;
            }
            while pb <= pc {
                match cmp(&v[pc], &v[lo]) {
                    Ordering::Less => break,
                    Ordering::Equal => {
                        v.swap(pc, pd);
                        pd -= 1;
                    }
                    Ordering::Greater => {}
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = lo + n;
        let r = (pa - lo).min(pb - pa);
        swap_blocks(v, lo, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        swap_blocks(v, pb, pn - r, r);
        let less = pb - pa;
        if less > 1 && wanted.touches(lo, less) {
            sort_part(v, lo, less, cmp, wanted);
        }
        let greater = pd - pc;
        if greater <= 1 {
            return;
        }
        lo = pn - greater;
        n = greater;
        if !wanted.touches(lo, n) {
            return;
        }
    }
}

/// The median of three positions, as Redis's `med3` picks it.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &dyn Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

/// Swaps `count` elements from `a` with those from `b`, one pair at a
/// time in increasing order (the blocks may overlap).
fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, count: usize) {
    for i in 0..count {
        v.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_key(a: &(u32, char), b: &(u32, char)) -> Ordering {
        a.0.cmp(&b.0)
    }

    #[test]
    fn sorts_the_wanted_positions() {
        let mut seed = 7u64;
        for len in [0usize, 1, 5, 7, 8, 40, 41, 300] {
            let mut v: Vec<(u32, char)> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) as u32 % 50, 'x')
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(by_key);
            let last = len.saturating_sub(1).min(9);
            pqsort(&mut v, &by_key, 0, last);
            if len > 0 {
                let keys: Vec<u32> = v[..=last].iter().map(|e| e.0).collect();
                let want: Vec<u32> = sorted[..=last].iter().map(|e| e.0).collect();
                assert_eq!(keys, want, "len {len}");
            }
        }
    }

    #[test]
    fn ties_move_as_in_redis() {
        // Redis 7.0.15: seven members at one point and one 111 m away,
        // searched with COUNT n DESC: "h b", "h b c", "h b c d a".
        let mut v: Vec<(u32, char)> = "abcdefg".chars().map(|c| (0, c)).collect();
        v.push((1, 'h'));
        let desc = |a: &(u32, char), b: &(u32, char)| b.0.cmp(&a.0);
        for (count, want) in [(2, "hb"), (3, "hbc"), (5, "hbcda"), (7, "hbcdafg")] {
            let mut w = v.clone();
            pqsort(&mut w, &desc, 0, count - 1);
            let got: String = w[..count].iter().map(|e| e.1).collect();
            assert_eq!(got, want);
        }
    }
}
