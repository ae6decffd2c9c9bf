"""Stage caching for the loop: run a stage only when its inputs changed or its outputs are gone.

A stage is identified by its folder. What "inputs changed" means is :mod:`limo_rl.run.stagecache`'s
one policy: a rerun with the same hash keeps whatever partial work the stage left (generation
shards, training checkpoints) so it resumes; a rerun with another hash, or one forced by
``--from-stage``, sets the old contents aside and starts afresh. When the stage finishes,
:func:`limo_rl.run.artifacts.mark_stage_done` seals it with full hashes of its outputs; an output that
no longer matches them is never reused or re-sealed: the stage is set aside and runs again. Every
set-aside folder is listed in the manifest (``set_aside``) with its reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.console.progress import display, stage
from limo_rl.run.artifacts import Manifest, hash_obj, mark_stage_done, read_stage_marker
from limo_rl.run.objectstore import RunStore
from limo_rl.run.stagecache import begin_stage, set_aside, set_aside_reason, stage_decision
from limo_rl.run.stagestore import StageStore
from limo_rl.runtime.worker_logs import upload_worker_logs

log = logging.getLogger(__name__)
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
    store: RunStore | None = None  # an object-store run: each finished stage is committed there
    stages: StageStore | None = None  # finished stages shared with the other runs of the output folder
    reused: list[str] = field(default_factory=list)  # stages taken from ``stages``

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
        forced = self.forced(kind) and key not in self.ran
        if not forced and not decision.run:
            self.skipped.append(key)
            log.info("skip %s: %s", key, decision.reason)
            marker = read_stage_marker(stage_dir) or {}
            self.manifest.record_stage(key, status="done", input_hash=input_hash, outputs=marker.get("outputs", {}))
            display().stage_done(kind, key, "reused")
            self._maybe_stop(kind)
            return marker
        claim = self.stages.claim(kind, input_hash, key) if self.stages is not None else contextlib.nullcontext()
        with claim:  # of two runs needing one key, one computes and the other then fetches it
            if not forced and self.stages is not None and self.stages.has(kind, input_hash):
                return self._fetch(kind, stage_dir, input_hash, decision, carry_keys)
            marker = self._compute(kind, stage_dir, input_hash, decision, forced, fn, outputs, carry_keys)
            if self.stages is not None:
                self.stages.publish(kind, input_hash, stage_dir)
            self._maybe_stop(kind)
            return marker

    def _fetch(self, kind: str, stage_dir: Path, input_hash: str, decision: Any,
               carry_keys: Mapping[str, str]) -> dict[str, Any]:
        """Take a finished stage of the same key from the store (hard links); the folder's own work is set aside."""
        key = self.key(stage_dir)
        self._listed(key, begin_stage(stage_dir, input_hash, damaged=decision.reason if decision.damaged else None,
                                      carry=carry_keys))
        self._listed(key, set_aside(stage_dir, input_hash, reason="replaced by the stage store's finished entry"))
        marker = self.stages.fetch(kind, input_hash, stage_dir) if self.stages is not None else None
        if marker is None:
            raise RuntimeError(f"{key}: the stage store's entry {kind}/{input_hash[:12]} vanished while fetching")
        self._uncommit(stage_dir)
        self.skipped.append(key)
        self.reused.append(key)
        log.info("reuse %s from the stage store (%s)", key, self.stages.entry(kind, input_hash))
        self.manifest.record_stage(key, status="done", input_hash=input_hash, outputs=marker.get("outputs", {}),
                                   reused_from=str(self.stages.entry(kind, input_hash)))
        display().stage_done(kind, key, "from the stage store")
        self._maybe_stop(kind)
        return marker

    def _compute(self, kind: str, stage_dir: Path, input_hash: str, decision: Any, forced: bool,
                 fn: Callable[[Path], Mapping[str, Any] | None], outputs: Sequence[str],
                 carry_keys: Mapping[str, str]) -> dict[str, Any]:
        key = self.key(stage_dir)
        if forced:
            decision_reason = f"forced by --from-stage {self.from_stage}"
            self._listed(key, begin_stage(stage_dir, input_hash, force=True, carry=carry_keys))
            self._uncommit(stage_dir)
        else:
            decision_reason = decision.reason
            if decision.damaged:
                log.warning("%s: %s; it is set aside (kept) and the stage runs again", key, decision.reason)
            stale = begin_stage(stage_dir, input_hash, damaged=decision.reason if decision.damaged else None,
                                carry=carry_keys)
            self._listed(key, stale)
            self._uncommit(stage_dir)
        log.info("run %s (%s)", key, decision_reason)
        self.manifest.record_stage(key, status="running", input_hash=input_hash, started_at=time.time(),
                                   reason=decision_reason)
        t0 = time.perf_counter()
        try:
            with stage(kind, key) as shown:
                figures = dict(fn(stage_dir) or {})
                shown.update(figures)
        except BaseException as exc:
            try:  # on a full disk the manifest's reserved space takes this record (Manifest.save)
                self.manifest.record_stage(key, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            except OSError as rec_exc:  # never hide the stage's own error behind the record's
                log.error("could not record the failure of %s in the manifest: %s", key, rec_exc)
            raise
        finally:
            if self.store is not None:  # the workers' logs are on their own nodes: into the store, failed or not
                upload_worker_logs(self.store.uri)
        seconds = time.perf_counter() - t0
        marker = mark_stage_done(stage_dir, input_hash, outputs, extra={"metrics": _jsonable(figures)})
        if self.store is not None:
            self.store.commit_stage(stage_dir)  # files, then the marker: done in the store from here on
        self.manifest.record_stage(
            key, status="done", outputs=marker["outputs"], seconds=round(seconds, 3), metrics=_jsonable(figures)
        )
        self.push(self.manifest.path)
        self.ran.append(key)
        return marker

    def _uncommit(self, stage_dir: Path) -> None:
        if self.store is not None:
            self.store.uncommit_stage(stage_dir)

    def push(self, path: Path) -> None:
        """A run-level record (manifest, report, a model card) to the store, when the run has one."""
        if self.store is not None:
            self.store.push_file(path)

    def _listed(self, key: str, stale: Path | None) -> None:
        """List a set-aside folder in the manifest (with its reason, for ``limo-rl clean`` and the reader)."""
        if stale is not None:
            self.manifest.record_set_aside(key, stale, set_aside_reason(stale))

    def _maybe_stop(self, kind: str) -> None:
        if self.stop_after == kind:
            raise StopAfter(kind)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
