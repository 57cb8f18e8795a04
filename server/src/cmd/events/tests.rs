//! The events each command family raises, as redis-server 7.0.15 publishes
//! them (`notify-keyspace-events AKEnm`): names, order, and when none.

use bytes::Bytes;
use petrel_common::reply::Reply;

use crate::cmd::testing::*;

/// `h.events(args)` as `&str`s, for comparing with a literal list.
fn ev(h: &mut Harness, args: &[&str]) -> Vec<String> {
    h.events(args)
}

const NONE: [&str; 0] = [];

#[test]
fn strings() {
    let mut h = Harness::with_events();
    assert_eq!(ev(&mut h, &["set", "k", "1"]), ["new k", "set k"]);
    assert_eq!(
        ev(&mut h, &["set", "k", "2", "ex", "100"]),
        ["set k", "expire k"]
    );
    assert_eq!(ev(&mut h, &["set", "k", "3", "keepttl"]), ["set k"]);
    assert_eq!(ev(&mut h, &["set", "k", "4", "nx"]), NONE);
    assert_eq!(ev(&mut h, &["setnx", "k", "4"]), NONE);
    assert_eq!(ev(&mut h, &["incr", "k"]), ["incrby k"]);
    assert_eq!(ev(&mut h, &["decrby", "k", "2"]), ["incrby k"]);
    assert_eq!(ev(&mut h, &["incrbyfloat", "k", "1.5"]), ["incrbyfloat k"]);
    assert_eq!(ev(&mut h, &["append", "k", "x"]), ["append k"]);
    assert_eq!(ev(&mut h, &["setrange", "k", "0", "y"]), ["setrange k"]);
    assert_eq!(ev(&mut h, &["setrange", "k", "0", ""]), NONE);
    assert_eq!(ev(&mut h, &["getex", "k", "persist"]), ["persist k"]);
    assert_eq!(ev(&mut h, &["getex", "k", "persist"]), NONE);
    assert_eq!(ev(&mut h, &["getex", "k", "px", "500"]), ["expire k"]);
    assert_eq!(ev(&mut h, &["getdel", "k"]), ["del k"]);
    // Writes that read the key first miss it like GET does.
    assert_eq!(ev(&mut h, &["getdel", "k"]), ["keymiss k"]);
    assert_eq!(
        ev(&mut h, &["set", "k", "v", "get"]),
        ["keymiss k", "new k", "set k"]
    );
    assert_eq!(
        ev(&mut h, &["getset", "g", "1"]),
        ["keymiss g", "new g", "set g"]
    );
    assert_eq!(ev(&mut h, &["get", "nope"]), ["keymiss nope"]);
    assert_eq!(ev(&mut h, &["get", "k"]), NONE);
    assert_eq!(
        ev(&mut h, &["mset", "a", "1", "b", "2", "a", "3"]),
        ["new a", "set a", "new b", "set b", "set a"]
    );
    assert_eq!(ev(&mut h, &["msetnx", "a", "1", "c", "2"]), NONE);
    assert_eq!(
        ev(&mut h, &["msetnx", "c", "1", "d", "2"]),
        ["new c", "set c", "new d", "set d"]
    );
    assert_eq!(
        ev(&mut h, &["setex", "e", "10", "v"]),
        ["new e", "set e", "expire e"]
    );
    assert_eq!(
        ev(&mut h, &["setrange", "r", "2", "x"]),
        ["new r", "setrange r"]
    );
    assert_eq!(
        ev(&mut h, &["incrbyfloat", "f", "x"]),
        NONE,
        "an error raises nothing"
    );
}

