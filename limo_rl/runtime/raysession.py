"""The one place that starts Ray, under one environment policy.

* ``RAY_ADDRESS`` set (``ray job submit``, a cluster): join it; the job's runtime env applies,
  and a second one would conflict with it.
* otherwise: a private local cluster without the dashboard, whose workers get the driver's
  thread and quiet settings (:data:`FORWARDED_ENV`; ``OMP_NUM_THREADS`` defaults to 1, since
  each CPU worker would otherwise spin up a thread per core of a shared machine).
* workers run at niceness 0 (:func:`worker_niceness`), not Ray's default 15: at 15, as soon as
  runnable processes outnumber cores, any ordinary process (an editor, a browser, a second job)
  takes ~96% of a core from each worker, and the quickstart's generation ran 5x slower beside two
  busy loops. ``RAY_worker_niceness`` set in the driver's environment (Ray's own knob) wins, so a
  shared node can still push the workers down. It travels in every worker's and actor's
  environment (:func:`worker_env`), so it holds on a joined cluster too, where Ray's job
  supervisor resets it to 15 for the job's tasks and actors.
* either way the console policy of :mod:`limo_rl.runtime.worker_logs`: worker output reaches the driver's
  console only with ``-v`` (else it goes to ``<run>/logs/workers``), Ray's own driver logging joins
  limo_rl's (the run's log file), and workers run with Ray Train's print patch off.

A session that was already up (a test's, the loop driver's, a job's) is used as is and never
shut down by the code that found it: :func:`ray_session` shuts down only what it started.
Ray is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from limo_rl.errors import StageFailure, UsageError
from limo_rl.runtime.procs import guard_local_ray
from limo_rl.runtime.worker_logs import ray_init_kwargs, route_ray_logs
from limo_rl.runtime.worker_logs import worker_env as console_env

FORWARDED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM", "LIMO_RL_QUIET",
                 "HF_HUB_OFFLINE", "WANDB_MODE")


NICENESS_ENV = "RAY_worker_niceness"  # read by each Ray worker's core at start-up
DEFAULT_NICENESS = 0


def worker_niceness() -> int:
    """The niceness Ray workers start at: ``RAY_worker_niceness`` if the user set it, else 0."""
    raw = os.environ.get(NICENESS_ENV, "").strip()
    if not raw:
        return DEFAULT_NICENESS
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{NICENESS_ENV}={raw!r} is not an integer niceness (0 = normal priority, "
                         "19 = lowest)") from None
    if not 0 <= value <= 19:
        raise UsageError(f"{NICENESS_ENV}={value} is outside 0..19 (a worker cannot raise its own priority)")
    return value


def worker_env() -> dict[str, str]:
    """Environment every Ray worker and actor limo_rl starts gets: the driver's thread and quiet
    settings (:data:`FORWARDED_ENV`), the console policy and the niceness policy above."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(console_env())
    env[NICENESS_ENV] = str(worker_niceness())
    return env


def start_ray(*, address: str | None = None, log_to_driver: bool | None = None, **init_kwargs: Any) -> bool:
    """Start or join Ray under the policy above; False when a session was already up (nothing done)."""
    import ray

    if ray.is_initialized():
        return False
    policy = ray_init_kwargs()
    logs = policy.pop("log_to_driver") if log_to_driver is None else log_to_driver
    init_kwargs = {**policy, **init_kwargs}
    route_ray_logs()  # before init too: Ray logs while it starts
    if address is not None:
        ray.init(address=address, log_to_driver=logs, **init_kwargs)
    elif os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=logs, **init_kwargs)
    else:
        try:
            ray.init(include_dashboard=False, log_to_driver=logs, runtime_env={"env_vars": worker_env()},
                     **init_kwargs)
        except Exception as exc:  # Ray raises a bare Exception when its node does not come up in time
            if "timed out during startup" not in str(exc):
                raise
            raise StageFailure("Ray's local cluster did not start in time (the machine is too busy: load "
                               f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); retry when it is quieter, or "
                               "give Ray longer with RAY_raylet_start_wait_time_s=120") from None
        guard_local_ray()  # the private cluster dies with this process, even by SIGKILL (no orphans)
    route_ray_logs()
    return True


@contextlib.contextmanager
def ray_session(*, wanted: bool = True, address: str | None = None, log_to_driver: bool | None = None,
                **init_kwargs: Any) -> Iterator[None]:
    """Ray up for the block; shut down after it only if started here. ``wanted=False``: a no-op."""
    if not wanted:
        yield
        return
    started = start_ray(address=address, log_to_driver=log_to_driver, **init_kwargs)
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def ray_initialized() -> bool:
    """Whether a Ray session is up, without importing Ray when nothing has."""
    if "ray" not in sys.modules:
        return False
    import ray

    return ray.is_initialized()
