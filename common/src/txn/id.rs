//! Transaction ids: `(start_ms, nonce)`, ordered by age.

use std::fmt;

use crate::codec::{DecodeError, Reader};

/// A transaction attempt's id. Ids order by `(start_ms, nonce)`: smaller is
/// **older**, and wound-wait lets the older of two conflicting transactions
/// go first. A retry keeps `start_ms` (so it keeps its age) and gets a new
/// nonce ([`TxnId::retry`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnId {
    /// The coordinator's clock (Unix ms) at the transaction's first attempt.
    pub start_ms: u64,
    /// A random number drawn by the coordinator, unique per attempt.
    pub nonce: u64,
}

/// Mixes a 64-bit value (splitmix64's finalizer): neighbouring inputs give
/// unrelated outputs, so derived nonces do not cluster.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TxnId {
    /// Bytes of [`TxnId::encode`]'s output.
    pub const ENCODED_LEN: usize = 16;

    /// True when `self` started before `other` (and so wins a conflict).
    pub fn is_older_than(&self, other: &TxnId) -> bool {
        self < other
    }

    /// Milliseconds since the first attempt started, by the caller's clock
    /// (0 when the coordinator's clock is ahead).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.start_ms)
    }

    /// The id of retry number `attempt` (1, 2...) of this transaction: the
    /// same age, a nonce derived from this one. Derived rather than drawn so
    /// the coordinator stays a pure machine.
    pub fn retry(&self, attempt: u32) -> TxnId {
        TxnId {
            start_ms: self.start_ms,
            nonce: mix(self.nonce ^ mix(u64::from(attempt))),
        }
    }

    /// 16 bytes, big-endian `start_ms` then `nonce`: byte order is age order,
    /// so records keyed by it scan oldest first.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..8].copy_from_slice(&self.start_ms.to_be_bytes());
        b[8..].copy_from_slice(&self.nonce.to_be_bytes());
        b
    }

    /// Reads exactly [`TxnId::ENCODED_LEN`] bytes.
    pub fn decode(bytes: &[u8]) -> Result<TxnId, DecodeError> {
        let mut r = Reader::new("transaction id", bytes);
        let id = TxnId {
            start_ms: r.u64()?,
            nonce: r.u64()?,
        };
        r.finish()?;
        Ok(id)
    }
}

impl fmt::Display for TxnId {
    /// `start_ms-nonce`, the nonce in hex: sorts like the id, reads in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:016x}", self.start_ms, self.nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(start_ms: u64, nonce: u64) -> TxnId {
        TxnId { start_ms, nonce }
    }

    #[test]
    fn older_is_smaller_and_encodes_in_order() {
        let ids = [id(1, u64::MAX), id(2, 0), id(2, 1), id(u64::MAX, 0)];
        for w in ids.windows(2) {
            assert!(w[0].is_older_than(&w[1]));
            assert!(!w[1].is_older_than(&w[0]));
            assert!(w[0].encode() < w[1].encode());
        }
    }

    #[test]
    fn round_trips_and_rejects_bad_lengths() {
        let t = id(1_700_000_000_000, 0xdead_beef_0123_4567);
        assert_eq!(TxnId::decode(&t.encode()), Ok(t));
        assert!(TxnId::decode(&t.encode()[..15]).is_err());
        let mut long = t.encode().to_vec();
        long.push(0);
        assert!(TxnId::decode(&long).is_err());
        assert!(TxnId::decode(&[]).is_err());
    }

    #[test]
    fn retries_keep_age_and_differ() {
        let t = id(5, 42);
        let r1 = t.retry(1);
        let r2 = t.retry(2);
        assert_eq!((r1.start_ms, r2.start_ms), (5, 5));
        assert!(r1 != t && r2 != t && r1 != r2);
        assert_eq!(
            t.retry(1),
            r1,
            "derived, so the same attempt gets the same id"
        );
    }

    #[test]
    fn displays_sortably() {
        assert_eq!(id(12, 255).to_string(), "12-00000000000000ff");
        assert_eq!(id(3, 9).age_ms(10), 7);
        assert_eq!(id(30, 9).age_ms(10), 0);
    }
}
