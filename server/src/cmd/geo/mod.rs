//! GEO commands: points kept in sorted sets as Redis keeps them, the score
//! of a member the 52-bit geohash of its coordinates (the math is
//! `petrel_common::geo`).
//!
//! - [`args`]: coordinates, units, radius and box arguments, with Redis's
//!   error texts.
//! - [`points`]: GEOADD, GEOPOS, GEOHASH, GEODIST.
//! - [`query`]: the options of GEORADIUS, GEORADIUSBYMEMBER (and `_RO`),
//!   GEOSEARCH and GEOSEARCHSTORE, parsed in Redis's order.
//! - [`search`]: running a query: a score-range scan of each of the nine
//!   cells around the centre (never the whole set), sorting, the reply or
//!   the stored set.

mod args;
mod points;
mod query;
mod search;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use super::db::Db;
use super::outcome::CmdResult;
use super::runner::{run, Runner};
use query::Form;

/// The GEO family, with Redis 7.0's arities.
pub(crate) static COMMANDS: &[Runner] = &[
    run("geoadd", points::geoadd),
    run("geopos", points::geopos),
    run("geohash", points::geohash),
    run("geodist", points::geodist),
    run("georadius", georadius),
    run("georadius_ro", georadius_ro),
    run("georadiusbymember", georadiusbymember),
    run("georadiusbymember_ro", georadiusbymember_ro),
    run("geosearch", geosearch),
    run("geosearchstore", geosearchstore),
];

/// `GEORADIUS key lon lat radius unit [options] [STORE key] [STOREDIST key]`
fn georadius(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    search::run(db, args, Form::Radius)
}

/// `GEORADIUS_RO key lon lat radius unit [options]`
fn georadius_ro(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    search::run(db, args, Form::RadiusRo)
}

/// `GEORADIUSBYMEMBER key member radius unit [options] [STORE key] [STOREDIST key]`
fn georadiusbymember(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    search::run(db, args, Form::ByMember)
}

/// `GEORADIUSBYMEMBER_RO key member radius unit [options]`
fn georadiusbymember_ro(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    search::run(db, args, Form::ByMemberRo)
}

/// `GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]`
fn geosearch(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    search::run(db, args, Form::Search)
}

/// `GEOSEARCHSTORE dst src FROM... BY... [ASC|DESC] [COUNT n [ANY]] [STOREDIST]`
fn geosearchstore(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    search::run(db, args, Form::SearchStore)
}
