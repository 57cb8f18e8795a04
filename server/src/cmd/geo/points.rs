//! GEOADD, GEOPOS, GEOHASH and GEODIST: one member at a time.

use bytes::Bytes;
use petrel_common::geo;
use petrel_common::reply::{errors, Reply};

use super::args;
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;
use crate::cmd::zsets::zset::Zset;
use crate::cmd::zsets::{add_members, AddOptions};

/// `GEOADD key [NX|XX] [CH] longitude latitude member [...]`: ZADD of the
/// members at their geohash scores.
pub(super) fn geoadd(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut options = AddOptions::default();
    let mut at = 2;
    while at < args.len() {
        let opt = &args[at];
        if is_option(opt, "nx") {
            options.nx = true;
        } else if is_option(opt, "xx") {
            options.xx = true;
        } else if is_option(opt, "ch") {
            options.ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let triples = &args[at..];
    if !triples.len().is_multiple_of(3) || (options.xx && options.nx) {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    let mut members = Vec::with_capacity(triples.len() / 3);
    let mut scores = Vec::with_capacity(triples.len() / 3);
    for triple in triples.chunks(3) {
        let (lon, lat) = args::lonlat(&triple[..2])?;
        let score = geo::score_of(lon, lat).ok_or_else(|| CmdError::reply(errors::SYNTAX))?;
        scores.push(score as f64);
        members.push(triple[2].clone());
    }
    // ZADD's own check, when only options were given.
    if members.is_empty() {
        return Err(CmdError::reply(errors::SYNTAX));
    }
    add_members(db, &args[1], options, &members, &scores)
}

/// `GEOPOS key [member ...]`
pub(super) fn geopos(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let replies = scores(db, args)?.into_iter().map(|score| match score {
        Some(s) => {
            let (lon, lat) = geo::point_of(s);
            Reply::Array(vec![Reply::HumanDouble(lon), Reply::HumanDouble(lat)])
        }
        None => Reply::NilArray,
    });
    Ok(Reply::Array(replies.collect()))
}

/// `GEOHASH key [member ...]`
pub(super) fn geohash(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let replies = scores(db, args)?.into_iter().map(|score| match score {
        Some(s) => Reply::Bulk(Bytes::copy_from_slice(&geo::geohash_string(s))),
        None => Reply::Nil,
    });
    Ok(Reply::Array(replies.collect()))
}

/// The scores of the members named from `args[2]` on, in the set at
/// `args[1]` (none when it does not exist).
fn scores(db: &Db<'_>, args: &[Bytes]) -> Result<Vec<Option<f64>>, CmdError> {
    let z = Zset::lookup(db, &args[1])?;
    let mut out = Vec::with_capacity(args.len() - 2);
    for member in &args[2..] {
        out.push(match &z {
            Some(z) => z.score(db, member)?,
            None => None,
        });
    }
    Ok(out)
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`
pub(super) fn geodist(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let to_meters = match args.len() {
        5 => args::unit(&args[4])?,
        n if n > 5 => return Err(CmdError::reply(errors::SYNTAX)),
        _ => 1.0,
    };
    let Some(z) = Zset::lookup(db, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let (Some(a), Some(b)) = (z.score(db, &args[2])?, z.score(db, &args[3])?) else {
        return Ok(Reply::Nil);
    };
    let (lon1, lat1) = geo::point_of(a);
    let (lon2, lat2) = geo::point_of(b);
    let d = geo::distance::distance(lon1, lat1, lon2, lat2) / to_meters;
    Ok(Reply::Bulk(Bytes::from(geo::distance_text(d))))
}
