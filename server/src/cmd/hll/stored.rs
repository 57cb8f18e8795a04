//! Reading and writing an HLL key: Redis's type and HLL checks, and the
//! value stored back in place.

use petrel_common::hll::{Hll, HllError};

use crate::cmd::db::{Db, Entry};
use crate::cmd::outcome::CmdError;

/// An HLL error as the client's reply.
pub(super) fn hll_error(e: HllError) -> CmdError {
    CmdError::reply(e.to_string())
}

/// The HLL at `key` and its record; WRONGTYPE for another type or a string
/// that is not an HLL.
pub(super) fn load(db: &Db<'_>, key: &[u8]) -> Result<Option<(Entry, Hll)>, CmdError> {
    let Some(entry) = db.lookup_string(key)? else {
        return Ok(None);
    };
    let hll = Hll::parse(&entry.payload).map_err(hll_error)?;
    Ok(Some((entry, hll)))
}

/// Stores `hll` at `key`: in place when it was there (`entry`), as a new
/// string otherwise.
pub(super) fn store(
    db: &mut Db<'_>,
    key: &[u8],
    entry: Option<&Entry>,
    hll: &Hll,
) -> Result<(), CmdError> {
    match entry {
        Some(e) => db.put_string(key, e.header.expire_at_ms, e.header.version, hll.as_bytes()),
        None => {
            let version = db.fresh_version(key)?;
            db.put_string(key, 0, version, hll.as_bytes());
        }
    }
    Ok(())
}
