#!/usr/bin/env python3
"""django-redis against a Petrel proxy, with django-redis's default
settings: `django_cache.py HOST PORT PARTITIONS`.

Configures a minimal Django (one cache, `django_redis.cache.RedisCache`, at
the proxy), then `set_many`, `get_many`, `incr` and `delete_many` on keys
that lie in different partitions of a table of PARTITIONS (checked with
Petrel's hash before anything runs). `set_many` is a MULTI of SETs;
`get_many` an MGET; `delete_many` one DEL of every key. Exits non-zero,
naming the cause, on any failure; run by tests/tests/app_libraries.rs.
"""

import uuid

import django
from django.conf import settings

import petrel_apps
from petrel_apps import CheckFailed

KEYS = 16


def eq(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: got {got!r}, want {want!r}")


def check(host, port, partitions):
    partitions = int(partitions)
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://{host}:{port}/0",
            }
        }
    )
    django.setup()
    import django_redis
    from django.core.cache import cache

    print(f"Django {django.__version__}, django-redis {django_redis.__version__}, against {host}:{port}")
    token = uuid.uuid4().hex[:8]
    data = {f"petrel-{token}-{i}": i * 7 for i in range(KEYS)}
    # The keys django-redis writes (it adds a prefix and a version).
    placed = {petrel_apps.partition_of(cache.make_key(k), partitions) for k in data}
    if len(placed) < 2:
        raise CheckFailed(f"the keys lie in partitions {placed}: not a cross-partition test")
    print(f"{KEYS} keys over partitions {sorted(placed)} of {partitions}")

    # Django's set_many returns the keys it could not set; django-redis
    # returns None (it raises instead).
    failed = cache.set_many(data, timeout=300)
    if failed:
        raise CheckFailed(f"set_many could not set {failed!r}")
    eq(cache.get_many(list(data)), data, "get_many after set_many")
    counter = next(iter(data))
    eq(cache.incr(counter, 5), data[counter] + 5, "incr")
    eq(cache.get(counter), data[counter] + 5, "get after incr")
    cache.delete_many(list(data))
    eq(cache.get_many(list(data)), {}, "get_many after delete_many")
    print("set_many, get_many, incr and delete_many all did what Django promises")


if __name__ == "__main__":
    petrel_apps.main("django-redis", check, 120)
