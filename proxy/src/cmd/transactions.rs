//! `MULTI EXEC DISCARD WATCH UNWATCH`, kept by the proxy per connection.
//!
//! Between `MULTI` and `EXEC` commands are checked (name, arity,
//! authentication) and queued; a rejected one makes `EXEC` answer
//! `EXECABORT`, as in Redis. When every key of the queued data commands and
//! every watched key is in one partition, `EXEC` sends the commands, with
//! the watched keys and the fingerprints `WATCH` read, to its primary as one
//! internal `petrel.exec` command, which runs them atomically as one
//! replicated mutation (see the server's `cmd::multi`). Otherwise they run
//! as one transaction across partitions (`crate::txn`), read-only blocks
//! included: atomic, the watched keys checked under the transaction's locks
//! (one changed: the null reply, nothing applied). Commands the proxy
//! answers itself (`PING`, `ECHO`...) are answered in their place in the
//! reply. A block that holds a script or function (`EVAL`, `FCALL`...)
//! runs whole at this proxy as one transaction, scripts included
//! (`crate::script::run_block`). Commands that run on every partition (`DBSIZE`, `FLUSHALL`, `KEYS`, `SCAN`...)
//! cannot be part of an atomic transaction and are rejected when queued.

use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::reply::{errors, Reply};

use petrel_common::command::{table, Command, Exec, Internal};
use petrel_script::held_publish;

use crate::action::{Action, Ctx, Touches};
use crate::cmd::server::scripting::{is_script_command, queued_script};
use crate::route::Target;
use crate::script::session::BlockItem;
use crate::session::Transaction;
use crate::txn::{self, Call, Kind, Ran};

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// Whether the command runs right away inside `MULTI` instead of being queued.
pub(crate) fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit")
}

/// Why `spec` cannot be queued, if it cannot.
pub(crate) fn cannot_queue(spec: &Command) -> Option<String> {
    if spec.name() == "flushall" || matches!(spec.exec(), Exec::FanOut(_)) {
        return Some(format!(
            "ERR '{}' cannot be part of a transaction: it runs on every partition",
            spec.name()
        ));
    }
    None
}

pub(crate) fn multi(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    if ctx.session.tx.is_some() {
        return Action::Reply(Reply::error("ERR MULTI calls can not be nested"));
    }
    ctx.session.tx = Some(Transaction::default());
    ctx.session.handle.info().multi = 0;
    Action::Reply(Reply::ok())
}

pub(crate) fn discard(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    if ctx.session.tx.take().is_none() {
        return Action::Reply(Reply::error("ERR DISCARD without MULTI"));
    }
    ctx.session.handle.info().multi = -1;
    ctx.session.unwatch();
    Action::Reply(Reply::ok())
}

pub(crate) fn unwatch(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    ctx.session.unwatch();
    Action::Reply(Reply::ok())
}

/// `WATCH key...`: reads each key's fingerprint from its primary.
pub(crate) fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Action {
    if ctx.session.tx.is_some() {
        return Action::Reply(Reply::error("ERR WATCH inside MULTI is not allowed"));
    }
    let keys: Vec<Bytes> = args[1..].to_vec();
    // Ordered like a write on its keys, so a later EXEC waits for it.
    ctx.touches = Some(Touches::keys(&keys, true));
    let watch = ctx.session.watch.clone();
    let generation = crate::session::lock(&watch).generation;
    let router = ctx.shared.router_for(ctx.session.db);
    Action::Later(
        async move {
            let deadline = Instant::now() + router.timeout();
            let mut seen = Vec::new();
            for key in keys {
                let args = vec![Bytes::from_static(b"petrel.fingerprint"), key.clone()];
                let fingerprint_cmd = table().internal(Internal::Fingerprint);
                let fingerprint = match router
                    .call(
                        Target::Key(key.clone()),
                        fingerprint_cmd,
                        args,
                        false,
                        deadline,
                    )
                    .await
                {
                    Ok(Reply::Int(n)) => n,
                    Ok(Reply::Error(e)) => return Reply::Error(e),
                    Ok(_) => return Reply::error("ERR unexpected fingerprint reply"),
                    Err(e) => return e.into_reply(),
                };
                seen.push((key, fingerprint));
            }
            let mut w = crate::session::lock(&watch);
            // An UNWATCH, EXEC or DISCARD sent after this WATCH already ran.
            if w.generation == generation {
                w.keys.extend(seen);
            }
            Reply::ok()
        }
        .boxed(),
    )
}

