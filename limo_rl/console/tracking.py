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

One W&B run per run folder: the W&B run starts on the first figure logged (a no-op rerun logs
nothing, so it creates none), and its id is stored in ``<run>/wandb-run.json``; a later
invocation on the same folder (a resumed or extended run) continues that W&B run
(``wandb.init(id=..., resume="allow")``). Offline, each invocation writes its own
``offline-run-*-<id>`` folder under the same id, which ``wandb sync`` uploads into one run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from limo_rl.console.progress import is_verbose
from limo_rl.run.artifacts import atomic_write_json

log = logging.getLogger(__name__)
RUN_RECORD = "wandb-run.json"  # the W&B run of a run folder: id, project, entity, mode, folder, url


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...

    def log_image(self, name: str, path: str | Path) -> None: ...

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def log_series(self, name: str, xs: Sequence[float], series: dict[str, Sequence[float | None]], *,
                   x_name: str = "x", title: str = "") -> None: ...

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None: ...

    def summary(self, values: dict[str, Any]) -> None: ...

    def scoped(self, scope: str) -> Tracker: ...

    def location(self) -> str | None: ...

    def finish(self) -> None: ...


class NullTracker:
    """Tracks nothing; every call is a no-op."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        pass

    def log_image(self, name: str, path: str | Path) -> None:
        pass

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        pass

    def log_series(self, name: str, xs: Sequence[float], series: dict[str, Sequence[float | None]], *,
                   x_name: str = "x", title: str = "") -> None:
        pass

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None:
        pass

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def scoped(self, scope: str) -> Tracker:
        return self

    def location(self) -> str | None:
        return None

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

    def log_series(self, name: str, xs: Sequence[float], series: dict[str, Sequence[float | None]], *,
                   x_name: str = "x", title: str = "") -> None:
        self.parent.log_series(scope_key(name, self.scope), xs, series, x_name=x_name, title=title)

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None:
        self.parent.log_artifact(name, kind, paths, {"scope": self.scope, **(metadata or {})})

    def summary(self, values: dict[str, Any]) -> None:
        self.parent.summary({scope_key(k, self.scope): v for k, v in values.items()})

    def scoped(self, scope: str) -> Tracker:
        return ScopedTracker(self.parent, f"{self.scope}/{scope.strip('/')}")

    def location(self) -> str | None:
        return self.parent.location()

    def finish(self) -> None:  # the run belongs to whoever made it
        pass


def resolve_wandb_mode(requested: str, env: dict[str, str] | None = None) -> str:
    """offline unless online was asked for by the recipe (with a key) or by WANDB_MODE; ``auto``: online
    exactly when a key is there (a cluster job whose pods get WANDB_API_KEY from a secret)."""
    env = dict(os.environ if env is None else env)
    if env.get("WANDB_MODE") in ("online", "offline", "disabled"):
        return env["WANDB_MODE"]
    has_key = bool(env.get("WANDB_API_KEY")) or Path(env.get("HOME", "~"), ".netrc").expanduser().exists()
    if requested in ("online", "auto") and has_key:
        return "online"
    if requested == "auto":
        return "offline"
    if requested == "online":
        log.warning("tracking.mode = online but WANDB_API_KEY is not set (and no ~/.netrc): logging offline; "
                    "`wandb sync` uploads the run later")
    return "offline"


def _artifact_name(name: str) -> str:
    """W&B artifact names allow letters, digits, '-', '_' and '.'."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-")[:128]


