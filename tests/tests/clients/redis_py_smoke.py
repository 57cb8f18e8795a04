#!/usr/bin/env python3
"""redis-py against a Petrel proxy, unchanged: `redis_py_smoke.py HOST PORT`.

Connects the way applications do (`redis.Redis(host, port)`, whose connect
handshake in redis-py 8 is HELLO 3, CLIENT MAINT_NOTIFICATIONS and CLIENT
SETINFO), then again with `protocol=2` and with `protocol=3` and
`decode_responses=True`, and runs the same suite over each: every data type,
the keyspace, transactions, pipelining and the server commands a client
library calls. Every result is asserted; any failure exits non-zero.

Sorted sets are reported as SKIP (not failed) only while the server answers
ZADD with "unknown command", so they are checked as soon as they exist.
Run by tests/tests/client_libraries.rs; also works against a real redis-server.
"""

import sys
import time
import traceback
import uuid

import redis


def s(value):
    """Bytes to str, recursively, so one suite checks both decode settings."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [s(v) for v in value]
    if isinstance(value, tuple):
        return tuple(s(v) for v in value)
    if isinstance(value, set):
        return {s(v) for v in value}
    if isinstance(value, dict):
        return {s(k): s(v) for k, v in value.items()}
    return value


def eq(got, want, what):
    got = s(got)
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def is_unknown_command(err):
    return "unknown command" in str(err).lower()


class Suite:
    """One run of every check over one connection; keys carry a unique token."""

    def __init__(self, r, label, connect):
        self.r = r
        # Opens a second client like `r`, for writes from "another client".
        self.connect = connect
        self.label = label
        self.tok = f"cl-py-{uuid.uuid4().hex[:10]}"
        # Multi-key commands need their keys in one partition: a shared hash tag.
        self.tag = "{" + self.tok + "}"
        self.created = set()
        self.skipped = []

    def k(self, name):
        """A single key of this run (spread over partitions)."""
        key = f"{self.tok}:{name}"
        self.created.add(key)
        return key

    def t(self, name):
        """A key of this run in the shared hash tag's partition."""
        key = f"{self.tag}:{name}"
        self.created.add(key)
        return key

    def run(self):
        """Runs every check, going on after a failure; returns the failures."""
        failures = []
        for check in [
            self.connection,
            self.strings,
            self.counters,
            self.expiry,
            self.hashes,
            self.lists,
            self.sets,
            self.zsets,
            self.keyspace,
            self.transactions,
            self.watch,
            self.pipelining,
            self.server,
        ]:
            try:
                check()
                print(f"  ok   {self.label}: {check.__name__}")
            except Exception:
                failures.append(f"{self.label}: {check.__name__}")
                print(f"  FAIL {self.label}: {check.__name__}")
                traceback.print_exc(file=sys.stdout)
        for what in self.skipped:
            print(f"  SKIP {self.label}: {what}")
        return failures

    def connection(self):
        r = self.r
        assert r.ping() is True, "PING"
        eq(r.echo("hello petrel"), "hello petrel", "ECHO")
        assert r.client_setname(f"smoke-{self.label}") is True, "CLIENT SETNAME"
        eq(r.client_getname(), f"smoke-{self.label}", "CLIENT GETNAME")
        my_id = r.client_id()
        assert isinstance(my_id, int), f"CLIENT ID: {my_id!r}"
        me = [c for c in s(r.client_list()) if c.get("name") == f"smoke-{self.label}"]
        assert me, "CLIENT LIST has no entry with this connection's name"

    def strings(self):
        r = self.r
        a = self.k("str")
        assert r.set(a, "v1") is True, "SET"
        eq(r.get(a), "v1", "GET")
        assert r.set(a, "v2", nx=True) is None, "SET NX on an existing key"
        eq(r.get(a), "v1", "GET after SET NX")
        assert r.set(a, "v2", xx=True) is True, "SET XX"
        eq(r.append(a, "+tail"), 7, "APPEND")
        eq(r.strlen(a), 7, "STRLEN")
        eq(r.getrange(a, 0, 1), "v2", "GETRANGE")
        eq(r.getset(a, "v3"), "v2+tail", "GETSET")
        eq(r.getex(a, ex=100), "v3", "GETEX EX")
        assert 90 <= r.ttl(a) <= 100, "TTL after GETEX EX"
        eq(r.getdel(a), "v3", "GETDEL")
        eq(r.exists(a), 0, "EXISTS after GETDEL")
        r.set(a, "v3")
        assert r.get(self.k("missing")) is None, "GET of a missing key"
        b, c = self.t("s1"), self.t("s2")
        assert r.mset({b: "1", c: "2"}) is True, "MSET"
        eq(r.mget([b, c, self.t("none")]), ["1", "2", None], "MGET")
        # Binary-safe values survive unchanged (decode_responses=True
        # could not decode them, so only without it).
        if not r.get_encoder().decode_responses:
            raw = bytes(range(256))
            r.set(self.k("bin"), raw)
            assert r.get(self.k("bin")) == raw, "binary GET"

    def counters(self):
        r = self.r
        c = self.k("counter")
        eq(r.incr(c), 1, "INCR")
        eq(r.incrby(c, 41), 42, "INCRBY")
        eq(r.decr(c), 41, "DECR")
        eq(r.decrby(c, 40), 1, "DECRBY")
        eq(r.incrbyfloat(c, 1.5), 2.5, "INCRBYFLOAT")
        r.set(c, "not a number")
        try:
            r.incr(c)
            raise AssertionError("INCR of a non-integer did not fail")
        except redis.ResponseError as e:
            assert "not an integer" in str(e), f"INCR error text: {e}"

    def expiry(self):
        r = self.r
        e = self.k("exp")
        r.set(e, "x")
        eq(r.ttl(e), -1, "TTL without expiry")
        assert r.expire(e, 100) is True, "EXPIRE"
        ttl = r.ttl(e)
        assert 90 <= ttl <= 100, f"TTL after EXPIRE 100: {ttl}"
        pttl = r.pttl(e)
        assert 90_000 <= pttl <= 100_000, f"PTTL: {pttl}"
        assert r.persist(e) is True, "PERSIST"
        eq(r.ttl(e), -1, "TTL after PERSIST")
        assert r.set(e, "y", px=150) is True, "SET PX"
        time.sleep(0.4)
        assert r.get(e) is None, "key still there after its PX ran out"
        eq(r.ttl(self.k("nokey")), -2, "TTL of a missing key")
        assert r.set(e, "z", ex=50) is True, "SET EX"
        assert 40 <= r.ttl(e) <= 50, "TTL after SET EX"

    def hashes(self):
        r = self.r
        h = self.k("hash")
        eq(r.hset(h, mapping={"f1": "v1", "f2": "v2", "n": "10"}), 3, "HSET mapping")
        eq(r.hset(h, "f1", "v1b"), 0, "HSET existing field")
        eq(r.hget(h, "f1"), "v1b", "HGET")
        eq(r.hgetall(h), {"f1": "v1b", "f2": "v2", "n": "10"}, "HGETALL")
        eq(r.hgetall(self.k("nohash")), {}, "HGETALL of a missing key")
        eq(r.hincrby(h, "n", 5), 15, "HINCRBY")
        eq(r.hincrbyfloat(h, "n", 0.5), 15.5, "HINCRBYFLOAT")
        eq(r.hmget(h, ["f1", "zz", "f2"]), ["v1b", None, "v2"], "HMGET")
        eq(r.hlen(h), 3, "HLEN")
        assert r.hexists(h, "f2") is True, "HEXISTS"
        eq(sorted(s(r.hkeys(h))), ["f1", "f2", "n"], "HKEYS")
        eq(r.hdel(h, "f2", "nope"), 1, "HDEL")
        eq(sorted(s(r.hrandfield(h, 5))), ["f1", "n"], "HRANDFIELD count")
        big = self.k("bighash")
        want = {f"field:{i}": str(i) for i in range(300)}
        r.hset(big, mapping=want)
        eq(dict(s(list(r.hscan_iter(big, count=25)))), want, "HSCAN via hscan_iter")
        eq(
            sorted(f for f, _ in s(list(r.hscan_iter(big, match="field:1?")))),
            sorted(f"field:1{i}" for i in range(10)),
            "HSCAN MATCH",
        )
        try:
            r.lpush(h, "x")
            raise AssertionError("LPUSH on a hash did not fail")
        except redis.ResponseError as e:
            assert str(e).startswith("WRONGTYPE"), f"WRONGTYPE text: {e}"

    def lists(self):
        r = self.r
        src, dst = self.t("list-src"), self.t("list-dst")
        eq(r.rpush(src, "a", "b", "c"), 3, "RPUSH")
        eq(r.lpush(src, "z"), 4, "LPUSH")
        eq(r.lrange(src, 0, -1), ["z", "a", "b", "c"], "LRANGE 0 -1")
        eq(r.lrange(src, -2, -1), ["b", "c"], "LRANGE negative")
        eq(r.llen(src), 4, "LLEN")
        eq(r.lindex(src, 1), "a", "LINDEX")
        eq(r.lpos(src, "b"), 2, "LPOS")
        eq(r.lpop(src), "z", "LPOP")
        eq(r.lpop(src, 2), ["a", "b"], "LPOP count")
        eq(r.rpush(src, "d", "e"), 3, "RPUSH more")
        eq(r.lmove(src, dst, "LEFT", "RIGHT"), "c", "LMOVE LEFT RIGHT")
        eq(r.lmove(src, dst, "RIGHT", "LEFT"), "e", "LMOVE RIGHT LEFT")
        eq(r.lrange(dst, 0, -1), ["e", "c"], "LRANGE of LMOVE target")
        eq(r.lrange(src, 0, -1), ["d"], "LRANGE of LMOVE source")
        assert r.lpop(self.k("nolist")) is None, "LPOP of a missing key"
        eq(r.rpop(dst), "c", "RPOP")
        assert r.lset(dst, 0, "E") is True, "LSET"
        eq(r.lrange(dst, 0, -1), ["E"], "LRANGE after LSET")

    def sets(self):
        r = self.r
        a, b = self.t("set-a"), self.t("set-b")
        eq(r.sadd(a, "1", "2", "3", "4"), 4, "SADD")
        eq(r.sadd(a, "4"), 0, "SADD existing member")
        eq(r.sadd(b, "3", "4", "5"), 3, "SADD b")
        eq(r.smembers(a), {"1", "2", "3", "4"}, "SMEMBERS")
        eq(r.smembers(self.k("noset")), set(), "SMEMBERS of a missing key")
        eq(r.sinter([a, b]), {"3", "4"}, "SINTER")
        eq(r.sunion([a, b]), {"1", "2", "3", "4", "5"}, "SUNION")
        eq(r.sdiff([a, b]), {"1", "2"}, "SDIFF")
        assert r.sismember(a, "2") in (True, 1), "SISMEMBER"
        eq(r.scard(a), 4, "SCARD")
        eq(r.smismember(a, ["1", "9"]), [1, 0], "SMISMEMBER")
        eq(r.srem(a, "1", "9"), 1, "SREM")
        big = self.k("bigset")
        want = {f"m{i}" for i in range(250)}
        r.sadd(big, *want)
        eq(set(s(list(r.sscan_iter(big, count=20)))), want, "SSCAN via sscan_iter")

    def zsets(self):
        r = self.r
        z = self.k("zset")
        try:
            added = r.zadd(z, {"a": 1, "b": 2.5, "c": 3})
        except redis.ResponseError as e:
            if is_unknown_command(e):
                self.skipped.append(f"zsets (server says: {e})")
                return
            raise
        eq(added, 3, "ZADD")
        eq(r.zadd(z, {"a": 1}), 0, "ZADD existing member")
        eq(r.zrange(z, 0, -1), ["a", "b", "c"], "ZRANGE")
        # Pairs are tuples or lists depending on protocol and decoding.
        eq(
            [tuple(pair) for pair in r.zrange(z, 0, -1, withscores=True)],
            [("a", 1.0), ("b", 2.5), ("c", 3.0)],
            "ZRANGE WITHSCORES",
        )
        eq(r.zincrby(z, 2, "a"), 3.0, "ZINCRBY")
        eq(r.zscore(z, "a"), 3.0, "ZSCORE")
        assert r.zscore(z, "nope") is None, "ZSCORE of a missing member"
        eq(r.zrank(z, "b"), 0, "ZRANK")
        assert r.zrank(z, "nope") is None, "ZRANK of a missing member"
        eq(r.zcard(z), 3, "ZCARD")
        eq(r.zrangebyscore(z, 2, 3), ["b", "a", "c"], "ZRANGEBYSCORE")
        eq(r.zrem(z, "b"), 1, "ZREM")

    def keyspace(self):
        r = self.r
        names = [self.k(f"ks{i}") for i in range(40)]
        for i, key in enumerate(names):
            r.set(key, i)
        # scan_iter walks every partition; everything this run made is found.
        live = {key for key in self.created if r.exists(key)}
        found = set(s(list(r.scan_iter(match=f"*{self.tok}*", count=7))))
        eq(found, live, "SCAN via scan_iter")
        eq(set(s(r.keys(f"*{self.tok}*"))), live, "KEYS")
        eq(r.type(names[0]), "string", "TYPE string")
        eq(r.type(self.k("hash")), "hash", "TYPE hash")
        eq(r.type(self.t("list-dst")), "list", "TYPE list")
        eq(r.type(self.t("set-a")), "set", "TYPE set")
        eq(r.type(self.k("nothing")), "none", "TYPE none")
        typed = set(s(list(r.scan_iter(match=f"*{self.tok}*", _type="hash"))))
        eq(typed, {self.k("hash"), self.k("bighash")}, "SCAN TYPE hash")
        old, new = self.t("old"), self.t("new")
        r.set(old, "moved")
        assert r.rename(old, new) is True, "RENAME"
        eq(r.get(new), "moved", "GET after RENAME")
        eq(r.exists(old), 0, "EXISTS of the renamed-away key")
        eq(r.exists(names[0], names[1], self.k("nothing")), 2, "EXISTS several")
        eq(r.delete(names[0], names[1], self.k("nothing")), 2, "DEL several")
        eq(r.exists(names[0]), 0, "EXISTS after DEL")
        assert r.dbsize() >= len(names) - 2, "DBSIZE counts this run's keys"

    def transactions(self):
        r = self.r
        c, l = self.t("tx-counter"), self.t("tx-list")
        p = r.pipeline(transaction=True)
        p.set(c, 10).incr(c).incrby(c, 5).rpush(l, "x", "y").lrange(l, 0, -1)
        eq(p.execute(), [True, 11, 16, 2, ["x", "y"]], "MULTI/EXEC via pipeline")
        # An error inside EXEC is returned in place; the rest still runs.
        p = r.pipeline(transaction=True)
        p.set(c, "abc").incr(c).get(c)
        res = p.execute(raise_on_error=False)
        assert res[0] is True, f"EXEC SET: {res}"
        assert isinstance(res[1], redis.ResponseError), f"EXEC INCR error: {res}"
        eq(res[2], "abc", "EXEC GET after a failed command")

    def watch(self):
        r = self.r
        key = self.t("watched")
        r.set(key, 5)

        def double(pipe):
            value = int(pipe.get(key))
            pipe.multi()
            pipe.set(key, value * 2)
            pipe.get(key)

        eq(r.transaction(double, key), [True, "10"], "WATCH via transaction()")
        eq(r.get(key), "10", "GET after transaction()")
        # A write by another client between WATCH and EXEC aborts the EXEC.
        other = self.connect()
        with r.pipeline() as pipe:
            pipe.watch(key)
            pipe.get(key)
            other.set(key, "changed")
            pipe.multi()
            pipe.set(key, "mine")
            try:
                pipe.execute()
                raise AssertionError("EXEC after a watched key changed did not abort")
            except redis.WatchError:
                pass
        eq(r.get(key), "changed", "GET after the aborted EXEC")
        other.close()

    def pipelining(self):
        r = self.r
        p = r.pipeline(transaction=False)
        want = []
        for i in range(50):
            key = self.k(f"pipe{i % 10}")
            p.incr(key)
            p.get(key)
            want += [i // 10 + 1, str(i // 10 + 1)]
        eq(p.execute(), want, "pipeline of 100 commands")

    def server(self):
        r = self.r
        info = s(r.info())
        assert "redis_version" in info, f"INFO has no redis_version: {sorted(info)[:20]}"
        server = s(r.info("server"))
        assert "redis_version" in server, "INFO server"
        assert r.dbsize() > 0, "DBSIZE"
        cfg = s(r.config_get("maxmemory"))
        assert "maxmemory" in cfg, f"CONFIG GET maxmemory: {cfg}"
        cfg = s(r.config_get("*max*"))
        assert "maxmemory" in cfg, f"CONFIG GET pattern: {cfg}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: redis_py_smoke.py HOST PORT")
    host, port = sys.argv[1], int(sys.argv[2])
    print(f"redis-py {redis.__version__} against {host}:{port}")
    runs = [
        ("default", {}),
        ("resp2", {"protocol": 2}),
        ("resp3-decoded", {"protocol": 3, "decode_responses": True}),
    ]
    failures = []
    for label, kwargs in runs:

        def connect(kwargs=kwargs):
            return redis.Redis(host, port, **kwargs)

        r = connect()
        try:
            # The connect handshake runs here, on the first command.
            conn = r.connection_pool.get_connection()
            print(f"{label}: connected, protocol {conn.get_protocol()}")
            r.connection_pool.release(conn)
        except Exception:
            failures.append(f"{label}: connect")
            print(f"  FAIL {label}: connect")
            traceback.print_exc(file=sys.stdout)
            continue
        try:
            failures += Suite(r, label, connect).run()
        finally:
            r.close()
    if failures:
        print("redis-py FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("redis-py PASSED")


if __name__ == "__main__":
    main()
