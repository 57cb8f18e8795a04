//! petrel-server: hosts partition replicas and executes Redis commands on them.
//!
//! - [`storage`]: the engine trait, RocksDB and in-memory engines, key layout.
//! - [`cmd`]: Redis command semantics (command -> reply + mutation).

pub mod cmd;
pub mod storage;
