"""Experiment tracking behind one small interface: W&B, or nothing.

W&B runs offline unless the user asked for online logging (``tracking.mode: online`` with
``WANDB_API_KEY`` set, or ``WANDB_MODE=online`` in the environment). The resolved recipe
goes into the W&B config; stages log their figures with ``log``. No API key is ever
written anywhere: the key is read by wandb itself from the environment or netrc.

One run holds every arm, round and seed, so names must never collide: the driver hands each
stage a :meth:`Tracker.scoped` view that puts the arm, round and seed after the figure's
first path component (``train/loss`` -> ``train/loop/round1/seed0/loss``). A figure logged
with its own ``step`` (a training's global step) gets a step axis of its own
(``<prefix>/step``, via ``define_metric``), since W&B's run step only grows: replaying a
second training's steps 1..N on it would drop them or merge both curves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from limo_rl.progress import is_verbose

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...

    def log_image(self, name: str, path: str | Path) -> None: ...

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None: ...

    def summary(self, values: dict[str, Any]) -> None: ...

    def scoped(self, scope: str) -> Tracker: ...

    def finish(self) -> None: ...


class NullTracker:
    """Tracks nothing; every call is a no-op."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        pass

    def log_image(self, name: str, path: str | Path) -> None:
        pass

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        pass

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None:
        pass

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def scoped(self, scope: str) -> Tracker:
        return self

    def finish(self) -> None:
        pass


def scope_key(key: str, scope: str) -> str:
    """``train/loss`` in scope ``loop/round1/seed0`` -> ``train/loop/round1/seed0/loss``."""
    if not scope:
        return key
    head, sep, rest = key.partition("/")
    return f"{head}/{scope}/{rest}" if sep else f"{scope}/{head}"


class ScopedTracker:
    """A view of a tracker that namespaces every name it is given (see the module docstring)."""

    def __init__(self, parent: Any, scope: str):
        self.parent, self.scope = parent, scope.strip("/")

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.parent.log({scope_key(k, self.scope): v for k, v in metrics.items()}, step=step)

    def log_image(self, name: str, path: str | Path) -> None:
        self.parent.log_image(scope_key(name, self.scope), path)

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.parent.log_table(scope_key(name, self.scope), columns, rows)

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None:
        self.parent.log_artifact(name, kind, paths, {"scope": self.scope, **(metadata or {})})

    def summary(self, values: dict[str, Any]) -> None:
        self.parent.summary({scope_key(k, self.scope): v for k, v in values.items()})

    def scoped(self, scope: str) -> Tracker:
        return ScopedTracker(self.parent, f"{self.scope}/{scope.strip('/')}")

    def finish(self) -> None:  # the run belongs to whoever made it
        pass


def resolve_wandb_mode(requested: str, env: dict[str, str] | None = None) -> str:
    """offline unless online was asked for by the recipe (with a key) or by WANDB_MODE."""
    env = dict(os.environ if env is None else env)
    if env.get("WANDB_MODE") in ("online", "offline", "disabled"):
        return env["WANDB_MODE"]
    if requested == "online" and (env.get("WANDB_API_KEY") or Path("~/.netrc").expanduser().exists()):
        return "online"
    if requested == "online":
        log.warning("tracking.mode = online but WANDB_API_KEY is not set (and no ~/.netrc): logging offline; "
                    "`wandb sync` uploads the run later")
    return "offline"


def _artifact_name(name: str) -> str:
    """W&B artifact names allow letters, digits, '-', '_' and '.'."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-")[:128]


class WandbTracker:
    """A W&B run; files go under ``<run_dir>/wandb`` unless WANDB_DIR says otherwise."""

    def __init__(self, cfg: Any, run_dir: str | Path, config: dict[str, Any], name: str | None = None):
        import wandb

        self._wandb = wandb
        self.mode = resolve_wandb_mode(cfg.mode)
        wandb_dir = os.environ.get("WANDB_DIR") or str(run_dir)
        Path(wandb_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=cfg.group,
            tags=list(cfg.tags) or None,
            name=name,
            dir=wandb_dir,
            mode=self.mode,
            config=config,
            reinit="create_new",
            # the console is limo_rl's: no banner, no summary at exit (the run ends on its own result)
            settings=wandb.Settings(silent=not is_verbose(), console="off" if not is_verbose() else "auto"),
        )
        self._axes: set[str] = set()
        self.dir = Path(self.run.dir).parent
        log.info("W&B run %s (%s) in %s", self.run.id, self.mode, self.dir)

    def _axis(self, prefix: str) -> str:
        step_key = f"{prefix}/step"
        if prefix not in self._axes:
            self._axes.add(prefix)
            self.run.define_metric(step_key)
            self.run.define_metric(f"{prefix}/*", step_metric=step_key)
        return step_key

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if step is None:
            self.run.log(metrics)
            return
        by_prefix: dict[str, dict[str, Any]] = {}
        for key, value in metrics.items():
            by_prefix.setdefault(key.rsplit("/", 1)[0] if "/" in key else "", {})[key] = value
        for prefix, figures in by_prefix.items():
            self.run.log({**figures, self._axis(prefix): step} if prefix else figures)

    def log_image(self, name: str, path: str | Path) -> None:
        self.run.log({name: self._wandb.Image(str(path))})

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.run.log({name: self._wandb.Table(columns=list(columns), data=[list(r) for r in rows])})

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None:
        art = self._wandb.Artifact(_artifact_name(name), type=kind, metadata=metadata or {})
        for p in map(Path, paths):
            if p.is_dir():
                art.add_dir(str(p), name=p.name)
            elif p.is_file():
                art.add_file(str(p), name=p.name)
        self.run.log_artifact(art)

    def summary(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self.run.summary[key] = value

    def scoped(self, scope: str) -> Tracker:
        return ScopedTracker(self, scope)

    def finish(self) -> None:
        self.run.finish()


def make_tracker(cfg: Any, run_dir: str | Path, config: dict[str, Any], name: str | None = None) -> Tracker:
    """The tracker a recipe asks for (``cfg`` is its ``tracking`` section)."""
    if cfg is None or cfg.backend == "none":
        return NullTracker()
    return WandbTracker(cfg, run_dir, config, name=name)
