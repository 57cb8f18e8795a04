//! Redis's glob matcher (`stringmatchlen` in Redis 7.0's `util.c`), byte for
//! byte: MATCH of SCAN, HSCAN, SSCAN and ZSCAN, KEYS, and the patterns of
//! CONFIG GET and COMMAND LIST.
//!
//! Redis reads one byte past the end of the pattern in a few places (its
//! strings are NUL-terminated); [`at`] returns that NUL. Ranges compare C
//! `char`s, which are signed on the platforms Redis ships for, so
//! `[a-\xff]` is the range -1..=97: it holds 0xff and 0x00..=0x61, not
//! 0x80..=0xfe. Patterns that nest `*` more than 1000 deep match nothing,
//! as in Redis.

/// Whether `string` matches the glob `pattern` (`*`, `?`, `[...]`, `[^...]`,
/// `[a-z]`, `\x`); `nocase` folds ASCII case.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_at(pattern, 0, string, 0, nocase, &mut skip_longer, 0)
}

/// The byte at `i`, or the NUL that ends a C string.
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// A byte as C's signed `char`, widened to `int`.
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

fn fold(c: i32, nocase: bool) -> i32 {
    if nocase && (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// `stringmatchlen_impl`: `p`/`s` are positions in `pat`/`string`.
fn match_at(
    pat: &[u8],
    mut p: usize,
    string: &[u8],
    mut s: usize,
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    // Protection against abusive patterns, as in Redis.
    if nesting > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| fold(signed(a), nocase) == fold(signed(b), nocase);
    while p < pat.len() && s < string.len() {
        match pat[p] {
            b'*' => {
                while p < pat.len() && at(pat, p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true;
                }
                while s < string.len() {
                    if match_at(pat, p + 1, string, s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                // The rest of the pattern matches nowhere in the rest of the
                // string, so no earlier '*' can help by matching more.
                *skip_longer = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let not = at(pat, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let left = pat.len().saturating_sub(p);
                    if at(pat, p) == b'\\' && left >= 2 {
                        p += 1;
                        if pat[p] == string[s] {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' {
                        break;
                    } else if left == 0 {
                        // Unterminated class: step back so the step below ends it.
                        p -= 1;
                        break;
                    } else if left >= 3 && pat[p + 1] == b'-' {
                        let (mut start, mut end) = (signed(pat[p]), signed(pat[p + 2]));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = fold(signed(string[s]), nocase);
                        let (start, end) = (fold(start, nocase), fold(end, nocase));
                        p += 2;
                        if (start..=end).contains(&c) {
                            matched = true;
                        }
                    } else if eq(pat[p], string[s]) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            c => {
                let c = if c == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pat[p]
                } else {
                    c
                };
                if !eq(c, string[s]) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while at(pat, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, s: &str) -> bool {
        matches(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn stars_and_questions() {
        // Like Redis: nothing matches an empty string but an empty pattern
        // (SCAN special-cases a lone "*" before matching).
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("*", "abc"));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(m("a**c", "abbbc"));
        assert!(!m("a*d", "abc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("abc*", "abc"));
        assert!(m("abc***", "abc"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("a", ""));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b*c", "xxaxxbxx"));
    }

    #[test]
    fn classes() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[^abc]", "d"));
        assert!(!m("[^abc]", "a"));
        assert!(m("[a-c]x", "bx"));
        assert!(m("[c-a]", "b"), "reversed ranges are swapped");
        assert!(m("[a-]", "]"), "'a-]' is a range up to ']'");
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        // An unterminated class ends at the end of the pattern.
        assert!(m("[abc", "c"));
        assert!(!m("[", "x"));
        assert!(!m("a[", "ax"));
        assert!(
            m("[^", "x"),
            "an unterminated empty negated class matches anything"
        );
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?", "a?"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("\\[a]", "[a]"));
    }

    #[test]
    fn bytes_compare_as_signed_chars() {
        assert!(matches(b"[a-\xff]", b"\xff", false));
        assert!(matches(b"[a-\xff]", b"\x00", false));
        assert!(!matches(b"[a-\xff]", b"\x80", false));
        assert!(!matches(b"[a-\xff]", b"b", false));
        assert!(matches(b"[\x80-\xff]", b"\x90", false));
        assert!(matches(b"\xe2\x82\xac*", b"\xe2\x82\xac1", false));
    }

    #[test]
    fn nocase_folds_ascii() {
        assert!(matches(b"ABC", b"abc", true));
        assert!(matches(b"[A-C]", b"b", true));
        assert!(!matches(b"ABC", b"abc", false));
    }

    #[test]
    fn abusive_patterns_are_bounded() {
        let pattern = "a*".repeat(20) + "b";
        let string = "a".repeat(60);
        assert!(!m(&pattern, &string));
        let deep = "*a".repeat(1100);
        assert!(!m(&deep, &"a".repeat(1100)), "nesting beyond 1000 fails");
        assert!(m(&"*a".repeat(900), &"a".repeat(900)));
    }
}
