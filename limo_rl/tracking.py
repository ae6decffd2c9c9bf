"""Experiment tracking behind one small interface: W&B, or nothing.

W&B runs offline unless the user asked for online logging (``tracking.mode: online`` with
``WANDB_API_KEY`` set, or ``WANDB_MODE=online`` in the environment). The resolved recipe
goes into the W&B config; stages log their figures with ``log``. No API key is ever
written anywhere: the key is read by wandb itself from the environment or netrc.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...

    def log_image(self, name: str, path: str | Path) -> None: ...

    def summary(self, values: dict[str, Any]) -> None: ...

    def finish(self) -> None: ...


class NullTracker:
    """Tracks nothing; every call is a no-op."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        pass

    def log_image(self, name: str, path: str | Path) -> None:
        pass

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass


def resolve_wandb_mode(requested: str, env: dict[str, str] | None = None) -> str:
    """offline unless online was asked for by the recipe (with a key) or by WANDB_MODE."""
    env = dict(os.environ if env is None else env)
    if env.get("WANDB_MODE") in ("online", "offline", "disabled"):
        return env["WANDB_MODE"]
    if requested == "online" and (env.get("WANDB_API_KEY") or Path("~/.netrc").expanduser().exists()):
        return "online"
    return "offline"


class WandbTracker:
    """A W&B run; files go under ``<run_dir>/wandb`` unless WANDB_DIR says otherwise."""

    def __init__(self, cfg: Any, run_dir: str | Path, config: dict[str, Any], name: str | None = None):
        import wandb

        self._wandb = wandb
        mode = resolve_wandb_mode(cfg.mode)
        wandb_dir = os.environ.get("WANDB_DIR") or str(run_dir)
        Path(wandb_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            tags=list(cfg.tags) or None,
            name=name,
            dir=wandb_dir,
            mode=mode,
            config=config,
            reinit="create_new",
        )
        log.info("W&B run %s (%s) in %s", self.run.id, mode, wandb_dir)

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.run.log(metrics, step=step)

    def log_image(self, name: str, path: str | Path) -> None:
        self.run.log({name: self._wandb.Image(str(path))})

    def summary(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self.run.summary[key] = value

    def finish(self) -> None:
        self.run.finish()


def make_tracker(cfg: Any, run_dir: str | Path, config: dict[str, Any], name: str | None = None) -> Tracker:
    """The tracker a recipe asks for (``cfg`` is its ``tracking`` section)."""
    if cfg is None or cfg.backend == "none":
        return NullTracker()
    return WandbTracker(cfg, run_dir, config, name=name)
