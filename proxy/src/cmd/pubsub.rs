//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH,
//! PUBSUB and RESET. Subscriptions live in this proxy's hub
//! ([`crate::pubsub`]); messages travel through the channels' brokers.

use std::collections::BTreeSet;
use std::time::Instant;

use bytes::Bytes;
use futures::future::{join_all, FutureExt};
use petrel_common::pubsub::{
    brokers, Brokers, PubSubRequest, PubSubResponse, PublishMsg, QueryKind, QueryMsg,
};
use petrel_common::reply::Reply;

use crate::action::{Action, Ctx};
use crate::resp::Proto;
use crate::route::error::RouteError;
use crate::route::Target;
use crate::session::{Listen, Session};
use crate::state::Shared;

pub(crate) fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    listen(ctx, Listen::Channel, &args[1..])
}

pub(crate) fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    listen(ctx, Listen::Pattern, &args[1..])
}

pub(crate) fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    listen(ctx, Listen::Shard, &args[1..])
}

pub(crate) fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    stop(ctx, Listen::Channel, &args[1..])
}

pub(crate) fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    stop(ctx, Listen::Pattern, &args[1..])
}

pub(crate) fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    stop(ctx, Listen::Shard, &args[1..])
}

/// The confirmation Redis sends per name: `[verb, name, count]`.
fn confirmation(verb: &'static str, name: Option<&Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(verb.as_bytes())),
        name.map_or(Reply::Nil, |n| Reply::Bulk(n.clone())),
        Reply::Int(count as i64),
    ])
}

/// The answer once the brokers have change `seq` (or the request timeout
/// passed: the registrar keeps trying).
fn after_registered(ctx: &Ctx<'_>, seq: Option<u64>, replies: Vec<Reply>) -> Action {
    let reply = Reply::Frames(replies);
    let Some(seq) = seq else {
        return Action::Reply(reply);
    };
    let shared = ctx.shared.clone();
    shared.pubsub.changed();
    Action::Later(
        async move {
            let limit = shared.router.timeout();
            shared.pubsub.registered(seq, limit).await;
            reply
        }
        .boxed(),
    )
}

fn listen(ctx: &mut Ctx<'_>, kind: Listen, names: &[Bytes]) -> Action {
    let verb = match kind {
        Listen::Channel => "subscribe",
        Listen::Pattern => "psubscribe",
        Listen::Shard => "ssubscribe",
    };
    let session = &mut *ctx.session;
    let id = session.id();
    let mailbox = session.mailbox();
    let mut seq = None;
    let mut replies = Vec::with_capacity(names.len());
    {
        let mut hub = ctx.shared.pubsub.hub();
        for name in names {
            if session.subs.of(kind).insert(name.clone()) {
                seq = Some(hub.add(kind.kind(), name, id, &mailbox));
            }
            replies.push(confirmation(verb, Some(name), session.subs.count(kind)));
        }
    }
    session.handle.info().subs = session.subs.counts();
    after_registered(ctx, seq, replies)
}

fn stop(ctx: &mut Ctx<'_>, kind: Listen, names: &[Bytes]) -> Action {
    let verb = match kind {
        Listen::Channel => "unsubscribe",
        Listen::Pattern => "punsubscribe",
        Listen::Shard => "sunsubscribe",
    };
    let session = &mut *ctx.session;
    let id = session.id();
    let names: Vec<Bytes> = if names.is_empty() {
        session.subs.of(kind).iter().cloned().collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        let count = session.subs.count(kind);
        return Action::Reply(Reply::Frames(vec![confirmation(verb, None, count)]));
    }
    let mut seq = None;
    let mut replies = Vec::with_capacity(names.len());
    {
        let mut hub = ctx.shared.pubsub.hub();
        for name in &names {
            if session.subs.of(kind).shift_remove(name) {
                seq = Some(hub.remove(kind.kind(), name, id));
            }
            replies.push(confirmation(verb, Some(name), session.subs.count(kind)));
        }
    }
    session.handle.info().subs = session.subs.counts();
    after_registered(ctx, seq, replies)
}

/// Leaves every channel, pattern and shard channel (RESET, a closed connection).
pub(crate) fn leave_all(shared: &Shared, session: &mut Session) {
    if !session.subs.any() {
        return;
    }
    let id = session.id();
    {
        let mut hub = shared.pubsub.hub();
        for kind in [Listen::Channel, Listen::Pattern, Listen::Shard] {
            for name in session.subs.of(kind).drain(..) {
                hub.remove(kind.kind(), &name, id);
            }
        }
    }
    session.handle.info().subs = session.subs.counts();
    shared.pubsub.changed();
}

/// A request to the broker of `target`.
async fn ask(
    shared: &Shared,
    target: Target,
    req: PubSubRequest,
) -> Result<PubSubResponse, RouteError> {
    crate::pubsub::publish::ask(&shared.router, target, req).await
}

