"""Checkpoints of an object-store run stay in the store: rotated there as on disk, never pulled to a working copy,
never deleted by a stage commit; the driver lists them to choose the resume point (a real S3 API: moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from limo_rl.run.objectstore import download_tree, filesystem, upload_tree  # noqa: E402
from limo_rl.train.checkpoints import COMPLETE_MARKER, mark_complete  # noqa: E402
from limo_rl.train.store_checkpoints import complete_in_store, rotate_in_store  # noqa: E402
from tests.integration.s3_server import moto_server, new_bucket, s3_env  # noqa: E402


def _stage(root: Path, steps: list[int], partial: int | None = None) -> Path:
    """A train stage folder as rank 0 leaves it: checkpoints (one without its marker), the model, the metrics."""
    for step in steps + ([partial] if partial else []):
        ck = root / "checkpoints" / f"checkpoint-{step}"
        ck.mkdir(parents=True)
        (ck / "weights.bin").write_bytes(b"w" * step)
        if step != partial:
            mark_complete(ck, step, step / 10)
    (root / "model").mkdir(parents=True)
    (root / "model" / "config.json").write_text("{}")
    (root / "train_metrics.json").write_text('{"global_step": 30}')
    return root


def test_store_rotation_pull_and_commit_keep_checkpoints_in_the_store(tmp_path, monkeypatch):
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/seed0/loop/round1/train"
        fs, root = filesystem(store)
        upload_tree(_stage(tmp_path / "rank0", [10, 20, 30], partial=40), store)
        assert complete_in_store(store) == ["checkpoint-10", "checkpoint-20", "checkpoint-30"]  # 40: no marker

        # the best one (best_val) survives the rotation; without it, the newest save_total_limit stay
        assert rotate_in_store(store, 2, best=f"{tmp_path}/checkpoints/checkpoint-10") == []
        assert rotate_in_store(store, None) == []  # no limit: the Trainer keeps all, so does the store
        assert rotate_in_store(store, 2) == ["checkpoint-10"]
        assert complete_in_store(store) == ["checkpoint-20", "checkpoint-30"]
        assert not fs.exists(f"{root}/checkpoints/checkpoint-10/weights.bin")

        # the driver pulls the model and metrics back, not the checkpoints
        driver = tmp_path / "driver"
        download_tree(store, driver)
        assert (driver / "model" / "config.json").is_file() and (driver / "train_metrics.json").is_file()
        assert not (driver / "checkpoints").exists()

        # committing the driver's copy (delete_extra) leaves the checkpoints in the store
        upload_tree(driver, store, delete_extra=True)
        fs.invalidate_cache()
        assert complete_in_store(store) == ["checkpoint-20", "checkpoint-30"]
        assert fs.exists(f"{root}/checkpoints/checkpoint-30/{COMPLETE_MARKER}")

        # a worker fetches the one checkpoint it resumes from
        resume = tmp_path / "worker" / "checkpoints" / "checkpoint-30"
        download_tree(f"{store}/checkpoints/checkpoint-30", resume)
        assert (resume / COMPLETE_MARKER).is_file() and (resume / "weights.bin").read_bytes() == b"w" * 30


def test_every_node_uploads_its_shards_and_the_marker_goes_last(tmp_path, monkeypatch):
    """ZeRO-3 on two nodes of two ranks: each node's checkpoint folder holds its ranks' shards only; the store's
    checkpoint gets both nodes' files, and its marker only after both uploads (a barrier), from rank 0."""
    import threading

    from limo_rl.train.store_checkpoints import commit_checkpoint

    nodes = {}
    for node, ranks in (("a", (0, 1)), ("b", (2, 3))):
        ck = tmp_path / node / "checkpoints" / "checkpoint-7"
        (ck / "global_step7").mkdir(parents=True)
        for r in ranks:
            (ck / "global_step7" / f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt").write_bytes(bytes([r]) * 64)
        if node == "a":
            (ck / "trainer_state.json").write_text("{}")
        nodes[node] = ck
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/train"
        fs, root = filesystem(store)
        barrier, seen_at_marker = threading.Barrier(4), []

        def mark():  # rank 0, after the barrier: every node's part must already be in the store
            fs.invalidate_cache()
            seen_at_marker.extend(sorted(k.rsplit("/", 1)[-1] for k in fs.find(f"{root}/checkpoints/checkpoint-7")))
            mark_complete(nodes["a"], 7, 1.0)

        def rank(world_rank: int) -> None:
            node, local = ("a", world_rank) if world_rank < 2 else ("b", world_rank - 2)
            commit_checkpoint(nodes[node], store, local_rank=local, world_rank=world_rank, barrier=barrier.wait,
                              mark=mark, limit=2)

        threads = [threading.Thread(target=rank, args=(r,)) for r in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        shards = [f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in range(4)]
        assert seen_at_marker == sorted([*shards, "trainer_state.json"])  # all 4 shards before the marker
        assert complete_in_store(store) == ["checkpoint-7"]
        fs.invalidate_cache()
        assert fs.cat_file(f"{root}/checkpoints/checkpoint-7/global_step7/{shards[3]}") == bytes([3]) * 64
