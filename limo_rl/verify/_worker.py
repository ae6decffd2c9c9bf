"""Entry point of one symbolic worker process: ``python -m limo_rl.verify._worker MEMORY_MB``.

The protocol is pickled ``(job_id, kind, args)`` messages over stdin, answered by ``(job_id,
result | "timeout" | "error")`` on stdout (stray prints go to stderr). The job kinds are
:data:`HANDLERS`. The process caps its address space with ``RLIMIT_AS``; the parent
(:class:`limo_rl.verify.sandbox.WorkerPool`) enforces the time limit by killing it. Kept apart from
the pool so that the pool imports nothing of the grader and no module re-runs as ``__main__``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection

from limo_rl.runtime.procs import die_with_parent
from limo_rl.verify.outcomes import ERROR, TIMEOUT


def _features_job(texts: list[str], n_tokens: list[int | None], cfg_json: str) -> list[dict]:
    """Chain features of a batch of chains (batched: one pipe round trip per batch, not per chain)."""
    from limo_rl.config import VerifyConfig
    from limo_rl.verify.features import chain_features

    cfg = VerifyConfig.model_validate_json(cfg_json)
    return [chain_features(t, n, cfg) for t, n in zip(texts, n_tokens, strict=True)]


def _eq_job(gold: str, pred: str, answer_type: str = "auto") -> bool:
    from limo_rl.verify.symbolic import symbolic_equal

    return symbolic_equal(gold, pred, answer_type)


def _math_verify_job(gold: str, output: str) -> bool:
    from limo_rl.verify.symbolic import math_verify_equal

    return math_verify_equal(gold, output)


HANDLERS: dict[str, Callable[..., object]] = {
    "eq": _eq_job,  # (gold, pred[, answer_type]) -> bool: structure-aware, math-verify for single values
    "math_verify": _math_verify_job,  # (gold, whole output) -> bool: plain math-verify semantics
    "features": _features_job,  # (texts, n_tokens, VerifyConfig JSON) -> list of feature dicts
}


WARM_UP = (("2\\sqrt{2}", "\\sqrt{8}"), ("\\sin^2 x+\\cos^2 x", "1"), ("y=2x+1", "2x-y+1=0"),
           ("\\frac{\\pi}{2}", "\\pi/2"), ("1+\\sqrt{3}i", "2e^{i\\pi/3}"))


def _warm_up() -> None:
    """A few comparisons before the worker says it is ready: the LaTeX parser (ANTLR) and sympy's evalf are
    several times slower on their first calls, and a job's clock should not pay for that."""
    from limo_rl.verify.symbolic import symbolic_equal

    for gold, pred in WARM_UP:
        try:
            symbolic_equal(gold, pred)
        except Exception:  # noqa: BLE001 - warm-up only
            pass


def worker_main(reader: Connection, writer: Connection, memory_mb: int) -> None:
    """Serve jobs until the pipe closes (see the module doc)."""
    import resource

    limit = memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # pragma: no cover - platform without RLIMIT_AS
        pass
    from limo_rl.verify.symbolic import quiet_math_verify

    quiet_math_verify()
    _warm_up()
    try:
        writer.send(("ready", None))
    except OSError:  # the grader went away while this worker booted (SIGTERM, Ctrl-C): leave quietly
        return
    while True:
        try:
            job = reader.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        job_id, kind, args = job
        try:
            result: object = HANDLERS[kind](*args)
        except MemoryError:
            result = TIMEOUT  # out of memory counts as running out of budget
        except Exception:  # noqa: BLE001 - any failure of the symbolic tier is "error" for this item
            result = ERROR
        try:
            writer.send((job_id, result))
        except (OSError, MemoryError):
            return
        if result == TIMEOUT:
            return  # a worker that hit its memory cap is not reused


if __name__ == "__main__":
    die_with_parent()  # killed with the grader that started us, even by SIGKILL (no orphan at 100% CPU)
    _in = Connection(os.dup(0), writable=False)
    _out = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol pipe
    try:
        worker_main(_in, _out, int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
    except (BrokenPipeError, KeyboardInterrupt):  # ended with its grader: no traceback on the shared console
        sys.exit(0)
