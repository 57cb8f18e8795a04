#!/usr/bin/env node
// ioredis against a Petrel proxy, unchanged: `node ioredis_smoke.js HOST PORT`.
//
// Connects with ioredis's defaults (`new Redis(port, host)`: RESP2, CLIENT
// SETINFO at connect, then the INFO ready check) and runs every data type,
// the keyspace, transactions, pipelining and the server commands a client
// library calls. Every result is asserted; any failure exits non-zero.
//
// Sorted sets are reported as SKIP (not failed) only while the server answers
// ZADD with "unknown command", so they are checked as soon as they exist.
// Run by tests/tests/client_libraries.rs (which puts ioredis on NODE_PATH);
// also works against a real redis-server.

"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const Redis = require("ioredis");

const [host, portArg] = process.argv.slice(2);
if (!host || !portArg) {
  console.error("usage: ioredis_smoke.js HOST PORT");
  process.exit(2);
}
const port = Number(portArg);

const tok = `cl-js-${crypto.randomBytes(5).toString("hex")}`;
// Multi-key commands need their keys in one partition: a shared hash tag.
const tag = `{${tok}}`;
const created = new Set();
const skipped = [];

/** A single key of this run (spread over partitions). */
function k(name) {
  const key = `${tok}:${name}`;
  created.add(key);
  return key;
}

/** A key of this run in the shared hash tag's partition. */
function t(name) {
  const key = `${tag}:${name}`;
  created.add(key);
  return key;
}

/** Resolves when the ready check (INFO) has passed, or fails on an error. */
function connect() {
  const r = new Redis(port, host);
  return new Promise((resolve, reject) => {
    const fail = (err) => {
      clearTimeout(timer);
      r.disconnect();
      reject(err);
    };
    // ioredis retries for ever; a handshake the server rejects must fail the run.
    const timer = setTimeout(() => fail(new Error("not ready after 15 s")), 15000);
    r.once("ready", () => {
      clearTimeout(timer);
      resolve(r);
    });
    r.once("error", fail);
  });
}

/** Rejects unless `promise` fails with an error whose message matches `re`. */
async function rejects(promise, re, what) {
  try {
    await promise;
  } catch (err) {
    assert.match(err.message, re, what);
    return;
  }
  assert.fail(`${what}: no error`);
}

function sorted(a) {
  return [...a].sort();
}

async function connection(r) {
  assert.equal(await r.ping(), "PONG", "PING");
  assert.equal(await r.echo("hello petrel"), "hello petrel", "ECHO");
  assert.equal(await r.client("SETNAME", "smoke-ioredis"), "OK", "CLIENT SETNAME");
  assert.equal(await r.client("GETNAME"), "smoke-ioredis", "CLIENT GETNAME");
  assert.equal(typeof (await r.client("ID")), "number", "CLIENT ID");
  assert.match(await r.client("LIST"), /\bname=smoke-ioredis\b/, "CLIENT LIST");
}

async function strings(r) {
  const a = k("str");
  assert.equal(await r.set(a, "v1"), "OK", "SET");
  assert.equal(await r.get(a), "v1", "GET");
  assert.equal(await r.set(a, "v2", "NX"), null, "SET NX on an existing key");
  assert.equal(await r.set(a, "v2", "XX"), "OK", "SET XX");
  assert.equal(await r.append(a, "+tail"), 7, "APPEND");
  assert.equal(await r.strlen(a), 7, "STRLEN");
  assert.equal(await r.getrange(a, 0, 1), "v2", "GETRANGE");
  assert.equal(await r.getset(a, "v3"), "v2+tail", "GETSET");
  assert.equal(await r.getex(a, "EX", 100), "v3", "GETEX EX");
  assert.equal(await r.getdel(a), "v3", "GETDEL");
  assert.equal(await r.exists(a), 0, "EXISTS after GETDEL");
  assert.equal(await r.get(k("missing")), null, "GET of a missing key");
  const [b, c] = [t("s1"), t("s2")];
  assert.equal(await r.mset(b, "1", c, "2"), "OK", "MSET");
  assert.deepEqual(await r.mget(b, c, t("none")), ["1", "2", null], "MGET");
  const raw = Buffer.from([...Array(256).keys()]);
  await r.set(k("bin"), raw);
  assert.deepEqual(await r.getBuffer(k("bin")), raw, "binary GET");
}

