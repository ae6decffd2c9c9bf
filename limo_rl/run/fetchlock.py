"""One download per node: a model fetched from the object store by one process while the others wait.

Eight engine actors (or training workers) on a node that all start with ``s3://.../teacher`` would each
download the same 15 GB into the same node-local cache. :func:`node_fetch_lock` serialises them: the first
takes an exclusive ``flock`` on ``<cache>/locks/<key>.lock`` and downloads; the others block on it, then
find the published folder and reuse it. The kernel drops a flock when its holder dies, however it dies
(SIGKILL, an OOM kill), so a dead holder is taken over at once by the next waiter, which clears the dead
one's partial download (:func:`partial_dir`: one fixed name per key, so nothing is left behind). The lock
file stays (an empty file per model): removing it would race with a waiter that opened it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from limo_rl.runtime.procs import identity

log = logging.getLogger(__name__)

WAIT_LOG_S = 30.0  # a waiter says so once, then every this many seconds


def partial_dir(cache: Path, key: str) -> Path:
    """Where the lock's holder downloads ``key`` before publishing it (a dead holder's is cleared by the next)."""
    return cache / f".fetch-{key}"


@contextlib.contextmanager
def node_fetch_lock(cache: Path, key: str, what: str, poll_s: float = 0.2) -> Iterator[None]:
    """Hold this node's lock for fetching ``key`` (``what``: the URI, for the log) for the block."""
    path = cache / "locks" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        t0 = said = time.monotonic()
        first = True
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if first or now - said >= WAIT_LOG_S:
                    log.info("waiting for %s to finish fetching %s on this node (%.0f s so far)",
                             _holder(path), what, now - t0)
                    first, said = False, now
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(identity()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # drops the flock


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_bytes())
        return f"pid {info['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