fn publishing(ctx: &Ctx<'_>, args: &[Bytes], shard: bool) -> Action {
    let shared = ctx.shared.clone();
    let message = PublishMsg {
        channel: args[1].clone(),
        message: args[2].clone(),
        shard,
        audience: Default::default(),
    };
    Action::Later(
        async move { crate::pubsub::publish::publish(&shared.router, message).await }.boxed(),
    )
}

/// `PUBLISH channel message`: the number of clients (on every proxy) it
/// was queued for.
pub(crate) fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    publishing(ctx, args, false)
}

/// `SPUBLISH shardchannel message`.
pub(crate) fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    publishing(ctx, args, true)
}

fn query(kind: QueryKind, args: Vec<Bytes>) -> PubSubRequest {
    PubSubRequest {
        query: Some(QueryMsg {
            kind: kind as i32,
            args,
        }),
        ..PubSubRequest::default()
    }
}

/// Channels with listeners on every partition (`PUBSUB CHANNELS` and
/// `SHARDCHANNELS`), matching the pattern when one is given.
fn channels(ctx: &Ctx<'_>, args: &[Bytes], kind: QueryKind) -> Action {
    if args.len() > 3 {
        return Action::Reply(crate::cmd::help::subcommand_syntax_error(args));
    }
    let shared = ctx.shared.clone();
    let pattern: Vec<Bytes> = args.get(2).cloned().into_iter().collect();
    Action::Later(
        async move {
            let deadline = Instant::now() + shared.router.timeout();
            let map = match shared.router.maps().wait_for_map(deadline).await {
                Ok(map) => map,
                Err(e) => return e.into_reply(),
            };
            let asks = (0..map.partition_count).map(|pid| {
                ask(
                    &shared,
                    Target::Partition(pid),
                    query(kind, pattern.clone()),
                )
            });
            let mut names = BTreeSet::new();
            for answer in join_all(asks).await {
                match answer {
                    Ok(r) => names.extend(r.names),
                    Err(e) => return e.into_reply(),
                }
            }
            Reply::Array(names.into_iter().map(Reply::Bulk).collect())
        }
        .boxed(),
    )
}

/// Listener counts per channel (`PUBSUB NUMSUB`, `SHARDNUMSUB`): each
/// asked of its broker.
fn numsub(ctx: &Ctx<'_>, args: &[Bytes], kind: QueryKind) -> Action {
    let shared = ctx.shared.clone();
    let channels: Vec<Bytes> = args[2..].to_vec();
    Action::Later(
        async move {
            let asks = channels.iter().map(|c| {
                let target = match (kind, brokers(c)) {
                    (QueryKind::NumSub, Brokers::Every) => Target::Partition(0),
                    (QueryKind::NumSub, Brokers::Key(k)) => Target::Key(Bytes::copy_from_slice(k)),
                    _ => Target::Key(c.clone()),
                };
                ask(&shared, target, query(kind, vec![c.clone()]))
            });
            let mut out = Vec::with_capacity(channels.len() * 2);
            for (channel, answer) in channels.iter().zip(join_all(asks).await) {
                match answer {
                    Ok(r) => {
                        out.push(Reply::Bulk(channel.clone()));
                        out.push(Reply::Int(r.counts.first().copied().unwrap_or(0)));
                    }
                    Err(e) => return e.into_reply(),
                }
            }
            Reply::Array(out)
        }
        .boxed(),
    )
}

pub(crate) fn pubsub_channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    channels(ctx, args, QueryKind::Channels)
}

pub(crate) fn pubsub_shardchannels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    channels(ctx, args, QueryKind::ShardChannels)
}

pub(crate) fn pubsub_numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    numsub(ctx, args, QueryKind::NumSub)
}

pub(crate) fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    numsub(ctx, args, QueryKind::ShardNumSub)
}

/// `PUBSUB NUMPAT`: patterns are registered with every partition, so one
/// partition knows them all.
pub(crate) fn pubsub_numpat(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            match ask(
                &shared,
                Target::Partition(0),
                query(QueryKind::Patterns, Vec::new()),
            )
            .await
            {
                Ok(r) => Reply::Int(r.names.len() as i64),
                Err(e) => e.into_reply(),
            }
        }
        .boxed(),
    )
}

pub(crate) fn pubsub_help(_: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    crate::cmd::help::help_reply(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}

/// `RESET`: the connection as it was when it opened (RESP2, database 0,
/// the default user, no transaction, watches or subscriptions), name kept.
pub(crate) fn reset(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    let session = &mut *ctx.session;
    leave_all(&shared, session);
    super::tracking::stop(&shared, session);
    session.tx = None;
    session.unwatch();
    session.set_proto(Proto::Resp2);
    session.db = 0;
    session.reply_off = false;
    session.skip_next = false;
    session.user = "default".to_string();
    session.authenticated = !shared.password_required();
    {
        let mut info = session.handle.info();
        info.db = 0;
        info.multi = -1;
        info.no_evict = false;
        info.no_touch = false;
    }
    Action::Reply(Reply::Status("RESET".into()))
}