def read_run_record(run_dir: str | Path) -> dict[str, Any] | None:
    """The W&B run a run folder logged to (``wandb-run.json``), or None."""
    try:
        doc = json.loads((Path(run_dir) / RUN_RECORD).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None


def record_location(doc: dict[str, Any] | None) -> str | None:
    """Where a recorded W&B run is: its URL (online) or its folder (offline, with how to upload it)."""
    if not doc:
        return None
    if doc.get("url"):
        return str(doc["url"])
    return f"{doc.get('dir')} (offline; `wandb sync {doc.get('dir')}` uploads it)"


class WandbTracker:
    """A W&B run, started on the first figure; files go under ``<run_dir>/wandb`` unless WANDB_DIR says otherwise."""

    def __init__(self, cfg: Any, run_dir: str | Path, config: dict[str, Any], name: str | None = None):
        import wandb

        self._wandb, self.cfg, self.config, self.name = wandb, cfg, config, name
        self.run_dir = Path(run_dir)
        self.mode = resolve_wandb_mode(cfg.mode)
        self.run: Any = None
        self._lock = threading.Lock()  # the training watcher logs from its own thread
        self._axes: set[str] = set()
        self.dir: Path | None = None

    def _resume_id(self) -> str | None:
        prior = read_run_record(self.run_dir)
        if prior is None:
            return None
        if (prior.get("project"), prior.get("entity")) != (self.cfg.project, self.cfg.entity):
            log.warning("tracking: this run folder logged to W&B project %s/%s; now %s/%s: a new W&B run starts",
                        prior.get("entity"), prior.get("project"), self.cfg.entity, self.cfg.project)
            return None
        return prior["id"]

    def _started(self) -> Any:
        with self._lock:
            if self.run is None:
                self.run = self._init()
            return self.run

    def _init(self) -> Any:
        wandb = self._wandb
        wandb_dir = os.environ.get("WANDB_DIR") or str(self.run_dir)
        Path(wandb_dir).mkdir(parents=True, exist_ok=True)
        run_id = self._resume_id()
        run = wandb.init(
            project=self.cfg.project,
            entity=self.cfg.entity,
            group=self.cfg.group,
            tags=list(self.cfg.tags) or None,
            name=self.name,
            dir=wandb_dir,
            mode=self.mode,
            config=self.config,
            id=run_id,  # None: W&B makes one, stored below
            resume="allow" if run_id else None,
            allow_val_change=run_id is not None,  # a rerun with changed settings updates the config
            reinit="create_new",
            # the console is limo_rl's: no banner, no summary at exit (the run ends on its own result)
            settings=wandb.Settings(silent=not is_verbose(), console="off" if not is_verbose() else "auto"),
        )
        self.dir = Path(run.dir).parent
        url = run.url if self.mode == "online" else None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.run_dir / RUN_RECORD, {
            "id": run.id, "project": self.cfg.project, "entity": self.cfg.entity, "mode": self.mode,
            "dir": str(self.dir), "url": url, "resumed": run_id is not None})
        log.info("W&B run %s (%s%s) in %s", run.id, self.mode, ", resumed" if run_id else "", self.dir)
        return run

    def _axis(self, run: Any, prefix: str) -> str:
        step_key = f"{prefix}/step"
        if prefix not in self._axes:
            self._axes.add(prefix)
            run.define_metric(step_key)
            run.define_metric(f"{prefix}/*", step_metric=step_key)
        return step_key

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        run = self._started()
        if step is None:
            run.log(metrics)
            return
        by_prefix: dict[str, dict[str, Any]] = {}
        for key, value in metrics.items():
            by_prefix.setdefault(key.rsplit("/", 1)[0] if "/" in key else "", {})[key] = value
        for prefix, figures in by_prefix.items():
            run.log({**figures, self._axis(run, prefix): step} if prefix else figures)

    def log_image(self, name: str, path: str | Path) -> None:
        self._started().log({name: self._wandb.Image(str(path))})

    def log_table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._started().log({name: self._wandb.Table(columns=list(columns), data=[list(r) for r in rows])})

    def log_series(self, name: str, xs: Sequence[float], series: dict[str, Sequence[float | None]], *,
                   x_name: str = "x", title: str = "") -> None:
        """One chart with a line per series (``wandb.plot.line_series``); a None point is left out."""
        keys = list(series)
        pts = [[(x, y) for x, y in zip(xs, series[k], strict=True) if y is not None] for k in keys]
        chart = self._wandb.plot.line_series(xs=[[x for x, _ in p] for p in pts], ys=[[y for _, y in p] for p in pts],
                                             keys=keys, title=title or name, xname=x_name)
        self._started().log({name: chart})

    def log_artifact(self, name: str, kind: str, paths: Sequence[str | Path],
                     metadata: dict[str, Any] | None = None) -> None:
        art = self._wandb.Artifact(_artifact_name(name), type=kind, metadata=metadata or {})
        for p in map(Path, paths):
            if p.is_dir():
                art.add_dir(str(p), name=p.name)
            elif p.is_file():
                art.add_file(str(p), name=p.name)
        self._started().log_artifact(art)

    def summary(self, values: dict[str, Any]) -> None:
        run = self._started()
        for key, value in values.items():
            run.summary[key] = value

    def scoped(self, scope: str) -> Tracker:
        return ScopedTracker(self, scope)

    def location(self) -> str | None:
        """This run folder's W&B run (the one logged to now, or the one an earlier invocation left)."""
        return record_location(read_run_record(self.run_dir))

    def finish(self) -> None:
        with self._lock:
            if self.run is not None:
                self.run.finish()


def make_tracker(cfg: Any, run_dir: str | Path, config: dict[str, Any], name: str | None = None) -> Tracker:
    """The tracker a recipe asks for (``cfg`` is its ``tracking`` section)."""
    if cfg is None or cfg.backend == "none":
        return NullTracker()
    return WandbTracker(cfg, run_dir, config, name=name)
