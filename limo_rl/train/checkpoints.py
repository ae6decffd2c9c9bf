"""Which checkpoint to resume from: the newest *complete* one.

The HF Trainer writes ``checkpoint-<step>/`` piece by piece (weights, optimizer, scheduler,
RNG states, ``trainer_state.json``); a crash in the middle leaves a folder that looks like a
checkpoint and is not. After the Trainer's save returns (``on_save``), the training callback
writes :data:`COMPLETE_MARKER` into the folder atomically; only folders carrying it count.
Resuming from one restores global step, optimizer and scheduler state, and the data order,
so no epoch is skipped or repeated.

Pure core: standard library only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from limo_rl.run.artifacts import atomic_write_json, utcnow

COMPLETE_MARKER = "limo_complete.json"
_CKPT_RE = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: str | Path) -> int | None:
    m = _CKPT_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def mark_complete(ckpt_dir: str | Path, global_step: int, epoch: float | None, extra: dict[str, Any] | None = None) -> None:
    atomic_write_json(
        Path(ckpt_dir) / COMPLETE_MARKER,
        {"global_step": global_step, "epoch": epoch, "saved_at": utcnow(), **(extra or {})},
    )


def complete_checkpoints(root: str | Path) -> list[Path]:
    """Complete ``checkpoint-N`` folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        step = checkpoint_step(p)
        if step is None or not p.is_dir() or not (p / COMPLETE_MARKER).is_file():
            continue
        if not (p / "trainer_state.json").is_file():
            continue
        found.append((step, p))
    return [p for _, p in sorted(found)]


def newest_complete(root: str | Path) -> Path | None:
    done = complete_checkpoints(root)
    return done[-1] if done else None


def read_marker(ckpt_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(ckpt_dir) / COMPLETE_MARKER).read_text())
