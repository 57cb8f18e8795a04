//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE here, PFDEBUG in
//! [`debug`]; reading and storing a key in [`stored`]), with Redis 7.0's
//! replies, errors and events.
//!
//! An HLL is a string holding Redis's own representation
//! ([`petrel_common::hll`]), so GET/SET move it between Redis and Petrel.
//! Commands change it in place, keeping the key's expiry and version, as
//! Redis does; a key they create is a new string without expiry. PFCOUNT of
//! one key writes the count it computed into the value's cache, as Redis
//! does: the partition runs it as a read and, when that finds the cache
//! stale, once more as a write (`crate::service`), so a GET after it shows
//! Redis's bytes.

mod debug;
mod stored;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use petrel_common::hll::{
    Encoding, Hll, Registers, DEFAULT_SPARSE_MAX_BYTES, SPARSE_MAX_BYTES_SETTING,
};
use petrel_common::msg::SettingsMsg;
use petrel_common::reply::Reply;
use tracing::warn;

use crate::cmd::db::Db;
use crate::cmd::events::STRING;
use crate::cmd::outcome::CmdResult;
use crate::cmd::runner::{run, Runner};
use stored::{hll_error, load, store};

/// The HyperLogLog family, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("pfadd", pfadd),
    run("pfcount", pfcount),
    run("pfmerge", pfmerge),
    run("pfdebug", debug::pfdebug),
];

/// The cluster's `hll-sparse-max-bytes` as this server last applied it
/// (every partition a server holds belongs to one cluster).
static SPARSE_MAX_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_SPARSE_MAX_BYTES);

/// How long a sparse value may grow before it turns dense.
pub(crate) fn sparse_max_bytes() -> usize {
    SPARSE_MAX_BYTES.load(Relaxed)
}

/// Applies the cluster's `hll-sparse-max-bytes` (a value this server cannot
/// read keeps the one it had).
pub(crate) fn apply_settings(settings: &SettingsMsg) {
    match sparse_max_bytes_of(settings) {
        Some(bytes) => SPARSE_MAX_BYTES.store(bytes, Relaxed),
        None => warn!(
            generation = settings.generation,
            "meta holds an hll-sparse-max-bytes this server does not read; keeping {}",
            sparse_max_bytes()
        ),
    }
}

/// The `hll-sparse-max-bytes` `settings` hold (the default when unset);
/// `None` when it is not a number of bytes.
fn sparse_max_bytes_of(settings: &SettingsMsg) -> Option<usize> {
    let Some(setting) = settings
        .settings
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(SPARSE_MAX_BYTES_SETTING))
    else {
        return Some(DEFAULT_SPARSE_MAX_BYTES);
    };
    let bytes = setting.value.parse::<u64>().ok()?;
    Some(usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// A cardinality as Redis replies it (a signed 64-bit integer).
fn card_reply(card: u64) -> Reply {
    Reply::Int(card as i64)
}

/// `PFADD key [element ...]`: 1 if a register grew or the key was created.
///
/// An element that meets a corrupt register stops the command with the
/// INVALIDOBJ error and nothing is written (Redis keeps, in its memory
/// only, the registers the elements before it changed).
fn pfadd(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let (entry, mut hll, mut updated) = match load(db, key)? {
        Some((entry, hll)) => (Some(entry), hll, false),
        None => (None, Hll::new(), true),
    };
    let max = sparse_max_bytes();
    for element in &args[2..] {
        updated |= hll.add(element, max).map_err(hll_error)?;
    }
    if updated {
        hll.invalidate_cache();
        store(db, key, entry.as_ref(), &hll)?;
        db.notify(STRING, "pfadd", key);
    }
    Ok(Reply::Int(i64::from(updated)))
}

/// `PFCOUNT key [key ...]`: the cardinality of one HLL (its cache, or a
/// count stored in the cache), or of the union of several (nothing
/// written). Missing keys are empty HLLs.
fn pfcount(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        let mut union = Registers::new();
        for key in &args[1..] {
            if let Some((_, hll)) = load(db, key)? {
                union.merge(&hll).map_err(hll_error)?;
            }
        }
        return Ok(card_reply(union.count()));
    }
    let key = &args[1];
    let Some((entry, mut hll)) = load(db, key)? else {
        return Ok(Reply::Int(0));
    };
    if let Some(card) = hll.cached() {
        return Ok(card_reply(card));
    }
    let card = hll.count().map_err(hll_error)?;
    hll.set_cache(card);
    // A count too big for the cache leaves it stale, bytes unchanged.
    if hll.as_bytes() != &entry.payload[..] {
        store(db, key, Some(&entry), &hll)?;
    }
    Ok(card_reply(card))
}

/// `PFMERGE destkey [sourcekey ...]`: the destination raised to the union
/// of every key, itself included; dense when any of them is. Always
/// written (cache stale) and announced as `pfadd`, as in Redis.
fn pfmerge(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let dest = &args[1];
    let mut union = Registers::new();
    let mut dense = false;
    let mut found = None;
    for (i, key) in args[1..].iter().enumerate() {
        let Some((entry, hll)) = load(db, key)? else {
            continue;
        };
        dense |= hll.encoding() == Encoding::Dense;
        union.merge(&hll).map_err(hll_error)?;
        if i == 0 {
            found = Some((entry, hll));
        }
    }
    let (entry, mut hll) = match found {
        Some((entry, hll)) => (Some(entry), hll),
        None => (None, Hll::new()),
    };
    if dense {
        hll.to_dense().map_err(hll_error)?;
    }
    let max = sparse_max_bytes();
    for (i, &value) in union.values().iter().enumerate() {
        if value != 0 {
            // The destination was read whole above: it cannot fail here
            // (Redis ignores the answer too).
            let _ = hll.raise(i, value, max);
        }
    }
    hll.invalidate_cache();
    store(db, dest, entry.as_ref(), &hll)?;
    db.notify(STRING, "pfadd", dest);
    Ok(Reply::ok())
}
