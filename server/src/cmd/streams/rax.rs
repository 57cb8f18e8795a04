//! XINFO STREAM's `radix-tree-nodes`: how many nodes Redis's radix tree
//! (`rax`) needs for a stream's node keys, computed from the keys.
//!
//! A rax over keys of one length (16-byte ids here) is the trie of the keys
//! with every chain of single-child, non-key positions squeezed into one
//! node: its nodes are the root, every child of a branching position
//! (two or more children), and every position that ends such a chain (a
//! branching position or a key). Over the sorted keys, the branching
//! positions are the longest common prefixes of neighbours (equal prefixes
//! of a run of neighbours being one position), which a stack of those
//! lengths enumerates with the lengths just outside each run, so the count
//! needs one pass and no trie.

/// Length of a stream's radix-tree keys.
const KEY_LEN: usize = 16;

/// The number of rax nodes holding `keys` (sorted, distinct, 16 bytes each).
pub(crate) fn nodes(keys: &[[u8; KEY_LEN]]) -> u64 {
    let n = keys.len();
    if n == 0 {
        return 1;
    }
    // lcp[i]: common prefix length of keys i and i + 1.
    let lcp: Vec<usize> = keys
        .windows(2)
        .map(|w| w[0].iter().zip(&w[1]).take_while(|(a, b)| a == b).count())
        .collect();
    let m = lcp.len();
    // Leaves whose parent (the 15-byte prefix) does not branch end a chain.
    let leaves_ending_chains = (0..n)
        .filter(|&i| {
            let before = i.checked_sub(1).map(|j| lcp[j]);
            let after = (i < m).then(|| lcp[i]);
            before != Some(KEY_LEN - 1) && after != Some(KEY_LEN - 1)
        })
        .count() as u64;
    let mut branching = 0u64;
    let mut branching_ending_chains = 0u64;
    // (depth, index of the run's first lcp)
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for i in 0..=m {
        let current = lcp.get(i).copied();
        let mut first = i;
        while let Some(&(depth, start)) = stack.last() {
            if current.is_some_and(|c| depth <= c) {
                break;
            }
            stack.pop();
            branching += 1;
            let outside = [start.checked_sub(1).map(|j| lcp[j]), current]
                .into_iter()
                .flatten()
                .max();
            // Its trie parent (one byte shorter) branches only when the
            // enclosing branching position is exactly one byte shorter.
            if depth > 0 && outside != Some(depth - 1) {
                branching_ending_chains += 1;
            }
            first = start;
        }
        if let Some(c) = current {
            if stack.last().is_none_or(|&(depth, _)| depth < c) {
                stack.push((c, first));
            }
        }
    }
    // Root, the children of branching positions ((n - 1) + |B|), and the
    // chain ends.
    1 + (n as u64 - 1) + branching + leaves_ending_chains + branching_ending_chains
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ms: u64, seq: u64) -> [u8; 16] {
        super::super::id::StreamId::new(ms, seq).to_bytes()
    }

    /// The count by building the trie and squeezing its chains.
    fn by_trie(keys: &[[u8; 16]]) -> u64 {
        use std::collections::BTreeSet;
        let prefixes: BTreeSet<Vec<u8>> = keys
            .iter()
            .flat_map(|k| (0..=16).map(move |l| k[..l].to_vec()))
            .collect();
        let children = |p: &Vec<u8>| {
            prefixes
                .iter()
                .filter(|q| q.len() == p.len() + 1 && q.starts_with(p))
                .count()
        };
        let mut count = 0;
        for p in &prefixes {
            if p.is_empty() {
                count += 1;
                continue;
            }
            let parent = p[..p.len() - 1].to_vec();
            let parent_branches = children(&parent) >= 2;
            let ends_chain = p.len() == 16 || children(p) >= 2;
            if parent_branches || ends_chain {
                count += 1;
            }
        }
        count
    }

    #[test]
    fn small_trees() {
        assert_eq!(nodes(&[]), 1);
        assert_eq!(nodes(&[key(1, 1)]), 2);
        // Root chain, the branch at byte 15, two leaves.
        assert_eq!(nodes(&[key(1, 1), key(1, 2)]), 4);
        assert_eq!(
            nodes(&[key(1, 1), key(1, 2)]),
            by_trie(&[key(1, 1), key(1, 2)])
        );
    }

    #[test]
    fn matches_the_trie_on_varied_keys() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let n = 1 + (rand() % 30) as usize;
            let mut keys: Vec<[u8; 16]> = (0..n)
                .map(|_| {
                    let ms = 1_700_000_000_000 + rand() % (1 << (round % 40));
                    let seq = rand() % 300;
                    key(ms, seq)
                })
                .collect();
            keys.sort();
            keys.dedup();
            assert_eq!(nodes(&keys), by_trie(&keys), "{keys:?}");
        }
    }
}
