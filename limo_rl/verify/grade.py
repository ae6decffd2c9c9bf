"""Grading: one chain against its gold answer -> :class:`~limo_rl.types.Verdict`.

A verdict combines extraction (:mod:`.answers`), equivalence (:mod:`.equivalence`: a fast
exact tier in-process, math-verify in killable workers from :mod:`.sandbox`), verification
density and arithmetic consistency (:mod:`.density`) and LIMO's quality features
(:mod:`.quality`). Status is ``ok`` (compared), ``no_answer`` (nothing extracted; not
correct), ``timeout`` (the symbolic check ran out of time or memory; not correct) or
``error`` (the symbolic tier failed on this item; not correct). The chain features are
computed in every case, so a timed-out item still carries them.

:class:`Grader` owns the worker pool (start it once, grade many); :func:`grade` uses a
process-wide default grader whose workers start only when an item needs the symbolic tier.
Both are safe to call from any thread (the pool serializes its own use), from Ray actors
and from async code (call through ``asyncio.to_thread`` to keep the loop responsive).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from limo_rl.config import VerifyConfig
from limo_rl.progress import bar
from limo_rl.types import Verdict
from limo_rl.verify.answers import extract_answer
from limo_rl.verify.density import analyze
from limo_rl.verify.equivalence import fast_equal
from limo_rl.verify.quality import quality_features
from limo_rl.verify.sandbox import ERROR, TIMEOUT, WorkerPool

log = logging.getLogger(__name__)

GRADER_VERSION = "limo_rl-verify-2"
ANSWER_TYPES = ("auto", "number", "expression", "choice")
FEATURES_IN_WORKERS_MIN = 32  # batches at least this big compute chain features in the worker processes
FEATURE_BATCH = 16  # chains per features job


def _item(raw: Any, default_type: str) -> tuple[str, str, str, int | None]:
    if not isinstance(raw, (tuple, list)) or not 2 <= len(raw) <= 4:
        raise ValueError(f"a grading item is (output, gold[, answer_type[, n_tokens]]), got {type(raw).__name__}")
    output, gold = raw[0], raw[1]
    atype = raw[2] if len(raw) > 2 and raw[2] else default_type
    n_tokens = raw[3] if len(raw) > 3 else None
    if atype not in ANSWER_TYPES:
        raise ValueError(f"answer_type {atype!r} is not one of {ANSWER_TYPES}")
    return str(output or ""), str(gold), atype, n_tokens


def chain_features(text: str, n_tokens: int | None, cfg: VerifyConfig) -> dict[str, Any]:
    """The Verdict fields that depend only on the chain: steps, density, consistency, quality, score."""
    rep = analyze(text, n_tokens)
    feats, score = quality_features(text, rep.n_tokens, cfg.quality_weights.model_dump())
    feats["verification_per_paragraph"] = rep.per_paragraph
    feats["n_tokens"] = float(rep.n_tokens)
    return {
        "verification_steps": rep.steps,
        "verification_density": rep.density,
        "arithmetic_consistency": rep.arithmetic_consistency,
        "quality": feats,
        "score": score,
    }


class Grader:
    """Grades many (output, gold) items with a persistent pool of symbolic workers. Use as a context manager."""

    def __init__(self, cfg: VerifyConfig | None = None):
        self.cfg = cfg or VerifyConfig()
        self.pool = WorkerPool(self.cfg.workers, self.cfg.timeout_s, self.cfg.memory_mb)
        self.stats = {"fast": 0, "symbolic": 0, "timeouts": 0, "errors": 0, "no_answer": 0}
        self.max_inprocess_s = 0.0  # longest in-process work on one item (extraction, fast tier, features)

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    def equal(self, a: str, b: str, answer_type: str = "auto") -> bool | None:
        """Is answer ``b`` equivalent to gold ``a``? None when the symbolic check timed out."""
        fast = fast_equal(a, b, answer_type)
        if fast is not None:
            return fast
        out = self.pool.run([(a, b)])[0]
        if out == TIMEOUT:
            return None
        return out is True

    def equal_many(self, pairs: Sequence[tuple[str, ...]]) -> list[bool | None]:
        """:meth:`equal` over (gold, pred[, answer_type]) pairs, the symbolic ones in parallel; input order."""
        out: list[bool | None] = [fast_equal(p[0], p[1], p[2] if len(p) > 2 else "auto") for p in pairs]
        todo = [i for i, r in enumerate(out) if r is None]
        for i, res in zip(todo, self.pool.run([(pairs[i][0], pairs[i][1]) for i in todo]), strict=True):
            out[i] = None if res == TIMEOUT else res is True
        return out

    def grade_many(self, items: Iterable[Sequence[Any]], progress: bool = True, *,
                   cfg: VerifyConfig | None = None, features: bool = True) -> list[Verdict]:
        """Verdicts for ``items`` (output, gold[, answer_type[, n_tokens]]), in input order.

        ``cfg`` overrides this grader's extraction and scoring settings for this call (not its pool).
        ``features=False`` judges correctness only (evaluation needs no density or quality): the
        verdicts then carry empty chain features.
        """
        cfg = cfg or self.cfg
        parsed = [_item(raw, cfg.answer_type) for raw in items]
        extracted: list[str | None] = []
        decided: list[bool | None] = []
        pending: dict[tuple[str, str], list[int]] = {}
        pbar = bar(total=len(parsed), desc="grade", unit="chains") if parsed and progress else None
        try:
            for i, (output, gold, atype, _) in enumerate(parsed):
                t_item = time.perf_counter()
                ans = extract_answer(output, cfg.fallbacks, atype)
                extracted.append(ans)
                verdict = fast_equal(gold, ans, atype) if ans is not None else False
                decided.append(verdict)
                self.max_inprocess_s = max(self.max_inprocess_s, time.perf_counter() - t_item)
                if ans is not None and verdict is None:
                    pending.setdefault((gold, ans), []).append(i)
                elif pbar is not None and not (features and len(parsed) >= FEATURES_IN_WORKERS_MIN):
                    pbar.update(1)
            keys = list(pending)
            jobs: list[tuple[str, tuple]] = [("eq", key) for key in keys]
            in_workers = features and len(parsed) >= FEATURES_IN_WORKERS_MIN
            if in_workers:  # chain features are the bulk of the work: spread them over the workers too
                cfg_json = cfg.model_dump_json()
                for b in range(0, len(parsed), FEATURE_BATCH):
                    chunk = parsed[b: b + FEATURE_BATCH]
                    jobs.append(("features", ([c[0] for c in chunk], [c[3] for c in chunk], cfg_json)))
            outcomes: list[object] = []
            if jobs:
                def _done(k: int, _outcome: object) -> None:
                    if pbar is None:
                        return
                    if in_workers:  # features jobs carry every item: the bar counts those
                        if k >= len(keys):
                            pbar.update(len(jobs[k][1][0]))
                    else:
                        pbar.update(len(pending[keys[k]]))

                outcomes = self.pool.run_jobs(jobs, on_done=_done)
            symbolic = dict(zip(keys, outcomes[: len(keys)], strict=True))
            feature_rows: list[object] = [None] * len(parsed)
            if in_workers:
                for j, batch in enumerate(outcomes[len(keys):]):
                    start = j * FEATURE_BATCH
                    n_batch = min(FEATURE_BATCH, len(parsed) - start)
                    rows = batch if isinstance(batch, list) else [batch] * n_batch  # a failed batch: its status
                    feature_rows[start: start + n_batch] = rows
        finally:
            if pbar is not None:
                pbar.close()
        verdicts = []
        for i, (output, gold, _atype, n_tokens) in enumerate(parsed):
            t_item = time.perf_counter()
            ans = extracted[i]
            if ans is None:
                status, correct = "no_answer", False
                self.stats["no_answer"] += 1
            elif decided[i] is not None:
                status, correct = "ok", bool(decided[i])
                self.stats["fast"] += 1
            else:
                outcome = symbolic[(gold, ans)]
                self.stats["symbolic"] += 1
                if outcome == TIMEOUT:
                    status, correct = "timeout", False
                    self.stats["timeouts"] += 1
                elif outcome == ERROR:
                    status, correct = "error", False
                    self.stats["errors"] += 1
                else:
                    status, correct = "ok", outcome is True
            feats = feature_rows[i]
            if not features:
                feats = {}
            elif not isinstance(feats, dict):
                if feats is not None:  # a features job failed in a worker: compute it here (it is bounded)
                    log.warning("chain features failed in a worker (%s); computing in-process", feats)
                feats = chain_features(output, n_tokens, cfg)
            verdicts.append(Verdict(correct=correct, status=status, extracted=ans, grader_version=GRADER_VERSION,
                                    **feats))
            self.max_inprocess_s = max(self.max_inprocess_s, time.perf_counter() - t_item)
        return verdicts


_default: dict[str, Grader] = {}
_default_lock = threading.Lock()


def _default_grader(cfg: VerifyConfig) -> Grader:
    key = f"{cfg.workers}/{cfg.timeout_s}/{cfg.memory_mb}"
    with _default_lock:
        g = _default.get(key)
        if g is None:
            g = _default[key] = Grader(VerifyConfig(workers=cfg.workers, timeout_s=cfg.timeout_s,
                                                    memory_mb=cfg.memory_mb))
        return g


@atexit.register
def _close_defaults() -> None:
    for g in list(_default.values()):
        try:
            g.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def grade(output: str, gold: str, *, answer_type: str = "auto", cfg: VerifyConfig | None = None,
          n_tokens: int | None = None) -> Verdict:
    """Grade one chain. The symbolic tier (when needed) runs in the shared default worker pool."""
    cfg = cfg or VerifyConfig()
    atype = answer_type if answer_type != "auto" else cfg.answer_type
    return _default_grader(cfg).grade_many([(output, gold, atype, n_tokens)], progress=False, cfg=cfg)[0]
