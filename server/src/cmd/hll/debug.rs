//! `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`: Redis's HLL introspection.
//! GETREG and TODENSE turn a sparse value dense and store it so.

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::stored::{hll_error, load, store};
use crate::cmd::db::Db;
use crate::cmd::errors::c_string;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;

/// `PFDEBUG <subcommand> key`; the key is looked up (and checked to be an
/// HLL) before the subcommand is, as in Redis.
pub(super) fn pfdebug(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let (sub, key) = (&args[1], &args[2]);
    let Some((entry, mut hll)) = load(db, key)? else {
        return Err(CmdError::reply("ERR The specified key does not exist"));
    };
    if is_option(sub, "getreg") {
        if hll.to_dense().map_err(hll_error)? {
            store(db, key, Some(&entry), &hll)?;
        }
        let registers = hll.registers().map_err(hll_error)?;
        let values = registers.values().iter();
        Ok(Reply::Array(
            values.map(|&v| Reply::Int(v.into())).collect(),
        ))
    } else if is_option(sub, "decode") {
        match hll.decode() {
            Some(text) => Ok(Reply::Bulk(text.into())),
            None => Err(CmdError::reply("ERR HLL encoding is not sparse")),
        }
    } else if is_option(sub, "encoding") {
        Ok(Reply::Status(hll.encoding().name().into()))
    } else if is_option(sub, "todense") {
        let converted = hll.to_dense().map_err(hll_error)?;
        if converted {
            store(db, key, Some(&entry), &hll)?;
        }
        Ok(Reply::Int(i64::from(converted)))
    } else {
        Err(CmdError::reply(crate::cmd::errors::sanitize(&format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            c_string(sub, usize::MAX)
        ))))
    }
}