#[test]
fn generic_keys_and_expiry() {
    let mut h = Harness::with_events();
    h.run(&["mset", "a", "1", "b", "2"]);
    assert_eq!(
        ev(&mut h, &["del", "a", "none", "b", "a"]),
        ["del a", "del b"]
    );
    h.run(&["set", "k", "v"]);
    assert_eq!(ev(&mut h, &["expire", "k", "100"]), ["expire k"]);
    assert_eq!(ev(&mut h, &["expire", "k", "200", "nx"]), NONE);
    assert_eq!(ev(&mut h, &["pexpire", "none", "10"]), NONE);
    assert_eq!(ev(&mut h, &["persist", "k"]), ["persist k"]);
    assert_eq!(ev(&mut h, &["persist", "k"]), NONE);
    // A time already past deletes: `del`, not `expire`.
    assert_eq!(ev(&mut h, &["expire", "k", "0"]), ["del k"]);
    // A key whose time ran out but is still stored goes when a command
    // looks it up: `expired` first, then what the command does.
    h.run(&["set", "t", "v", "px", "10"]);
    h.run(&["set", "u", "v", "px", "10"]);
    h.now += 100;
    assert_eq!(ev(&mut h, &["del", "t"]), ["expired t"]);
    assert_eq!(
        ev(&mut h, &["set", "u", "w", "nx"]),
        ["expired u", "new u", "set u"]
    );
    // A read cannot write: it misses the key and leaves it to the sweep,
    // which raises `expired`.
    h.run(&["set", "r", "v", "px", "10"]);
    h.now += 100;
    let read = h.exec(&["get", "r"]);
    let names: Vec<&str> = read.events.list.iter().map(|e| e.name).collect();
    assert_eq!(names, ["keymiss"]);
    assert_eq!(read.expired, vec![Bytes::from_static(b"r")]);
    assert!(read.mutation.is_empty());
    assert_eq!(ev(&mut h, &["petrel.sweep", "r", "k"]), ["expired r"]);
    // Reads that look keys up miss each missing one, in order; OBJECT does not.
    assert_eq!(
        ev(&mut h, &["exists", "x", "u", "x"]),
        ["keymiss x", "keymiss x"]
    );
    assert_eq!(ev(&mut h, &["type", "x"]), ["keymiss x"]);
    assert_eq!(ev(&mut h, &["object", "encoding", "x"]), NONE);
    // Without K or E nothing is raised.
    let mut quiet = Harness::new();
    quiet.notify = petrel_common::notify::parse(b"A").unwrap_or(0);
    assert_eq!(quiet.events(&["set", "k", "v"]), NONE);
}

#[test]
fn keyspace_commands() {
    let mut h = Harness::with_events();
    h.run(&["set", "a", "1"]);
    assert_eq!(
        ev(&mut h, &["rename", "a", "b"]),
        ["new b", "rename_from a", "rename_to b"]
    );
    h.run(&["set", "a", "2"]);
    // Over an existing key too: Redis deletes it and adds it anew.
    assert_eq!(
        ev(&mut h, &["rename", "a", "b"]),
        ["new b", "rename_from a", "rename_to b"]
    );
    assert_eq!(ev(&mut h, &["rename", "b", "b"]), NONE);
    h.run(&["set", "a", "3"]);
    assert_eq!(ev(&mut h, &["renamenx", "a", "b"]), NONE);
    assert_eq!(ev(&mut h, &["copy", "b", "c"]), ["new c", "copy_to c"]);
    assert_eq!(ev(&mut h, &["copy", "b", "c"]), NONE);
    assert_eq!(
        ev(&mut h, &["copy", "b", "c", "replace"]),
        ["new c", "copy_to c"]
    );
    // COPY reads its source: a missing one is missed.
    assert_eq!(ev(&mut h, &["copy", "nope", "c"]), ["keymiss nope"]);
    // MOVE's halves: the copy at the destination, the delete at the source.
    let Reply::Array(dumped) = h.run(&["petrel.dump", "c"]) else {
        panic!("dump")
    };
    let Reply::Bulk(record) = &dumped[0] else {
        panic!("record")
    };
    let mut other = Harness::with_events();
    assert_eq!(
        other.events_bytes(&[b"petrel.restore", b"c", record]),
        ["new c", "move_to c"]
    );
    assert_eq!(ev(&mut h, &["petrel.moved", "c"]), ["move_from c"]);
    assert_eq!(ev(&mut h, &["petrel.moved", "c"]), NONE);
    // The state a transaction sends a key's partition raises nothing there.
    assert_eq!(ev(&mut h, &["petrel.txn.replace", "z"]), NONE);
}

#[test]
fn hashes() {
    let mut h = Harness::with_events();
    assert_eq!(
        ev(&mut h, &["hset", "h", "f", "v", "g", "w"]),
        ["new h", "hset h"]
    );
    // Even when nothing changes.
    assert_eq!(ev(&mut h, &["hset", "h", "f", "v"]), ["hset h"]);
    assert_eq!(ev(&mut h, &["hmset", "h", "f", "v"]), ["hset h"]);
    assert_eq!(ev(&mut h, &["hsetnx", "h", "f", "x"]), NONE);
    assert_eq!(ev(&mut h, &["hsetnx", "h", "n", "1"]), ["hset h"]);
    assert_eq!(ev(&mut h, &["hincrby", "h", "n", "2"]), ["hincrby h"]);
    assert_eq!(
        ev(&mut h, &["hincrbyfloat", "h", "n", "0.5"]),
        ["hincrbyfloat h"]
    );
    assert_eq!(ev(&mut h, &["hdel", "h", "nope"]), NONE);
    assert_eq!(ev(&mut h, &["hdel", "h", "g", "n"]), ["hdel h"]);
    assert_eq!(ev(&mut h, &["hdel", "h", "f"]), ["hdel h", "del h"]);
    assert_eq!(ev(&mut h, &["hget", "h", "f"]), ["keymiss h"]);
}

