"""The one stage-cache policy: what "inputs changed" means, for the loop and the ad hoc commands alike.

A stage folder records the hash of the inputs it was started with (inputs named by path are keyed
by their *content*: :func:`limo_rl.run.hashing.content_key`). On the next start:

* done with the same hash and outputs that still match their sealed full hashes
  (:func:`stage_decision`): skip;
* same hash, not done: keep everything (partial shards, checkpoints): the stage resumes;
* another hash, a forced rerun, a sealed output that no longer matches its hash (edited, truncated,
  deleted: *damaged*), or work whose inputs are unknown: the previous contents are **set aside**
  under ``<stage>/stale-<old hash>-<unix time>/``, never deleted, never read again, never re-sealed,
  and the stage starts afresh. ``carry`` names parts whose own key did not change (an evaluation's
  samples when only grading or statistics changed): they are hard-linked back and reused, file by
  file: a file the old marker sealed must still match its sealed digest (an edited chain shard stays
  aside and is made again); records and unsealed visible files come back, and the stage's own resume
  checks each shard against its producer's record (:mod:`limo_rl.run.produced`). Set-asides inside
  the stage, other hidden files and temp files never come back.

Work is set aside under that one naming, by :func:`set_aside` alone: a whole stage here, and inside a stage
folder the shards a stage will not resume (``chains/stale-*/``, ``verdicts/stale-*/``) or a verdicts file it
will not append to (``verify/stale-*/verdicts.jsonl``). Each such folder holds ``_SET_ASIDE.json`` (why, the
old input hash, when); folders (``stale-*``) are no part of any content hash (:mod:`limo_rl.run.hashing`),
and ``limo-rl clean`` removes them (:mod:`limo_rl.loop.clean`).

``limo-rl run`` (:class:`limo_rl.loop.cache.StageRunner`, which also lists each set-aside folder in
the manifest for ``limo-rl clean``) and ``limo-rl train`` ad hoc (:mod:`limo_rl.train.launcher`,
which records its inputs in its own file) both call :func:`begin_stage`. One writer per run folder
is :mod:`limo_rl.run.lock`'s.
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

from limo_rl.run.artifacts import (
    STAGE_MARKER,
    StageDecision,
    atomic_write_json,
    clear_stage_marker,
    hash_obj,
    read_stage_marker,
    stage_decision,
)
from limo_rl.run.hashing import STAGE_FILES, STALE_PREFIX, hash_file
from limo_rl.run.produced import is_record, record_of, record_produced

log = logging.getLogger(__name__)

STAGE_INPUT = "_STAGE_INPUT.json"  # the inputs a stage folder was started with
SET_ASIDE_RECORD = "_SET_ASIDE.json"  # in every set-aside folder: why, the old input hash, when

__all__ = ["SET_ASIDE_RECORD", "STAGE_INPUT", "STALE_PREFIX", "StageDecision", "begin_stage", "is_set_aside",
           "outputs_key", "previous_input_hash", "set_aside", "set_aside_reason", "stage_decision"]


def _record(stage_dir: Path, record: str) -> dict[str, Any] | None:
    try:
        info = json.loads((stage_dir / record).read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def previous_input_hash(stage_dir: str | Path, record: str = STAGE_INPUT) -> str | None:
    """The input hash the folder was last started with (None: never started, or unreadable)."""
    return (_record(Path(stage_dir), record) or {}).get("input_hash")


def outputs_key(stage_dir: str | Path) -> str:
    """The key of what a finished stage sealed (its outputs' digests): how a later stage names its input
    (``{}`` hashed for a stage that never finished)."""
    marker = read_stage_marker(stage_dir) or {}
    return hash_obj(marker.get("outputs") or {})


def _contents(stage_dir: Path, record: str) -> list[str]:
    return [c.name for c in stage_dir.iterdir()
            if c.name not in (record, STAGE_INPUT, STAGE_MARKER) and not c.name.startswith(STALE_PREFIX)]


def set_aside(stage_dir: str | Path, old_hash: str | None, names: Iterable[str] | None = None,
              reason: str = "inputs changed", *, announce: bool = True) -> Path | None:
    """Move ``names`` (default: everything but records and earlier stale folders) into a new folder
    ``stale-<old hash>-<unix time>/`` of ``stage_dir`` (``unknown`` for work of no single known hash), with
    its :data:`SET_ASIDE_RECORD`; the one way work is set aside. ``announce``: log what moved (a stage that
    says so in its own words passes False). Returns the folder, or None when none of ``names`` is there."""
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
    atomic_write_json(stale / SET_ASIDE_RECORD, {"reason": reason, "old_input_hash": old_hash, "time": time.time()})
    if announce:
        log.warning("%s: %s; moved %s to %s and started afresh", stage_dir, reason, ", ".join(present), stale.name)
    return stale


def set_aside_reason(folder: Path) -> str:
    """Why ``folder`` was set aside ("" when its record is unreadable)."""
    try:
        info = json.loads((folder / SET_ASIDE_RECORD).read_bytes())
    except (OSError, ValueError):
        return ""
    return str(info.get("reason", "")) if isinstance(info, dict) else ""


def is_set_aside(folder: Path) -> bool:
    """Whether ``folder`` is one :func:`set_aside` made (its name and its record)."""
    return folder.name.startswith(STALE_PREFIX) and (folder / SET_ASIDE_RECORD).is_file()


def begin_stage(
    stage_dir: str | Path, input_hash: str, *, record: str = STAGE_INPUT, names: Iterable[str] | None = None,
    force: bool = False, damaged: str | None = None, carry: Mapping[str, str] | None = None, announce: bool = True,
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
    seal = read_stage_marker(stage_dir) if reason == "inputs changed" else None
    stale = set_aside(stage_dir, previous, names, reason, announce=announce) if reason else None
    if stale is not None and carry and reason == "inputs changed":
        before = (info or {}).get("carry") or {}
        sealed = _sealed_files(seal) if seal is not None and seal.get("input_hash") == previous else None
        for pattern, key in carry.items():
            if before.get(pattern) != key:
                continue
            for src in sorted(stale.glob(pattern)):
                _carry(src, stale, stage_dir, sealed)
    clear_stage_marker(stage_dir)
    atomic_write_json(stage_dir / record, {"input_hash": input_hash, "carry": dict(carry or {}),
                                           "started_at": time.time()})
    return stale


def _sealed_files(marker: Mapping[str, Any]) -> dict[str, str]:
    """``path relative to the stage -> sealed digest`` of every file a stage marker sealed."""
    out: dict[str, str] = {}
    for name, files in (marker.get("output_files") or {}).items():
        for rel, digest in (files or {}).items():
            out[f"{name}/{rel}" if rel else name] = digest
    return out


def _carriable(rel: str, path: Path, sealed: Mapping[str, str] | None) -> str | None:
    """Why the set-aside file ``rel`` may not come back (None: it may). Records (stage markers, producer
    records) only vouch for other files and are checked again where they are used."""
    parts = rel.split("/")
    if any(p.startswith((".", STALE_PREFIX)) for p in parts[:-1]) or ".tmp" in parts[-1]:
        return "a set-aside or temp file"
    if parts[-1] in STAGE_FILES or is_record(path):
        return None
    if parts[-1].startswith("."):
        return "a hidden file"
    if sealed is None or rel not in sealed:  # nothing sealed it: the stage's resume checks it
        return None
    if hash_file(path) != sealed[rel]:
        return "modified after the stage sealed it"
    return None


def _carry(src: Path, stale: Path, stage_dir: Path, sealed: Mapping[str, str] | None) -> None:
    """Bring the vouched-for files under ``src`` back from ``stale``, by hard links (no bytes copied;
    writers replace files, never edit them in place). A file verified against the seal gets a producer
    record from it, so the stage's own resume accepts it (:mod:`limo_rl.run.produced`)."""
    files = [src] if src.is_file() else sorted(f for f in src.rglob("*") if f.is_file())
    kept, left = 0, []
    for f in files:
        rel = f.relative_to(stale).as_posix()
        why = _carriable(rel, f, sealed)
        if why is not None:
            left.append(f"{rel} ({why})")
            continue
        dst = stage_dir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, dst)
        except OSError:
            shutil.copy2(f, dst)
        kept += 1
        if sealed is not None and rel in sealed and not record_of(f).exists():  # sealed before records existed
            record_produced(dst, sealed[rel])
    log.info("%s: reusing %d file(s) of %s (its own inputs did not change)", stage_dir, kept,
             src.relative_to(stale))
    if left:
        log.warning("%s: not reusing %d file(s) of %s, they stay in %s: %s", stage_dir, len(left),
                    src.relative_to(stale), stale.name, "; ".join(left[:5]) + (" ..." if len(left) > 5 else ""))


def link_copy(src: Path, dst: Path) -> None:
    """Copy a file or folder by hard links (no bytes copied; writers replace files, never edit them in
    place); a copy where the filesystem cannot link. Used by the stage store (:mod:`limo_rl.run.stagestore`)."""
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
