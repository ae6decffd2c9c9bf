"""Follow a training from the driver: the live console line and live tracker curves.

Rank 0's callback (:mod:`limo_rl.train.runner`) appends each logged step to
``train_log.jsonl`` and rewrites ``train_progress.json`` about once a second. While
``trainer.fit()`` blocks the driver, a thread here reads both: the step count, ETA, loss and
tokens/s go to the stage's live line, and every new log row goes to the tracker as it arrives
(so W&B shows the curve during training, not replayed afterwards). The files are the contract,
so this works for any number of workers as long as ``out_dir`` is shared, as training needs anyway.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from limo_rl.console.progress import bar

log = logging.getLogger(__name__)


def log_rows(tracker: Any, rows: list[dict[str, Any]]) -> None:
    """Training log rows -> ``train/<figure>`` with the row's step (the tracker namespaces and steps them)."""
    if tracker is None:
        return
    for row in rows:
        figures = {f"train/{k}": v for k, v in row.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}
        if figures:
            tracker.log(figures, step=int(row.get("step", 0)))


class TrainWatcher:
    """A daemon thread polling a training's files; ``stop()`` drains what is left."""

    def __init__(self, out_dir: Path, log_file: str, progress_file: str, tracker: Any = None,
                 interval_s: float = 0.5):
        self.log_path, self.progress_path = out_dir / log_file, out_dir / progress_file
        self.tracker, self.interval_s = tracker, interval_s
        self.seen = 0  # rows of the log already forwarded
        self.loss: float | None = None
        self._stop = threading.Event()
        self._bar = bar(total=None, desc="train", unit="steps")
        self._thread = threading.Thread(target=self._run, name="limo-train-watch", daemon=True)

    def start(self, skip_rows: int = 0) -> TrainWatcher:
        self.seen = skip_rows
        self._thread.start()
        return self

    def _read_rows(self) -> list[dict[str, Any]]:
        try:
            lines = self.log_path.read_text().splitlines()
        except OSError:
            return []
        rows = []
        for line in lines[self.seen:]:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a row being written; the next poll reads it
                break
        self.seen += len(rows)
        return rows

    def poll(self) -> None:
        rows = self._read_rows()
        try:
            log_rows(self.tracker, rows)
        except Exception as exc:  # the tracker must never stop a training
            log.warning("could not log training curves to the tracker: %s", exc)
        for row in rows:
            if "loss" in row:
                self.loss = row["loss"]
        try:
            prog = json.loads(self.progress_path.read_text())
        except (OSError, json.JSONDecodeError):
            return
        if prog.get("max_steps") and self._bar.total != prog["max_steps"]:
            self._bar.reset(int(prog["max_steps"]))
        figs: dict[str, Any] = {}
        if self.loss is not None:
            figs["loss"] = f"{self.loss:.3f}"
        if prog.get("seconds"):
            figs["tok/s"] = f"{prog.get('tokens_seen', 0) / prog['seconds']:,.0f}"
        self._bar.postfix = figs
        self._bar.update(int(prog.get("step", 0)) - self._bar.n)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.poll()
        self._bar.close()
