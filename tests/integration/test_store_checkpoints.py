"""Checkpoints of an object-store run stay in the store: rotated there as on disk, never pulled to a working copy,
never deleted by a stage commit; the driver lists them to choose the resume point (a real S3 API: moto)."""

from __future__ import annotations

import os
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


def _two_nodes(tmp_path: Path, step: int = 7) -> dict[str, Path]:
    """ZeRO-3 on two nodes of two ranks: each node's checkpoint folder holds its ranks' shards only."""
    nodes = {}
    for node, ranks in (("a", (0, 1)), ("b", (2, 3))):
        ck = tmp_path / node / "checkpoints" / f"checkpoint-{step}"
        (ck / f"global_step{step}").mkdir(parents=True)
        for r in ranks:
            (ck / f"global_step{step}" / f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt").write_bytes(bytes([r]) * 64)
        if node == "a":
            (ck / "trainer_state.json").write_text("{}")
        nodes[node] = ck
    return nodes


def _uploader(store: str, node: str, **kw):
    from limo_rl.train.store_checkpoints import CheckpointUploads

    return CheckpointUploads(store, node={"a": 0, "b": 1}[node], lead=node == "a", poll_s=0.05, **kw)


def test_every_node_uploads_its_shards_and_the_marker_goes_last(tmp_path, monkeypatch):
    """Each node's local rank 0 uploads its node's part in the background; the store's checkpoint gets both
    nodes' files, and its marker only once both parts are up, from rank 0."""
    import limo_rl.train.store_checkpoints as sc

    nodes = _two_nodes(tmp_path)
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/train"
        fs, root = filesystem(store)
        seen_at_marker, real_mark = [], sc.mark_complete

        def mark(ckpt, step, epoch):  # rank 0's thread: every node's part must already be in the store
            fs.invalidate_cache()
            if not seen_at_marker:
                seen_at_marker.extend(sorted(k.rsplit("/", 1)[-1] for k in fs.find(f"{root}/checkpoints/checkpoint-7")
                                             if "/_NODE_PARTS/" not in k))
            real_mark(ckpt, step, epoch)

        monkeypatch.setattr(sc, "mark_complete", mark)
        os.utime(nodes["a"], (1000, 1000))  # saved long ago: marking it must not make it look new
        ups = {n: _uploader(store, n) for n in nodes}
        ups["a"].submit(nodes["a"], step=7, epoch=1.0, nodes=[0, 1], limit=2)  # rank 0 first: it waits for b's part
        ups["b"].submit(nodes["b"], step=7, epoch=1.0, nodes=[0, 1], limit=2)
        for u in ups.values():
            u.finish(60)
        shards = [f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in range(4)]
        assert seen_at_marker == sorted([*shards, "trainer_state.json"])  # all 4 shards before the marker
        assert complete_in_store(store) == ["checkpoint-7"]
        fs.invalidate_cache()
        assert fs.cat_file(f"{root}/checkpoints/checkpoint-7/global_step7/{shards[3]}") == bytes([3]) * 64
        assert (nodes["a"] / COMPLETE_MARKER).is_file()  # rank 0's own copy is marked too (final_checkpoint)
        assert nodes["a"].stat().st_mtime == 1000  # the Trainer rotates by folder mtime
        assert not (tmp_path / "a" / sc.STAGING).exists() or not any((tmp_path / "a" / sc.STAGING).iterdir())


def test_a_slow_upload_does_not_hold_the_caller_and_the_marker_is_last(tmp_path, monkeypatch):
    """submit returns at once (the upload runs behind it); the Trainer may rotate the folder away meanwhile
    (a hard-linked snapshot is uploaded); the marker is the last object written; finish waits for it."""
    import time

    import limo_rl.train.store_checkpoints as sc

    ck = _two_nodes(tmp_path, step=3)["a"]
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/train"
        order, real_upload, real_put = [], sc.upload_tree, sc.put_file

        def slow_upload(local, uri, **kw):
            time.sleep(2.0)
            order.append(("tree", time.monotonic()))
            return real_upload(local, uri, **kw)

        monkeypatch.setattr(sc, "upload_tree", slow_upload)
        monkeypatch.setattr(sc, "put_file", lambda f, uri: order.append((uri.rsplit("/", 1)[-1], 0)) or real_put(f, uri))
        up = _uploader(store, "a")
        t0 = time.monotonic()
        up.submit(ck, step=3, epoch=1.0, nodes=[0])
        returned = time.monotonic() - t0
        import shutil

        shutil.rmtree(ck)  # rotated out locally while its upload runs
        assert returned < 1.0 and up.pending() == 1
        up.finish(60)
        assert [name for name, _ in order] == ["tree", "node-0.json", COMPLETE_MARKER]
        assert complete_in_store(store) == ["checkpoint-3"]
        fs, root = filesystem(store)
        assert fs.cat_file(f"{root}/checkpoints/checkpoint-3/global_step3/zero_pp_rank_1_mp_rank_00_optim_states.pt"
                           ) == bytes([1]) * 64


def test_a_failed_or_missing_part_leaves_no_marker_and_fails_the_stage(tmp_path, monkeypatch):
    """An upload that dies half way (after one file) is a StageFailure at finish, never silent, and its
    checkpoint has no marker; a node whose part never comes (a crashed node) fails rank 0 after its wait."""
    import limo_rl.train.store_checkpoints as sc
    from limo_rl.errors import StageFailure

    nodes = _two_nodes(tmp_path, step=5)
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/train"
        fs, root = filesystem(store)

        def dies(local, uri, **kw):
            first = sorted(p for p in Path(local).rglob("*") if p.is_file())[0]
            sc.put_file(first, f"{uri}/{first.relative_to(local).as_posix()}")
            raise ConnectionError("connection reset by peer")

        with monkeypatch.context() as m:
            m.setattr(sc, "upload_tree", dies)
            up = _uploader(store, "a")
            up.submit(nodes["a"], step=5, epoch=1.0, nodes=[0])
            with pytest.raises(StageFailure, match="checkpoint upload .* failed: ConnectionError"):
                up.finish(60)
        fs.invalidate_cache()
        assert fs.find(f"{root}/checkpoints/checkpoint-5")  # a file got there
        assert complete_in_store(store) == []  # but no marker: a resume ignores it

        lead = _uploader(store, "a", wait_s=1.0)  # node b never uploads its part
        lead.submit(nodes["a"], step=5, epoch=1.0, nodes=[0, 1])
        with pytest.raises(StageFailure, match="node-1 did not finish uploading"):
            lead.finish(60)
        assert complete_in_store(store) == []
        with pytest.raises(StageFailure):  # the next save raises too: a failure is never dropped
            lead.submit(nodes["a"], step=5, epoch=1.0, nodes=[0])


@pytest.mark.slow
def test_training_goes_on_while_a_checkpoint_uploads(tiny_model_dir, tmp_path, monkeypatch):
    """The real Trainer in-process on an object-store run: with each upload slowed to 3 s, the step after a
    save starts before that save's upload ends; at the end the worker waits for every upload, and the store
    holds the newest save_total_limit checkpoints, each with its marker."""
    import time

    from transformers import TrainerCallback

    import limo_rl.train.runner as runner
    import limo_rl.train.store_checkpoints as sc
    from tests.integration.test_train_mask import example, worker_config

    uploads, steps = {}, {}
    real_upload, real_callbacks = sc.upload_tree, runner._make_callbacks

    def slow_upload(local, uri, **kw):
        start = time.monotonic()
        time.sleep(3.0)
        sent = real_upload(local, uri, **kw)
        uploads[Path(local).name] = (start, time.monotonic())
        return sent

    class StepTimes(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            steps[state.global_step + 1] = time.monotonic()

    monkeypatch.setattr(sc, "upload_tree", slow_upload)
    monkeypatch.setattr(runner, "_make_callbacks", lambda *a, **kw: [*real_callbacks(*a, **kw), StepTimes()])
    with moto_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        store = f"s3://{new_bucket(endpoint)}/runs/r/train"
        config = worker_config(tiny_model_dir, tmp_path / "train", [example(i) for i in range(12)], max_steps=6,
                               save_strategy="steps", save_steps=2, save_total_limit=2, per_device_batch_size=2)
        config["store_dir"] = store
        t0 = time.monotonic()
        runner.train_worker(config)
        wall = time.monotonic() - t0
        assert sorted(uploads) == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
        assert steps[3] < uploads["checkpoint-2"][1]  # step 3 began while checkpoint-2 was still uploading
        assert steps[6] < uploads["checkpoint-4"][1]
        assert complete_in_store(store) == ["checkpoint-4", "checkpoint-6"]
        assert not any((tmp_path / "train" / sc.STAGING).glob("checkpoint-*"))  # snapshots removed
        print(f"wall {wall:.1f} s; uploads end {[round(e - t0, 1) for _, e in uploads.values()]}; "
              f"steps begin {[round(s - t0, 1) for s in steps.values()]}")
