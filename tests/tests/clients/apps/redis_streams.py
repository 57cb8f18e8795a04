#!/usr/bin/env python3
"""redis-py's stream API with consumer groups, its default settings:
`redis_streams.py HOST PORT`.

A producer adds 50 entries to a stream (`xadd` with `maxlen`, approximate
trimming as redis-py sends it); a group with two consumers reads them
(`xreadgroup` with `count` and `block`), the first acknowledges what it
read (`xack`), the second "crashes" without acknowledging; after an idle
time `xautoclaim` moves the second's pending entries to the first, which
acknowledges them. Checked on the way: `xinfo_stream`, `xinfo_groups`,
`xinfo_consumers`, `xpending`, `xpending_range`, `xrange`, `xrevrange`,
`xlen`, `xdel`, `xtrim`, `xgroup_setid`, `xclaim`, `xgroup_delconsumer`,
`xgroup_destroy`; a blocking `xread` woken by an `xadd` from another
connection. Every entry is delivered once to the group and acknowledged
once; nothing is lost.

Exits non-zero, naming the cause, on any failure; run by
tests/tests/app_libraries.rs.
"""

import threading
import time
import uuid

import redis

import petrel_apps
from petrel_apps import CheckFailed

ENTRIES = 50


def by_id(entry_id):
    """A stream id's order: milliseconds, then sequence."""
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def eq(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: got {got!r}, want {want!r}")


def check(host, port):
    r = redis.Redis(host=host, port=int(port), decode_responses=True)
    print(f"redis-py {redis.__version__}, against {host}:{port}")
    token = uuid.uuid4().hex[:8]
    stream, group = f"events:{token}", "workers"

    ids = [r.xadd(stream, {"n": str(i)}, maxlen=1000, approximate=True) for i in range(ENTRIES)]
    eq(r.xlen(stream), ENTRIES, "xlen after the adds")
    eq(r.xrange(stream, count=1)[0], (ids[0], {"n": "0"}), "xrange's first entry")
    eq(r.xrevrange(stream, count=1)[0], (ids[-1], {"n": str(ENTRIES - 1)}), "xrevrange's first")
    info = r.xinfo_stream(stream)
    eq((info["length"], info["last-generated-id"]), (ENTRIES, ids[-1]), "xinfo_stream")

    eq(r.xgroup_create(stream, group, id="0"), True, "xgroup_create")
    acked, kept = [], []
    # Two consumers share the entries, ten at a time.
    while True:
        got_any = False
        for consumer, sink in (("alice", acked), ("bob", kept)):
            batch = r.xreadgroup(group, consumer, {stream: ">"}, count=10, block=100)
            for _, entries in batch:
                for entry_id, _ in entries:
                    sink.append(entry_id)
                    got_any = True
        if not got_any:
            break
    eq(sorted(acked + kept, key=by_id), ids, "every entry delivered to the group once")
    if acked:
        eq(r.xack(stream, group, *acked), len(acked), "alice's xack")
    summary = r.xpending(stream, group)
    eq(summary["pending"], len(kept), "xpending: bob's entries pending")
    eq({c["name"] for c in summary["consumers"]}, {"bob"} if kept else set(), "xpending's consumers")
    detail = r.xpending_range(stream, group, min="-", max="+", count=100, consumername="bob")
    eq([d["message_id"] for d in detail], kept, "xpending_range of bob")
    consumers = {c["name"]: c["pending"] for c in r.xinfo_consumers(stream, group)}
    eq(consumers, {"alice": 0, "bob": len(kept)}, "xinfo_consumers")
    eq(r.xinfo_groups(stream)[0]["pending"], len(kept), "xinfo_groups pending")

    # Bob is gone: after 50 ms idle, alice claims his entries.
    time.sleep(0.1)
    claimed = []
    cursor = "0-0"
    while True:
        cursor, entries, _deleted = r.xautoclaim(stream, group, "alice", 50, start_id=cursor, count=7)
        claimed += [entry_id for entry_id, _ in entries]
        if cursor == "0-0":
            break
    eq(claimed, kept, "xautoclaim moved bob's entries to alice")
    if claimed:
        eq(r.xack(stream, group, *claimed), len(claimed), "xack of the claimed entries")
    eq(r.xpending(stream, group)["pending"], 0, "nothing pending at the end")

    # xclaim by id, then a consumer and the group deleted.
    extra = r.xadd(stream, {"n": "extra"})
    r.xreadgroup(group, "carol", {stream: ">"}, count=1)
    time.sleep(0.02)
    eq([e[0] for e in r.xclaim(stream, group, "alice", 10, [extra])], [extra], "xclaim")
    eq(r.xgroup_delconsumer(stream, group, "carol"), 0, "carol held nothing after the claim")
    eq(r.xgroup_setid(stream, group, id="0"), True, "xgroup_setid")
    eq(r.xgroup_destroy(stream, group), 1, "xgroup_destroy")

    # Trimming and deletion.
    eq(r.xdel(stream, ids[0], ids[1]), 2, "xdel of two entries")
    eq(r.xtrim(stream, maxlen=10, approximate=False), ENTRIES + 1 - 2 - 10, "xtrim to 10")
    eq(r.xlen(stream), 10, "xlen after xtrim")

    # A blocking xread woken by another connection's xadd.
    woken = {}
    waiting = threading.Event()

    def reader():
        c = redis.Redis(host=host, port=int(port), decode_responses=True)
        waiting.set()
        woken["got"] = c.xread({f"{stream}:live": "$"}, block=10_000)

    t = threading.Thread(target=reader)
    t.start()
    waiting.wait()
    time.sleep(0.3)
    live = r.xadd(f"{stream}:live", {"wake": "up"})
    t.join(15)
    eq(woken.get("got"), [[f"{stream}:live", [(live, {"wake": "up"})]]], "blocking xread woken")
    r.delete(stream, f"{stream}:live")
    print(
        f"streams: {ENTRIES} entries, {len(acked)} acked by alice, "
        f"{len(kept)} claimed from bob by xautoclaim; blocking xread woken"
    )


if __name__ == "__main__":
    petrel_apps.main("redis streams", check, 120)
