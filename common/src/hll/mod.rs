//! HyperLogLog in Redis 7.0's own string representation (its
//! `hyperloglog.c`), byte for byte, so a value moves between Redis and
//! Petrel with GET/SET and keeps counting the same.
//!
//! A value is a string: a 16-byte header (`HYLL`, the encoding byte, three
//! unused bytes, the cached cardinality as 8 little-endian bytes whose top
//! bit marks it stale), then 16,384 registers, dense or sparse. Every
//! function here works on those bytes and never panics on them: a string
//! that is not an HLL is [`HllError::NotHll`], one whose registers cannot
//! be read is [`HllError::Corrupt`].
//!
//! - [`format`]: the header, sizes and encodings, and Redis's check that a
//!   string is an HLL; [`value`]: an HLL ([`Hll`]) and the union of several
//!   ([`Registers`]), the operations the PF commands are made of.
//! - [`murmur`]: MurmurHash64A, and the register and run length an element
//!   gives.
//! - [`dense`]: 6-bit registers packed least significant bit first.
//! - [`sparse`]: the ZERO / XZERO / VAL run-length opcodes, edited in place
//!   exactly as Redis edits them (which bytes a sparse value holds depends
//!   on the order its registers were set in, so any other way of editing
//!   would give other bytes).
//! - [`estimate`]: the cardinality from the registers' histogram (Ertl's
//!   estimator, as Redis 7.0).
//! - [`selftest`]: what PFSELFTEST runs.

mod dense;
mod estimate;
mod format;
mod murmur;
mod selftest;
mod sparse;
#[cfg(test)]
mod tests;
mod value;

pub use format::{
    check, Encoding, HllError, DEFAULT_SPARSE_MAX_BYTES, DENSE_LEN, HEADER_LEN, REGISTERS,
    SPARSE_MAX_BYTES_SETTING,
};
pub use selftest::selftest;
pub use value::{Hll, Registers};
