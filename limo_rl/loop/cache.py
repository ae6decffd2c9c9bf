"""Stage caching for the loop: run a stage only when its inputs changed or its outputs are gone.

A stage is identified by its folder. Before it runs, ``_STAGE_INPUT.json`` records the hash
of its config and inputs (inputs named by path are keyed by their content, see
:func:`limo_rl.hashing.content_key`); a rerun with the same hash keeps whatever partial work
the stage left (generation shards, training checkpoints) so it resumes. When the stage
finishes, :func:`limo_rl.artifacts.mark_stage_done` seals it with full hashes of its outputs.

Nothing is deleted before it is replaced, and nothing unverified is trusted:

* inputs changed (or ``--from-stage``): the old folder is moved to ``<run>/attic/`` (listed in
  the manifest under ``set_aside``; ``limo-rl clean`` removes it), then the stage starts afresh.
  Sub-folders named in ``carry`` whose own key did not change (an evaluation's samples, when
  only grading or statistics settings changed) are hard-linked into the new folder and reused;
* a sealed output that no longer matches its marker (edited, truncated, deleted) is never
  reused or re-sealed: the folder is set aside the same way and the stage runs again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.artifacts import (
    Manifest,
    atomic_write_json,
    clear_stage_marker,
    hash_obj,
    mark_stage_done,
    read_stage_marker,
    set_aside,
    stage_decision,
)

log = logging.getLogger(__name__)
STAGE_INPUT = "_STAGE_INPUT.json"
ATTIC = "attic"
STAGE_ORDER = ("pool", "generate", "verify", "select", "train", "evaluate")


class StopAfter(Exception):
    """Raised after the stage named by ``stop_after`` (a stage command run from a recipe)."""


@dataclass
class StageRunner:
    """Runs stages of one run directory with caching, manifest records and a work counter."""

    run_dir: Path
    manifest: Manifest
    from_stage: str | None = None
    stop_after: str | None = None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def key(self, stage_dir: Path) -> str:
        return str(stage_dir.relative_to(self.run_dir))

    def forced(self, kind: str) -> bool:
        if self.from_stage is None:
            return False
        return STAGE_ORDER.index(kind) >= STAGE_ORDER.index(self.from_stage)

    def run(
        self,
        kind: str,
        stage_dir: Path,
        inputs: Mapping[str, Any],
        fn: Callable[[Path], Mapping[str, Any] | None],
        outputs: Sequence[str],
        carry: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run ``fn(stage_dir)`` unless the stage is done with the same ``inputs`` and intact outputs.

        ``fn`` returns the stage's figures (recorded in the manifest); ``outputs`` are the paths
        (relative to ``stage_dir``) that make the stage complete and are sealed by hash. ``carry``
        maps a glob (relative to ``stage_dir``) to the inputs that alone determine what it matches:
        when the stage's inputs change but these do not, the matches are reused. Returns the marker.
        """
        stage_dir.mkdir(parents=True, exist_ok=True)
        input_hash = hash_obj({"kind": kind, **inputs})
        carry_keys = {pattern: hash_obj(v) for pattern, v in (carry or {}).items()}
        key = self.key(stage_dir)
        decision = stage_decision(stage_dir, input_hash)
        if self.forced(kind) and key not in self.ran:
            decision_reason = f"forced by --from-stage {self.from_stage}"
            self._start_afresh(stage_dir, decision_reason, input_hash, carry_keys, reuse=False)
        elif not decision.run:
            self.skipped.append(key)
            log.info("skip %s: %s", key, decision.reason)
            marker = read_stage_marker(stage_dir) or {}
            self.manifest.record_stage(key, status="done", input_hash=input_hash, outputs=marker.get("outputs", {}))
            self._maybe_stop(kind)
            return marker
        elif decision.damaged:
            decision_reason = f"{decision.reason}: set aside and run again"
            log.warning("%s: %s; its folder is set aside (kept) and the stage runs again", key, decision.reason)
            self._start_afresh(stage_dir, decision.reason, input_hash, carry_keys, reuse=False)
        else:
            decision_reason = decision.reason
            self._prepare(stage_dir, input_hash, carry_keys)
        log.info("run %s (%s)", key, decision_reason)
        self.manifest.record_stage(key, status="running", input_hash=input_hash, started_at=time.time(),
                                   reason=decision_reason)
        t0 = time.perf_counter()
        try:
            figures = dict(fn(stage_dir) or {})
        except BaseException as exc:
            self.manifest.record_stage(key, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        seconds = time.perf_counter() - t0
        marker = mark_stage_done(stage_dir, input_hash, outputs, extra={"metrics": _jsonable(figures)})
        self.manifest.record_stage(
            key, status="done", outputs=marker["outputs"], seconds=round(seconds, 3), metrics=_jsonable(figures)
        )
        self.ran.append(key)
        self._maybe_stop(kind)
        return marker

    def _prepare(self, stage_dir: Path, input_hash: str, carry_keys: Mapping[str, str]) -> None:
        """Keep partial work of the same inputs (resume); set the folder aside when the inputs changed
        or when it holds work whose inputs are unknown."""
        started = stage_dir / STAGE_INPUT
        previous: dict[str, Any] | None = None
        if started.is_file():
            try:
                previous = json.loads(started.read_bytes())
            except (OSError, ValueError):
                previous = None
        same = isinstance(previous, dict) and previous.get("input_hash") == input_hash
        if not same and any(stage_dir.iterdir()):
            reason = "inputs or config changed" if isinstance(previous, dict) else "work of unknown inputs"
            prev_carry = (previous or {}).get("carry") or {} if isinstance(previous, dict) else {}
            self._start_afresh(stage_dir, reason, input_hash, carry_keys, reuse=True, previous_carry=prev_carry)
            return
        clear_stage_marker(stage_dir)
        atomic_write_json(started, {"input_hash": input_hash, "carry": dict(carry_keys), "started_at": time.time()})

    def _start_afresh(self, stage_dir: Path, reason: str, input_hash: str, carry_keys: Mapping[str, str], *,
                      reuse: bool, previous_carry: Mapping[str, str] | None = None) -> None:
        """Move the folder aside (never delete), carry over reusable parts, record the new inputs."""
        key = self.key(stage_dir)
        if previous_carry is None:
            previous_carry = _read_carry(stage_dir)
        moved = set_aside(stage_dir, self.run_dir / ATTIC / key.replace("/", "__"), reason)
        if moved is not None:
            log.warning("%s: %s; the previous folder is kept at %s", key, reason, moved)
            self.manifest.record_set_aside(key, moved, reason)
            if reuse:
                for pattern, k in carry_keys.items():
                    if previous_carry.get(pattern) != k:
                        continue
                    for src in sorted(moved.glob(pattern)):
                        _link_copy(src, stage_dir / src.relative_to(moved))
                        log.info("%s: reusing %s (its inputs did not change)", key, src.relative_to(moved))
        atomic_write_json(stage_dir / STAGE_INPUT,
                          {"input_hash": input_hash, "carry": dict(carry_keys), "started_at": time.time()})

    def _maybe_stop(self, kind: str) -> None:
        if self.stop_after == kind:
            raise StopAfter(kind)


def _read_carry(stage_dir: Path) -> dict[str, str]:
    try:
        info = json.loads((stage_dir / STAGE_INPUT).read_bytes())
    except (OSError, ValueError):
        return {}
    return dict(info.get("carry") or {}) if isinstance(info, dict) else {}


def _link_copy(src: Path, dst: Path) -> None:
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


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
