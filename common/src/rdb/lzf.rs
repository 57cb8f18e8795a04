//! LZF, as Redis uses it for RDB strings (`lzf_c.c`, `lzf_d.c` of liblzf
//! 3.6 with `VERY_FAST`): compressing gives Redis's very bytes, so a value
//! dumps to the payload redis-server would write.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// Redis's `lzf_compress` (liblzf 3.6 with `VERY_FAST`): the compressed
/// bytes, or `None` when they would not fit in `out_len`.
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    let idx = |h: u32| -> usize {
        ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
    };
    let first = |p: usize| -> u32 { (u32::from(input[p]) << 8) | u32::from(input[p + 1]) };
    let next = |v: u32, p: usize| -> u32 { (v << 8) | u32::from(input[p + 2]) };
    // Positions + 1 (0: empty).
    let mut htab = vec![0usize; HSIZE];
    let mut out = vec![0u8; out_len];
    let mut ip = 0usize;
    let mut op = 1usize; // start run
    let mut lit: usize = 0;
    let mut hval = first(ip);
    while ip + 2 < in_len {
        hval = next(hval, ip);
        let slot = idx(hval);
        let reference = htab[slot].checked_sub(1);
        htab[slot] = ip + 1;
        let matched = reference.filter(|&r| {
            r < ip
                && ip - r - 1 < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r] == input[ip]
                && input[r + 1] == input[ip + 1]
        });
        if let Some(r) = matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_len && op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
                                         // liblzf checks 16 bytes before it looks at `maxlen`, so a
                                         // match may run up to the input's end past it.
            let mut open = true;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        open = false;
                        break;
                    }
                }
            }
            while open {
                len += 1;
                open = len < maxlen && input[r + len] == input[ip + len];
            }
            len -= 2; // #octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = first(ip);
            hval = next(hval, ip);
            htab[idx(hval)] = ip + 1;
            ip += 1;
            hval = next(hval, ip);
            htab[idx(hval)] = ip + 1;
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        literal(&mut out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Copies one literal byte to `out` at `op`; a run of [`MAX_LIT`] is closed
/// (its length byte written) and the next one started.
fn literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// LZF decompression to exactly `len` bytes, `None` if the data is bad.
/// `len` comes from the payload: memory is reserved for what `input` can
/// expand to (a back reference of 3 bytes gives at most 264), not for it.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(88)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 1 << 5 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(ip..ip + run)?);
            ip += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            let start = out.len().checked_sub(back)?;
            for i in 0..run + 2 {
                let b = out[start + i];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_on_varied_inputs() {
        let mut seed = 42u64;
        for len in 0..600usize {
            let alphabet = 1 + (len % 7) as u64 * 40;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((seed >> 33) % alphabet) as u8
                })
                .collect();
            if let Some(c) = compress(&input, len.saturating_sub(4)) {
                assert!(c.len() <= len.saturating_sub(4));
                assert_eq!(decompress(&c, len).as_deref(), Some(&input[..]), "{len}");
            }
        }
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(
            decompress(&[0x05, b'a'], 6),
            None,
            "a literal run past the end"
        );
        assert_eq!(
            decompress(&[0x20, 0x05], 3),
            None,
            "a back reference before the start"
        );
        assert_eq!(decompress(&[0x00, b'a'], 2), None, "shorter than promised");
        assert_eq!(
            decompress(&[0x01, b'a', b'b'], 1),
            None,
            "longer than promised"
        );
    }
}