/// One queued command's place in the `EXEC` reply.
enum Slot {
    Ready(Reply),
    Later(BoxFuture<'static, Reply>),
    /// The next reply of the `petrel.exec` batch.
    Data,
}

/// Runs a queued command the proxy answers itself: its reply, or the
/// future that gives it.
fn run_local(
    ctx: &mut Ctx<'_>,
    spec: &'static Command,
    args: &[Bytes],
) -> Result<Reply, BoxFuture<'static, Reply>> {
    let Some(handler) = (ctx.handlers)(spec) else {
        return Ok(Reply::Error(crate::util::unknown_command(args)));
    };
    let mut inner = Ctx {
        session: ctx.session,
        shared: ctx.shared,
        handlers: ctx.handlers,
        name: spec.name(),
        touches: None,
    };
    match handler(&mut inner, args) {
        Action::Reply(r) | Action::Close(r) => Ok(r),
        Action::NoReply => Ok(Reply::ok()),
        Action::Later(f) => Err(f),
    }
}

/// EXEC of a block that holds a script or function (or a SORT whose
/// patterns name keys, `crate::txn::sort`): the whole block runs
/// at this proxy as one transaction (`crate::script::run_block`), each
/// data command and each `redis.call` a round at its key's primary, so the
/// scripts are inside the block's atomic step. Commands the proxy answers
/// are answered first, in their place, except `PUBLISH` and `SPUBLISH`:
/// held with the scripts' messages, sent in order once the block commits
/// (never when it aborts), their counts then in their place.
fn exec_with_scripts(ctx: &mut Ctx<'_>, tx: Transaction, watched: Vec<(Bytes, i64)>) -> Action {
    enum Queued {
        Item(BlockItem),
        Later(BoxFuture<'static, Reply>),
        Script(&'static str, Vec<Bytes>),
    }
    let mut queued = Vec::with_capacity(tx.queued.len());
    for (spec, args) in tx.queued {
        queued.push(match spec.exec() {
            Exec::Proxy if is_script_command(spec.name()) => Queued::Script(spec.name(), args),
            Exec::Proxy => match held_publish(spec.name(), &args) {
                Some(message) => Queued::Item(BlockItem::Publish(message)),
                None => match run_local(ctx, spec, &args) {
                    Ok(r) => Queued::Item(BlockItem::Reply(r)),
                    Err(f) => Queued::Later(f),
                },
            },
            Exec::Container | Exec::Unserved | Exec::Internal => Queued::Item(BlockItem::Reply(
                Reply::Error(errors::wrong_arity(spec.name())),
            )),
            Exec::Partition | Exec::Split(_) | Exec::SameSlot | Exec::FanOut(_) => {
                Queued::Item(BlockItem::Command(args))
            }
        });
    }
    // A script may touch any key: the block is ordered against everything.
    let mut touches = Touches::keys::<Bytes>(&[], true);
    touches.all = true;
    ctx.touches = Some(touches);
    let acl = ctx.shared.acl.limits(&ctx.session.user);
    let router = ctx.shared.router_for(ctx.session.db);
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            let mut items = Vec::with_capacity(queued.len());
            for q in queued {
                items.push(match q {
                    Queued::Item(item) => item,
                    Queued::Later(f) => BlockItem::Reply(f.await),
                    Queued::Script(name, args) => {
                        match queued_script(&shared, name, &args, acl.clone()).await {
                            Ok(script) => BlockItem::Script(script),
                            Err(e) => BlockItem::Reply(e),
                        }
                    }
                });
            }
            crate::script::run_block(&router, &shared.router, watched, items, acl).await
        }
        .boxed(),
    )
}

