//! The layout of an HLL string: header fields, sizes, encodings, and the
//! check Redis makes before using a string as an HLL.

/// The header's length.
pub const HEADER_LEN: usize = 16;
/// log2 of the number of registers.
pub(super) const P: u32 = 14;
/// The number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits per dense register.
pub(super) const BITS: usize = 6;
/// The largest value a register holds.
pub(super) const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// The length of a dense value.
pub const DENSE_LEN: usize = HEADER_LEN + REGISTERS * BITS / 8;
/// Redis's default `hll-sparse-max-bytes`: a sparse value growing past it
/// (header included) turns dense.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;
/// The `CONFIG` name of that limit, a cluster setting (kept by meta as a
/// number of bytes).
pub const SPARSE_MAX_BYTES_SETTING: &str = "hll-sparse-max-bytes";

/// What every HLL string starts with.
pub(super) const MAGIC: &[u8; 4] = b"HYLL";
/// Where the encoding byte is.
pub(super) const ENCODING_AT: usize = 4;
/// Where the cached cardinality is.
pub(super) const CACHE_AT: usize = 8;
/// The byte holding the cache's stale bit (its most significant).
pub(super) const STALE_AT: usize = HEADER_LEN - 1;
/// The stale bit.
pub(super) const STALE_BIT: u8 = 0x80;

/// Why a string cannot be used as an HLL; the texts are Redis's replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// Not a HyperLogLog: too short, no magic, unknown encoding, or a dense
    /// value of the wrong length.
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// The header is right but the sparse registers do not add up.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Corrupt,
}

/// How the registers are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

impl Encoding {
    /// The name PFDEBUG ENCODING answers.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// Redis's `isHLLObjectOrReply` on a string's bytes: its encoding.
pub fn check(bytes: &[u8]) -> Result<Encoding, HllError> {
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err(HllError::NotHll);
    }
    match bytes[ENCODING_AT] {
        0 if bytes.len() == DENSE_LEN => Ok(Encoding::Dense),
        1 => Ok(Encoding::Sparse),
        _ => Err(HllError::NotHll),
    }
}
