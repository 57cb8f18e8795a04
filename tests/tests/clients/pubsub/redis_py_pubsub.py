#!/usr/bin/env python3
"""redis-py pub/sub: `redis_py_pubsub.py HOST PUB_PORT SUB_PORT`.

A publisher on PUB_PORT; `pubsub()` objects on SUB_PORT (another proxy of
the same cluster, or the same redis-server) and on PUB_PORT. Checks, with
redis-py's defaults (redis-py 8: RESP3, messages as push frames) and again
with `protocol=2`:

- `subscribe` / `psubscribe` confirmations and their running counts, read
  with `get_message`;
- each PUBLISH's receiver count (every matching subscription of every
  connection, wherever it is, as on a standalone Redis);
- `message` and `pmessage` contents (type, pattern, channel, data), in
  order per channel, binary-safe, a 64 KiB payload;
- `ping()` while subscribed;
- handler callbacks run by `run_in_thread`, for a channel and a pattern;
- `listen()`;
- PUBSUB NUMSUB / NUMPAT / CHANNELS;
- `unsubscribe` / `punsubscribe` confirmations, after which nothing arrives.

Every wait is bounded and a watchdog ends a hung run; a failure prints
`FAIL ...` and exits 1. Run by tests/tests/pubsub_libraries.rs.
"""

import os
import queue
import sys
import threading
import time
import traceback
import uuid

import redis

STEP = 10.0  # seconds any single wait may take
RUN_LIMIT = 90.0  # seconds the whole program may take


def watchdog():
    print(f"FAIL redis-py pub/sub: did not finish within {RUN_LIMIT} s", flush=True)
    os._exit(1)


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def b(text):
    return text.encode()


def message(channel, data):
    """What `get_message` gives for a message published to `channel`."""
    return {"type": "message", "pattern": None, "channel": b(channel), "data": data}


def pmessage(pattern, channel, data):
    """... and for one that reached the connection through `pattern`."""
    return {"type": "pmessage", "pattern": b(pattern), "channel": b(channel), "data": data}


def confirmation(kind, channel, count):
    """A (p)(un)subscribe confirmation with the connection's running count."""
    return {"type": kind, "pattern": None, "channel": b(channel), "data": count}


def by_content(m):
    """Sort key of messages: Redis promises no order across channels."""
    return (m["type"], m["channel"], m["data"])


