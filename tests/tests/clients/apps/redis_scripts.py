#!/usr/bin/env python3
"""Libraries whose core is a Lua script, with their default settings:
`redis_scripts.py HOST PORT`.

- redis-py's `Lock`: acquire (SET NX PX), `extend`, `reacquire` and
  `release` are EVALSHA of redis-py's own scripts, with EVAL... fallbacks on
  NOSCRIPT; a second client cannot take a held lock, nor release it.
- redis-py's `register_script`: EVALSHA, and after `SCRIPT FLUSH` the
  NOSCRIPT answer makes redis-py load it again by itself.
- the `limits` package (behind Flask-Limiter): its Redis storage's moving
  window, fixed window and sliding window counter limiters, each a script.

Exits non-zero, naming the cause, on any failure; run by
tests/tests/app_libraries.rs.
"""

import time
import uuid

import redis
from redis.exceptions import LockError, LockNotOwnedError

import petrel_apps
from petrel_apps import CheckFailed


def eq(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: got {got!r}, want {want!r}")


def check_lock(r, token):
    name = f"petrel-lock-{token}"
    lock = r.lock(name, timeout=5)
    eq(lock.acquire(blocking=False), True, "acquire a free lock")
    eq(lock.owned(), True, "owned after acquire")
    other = redis.Redis(connection_pool=r.connection_pool).lock(name, timeout=5)
    eq(other.acquire(blocking=False), False, "a second client acquires a held lock")
    started = time.monotonic()
    eq(other.acquire(blocking=True, blocking_timeout=0.5), False, "a second holder blocks, then gives up")
    if time.monotonic() - started < 0.4:
        raise CheckFailed("the second holder did not wait for the lock")
    try:
        other.do_release(b"not-the-token")
        raise CheckFailed("a release with the wrong token succeeded")
    except LockNotOwnedError:
        pass
    eq(lock.extend(10), True, "extend")
    ttl = r.pttl(name)
    if not 10_000 < ttl <= 15_000:
        raise CheckFailed(f"the lock's TTL after extend(10) is {ttl} ms, not in (10000, 15000]")
    eq(lock.reacquire(), True, "reacquire")
    ttl = r.pttl(name)
    if not 0 < ttl <= 5_000:
        raise CheckFailed(f"the lock's TTL after reacquire is {ttl} ms, not in (0, 5000]")
    lock.release()
    eq(r.exists(name), 0, "the lock key after release")
    try:
        lock.release()
        raise CheckFailed("releasing a released lock succeeded")
    except LockError:
        pass
    with r.lock(name, timeout=5, blocking_timeout=2):
        eq(r.exists(name), 1, "the lock key inside `with`")
    eq(r.exists(name), 0, "the lock key after `with`")
    print("redis-py Lock: acquire, extend, reacquire, release, with")


def check_registered_script(r, token):
    key = f"petrel-counter-{token}"
    incr_by = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    eq(incr_by(keys=[key], args=[5]), 5, "a registered script")
    eq(incr_by(keys=[key], args=[2]), 7, "a registered script again (EVALSHA)")
    r.script_flush()
    eq(r.script_exists(incr_by.sha), [False], "SCRIPT EXISTS after SCRIPT FLUSH")
    eq(incr_by(keys=[key], args=[1]), 8, "a registered script after SCRIPT FLUSH (reloaded on NOSCRIPT)")
    eq(r.script_exists(incr_by.sha), [True], "SCRIPT EXISTS after the reload")
    print("redis-py register_script: EVALSHA, NOSCRIPT fallback after SCRIPT FLUSH")


def check_limits(host, port, token):
    from limits import RateLimitItemPerMinute, storage, strategies

    store = storage.RedisStorage(f"redis://{host}:{port}")
    for name, strategy in [
        ("moving window", strategies.MovingWindowRateLimiter),
        ("fixed window", strategies.FixedWindowRateLimiter),
        ("sliding window counter", strategies.SlidingWindowCounterRateLimiter),
    ]:
        limiter = strategy(store)
        item = RateLimitItemPerMinute(5)
        who = f"petrel-{token}-{name.replace(' ', '-')}"
        granted = [limiter.hit(item, who) for _ in range(7)]
        eq(granted, [True] * 5 + [False] * 2, f"limits {name}: 7 hits on 5/minute")
        eq(limiter.test(item, who), False, f"limits {name}: test after the limit")
        stats = limiter.get_window_stats(item, who)
        eq(stats.remaining, 0, f"limits {name}: remaining")
        limiter.clear(item, who)
        eq(limiter.hit(item, who), True, f"limits {name}: a hit after clear")
    print("limits: moving window, fixed window, sliding window counter")


def check(host, port):
    r = redis.Redis(host=host, port=int(port))
    print(f"redis-py {redis.__version__}, against {host}:{port}")
    token = uuid.uuid4().hex[:8]
    check_lock(r, token)
    check_registered_script(r, token)
    check_limits(host, port, token)


if __name__ == "__main__":
    petrel_apps.main("redis scripts", check, 120)