async function counters(r) {
  const c = k("counter");
  assert.equal(await r.incr(c), 1, "INCR");
  assert.equal(await r.incrby(c, 41), 42, "INCRBY");
  assert.equal(await r.decr(c), 41, "DECR");
  assert.equal(await r.decrby(c, 40), 1, "DECRBY");
  assert.equal(await r.incrbyfloat(c, 1.5), "2.5", "INCRBYFLOAT");
  await r.set(c, "not a number");
  await rejects(r.incr(c), /not an integer/, "INCR of a non-integer");
}

async function expiry(r) {
  const e = k("exp");
  await r.set(e, "x");
  assert.equal(await r.ttl(e), -1, "TTL without expiry");
  assert.equal(await r.expire(e, 100), 1, "EXPIRE");
  const ttl = await r.ttl(e);
  assert.ok(ttl >= 90 && ttl <= 100, `TTL after EXPIRE 100: ${ttl}`);
  const pttl = await r.pttl(e);
  assert.ok(pttl >= 90000 && pttl <= 100000, `PTTL: ${pttl}`);
  assert.equal(await r.persist(e), 1, "PERSIST");
  assert.equal(await r.ttl(e), -1, "TTL after PERSIST");
  assert.equal(await r.set(e, "y", "PX", 150), "OK", "SET PX");
  await new Promise((done) => setTimeout(done, 400));
  assert.equal(await r.get(e), null, "key still there after its PX ran out");
  assert.equal(await r.ttl(k("nokey")), -2, "TTL of a missing key");
  assert.equal(await r.setex(e, 50, "z"), "OK", "SETEX");
}

async function hashes(r) {
  const h = k("hash");
  assert.equal(await r.hset(h, { f1: "v1", f2: "v2", n: "10" }), 3, "HSET object");
  assert.equal(await r.hset(h, "f1", "v1b"), 0, "HSET existing field");
  assert.equal(await r.hget(h, "f1"), "v1b", "HGET");
  assert.deepEqual(await r.hgetall(h), { f1: "v1b", f2: "v2", n: "10" }, "HGETALL");
  assert.deepEqual(await r.hgetall(k("nohash")), {}, "HGETALL of a missing key");
  assert.equal(await r.hincrby(h, "n", 5), 15, "HINCRBY");
  assert.equal(await r.hincrbyfloat(h, "n", 0.5), "15.5", "HINCRBYFLOAT");
  assert.deepEqual(await r.hmget(h, "f1", "zz", "f2"), ["v1b", null, "v2"], "HMGET");
  assert.equal(await r.hlen(h), 3, "HLEN");
  assert.equal(await r.hexists(h, "f2"), 1, "HEXISTS");
  assert.deepEqual(sorted(await r.hkeys(h)), ["f1", "f2", "n"], "HKEYS");
  assert.equal(await r.hdel(h, "f2", "nope"), 1, "HDEL");
  assert.deepEqual(sorted(await r.hrandfield(h, 5)), ["f1", "n"], "HRANDFIELD count");
  const big = k("bighash");
  const want = {};
  for (let i = 0; i < 300; i++) want[`field:${i}`] = String(i);
  await r.hset(big, want);
  const got = {};
  for await (const page of r.hscanStream(big, { count: 25 })) {
    for (let i = 0; i < page.length; i += 2) got[page[i]] = page[i + 1];
  }
  assert.deepEqual(got, want, "HSCAN via hscanStream");
  await rejects(r.lpush(h, "x"), /^WRONGTYPE/, "LPUSH on a hash");
}