class Run:
    """One run of every check with one protocol setting (None: the default)."""

    def __init__(self, host, pub_port, sub_port, protocol):
        kw = {} if protocol is None else {"protocol": protocol}
        self.label = "defaults, RESP3" if protocol is None else f"protocol={protocol}"
        self.connect_here = lambda: redis.Redis(host, pub_port, **kw)
        self.connect_there = lambda: redis.Redis(host, sub_port, **kw)
        tok = f"ps-py-{uuid.uuid4().hex[:10]}"
        self.tok = tok
        # No hash tags: the channels hash to different partitions.
        self.news = f"{tok}.news"
        self.sports = f"{tok}.sports"
        self.flash = f"{tok}.newsflash"  # matched by the pattern only
        self.weather = f"{tok}.weather"  # nobody listens
        self.pattern = f"{tok}.new*"

    def next_message(self, p, what):
        """The next message of `p`, which must come within STEP seconds."""
        deadline = time.monotonic() + STEP
        while time.monotonic() < deadline:
            m = p.get_message(timeout=0.5)
            if m is not None:
                return m
        raise AssertionError(f"{what}: no message within {STEP} s")

    def messages(self, p, n, what):
        return [self.next_message(p, f"{what} ({i + 1} of {n})") for i in range(n)]

    def nothing_more(self, p, what):
        m = p.get_message(timeout=0.3)
        eq(m, None, f"{what}: nothing more arrives")

    def publish(self, r, channel, data, receivers):
        eq(r.publish(channel, data), receivers, f"PUBLISH {channel} receivers")

    def gone(self, pub, channel):
        """Waits until a closed subscriber of `channel` no longer counts (the
        server drops a closed connection's subscriptions soon, not at once)."""
        deadline = time.monotonic() + STEP
        while pub.publish(channel, "anyone?") != 0:
            assert time.monotonic() < deadline, f"a closed subscriber of {channel} still counts"
            time.sleep(0.05)

    def run(self):
        pub = self.connect_here()
        here = self.connect_here().pubsub()
        there = self.connect_there().pubsub()
        news, sports, flash, weather, pattern = (
            self.news,
            self.sports,
            self.flash,
            self.weather,
            self.pattern,
        )

        # Confirmations carry the connection's running subscription count.
        there.subscribe(news, sports)
        there.psubscribe(pattern)
        eq(
            self.messages(there, 3, "subscribe confirmations"),
            [
                confirmation("subscribe", news, 1),
                confirmation("subscribe", sports, 2),
                confirmation("psubscribe", pattern, 3),
            ],
            "subscribe, psubscribe",
        )
        here.subscribe(news)
        eq(
            self.next_message(here, "subscribe here"),
            confirmation("subscribe", news, 1),
            "subscribe here",
        )

        self.publish(pub, news, "n1", 3)
        self.publish(pub, sports, "s1", 1)
        self.publish(pub, flash, "f1", 1)
        self.publish(pub, weather, "w1", 0)
        eq(self.messages(here, 1, "here"), [message(news, b"n1")], "here")
        eq(
            sorted(self.messages(there, 4, "there"), key=by_content),
            sorted(
                [
                    message(news, b"n1"),
                    pmessage(pattern, news, b"n1"),
                    message(sports, b"s1"),
                    pmessage(pattern, flash, b"f1"),
                ],
                key=by_content,
            ),
            "there: channel and pattern messages",
        )

        # Binary-safe, large, and in order per channel.
        raw = bytes([0, 255, 13, 10, 42, 0x80, 0xFE])
        big = os.urandom(64 * 1024)
        self.publish(pub, sports, raw, 1)
        self.publish(pub, sports, big, 1)
        eq(
            self.messages(there, 2, "binary"),
            [message(sports, raw), message(sports, big)],
            "binary payloads",
        )
        burst = [f"m{i}".encode() for i in range(50)]
        with pub.pipeline(transaction=False) as pipe:
            for data in burst:
                pipe.publish(news, data)
            eq(pipe.execute(), [3] * 50, "50 pipelined PUBLISH")
        eq(
            self.messages(here, 50, "burst here"),
            [message(news, d) for d in burst],
            "here: in publish order",
        )
        got = self.messages(there, 100, "burst there")
        eq(
            [m for m in got if m["type"] == "message"],
            [message(news, d) for d in burst],
            "there, channel: in publish order",
        )
        eq(
            [m for m in got if m["type"] == "pmessage"],
            [pmessage(pattern, news, d) for d in burst],
            "there, pattern: in publish order",
        )

        # PING while subscribed (RESP2: a `pong` message; RESP3: PONG).
        there.ping()
        eq(
            self.next_message(there, "ping"),
            {"type": "pong", "pattern": None, "channel": None, "data": b""},
            "ping while subscribed",
        )

        self.handlers(pub)
        self.listen(pub)

        # Introspection from a connection that subscribes to nothing.
        eq(
            pub.pubsub_numsub(news, sports, weather),
            [(b(news), 2), (b(sports), 1), (b(weather), 0)],
            "PUBSUB NUMSUB",
        )
        eq(pub.pubsub_numpat(), 1, "PUBSUB NUMPAT")
        eq(
            sorted(pub.pubsub_channels(f"{self.tok}.*")),
            [b(news), b(sports)],
            "PUBSUB CHANNELS",
        )

        # Unsubscribing: confirmations with the count left, then silence.
        here.unsubscribe(news)
        eq(
            self.next_message(here, "unsubscribe here"),
            confirmation("unsubscribe", news, 0),
            "unsubscribe here",
        )
        self.publish(pub, news, "n2", 2)
        # Both copies arrive before the pattern goes: on Petrel a message
        # still travelling through its broker when PUNSUBSCRIBE takes effect
        # is not delivered (README, differences from Redis).
        got = self.messages(there, 2, "after unsubscribe here")
        eq(
            sorted(got, key=by_content),
            sorted([message(news, b"n2"), pmessage(pattern, news, b"n2")], key=by_content),
            "there after here unsubscribed",
        )
        there.punsubscribe(pattern)
        eq(
            self.next_message(there, "punsubscribe"),
            confirmation("punsubscribe", pattern, 2),
            "punsubscribe",
        )
        self.publish(pub, flash, "f2", 0)
        self.publish(pub, news, "n3", 1)
        eq(self.messages(there, 1, "n3"), [message(news, b"n3")], "channel only")
        there.unsubscribe()
        eq(
            sorted(
                (m["type"], m["channel"]) for m in self.messages(there, 2, "unsubscribe all")
            ),
            [("unsubscribe", b(news)), ("unsubscribe", b(sports))],
            "unsubscribe from every channel",
        )
        self.publish(pub, news, "n4", 0)
        self.publish(pub, sports, "s2", 0)
        eq(pub.pubsub_numpat(), 0, "PUBSUB NUMPAT after")
        eq(pub.pubsub_channels(f"{self.tok}.*"), [], "PUBSUB CHANNELS after")
        self.nothing_more(here, "here")
        self.nothing_more(there, "there")
        for p in (here, there):
            p.close()
        pub.close()

    def handlers(self, pub):
        """Handler callbacks, run by `run_in_thread`."""
        got = queue.Queue()
        handled = f"{self.tok}.handled"
        hpattern = f"{self.tok}.hand*"
        p = self.connect_there().pubsub(ignore_subscribe_messages=True)
        p.subscribe(**{handled: got.put})
        p.psubscribe(**{hpattern: got.put})
        worker = p.run_in_thread(sleep_time=0.05, daemon=True)
        # The worker reads the confirmations: wait until the server counts
        # both subscriptions (the main run's pattern is the other one).
        deadline = time.monotonic() + STEP
        while pub.pubsub_numsub(handled) != [(b(handled), 1)] or pub.pubsub_numpat() != 2:
            assert time.monotonic() < deadline, "the handlers' subscriptions never counted"
            time.sleep(0.05)
        self.publish(pub, handled, "h1", 2)
        self.publish(pub, f"{self.tok}.handy", "h2", 1)
        seen = []
        for i in range(3):
            try:
                seen.append(got.get(timeout=STEP))
            except queue.Empty:
                raise AssertionError(f"handlers: {i} of 3 calls within {STEP} s: {seen}")
        eq(
            sorted(seen, key=by_content),
            sorted(
                [
                    message(handled, b"h1"),
                    pmessage(hpattern, handled, b"h1"),
                    pmessage(hpattern, f"{self.tok}.handy", b"h2"),
                ],
                key=by_content,
            ),
            "handler calls",
        )
        worker.stop()
        worker.join(timeout=STEP)
        assert not worker.is_alive(), "run_in_thread's worker did not stop"
        # The worker closed its connection, and with it both subscriptions.
        self.gone(pub, handled)

    def listen(self, pub):
        """`listen()`: a generator over messages, ended by a sentinel."""
        channel = f"{self.tok}.listened"
        p = self.connect_here().pubsub()
        p.subscribe(channel)
        stream = p.listen()
        eq(next(stream)["type"], "subscribe", "listen: the confirmation first")
        for data in ("a", "b", "stop"):
            self.publish(pub, channel, data, 1)
        got = []
        for m in stream:
            got.append(m["data"])
            if m["data"] == b"stop":
                break
        eq(got, [b"a", b"b", b"stop"], "listen")
        p.close()
        self.gone(pub, channel)


def main():
    if len(sys.argv) != 4:
        print("usage: redis_py_pubsub.py HOST PUB_PORT SUB_PORT", file=sys.stderr)
        return 2
    host, pub_port, sub_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    timer = threading.Timer(RUN_LIMIT, watchdog)
    timer.daemon = True
    timer.start()
    failed = False
    for protocol in (None, 2):
        run = Run(host, pub_port, sub_port, protocol)
        try:
            run.run()
            print(f"OK redis-py {redis.__version__} pub/sub ({run.label})", flush=True)
        except Exception:
            failed = True
            print(f"FAIL redis-py pub/sub ({run.label}):", flush=True)
            traceback.print_exc(file=sys.stdout)
    timer.cancel()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
