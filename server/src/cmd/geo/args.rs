//! GEO arguments with Redis's rules and error texts (`geo.c`'s
//! `extract*OrReply` helpers).

use bytes::Bytes;
use petrel_common::geo;
use petrel_common::reply::errors;

use crate::cmd::outcome::CmdError;
use crate::cmd::parse::is_option;
use crate::cmd::zsets::score;

/// A double as `getDoubleFromObjectOrReply` reads it, with its message.
pub(super) fn double(arg: &[u8], msg: Option<&str>) -> Result<f64, CmdError> {
    score::parse(arg).ok_or_else(|| match msg {
        Some(m) => CmdError::reply(format!("ERR {m}")),
        None => CmdError::reply(errors::NOT_FLOAT),
    })
}

/// Longitude then latitude, within the limits Redis can index.
pub(super) fn lonlat(args: &[Bytes]) -> Result<(f64, f64), CmdError> {
    let lon = double(&args[0], None)?;
    let lat = double(&args[1], None)?;
    if !geo::in_limits(lon, lat) {
        return Err(CmdError::reply(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per `unit` (`extractUnitOrReply`).
pub(super) fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    for (name, meters) in [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)] {
        if is_option(arg, name) {
            return Ok(meters);
        }
    }
    Err(CmdError::reply(
        "ERR unsupported unit provided. please use M, KM, FT, MI",
    ))
}

/// `radius unit`: the radius and meters per unit.
pub(super) fn radius(args: &[Bytes]) -> Result<(f64, f64), CmdError> {
    let r = double(&args[0], Some("need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::reply("ERR radius cannot be negative"));
    }
    Ok((r, unit(&args[1])?))
}

/// `width height unit`: the box and meters per unit.
pub(super) fn box_size(args: &[Bytes]) -> Result<(f64, f64, f64), CmdError> {
    let w = double(&args[0], Some("need numeric width"))?;
    let h = double(&args[1], Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::reply("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit(&args[2])?))
}
