"""One writer per run folder: ``<run>/.lock`` names the writer (pid, host, start time, command).

Two ``limo-rl run`` of one recipe (or a stage command beside a run) used to write the same folder:
one resumed the other's checkpoint and a mix of both was sealed as finished. Now a writer holds an
exclusive ``flock`` on ``<run>/.lock`` for as long as it runs; a second one gets
:class:`RunLockedError` naming the holder from the file's record. The kernel drops the lock when
its process dies, however it dies (SIGKILL included), so a lock left by a dead writer is never
an obstacle: the next writer takes it over and logs whose it was (a record whose pid no longer
runs on this host). Linux's NFS client maps flock to NFS byte-range locks, so writers on two
hosts of a shared runs folder exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from limo_rl.errors import LimoError
from limo_rl.runtime.procs import identity, pid_alive

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"
_HELD: dict[str, tuple[int, dict[str, Any], int]] = {}  # realpath of the lock -> (fd, record, depth)


class RunLockedError(LimoError):
    """Another live process writes this run folder (the message names it)."""


def read_lock(folder: str | Path) -> dict[str, Any] | None:
    try:
        info = json.loads((Path(folder) / LOCK_NAME).read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else {}


def _dead_holder(info: dict[str, Any]) -> bool:
    import socket

    try:
        return info.get("host") == socket.gethostname() and not pid_alive(int(info["pid"]), info.get("start_ticks"))
    except (KeyError, TypeError, ValueError):
        return False


def _open_locked(path: Path) -> int | None:
    """An fd holding the flock of ``path`` (the file that is at ``path`` now), or None if someone holds it."""
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a file its holder had just removed: retry on the new one


def acquire(folder: str | Path, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Take the lock of ``folder`` (created if needed) or raise RunLockedError. Returns the lock record.
    Re-entrant within one process (a stage command's lock inside ``run``'s)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    key = str(path.resolve())
    if key in _HELD:
        fd, record, depth = _HELD[key]
        _HELD[key] = (fd, record, depth + 1)
        return record
    fd = _open_locked(path)
    if fd is None:
        raise RunLockedError(_held_message(folder, read_lock(folder) or {}))
    previous = read_lock(folder)
    if previous and previous.get("pid") is not None:
        log.warning("%s: the previous writer (pid %s on %s since %s) ended without releasing its lock%s; "
                    "taking it over", folder, previous.get("pid"), previous.get("host"), previous.get("started_at"),
                    " (it is gone)" if _dead_holder(previous) else "")
    record = {**identity(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "argv": list(argv if argv is not None else sys.argv)}
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
    _HELD[key] = (fd, record, 1)
    return record


def release(folder: str | Path) -> None:
    """Drop one level of this process's hold; the outermost removes the file (while still locked) and unlocks."""
    path = Path(folder) / LOCK_NAME
    key = str(path.resolve())
    if key not in _HELD:
        return
    fd, record, depth = _HELD[key]
    if depth > 1:
        _HELD[key] = (fd, record, depth - 1)
        return
    del _HELD[key]
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.close(fd)


@contextlib.contextmanager
def run_lock(folder: str | Path, argv: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """Hold the lock of ``folder`` for the duration of the block."""
    record = acquire(folder, argv)
    try:
        yield record
    finally:
        release(folder)


def _held_message(folder: Path, held: dict[str, Any]) -> str:
    who = f"pid {held.get('pid', '?')} on {held.get('host', '?')}"
    since = held.get("started_at", "?")
    cmd = " ".join(held.get("argv") or [])[:200]
    return (f"{folder} is being written by another process ({who} since {since}: {cmd}); "
            "wait for it to finish (one writer per run folder)")
