"""Training checkpoints of an object-store run: which are complete, and rotating them as on disk.

Rank 0 uploads each complete checkpoint to ``<store>/checkpoints/checkpoint-N/`` (its
:data:`~limo_rl.train.checkpoints.COMPLETE_MARKER` last). The store keeps what the Trainer keeps
on disk: with ``train.save_total_limit`` the newest that many, plus the best one when
``select_checkpoint: best_val`` tracks it, so a 15-epoch 32B training holds 2 x 427 GiB, not
15 x. The checkpoints stay in the store (:data:`limo_rl.runstore.STORE_ONLY`): the driver lists them
to choose where to resume and never downloads them; the worker that resumes fetches that one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from limo_rl.runstore import folders_holding, remove_folders
from limo_rl.train.checkpoints import COMPLETE_MARKER, checkpoint_step

log = logging.getLogger(__name__)


def complete_in_store(store_dir: str) -> list[str]:
    """Names of the complete checkpoints under ``<store_dir>/checkpoints``, oldest first."""
    names = [n for n in folders_holding(f"{store_dir}/checkpoints", COMPLETE_MARKER) if checkpoint_step(n) is not None]
    return sorted(names, key=checkpoint_step)


def rotated_out(stored: Iterable[str], limit: int | None, protect: Iterable[str | None] = ()) -> list[str]:
    """Checkpoint names to delete: all but the newest ``limit`` and the protected (the best one); none
    without a limit."""
    if not limit:
        return []
    keep = {p.rstrip("/").rsplit("/", 1)[-1] for p in protect if p}
    ordered = sorted((n for n in stored if checkpoint_step(n) is not None), key=checkpoint_step)
    return [n for n in ordered[:-limit] if n not in keep]


def rotate_in_store(store_dir: str, limit: int | None, best: str | None = None) -> list[str]:
    """Delete the store's checkpoints beyond ``limit`` (the newest kept, and ``best``); returns those deleted."""
    gone = rotated_out(complete_in_store(store_dir), limit, [best])
    if gone:
        remove_folders(f"{store_dir}/checkpoints", gone)
        log.info("store: rotated out %s (train.save_total_limit = %s)", ", ".join(gone), limit)
    return gone
