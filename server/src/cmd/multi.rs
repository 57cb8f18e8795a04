//! Transactions: `MULTI ... EXEC` arrives from the proxy as one internal
//! command, `petrel.exec`, run atomically as one mutation at the primary of
//! the partition every key of the transaction lives in; `WATCH` as
//! `petrel.fingerprint`.
//!
//! `petrel.exec <nwatch> [<key> <fingerprint>]... [<id> <argc> <arg>...]...`:
//! the watched keys with the fingerprints the proxy read at `WATCH` time,
//! then the queued commands, each named by its id in the command table. When a watched key's fingerprint changed the
//! reply is the null array and nothing is written (Redis's aborted EXEC).
//! Otherwise the commands run in order against one [`Db`], each seeing the
//! writes of those before it; a command that fails with an error reply
//! leaves no writes (Redis checks before writing too) and the others still
//! run, as in Redis. The reply is the array of their replies.
//!
//! A fingerprint is a CRC-64 over the key's live metadata record and every
//! element record, so any write to the key (including an expiry, or a new
//! version from SET) changes it; 0 means the key does not exist. Unlike
//! Redis, a key changed and then restored to identical bytes between WATCH
//! and EXEC does not abort the transaction.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::db::Db;
use petrel_common::command::{self, CommandId};

use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::runner_of;
use crate::storage::layout::{self, KeyType};
use crate::storage::StorageError;

static FINGERPRINT_CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_ECMA_182);

/// `petrel.fingerprint <key>`: the key's fingerprint (0 when missing).
pub(crate) fn fingerprint_cmd(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let fp = fingerprint(db, &args[1])?;
    // Replies are signed; the proxy hands the same bits back.
    Ok(Reply::Int(fp as i64))
}

/// The fingerprint of `key` as `db` sees it now.
pub(crate) fn fingerprint(db: &Db<'_>, key: &[u8]) -> Result<u64, StorageError> {
    let Some(entry) = db.lookup(key)? else {
        return Ok(0);
    };
    let mut digest = FINGERPRINT_CRC.digest();
    digest.update(&layout::encode_meta(&entry.header, &entry.payload));
    if entry.header.key_type != KeyType::String {
        db.each_element(key, entry.header.version, &mut |element, value| {
            digest.update(&(element.len() as u64).to_be_bytes());
            digest.update(element);
            digest.update(&(value.len() as u64).to_be_bytes());
            digest.update(value);
            true
        })?;
    }
    // 0 is reserved for a missing key.
    Ok(digest.finalize().max(1))
}

/// A malformed `petrel.exec` (only a buggy proxy sends one).
fn malformed(what: &str) -> CmdError {
    CmdError::reply(format!("ERR malformed petrel.exec: {what}"))
}

fn count(arg: Option<&Bytes>, what: &str) -> Result<usize, CmdError> {
    arg.and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|a| a.parse::<usize>().ok())
        .ok_or_else(|| malformed(what))
}

/// `petrel.exec`: see the module documentation.
pub(crate) fn exec(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut at = 1;
    let watches = count(args.get(at), "watch count")?;
    at += 1;
    let mut changed = false;
    for _ in 0..watches {
        let key = args.get(at).ok_or_else(|| malformed("watched key"))?;
        let seen = args
            .get(at + 1)
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<i64>().ok())
            .ok_or_else(|| malformed("fingerprint"))?;
        at += 2;
        if fingerprint(db, key)? != seen as u64 {
            changed = true;
        }
    }
    if changed {
        return Ok(Reply::NilArray);
    }
    let mut replies = Vec::new();
    while at < args.len() {
        let id = count(args.get(at), "command id")?;
        let argc = count(args.get(at + 1), "argument count")?;
        at += 2;
        let command = args
            .get(at..at + argc)
            .ok_or_else(|| malformed("arguments"))?;
        at += argc;
        replies.push(run_one(db, id, command)?);
    }
    Ok(Reply::Array(replies))
}

/// Runs one queued command; an error reply undoes its writes.
fn run_one(db: &mut Db<'_>, id: usize, args: &[Bytes]) -> Result<Reply, StorageError> {
    let unknown = || Reply::error(super::errors::unknown_call(args));
    let command = u16::try_from(id)
        .ok()
        .and_then(|id| command::table().get(CommandId(id)))
        .filter(|c| c.names_match(args) && c.name() != "petrel.exec");
    let Some((command, run)) = command.and_then(|c| Some((c, runner_of(c)?))) else {
        return Ok(unknown());
    };
    if !command.arity_ok(args.len()) {
        return Ok(Reply::error(errors::wrong_arity(command.name())));
    }
    let savepoint = db.savepoint();
    db.before_command(command, args)?;
    match run(db, args) {
        Ok(reply) => Ok(reply),
        Err(CmdError::Reply(reply)) => {
            db.rollback(savepoint);
            Ok(reply)
        }
        Err(CmdError::Storage(e)) => Err(e),
    }
}

