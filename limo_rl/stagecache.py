"""The one stage-cache policy: what "inputs changed" means, for the loop and the ad hoc commands alike.

A stage folder records the hash of the inputs it was started with. On the next start:

* same hash: keep everything (partial shards, checkpoints): the stage resumes;
* another hash (or a forced rerun): the previous contents are **set aside** under
  ``<stage>/stale-<old hash>-<unix time>/``, never deleted and never read again, and the stage
  starts afresh;
* done with the same hash and intact outputs (:func:`stage_decision`): skip.

``limo-rl run`` (:class:`limo_rl.loop.cache.StageRunner`) and ``limo-rl train`` ad hoc
(:mod:`limo_rl.train.launcher`, which records its inputs in its own file) both call
:func:`begin_stage`, so old checkpoints are kept under either. The stronger guarantees (content
hashes of every input, locks against two writers) belong here too when they come.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

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


def previous_input_hash(stage_dir: str | Path, record: str = STAGE_INPUT) -> str | None:
    """The input hash the folder was last started with (None: never started, or unreadable)."""
    path = Path(stage_dir) / record
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("input_hash")
    except (OSError, json.JSONDecodeError):
        return None


def set_aside(stage_dir: str | Path, old_hash: str | None, names: Iterable[str] | None = None) -> Path | None:
    """Move ``names`` (default: everything but records and earlier stale folders) into a stale folder."""
    stage_dir = Path(stage_dir)
    if names is None:
        names = [c.name for c in stage_dir.iterdir()
                 if c.name not in (STAGE_INPUT, STAGE_MARKER) and not c.name.startswith(STALE_PREFIX)]
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
    log.warning("%s: inputs changed; moved %s to %s and started afresh", stage_dir, ", ".join(present), stale.name)
    return stale


def begin_stage(
    stage_dir: str | Path, input_hash: str, *, record: str = STAGE_INPUT, names: Iterable[str] | None = None,
    force: bool = False,
) -> Path | None:
    """Start (or resume) a stage with ``input_hash``: set the old contents aside if the inputs changed
    (or ``force``), clear the done-marker and record the new hash. Returns the stale folder, if any."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    previous = previous_input_hash(stage_dir, record)
    stale = None
    if force or (previous is not None and previous != input_hash):
        stale = set_aside(stage_dir, previous, names)
    clear_stage_marker(stage_dir)
    atomic_write_json(stage_dir / record, {"input_hash": input_hash, "started_at": time.time()})
    return stale
