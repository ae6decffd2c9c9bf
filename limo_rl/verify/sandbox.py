"""A persistent pool of killable worker processes for the symbolic equivalence tier.

Why processes: math-verify bounds its own time with ``signal.alarm``, which raises off the
main thread (threads, threaded or async Ray actors); with it disabled, ``9^{9^{9}}`` holds
the GIL in big-integer arithmetic and freezes the whole interpreter, so no thread-based
timeout can stop it. The only hard bound is a separate process that is killed.

Why persistent: a fresh process per comparison costs ~200 ms (fork) to ~1.5 s (a new
interpreter importing sympy). Workers are fresh interpreters (``python -m
limo_rl.verify._worker``), started once and reused: unlike fork they carry none of the
caller's threads or Ray state, and unlike spawn/forkserver they never re-import the caller's
``__main__``. A replacement boots in the background while the other workers carry on, and a
job's clock starts only when a ready worker takes it. Each worker caps its address space with ``RLIMIT_AS``; a job that overruns its deadline or
dies (memory) is reported as ``"timeout"``, its worker is killed and replaced, and the pool
carries on. The job handlers live in :mod:`._worker` (this module only manages processes, so
it imports nothing of the grader). The parent side is plain ``multiprocessing.connection.wait`` with deadlines, so
it works from any thread and from code running under an event loop (via a thread).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

from limo_rl.verify.outcomes import ERROR, TIMEOUT  # noqa: F401  (re-exported for callers)

log = logging.getLogger(__name__)


class _Worker:
    """One ``python -m limo_rl.verify._worker`` child: a fresh interpreter, so it never re-runs the
    caller's ``__main__`` (as spawn/forkserver would) nor inherits its threads or Ray state (as fork would)."""

    def __init__(self, memory_mb: int):
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this very limo_rl
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONPATH=path,
                   LIMO_RL_PARENT_PID=str(os.getpid()))  # the worker dies with this process (procs.die_with_parent)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "limo_rl.verify._worker", str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.writer = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self.conn = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.ready = False
        self.job: tuple[int, float] | None = None  # (job index, deadline)

    def send(self, obj: object) -> None:
        self.writer.send(obj)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
            pass
        finally:
            self.conn.close()
            self.writer.close()


class WorkerPool:
    """``n`` symbolic workers; :meth:`run` maps (gold, pred) pairs to True/False/"timeout"/"error", in order."""

    def __init__(self, workers: int = 2, timeout_s: float = 5.0, memory_mb: int = 1024):
        self.n, self.timeout_s, self.memory_mb = workers, timeout_s, memory_mb
        self.start_timeout_s = 60.0
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.replaced = 0
        self.max_job_s = 0.0  # longest job seen, from send to answer or kill
        self._closed = False

    def _spawn(self) -> _Worker:
        return _Worker(self.memory_mb)

    def start(self) -> WorkerPool:
        with self._lock:
            while len(self._workers) < self.n:
                self._workers.append(self._spawn())
        return self

    def close(self) -> None:
        with self._lock:
            for w in self._workers:
                try:
                    w.send(None)
                except (OSError, ValueError):
                    pass
            for w in self._workers:
                try:
                    w.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
                w.kill()
            self._workers = []
            self._closed = True

    def _replace(self, i: int) -> None:
        self._workers[i].kill()
        self._workers[i] = self._spawn()
        self.replaced += 1

    def run(
        self, pairs: Sequence[tuple[str, str]], on_done: Callable[[int, object], None] | None = None
    ) -> list[object]:
        """Symbolic equivalence of (gold, pred[, answer_type]) pairs: True/False/"timeout"/"error", in input order."""
        return self.run_jobs([("eq", tuple(p)) for p in pairs], on_done)

    def run_jobs(
        self, jobs: Sequence[tuple[str, tuple]], on_done: Callable[[int, object], None] | None = None
    ) -> list[object]:
        """Results of (kind, args) jobs in input order; each job gets ``timeout_s`` from when a ready worker
        takes it. Kinds: see :data:`limo_rl.verify._worker.HANDLERS`."""
        pairs = jobs
        if self._closed:
            raise RuntimeError("WorkerPool is closed")
        results: list[object] = [None] * len(pairs)
        if not pairs:
            return results
        with self._lock:
            while len(self._workers) < self.n:
                self._workers.append(self._spawn())
            todo = deque(range(len(pairs)))
            done = 0
            start_failures = 0
            while done < len(pairs):
                for i, w in enumerate(self._workers):
                    if w.ready and w.job is None and todo:
                        k = todo.popleft()
                        try:
                            w.send((k, pairs[k][0], pairs[k][1]))  # (job id, kind, args)
                        except (OSError, ValueError):
                            self._replace(i)
                            todo.appendleft(k)
                            continue
                        w.job = (k, time.monotonic() + self.timeout_s)
                watched = [w for w in self._workers if w.job is not None or not w.ready]
                deadlines = [w.job[1] for w in watched if w.job is not None]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else self.start_timeout_s
                ready = wait([w.conn for w in watched], timeout=wait_s)
                now = time.monotonic()
                for i, w in enumerate(list(self._workers)):
                    if not w.ready:
                        if w.conn in ready:
                            try:
                                w.conn.recv()
                                w.ready = True
                            except (EOFError, OSError):
                                start_failures += 1
                                if start_failures > 3 * self.n:
                                    raise RuntimeError("verify workers exit at start-up; see stderr") from None
                                self._replace(i)
                        continue
                    if w.job is None:
                        continue
                    k, deadline = w.job
                    if w.conn in ready:
                        try:
                            job_id, outcome = w.conn.recv()
                            if job_id != k:  # pragma: no cover - protocol guard
                                outcome = ERROR
                        except (EOFError, OSError):
                            outcome = TIMEOUT  # the worker died mid-job (memory limit, signal)
                            self._replace(i)
                        else:
                            w.job = None
                            if outcome == TIMEOUT:
                                self._replace(i)
                    elif now >= deadline:
                        outcome = TIMEOUT
                        log.warning("symbolic check over %.1fs: worker pid %s killed and replaced",
                                    self.timeout_s, w.proc.pid)
                        self._replace(i)
                    else:
                        continue
                    self.max_job_s = max(self.max_job_s, now - (deadline - self.timeout_s))
                    self._workers[i].job = None
                    results[k] = outcome
                    done += 1
                    if on_done is not None:
                        on_done(k, outcome)
        return results

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        if not self._closed and os.getpid is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001
                pass

