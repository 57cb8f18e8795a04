//! Petrel's own column of the command table: who executes each command,
//! and the rules the proxy and the server apply to it beyond Redis's flags.
//!
//! Adding a command is one line here (plus its implementation where
//! [`Exec`] says it runs). Anything not named is [`Exec::Unserved`].

use std::time::Duration;

/// Where a command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// Redis has it; Petrel does not serve it yet (clients get `unknown command`).
    Unserved,
    /// The proxy answers it itself (connection state, server introspection).
    Proxy,
    /// Only holds subcommands; never run itself.
    Container,
    /// Forwarded whole to the primary of its first key's partition.
    Partition,
    /// Split by partition, run in parallel, merged in argument order.
    Split(Merge),
    /// Sent to every partition, merged.
    FanOut(Merge),
    /// Forwarded whole when every key is in one partition; `CROSSSLOT` otherwise.
    SameSlot,
    /// Sent by the proxy to servers only (`petrel.*`); unknown to clients.
    Internal,
}

/// How the per-partition replies of a split command are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// One element per key, put back in argument order (MGET).
    Array,
    /// `+OK` when every part said OK (MSET, FLUSHDB).
    Ok,
    /// The sum of the integer replies (DEL, EXISTS, DBSIZE...).
    Sum,
    /// Every partition's array reply, one after the other (KEYS).
    Concat,
    /// Forwarded only when every key is in one partition (MSETNX): its
    /// all-or-nothing promise cannot be kept across partitions yet.
    SamePartition,
}

/// Where a blocking command's timeout argument sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutArg {
    /// The last argument (BLPOP, BLMOVE, BZPOPMIN...), in seconds.
    Last,
    /// Right after the name (BLMPOP, BZMPOP), in seconds.
    First,
    /// After a `BLOCK` option, before `STREAMS` (XREAD, XREADGROUP), in
    /// milliseconds; without it the call does not block.
    BlockOption,
}

impl TimeoutArg {
    /// The index of the timeout in `args` (name included); `None` when
    /// this call does not block.
    pub fn index(self, args: &[impl AsRef<[u8]>]) -> Option<usize> {
        let argc = args.len();
        match self {
            TimeoutArg::Last => argc.checked_sub(1).filter(|&i| i > 0),
            TimeoutArg::First => (argc > 1).then_some(1),
            TimeoutArg::BlockOption => block_option(args),
        }
    }

    /// Whether the timeout counts milliseconds (else seconds, a float).
    pub fn in_millis(self) -> bool {
        self == TimeoutArg::BlockOption
    }
}

/// The position of the value of the last `BLOCK` option of an XREAD or
/// XREADGROUP call, walking the options as Redis parses them (up to
/// `STREAMS` or the first word that is no option).
fn block_option(args: &[impl AsRef<[u8]>]) -> Option<usize> {
    let is = |i: usize, name: &str| {
        args.get(i)
            .is_some_and(|a| super::args::c_arg(a.as_ref()).eq_ignore_ascii_case(name.as_bytes()))
    };
    let mut found = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(i, "block") && more > 0 {
            found = Some(i + 1);
            i += 2;
        } else if is(i, "count") && more > 0 {
            i += 2;
        } else if is(i, "group") && more >= 2 {
            i += 3;
        } else if is(i, "noack") {
            i += 1;
        } else {
            break;
        }
    }
    found
}

/// Longest a server holds one blocking request; the proxy asks again until
/// the client's own timeout, so a failover in between is followed.
pub const BLOCK_SLICE: Duration = Duration::from_secs(2);

/// Petrel's facts about one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Serving {
    pub exec: Exec,
    /// A read touching a bounded number of records (one key, or the keys it
    /// names): the server runs it on the async runtime instead of handing it
    /// to a blocking thread, which costs more than such a read.
    pub point_read: bool,
    /// For blocking commands: where the timeout is.
    pub timeout: Option<TimeoutArg>,
}

impl Serving {
    const fn exec(exec: Exec) -> Serving {
        Serving {
            exec,
            point_read: false,
            timeout: None,
        }
    }
}