/// `petrel.txn.run` outside a transaction: it needs the transaction's
/// executor (`crate::txn::exec`), which runs it instead of this.
pub(crate) fn txn_run_outside(_: &mut Db<'_>, _: &[Bytes]) -> CmdResult {
    Err(CmdError::reply(
        "ERR petrel.txn.run runs only inside a transaction",
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn fp(h: &mut Harness, key: &str) -> String {
        match h.run(&["petrel.fingerprint", key]) {
            Reply::Int(n) => n.to_string(),
            other => panic!("fingerprint reply {other:?}"),
        }
    }

    #[test]
    fn commands_run_in_order_as_one_mutation() {
        let mut h = Harness::new();
        let b = exec_batch(&[], &[&["set", "k", "1"], &["incr", "k"], &["get", "k"]]);
        let exec = h.exec(&strs(&b));
        assert_eq!(exec.reply, Reply::Array(vec![ok(), int(2), bulk("2")]));
        assert_eq!(exec.mutation.ops.len(), 1, "one final write of k");
        h.apply(&exec.mutation);
        assert_eq!(h.run(&["get", "k"]), bulk("2"));
    }

    #[test]
    fn a_failing_command_writes_nothing_and_the_rest_run() {
        let mut h = Harness::new();
        h.run(&["set", "s", "text"]);
        let b = exec_batch(&[], &[&["set", "a", "1"], &["incr", "s"], &["incr", "a"]]);
        let reply = h.run(&strs(&b));
        assert_eq!(
            reply,
            Reply::Array(vec![ok(), err(errors::NOT_INTEGER), int(2)])
        );
        assert_eq!(h.run(&["get", "s"]), bulk("text"));
        assert_eq!(h.run(&["get", "a"]), bulk("2"));
    }

    #[test]
    fn a_changed_watched_key_aborts() {
        let mut h = Harness::new();
        assert_eq!(fp(&mut h, "w"), "0");
        h.run(&["set", "w", "1"]);
        let seen = fp(&mut h, "w");
        assert_ne!(seen, "0");
        assert_eq!(fp(&mut h, "w"), seen, "stable while unchanged");
        let b = exec_batch(&["w", &seen], &[&["incr", "w"]]);
        let ok_run = h.run(&strs(&b));
        assert_eq!(ok_run, Reply::Array(vec![int(2)]));
        // w changed (by the transaction itself): the old fingerprint aborts.
        let aborted = h.exec(&strs(&b));
        assert_eq!(aborted.reply, Reply::NilArray);
        assert!(aborted.mutation.is_empty());
        // Expiry changes it too.
        let now = fp(&mut h, "w");
        h.run(&["pexpire", "w", "10"]);
        assert_ne!(fp(&mut h, "w"), now);
    }

    #[test]
    fn malformed_batches_are_errors_not_panics() {
        let mut h = Harness::new();
        for bad in [
            vec!["petrel.exec", "x"],
            vec!["petrel.exec", "1", "k"],
            vec!["petrel.exec", "0", "1", "5", "get"],
            vec!["petrel.exec", "0", "1", "nan", "get"],
            vec!["petrel.exec", "0", "1"],
        ] {
            assert!(h.run(&bad).is_error(), "{bad:?}");
        }
        for bad in [
            exec_batch(&[], &[&["nosuch"]]),
            exec_batch(&[], &[&["petrel.exec", "0"]]),
            // An id that names another command than the arguments do.
            vec![
                "petrel.exec".into(),
                "0".into(),
                command::table()
                    .find(b"get")
                    .map_or(String::new(), |c| c.id.0.to_string()),
                "2".into(),
                "set".into(),
                "k".into(),
            ],
            vec![
                "petrel.exec".into(),
                "0".into(),
                "99999".into(),
                "2".into(),
                "get".into(),
                "k".into(),
            ],
        ] {
            let r = h.run(&strs(&bad));
            assert!(
                matches!(r, Reply::Array(ref v) if v[0].is_error()),
                "{bad:?}: {r:?}"
            );
        }
    }
}
