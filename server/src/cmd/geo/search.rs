//! Running a radius or box query: the members found by a score-range scan
//! of each covering cell (as Redis's `membersOfAllNeighbors`), then sorted,
//! counted, and replied or stored.

use std::cmp::Ordering;
use std::collections::HashSet;

use bytes::Bytes;
use petrel_common::command::table;
use petrel_common::geo::pqsort::pqsort;
use petrel_common::geo::{self, area::Search};
use petrel_common::reply::Reply;

use super::query::{self, Form, Query, Sort, Store};
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::zsets::range::ScoreRange;
use crate::cmd::zsets::zset::{self, Scored, Zset};
use crate::storage::StorageError;

/// A member found in the shape.
struct Found {
    member: Vec<u8>,
    score: f64,
    lon: f64,
    lat: f64,
    /// From the centre, in meters.
    dist: f64,
}

/// Runs one radius or search command.
pub(super) fn run(db: &mut Db<'_>, args: &[Bytes], form: Form) -> CmdResult {
    let src = &args[form.source()];
    let z = Zset::lookup(db, src)?;
    let q = query::parse(db, args, form, z.as_ref())?;
    if let Some(store) = q.store {
        declared(args, store)?;
    }
    let (Some(z), Some(search)) = (z, q.search) else {
        // No source set: an empty answer, or an emptied destination.
        return match q.store {
            Some(store) => {
                zset::store(db, &args[store.key_at], &[], "georadiusstore")?;
                Ok(Reply::Int(0))
            }
            None => Ok(Reply::Array(Vec::new())),
        };
    };
    let limit = if q.any { q.count as usize } else { 0 };
    let mut found = collect(db, &z, &search, limit)?;
    if found.is_empty() && q.store.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    let returned = if q.count > 0 {
        found.len().min(q.count as usize)
    } else {
        found.len()
    };
    sort(&mut found, q.sort, returned);
    found.truncate(returned);
    for f in &mut found {
        f.dist /= search.to_meters;
    }
    match q.store {
        None => Ok(reply(found, &q)),
        Some(store) => {
            let event = if form == Form::SearchStore {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            let members = stored(found, store.dist);
            let n = zset::store(db, &args[store.key_at], &members, event)?;
            Ok(Reply::Int(n as i64))
        }
    }
}

/// The members in the shape, cell by cell in Redis's order, each cell one
/// score-range scan; with `limit` (COUNT ... ANY), stops once that many
/// are found.
fn collect(
    db: &Db<'_>,
    z: &Zset<'_>,
    search: &Search,
    limit: usize,
) -> Result<Vec<Found>, StorageError> {
    let mut found = Vec::new();
    let full = |found: &Vec<Found>| limit > 0 && found.len() >= limit;
    for cell in search.cells().to_scan() {
        if full(&found) {
            break;
        }
        let (min, max) = cell.score_range();
        let range = ScoreRange {
            min: min as f64,
            max: max as f64,
            minex: false,
            maxex: true,
        };
        range.scan(db, z, false, &mut |member, score| {
            let (lon, lat) = geo::point_of(score);
            if let Some(dist) = search.distance_within(lon, lat) {
                found.push(Found {
                    member: member.to_vec(),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
            !full(&found)
        })?;
    }
    Ok(found)
}

/// Orders by distance as Redis does: all of them with the C library's
/// qsort (glibc's is a stable merge sort), or, when COUNT returns fewer,
/// the first `returned` with Redis's own partial quicksort, whose moves
/// decide the order among equal distances.
fn sort(found: &mut [Found], order: Sort, returned: usize) {
    // Redis's sort_gp_asc: greater, equal, else less.
    let asc = |a: &Found, b: &Found| {
        if a.dist > b.dist {
            Ordering::Greater
        } else if a.dist == b.dist {
            Ordering::Equal
        } else {
            Ordering::Less
        }
    };
    let desc = |a: &Found, b: &Found| asc(b, a);
    let cmp: &dyn Fn(&Found, &Found) -> Ordering = match order {
        Sort::None => return,
        Sort::Asc => &asc,
        Sort::Desc => &desc,
    };
    if returned == found.len() {
        found.sort_by(cmp);
    } else if returned > 0 {
        pqsort(found, cmp, 0, returned - 1);
    }
}

/// The reply: members, or `[member, dist?, hash?, [lon, lat]?]` arrays.
fn reply(found: Vec<Found>, q: &Query) -> Reply {
    let extras = q.withdist || q.withhash || q.withcoord;
    Reply::Array(
        found
            .into_iter()
            .map(|f| {
                let member = Reply::Bulk(Bytes::from(f.member));
                if !extras {
                    return member;
                }
                let mut item = vec![member];
                if q.withdist {
                    item.push(Reply::Bulk(Bytes::from(geo::distance_text(f.dist))));
                }
                if q.withhash {
                    item.push(Reply::Int(f.score as i64));
                }
                if q.withcoord {
                    item.push(Reply::Array(vec![
                        Reply::HumanDouble(f.lon),
                        Reply::HumanDouble(f.lat),
                    ]));
                }
                Reply::Array(item)
            })
            .collect(),
    )
}

/// The members to store, scored by geohash or (STOREDIST) by distance.
/// The cells scanned do not overlap, so a member is found once; should it
/// come twice the first is kept (Redis asserts), never counted twice in
/// the stored set's size.
fn stored(found: Vec<Found>, dist: bool) -> Vec<Scored> {
    let mut seen = HashSet::new();
    found
        .into_iter()
        .filter(|f| seen.insert(f.member.clone()))
        .map(|f| (f.member, if dist { f.dist } else { f.score }))
        .collect()
}

/// The destination must be a key the command table finds in the call (the
/// first STORE and the first STOREDIST): only those are routed and locked.
/// Redis writes the last one given; a call naming another is refused
/// rather than writing a key of another partition.
fn declared(args: &[Bytes], store: Store) -> Result<(), CmdError> {
    let positions = table()
        .command_of(args)
        .map(|c| c.key_positions(args))
        .unwrap_or_default();
    if positions.contains(&store.key_at) {
        Ok(())
    } else {
        Err(CmdError::reply(
            "ERR Petrel cannot run this command with STORE or STOREDIST given more than once",
        ))
    }
}
