"""Training checkpoints of an object-store run: which are complete, and rotating them as on disk.

Each node's local rank 0 uploads its node's part of each checkpoint to ``<store>/checkpoints/checkpoint-N/``;
after a barrier rank 0 uploads the :data:`~limo_rl.train.checkpoints.COMPLETE_MARKER` last (:func:`commit_checkpoint`). The store keeps what the Trainer keeps
on disk: with ``train.save_total_limit`` the newest that many, plus the best one when
``select_checkpoint: best_val`` tracks it, so a 15-epoch 32B training holds 2 x 427 GiB, not
15 x. The checkpoints stay in the store (:data:`limo_rl.run.objectstore.STORE_ONLY`): the driver lists them
to choose where to resume and never downloads them; the worker that resumes fetches that one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from limo_rl.run.objectstore import folders_holding, put_file, remove_folders, upload_tree
from limo_rl.train.checkpoints import COMPLETE_MARKER, checkpoint_step

log = logging.getLogger(__name__)


def complete_in_store(store_dir: str) -> list[str]:
    """Names of the complete checkpoints under ``<store_dir>/checkpoints``, oldest first."""
    names = [n for n in folders_holding(f"{store_dir}/checkpoints", COMPLETE_MARKER) if checkpoint_step(n) is not None]
    return sorted(names, key=checkpoint_step)


def commit_checkpoint(ckpt: Path, store_dir: str, *, local_rank: int, world_rank: int, barrier: Callable[[], None],
                      mark: Callable[[], None], limit: int | None = None, best: str | None = None) -> None:
    """Every rank calls this after a save. Each node's local rank 0 uploads the files of ``ckpt`` its node holds
    (ZeRO-3 writes each rank's shards on that rank's node: rank 0's node alone holds 8 of 32 at 4 nodes); after a
    barrier, global rank 0 writes the done-marker (``mark``) and uploads it last, then rotates: the checkpoint
    is complete in the store only once every node's part is there."""
    uri = f"{store_dir}/checkpoints/{ckpt.name}"
    if local_rank == 0 and ckpt.is_dir():
        upload_tree(ckpt, uri)
    barrier()
    if world_rank == 0 and ckpt.is_dir():
        mark()
        put_file(ckpt / COMPLETE_MARKER, f"{uri}/{COMPLETE_MARKER}")
        rotate_in_store(store_dir, limit, best)


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