/// Petrel's column for the command (or `parent|sub`) named `full_name`.
pub(super) fn serving(full_name: &str) -> Serving {
    use Exec::*;
    let point_read = Serving {
        exec: Partition,
        point_read: true,
        timeout: None,
    };
    let blocking = |timeout| Serving {
        exec: SameSlot,
        point_read: false,
        timeout: Some(timeout),
    };
    Serving::exec(match full_name {
        // Point reads at the key's primary.
        "get" | "strlen" | "getrange" | "substr" | "getbit" | "ttl" | "pttl" | "expiretime"
        | "pexpiretime" | "type" | "hget" | "hmget" | "hexists" | "hlen" | "hstrlen" | "llen"
        | "lindex" | "scard" | "sismember" | "smismember" | "zscore" | "zmscore" | "zcard" => {
            return point_read
        }
        "mget" => {
            return Serving {
                exec: Split(Merge::Array),
                point_read: true,
                timeout: None,
            }
        }
        "exists" | "touch" => {
            return Serving {
                exec: Split(Merge::Sum),
                point_read: true,
                timeout: None,
            }
        }
        // Blocking commands: the server waits a slice, the proxy asks again.
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "bzpopmin" | "bzpopmax" => {
            return blocking(TimeoutArg::Last)
        }
        "blmpop" | "bzmpop" => return blocking(TimeoutArg::First),
        // Streams: XREAD and XREADGROUP block only with a BLOCK option.
        "xread" | "xreadgroup" => return blocking(TimeoutArg::BlockOption),
        // Strings.
        "set" | "setnx" | "setex" | "psetex" | "getset" | "getdel" | "getex" | "append"
        | "setrange" | "incr" | "decr" | "incrby" | "decrby" | "incrbyfloat" | "setbit"
        | "bitcount" | "bitpos" | "bitfield" | "bitfield_ro" => Partition,
        "mset" => Split(Merge::Ok),
        "msetnx" => Split(Merge::SamePartition),
        "bitop" | "lcs" => SameSlot,
        // HyperLogLog (strings).
        "pfadd" | "pfdebug" => Partition,
        "pfcount" => {
            return Serving {
                exec: SameSlot,
                point_read: true,
                timeout: None,
            }
        }
        "pfmerge" => SameSlot,
        // GEO (sorted sets): the STORE forms write a second key.
        "geopos" | "geohash" | "geodist" => return point_read,
        "geoadd" | "georadius_ro" | "georadiusbymember_ro" | "geosearch" => Partition,
        "georadius" | "georadiusbymember" | "geosearchstore" => SameSlot,
        // Any key.
        "del" | "unlink" => Split(Merge::Sum),
        "expire" | "pexpire" | "expireat" | "pexpireat" | "persist" => Partition,
        "rename" | "renamenx" | "copy" => SameSlot,
        // BY/GET patterns may name keys of any partition: see the proxy's
        // `txn::sort`.
        "sort" | "sort_ro" => SameSlot,
        "dump" | "restore" => Partition,
        "keys" => FanOut(Merge::Concat),
        "dbsize" => FanOut(Merge::Sum),
        "flushdb" => FanOut(Merge::Ok),
        "object" => Container,
        "object|encoding" | "object|freq" | "object|idletime" | "object|refcount" => Partition,
        "memory" => Container,
        "memory|usage" => Partition,
        // Hashes.
        "hset" | "hsetnx" | "hmset" | "hdel" | "hgetall" | "hkeys" | "hvals" | "hincrby"
        | "hincrbyfloat" | "hrandfield" | "hscan" => Partition,
        // Lists.
        "lpush" | "rpush" | "lpushx" | "rpushx" | "lpop" | "rpop" | "lrange" | "lset" | "lrem"
        | "ltrim" | "linsert" | "lpos" => Partition,
        "lmove" | "rpoplpush" | "lmpop" => SameSlot,
        // Streams.
        "xadd" | "xrange" | "xrevrange" | "xlen" | "xdel" | "xtrim" | "xsetid" | "xack"
        | "xpending" | "xclaim" | "xautoclaim" => Partition,
        "xgroup" | "xinfo" => Container,
        "xgroup|create"
        | "xgroup|setid"
        | "xgroup|destroy"
        | "xgroup|createconsumer"
        | "xgroup|delconsumer"
        | "xinfo|stream"
        | "xinfo|groups"
        | "xinfo|consumers" => Partition,
        "xgroup|help" | "xinfo|help" => Proxy,
        // Sets.
        "sadd" | "srem" | "smembers" | "spop" | "srandmember" | "sscan" => Partition,
        "smove" | "sinter" | "sintercard" | "sunion" | "sdiff" | "sinterstore" | "sunionstore"
        | "sdiffstore" => SameSlot,
        // Sorted sets.
        "zadd" | "zincrby" | "zrem" | "zcount" | "zrange" | "zrangebyscore"
        | "zrevrangebyscore" | "zrangebylex" | "zrevrangebylex" | "zrevrange" | "zrank"
        | "zrevrank" | "zlexcount" | "zpopmin" | "zpopmax" | "zremrangebyrank"
        | "zremrangebyscore" | "zremrangebylex" | "zrandmember" | "zscan" => Partition,
        "zrangestore" | "zunionstore" | "zinterstore" | "zdiffstore" | "zunion" | "zinter"
        | "zintercard" | "zdiff" | "zmpop" => SameSlot,
        // Answered by the proxy: connection, transactions, introspection.
        "ping"
        | "echo"
        | "quit"
        | "select"
        | "auth"
        | "hello"
        | "scan"
        | "randomkey"
        | "move"
        | "flushall"
        | "info"
        | "command"
        | "time"
        | "lastsave"
        | "wait"
        | "multi"
        | "exec"
        | "discard"
        | "watch"
        | "unwatch"
        | "object|help"
        | "memory|doctor"
        | "memory|stats"
        | "memory|malloc-stats"
        | "memory|purge"
        | "memory|help"
        | "pfselftest" => Proxy,
        "acl" | "client" | "config" | "function" | "script" | "slowlog" => Container,
        "acl|setuser" | "acl|deluser" | "acl|list" | "acl|users" | "acl|whoami" | "acl|getuser"
        | "acl|cat" | "acl|genpass" | "acl|help" => Proxy,
        "client|setname"
        | "client|getname"
        | "client|id"
        | "client|info"
        | "client|list"
        | "client|kill"
        | "client|no-evict"
        | "client|reply"
        | "client|help"
        | "client|setinfo"
        | "client|pause"
        | "client|unpause"
        | "client|tracking"
        | "client|caching"
        | "client|getredir"
        | "client|trackinginfo"
        | "client|unblock"
        | "client|no-touch" => Proxy,
        "config|get" | "config|set" | "config|resetstat" | "config|help" => Proxy,
        "command|count" | "command|docs" | "command|info" | "command|list" | "command|getkeys"
        | "command|help" => Proxy,
        "function|flush" | "function|kill" | "function|list" | "function|help"
        | "function|load" | "function|delete" | "function|dump" | "function|restore"
        | "function|stats" => Proxy,
        "script|flush" | "script|exists" | "script|kill" | "script|help" | "script|load" => Proxy,
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro" => Proxy,
        "slowlog|get" | "slowlog|len" | "slowlog|reset" | "slowlog|help" => Proxy,
        // Pub/sub: the proxy holds the subscribers, brokers route messages.
        "subscribe" | "psubscribe" | "ssubscribe" | "unsubscribe" | "punsubscribe"
        | "sunsubscribe" | "publish" | "spublish" | "reset" => Proxy,
        "pubsub" => Container,
        "pubsub|channels"
        | "pubsub|numsub"
        | "pubsub|numpat"
        | "pubsub|shardchannels"
        | "pubsub|shardnumsub"
        | "pubsub|help" => Proxy,
        // Petrel's own, proxy to server.
        "petrel.scan" | "petrel.expired" | "petrel.dump" | "petrel.restore" | "petrel.sweep"
        | "petrel.exec" | "petrel.fingerprint" | "petrel.txn.run" | "petrel.txn.replace"
        | "petrel.eval" | "petrel.script.kill" | "petrel.fcall" | "petrel.moved"
        | "petrel.sort" => Internal,
        _ => Unserved,
    })
}
