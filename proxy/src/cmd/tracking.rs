//! Client-side caching: `CLIENT TRACKING`, `CLIENT CACHING`,
//! `CLIENT GETREDIR`, `CLIENT TRACKINGINFO` (docs/PUBSUB.md, "Client-side
//! caching"). A tracked key is registered with its partition's broker
//! before the read that tracks it runs; the primary that next writes it
//! sends one invalidation; BCAST prefixes are registered with every
//! partition.

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use petrel_common::pubsub::SubKind;
use petrel_common::reply::{errors, Reply};

use crate::action::{Action, Ctx};
use crate::pubsub::hub::Tracker;
use crate::resp::Proto;
use crate::session::{Session, Tracking};
use crate::state::Shared;
use crate::util::parse_i64;

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`, checked as Redis checks it.
pub(crate) fn tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let err = |e: &str| Action::Reply(Reply::error(e));
    let mut mode = Tracking::default();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = args[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"redirect" if more => {
                j += 1;
                if mode.redirect.is_some() {
                    return err("ERR A client can only redirect to a single other client");
                }
                let Some(id) = parse_i64(&args[j]) else {
                    return err(errors::NOT_INTEGER);
                };
                if id == ctx.session.id() as i64 {
                    return err("ERR A client can't redirect to itself");
                }
                if !ctx
                    .shared
                    .clients
                    .snapshot()
                    .iter()
                    .any(|c| c.id as i64 == id)
                {
                    return err("ERR The client ID you want redirect to does not exist");
                }
                mode.redirect = Some(id as u64);
            }
            b"bcast" => mode.bcast = true,
            b"optin" => mode.optin = true,
            b"optout" => mode.optout = true,
            b"noloop" => mode.noloop = true,
            b"prefix" if more => {
                j += 1;
                mode.prefixes.push(args[j].clone());
            }
            _ => return err(errors::SYNTAX),
        }
        j += 1;
    }
    if args[2].eq_ignore_ascii_case(b"off") {
        stop(ctx.shared, ctx.session);
        return Action::Reply(Reply::ok());
    }
    if !args[2].eq_ignore_ascii_case(b"on") {
        return err(errors::SYNTAX);
    }
    if !mode.bcast && !mode.prefixes.is_empty() {
        return err("ERR PREFIX option requires BCAST mode to be enabled");
    }
    if let Some(on) = &ctx.session.tracking {
        if on.bcast != mode.bcast {
            return err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return err("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if mode.optin && mode.optout {
        return err("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if let Some(on) = &ctx.session.tracking {
        if (mode.optin && on.optout) || (mode.optout && on.optin) {
            return err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
    }
    if mode.bcast && mode.prefixes.is_empty() {
        mode.prefixes.push(Bytes::new());
    }
    start(ctx, mode)
}

/// Turns tracking on in `mode`; BCAST answers once its prefixes are registered.
fn start(ctx: &mut Ctx<'_>, mut mode: Tracking) -> Action {
    let shared = ctx.shared.clone();
    let session = &mut *ctx.session;
    let id = session.id();
    let mailbox = session.mailbox();
    // Prefixes already registered stay; new ones are added.
    let had: Vec<Bytes> = session
        .tracking
        .as_ref()
        .map(|t| t.prefixes.clone())
        .unwrap_or_default();
    let mut seq = None;
    {
        let mut hub = shared.pubsub.hub();
        hub.start_tracking(
            id,
            Tracker {
                mailbox: (session.proto == Proto::Resp3).then(|| mailbox.clone()),
                redirect: mode.redirect,
            },
        );
        for prefix in &mode.prefixes {
            if !had.contains(prefix) {
                seq = Some(hub.add(SubKind::TrackingPrefix, prefix, id, &mailbox));
            }
        }
    }
    for prefix in had {
        if !mode.prefixes.contains(&prefix) {
            mode.prefixes.push(prefix);
        }
    }
    session.tracking = Some(mode);
    {
        let mut info = session.handle.info();
        info.tracking = true;
        info.redirect = session.tracking.as_ref().and_then(|t| t.redirect);
    }
    match seq {
        None => Action::Reply(Reply::ok()),
        Some(seq) => Action::Later(registered_then(&shared, seq, async { Reply::ok() }.boxed())),
    }
}

/// Turns the connection's tracking off (CLIENT TRACKING OFF, RESET, close).
pub(crate) fn stop(shared: &Shared, session: &mut Session) {
    let Some(mode) = session.tracking.take() else {
        return;
    };
    shared
        .pubsub
        .hub()
        .stop_tracking(session.id(), &mode.prefixes);
    shared.pubsub.changed();
    let mut info = session.handle.info();
    info.tracking = false;
    info.redirect = None;
}

/// `work` once every broker has change `seq` (or the request timeout passed).
fn registered_then(
    shared: &std::sync::Arc<Shared>,
    seq: u64,
    work: BoxFuture<'static, Reply>,
) -> BoxFuture<'static, Reply> {
    let shared = shared.clone();
    shared.pubsub.changed();
    async move {
        shared.pubsub.registered(seq, shared.router.timeout()).await;
        work.await
    }
    .boxed()
}

/// A read (`keys` of a read-only command) by a tracking connection: its
/// keys are tracked first, so a write after the read is never missed.
/// `work` is the read; it runs at once when every key was tracked already.
pub(crate) fn track_read(
    shared: &std::sync::Arc<Shared>,
    session: &mut Session,
    keys: Vec<Bytes>,
    work: BoxFuture<'static, Reply>,
) -> BoxFuture<'static, Reply> {
    let Some(mode) = session.tracking.as_mut() else {
        return work;
    };
    let tracks = mode.tracks_reads();
    mode.caching = None;
    if !tracks || keys.is_empty() {
        return work;
    }
    let id = session.id();
    let mailbox = session.mailbox();
    let mut seq = None;
    {
        let mut hub = shared.pubsub.hub();
        for key in &keys {
            if let Some(s) = hub.track(id, key, &mailbox) {
                seq = Some(s);
            }
        }
    }
    match seq {
        None => work,
        Some(seq) => registered_then(shared, seq, work),
    }
}

/// `CLIENT CACHING YES|NO`: whether the next command's keys are tracked
/// (OPTIN: only after YES; OPTOUT: not after NO).
pub(crate) fn caching(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    let Some(mode) = ctx.session.tracking.as_mut() else {
        return Action::Reply(Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if args[2].eq_ignore_ascii_case(b"yes") {
        if !mode.optin {
            return Action::Reply(Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        mode.caching = Some(true);
    } else if args[2].eq_ignore_ascii_case(b"no") {
        if !mode.optout {
            return Action::Reply(Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        mode.caching = Some(false);
    } else {
        return Action::Reply(Reply::error(errors::SYNTAX));
    }
    Action::Reply(Reply::ok())
}

/// `CLIENT GETREDIR`: -1 when tracking is off, 0 without a redirect.
pub(crate) fn getredir(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let id = match &ctx.session.tracking {
        None => -1,
        Some(t) => t.redirect.map_or(0, |r| r as i64),
    };
    Action::Reply(Reply::Int(id))
}

/// `CLIENT TRACKINGINFO`.
pub(crate) fn trackinginfo(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let flag = |f: &str| Reply::bulk(f.to_string());
    let (flags, redirect, prefixes) = match &ctx.session.tracking {
        None => (vec![flag("off")], -1, Vec::new()),
        Some(t) => {
            let mut flags = vec![flag("on")];
            for (on, name) in [
                (t.bcast, "bcast"),
                (t.optin, "optin"),
                (t.optout, "optout"),
                (t.caching == Some(true), "caching-yes"),
                (t.caching == Some(false), "caching-no"),
                (t.noloop, "noloop"),
            ] {
                if on {
                    flags.push(flag(name));
                }
            }
            let prefixes = if t.bcast {
                t.prefixes.iter().cloned().map(Reply::Bulk).collect()
            } else {
                Vec::new()
            };
            (flags, t.redirect.map_or(0, |r| r as i64), prefixes)
        }
    };
    Action::Reply(Reply::Map(vec![
        (Reply::bulk("flags"), Reply::Set(flags)),
        (Reply::bulk("redirect"), Reply::Int(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes)),
    ]))
}
