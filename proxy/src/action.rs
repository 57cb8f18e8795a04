//! What a command handler returns and may use ([`Action`], [`Ctx`]), and
//! what a routed command touches ([`Touches`]), below the handlers
//! (`cmd`) and the dispatcher that picks them.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use petrel_common::command::{Command, Exec};
use petrel_common::reply::Reply;

use crate::session::Session;
use crate::state::Shared;

/// What the connection does with a command.
pub(crate) enum Action {
    /// Reply now.
    Reply(Reply),
    /// Reply when the future completes (routed commands, INFO).
    Later(BoxFuture<'static, Reply>),
    /// Reply, then close the connection (QUIT).
    Close(Reply),
    /// Send nothing (CLIENT REPLY OFF / SKIP).
    NoReply,
}

/// A handler for a command the proxy answers itself.
pub(crate) type LocalFn = fn(&mut Ctx<'_>, &[Bytes]) -> Action;

/// What a local command handler may use.
pub(crate) struct Ctx<'a> {
    pub(crate) session: &'a mut Session,
    pub(crate) shared: &'a Arc<Shared>,
    /// The handler of any command the proxy answers (EXEC runs queued ones).
    pub(crate) handlers: fn(&Command) -> Option<LocalFn>,
    /// Full name of the running command (`client|list`).
    pub(crate) name: &'static str,
    /// Keys a handler's `Action::Later` touches (EXEC, WATCH), to keep one
    /// client's commands in order.
    pub(crate) touches: Option<Touches>,
}

/// The data a routed command reads or writes.
///
/// Servers run requests concurrently, so two pipelined commands of one
/// client on the same key must not both be in flight: the later one waits
/// for the earlier one, as Redis's one-command-at-a-time order promises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Touches {
    /// Sorted hashes of the keys.
    pub(crate) keys: Vec<u64>,
    /// Every key (DBSIZE, FLUSHALL).
    pub(crate) all: bool,
    pub(crate) write: bool,
}

impl Touches {
    /// Whether running `self` concurrently with `other` could reorder their effects.
    pub(crate) fn conflicts(&self, other: &Touches) -> bool {
        if !self.write && !other.write {
            return false;
        }
        if self.all || other.all {
            return true;
        }
        let (small, big) = if self.keys.len() <= other.keys.len() {
            (&self.keys, &other.keys)
        } else {
            (&other.keys, &self.keys)
        };
        small.iter().any(|k| big.binary_search(k).is_ok())
    }

    /// What `command` called with `args` touches.
    pub(crate) fn of(command: &Command, args: &[Bytes]) -> Touches {
        let mut hashes = Vec::new();
        // Every routed request comes through here: keys are hashed as the
        // key specs find them, with no list of positions in between.
        let _ = command.for_each_key(args, |i, _| {
            if let Some(k) = args.get(i) {
                hashes.push(Touches::hash(k));
            }
        });
        // A read that may write (PFCOUNT refreshing its cache) is ordered
        // as a write: a GET pipelined after it sees what it stored.
        let write = command.is_write() || command.may_replicate();
        let mut t = Touches::from_hashes(hashes, write);
        t.all = matches!(command.exec(), Exec::FanOut(_));
        t
    }

    /// What touching `keys` (writing them or not) amounts to.
    pub(crate) fn keys<K: AsRef<[u8]>>(keys: &[K], write: bool) -> Touches {
        let hashes = keys.iter().map(|k| Touches::hash(k.as_ref())).collect();
        Touches::from_hashes(hashes, write)
    }

    /// Every key, written: what runs after it waits for it (a change of
    /// the cluster settings).
    pub(crate) fn everything() -> Touches {
        Touches {
            keys: Vec::new(),
            all: true,
            write: true,
        }
    }

    fn hash(key: &[u8]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(key, &mut h);
        std::hash::Hasher::finish(&h)
    }

    fn from_hashes(mut hashes: Vec<u64>, write: bool) -> Touches {
        hashes.sort_unstable();
        hashes.dedup();
        Touches {
            keys: hashes,
            all: false,
            write,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::command::table;

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn conflicts_need_a_shared_key_and_a_write() {
        let t = |name: &str, a: &[&str]| {
            let spec = table().find(name.as_bytes()).expect("known");
            let mut v = args(&[name]);
            v.extend(args(a));
            Touches::of(spec, &v)
        };
        assert!(t("set", &["k", "v"]).conflicts(&t("get", &["k"])));
        assert!(!t("set", &["k", "v"]).conflicts(&t("get", &["j"])));
        assert!(!t("get", &["k"]).conflicts(&t("mget", &["j", "k"])));
        assert!(t("mset", &["a", "1", "k", "2"]).conflicts(&t("get", &["k"])));
        assert!(!t("mset", &["a", "1", "k", "2"]).conflicts(&t("get", &["1"])));
        assert!(t("flushdb", &[]).conflicts(&t("get", &["x"])));
        assert!(!t("dbsize", &[]).conflicts(&t("get", &["x"])));
        assert!(t("dbsize", &[]).conflicts(&t("set", &["x", "y"])));
        assert!(t("pfcount", &["k"]).conflicts(&t("get", &["k"])));
        assert!(!t("pfcount", &["k"]).conflicts(&t("get", &["j"])));
    }
}
