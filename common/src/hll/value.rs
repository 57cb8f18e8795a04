//! An HLL value ([`Hll`]) and the union of several ([`Registers`]).

use super::format::{
    check, Encoding, HllError, CACHE_AT, ENCODING_AT, HEADER_LEN, MAGIC, REGISTERS, STALE_AT,
    STALE_BIT,
};
use super::{dense, estimate, murmur, sparse};

/// A string that passed Redis's `isHLLObjectOrReply` check, owned so it
/// can be changed and stored back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hll {
    bytes: Vec<u8>,
}

impl Default for Hll {
    fn default() -> Self {
        Hll::new()
    }
}

impl Hll {
    /// An empty HLL as Redis creates one: sparse, every register in XZERO
    /// opcodes, the cache valid at 0.
    pub fn new() -> Hll {
        let mut bytes = vec![0; HEADER_LEN];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[ENCODING_AT] = 1;
        sparse::push_zeros(&mut bytes, REGISTERS);
        Hll { bytes }
    }

    /// `bytes` as an HLL, if Redis would take them as one.
    pub fn parse(bytes: &[u8]) -> Result<Hll, HllError> {
        check(bytes)?;
        Ok(Hll {
            bytes: bytes.to_vec(),
        })
    }

    /// The string's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn encoding(&self) -> Encoding {
        if self.bytes[ENCODING_AT] == 0 {
            Encoding::Dense
        } else {
            Encoding::Sparse
        }
    }

    /// The cached cardinality, unless it is marked stale.
    pub fn cached(&self) -> Option<u64> {
        if self.bytes[STALE_AT] & STALE_BIT != 0 {
            return None;
        }
        let mut card = [0; 8];
        card.copy_from_slice(&self.bytes[CACHE_AT..HEADER_LEN]);
        Some(u64::from_le_bytes(card))
    }

    /// Stores `card` as the cached cardinality.
    pub fn set_cache(&mut self, card: u64) {
        self.bytes[CACHE_AT..HEADER_LEN].copy_from_slice(&card.to_le_bytes());
    }

    /// Marks the cached cardinality stale.
    pub fn invalidate_cache(&mut self) {
        self.bytes[STALE_AT] |= STALE_BIT;
    }

    /// Adds `element` (Redis's `hllAdd`): whether a register grew. A sparse
    /// value turns dense when a register needs more than the sparse
    /// opcodes hold or the value would outgrow `sparse_max_bytes`. The
    /// cache is left as it is; PFADD marks it stale.
    pub fn add(&mut self, element: &[u8], sparse_max_bytes: usize) -> Result<bool, HllError> {
        let (index, count) = murmur::pattern(element);
        self.raise(index, count, sparse_max_bytes)
    }

    /// Raises register `index` to `count` if it is lower: whether it was.
    pub fn raise(
        &mut self,
        index: usize,
        count: u8,
        sparse_max_bytes: usize,
    ) -> Result<bool, HllError> {
        // Redis never asks for these (a register's run is 1 to 51).
        if count == 0 || index >= REGISTERS {
            return Ok(false);
        }
        match self.encoding() {
            Encoding::Dense => Ok(dense::raise(&mut self.bytes[HEADER_LEN..], index, count)),
            Encoding::Sparse => sparse::raise(&mut self.bytes, index, count, sparse_max_bytes),
        }
    }

    /// Turns a sparse value dense, keeping the header but for the encoding
    /// (Redis's `hllSparseToDense`); whether it was sparse.
    pub fn to_dense(&mut self) -> Result<bool, HllError> {
        if self.encoding() == Encoding::Dense {
            return Ok(false);
        }
        self.bytes = sparse::to_dense(&self.bytes)?;
        Ok(true)
    }

    /// The cardinality computed from the registers (Redis's `hllCount`),
    /// whatever the cache says.
    pub fn count(&self) -> Result<u64, HllError> {
        let histogram = match self.encoding() {
            Encoding::Dense => dense::histogram(&self.bytes[HEADER_LEN..]),
            Encoding::Sparse => sparse::histogram(&self.bytes[HEADER_LEN..])?,
        };
        Ok(estimate::cardinality(&histogram))
    }

    /// Every register's value; a sparse value is read as Redis's
    /// `hllMerge` reads it.
    pub fn registers(&self) -> Result<Registers, HllError> {
        let mut registers = Registers::new();
        registers.merge(self)?;
        Ok(registers)
    }

    /// The sparse opcodes as PFDEBUG DECODE spells them (`Z:16384`,
    /// `z:5`, `v:3,2`); `None` for a dense value.
    pub fn decode(&self) -> Option<String> {
        match self.encoding() {
            Encoding::Dense => None,
            Encoding::Sparse => Some(sparse::decode(&self.bytes[HEADER_LEN..])),
        }
    }
}

/// One byte per register: the union of several HLLs (PFCOUNT of several
/// keys, PFMERGE), Redis's internal `HLL_RAW` form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registers(Vec<u8>);

impl Default for Registers {
    fn default() -> Self {
        Registers::new()
    }
}

impl Registers {
    /// Every register at 0.
    pub fn new() -> Registers {
        Registers(vec![0; REGISTERS])
    }

    /// Raises each register to `hll`'s where that is higher (Redis's
    /// `hllMerge`). A sparse value whose registers do not add up is
    /// [`HllError::Corrupt`], with the registers before the bad opcode
    /// merged.
    pub fn merge(&mut self, hll: &Hll) -> Result<(), HllError> {
        match hll.encoding() {
            Encoding::Dense => {
                dense::merge(&hll.bytes[HEADER_LEN..], &mut self.0);
                Ok(())
            }
            Encoding::Sparse => sparse::merge(&hll.bytes[HEADER_LEN..], &mut self.0),
        }
    }

    /// The values, register 0 first.
    pub fn values(&self) -> &[u8] {
        &self.0
    }

    /// The cardinality of the union.
    pub fn count(&self) -> u64 {
        let mut histogram = [0u64; 64];
        for &r in &self.0 {
            histogram[usize::from(r & 63)] += 1;
        }
        estimate::cardinality(&histogram)
    }
}
