"""Training checkpoints of an object-store run: uploaded in the background, complete once marked, rotated as on disk.

After each save every rank meets once (:func:`node_ranks`, which tells each node how many nodes there are);
then each node's local rank 0 hands its node's part of the checkpoint to a :class:`CheckpointUploads` and
goes back to training at once: a background thread uploads it to ``<store>/checkpoints/checkpoint-N/``
(one checkpoint after the other, in order) and then records ``_NODE_PARTS/node-<r>.json``. Global rank 0's
thread, once every node's record is there, writes the :data:`~limo_rl.train.checkpoints.COMPLETE_MARKER`
and uploads it **last**: the checkpoint is complete in the store only when every file of every node is up.
A crash in the middle of an upload leaves no marker, so a resume never picks that checkpoint. The upload
works from a hard-linked snapshot of the checkpoint (``.ckpt-upload.tmp/`` beside ``checkpoints/``), so the
Trainer may rotate the folder away meanwhile. A failed upload is raised (:class:`StageFailure`) at the next
save or at the end (:meth:`CheckpointUploads.finish`), which every uploading rank waits for before the
training counts as finished.

The store keeps what the Trainer keeps on disk: with ``train.save_total_limit`` the newest that many, plus
the best one when ``select_checkpoint: best_val`` tracks it, so a 15-epoch 32B training holds 2 x 427 GiB,
not 15 x. The checkpoints stay in the store (:data:`limo_rl.run.objectstore.STORE_ONLY`): the driver lists
them to choose where to resume and never downloads them; the worker that resumes fetches that one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from limo_rl.errors import StageFailure
from limo_rl.run.artifacts import atomic_write_json
from limo_rl.run.objectstore import filesystem, folders_holding, put_file, remove_folders, upload_tree
from limo_rl.train.checkpoints import COMPLETE_MARKER, checkpoint_step, mark_complete

log = logging.getLogger(__name__)

PARTS = "_NODE_PARTS"  # in a stored checkpoint: node-<r>.json once that node's files are all up
STAGING = ".ckpt-upload.tmp"  # beside checkpoints/: the snapshots being uploaded (a temp name: never committed)


def complete_in_store(store_dir: str) -> list[str]:
    """Names of the complete checkpoints under ``<store_dir>/checkpoints``, oldest first."""
    names = [n for n in folders_holding(f"{store_dir}/checkpoints", COMPLETE_MARKER) if checkpoint_step(n) is not None]
    return sorted(names, key=checkpoint_step)


def node_ranks() -> list[int]:
    """The node ranks of the training's nodes, from every rank (a collective: each rank calls it after a save,
    so it is also the barrier after which every file of the checkpoint is written). Ray Train sets NODE_RANK."""
    me = int(os.environ.get("NODE_RANK", "0"))
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [me]
    everyone: list[int | None] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, me)
    return sorted({int(r) for r in everyone if r is not None})


@dataclass
class _Job:
    name: str
    snapshot: Path  # empty when this node holds no file of the checkpoint (DDP: rank 0's node writes it)
    local: Path
    step: int
    epoch: float | None
    nodes: Sequence[int]
    limit: int | None
    best: str | None


class CheckpointUploads:
    """One node's checkpoint uploader (its local rank 0): ordered, in a background thread.

    ``lead``: global rank 0, which marks each checkpoint complete once every node in ``nodes`` recorded its
    part, and rotates. ``wait_s``: how long the lead waits for the other nodes' parts (``train.
    process_group_timeout_s``); a node later than that is taken as lost and the upload fails."""

    def __init__(self, store_dir: str, *, node: int, lead: bool, wait_s: float = 3600.0, poll_s: float = 0.5) -> None:
        self.store_dir, self.node, self.lead, self.wait_s, self.poll_s = store_dir, node, lead, wait_s, poll_s
        self._staging: Path | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._marked: queue.SimpleQueue[_Job] = queue.SimpleQueue()  # complete in the store, not yet on disk

    def submit(self, ckpt: Path, *, step: int, epoch: float | None, nodes: Sequence[int], limit: int | None = None,
               best: str | None = None) -> None:
        """Queue this node's part of ``ckpt`` (a snapshot is taken now); returns at once."""
        self._raise_failed()
        self.mark_local()
        self._staging = ckpt.parent.parent / STAGING
        snapshot = self._staging / ckpt.name
        _link_tree(ckpt, snapshot)
        self._jobs.put(_Job(ckpt.name, snapshot, ckpt, step, epoch, list(nodes), limit, best))
        if self._thread is None:
            # a daemon: a worker that dies takes its upload with it, and the checkpoint simply never gets its marker
            self._thread = threading.Thread(target=self._work, name=f"ckpt-upload-node{self.node}", daemon=True)
            self._thread.start()

    def pending(self) -> int:
        return self._jobs.unfinished_tasks

    def finish(self, timeout: float | None = None) -> None:
        """Wait until every queued checkpoint is up (and, on the lead, marked); raise what failed."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise StageFailure(f"checkpoint uploads to {self.store_dir} still running after {timeout:.0f} s")
            self._thread = None
            if self._staging is not None:
                with contextlib.suppress(OSError):
                    self._staging.rmdir()  # empty once every snapshot is up
        self.mark_local()
        self._raise_failed()

    def mark_local(self) -> None:
        """On the training's own thread: the marker into each local checkpoint now complete in the store, if
        the Trainer still keeps it (the lead's node). Its folder's mtime is kept: the Trainer rotates the
        oldest by mtime, and a marker written into checkpoint-2 after checkpoint-4 was saved would make it
        the newest (the Trainer would then delete checkpoint-4)."""
        while True:
            try:
                job = self._marked.get_nowait()
            except queue.Empty:
                return
            try:
                if job.local.is_dir() and not (job.local / COMPLETE_MARKER).is_file():
                    before = job.local.stat()
                    mark_complete(job.local, job.step, job.epoch)
                    os.utime(job.local, ns=(before.st_atime_ns, before.st_mtime_ns))
            except OSError as exc:  # the store's copy is complete all the same
                log.warning("%s: local completion marker not written: %s", job.local, exc)

    def _raise_failed(self) -> None:
        if self._error is not None:
            exc = self._error
            raise StageFailure(f"checkpoint upload to {self.store_dir}/checkpoints failed: "
                               f"{type(exc).__name__}: {exc}") from exc

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:  # after a failure nothing more is marked complete
                    self._commit(job)
            except BaseException as exc:  # noqa: BLE001 - handed to the training thread
                log.error("checkpoint upload failed: %s: %s", type(exc).__name__, exc)
                self._error = exc
            finally:
                if job is not None:
                    shutil.rmtree(job.snapshot, ignore_errors=True)
                self._jobs.task_done()

    def _commit(self, job: _Job) -> None:
        uri = f"{self.store_dir}/checkpoints/{job.name}"
        t0 = time.perf_counter()
        sent = upload_tree(job.snapshot, uri)
        record = job.snapshot.with_name(f".{job.name}-node{self.node}.json.tmp")
        atomic_write_json(record, {"node": self.node, "files": sent, "seconds": time.perf_counter() - t0})
        try:
            put_file(record, f"{uri}/{PARTS}/node-{self.node}.json")
        finally:
            record.unlink(missing_ok=True)
        if not self.lead:
            return
        self._wait_for_parts(uri, job.nodes)
        mark_complete(job.snapshot, job.step, job.epoch)
        put_file(job.snapshot / COMPLETE_MARKER, f"{uri}/{COMPLETE_MARKER}")  # the commit point: last
        self._marked.put(job)
        rotate_in_store(self.store_dir, job.limit, job.best)

    def _wait_for_parts(self, uri: str, nodes: Iterable[int]) -> None:
        fs, root = filesystem(uri)
        wanted = [f"{root}/{PARTS}/node-{n}.json" for n in nodes]
        deadline = time.monotonic() + self.wait_s
        while True:
            fs.invalidate_cache(f"{root}/{PARTS}")
            missing = [w for w in wanted if not fs.exists(w)]
            if not missing:
                return
            if time.monotonic() > deadline:
                lost = ", ".join(m.rsplit("/", 1)[-1].removesuffix(".json") for m in missing)
                raise StageFailure(f"{uri}: {lost} did not finish uploading its part within {self.wait_s:.0f} s "
                                   "(train.process_group_timeout_s); the checkpoint is left incomplete")
            time.sleep(self.poll_s)


def _link_tree(src: Path, dest: Path) -> None:
    """``dest`` holds the files of ``src`` by hard link (a copy where links are refused); empty without ``src``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for f in sorted(src.rglob("*")):
        if not f.is_file() or f.name == COMPLETE_MARKER:
            continue
        target = dest / f.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


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