pub(crate) fn exec(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let Some(tx) = ctx.session.tx.take() else {
        return Action::Reply(Reply::error("ERR EXEC without MULTI"));
    };
    ctx.session.handle.info().multi = -1;
    let watched = ctx.session.unwatch();
    if tx.failed {
        return Action::Reply(Reply::error(EXECABORT));
    }
    // A SORT whose patterns name keys learns them only as it runs: the
    // block runs at the proxy as one transaction, as with a script.
    if tx.queued.iter().any(|(spec, args)| {
        is_script_command(spec.name())
            || (matches!(spec.name(), "sort" | "sort_ro") && txn::sort::names_keys(spec, args))
    }) {
        return exec_with_scripts(ctx, tx, watched);
    }
    let mut batch = vec![
        Bytes::from_static(b"petrel.exec"),
        Bytes::from(watched.len().to_string()),
    ];
    let mut keys: Vec<Bytes> = Vec::new();
    for (key, fingerprint) in &watched {
        batch.push(key.clone());
        batch.push(Bytes::from(fingerprint.to_string()));
        keys.push(key.clone());
    }
    let mut slots = Vec::new();
    let mut data = 0;
    let mut calls = Vec::new();
    for (spec, args) in tx.queued {
        match spec.exec() {
            Exec::Proxy => slots.push(match run_local(ctx, spec, &args) {
                Ok(r) => Slot::Ready(r),
                Err(f) => Slot::Later(f),
            }),
            Exec::Container | Exec::Unserved | Exec::Internal => {
                slots.push(Slot::Ready(Reply::Error(errors::wrong_arity(spec.name()))))
            }
            Exec::Partition | Exec::Split(_) | Exec::SameSlot | Exec::FanOut(_) => {
                keys.extend(
                    spec.key_positions(&args)
                        .into_iter()
                        .filter_map(|i| args.get(i).cloned()),
                );
                batch.push(Bytes::from(spec.id.0.to_string()));
                batch.push(Bytes::from(args.len().to_string()));
                batch.extend(args.iter().cloned());
                calls.push(Call {
                    command: spec,
                    args,
                });
                slots.push(Slot::Data);
                data += 1;
            }
        }
    }
    ctx.touches = Some(Touches::keys(&keys, true));
    let router = ctx.shared.router_for(ctx.session.db);
    Action::Later(
        async move {
            let mut results: std::vec::IntoIter<Reply> = Vec::new().into_iter();
            if data > 0 || !watched.is_empty() {
                let deadline = Instant::now() + router.timeout();
                match txn::run(&router, &calls, &watched, Kind::Multi, deadline).await {
                    Err(e) => return e.into_reply(),
                    Ok(Ran::Txn(ending)) => match txn::exec_replies(ending, data) {
                        Ok(items) => results = items.into_iter(),
                        Err(reply) => return reply,
                    },
                    Ok(Ran::OnePartition) => {
                        let Some(first) = keys.first().cloned() else {
                            return Reply::error("ERR a transaction of data commands without keys");
                        };
                        let exec_cmd = table().internal(Internal::Exec);
                        match router
                            .call(Target::Key(first), exec_cmd, batch, true, deadline)
                            .await
                        {
                            Ok(Reply::NilArray) => return Reply::NilArray,
                            Ok(Reply::Array(items)) if items.len() == data => {
                                results = items.into_iter()
                            }
                            Ok(Reply::Error(e)) => return Reply::Error(e),
                            Ok(_) => return Reply::error("ERR unexpected reply to a transaction"),
                            Err(e) => return e.into_reply(),
                        }
                    }
                }
            }
            let mut out = Vec::with_capacity(slots.len());
            for slot in slots {
                out.push(match slot {
                    Slot::Ready(r) => r,
                    Slot::Later(f) => f.await,
                    Slot::Data => results.next().unwrap_or(Reply::NilArray),
                });
            }
            Reply::Array(out)
        }
        .boxed(),
    )
}
