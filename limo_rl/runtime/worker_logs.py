"""What Ray workers get from the console policy: their environment, where their output goes.

Worker stdout/stderr (TRL's and vLLM's prints, C-level warnings, progress bars) would reach the
driver's console through Ray's log streaming; here it goes to ``<run>/logs/workers/`` instead and
streams to the console only with ``-v``. Ray Train's print patch is turned off in every worker:
with it on, ``datasets`` fingerprinting (dill disassembling functions while capturing stdout)
printed ~5,000 lines of bytecode per quickstart. Whoever starts Ray uses :func:`worker_env`,
:func:`ray_init_kwargs` and :func:`route_ray_logs`; a worker calls :func:`redirect_worker_output`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from limo_rl.console.progress import LOG_DIR_ENV, QUIET_ENV, VERBOSE_ENV, is_verbose, log_dir


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
