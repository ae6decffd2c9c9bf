"""One driver per object-store run: the lease object ``<run>/.lease.json``, its heartbeat, and its fence.

An object store offers no flock, so :class:`StoreLease` keeps a small record naming its holder (pid,
host, start, a random token, the command) and renews it by a heartbeat every TTL/4. Another driver is
refused while the record is fresh; one left by a killed driver is taken over once its heartbeat is older
than the TTL (``LIMO_RL_LEASE_TTL_S``, default 120 s), or at once when the holder was on this host and
its process is gone. Clocks of the drivers' machines must roughly agree (NTP).

**The fence.** A driver that stalled past the TTL (SIGSTOP, a suspended VM, a network partition) may
find on waking that another driver took the run over. Its heartbeat notices and stops renewing, but the
stage it was running goes on in this process; so every write to the store that changes the run's state
(:meth:`RunStore.commit_stage`, :meth:`RunStore.uncommit_stage`, a partial commit of a shard) first
reads the lease again (:meth:`StoreLease.check`) and raises :class:`LeaseLostError` when the record no
longer carries this driver's token: the stalled driver stops before its next commit and the store holds
the stages of one driver only. Run-level records (manifest, report) of a driver that lost its lease are
not pushed (:meth:`RunStore.push_file` logs and skips them). A store without conditional writes leaves a
window of one request between that read and the write (the heartbeat too reads before it renews, and reads
again when it stalled in between); a stall exactly there is not fenced.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from limo_rl.run.objectstore import RunStoreError, store_errors
from limo_rl.runtime.procs import identity, pid_alive

if TYPE_CHECKING:
    from limo_rl.run.objectstore import RunStore

log = logging.getLogger(__name__)

TTL_ENV = "LIMO_RL_LEASE_TTL_S"
LEASE = ".lease.json"

__all__ = ["LEASE", "TTL_ENV", "LeaseLostError", "StoreLease"]


class LeaseLostError(RunStoreError):
    """Another driver took the run's lease over (this one stalled past the TTL): nothing more is committed."""


class StoreLease:
    """One driver per object-store run: a lease object with owner and heartbeat (see the module docstring)."""

    def __init__(self, store: RunStore, argv: Sequence[str], ttl_s: float | None = None):
        self.store, self.argv = store, list(argv)
        self.ttl = float(ttl_s if ttl_s is not None else os.environ.get(TTL_ENV) or 120.0)
        self.key = f"{store.root}/{LEASE}"
        self.token = os.urandom(8).hex()
        self.lost: str | None = None  # why this driver no longer holds the lease (None: it does)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> dict[str, Any] | None:
        self.store.fs.invalidate_cache(self.key)
        try:
            info = json.loads(self.store.fs.cat_file(self.key))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def _write(self) -> None:
        record = {**identity(), "token": self.token, "argv": self.argv, "heartbeat_at": time.time(), "ttl_s": self.ttl}
        self.store.fs.pipe_file(self.key, json.dumps(record).encode())

    def _free(self, held: dict[str, Any]) -> str | None:
        """Why a lease record may be taken over (None: it is held)."""
        if not held or held.get("token") == self.token:
            return "unreadable" if not held else "ours"
        age = time.time() - float(held.get("heartbeat_at") or 0)
        if age > float(held.get("ttl_s") or self.ttl):
            return f"its heartbeat is {age:.0f} s old"
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if held.get("host") == socket.gethostname() and not pid_alive(int(held["pid"]), held.get("start_ticks")):
                return "its process is gone"
        return None

    def acquire(self) -> None:
        with store_errors(self.store.uri, "take the run's lease"):
            self._acquire()

    def _acquire(self) -> None:
        held = self.read()
        if held is not None:
            why = self._free(held)
            if why is None:
                cmd = " ".join(held.get("argv") or [])[:200]
                raise RunStoreError(f"{self.store.uri} is being written by another driver (pid {held.get('pid')} on "
                                    f"{held.get('host')}: {cmd}); wait for it to finish (one driver per run)")
            log.warning("%s: taking over the lease of pid %s on %s (%s)", self.store.uri, held.get("pid"),
                        held.get("host"), why)
        self._write()
        time.sleep(min(1.0, self.ttl / 10))  # two drivers that raced: the last write wins, the other backs off
        if (self.read() or {}).get("token") != self.token:
            raise RunStoreError(f"{self.store.uri}: another driver took the run's lease at the same moment")
        self.lost = None
        self.store.holder = self  # from here on the store's commits check this lease first
        self._thread = threading.Thread(target=self._beat, name="limo-lease", daemon=True)
        self._thread.start()

    @staticmethod
    def _whose(held: dict[str, Any] | None) -> str:
        if held is None:
            return "the lease object is gone (another driver took it over and finished)"
        if not held:
            return "the lease object is unreadable"
        return (f"the run's lease was taken over by pid {held.get('pid')} on {held.get('host')} "
                f"({' '.join(held.get('argv') or [])[:200]})")

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                held, read_at = self.read(), time.monotonic()
                if (held or {}).get("token") != self.token:
                    self.lost = self._whose(held)
                    log.error("%s: %s; this driver commits nothing more", self.store.uri, self.lost)
                    return
                if time.monotonic() - read_at > self.ttl / 4:
                    continue  # stalled since that read (another driver may have taken over): read again first
                self._write()
            except OSError as exc:  # a blip of the store: the next beat tries again
                log.warning("%s: lease heartbeat failed (%s)", self.store.uri, type(exc).__name__)

    def check(self, doing: str) -> None:
        """Raise :class:`LeaseLostError` unless the store's lease record still carries this driver's token
        (read again now: a heartbeat that has not yet noticed a take-over is not trusted)."""
        if self.lost is None:
            with store_errors(self.store.uri, "read the run's lease"):
                held = self.read()
            if (held or {}).get("token") != self.token:
                self.lost = self._whose(held)
        if self.lost is not None:
            raise LeaseLostError(f"{self.store.uri}: {self.lost} while this driver was stalled past the lease's "
                                 f"{self.ttl:.0f} s; stopping before {doing} (the store keeps the other driver's "
                                 "stages; this working copy is not committed)")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if getattr(self.store, "holder", None) is self:
            self.store.holder = None
        if self.lost is None:
            with contextlib.suppress(OSError):
                if (self.read() or {}).get("token") == self.token:
                    self.store.fs.rm_file(self.key)

    @contextlib.contextmanager
    def held(self) -> Iterator[StoreLease]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()
