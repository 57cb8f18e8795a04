//! Keyspace-wide commands, answered per partition (the proxy fans them out
//! to every partition and merges: sums DBSIZE, ANDs FLUSHALL).

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::is_option;

/// `DBSIZE`: live (non-expired) keys in this partition. Scans every key.
pub(crate) fn dbsize(db: &mut Db<'_>, _args: &[Bytes]) -> CmdResult {
    let now = db.now_ms();
    let mut live = 0i64;
    db.scan_headers(&mut |header| {
        if header.is_live(now) {
            live += 1;
        }
    })?;
    Ok(Reply::Int(live))
}

/// `FLUSHALL [ASYNC|SYNC]` (also `FLUSHDB`): deletes every key of the
/// partition, metadata and elements, but not the replica's internal records.
/// Both modes are one range deletion, so both are "async" in cost.
pub(crate) fn flushall(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    match args {
        [_] => {}
        [_, mode] if is_option(mode, "sync") || is_option(mode, "async") => {}
        _ => return Err(CmdError::reply(errors::SYNTAX)),
    }
    // Flushing an empty partition changes nothing: no mutation.
    if db.has_user_records()? {
        db.flush();
    }
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use petrel_common::reply::errors::SYNTAX;

    use crate::cmd::testing::*;
    use crate::storage::layout;
    use crate::storage::{Mutation, ReadView, WriteOp};

    #[test]
    fn dbsize_counts_live_keys() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["dbsize"]), int(0));
        h.run(&["mset", "a", "1", "b", "2"]);
        h.run(&["set", "c", "3", "px", "10"]);
        h.seed_hash("h", 0);
        h.seed_hash("old", START_MS - 1);
        assert_eq!(h.run(&["dbsize"]), int(4));
        h.now += 11;
        assert_eq!(h.run(&["dbsize"]), int(3));
    }

    #[test]
    fn dbsize_reports_corruption() {
        let mut h = Harness::new();
        let bad = WriteOp::Put(layout::meta_key(b"x"), b"garbage".to_vec());
        h.apply(&Mutation { ops: vec![bad] });
        let reply = h.run(&["dbsize"]);
        assert!(matches!(reply, petrel_common::reply::Reply::Error(e) if e.contains("corrupt")));
    }

    #[test]
    fn flushall_clears_user_space_only() {
        let mut h = Harness::new();
        h.run(&["mset", "a", "1", "b", "2"]);
        let element = layout::element_key(b"h", 7, b"field");
        h.apply(&Mutation {
            ops: vec![WriteOp::Put(element.clone(), b"v".to_vec())],
        });
        h.seed_hash("h", 0);
        let exec = h.exec(&["flushdb"]);
        assert_eq!(exec.reply, ok());
        let (ms, me) = layout::meta_space();
        let (es, ee) = layout::element_space();
        assert_eq!(
            exec.mutation.ops,
            vec![WriteOp::DeleteRange(ms, me), WriteOp::DeleteRange(es, ee)]
        );
        h.apply(&exec.mutation);
        assert_eq!(h.run(&["dbsize"]), int(0));
        assert_eq!(h.run(&["get", "a"]), nil());
        assert_eq!(h.engine.get(&element).unwrap(), None);
        // The replica's own records survive.
        assert!(h.engine.get(layout::APPLIED_DECREE_KEY).unwrap().is_some());
        // Nothing left: flushing again changes nothing.
        assert!(h.exec(&["flushdb"]).mutation.is_empty());
    }

    #[test]
    fn flush_modes() {
        let mut h = Harness::new();
        for args in [
            &["flushdb", "async"][..],
            &["FLUSHDB", "SYNC"],
            &["flushdb"],
            &["flushdb", "Async"],
        ] {
            h.run(&["set", "k", "v"]);
            assert_eq!(h.run(args), ok(), "{args:?}");
            assert_eq!(h.run(&["exists", "k"]), int(0));
        }
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["flushdb", "foo"]), err(SYNTAX));
        assert_eq!(h.run(&["flushdb", "sync", "async"]), err(SYNTAX));
        assert_eq!(h.run(&["exists", "k"]), int(1));
    }
}