#[test]
fn lists() {
    let mut h = Harness::with_events();
    assert_eq!(ev(&mut h, &["lpush", "l", "a", "b"]), ["new l", "lpush l"]);
    assert_eq!(ev(&mut h, &["rpush", "l", "c"]), ["rpush l"]);
    assert_eq!(ev(&mut h, &["lpushx", "nope", "x"]), NONE);
    assert_eq!(ev(&mut h, &["rpushx", "l", "d"]), ["rpush l"]);
    assert_eq!(
        ev(&mut h, &["linsert", "l", "before", "c", "x"]),
        ["linsert l"]
    );
    assert_eq!(ev(&mut h, &["linsert", "l", "before", "zz", "x"]), NONE);
    assert_eq!(ev(&mut h, &["lset", "l", "0", "y"]), ["lset l"]);
    assert_eq!(ev(&mut h, &["lrem", "l", "0", "x"]), ["lrem l"]);
    assert_eq!(ev(&mut h, &["lrem", "l", "0", "zz"]), NONE);
    // LTRIM raises its event even when it cuts nothing.
    assert_eq!(ev(&mut h, &["ltrim", "l", "0", "-1"]), ["ltrim l"]);
    assert_eq!(ev(&mut h, &["lpop", "l", "0"]), NONE);
    assert_eq!(ev(&mut h, &["lpop", "l", "2"]), ["lpop l"]);
    // l is [c d]: the push at the destination (created), then the pop.
    assert_eq!(
        ev(&mut h, &["lmove", "l", "m", "left", "right"]),
        ["new m", "rpush m", "lpop l"]
    );
    assert_eq!(
        ev(&mut h, &["rpoplpush", "l", "m"]),
        ["lpush m", "rpop l", "del l"]
    );
    // A rotation pops and pushes back.
    assert_eq!(
        ev(&mut h, &["lmove", "m", "m", "left", "right"]),
        ["rpush m", "lpop m"]
    );
    assert_eq!(
        ev(&mut h, &["lmpop", "2", "l", "m", "right", "count", "5"]),
        ["rpop m", "del m"]
    );
    h.run(&["rpush", "b", "1", "2"]);
    assert_eq!(ev(&mut h, &["blpop", "none", "b", "0"]), ["lpop b"]);
    assert_eq!(
        ev(&mut h, &["blmove", "b", "c", "right", "left", "0"]),
        ["new c", "lpush c", "rpop b", "del b"]
    );
    assert_eq!(ev(&mut h, &["brpop", "b", "0"]), NONE, "would block");
    h.run(&["rpush", "t", "1", "2"]);
    assert_eq!(ev(&mut h, &["ltrim", "t", "5", "6"]), ["ltrim t", "del t"]);
}

#[test]
fn sets() {
    let mut h = Harness::with_events();
    assert_eq!(ev(&mut h, &["sadd", "s", "a", "b"]), ["new s", "sadd s"]);
    assert_eq!(ev(&mut h, &["sadd", "s", "a"]), NONE);
    assert_eq!(ev(&mut h, &["srem", "s", "zz"]), NONE);
    assert_eq!(ev(&mut h, &["srem", "s", "a"]), ["srem s"]);
    assert_eq!(ev(&mut h, &["smove", "s", "t", "zz"]), NONE, "not a member");
    assert_eq!(ev(&mut h, &["smove", "s", "s", "b"]), NONE, "one key");
    assert_eq!(
        ev(&mut h, &["smove", "s", "t", "b"]),
        ["srem s", "del s", "new t", "sadd t"]
    );
    h.run(&["sadd", "u", "x", "y", "z"]);
    assert_eq!(ev(&mut h, &["spop", "u"]), ["spop u"]);
    assert_eq!(ev(&mut h, &["spop", "u", "0"]), NONE);
    assert_eq!(ev(&mut h, &["spop", "u", "5"]), ["spop u", "del u"]);
    assert_eq!(
        ev(&mut h, &["sunionstore", "d", "t", "none"]),
        ["keymiss none", "new d", "sunionstore d"]
    );
    assert_eq!(
        ev(&mut h, &["sinterstore", "d", "t", "none"]),
        ["keymiss none", "del d"]
    );
    assert_eq!(
        ev(&mut h, &["sinterstore", "d", "t", "none"]),
        ["keymiss none"]
    );
    assert_eq!(
        ev(&mut h, &["sdiffstore", "d", "t"]),
        ["new d", "sdiffstore d"]
    );
    assert_eq!(ev(&mut h, &["smembers", "none"]), ["keymiss none"]);
}

