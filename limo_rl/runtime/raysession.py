"""Ray's lifetime, in one place: how it starts (one environment policy), who owns a session, who ends it.

Who: a command owns its session (:class:`RaySession`, a ``with``: ``limo-rl run`` in the loop driver,
each ad hoc stage command in the CLI). Ray starts inside it when something first needs it, a private
cluster is recorded in the run folder and ended with the session (or, if the driver was killed, by
its watchdog, the next run or ``limo-rl clean``: :func:`end_orphan_cluster`), and any autoscaler
request is withdrawn (:func:`release_resources`). Stages ask for Ray with :func:`ray_session` and
never stop a session.

How:

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

A session that was already up (a test's, a job's) is used as is and never shut down by the code
that found it; outside any :class:`RaySession` (a library call, a test) :func:`ray_session` shuts
down only what it started. Ray is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from limo_rl.errors import StageFailure, UsageError
from limo_rl.run.objectstore import work_root
from limo_rl.run.storage import forget_shared, probe_joined_nodes, watch_shared
from limo_rl.runtime.procs import cluster_workers, end_stragglers, guard_local_ray, kill_recorded, pid_alive
from limo_rl.runtime.worker_logs import ray_init_kwargs, route_ray_logs
from limo_rl.runtime.worker_logs import worker_env as console_env

log = logging.getLogger(__name__)

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


class RaySession:
    """The Ray session of one command (``limo-rl run``, an ad hoc stage command), used as a ``with``.

    Entering starts nothing: Ray comes up when something first needs it (:meth:`ensure`, or a stage's
    :func:`ray_session`), and a command whose stages are all reused never starts it. Exiting (or
    :meth:`close`, for a caller that must end it at a set point) withdraws any autoscaler request and
    shuts Ray down if it was started inside the session; a session that was already up (a test's, a
    ``ray job submit`` driver's) is left as found. Stages never stop a session: inside one, their
    :func:`ray_session` blocks join it.

    Bound to a run folder (:meth:`bind`, under the run's lock), a private cluster started here is
    recorded in ``<run>/.ray-cluster.json`` (``limo-rl clean`` and the next run end it if even the
    watchdog of :func:`~limo_rl.runtime.procs.guard_local_ray` was killed), and every node must see the
    folder: probed the first time, and again whenever nodes joined since.
    """

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self._was_up = False
        self._open = False

    def __enter__(self) -> RaySession:
        self._was_up, self._open = ray_initialized(), True
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def bind(self, run_dir: Path) -> list[int]:
        """Hold the run folder ``run_dir`` (under its lock): end the cluster a killed earlier driver of it
        left, and record and probe from now on. Returns the pids ended."""
        killed = end_orphan_cluster(run_dir)
        self.run_dir = Path(run_dir)
        forget_shared()  # a new run (or cluster) is probed again
        return killed

    def start(self) -> None:
        """Start or join Ray (recorded in the bound run folder when a private cluster is started here)."""
        start_ray()
        guard_local_ray(self.run_dir / RAY_RECORD if self.run_dir is not None else None)

    def ensure(self) -> None:
        """Ray up for a stage of the run, and every node able to see the run folder (an object-store run's
        working copy is the driver's alone: workers write to the store)."""
        self.start()
        if self.run_dir is None or _is_working_copy(self.run_dir):
            return
        # probed the first time, and again whenever a node is alive that has not read it yet (an autoscaling
        # cluster starts with its head alone, where there is nothing to probe: limo_rl.run.storage)
        watch_shared(self.run_dir)
        probe_joined_nodes()

    def close(self) -> None:
        """End the session now: the autoscaler request withdrawn, Ray shut down if started inside it."""
        if not self._open:
            return
        self._open = False
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        release_resources()  # no autoscaler request outlives the session (a crash included)
        if not self._was_up and ray_initialized():
            import ray  # lazily: only a session that started Ray gets here

            workers = cluster_workers()  # before the shutdown: then a straggler is init's child
            ray.shutdown()
            # only once Ray is really down: ending a live cluster's agents takes its raylet (and the driver) down
            if not ray_initialized() and (ended := end_stragglers(workers)):
                log.warning("ended %d Ray worker process(es) still running after the shutdown", len(ended))
            if self.run_dir is not None:
                (self.run_dir / RAY_RECORD).unlink(missing_ok=True)


_ACTIVE: list[RaySession] = []  # the sessions open in this process, innermost last


def active_session() -> RaySession | None:
    return _ACTIVE[-1] if _ACTIVE else None


def ensure_ray() -> None:
    """Ray up under the command's session (the loop's: started once for the run, recorded, storage probed);
    without one, started or joined as by :func:`start_ray`."""
    session = active_session()
    if session is not None:
        session.ensure()
    else:
        start_ray()


@contextlib.contextmanager
def ray_session(*, wanted: bool = True, address: str | None = None, log_to_driver: bool | None = None,
                **init_kwargs: Any) -> Iterator[None]:
    """Ray up for a stage's block. Inside a :class:`RaySession` it joins that session (which ends it); outside
    any (a library call, a test) Ray started here is shut down after the block, and a session found up is
    used as is. ``wanted=False``: a no-op."""
    if not wanted:
        yield
        return
    session = active_session()
    if session is not None and address is None and not init_kwargs:
        session.start()
        yield
        return
    started = start_ray(address=address, log_to_driver=log_to_driver, **init_kwargs)
    try:
        yield
    finally:
        if started and session is None:
            import ray

            ray.shutdown()


_pending = {"request": False}  # whether this process has an autoscaler request standing


def request_nodes(bundles: list[dict[str, float]]) -> None:
    """Ask the autoscaler for ``bundles``; the request stands until :func:`release_resources`."""
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=[{k: v for k, v in b.items() if v} for b in bundles])
    _pending["request"] = True


def release_resources() -> None:
    """Withdraw this process's autoscaler request: ``request_resources`` stands until replaced, so the
    nodes it asked for would stay up after the stage, the run or a crash. Called in a ``finally`` when
    a stage that waited ends (the actor pool's close, training) and when a run ends; a no-op when no
    request stands or Ray is down (the request dies with the cluster's GCS)."""
    if not _pending["request"]:
        return
    import ray

    if not ray.is_initialized():
        return
    try:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[])
        _pending["request"] = False
        log.info("autoscaler request withdrawn")
    except Exception as exc:  # never mask the stage's own outcome
        log.warning("could not withdraw the autoscaler request (%s): `ray status` shows what stays up", exc)


def ray_initialized() -> bool:
    """Whether a Ray session is up, without importing Ray when nothing has."""
    if "ray" not in sys.modules:
        return False
    import ray

    return ray.is_initialized()


RAY_RECORD = ".ray-cluster.json"  # in the run folder: the private cluster of the driver that holds it


def end_orphan_cluster(run_dir: Path) -> list[int]:
    """End the private Ray cluster a killed earlier driver of this run left (only processes recorded in
    ``<run>/.ray-cluster.json`` with their start times; never anyone else's Ray)."""
    record = Path(run_dir) / RAY_RECORD
    try:
        info = json.loads(record.read_bytes())
        driver = info["driver"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if pid_alive(int(driver.get("pid", 0)), driver.get("start_ticks")):
        return []
    killed = kill_recorded(info.get("processes") or [])
    if killed:
        log.warning("%s: ended %d process(es) of the Ray cluster left by a killed driver (pid %s)", run_dir,
                    len(killed), driver.get("pid"))
    record.unlink(missing_ok=True)
    return killed


def _is_working_copy(run_dir: Path) -> bool:
    return Path(run_dir).resolve().is_relative_to(work_root().resolve())
