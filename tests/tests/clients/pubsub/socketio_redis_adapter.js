#!/usr/bin/env node
// socket.io across two servers through its Redis adapter:
// `node socketio_redis_adapter.js HOST PORT_A PORT_B`.
//
// Two socket.io servers in this process, each on its own HTTP port and each
// with `@socket.io/redis-adapter` over node-redis clients set up as the
// adapter's documentation shows (`pubClient = createClient(...)`,
// `subClient = pubClient.duplicate()`): server A's on PORT_A, server B's on
// PORT_B (two proxies of one cluster, or the same redis-server). A
// socket.io-client connects to each server, and:
// - `fetchSockets()` on A sees both clients (requests and responses over
//   pub/sub, counted with PUBSUB NUMSUB), with their rooms;
// - `io.emit` on A reaches the client of B, and the client of A;
// - a room broadcast reaches only the room's client, from either server;
// - a binary payload arrives intact;
// - `serverSideEmit` on A reaches B.
// Every wait is bounded; a failure prints `FAIL ...` and exits 1.
// Run by tests/tests/pubsub_libraries.rs.

"use strict";

const assert = require("node:assert/strict");
const http = require("node:http");
const { createClient } = require("redis");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { io: connectClient } = require("socket.io-client");
const { Inbox, fail, limitRun, waitUntil, within } = require("./harness");

const [host, portA, portB] = process.argv.slice(2);
if (!host || !portA || !portB) {
  console.error("usage: socketio_redis_adapter.js HOST PORT_A PORT_B");
  process.exit(2);
}
const name = "socket.io with @socket.io/redis-adapter";
const finished = limitRun(name, 60000);
const errors = [];

/** A socket.io server whose adapter uses the Redis endpoint `port`; each
 * connecting client joins the room named in its handshake query. */
async function startServer(label, port) {
  const pubClient = createClient({ socket: { host, port: Number(port) } });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (err) => errors.push(`${label} pubClient: ${err}`));
  subClient.on("error", (err) => errors.push(`${label} subClient: ${err}`));
  await within(
    Promise.all([pubClient.connect(), subClient.connect()]),
    `connect server ${label}'s Redis clients`,
  );
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient) });
  io.on("connection", (socket) => socket.join(socket.handshake.query.room));
  await within(
    new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve)),
    `server ${label} listening`,
  );
  return { label, io, httpServer, pubClient, subClient, url: `http://127.0.0.1:${httpServer.address().port}` };
}

/** A socket.io-client of `server` in `room`, once connected; every event it
 * receives goes to its inbox as `[event, ...args]`. */
async function connectTo(server, room) {
  const socket = connectClient(server.url, {
    query: { room },
    transports: ["websocket"],
    reconnection: false,
    timeout: 5000,
  });
  const inbox = new Inbox(`the client of ${server.label}`);
  socket.onAny((event, ...args) => inbox.push([event, ...args]));
  await within(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    `connect a client to server ${server.label}`,
  );
  return { socket, inbox };
}

async function main() {
  const a = await startServer("A", portA);
  const b = await startServer("B", portB);
  const atA = await connectTo(a, "red");
  const atB = await connectTo(b, "blue");

  // The adapters find each other: A's fetchSockets() asks every server over
  // the request channel and counts them with PUBSUB NUMSUB.
  let sockets = [];
  await waitUntil(
    async () => {
      sockets = await a.io.fetchSockets();
      return sockets.length === 2;
    },
    () => `A's fetchSockets() to see both clients, saw ${sockets.map((s) => s.id)}`,
  );
  const rooms = Object.fromEntries(sockets.map((s) => [s.id, [...s.rooms].sort()]));
  assert.deepEqual(
    rooms,
    {
      [atA.socket.id]: [atA.socket.id, "red"].sort(),
      [atB.socket.id]: [atB.socket.id, "blue"].sort(),
    },
    "fetchSockets: every client with its rooms",
  );
  assert.equal(await within(a.io.of("/").adapter.serverCount(), "serverCount"), 2, "serverCount");
  const blue = await within(a.io.in("blue").fetchSockets(), "fetchSockets of room blue");
  assert.deepEqual(blue.map((s) => s.id), [atB.socket.id], "room blue's sockets, seen from A");

  // A broadcast from A reaches the client of B (over Redis) and of A.
  a.io.emit("hello", { from: "A", n: 1 });
  assert.deepEqual(await atB.inbox.take(1), [["hello", { from: "A", n: 1 }]], "broadcast A → B");
  assert.deepEqual(await atA.inbox.take(1), [["hello", { from: "A", n: 1 }]], "broadcast A → A");

  // Room broadcasts reach the room only, from either server.
  a.io.to("blue").emit("room", "A to blue");
  b.io.to("red").emit("room", "B to red");
  assert.deepEqual(await atB.inbox.take(1), [["room", "A to blue"]], "room blue from A");
  assert.deepEqual(await atA.inbox.take(1), [["room", "B to red"]], "room red from B");

  // Binary payloads travel intact.
  const bytes = Buffer.from([0, 1, 2, 13, 10, 255]);
  a.io.to("blue").emit("bytes", bytes);
  const [[event, got]] = await atB.inbox.take(1);
  assert.equal(event, "bytes");
  assert.ok(Buffer.from(got).equals(bytes), `binary payload intact: ${Buffer.from(got).toString("hex")}`);

  // Server to server.
  const serverInbox = new Inbox("server B's serverSideEmit listener");
  b.io.on("note", (...args) => serverInbox.push(args));
  a.io.serverSideEmit("note", "from A");
  assert.deepEqual(await serverInbox.take(1), [["from A"]], "serverSideEmit A → B");

  // Nothing else arrived: no duplicates, no room leak.
  await atA.inbox.expectNothing();
  await atB.inbox.expectNothing();

  atA.socket.close();
  atB.socket.close();
  for (const server of [a, b]) {
    await within(new Promise((resolve) => server.io.close(() => resolve())), `close server ${server.label}`);
    await within(
      Promise.all([server.pubClient.close(), server.subClient.close()]),
      `close server ${server.label}'s Redis clients`,
    );
  }
  assert.deepEqual(errors, [], "no Redis connection errors");
  finished();
  console.log(`OK ${name}`);
}

main().catch((err) => {
  if (errors.length > 0) console.error(`Redis connection errors:\n  ${errors.join("\n  ")}`);
  fail(name, err);
});
