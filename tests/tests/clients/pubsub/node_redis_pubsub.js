#!/usr/bin/env node
// node-redis pub/sub: `node node_redis_pubsub.js HOST PUB_PORT SUB_PORT [RESP]`.
//
// A publisher on PUB_PORT and two `client.duplicate()` subscribers: one on
// the same endpoint, one on SUB_PORT (another proxy of the same cluster, or
// the same redis-server). They subscribe to channels and a pattern
// (`pSubscribe`), the publisher publishes and each PUBLISH's receiver count
// is checked (every subscribed connection counts, wherever it is, as on a
// standalone Redis), each subscriber must get exactly its messages with the
// right channel, through the right listener, in order per channel and
// byte-exact in buffer mode; then PUBSUB NUMSUB / NUMPAT / CHANNELS, and
// unsubscribing stops delivery and lowers the counts.
//
// Without RESP the clients keep node-redis 5's defaults, which speak RESP2
// (no HELLO); with RESP 3 they send HELLO 3 and get messages as push frames,
// and a subscribed connection also runs ordinary commands.
// Every wait is bounded; a failure prints `FAIL ...` and exits 1.
// Run by tests/tests/pubsub_libraries.rs (node_modules from package.json
// here on NODE_PATH).

"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { createClient } = require("redis");
const { Inbox, fail, limitRun, within } = require("./harness");

const [host, pubPortArg, subPortArg, respArg] = process.argv.slice(2);
if (!host || !pubPortArg || !subPortArg) {
  console.error("usage: node_redis_pubsub.js HOST PUB_PORT SUB_PORT [RESP]");
  process.exit(2);
}
const options = { socket: { host, port: Number(pubPortArg) } };
if (respArg) options.RESP = Number(respArg);
const name = `node-redis pub/sub (${respArg ? `RESP: ${respArg}` : "defaults, RESP2"})`;
const finished = limitRun(name, 60000);

const tok = `ps-js-${crypto.randomBytes(5).toString("hex")}`;
// No hash tags: the channels hash to different partitions.
const news = `${tok}.news`;
const sports = `${tok}.sports`;
const flash = `${tok}.newsflash`; // matched by the pattern only
const weather = `${tok}.weather`; // nobody listens
const binary = `${tok}.binary`;
const pattern = `${tok}.new*`;

/** Messages as `channel message` strings, sorted: across channels Redis
 * promises no order. */
function sorted(items) {
  return items.map((m) => `${m.channel} ${m.message}`).sort();
}

const errors = [];
/** Connects `client`, recording connection errors for the failure report. */
async function connect(client, what) {
  client.on("error", (err) => errors.push(`${what}: ${err}`));
  await within(client.connect(), `connect ${what}`);
  return client;
}

async function publish(pub, channel, message, receivers) {
  const got = await within(pub.publish(channel, message), `PUBLISH ${channel}`);
  assert.equal(got, receivers, `PUBLISH ${channel} reaches ${receivers} subscription(s)`);
}

