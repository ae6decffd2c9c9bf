"""Tracker: W&B offline by default, files written, no key leaks; the null tracker."""

from __future__ import annotations

import os
from pathlib import Path

from limo_rl.config import load_recipe
from limo_rl.console.tracking import NullTracker, make_tracker, resolve_wandb_mode


def test_mode_resolution():
    assert resolve_wandb_mode("offline", {}) == "offline"
    assert resolve_wandb_mode("online", {"WANDB_API_KEY": "k", "HOME": "/nonexistent"}) == "online"
    assert resolve_wandb_mode("online", {"WANDB_MODE": "offline", "WANDB_API_KEY": "k"}) == "offline"
    assert resolve_wandb_mode("offline", {"WANDB_MODE": "online"}) == "online"


def test_null_tracker_is_default():
    r = load_recipe(None)
    assert isinstance(make_tracker(r.tracking, "/nonexistent", {}), NullTracker)


def test_wandb_offline_writes_run_files(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_API_KEY", "sk-never-written-0000000000000000000000")
    r = load_recipe(None, ["tracking.backend=wandb", "select.budget=5"])
    t = make_tracker(r.tracking, tmp_path, r.to_dict(), name="t")
    t.log({"generate/chains": 10, "generate/tokens_per_s": 12.5})
    t.summary({"eval/toy_eval/pass@1": 0.5})
    t.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = [p for p in runs[0].rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    for p in files:
        assert b"sk-never-written" not in p.read_bytes(), p
    assert os.environ["WANDB_MODE"] == "offline"
    assert Path(runs[0]).exists()


def test_scoped_names_never_collide_and_each_training_has_its_own_step_axis(tmp_path, monkeypatch):
    from tests.wandb_files import artifacts, history, run_file, summary_keys

    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    r = load_recipe(None, ["tracking.backend=wandb"])
    t = make_tracker(r.tracking, tmp_path, r.to_dict(), name="t")
    loop, static = t.scoped("loop/round1/seed0"), t.scoped("static/seed0")
    for step in (1, 2, 3):
        loop.log({"train/loss": 1.0 / step}, step=step)
    for step in (1, 2):  # a later training restarts at step 1: it must not be dropped or merged
        static.log({"train/loss": 2.0 / step}, step=step)
    loop.summary({"train/train_loss": 0.3})
    static.summary({"train/train_loss": 0.7})
    loop.log_table("chains/sample", ["selected", "text"], [[True, "a"], [False, "b"]])
    (tmp_path / "sft.jsonl").write_text("{}\n")
    loop.log_artifact("sft-t-loop-round1-seed0", "dataset", [tmp_path / "sft.jsonl"])
    t.finish()
    f = run_file(tmp_path)
    rows = history(f)
    curve = {k: [(h[k.rsplit("/", 1)[0] + "/step"], h[k]) for h in rows if k in h]
             for k in ("train/loop/round1/seed0/loss", "train/static/seed0/loss")}
    assert curve["train/loop/round1/seed0/loss"] == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    assert curve["train/static/seed0/loss"] == [(1, 2.0), (2, 1.0)]
    assert not any("train/loss" in h for h in rows)
    assert {"train/loop/round1/seed0/train_loss", "train/static/seed0/train_loss"} <= summary_keys(f)
    assert any(h.get("chains/loop/round1/seed0/sample/_type") == "table-file" for h in rows)
    assert ("sft-t-loop-round1-seed0", "dataset") in artifacts(f)


def test_scope_key():
    from limo_rl.console.tracking import scope_key

    assert scope_key("train/loss", "loop/round1/seed0") == "train/loop/round1/seed0/loss"
    assert scope_key("eval/toy_eval/pass@1", "static/seed0") == "eval/static/seed0/toy_eval/pass@1"
    assert scope_key("loss", "s") == "s/loss"


def test_one_wandb_run_per_run_folder(tmp_path, monkeypatch):
    """No figure, no W&B run (a no-op rerun creates none); a later invocation continues the stored run."""
    import json

    from limo_rl.console.tracking import RUN_RECORD

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    r = load_recipe(None, ["tracking.backend=wandb"])

    def folders():
        return sorted(p.name for p in tmp_path.rglob("offline-run-*") if p.is_dir())

    first = make_tracker(r.tracking, tmp_path, r.to_dict(), name="t")
    assert first.location() is None
    first.log({"generate/chains": 10})
    first.finish()
    assert len(folders()) == 1
    record = json.loads((tmp_path / RUN_RECORD).read_text())
    assert folders()[0].endswith(record["id"]) and not record["resumed"]
    assert record["dir"] in first.location()

    noop = make_tracker(r.tracking, tmp_path, r.to_dict(), name="t")  # a rerun with nothing to do
    noop.finish()
    assert len(folders()) == 1
    assert noop.location() == first.location()  # the console still says where the run is

    resumed = make_tracker(r.tracking, tmp_path, r.to_dict(), name="t")  # a killed run, resumed
    resumed.log({"train/loss": 0.5})
    resumed.finish()
    again = json.loads((tmp_path / RUN_RECORD).read_text())
    assert len(folders()) == 2 and again["id"] == record["id"] and again["resumed"]
    assert all(record["id"] in f for f in folders())


def test_auto_mode_is_online_exactly_when_a_key_is_there(tmp_path):
    assert resolve_wandb_mode("auto", {"WANDB_API_KEY": "k", "HOME": str(tmp_path)}) == "online"
    assert resolve_wandb_mode("auto", {"HOME": str(tmp_path)}) == "offline"
    assert resolve_wandb_mode("auto", {"WANDB_MODE": "offline", "WANDB_API_KEY": "k"}) == "offline"


def test_cluster_manifests_neither_silence_the_console_nor_force_wandb_offline():
    import yaml

    from limo_rl.config import load_recipe

    repo = Path(__file__).resolve().parents[2]
    rt = yaml.safe_load((repo / "ray_cluster" / "runtime_env.yaml").read_text())["env_vars"]
    job = yaml.safe_load((repo / "ray_cluster" / "kuberay" / "rayjob.yaml").read_text())
    for env in (rt, yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]):
        assert "LIMO_RL_QUIET" not in env and "WANDB_MODE" not in env
    entry = job["spec"]["entrypoint"].split()
    recipe = entry[2].removeprefix("/home/ray/limo_rl/")  # the image's project (ray_cluster/Dockerfile)
    assert load_recipe(repo / recipe, entry[3:]).tracking.mode == "auto"
