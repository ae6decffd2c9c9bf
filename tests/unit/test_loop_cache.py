"""Stage caching: skip when done with the same inputs, resume partial work, restart on changed inputs,
--from-stage forcing, stop_after."""

from __future__ import annotations

import json

import pytest

from limo_rl.loop.cache import StageRunner, StopAfter
from limo_rl.run.artifacts import Manifest


def make_runner(tmp_path, **kw):
    return StageRunner(tmp_path, Manifest(tmp_path / "manifest.json"), **kw)


def writer(calls, text="x"):
    def fn(d):
        calls.append(d)
        (d / "partial").mkdir(exist_ok=True)
        (d / "out.txt").write_text(text)
        return {"rows": 1}
    return fn


def test_skip_when_done_and_rerun_when_inputs_change(tmp_path):
    calls = []
    r = make_runner(tmp_path)
    d = tmp_path / "s1"
    r.run("select", d, {"a": 1}, writer(calls), ["out.txt"])
    r.run("select", d, {"a": 1}, writer(calls), ["out.txt"])
    assert len(calls) == 1 and r.skipped == ["s1"]
    r.run("select", d, {"a": 2}, writer(calls), ["out.txt"])
    assert len(calls) == 2
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["stages"]["s1"]["status"] == "done" and m["stages"]["s1"]["metrics"] == {"rows": 1}
    assert m["stages"]["s1"]["outputs"]["out.txt"]


def test_partial_work_kept_for_same_inputs_and_wiped_for_new(tmp_path):
    d = tmp_path / "gen"
    r = make_runner(tmp_path)

    def crash(out):
        (out / "shard-0.parquet").write_text("done shard")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        r.run("generate", d, {"k": 1}, crash, ["chains"])
    assert json.loads((tmp_path / "manifest.json").read_text())["stages"]["gen"]["status"] == "failed"

    seen = {}

    def resume(out):
        seen["kept"] = (out / "shard-0.parquet").exists()
        (out / "chains").mkdir()
        return {}

    make_runner(tmp_path).run("generate", d, {"k": 1}, resume, ["chains"])
    assert seen["kept"] is True
    # the same folder with other inputs starts afresh
    make_runner(tmp_path).run("generate", d, {"k": 2}, resume, ["chains"])
    assert seen["kept"] is False


def test_deleted_output_reruns(tmp_path):
    calls = []
    d = tmp_path / "s"
    make_runner(tmp_path).run("train", d, {}, writer(calls), ["out.txt"])
    (d / "out.txt").unlink()
    make_runner(tmp_path).run("train", d, {}, writer(calls), ["out.txt"])
    assert len(calls) == 2


def test_from_stage_forces_that_stage_and_later_only(tmp_path):
    calls = []
    r = make_runner(tmp_path)
    for kind in ("generate", "select", "train"):
        r.run(kind, tmp_path / kind, {}, writer(calls), ["out.txt"])
    assert len(calls) == 3
    r2 = make_runner(tmp_path, from_stage="select")
    for kind in ("generate", "select", "train"):
        r2.run(kind, tmp_path / kind, {}, writer(calls), ["out.txt"])
    assert [c.name for c in calls[3:]] == ["select", "train"]
    assert r2.skipped == ["generate"]


def test_stop_after(tmp_path):
    calls = []
    r = make_runner(tmp_path, stop_after="generate")
    r.run("pool", tmp_path / "pool", {}, writer(calls), ["out.txt"])
    with pytest.raises(StopAfter):
        r.run("generate", tmp_path / "gen", {}, writer(calls), ["out.txt"])
    assert len(calls) == 2


def test_changed_inputs_set_old_work_aside_under_the_loop_as_under_ad_hoc_train(tmp_path):
    """One policy for "inputs changed": the loop keeps a stage's old checkpoints (set aside, never read)."""
    d = tmp_path / "train"

    def train(out):
        (out / "checkpoints").mkdir(exist_ok=True)
        (out / "checkpoints" / "checkpoint-5").write_text("weights")
        (out / "model").mkdir(exist_ok=True)
        return {}

    make_runner(tmp_path).run("train", d, {"epochs": 1}, train, ["model"])
    seen = {}

    def fresh(out):
        seen["old_visible"] = (out / "checkpoints").exists()
        (out / "model").mkdir()
        return {}

    make_runner(tmp_path).run("train", d, {"epochs": 2}, fresh, ["model"])
    assert seen["old_visible"] is False
    stale = [p for p in d.iterdir() if p.name.startswith("stale-")]
    assert len(stale) == 1 and (stale[0] / "checkpoints" / "checkpoint-5").read_text() == "weights"
    # --from-stage forces a rerun with the same inputs: the previous work is set aside too, not deleted
    make_runner(tmp_path, from_stage="train").run("train", d, {"epochs": 2}, fresh, ["model"])
    assert len([p for p in d.iterdir() if p.name.startswith("stale-")]) >= 1
    assert (stale[0] / "checkpoints" / "checkpoint-5").is_file()
