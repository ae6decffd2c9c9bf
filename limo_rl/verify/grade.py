"""Grading: one chain against its gold answer -> :class:`~limo_rl.types.Verdict`.

A verdict combines extraction (:mod:`.answers`), equivalence (:mod:`.equivalence`: a fast
exact tier in-process, math-verify in killable workers from :mod:`.sandbox`, see
:mod:`.symbolic`) and the chain features of :mod:`.features` (verification density, true /
false / hollow checks, arithmetic consistency, LIMO's quality features). ``VerifyConfig.mode``
``math_verify`` swaps the first two for plain math-verify semantics (its own extraction and
comparison, in the workers); every verdict records :func:`grader_id`. Status is ``ok`` (compared), ``no_answer`` (nothing extracted; not
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
from limo_rl.console.progress import bar
from limo_rl.types import Verdict
from limo_rl.verify.answers import extract_answer
from limo_rl.verify.equivalence import fast_equal
from limo_rl.verify.features import chain_features, cheap_features
from limo_rl.verify.sandbox import ERROR, TIMEOUT, WorkerPool

log = logging.getLogger(__name__)

GRADER_VERSION = "limo_rl-verify-4"
GRADER_MODES = ("limo_rl", "math_verify")
ANSWER_TYPES = ("auto", "number", "expression", "choice", "approx")
FEATURES_IN_WORKERS_MIN = 32  # batches at least this big compute chain features in the worker processes
FEATURE_BATCH = 16  # chains per features job
INPROCESS_FEATURES_MAX_CHARS = 16_000  # longer chains get their features in a worker (time-bounded), alone

__all__ = ["ANSWER_TYPES", "GRADER_MODES", "GRADER_VERSION", "Grader", "chain_features", "grade", "grader_id"]


def grader_id(mode: str = "limo_rl") -> str:
    """What a verdict or metrics file records as its grader: the mode and :data:`GRADER_VERSION`.

    ``limo_rl-verify-4`` for the default grader, ``math_verify@limo_rl-verify-4`` for plain
    math-verify semantics (the version still names this wrapper: extraction limits, sandbox)."""
    return GRADER_VERSION if mode == "limo_rl" else f"{mode}@{GRADER_VERSION}"


def _item(raw: Any, default_type: str) -> tuple[str, str, str, int | None, str | None]:
    if not isinstance(raw, (tuple, list)) or not 2 <= len(raw) <= 5:
        raise ValueError("a grading item is (output, gold[, answer_type[, n_tokens[, finish_reason]]]), "
                         f"got {type(raw).__name__}")
    output, gold = raw[0], raw[1]
    atype = raw[2] if len(raw) > 2 and raw[2] else default_type
    n_tokens = raw[3] if len(raw) > 3 else None
    finish = raw[4] if len(raw) > 4 else None
    if atype not in ANSWER_TYPES:
        raise ValueError(f"answer_type {atype!r} is not one of {ANSWER_TYPES}")
    return str(output or ""), str(gold), atype, n_tokens, finish


class Grader:
    """Grades many (output, gold) items with a persistent pool of symbolic workers. Use as a context manager."""

    def __init__(self, cfg: VerifyConfig | None = None):
        self.cfg = cfg or VerifyConfig()
        self.pool = WorkerPool(self.cfg.workers, self.cfg.timeout_s, self.cfg.memory_mb)
        self.stats = {"fast": 0, "symbolic": 0, "timeouts": 0, "errors": 0, "no_answer": 0}
        self.tier_s = {"extract": 0.0, "fast": 0.0, "workers": 0.0, "features": 0.0}  # wall time per tier
        self.max_inprocess_s = 0.0  # longest in-process work on one item (extraction, fast tier, features)

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()

    def equal(self, a: str, b: str, answer_type: str = "auto") -> bool | None:
        """Is answer ``b`` equivalent to gold ``a``? None when the symbolic check timed out."""
        return self.equal_many([(a, b, answer_type)])[0]

    def equal_many(self, pairs: Sequence[tuple[str, ...]]) -> list[bool | None]:
        """:meth:`equal` over (gold, pred[, answer_type]) pairs, the symbolic ones in parallel; input order."""
        full = [(p[0], p[1], p[2] if len(p) > 2 else "auto") for p in pairs]
        out: list[bool | None] = [fast_equal(g, p, t) for g, p, t in full]
        todo = [i for i, r in enumerate(out) if r is None]
        for i, res in zip(todo, self.pool.run([full[i] for i in todo]), strict=True):
            out[i] = None if res == TIMEOUT else res is True
        return out

    def grade_many(self, items: Iterable[Sequence[Any]], progress: bool = True, *,
                   cfg: VerifyConfig | None = None, features: bool = True) -> list[Verdict]:
        """Verdicts for ``items`` (output, gold[, answer_type[, n_tokens[, finish_reason]]]), in input order.

        ``cfg`` overrides this grader's extraction, mode and scoring settings for this call (not its pool).
        ``features=False`` judges correctness only (evaluation needs no density or quality): the
        verdicts then carry empty chain features.
        """
        cfg = cfg or self.cfg
        parsed = [_item(raw, cfg.answer_type) for raw in items]
        in_workers = features and len(parsed) >= FEATURES_IN_WORKERS_MIN
        feature_groups = _feature_groups(parsed, in_workers) if features else []
        pbar = bar(total=len(parsed), desc="grade", unit="chains") if parsed and progress else None
        try:
            extracted, decided, pending = self._fast_tier(parsed, cfg, pbar if not in_workers else None)
            symbolic, feature_rows = self._in_workers(parsed, pending, feature_groups, cfg, pbar, in_workers)
        finally:
            if pbar is not None:
                pbar.close()
        return [self._verdict(item, extracted[i], decided[i], symbolic, feature_rows[i], cfg, features)
                for i, item in enumerate(parsed)]

    def _fast_tier(self, parsed: list, cfg: VerifyConfig, pbar: Any,
                   ) -> tuple[list[str | None], list[bool | None], dict[tuple, list[int]]]:
        """Extraction and the in-process fast tier: (extracted answers, fast decisions or None, the
        undecided equivalence key -> its items); ``pbar`` counts the items decided here."""
        extracted: list[str | None] = []
        decided: list[bool | None] = []
        pending: dict[tuple, list[int]] = {}
        for i, (output, gold, atype, _, finish) in enumerate(parsed):
            t_item = time.perf_counter()
            ans = extract_answer(output, cfg.fallbacks, atype, finish)
            t_ex = time.perf_counter()
            self.tier_s["extract"] += t_ex - t_item
            extracted.append(ans)
            if cfg.mode == "math_verify":
                verdict = None
            else:
                verdict = fast_equal(gold, ans, atype) if ans is not None else False
                self.tier_s["fast"] += time.perf_counter() - t_ex
            decided.append(verdict)
            self.max_inprocess_s = max(self.max_inprocess_s, time.perf_counter() - t_item)
            if verdict is None:
                pending.setdefault(_equivalence_key(cfg.mode, output, gold, ans, atype), []).append(i)
            elif pbar is not None:
                pbar.update(1)
        return extracted, decided, pending

    def _in_workers(self, parsed: list, pending: dict[tuple, list[int]], feature_groups: list[list[int]],
                    cfg: VerifyConfig, pbar: Any, in_workers: bool) -> tuple[dict[tuple, object], list[object]]:
        """The worker jobs: the symbolic tier for each undecided key and the chain features of each group.
        Returns (key -> outcome, item -> its feature row or None)."""
        keys = list(pending)
        jobs: list[tuple[str, tuple]] = list(keys)
        cfg_json = cfg.model_dump_json()
        for group in feature_groups:  # chain features are the bulk of the work: spread them over the workers
            jobs.append(("features", ([parsed[i][0] for i in group], [parsed[i][3] for i in group], cfg_json)))
        outcomes: list[object] = []
        if jobs:
            def _done(k: int, _outcome: object) -> None:
                if pbar is None:
                    return
                if in_workers:  # features jobs carry every item: the bar counts those
                    if k >= len(keys):
                        pbar.update(len(jobs[k][1][0]))
                elif k >= len(keys):
                    return
                else:
                    pbar.update(len(pending[keys[k]]))

            t_w = time.perf_counter()
            outcomes = self.pool.run_jobs(jobs, on_done=_done)
            self.tier_s["workers"] += time.perf_counter() - t_w
        symbolic = dict(zip(keys, outcomes[: len(keys)], strict=True))
        feature_rows: list[object] = [None] * len(parsed)
        retry: list[int] = []
        for group, batch in zip(feature_groups, outcomes[len(keys):], strict=True):
            if isinstance(batch, list) and len(batch) == len(group):
                for i, row in zip(group, batch, strict=True):
                    feature_rows[i] = row
            elif len(group) > 1:
                retry += group  # a failed batch: its chains once more, one by one
            else:
                log.warning("chain features of item %d: %s in a worker; keeping the cheap features only",
                            group[0], batch)
                feature_rows[group[0]] = cheap_features(parsed[group[0]][0], parsed[group[0]][3], cfg)
        if retry:
            self._retry_features(parsed, feature_rows, cfg, retry)
        return symbolic, feature_rows

    def _verdict(self, item: tuple, ans: str | None, decided: bool | None, symbolic: dict[tuple, object],
                 feats: object, cfg: VerifyConfig, features: bool) -> Verdict:
        """One item's verdict from its tiers' outcomes, with its chain features (counted in ``stats``)."""
        output, gold, atype, n_tokens, _finish = item
        mode = cfg.mode
        if ans is None and mode != "math_verify":
            status, correct = "no_answer", False
            self.stats["no_answer"] += 1
        elif decided is not None:
            status, correct = "ok", bool(decided)
            self.stats["fast"] += 1
        else:
            outcome = symbolic[_equivalence_key(mode, output, gold, ans, atype)]
            self.stats["symbolic"] += 1
            if outcome == TIMEOUT:
                status, correct = "timeout", False
                self.stats["timeouts"] += 1
            elif outcome == ERROR:
                status, correct = "error", False
                self.stats["errors"] += 1
            else:
                status, correct = "ok", outcome is True
        t_item = time.perf_counter()
        if not features:
            feats = {}
        elif not isinstance(feats, dict):
            feats = chain_features(output, n_tokens, cfg)  # a short chain of a small batch: in-process
        self.tier_s["features"] += time.perf_counter() - t_item
        verdict = Verdict(correct=correct, status=status, extracted=ans, grader_version=grader_id(mode), **feats)
        self.max_inprocess_s = max(self.max_inprocess_s, time.perf_counter() - t_item)
        return verdict

    def _retry_features(self, parsed: list, rows: list[object], cfg: VerifyConfig, failed: list[int]) -> None:
        """Chains of a features batch that failed in a worker: once more one by one, in the workers (each
        bounded by the timeout); a chain that fails alone gets :func:`cheap_features`, never an unbounded
        in-process recomputation."""
        log.warning("chain features failed in a worker for %d chain(s); retrying one by one", len(failed))
        cfg_json = cfg.model_dump_json()
        again = self.pool.run_jobs([("features", ([parsed[i][0]], [parsed[i][3]], cfg_json)) for i in failed])
        for i, out in zip(failed, again, strict=True):
            if isinstance(out, list) and out and isinstance(out[0], dict):
                rows[i] = out[0]
            else:
                log.warning("chain features of item %d: %s in a worker; keeping the cheap features only", i, out)
                rows[i] = cheap_features(parsed[i][0], parsed[i][3], cfg)


def _equivalence_key(mode: str, output: str, gold: str, ans: str | None, atype: str) -> tuple:
    """What the symbolic tier judges for an item (items with one key share one worker job)."""
    return ("math_verify", (gold, output)) if mode == "math_verify" else ("eq", (gold, ans, atype))


def _feature_groups(parsed: list, in_workers: bool) -> list[list[int]]:
    """Which chains get their features in the workers, in which job: all of a big batch (in batches), and any
    long chain alone (so its analysis is bounded by the timeout, never run unbounded in this process)."""
    long_ones = [i for i, it in enumerate(parsed) if len(it[0]) > INPROCESS_FEATURES_MAX_CHARS]
    short = [i for i in range(len(parsed)) if len(parsed[i][0]) <= INPROCESS_FEATURES_MAX_CHARS] \
        if in_workers else []
    groups = [short[b: b + FEATURE_BATCH] for b in range(0, len(short), FEATURE_BATCH)]
    return groups + [[i] for i in long_ones]


_default: dict[str, Grader] = {}
_default_lock = threading.Lock()


def _default_grader(cfg: VerifyConfig) -> Grader:
    key = f"{cfg.workers}/{cfg.timeout_s}/{cfg.memory_mb}/{cfg.mode}"
    with _default_lock:
        g = _default.get(key)
        if g is None:
            g = _default[key] = Grader(VerifyConfig(workers=cfg.workers, timeout_s=cfg.timeout_s,
                                                    memory_mb=cfg.memory_mb, mode=cfg.mode))
        return g


@atexit.register
def _close_defaults() -> None:
    for g in list(_default.values()):
        try:
            g.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def grade(output: str, gold: str, *, answer_type: str = "auto", cfg: VerifyConfig | None = None,
          n_tokens: int | None = None, finish_reason: str | None = None) -> Verdict:
    """Grade one chain. The symbolic tier (when needed) runs in the shared default worker pool."""
    cfg = cfg or VerifyConfig()
    atype = answer_type if answer_type != "auto" else cfg.answer_type
    return _default_grader(cfg).grade_many([(output, gold, atype, n_tokens, finish_reason)], progress=False,
                                           cfg=cfg)[0]
