"""Tracker: W&B offline by default, files written, no key leaks; the null tracker."""

from __future__ import annotations

import os
from pathlib import Path

from limo_rl.config import load_recipe
from limo_rl.tracking import NullTracker, make_tracker, resolve_wandb_mode


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
