"""Shared by the app-library scripts (rq, celery, django-redis).

- `main` runs a script's check under a hard deadline and turns any failure
  into a non-zero exit with a message naming its cause: a cross-partition
  request refused (CROSSSLOT, issue 15), or a command Petrel does not serve
  yet (streams, scripting, pub/sub), found in the exception or in the
  libraries' logs;
- `add` is the job both job queues run (a module function, so rq's work
  horse and celery's worker can import it by name);
- `partition_of` is Petrel's key placement (CRC-64/NVME of the hash key,
  masked by the partition count), so a script can check its keys really
  span partitions.
"""

import logging
import os
import sys
import tempfile
import threading
import traceback

# What a failure's text says about why, most telling first.
CAUSES = [
    (
        "hash to the same slot",
        "a request over keys in different partitions was refused (CROSSSLOT): "
        "Petrel does not run it atomically across partitions yet (issue 15)",
    ),
    ("unknown command 'XADD'", "Redis streams (XADD) are not served"),
    ("unknown command 'XREVRANGE'", "Redis streams (XREVRANGE) are not served"),
    ("unknown command 'EVALSHA'", "Lua scripting (EVALSHA) is not served"),
    ("unknown command 'EVAL'", "Lua scripting (EVAL) is not served"),
    ("unknown command 'SUBSCRIBE'", "pub/sub (SUBSCRIBE) is not served"),
    ("unknown command 'PSUBSCRIBE'", "pub/sub (PSUBSCRIBE) is not served"),
    ("unknown command 'PUBLISH'", "pub/sub (PUBLISH) is not served"),
]


class CheckFailed(Exception):
    """A result differs from what the library promised."""


def add(a, b):
    """The job both job queues run."""
    return a + b


def causes(text):
    """The known causes whose marks appear in `text`."""
    return [why for mark, why in CAUSES if mark in text]


class Logs:
    """Every log record of this process and of the processes it forks
    (rq runs each job in a forked work horse), kept in an unlinked
    temporary file: libraries log the errors they swallow."""

    def __init__(self):
        self.file = tempfile.TemporaryFile(mode="w+", buffering=1)
        handler = logging.StreamHandler(self.file)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)

    def text(self):
        self.file.flush()
        self.file.seek(0)
        return self.file.read()


def die_with_parent():
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGKILL when
    this process dies, so a killed script leaves no worker behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main(name, check, seconds):
    """Runs `check(host, port, *rest)` with the command-line arguments, for
    at most `seconds`; exits 0 when it returns, 1 with the cause when it
    raises, 2 when it overruns. `check` may return extra text (logs) to
    search for causes."""
    if len(sys.argv) < 3:
        sys.exit(f"usage: {sys.argv[0]} HOST PORT ...")
    host, port, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

    def overrun():
        print(f"{name} FAILED: did not finish in {seconds} s", flush=True)
        os._exit(2)

    watchdog = threading.Timer(seconds, overrun)
    watchdog.daemon = True
    watchdog.start()
    logs = Logs()
    try:
        check(host, port, *rest)
    except Exception as e:
        traceback.print_exc(file=sys.stdout)
        seen = logs.text()
        if seen:
            print("---- library logs ----")
            print(seen[-6000:])
        text = f"{e!r}\n{traceback.format_exc()}\n{seen}"
        print(f"{name} FAILED: {type(e).__name__}: {e}")
        for why in causes(text) or ["no known cause recognised: see above"]:
            print(f"  cause: {why}")
        sys.stdout.flush()
        os._exit(1)
    watchdog.cancel()
    print(f"{name} PASSED", flush=True)


def crc64_nvme(data):
    """CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5, init and final
    xor all ones): the hash Petrel places keys by."""
    crc = 0xFFFF_FFFF_FFFF_FFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C_9329_AC4B_C9B5 if crc & 1 else 0)
    return crc ^ 0xFFFF_FFFF_FFFF_FFFF


def partition_of(key, partitions):
    """The partition of `key` (str or bytes) in a table of `partitions`,
    with Redis Cluster's hash-tag rule, as Petrel computes it."""
    if isinstance(key, str):
        key = key.encode()
    open_ = key.find(b"{")
    if open_ >= 0:
        close = key.find(b"}", open_ + 1)
        if close > open_ + 1:
            key = key[open_ + 1 : close]
    return crc64_nvme(key) & (partitions - 1)


assert crc64_nvme(b"123456789") == 0xAE8B_1486_0A79_9888, "CRC-64/NVME check value"