async function lists(r) {
  const [src, dst] = [t("list-src"), t("list-dst")];
  assert.equal(await r.rpush(src, "a", "b", "c"), 3, "RPUSH");
  assert.equal(await r.lpush(src, "z"), 4, "LPUSH");
  assert.deepEqual(await r.lrange(src, 0, -1), ["z", "a", "b", "c"], "LRANGE 0 -1");
  assert.deepEqual(await r.lrange(src, -2, -1), ["b", "c"], "LRANGE negative");
  assert.equal(await r.llen(src), 4, "LLEN");
  assert.equal(await r.lindex(src, 1), "a", "LINDEX");
  assert.equal(await r.lpos(src, "b"), 2, "LPOS");
  assert.equal(await r.lpop(src), "z", "LPOP");
  assert.deepEqual(await r.lpop(src, 2), ["a", "b"], "LPOP count");
  assert.equal(await r.rpush(src, "d", "e"), 3, "RPUSH more");
  assert.equal(await r.lmove(src, dst, "LEFT", "RIGHT"), "c", "LMOVE LEFT RIGHT");
  assert.equal(await r.lmove(src, dst, "RIGHT", "LEFT"), "e", "LMOVE RIGHT LEFT");
  assert.deepEqual(await r.lrange(dst, 0, -1), ["e", "c"], "LRANGE of LMOVE target");
  assert.deepEqual(await r.lrange(src, 0, -1), ["d"], "LRANGE of LMOVE source");
  assert.equal(await r.lpop(k("nolist")), null, "LPOP of a missing key");
  assert.equal(await r.rpop(dst), "c", "RPOP");
  assert.equal(await r.lset(dst, 0, "E"), "OK", "LSET");
}

async function sets(r) {
  const [a, b] = [t("set-a"), t("set-b")];
  assert.equal(await r.sadd(a, "1", "2", "3", "4"), 4, "SADD");
  assert.equal(await r.sadd(a, "4"), 0, "SADD existing member");
  assert.equal(await r.sadd(b, "3", "4", "5"), 3, "SADD b");
  assert.deepEqual(sorted(await r.smembers(a)), ["1", "2", "3", "4"], "SMEMBERS");
  assert.deepEqual(await r.smembers(k("noset")), [], "SMEMBERS of a missing key");
  assert.deepEqual(sorted(await r.sinter(a, b)), ["3", "4"], "SINTER");
  assert.deepEqual(sorted(await r.sunion(a, b)), ["1", "2", "3", "4", "5"], "SUNION");
  assert.deepEqual(sorted(await r.sdiff(a, b)), ["1", "2"], "SDIFF");
  assert.equal(await r.sismember(a, "2"), 1, "SISMEMBER");
  assert.equal(await r.scard(a), 4, "SCARD");
  assert.deepEqual(await r.smismember(a, "1", "9"), [1, 0], "SMISMEMBER");
  assert.equal(await r.srem(a, "1", "9"), 1, "SREM");
  const big = k("bigset");
  const want = [];
  for (let i = 0; i < 250; i++) want.push(`m${i}`);
  await r.sadd(big, ...want);
  const got = new Set();
  for await (const page of r.sscanStream(big, { count: 20 })) page.forEach((m) => got.add(m));
  assert.deepEqual(sorted(got), sorted(want), "SSCAN via sscanStream");
}

async function zsets(r) {
  const z = k("zset");
  let added;
  try {
    added = await r.zadd(z, 1, "a", 2.5, "b", 3, "c");
  } catch (err) {
    if (/unknown command/i.test(err.message)) {
      skipped.push(`zsets (server says: ${err.message})`);
      return;
    }
    throw err;
  }
  assert.equal(added, 3, "ZADD");
  assert.equal(await r.zadd(z, 1, "a"), 0, "ZADD existing member");
  assert.deepEqual(await r.zrange(z, 0, -1), ["a", "b", "c"], "ZRANGE");
  assert.deepEqual(
    await r.zrange(z, 0, -1, "WITHSCORES"),
    ["a", "1", "b", "2.5", "c", "3"],
    "ZRANGE WITHSCORES",
  );
  assert.equal(await r.zincrby(z, 2, "a"), "3", "ZINCRBY");
  assert.equal(await r.zscore(z, "a"), "3", "ZSCORE");
  assert.equal(await r.zscore(z, "nope"), null, "ZSCORE of a missing member");
  assert.equal(await r.zrank(z, "b"), 0, "ZRANK");
  assert.equal(await r.zrank(z, "nope"), null, "ZRANK of a missing member");
  assert.equal(await r.zcard(z), 3, "ZCARD");
  assert.deepEqual(await r.zrangebyscore(z, 2, 3), ["b", "a", "c"], "ZRANGEBYSCORE");
  assert.equal(await r.zrem(z, "b"), 1, "ZREM");
}

