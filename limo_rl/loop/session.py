"""The Ray session of one ``limo-rl run``: started when a stage first needs it, recorded in the run folder,
its storage checked on every node; what a killed earlier driver left is ended (:func:`end_orphan_cluster`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from limo_rl.run.objectstore import work_root
from limo_rl.run.storage import check_shared_storage
from limo_rl.runtime.procs import guard_local_ray, kill_recorded, pid_alive
from limo_rl.runtime.raysession import start_ray

log = logging.getLogger(__name__)


_storage_checked: dict[str, int] = {}  # run folder -> alive nodes when its storage was last probed


def forget_storage_checks() -> None:
    """A new session (or cluster) is checked again."""
    _storage_checked.clear()


RAY_RECORD = ".ray-cluster.json"


def end_orphan_cluster(run_dir: Path) -> list[int]:
    """End the private Ray cluster a killed earlier driver of this run left (only processes recorded in
    ``<run>/.ray-cluster.json`` with their start times; never anyone else's Ray)."""
    import json

    record = run_dir / RAY_RECORD
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


def ensure_ray(run_dir: Path | None = None) -> None:
    """One Ray session for the whole run, started when a stage first needs it (a stage that found no
    session would start and stop its own, ~12 s each); :func:`run_recipe` shuts it down at the end.
    A private cluster started here dies with this process (a watchdog) and is recorded in the run folder
    (``limo-rl clean`` and the next run end it if even the watchdog was killed)."""
    start_ray()
    guard_local_ray(run_dir / RAY_RECORD if run_dir is not None else None)
    # every node must see the run folder (limo_rl.run.storage): probed the first time, and again whenever nodes
    # joined since (an autoscaling cluster starts with its head alone, where there is nothing to probe);
    # an object-store run's working copy is the driver's alone (workers write to the store)
    if run_dir is not None and not _is_working_copy(run_dir):
        import ray

        alive = sum(1 for n in ray.nodes() if n.get("Alive"))
        if alive > _storage_checked.get(str(run_dir), 0):
            check_shared_storage(run_dir)
            _storage_checked[str(run_dir)] = alive


def _is_working_copy(run_dir: Path) -> bool:
    return Path(run_dir).resolve().is_relative_to(work_root().resolve())