async function main() {
  const pub = await connect(createClient(options), "the publisher");
  // One subscriber beside the publisher, one on the other endpoint.
  const here = await connect(pub.duplicate(), "the subscriber on PUB_PORT");
  const there = await connect(
    pub.duplicate({ socket: { host, port: Number(subPortArg) } }),
    "the subscriber on SUB_PORT",
  );

  const hereInbox = new Inbox("here's news listener");
  const thereInbox = new Inbox("there's channel listener");
  const patternInbox = new Inbox("there's pattern listener");
  const binaryInbox = new Inbox("there's buffer-mode listener");
  const listen = (inbox) => (message, channel) => inbox.push({ channel, message });
  await within(here.subscribe(news, listen(hereInbox)), "SUBSCRIBE news (here)");
  await within(there.subscribe([news, sports], listen(thereInbox)), "SUBSCRIBE news sports (there)");
  await within(there.pSubscribe(pattern, listen(patternInbox)), "PSUBSCRIBE (there)");
  await within(there.subscribe(binary, listen(binaryInbox), true), "SUBSCRIBE binary, buffers");

  // Receiver counts: every matching subscription of every connection.
  await publish(pub, news, "n1", 3);
  await publish(pub, sports, "s1", 1);
  await publish(pub, flash, "f1", 1);
  await publish(pub, weather, "w1", 0);
  assert.deepEqual(await hereInbox.take(1), [{ channel: news, message: "n1" }]);
  assert.deepEqual(sorted(await thereInbox.take(2)), [`${news} n1`, `${sports} s1`]);
  assert.deepEqual(sorted(await patternInbox.take(2)), [`${news} n1`, `${flash} f1`]);

  // Binary-safe payloads (buffer mode hands Buffers to the listener).
  const bytes = Buffer.from([0, 255, 13, 10, 42, 0x80, 0xfe]);
  const big = crypto.randomBytes(64 * 1024);
  await publish(pub, binary, bytes, 1);
  await publish(pub, binary, big, 1);
  const [b1, b2] = await binaryInbox.take(2);
  assert.ok(Buffer.isBuffer(b1.message) && Buffer.isBuffer(b1.channel), "buffer mode gives Buffers");
  assert.equal(b1.channel.toString(), binary);
  assert.ok(b1.message.equals(bytes), `binary payload intact: ${b1.message.toString("hex")}`);
  assert.ok(b2.message.equals(big), `64 KiB payload intact (got ${b2.message.length} bytes)`);

  // In order per channel, pipelined publishes included.
  const burst = Array.from({ length: 50 }, (_, i) => `m${i}`);
  const counts = await within(Promise.all(burst.map((m) => pub.publish(news, m))), "50 PUBLISH");
  assert.deepEqual(counts, burst.map(() => 3), "each of 50 PUBLISH reaches 3");
  const inOrder = burst.map((message) => ({ channel: news, message }));
  assert.deepEqual(await hereInbox.take(50), inOrder, "here: in publish order");
  assert.deepEqual(await thereInbox.take(50), inOrder, "there: in publish order");
  assert.deepEqual(await patternInbox.take(50), inOrder, "pattern: in publish order");

  if (options.RESP === 3) {
    // RESP3: a subscribed connection runs ordinary commands too, their
    // replies interleaved with push frames.
    const key = `${tok}:key`;
    assert.equal(await within(there.set(key, "v"), "SET while subscribed"), "OK");
    assert.equal(await within(there.get(key), "GET while subscribed"), "v");
    await within(there.del(key), "DEL while subscribed");
  }

  // Introspection, from a connection that subscribes to nothing.
  assert.deepEqual(
    { ...(await within(pub.pubSubNumSub([news, sports, weather]), "PUBSUB NUMSUB")) },
    { [news]: 2, [sports]: 1, [weather]: 0 },
    "PUBSUB NUMSUB",
  );
  assert.equal(await within(pub.pubSubNumPat(), "PUBSUB NUMPAT"), 1, "PUBSUB NUMPAT");
  assert.deepEqual(
    (await within(pub.pubSubChannels(`${tok}.*`), "PUBSUB CHANNELS")).sort(),
    [binary, news, sports],
    "PUBSUB CHANNELS",
  );

  // Unsubscribing stops delivery and lowers the counts.
  await within(here.unsubscribe(news), "UNSUBSCRIBE news (here)");
  await publish(pub, news, "n2", 2);
  assert.deepEqual(await thereInbox.take(1), [{ channel: news, message: "n2" }]);
  assert.deepEqual(await patternInbox.take(1), [{ channel: news, message: "n2" }]);
  await within(there.pUnsubscribe(pattern), "PUNSUBSCRIBE (there)");
  await publish(pub, news, "n3", 1);
  await publish(pub, flash, "f2", 0);
  assert.deepEqual(await thereInbox.take(1), [{ channel: news, message: "n3" }]);
  await within(there.unsubscribe(), "UNSUBSCRIBE all (there)");
  await publish(pub, news, "n4", 0);
  await publish(pub, sports, "s2", 0);
  await publish(pub, binary, "b", 0);
  assert.equal(await within(pub.pubSubNumPat(), "PUBSUB NUMPAT"), 0, "PUBSUB NUMPAT after");
  assert.deepEqual(
    await within(pub.pubSubChannels(`${tok}.*`), "PUBSUB CHANNELS"),
    [],
    "PUBSUB CHANNELS after",
  );
  for (const inbox of [hereInbox, thereInbox, patternInbox, binaryInbox]) {
    await inbox.expectNothing();
  }

  // Out of subscribed mode: ordinary commands again. node-redis 5.12 with
  // RESP2 hands a connection's replies over as Buffers once it has left
  // subscribed mode (so against redis-server too): compare the text.
  assert.equal(String(await within(here.ping(), "PING (here)")), "PONG");
  assert.equal(String(await within(there.ping(), "PING (there)")), "PONG");
  await within(Promise.all([pub, here, there].map((c) => c.close())), "close");
  assert.deepEqual(errors, [], "no connection errors");
  finished();
  console.log(`OK ${name}`);
}

main().catch((err) => {
  if (errors.length > 0) console.error(`connection errors:\n  ${errors.join("\n  ")}`);
  fail(name, err);
});
