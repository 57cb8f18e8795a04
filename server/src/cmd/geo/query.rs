//! The arguments of the radius and search commands, read in the order
//! Redis's `georadiusGeneric` reads them, so the first error a client gets
//! is Redis's.

use bytes::Bytes;
use petrel_common::geo;
use petrel_common::geo::area::{Search, Shape};
use petrel_common::reply::errors;

use super::args;
use crate::cmd::db::Db;
use crate::cmd::errors::c_string;
use crate::cmd::outcome::CmdError;
use crate::cmd::parse::{int_arg, is_option};
use crate::cmd::zsets::zset::Zset;

/// Which command is parsed: what it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    Radius,
    RadiusRo,
    ByMember,
    ByMemberRo,
    Search,
    SearchStore,
}

impl Form {
    /// Where the source key is.
    pub(super) fn source(self) -> usize {
        if self == Form::SearchStore {
            2
        } else {
            1
        }
    }

    fn is_search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }

    /// Whether STORE and STOREDIST (with a key) are options.
    fn stores(self) -> bool {
        matches!(self, Form::Radius | Form::ByMember)
    }
}

/// Result order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sort {
    None,
    Asc,
    Desc,
}

/// Where results go when they are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Store {
    /// The destination key's position in the arguments.
    pub(super) key_at: usize,
    /// Scores are distances (STOREDIST), not the points' geohashes.
    pub(super) dist: bool,
}

/// A parsed query.
#[derive(Clone, Copy, Debug)]
pub(super) struct Query {
    /// The centre and shape; `None` when the source set does not exist
    /// (Redis then leaves them unparsed).
    pub(super) search: Option<Search>,
    pub(super) withdist: bool,
    pub(super) withhash: bool,
    pub(super) withcoord: bool,
    pub(super) any: bool,
    pub(super) sort: Sort,
    /// 0: no limit.
    pub(super) count: i64,
    pub(super) store: Option<Store>,
}

/// The position of a member's point in the set.
fn member_point(db: &Db<'_>, z: &Zset<'_>, member: &[u8]) -> Result<(f64, f64), CmdError> {
    match z.score(db, member)? {
        Some(score) => Ok(geo::point_of(score)),
        None => Err(CmdError::reply(
            "ERR could not decode requested zset member",
        )),
    }
}

/// Parses `args` for `form` against the source set `z`.
pub(super) fn parse(
    db: &Db<'_>,
    args: &[Bytes],
    form: Form,
    z: Option<&Zset<'_>>,
) -> Result<Query, CmdError> {
    let mut centre = None;
    let mut shape = None;
    let mut store = None;
    let base = match form {
        Form::Radius | Form::RadiusRo => {
            centre = Some(args::lonlat(&args[2..4])?);
            let (r, unit) = args::radius(&args[4..6])?;
            shape = Some((Shape::Radius(r), unit));
            6
        }
        Form::ByMember | Form::ByMemberRo => {
            // Without a set, Redis reads only the options.
            if let Some(z) = z {
                centre = Some(member_point(db, z, &args[2])?);
                let (r, unit) = args::radius(&args[3..5])?;
                shape = Some((Shape::Radius(r), unit));
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => {
            store = Some(Store {
                key_at: 1,
                dist: false,
            });
            3
        }
    };
    let mut q = Query {
        search: None,
        withdist: false,
        withhash: false,
        withcoord: false,
        any: false,
        sort: Sort::None,
        count: 0,
        store,
    };
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let at = base + i;
        let arg = &args[at];
        let left = remaining - i - 1;
        if is_option(arg, "withdist") {
            q.withdist = true;
        } else if is_option(arg, "withhash") {
            q.withhash = true;
        } else if is_option(arg, "withcoord") {
            q.withcoord = true;
        } else if is_option(arg, "any") {
            q.any = true;
        } else if is_option(arg, "asc") {
            q.sort = Sort::Asc;
        } else if is_option(arg, "desc") {
            q.sort = Sort::Desc;
        } else if is_option(arg, "count") && left >= 1 {
            q.count = int_arg(&args[at + 1])?;
            if q.count <= 0 {
                return Err(CmdError::reply("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is_option(arg, "store") || is_option(arg, "storedist"))
            && left >= 1
            && form.stores()
        {
            q.store = Some(Store {
                key_at: at + 1,
                dist: is_option(arg, "storedist"),
            });
            i += 1;
        } else if is_option(arg, "storedist") && form == Form::SearchStore {
            q.store = Some(Store {
                key_at: 1,
                dist: true,
            });
        } else if is_option(arg, "frommember") && left >= 1 && form.is_search() && !fromloc {
            if let Some(z) = z {
                centre = Some(member_point(db, z, &args[at + 1])?);
            }
            frommember = true;
            i += 1;
        } else if is_option(arg, "fromlonlat") && left >= 2 && form.is_search() && !frommember {
            centre = Some(args::lonlat(&args[at + 1..at + 3])?);
            fromloc = true;
            i += 2;
        } else if is_option(arg, "byradius") && left >= 2 && form.is_search() && !bybox {
            let (r, unit) = args::radius(&args[at + 1..at + 3])?;
            shape = Some((Shape::Radius(r), unit));
            byradius = true;
            i += 2;
        } else if is_option(arg, "bybox") && left >= 3 && form.is_search() && !byradius {
            let (width, height, unit) = args::box_size(&args[at + 1..at + 4])?;
            shape = Some((Shape::Box { width, height }, unit));
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::reply(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // Redis names the command as the client spelled it.
    let name = || c_string(&args[0], usize::MAX);
    if form.is_search() && !(frommember || fromloc) {
        return Err(CmdError::reply(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if form.is_search() && !(byradius || bybox) {
        return Err(CmdError::reply(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if q.any && q.count == 0 {
        return Err(CmdError::reply(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    // COUNT means the nearest ones, unless ANY.
    if q.count != 0 && q.sort == Sort::None && !q.any {
        q.sort = Sort::Asc;
    }
    if let (Some((lon, lat)), Some((shape, to_meters))) = (centre, shape) {
        q.search = Some(Search {
            lon,
            lat,
            shape,
            to_meters,
        });
    }
    Ok(q)
}
