#!/usr/bin/env python3
"""celery against a Petrel proxy, with the Redis broker and the Redis result
backend in their default settings: `celery_tasks.py HOST PORT`.

Starts a worker (solo pool) as a subprocess, sends 10 tasks, fetches each
result and stops the worker. celery's Redis transport sizes its queues with
a MULTI of LLENs over the queue and its priority lists, which lie in
different partitions with 8 of them. Exits non-zero, naming the cause, on
any failure (the worker's log is searched too); run by
tests/tests/app_libraries.rs.
"""

import logging
import os
import subprocess
import sys
import tempfile
import time

import petrel_apps
from petrel_apps import CheckFailed

TASKS = 10
HERE = os.path.dirname(os.path.abspath(__file__))


def stop(worker):
    """Warm shutdown (SIGTERM), then SIGKILL after 15 s."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_ready(worker, log, seconds):
    """Waits until the worker says it is ready; fails if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log.seek(0)
        if " ready." in log.read():
            return
        if worker.poll() is not None:
            raise CheckFailed(f"the worker exited ({worker.returncode}) before it was ready")
        time.sleep(0.2)
    raise CheckFailed(f"the worker was not ready in {seconds} s")


def check(host, port):
    os.environ["PETREL_CELERY_URL"] = f"redis://{host}:{port}/0"
    import celery
    import celery_app

    print(f"celery {celery.__version__} against {host}:{port}")
    log = tempfile.TemporaryFile(mode="w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=HERE,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=petrel_apps.die_with_parent,
    )
    try:
        # Sent while the worker starts, as applications do: a refused send
        # and a failing worker both show.
        results = [celery_app.add.delay(i, 2 * i) for i in range(TASKS)]
        print(f"sent {len(results)} tasks")
        wait_ready(worker, log, 60)
        for i, result in enumerate(results):
            if worker.poll() is not None:
                raise CheckFailed(f"the worker exited ({worker.returncode}) before task {i} was done")
            got = result.get(timeout=60)
            if got != 3 * i:
                raise CheckFailed(f"task {i} returned {got!r}, not {3 * i}")
        print(f"every one of the {TASKS} tasks returned its result")
    finally:
        stop(worker)
        log.seek(0)
        text = log.read()
        print("---- worker log ----")
        print(text[-6000:])
        # The worker's failures explain the client's: main searches the
        # logs it collects for causes.
        logging.getLogger("celery-worker-process").info(text[-20000:])


if __name__ == "__main__":
    petrel_apps.main("celery", check, 240)