async function keyspace(r) {
  const names = [];
  for (let i = 0; i < 40; i++) names.push(k(`ks${i}`));
  await Promise.all(names.map((key, i) => r.set(key, i)));
  // scanStream walks every partition; everything this run made is found.
  const live = [];
  for (const key of created) if (await r.exists(key)) live.push(key);
  const found = new Set();
  for await (const page of r.scanStream({ match: `*${tok}*`, count: 7 })) {
    page.forEach((key) => found.add(key));
  }
  assert.deepEqual(sorted(found), sorted(live), "SCAN via scanStream");
  assert.deepEqual(sorted(await r.keys(`*${tok}*`)), sorted(live), "KEYS");
  assert.equal(await r.type(names[0]), "string", "TYPE string");
  assert.equal(await r.type(k("hash")), "hash", "TYPE hash");
  assert.equal(await r.type(t("list-dst")), "list", "TYPE list");
  assert.equal(await r.type(t("set-a")), "set", "TYPE set");
  assert.equal(await r.type(k("nothing")), "none", "TYPE none");
  const typed = new Set();
  for await (const page of r.scanStream({ match: `*${tok}*`, type: "hash" })) {
    page.forEach((key) => typed.add(key));
  }
  assert.deepEqual(sorted(typed), sorted([k("hash"), k("bighash")]), "SCAN TYPE hash");
  const [old, fresh] = [t("old"), t("new")];
  await r.set(old, "moved");
  assert.equal(await r.rename(old, fresh), "OK", "RENAME");
  assert.equal(await r.get(fresh), "moved", "GET after RENAME");
  assert.equal(await r.exists(old), 0, "EXISTS of the renamed-away key");
  assert.equal(await r.exists(names[0], names[1], k("nothing")), 2, "EXISTS several");
  assert.equal(await r.del(names[0], names[1], k("nothing")), 2, "DEL several");
  assert.ok((await r.dbsize()) >= names.length - 2, "DBSIZE counts this run's keys");
}

async function transactions(r) {
  const [c, l] = [t("tx-counter"), t("tx-list")];
  const res = await r
    .multi()
    .set(c, 10)
    .incr(c)
    .incrby(c, 5)
    .rpush(l, "x", "y")
    .lrange(l, 0, -1)
    .exec();
  assert.deepEqual(
    res,
    [[null, "OK"], [null, 11], [null, 16], [null, 2], [null, ["x", "y"]]],
    "MULTI/EXEC",
  );
  // An error inside EXEC comes back in place; the rest still runs.
  const mixed = await r.multi().set(c, "abc").incr(c).get(c).exec();
  assert.deepEqual(mixed[0], [null, "OK"], "EXEC SET");
  assert.match(String(mixed[1][0]), /not an integer/, "EXEC INCR error");
  assert.deepEqual(mixed[2], [null, "abc"], "EXEC GET after a failed command");
  // WATCH: a write by another client between WATCH and EXEC aborts the EXEC.
  const key = t("watched");
  await r.set(key, "5");
  assert.equal(await r.watch(key), "OK", "WATCH");
  const other = await connect();
  await other.set(key, "changed");
  other.disconnect();
  assert.equal(await r.multi().set(key, "mine").exec(), null, "EXEC after the watched key changed");
  assert.equal(await r.get(key), "changed", "GET after the aborted EXEC");
  assert.equal(await r.watch(key), "OK", "WATCH again");
  assert.deepEqual(await r.multi().set(key, "mine").exec(), [[null, "OK"]], "EXEC unchanged");
}

