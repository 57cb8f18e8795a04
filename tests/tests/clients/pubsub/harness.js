// What the Node.js pub/sub programs share: a limit on the whole run,
// bounded waits, and an inbox of received messages. A program never hangs:
// every wait has a deadline, and a failure prints one `FAIL` line with its
// cause and exits 1.

"use strict";

const assert = require("node:assert/strict");

/** How long any single step may wait for an answer or a message. */
const STEP_MS = 10000;

/** Prints why `name` failed and exits 1. */
function fail(name, err) {
  console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}

/** Fails `name` unless it finishes within `ms`, and on any error nobody
 * handles (a library's own unawaited promise, e.g. the socket.io adapter's
 * SUBSCRIBE); returns the function that marks it finished. */
function limitRun(name, ms) {
  const timer = setTimeout(
    () => fail(name, new Error(`did not finish within ${ms} ms`)),
    ms,
  );
  process.on("unhandledRejection", (err) => fail(name, err));
  process.on("uncaughtException", (err) => fail(name, err));
  return () => clearTimeout(timer);
}

/** `promise`, or a rejection naming `what` once `ms` pass without an answer. */
function within(promise, what, ms = STEP_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` (which may be async) every 20 ms until it is true; `what`
 * (a string, or a function giving one at the deadline) names it. */
async function waitUntil(check, what, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) {
      const text = typeof what === "function" ? what() : what;
      throw new Error(`${text}: not within ${ms} ms`);
    }
    await sleep(20);
  }
}

/** Messages one listener received, in arrival order. */
class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.push = (item) => this.items.push(item);
  }

  /** Waits for `n` messages and removes them from the inbox. */
  async take(n) {
    await waitUntil(
      () => this.items.length >= n,
      () => `${n} message(s) on ${this.name}, got ${JSON.stringify(this.items)}`,
    );
    return this.items.splice(0, n);
  }

  /** Checks that nothing (more) arrives within `ms`. */
  async expectNothing(ms = 300) {
    await sleep(ms);
    assert.deepEqual(this.items, [], `${this.name} received unexpected messages`);
  }
}

module.exports = { Inbox, fail, limitRun, sleep, waitUntil, within, STEP_MS };
