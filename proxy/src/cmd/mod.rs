//! The commands the proxy answers itself, by family, and the index from the
//! one command table (`petrel_common::command`) to their handlers.
//!
//! The table says everything about a command (arity, flags, keys, ACL
//! categories, docs, and whether the proxy, a partition or several run it);
//! this module only adds, for the commands the table marks
//! [`Exec::Proxy`](petrel_common::command::Exec::Proxy), the function that
//! answers them.
//!
//! - [`connection`]: PING, ECHO, QUIT, SELECT, AUTH, HELLO; [`client`]: CLIENT.
//! - [`server`]: FLUSHALL, TIME, LASTSAVE, WAIT, MEMORY, SLOWLOG, SCRIPT,
//!   FUNCTION; [`info`], [`config`], [`command`].
//! - [`keyspace`]: SCAN, RANDOMKEY, MOVE, OBJECT HELP (several partitions).
//! - [`hll`]: PFSELFTEST (the HLL code is the servers').
//! - [`transactions`]: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//! - [`acl`]: the ACL command.
//! - [`pubsub`]: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB, RESET.
//! - [`streams`]: XGROUP HELP and XINFO HELP.

pub(crate) mod acl;
pub(crate) mod client;
pub(crate) mod command;
pub(crate) mod config;
pub(crate) mod connection;
pub(crate) mod help;
pub(crate) mod hll;
pub(crate) mod info;
pub(crate) mod keyspace;
pub(crate) mod pubsub;
pub(crate) mod server;
pub(crate) mod streams;
pub(crate) mod tracking;
pub(crate) mod transactions;

use std::sync::LazyLock;

use petrel_common::command::{table, Command};

pub(crate) use crate::action::LocalFn;

/// Every command the proxy answers, by full name in the command table.
const LOCAL: &[(&str, LocalFn)] = &[
    ("ping", connection::ping),
    ("echo", connection::echo),
    ("quit", connection::quit),
    ("select", connection::select),
    ("auth", connection::auth),
    ("hello", connection::hello),
    ("client|setname", client::setname),
    ("client|getname", client::getname),
    ("client|id", client::id),
    ("client|info", client::info),
    ("client|list", client::list),
    ("client|kill", client::kill),
    ("client|no-evict", client::no_evict),
    ("client|no-touch", client::no_touch),
    ("client|reply", client::reply),
    ("client|help", client::help),
    ("client|setinfo", client::setinfo),
    ("client|pause", client::pause),
    ("client|unpause", client::unpause),
    ("client|tracking", tracking::tracking),
    ("client|caching", tracking::caching),
    ("client|getredir", tracking::getredir),
    ("client|trackinginfo", tracking::trackinginfo),
    ("client|unblock", client::unblock),
    ("scan", keyspace::scan),
    ("randomkey", keyspace::randomkey),
    ("move", keyspace::move_key),
    ("object|help", keyspace::object_help),
    ("xgroup|help", streams::xgroup_help),
    ("xinfo|help", streams::xinfo_help),
    ("flushall", server::flushall),
    ("info", info::info),
    ("time", server::admin::time),
    ("lastsave", server::admin::lastsave),
    ("wait", server::admin::wait),
    ("pfselftest", hll::selftest),
    ("config|get", config::get),
    ("config|set", config::set),
    ("config|resetstat", config::resetstat),
    ("config|help", config::help),
    ("command", command::command),
    ("command|count", command::count),
    ("command|docs", command::docs),
    ("command|info", command::info),
    ("command|list", command::list),
    ("command|getkeys", command::getkeys),
    ("command|help", command::help),
    ("function|flush", server::scripting::function_flush),
    ("function|kill", server::scripting::function_kill),
    ("function|list", server::scripting::function_list),
    ("function|help", server::scripting::function_help),
    ("function|load", server::scripting::function_load),
    ("function|delete", server::scripting::function_delete),
    ("function|dump", server::scripting::function_dump),
    ("function|restore", server::scripting::function_restore),
    ("function|stats", server::scripting::function_stats),
    ("fcall", server::scripting::fcall),
    ("fcall_ro", server::scripting::fcall_ro),
    ("script|flush", server::scripting::script_flush),
    ("script|exists", server::scripting::script_exists),
    ("script|kill", server::scripting::script_kill),
    ("script|load", server::scripting::script_load),
    ("eval", server::scripting::eval),
    ("eval_ro", server::scripting::eval_ro),
    ("evalsha", server::scripting::evalsha),
    ("evalsha_ro", server::scripting::evalsha_ro),
    ("script|help", server::scripting::script_help),
    ("memory|doctor", server::memory::doctor),
    ("memory|stats", server::memory::stats),
    ("memory|malloc-stats", server::memory::malloc_stats),
    ("memory|purge", server::memory::purge),
    ("memory|help", server::memory::help),
    ("slowlog|get", server::slowlog::get),
    ("slowlog|len", server::slowlog::len),
    ("slowlog|reset", server::slowlog::reset),
    ("slowlog|help", server::slowlog::help),
    ("multi", transactions::multi),
    ("exec", transactions::exec),
    ("discard", transactions::discard),
    ("watch", transactions::watch),
    ("unwatch", transactions::unwatch),
    ("acl|setuser", acl::setuser),
    ("acl|deluser", acl::deluser),
    ("acl|list", acl::list),
    ("acl|users", acl::users),
    ("acl|whoami", acl::whoami),
    ("acl|getuser", acl::getuser),
    ("acl|cat", acl::cat),
    ("acl|genpass", acl::genpass),
    ("acl|help", acl::help),
    ("subscribe", pubsub::subscribe),
    ("psubscribe", pubsub::psubscribe),
    ("ssubscribe", pubsub::ssubscribe),
    ("unsubscribe", pubsub::unsubscribe),
    ("punsubscribe", pubsub::punsubscribe),
    ("sunsubscribe", pubsub::sunsubscribe),
    ("publish", pubsub::publish),
    ("spublish", pubsub::spublish),
    ("pubsub|channels", pubsub::pubsub_channels),
    ("pubsub|numsub", pubsub::pubsub_numsub),
    ("pubsub|numpat", pubsub::pubsub_numpat),
    ("pubsub|shardchannels", pubsub::pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub::pubsub_shardnumsub),
    ("pubsub|help", pubsub::pubsub_help),
    ("reset", pubsub::reset),
];

/// The handler of a command the proxy answers itself, by id (names are
/// resolved once, when this index is built).
pub(crate) fn local_handler(command: &Command) -> Option<LocalFn> {
    static BY_ID: LazyLock<Vec<Option<LocalFn>>> = LazyLock::new(|| {
        let table = table();
        let mut by_id = vec![None; table.len()];
        for (name, handler) in LOCAL {
            if let Some(c) = table.find(name.as_bytes()) {
                by_id[usize::from(c.id.0)] = Some(*handler);
            }
        }
        by_id
    });
    BY_ID.get(usize::from(command.id.0)).copied().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::command::Exec;

    #[test]
    fn handlers_and_the_table_agree() {
        let table = table();
        let mut seen = std::collections::HashSet::new();
        for (name, _) in LOCAL {
            assert!(seen.insert(name), "{name} is listed twice");
            let c = table
                .find(name.as_bytes())
                .unwrap_or_else(|| panic!("{name} is not in the command table"));
            assert_eq!(c.name(), *name);
            assert_eq!(c.exec(), Exec::Proxy, "{name}");
        }
        for c in table.iter().filter(|c| c.exec() == Exec::Proxy) {
            assert!(local_handler(c).is_some(), "{} has no handler", c.name());
        }
    }
}