#[test]
fn sorted_sets() {
    let mut h = Harness::with_events();
    assert_eq!(
        ev(&mut h, &["zadd", "z", "1", "a", "2", "b"]),
        ["new z", "zadd z"]
    );
    // An unchanged score raises nothing, a changed one does.
    assert_eq!(ev(&mut h, &["zadd", "z", "1", "a"]), NONE);
    assert_eq!(ev(&mut h, &["zadd", "z", "5", "a"]), ["zadd z"]);
    assert_eq!(ev(&mut h, &["zadd", "z", "xx", "1", "new"]), NONE);
    assert_eq!(ev(&mut h, &["zincrby", "z", "1", "a"]), ["zincr z"]);
    assert_eq!(ev(&mut h, &["zadd", "z", "incr", "1", "b"]), ["zincr z"]);
    assert_eq!(ev(&mut h, &["zrem", "z", "nope"]), NONE);
    h.run(&["zadd", "z", "7", "c", "8", "d", "9", "e"]);
    assert_eq!(ev(&mut h, &["zrem", "z", "c"]), ["zrem z"]);
    assert_eq!(ev(&mut h, &["zpopmin", "z"]), ["zpopmin z"]);
    assert_eq!(ev(&mut h, &["zpopmax", "z", "0"]), NONE);
    assert_eq!(ev(&mut h, &["zremrangebyrank", "z", "5", "9"]), NONE);
    assert_eq!(
        ev(&mut h, &["zremrangebyscore", "z", "8", "8"]),
        ["zremrangebyscore z"]
    );
    assert_eq!(
        ev(&mut h, &["zunionstore", "u", "2", "z", "none"]),
        ["keymiss none", "new u", "zunionstore u"]
    );
    assert_eq!(
        ev(&mut h, &["zrangestore", "r", "z", "0", "-1"]),
        ["new r", "zrangestore r"]
    );
    assert_eq!(
        ev(&mut h, &["zrangestore", "r", "none", "0", "-1"]),
        ["keymiss none", "del r"]
    );
    assert_eq!(
        ev(&mut h, &["zinterstore", "u", "2", "z", "z"]),
        ["zinterstore u"]
    );
    assert_eq!(ev(&mut h, &["bzpopmax", "none", "z", "0"]), ["zpopmax z"]);
    assert_eq!(
        ev(&mut h, &["zmpop", "1", "z", "min", "count", "9"]),
        ["zpopmin z", "del z"]
    );
    assert_eq!(
        ev(&mut h, &["zremrangebylex", "u", "-", "+"]),
        ["zremrangebylex u", "del u"]
    );
}

#[test]
fn bits() {
    let mut h = Harness::with_events();
    assert_eq!(
        ev(&mut h, &["setbit", "b", "7", "1"]),
        ["new b", "setbit b"]
    );
    assert_eq!(ev(&mut h, &["setbit", "b", "7", "1"]), NONE, "unchanged");
    assert_eq!(ev(&mut h, &["setbit", "b", "7", "0"]), ["setbit b"]);
    assert_eq!(
        ev(&mut h, &["setbit", "b", "20", "0"]),
        ["setbit b"],
        "grown"
    );
    assert_eq!(ev(&mut h, &["bitop", "not", "d", "b"]), ["new d", "set d"]);
    assert_eq!(
        ev(&mut h, &["bitop", "and", "d", "none"]),
        ["keymiss none", "del d"]
    );
    assert_eq!(
        ev(&mut h, &["bitfield", "b", "set", "u8", "0", "1"]),
        ["setbit b"]
    );
    assert_eq!(
        ev(
            &mut h,
            &["bitfield", "b", "overflow", "fail", "incrby", "u2", "0", "9"]
        ),
        NONE
    );
    assert_eq!(ev(&mut h, &["bitfield", "b", "get", "u8", "0"]), NONE);
}

#[test]
fn multi_blocks_and_scripts_raise_their_commands_events_in_order() {
    let mut h = Harness::with_events();
    h.run(&["set", "s", "text"]);
    let b = exec_batch(
        &[],
        &[
            &["set", "a", "1"],
            &["incr", "s"],
            &["incr", "a"],
            &["get", "none"],
            &["del", "a"],
        ],
    );
    // The failing INCR raises nothing (its writes are undone too).
    assert_eq!(
        h.events(&strs(&b)),
        ["new a", "set a", "incrby a", "keymiss none", "del a"]
    );
    let script = "redis.call('SET', KEYS[1], 1); pcall(redis.call, 'INCR', KEYS[2]); \
                  return redis.call('LPUSH', KEYS[3], 'x')";
    assert_eq!(
        h.events(&["petrel.eval", "1", "3", "rw", script, "3", "k", "s", "l"]),
        ["new k", "set k", "new l", "lpush l"]
    );
}
