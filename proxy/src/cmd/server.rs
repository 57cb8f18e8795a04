//! Server commands: FLUSHALL fans FLUSHDB out to every partition of every
//! database (DBSIZE and FLUSHDB fan out by the table's word); INFO, CONFIG, COMMAND, TIME,
//! LASTSAVE, WAIT, SLOWLOG, FUNCTION / SCRIPT housekeeping and the other
//! MEMORY subcommands are answered by the proxy ([`admin`], [`slowlog`],
//! [`scripting`], [`memory`]).

pub(crate) mod admin;
pub(crate) mod memory;
pub(crate) mod scripting;
pub(crate) mod slowlog;

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::util::one_line;
use petrel_common::command::Merge;

/// `FLUSHALL [ASYNC|SYNC]`: every database, i.e. database 0's table and
/// each `<table>.db<n>` that exists, every partition of each.
pub(crate) fn flushall(ctx: &mut crate::action::Ctx<'_>, args: &[Bytes]) -> crate::action::Action {
    ctx.touches = Some(crate::action::Touches {
        keys: Vec::new(),
        all: true,
        write: true,
    });
    // Each partition runs FLUSHDB, which takes FLUSHALL's arguments.
    let Some(flushdb) = petrel_common::command::table().find(b"flushdb") else {
        return crate::action::Action::Reply(Reply::error("ERR flushdb is not in the table"));
    };
    let shared = ctx.shared.clone();
    let mut args = args.to_vec();
    args[0] = Bytes::from_static(b"flushdb");
    crate::action::Action::Later(Box::pin(async move {
        let deadline = std::time::Instant::now() + shared.router.timeout();
        // Database 0 first: it also checks the arguments.
        let first = crate::route::split::fan_out(
            &shared.router,
            flushdb,
            Merge::Ok,
            args.clone(),
            deadline,
        )
        .await;
        if first.is_error() {
            return first;
        }
        for db in 1..shared.config.databases {
            match shared.databases.exists(db).await {
                Ok(false) => continue,
                Ok(true) => {
                    let router = shared.databases.router(db);
                    let r = crate::route::split::fan_out(
                        &router,
                        flushdb,
                        Merge::Ok,
                        args.clone(),
                        deadline,
                    )
                    .await;
                    if r.is_error() {
                        return r;
                    }
                }
                Err(e) => {
                    return Reply::error(one_line(&format!(
                        "ERR FLUSHALL could not list database {db}: {e}"
                    )))
                }
            }
        }
        Reply::ok()
    }))
}
