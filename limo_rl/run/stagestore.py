"""Finished stages shared by every run of one output folder, keyed by content: a family computes each once.

A stage's cache key (:mod:`limo_rl.run.stagecache`) is a hash of its config and the *content* of its inputs
(models by fingerprint, files by hash), never of the run folder it lives in. So two runs of one family
(a base recipe and a variant that changes selection, say) give the pool, round 1's generation and
verification, the base model's evaluation and the whole static arm the same keys. The store keeps one
copy of each finished stage under ``<run.output_dir>/.stages/<kind>/<key>/``:

* **publish**: when a stage finishes in a run, its folder (outputs and seal) is hard-linked into a
  temporary entry that is renamed into place: an entry is complete or absent, never partial;
* **fetch**: a run that needs a key the store holds checks the entry against its sealed hashes (a
  damaged entry is moved to ``.damaged-*`` and never used) and hard-links it into its own stage folder:
  no bytes of large files are copied, and the stage is recorded as reused from the store;
* **claim**: a per-key ``flock`` on ``<kind>/<key>.lock`` is held while a run computes a stage, so of two
  runs (or sweep agents) racing on one key exactly one computes; the other waits, then fetches. The
  kernel drops the lock when its holder dies, however it dies, so a dead holder is taken over.

Writers never edit files in place (they replace them), so a hard link is as good as a copy; an in-place
edit by hand shows as a damaged seal wherever the file is linked. Object-store run folders keep their
own protocol (:mod:`limo_rl.run.objectstore`) and do not use this store. ``limo-rl clean --store`` removes the
entries no run under the output folder refers to.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from limo_rl.run.artifacts import STAGE_MARKER, read_stage_marker, stage_decision
from limo_rl.run.stagecache import STAGE_INPUT, link_copy

log = logging.getLogger(__name__)
STORE_SUBDIR = ".stages"
WAIT_LOG_S = 30.0


class StageStore:
    """The stage store of one output folder (module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def of_output_dir(cls, output_dir: str | Path) -> StageStore:
        return cls(Path(output_dir) / STORE_SUBDIR)

    def entry(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def has(self, kind: str, key: str) -> bool:
        """A sealed entry for ``key`` whose outputs still match their hashes (a damaged one is moved away)."""
        entry = self.entry(kind, key)
        if not (entry / STAGE_MARKER).is_file():
            return False
        decision = stage_decision(entry, key)
        if decision.run:
            self._discard(entry, decision.reason)
            return False
        return True

    def fetch(self, kind: str, key: str, stage_dir: Path) -> dict | None:
        """Hard-link the entry of ``key`` into ``stage_dir`` (which holds no outputs); its marker, or None."""
        if not self.has(kind, key):
            return None
        entry = self.entry(kind, key)
        stage_dir.mkdir(parents=True, exist_ok=True)
        for item in sorted(entry.iterdir(), key=lambda p: p.name == STAGE_MARKER):  # the seal last
            link_copy(item, stage_dir / item.name)
        marker = read_stage_marker(stage_dir)
        if marker is None or stage_decision(stage_dir, key).run:  # a race with a hand edit: compute instead
            return None
        return marker

    def publish(self, kind: str, key: str, stage_dir: Path) -> Path | None:
        """Link a finished stage folder into the store (atomically); None when the key is there already."""
        if self.has(kind, key):
            return None
        entry = self.entry(kind, key)
        tmp = entry.parent / f".tmp-{key[:16]}-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir(parents=True)
        try:
            for item in stage_dir.iterdir():
                if item.name.startswith(("stale-", ".")) and item.name != STAGE_INPUT:
                    continue  # set-aside work and hidden scratch are the run's own
                link_copy(item, tmp / item.name)
            os.rename(tmp, entry)
        except OSError as exc:  # another run published the same key first, or the store is not writable
            shutil.rmtree(tmp, ignore_errors=True)
            log.info("stage store: %s/%s not published (%s)", kind, key[:12], exc)
            return None
        log.info("stage store: published %s/%s from %s", kind, key[:12], stage_dir)
        return entry

    @contextlib.contextmanager
    def claim(self, kind: str, key: str, what: str = "") -> Iterator[None]:
        """Hold the key's lock while computing it; waits (logging who it waits for) while another run holds it."""
        lock = self.root / kind / f"{key}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            t0, next_log = time.monotonic(), 0.0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - t0
                    if waited >= next_log:
                        log.warning("%s: another run is computing the same stage (%s); waiting for it (%.0f s)",
                                    what or kind, _holder(lock), waited)
                        next_log = waited + WAIT_LOG_S
                    time.sleep(0.5)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "since": time.time()}).encode(), 0)
            yield
        finally:
            os.close(fd)  # drops the flock

    def _discard(self, entry: Path, reason: str) -> None:
        dest = entry.parent / f".damaged-{entry.name[:16]}-{int(time.time())}"
        with contextlib.suppress(OSError):
            os.rename(entry, dest)
            log.warning("stage store: %s is damaged (%s); moved to %s, never used", entry, reason, dest.name)

    # ------------------------------------------------------------------ clean
    def unreferenced(self, output_dir: str | Path) -> list[Path]:
        """Entries no run under ``output_dir`` refers to (no stage marker there with that key)."""
        used = set()
        for marker in Path(output_dir).glob(f"*/**/{STAGE_MARKER}"):
            if STORE_SUBDIR in marker.parts:
                continue
            info = read_stage_marker(marker.parent) or {}
            if info.get("input_hash"):
                used.add(info["input_hash"])
        out = []
        for kind in sorted(p for p in self.root.glob("*") if p.is_dir()):
            for entry in sorted(kind.iterdir()):
                if entry.is_dir() and (entry.name.startswith((".damaged-", ".tmp-")) or entry.name not in used):
                    out.append(entry)
        return out


def _holder(lock: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(lock.read_bytes() or b"{}")
        return f"pid {info.get('pid')}, {info.get('what') or 'a stage'}"
    return "unknown holder"
