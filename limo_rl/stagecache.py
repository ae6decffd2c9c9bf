"""The one stage-cache policy: what "inputs changed" means, for the loop and the ad hoc commands alike.

A stage folder records the hash of the inputs it was started with (inputs named by path are keyed
by their *content*: :func:`limo_rl.hashing.content_key`). On the next start:

* done with the same hash and outputs that still match their sealed full hashes
  (:func:`stage_decision`): skip;
* same hash, not done: keep everything (partial shards, checkpoints): the stage resumes;
* another hash, a forced rerun, a sealed output that no longer matches its hash (edited, truncated,
  deleted: *damaged*), or work whose inputs are unknown: the previous contents are **set aside**
  under ``<stage>/stale-<old hash>-<unix time>/``, never deleted, never read again, never re-sealed,
  and the stage starts afresh. ``carry`` names parts whose own key did not change (an evaluation's
  samples when only grading or statistics changed): they are hard-linked back and reused.

``limo-rl run`` (:class:`limo_rl.loop.cache.StageRunner`, which also lists each set-aside folder in
the manifest for ``limo-rl clean``) and ``limo-rl train`` ad hoc (:mod:`limo_rl.train.launcher`,
which records its inputs in its own file) both call :func:`begin_stage`. One writer per run folder
is :mod:`limo_rl.runlock`'s.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from limo_rl.artifacts import (
    STAGE_MARKER,
    StageDecision,
    atomic_write_json,
    clear_stage_marker,
    stage_decision,
)

log = logging.getLogger(__name__)

STAGE_INPUT = "_STAGE_INPUT.json"  # the inputs a stage folder was started with
STALE_PREFIX = "stale-"

__all__ = ["STAGE_INPUT", "STALE_PREFIX", "StageDecision", "begin_stage", "previous_input_hash", "set_aside",
           "stage_decision"]


def _record(stage_dir: Path, record: str) -> dict[str, Any] | None:
    try:
        info = json.loads((stage_dir / record).read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def previous_input_hash(stage_dir: str | Path, record: str = STAGE_INPUT) -> str | None:
    """The input hash the folder was last started with (None: never started, or unreadable)."""
    return (_record(Path(stage_dir), record) or {}).get("input_hash")


def _contents(stage_dir: Path, record: str) -> list[str]:
    return [c.name for c in stage_dir.iterdir()
            if c.name not in (record, STAGE_INPUT, STAGE_MARKER) and not c.name.startswith(STALE_PREFIX)]


def set_aside(stage_dir: str | Path, old_hash: str | None, names: Iterable[str] | None = None,
              reason: str = "inputs changed") -> Path | None:
    """Move ``names`` (default: everything but records and earlier stale folders) into a stale folder."""
    stage_dir = Path(stage_dir)
    if names is None:
        names = _contents(stage_dir, STAGE_INPUT)
    present = [n for n in names if (stage_dir / n).exists()]
    if not present:
        return None
    base = f"{STALE_PREFIX}{old_hash[:10] if old_hash else 'unknown'}-{int(time.time())}"
    stale, n = stage_dir / base, 1
    while stale.exists():  # two set-asides of the same inputs within a second
        stale, n = stage_dir / f"{base}.{n}", n + 1
    stale.mkdir(parents=True)
    for name in present:
        os.replace(stage_dir / name, stale / name)
    atomic_write_json(stale / "_SET_ASIDE.json", {"reason": reason, "old_input_hash": old_hash, "time": time.time()})
    log.warning("%s: %s; moved %s to %s and started afresh", stage_dir, reason, ", ".join(present), stale.name)
    return stale


def begin_stage(
    stage_dir: str | Path, input_hash: str, *, record: str = STAGE_INPUT, names: Iterable[str] | None = None,
    force: bool = False, damaged: str | None = None, carry: Mapping[str, str] | None = None,
) -> Path | None:
    """Start (or resume) a stage with ``input_hash``: set the old contents aside if the inputs changed,
    if ``force``, if ``damaged`` (the reason a sealed output failed its hash check) or if the folder
    holds work of unknown inputs; clear the done-marker and record the new hash. ``carry`` maps a glob
    (relative to the stage) to the key of what it matches: matches whose key is unchanged are reused.
    Returns the stale folder, if any."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    info = _record(stage_dir, record)
    previous = (info or {}).get("input_hash")
    names = list(names) if names is not None else None
    unknown = info is None and any((stage_dir / n).exists() for n in (names or _contents(stage_dir, record)))
    reason = ("forced rerun" if force else damaged if damaged else "work of unknown inputs" if unknown
              else "inputs changed" if previous is not None and previous != input_hash else None)
    stale = set_aside(stage_dir, previous, names, reason) if reason else None
    if stale is not None and carry and reason == "inputs changed":
        before = (info or {}).get("carry") or {}
        for pattern, key in carry.items():
            if before.get(pattern) != key:
                continue
            for src in sorted(stale.glob(pattern)):
                link_copy(src, stage_dir / src.relative_to(stale))
                log.info("%s: reusing %s (its own inputs did not change)", stage_dir, src.relative_to(stale))
    clear_stage_marker(stage_dir)
    atomic_write_json(stage_dir / record, {"input_hash": input_hash, "carry": dict(carry or {}),
                                           "started_at": time.time()})
    return stale


def link_copy(src: Path, dst: Path) -> None:
    """Copy by hard links (no bytes copied; writers replace files, never edit them in place)."""
    dst.parent.mkdir(parents=True, exist_ok=True)

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link, dirs_exist_ok=True)
    else:
        link(str(src), str(dst))
