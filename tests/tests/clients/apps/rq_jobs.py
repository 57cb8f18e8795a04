#!/usr/bin/env python3
"""rq against a Petrel proxy, with rq's default settings:
`rq_jobs.py HOST PORT`.

Enqueues 20 jobs (`petrel_apps.add`) on a fresh queue, runs a worker in
burst mode (it runs every queued job, then returns) and checks that every
job finished with its result. rq enqueues each job with a MULTI over the
job's hash and the queue's list, and the worker moves jobs between
registries the same way: with 8 partitions those keys lie in different
partitions. Exits non-zero, naming the cause, on any failure; run by
tests/tests/app_libraries.rs.
"""

import uuid

import redis
import rq
from rq import Queue, Worker

import petrel_apps
from petrel_apps import CheckFailed

JOBS = 20


def check(host, port):
    print(f"rq {rq.__version__}, redis-py {redis.__version__}, against {host}:{port}")
    r = redis.Redis(host, port)
    queue = Queue(f"petrel-{uuid.uuid4().hex[:8]}", connection=r)
    jobs = [queue.enqueue(petrel_apps.add, i, i * i) for i in range(JOBS)]
    print(f"enqueued {len(jobs)} jobs on {queue.name}")
    Worker([queue], connection=r).work(burst=True)
    problems = []
    for i, job in enumerate(jobs):
        job.refresh()
        status = job.get_status()
        if status != "finished":
            problems.append(f"job {i} ({job.id}) is {status}")
            continue
        got = job.return_value()
        if got != i + i * i:
            problems.append(f"job {i} returned {got!r}, not {i + i * i}")
    if problems:
        raise CheckFailed(f"{len(problems)} of {JOBS} jobs wrong: " + "; ".join(problems[:5]))
    print(f"every one of the {JOBS} jobs finished with its result")


if __name__ == "__main__":
    petrel_apps.main("rq", check, 240)
