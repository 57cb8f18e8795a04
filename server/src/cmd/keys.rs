//! Generic key commands (any type): existence, deletion, expiry, type.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::cmd::db::Db;
use crate::cmd::errors::{unsupported_option, EXPIRE_GT_LT_CONFLICT, EXPIRE_NX_CONFLICT};
use crate::cmd::events::GENERIC;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{int_arg, option};
use crate::storage::layout::MetaHeader;

/// `DEL key [key ...]` (also `UNLINK`): how many live keys were removed.
pub(crate) fn del(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let mut deleted = 0;
    for key in &args[1..] {
        // A repeated key is gone by its second mention: counted once.
        if db.lookup(key)?.is_some() {
            db.delete(key);
            db.notify(GENERIC, "del", key);
            deleted += 1;
        }
    }
    Ok(Reply::Int(deleted))
}

/// `EXISTS key [key ...]`: live keys, a repeated key counted each time.
pub(crate) fn exists(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    count_live(db, &args[1..])
}

/// `TOUCH key [key ...]`: live keys. Petrel keeps no access times, so this
/// only counts.
pub(crate) fn touch(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    count_live(db, &args[1..])
}

fn count_live(db: &Db<'_>, keys: &[Bytes]) -> CmdResult {
    let mut live = 0;
    for key in keys {
        if db.lookup(key)?.is_some() {
            live += 1;
        }
    }
    Ok(Reply::Int(live))
}

/// The NX/XX/GT/LT options of the EXPIRE family.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(args: &[Bytes]) -> Result<ExpireFlags, CmdError> {
    let mut flags = ExpireFlags::default();
    for arg in args {
        let opt = option(arg);
        if opt.eq_ignore_ascii_case(b"nx") {
            flags.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            flags.xx = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            flags.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            flags.lt = true;
        } else {
            return Err(CmdError::reply(unsupported_option(arg)));
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err(CmdError::reply(EXPIRE_NX_CONFLICT));
    }
    if flags.gt && flags.lt {
        return Err(CmdError::reply(EXPIRE_GT_LT_CONFLICT));
    }
    Ok(flags)
}

/// Redis's `expireGenericCommand`: `when` is relative to `basetime` (now for
/// EXPIRE/PEXPIRE, 0 for the AT forms), in seconds or milliseconds. A time
/// already past deletes the key.
fn expire_generic(
    db: &mut Db<'_>,
    args: &[Bytes],
    basetime: i64,
    seconds: bool,
    command: &str,
) -> CmdResult {
    let flags = parse_expire_flags(&args[3..])?;
    let invalid = || CmdError::reply(errors::invalid_expire(command));
    let mut when = int_arg(&args[2])?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid());
        }
        when *= 1000;
    }
    when = when.checked_add(basetime).ok_or_else(invalid)?;
    let key = &args[1];
    let Some(entry) = db.lookup(key)? else {
        return Ok(Reply::Int(0));
    };
    // Redis's "no expiry" is -1 in these comparisons.
    let current = entry
        .expire_at()
        .map_or(-1, |at| i64::try_from(at).unwrap_or(i64::MAX));
    let refused = (flags.nx && current != -1)
        || (flags.xx && current == -1)
        || (flags.gt && (current == -1 || when <= current))
        || (flags.lt && current != -1 && when >= current);
    if refused {
        return Ok(Reply::Int(0));
    }
    if when <= db.now_i64() {
        db.delete(key);
        db.notify(GENERIC, "del", key);
    } else {
        let header = MetaHeader {
            // `when` is positive here: it is later than now.
            expire_at_ms: u64::try_from(when).unwrap_or(0),
            ..entry.header
        };
        db.put_meta(key, &header, &entry.payload);
        db.notify(GENERIC, "expire", key);
    }
    Ok(Reply::Int(1))
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`
pub(crate) fn expire(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let now = db.now_i64();
    expire_generic(db, args, now, true, "expire")
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`
pub(crate) fn pexpire(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let now = db.now_i64();
    expire_generic(db, args, now, false, "pexpire")
}

/// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`
pub(crate) fn expireat(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(db, args, 0, true, "expireat")
}

/// `PEXPIREAT key unix-ms [NX|XX|GT|LT]`
pub(crate) fn pexpireat(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(db, args, 0, false, "pexpireat")
}

/// Redis's `ttlGenericCommand`: -2 for no key, -1 for no expiry, else the
/// remaining (or absolute) time, seconds rounded to nearest.
fn ttl_generic(db: &Db<'_>, key: &[u8], millis: bool, absolute: bool) -> CmdResult {
    let Some(entry) = db.lookup(key)? else {
        return Ok(Reply::Int(-2));
    };
    let Some(at) = entry.expire_at() else {
        return Ok(Reply::Int(-1));
    };
    // i128: Redis's (ttl + 500) / 1000 must not overflow near i64::MAX.
    let mut ttl = i128::from(at);
    if !absolute {
        ttl -= i128::from(db.now_ms());
    }
    let ttl = ttl.max(0);
    let shown = if millis { ttl } else { (ttl + 500) / 1000 };
    Ok(Reply::Int(i64::try_from(shown).unwrap_or(i64::MAX)))
}

/// `TTL key`
pub(crate) fn ttl(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(db, &args[1], false, false)
}

/// `PTTL key`
pub(crate) fn pttl(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(db, &args[1], true, false)
}

/// `EXPIRETIME key`
pub(crate) fn expiretime(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(db, &args[1], false, true)
}

/// `PEXPIRETIME key`
pub(crate) fn pexpiretime(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(db, &args[1], true, true)
}

/// `PERSIST key`: 1 if an expiry was removed.
pub(crate) fn persist(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    match db.lookup(key)? {
        Some(entry) if entry.expire_at().is_some() => {
            let header = MetaHeader {
                expire_at_ms: 0,
                ..entry.header
            };
            db.put_meta(key, &header, &entry.payload);
            db.notify(GENERIC, "persist", key);
            Ok(Reply::Int(1))
        }
        _ => Ok(Reply::Int(0)),
    }
}

/// `TYPE key`: a status reply, `none` for a missing key.
pub(crate) fn key_type(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let name = db
        .lookup(&args[1])?
        .map_or("none", |e| e.header.key_type.name());
    Ok(Reply::Status(name.to_string()))
}

#[cfg(test)]
mod tests {
    use petrel_common::reply::errors::{NOT_INTEGER, WRONGTYPE};

    use crate::cmd::testing::*;
    use crate::storage::layout::KeyType;
    use crate::storage::WriteOp;