async function pipelining(r) {
  const p = r.pipeline();
  const want = [];
  for (let i = 0; i < 50; i++) {
    const key = k(`pipe${i % 10}`);
    p.incr(key);
    p.get(key);
    const n = Math.floor(i / 10) + 1;
    want.push([null, n], [null, String(n)]);
  }
  assert.deepEqual(await p.exec(), want, "pipeline of 100 commands");
  // Commands sent without awaiting each one share the connection too.
  const many = await Promise.all(names100().map((key) => r.set(key, "v")));
  assert.deepEqual(many, Array(100).fill("OK"), "100 concurrent SETs");
}

// Lua scripts by defineCommand (EVALSHA, falling back to EVAL on
// NOSCRIPT), plain and in a pipeline, over keys of one partition and of
// several.
async function scripts(r) {
  r.defineCommand("petrelIncrBy", {
    numberOfKeys: 1,
    lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
  });
  r.defineCommand("petrelMove", {
    numberOfKeys: 2,
    lua:
      "local n = redis.call('DECRBY', KEYS[1], ARGV[1]) " +
      "return {n, redis.call('INCRBY', KEYS[2], ARGV[1])}",
  });
  const ctr = k("script-counter");
  assert.equal(await r.petrelIncrBy(ctr, 5), 5, "defineCommand");
  assert.equal(await r.petrelIncrBy(ctr, 2), 7, "defineCommand again (EVALSHA)");
  const piped = await r.pipeline().petrelIncrBy(ctr, 1).get(ctr).exec();
  assert.deepEqual(piped, [[null, 8], [null, "8"]], "defineCommand in a pipeline");
  // Spread keys: usually in different partitions.
  const [a, b] = [k("script-a"), k("script-b")];
  await r.set(a, 10);
  assert.deepEqual(await r.petrelMove(a, b, 3), [7, 3], "a script over two keys");
  assert.deepEqual(await r.mget(a, b), ["7", "3"], "MGET after the script");
  assert.equal(await r.script("FLUSH"), "OK", "SCRIPT FLUSH");
  assert.equal(await r.petrelIncrBy(ctr, 1), 9, "defineCommand after SCRIPT FLUSH");
  await rejects(
    r.eval("return redis.call('HGET', KEYS[1], 'f')", 1, a),
    /WRONGTYPE/,
    "a script's error reply",
  );
}

function names100() {
  return [...Array(100).keys()].map((i) => k(`conc${i}`));
}

async function server(r) {
  const info = await r.info();
  assert.match(info, /^redis_version:/m, "INFO has redis_version");
  assert.match(await r.info("server"), /^redis_version:/m, "INFO server");
  assert.ok((await r.dbsize()) > 0, "DBSIZE");
  const cfg = await r.config("GET", "maxmemory");
  assert.equal(cfg[0], "maxmemory", `CONFIG GET maxmemory: ${cfg}`);
  const all = await r.config("GET", "*max*");
  assert.ok(all.includes("maxmemory"), `CONFIG GET pattern: ${all}`);
}

async function main() {
  console.log(`ioredis ${require("ioredis/package.json").version} against ${host}:${port}`);
  let r;
  try {
    r = await connect();
  } catch (err) {
    console.log("  FAIL connect (default options, ready check):");
    console.log(err && err.stack ? err.stack : err);
    console.log("ioredis FAILED: connect");
    process.exit(1);
  }
  console.log("connected, ready check passed");
  const failures = [];
  const checks = [connection, strings, counters, expiry, hashes, lists, sets, zsets];
  checks.push(keyspace, transactions, pipelining, scripts, server);
  // Every check runs, going on after a failure.
  for (const check of checks) {
    try {
      await check(r);
      console.log(`  ok   ${check.name}`);
    } catch (err) {
      failures.push(check.name);
      console.log(`  FAIL ${check.name}:`);
      console.log(err && err.stack ? err.stack : err);
    }
  }
  for (const what of skipped) console.log(`  SKIP ${what}`);
  r.disconnect();
  if (failures.length) {
    console.log(`ioredis FAILED: ${failures.join(", ")}`);
    process.exit(1);
  }
  console.log("ioredis PASSED");
  process.exit(0);
}

main();
