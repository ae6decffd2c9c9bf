"""The one place that starts Ray, under one environment policy.

* ``RAY_ADDRESS`` set (``ray job submit``, a cluster): join it; the job's runtime env applies,
  and a second one would conflict with it.
* otherwise: a private local cluster without the dashboard, whose workers get the driver's
  thread and quiet settings (:data:`FORWARDED_ENV`; ``OMP_NUM_THREADS`` defaults to 1, since
  each CPU worker would otherwise spin up a thread per core of a shared machine).
* either way the console policy of :mod:`limo_rl.worker_logs`: worker output reaches the driver's
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

from limo_rl.procs import guard_local_ray
from limo_rl.worker_logs import ray_init_kwargs, route_ray_logs
from limo_rl.worker_logs import worker_env as console_env

FORWARDED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM", "LIMO_RL_QUIET",
                 "HF_HUB_OFFLINE", "WANDB_MODE")


def worker_env() -> dict[str, str]:
    """Environment variables a private local cluster's workers inherit from the driver."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(console_env())
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
        ray.init(include_dashboard=False, log_to_driver=logs, runtime_env={"env_vars": worker_env()}, **init_kwargs)
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