    #[test]
    fn del_counts_live_keys_once() {
        let mut h = Harness::new();
        h.run(&["mset", "a", "1", "b", "2"]);
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["del", "a", "a", "nope", "h"]), int(2));
        assert_eq!(h.run(&["exists", "a", "h", "b"]), int(1));
        assert_eq!(h.run(&["unlink", "b"]), int(1));
        assert_eq!(h.run(&["unlink", "b"]), int(0));
        assert!(h.exec(&["del", "b"]).mutation.is_empty());
    }

    #[test]
    fn del_mutation_is_one_delete_per_key() {
        let mut h = Harness::new();
        h.run(&["set", "a", "1"]);
        let exec = h.exec(&["del", "a", "a"]);
        assert_eq!(
            exec.mutation.ops,
            vec![WriteOp::Delete(crate::storage::layout::meta_key(b"a"))]
        );
    }

    #[test]
    fn expired_keys_are_absent() {
        let mut h = Harness::new();
        h.run(&["set", "a", "1", "px", "10"]);
        h.now += 11;
        assert_eq!(h.run(&["del", "a"]), int(0));
        assert_eq!(h.run(&["exists", "a"]), int(0));
        assert_eq!(h.run(&["touch", "a"]), int(0));
        assert_eq!(h.run(&["ttl", "a"]), int(-2));
        assert_eq!(h.run(&["type", "a"]), status("none"));
        assert_eq!(h.run(&["expire", "a", "100"]), int(0));
        assert_eq!(h.run(&["persist", "a"]), int(0));
    }

    #[test]
    fn exists_and_touch_count_repeats() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["exists", "k", "k", "nope"]), int(2));
        assert_eq!(h.run(&["touch", "h", "h", "nope"]), int(2));
    }

    #[test]
    fn ttl_family() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["ttl", "k"]), int(-2));
        assert_eq!(h.run(&["pttl", "k"]), int(-2));
        assert_eq!(h.run(&["expiretime", "k"]), int(-2));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(-2));
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["pttl", "k"]), int(-1));
        assert_eq!(h.run(&["expiretime", "k"]), int(-1));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(-1));
        h.run(&["pexpire", "k", "1700"]);
        // Seconds round to nearest, as Redis's (ttl + 500) / 1000.
        assert_eq!(h.run(&["ttl", "k"]), int(2));
        h.now += 300;
        assert_eq!(h.run(&["ttl", "k"]), int(1));
        assert_eq!(h.run(&["pttl", "k"]), int(1400));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(START_MS as i64 + 1700));
        assert_eq!(h.run(&["expiretime", "k"]), int(START_MS as i64 / 1000 + 2));
        h.now += 1400;
        assert_eq!(h.run(&["pttl", "k"]), int(0));
        h.now += 1;
        assert_eq!(h.run(&["pttl", "k"]), int(-2));
    }

    #[test]
    fn ttl_of_far_future_expiry() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["pexpireat", "k", "9223372036854775807"]), int(1));
        // Answers of redis-server 7.0.15.
        assert_eq!(h.run(&["expiretime", "k"]), int(9223372036854776));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(i64::MAX));
        h.run(&["pexpireat", "k", "9223372036854775499"]);
        assert_eq!(h.run(&["expiretime", "k"]), int(9223372036854775));
    }

    #[test]
    fn expire_variants() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["expire", "k", "100"]), int(1));
        assert_eq!(h.run(&["pttl", "k"]), int(100_000));
        assert_eq!(h.run(&["pexpire", "k", "1234"]), int(1));
        assert_eq!(h.run(&["pttl", "k"]), int(1234));
        let at = (START_MS / 1000 + 50).to_string();
        assert_eq!(h.run(&["expireat", "k", &at]), int(1));
        assert_eq!(
            h.run(&["expiretime", "k"]),
            int(START_MS as i64 / 1000 + 50)
        );
        let at = (START_MS + 77).to_string();
        assert_eq!(h.run(&["pexpireat", "k", &at]), int(1));
        assert_eq!(h.run(&["pttl", "k"]), int(77));
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
        assert_eq!(h.run(&["expire", "missing", "100"]), int(0));
    }

    #[test]
    fn expire_in_the_past_deletes() {
        let mut h = Harness::new();
        for args in [
            &["expire", "k", "-1"][..],
            &["expire", "k", "0"],
            &["pexpire", "k", "0"],
            &["expireat", "k", "0"],
            &["pexpireat", "k", "1500"],
        ] {
            h.run(&["set", "k", "v"]);
            let exec = h.exec(args);
            assert_eq!(exec.reply, int(1), "{args:?}");
            assert_eq!(
                exec.mutation.ops,
                vec![WriteOp::Delete(crate::storage::layout::meta_key(b"k"))]
            );
            h.apply(&exec.mutation);
            assert_eq!(h.run(&["exists", "k"]), int(0));
        }
        // Exactly now is already past for EXPIRE.
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["pexpireat", "k", &START_MS.to_string()]), int(1));
        assert_eq!(h.run(&["exists", "k"]), int(0));
    }

    #[test]
    fn expire_options_match_redis() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        // No TTL yet: XX and GT refuse, LT accepts (no TTL = infinite).
        assert_eq!(h.run(&["expire", "k", "100", "xx"]), int(0));
        assert_eq!(h.run(&["expire", "k", "100", "gt"]), int(0));
        assert_eq!(h.run(&["expire", "k", "100", "lt"]), int(1));
        assert_eq!(h.run(&["expire", "k", "50", "gt"]), int(0));
        assert_eq!(h.run(&["ttl", "k"]), int(100));
        assert_eq!(h.run(&["expire", "k", "50", "lt"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(50));
        assert_eq!(h.run(&["expire", "k", "100", "GT"]), int(1));
        assert_eq!(h.run(&["expire", "k", "200", "nx"]), int(0));
        assert_eq!(h.run(&["expire", "k", "150", "xx"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(150));
        assert_eq!(h.run(&["expire", "k", "150", "xx", "gt"]), int(0));
        h.run(&["persist", "k"]);
        assert_eq!(h.run(&["expire", "k", "10", "nx"]), int(1));
        assert!(h.exec(&["expire", "k", "10", "nx"]).mutation.is_empty());
    }

    #[test]
    fn expire_errors_match_redis() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        let nx = err("ERR NX and XX, GT or LT options at the same time are not compatible");
        assert_eq!(h.run(&["expire", "k", "100", "nx", "xx"]), nx);
        assert_eq!(h.run(&["expire", "k", "100", "nx", "gt"]), nx);
        assert_eq!(h.run(&["expire", "k", "100", "lt", "nx"]), nx);
        assert_eq!(
            h.run(&["expire", "k", "100", "gt", "lt"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            h.run(&["expire", "k", "100", "foo"]),
            err("ERR Unsupported option foo")
        );
        // Options are checked before the time.
        assert_eq!(
            h.run(&["expire", "k", "abc", "foo"]),
            err("ERR Unsupported option foo")
        );
        assert_eq!(h.run(&["expire", "k", "abc"]), err(NOT_INTEGER));
        assert_eq!(h.run(&["expire", "missing", "abc"]), err(NOT_INTEGER));
        let invalid = err("ERR invalid expire time in 'expire' command");
        assert_eq!(h.run(&["expire", "k", "9223372036854776"]), invalid);
        assert_eq!(h.run(&["expire", "k", "-9223372036854776"]), invalid);
        assert_eq!(h.run(&["expire", "k", "9223372036854775"]), invalid);
        assert_eq!(
            h.run(&["pexpire", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(
            h.run(&["expireat", "k", "9223372036854776"]),
            err("ERR invalid expire time in 'expireat' command")
        );
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
    }

    #[test]
    fn expire_works_on_any_type() {
        let mut h = Harness::new();
        h.seed_hash("h", 0);
        assert_eq!(h.run(&["expire", "h", "100"]), int(1));
        assert_eq!(h.run(&["ttl", "h"]), int(100));
        let header = h.header("h").unwrap();
        assert_eq!(header.key_type, KeyType::Hash);
        // The collection's identity is untouched.
        assert_eq!((header.version, header.size), (7, 1));
        assert_eq!(h.run(&["persist", "h"]), int(1));
        assert_eq!(h.run(&["persist", "h"]), int(0));
        assert_eq!(h.run(&["ttl", "h"]), int(-1));
        assert_eq!(h.run(&["get", "h"]), err(WRONGTYPE));
    }

    #[test]
    fn persist() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["persist", "k"]), int(0));
        h.run(&["set", "k", "v", "ex", "100"]);
        assert_eq!(h.run(&["persist", "k"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        let exec = h.exec(&["persist", "k"]);
        assert_eq!(exec.reply, int(0));
        assert!(exec.mutation.is_empty());
        assert_eq!(h.run(&["get", "k"]), bulk("v"));
    }

    #[test]
    fn type_names() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["type", "k"]), status("none"));
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["type", "k"]), status("string"));
        for (key, t, name) in [
            ("h", KeyType::Hash, "hash"),
            ("l", KeyType::List, "list"),
            ("s", KeyType::Set, "set"),
            ("z", KeyType::ZSet, "zset"),
        ] {
            h.seed(key, t, 0);
            assert_eq!(h.run(&["type", key]), status(name));
        }
    }
}
