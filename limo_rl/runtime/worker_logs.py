"""What Ray workers get from the console policy: their environment, where their output goes.

Worker stdout/stderr (TRL's and vLLM's prints, C-level warnings, progress bars) would reach the
driver's console through Ray's log streaming; here it goes to ``<run>/logs/workers/`` instead and
streams to the console only with ``-v``. That folder is on each worker's own node; on an object-store
run (whose folder is the driver's working copy alone) the driver has every live node upload its
workers' logs to ``<run store>/logs/<host>/workers/`` at the end of each stage, failed ones included
(:func:`upload_worker_logs`), so they outlive the nodes (an autoscaler's pods go, and their disks). Ray Train's print patch is turned off in every worker:
with it on, ``datasets`` fingerprinting (dill disassembling functions while capturing stdout)
printed ~5,000 lines of bytecode per quickstart. Whoever starts Ray uses :func:`worker_env`,
:func:`ray_init_kwargs` and :func:`route_ray_logs`; a worker calls :func:`redirect_worker_output`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from limo_rl.console.progress import LOG_DIR_ENV, QUIET_ENV, VERBOSE_ENV, is_verbose, log_dir
from limo_rl.run.objectstore import upload_tree
from limo_rl.runtime.procs import cancel_unfinished

log = logging.getLogger(__name__)
UPLOAD_TIMEOUT_S = 120.0


def worker_env() -> dict[str, str]:
    """Environment every Ray worker gets: the console switches and the print patch turned off."""
    env = {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0", "TOKENIZERS_PARALLELISM": "false"}
    for name in (QUIET_ENV, VERBOSE_ENV, LOG_DIR_ENV, "HF_DATASETS_DISABLE_PROGRESS_BARS",
                 "TRANSFORMERS_NO_ADVISORY_WARNINGS", "WANDB_SILENT"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def ray_init_kwargs() -> dict[str, Any]:
    """Worker output reaches the driver's console only with -v; Ray's driver log goes to our handlers."""
    return {"log_to_driver": is_verbose(), "configure_logging": False}


def route_ray_logs() -> None:
    """After ``ray.init(configure_logging=False)``: Ray's own driver loggers join ours (file, -v console)."""
    for name in ("ray", "ray.train", "ray.data", "ray.tune"):
        lg = logging.getLogger(name)
        lg.propagate = True
        for h in list(lg.handlers):
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                lg.removeHandler(h)


def redirect_worker_output(name: str) -> Path | None:
    """In a Ray worker: send this process's stdout/stderr (Python and C level) to ``logs/workers/``.

    Does nothing with -v (Ray then streams worker output to the driver) or without a run log dir.
    """
    base = log_dir()
    if base is None or is_verbose():
        return None
    path = base / "workers" / f"{name}-{os.getpid()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:  # a node without the run folder: Ray keeps the output in its own session logs
        return None
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    return path


def upload_worker_logs(store_uri: str, *, timeout_s: float = UPLOAD_TIMEOUT_S) -> int:
    """Driver side, on an object-store run: every live Ray node uploads the worker logs on its disk (the run's
    ``logs/workers/``) to ``<store_uri>/logs/<host>/workers/`` (files unchanged since the last upload are not
    sent again); returns the files sent. Never raises: the logs are there to read a failure, not a new one."""
    base = log_dir()
    if base is None:
        return 0
    try:
        import ray

        if not ray.is_initialized():
            return 0
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(num_cpus=0, max_retries=0)(_upload_node_logs)
        refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(base / "workers"), f"{store_uri}/logs") for n in ray.nodes() if n.get("Alive")]
        ready, late = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
        late = cancel_unfinished(late)
        sent = 0
        for ref in ready:
            try:
                sent += int(ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - one node's logs, not the run
                log.warning("worker logs of a node not uploaded to %s/logs: %s", store_uri, exc)
        if late:
            log.warning("worker logs of %d node(s) not uploaded to %s/logs within %.0f s", len(late), store_uri,
                        timeout_s)
        return sent
    except Exception as exc:  # noqa: BLE001
        log.warning("worker logs not uploaded to %s/logs: %s: %s", store_uri, type(exc).__name__, exc)
        return 0


def node_log_name() -> str:
    """This node's folder under the store's ``logs/``: its host name (a pod's is unique)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "node"


def _upload_node_logs(folder: str, uri: str) -> int:
    """On one node: its workers' logs to ``<uri>/<host>/workers/``."""
    src = Path(folder)
    if not src.is_dir():
        return 0
    return upload_tree(src, f"{uri}/{node_log_name()}/workers")
