"""The stage store shared by the runs of one output folder (limo_rl.run.stagestore, limo_rl.loop.cache): publish,
fetch by hard link, damaged entries never used, and of two runs racing on one key exactly one computes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

from limo_rl.loop.cache import StageRunner
from limo_rl.run.artifacts import Manifest, hash_obj, mark_stage_done
from limo_rl.run.stagestore import StageStore


def finished_stage(d: Path, key: str, text: str = "chains") -> Path:
    (d / "out").mkdir(parents=True)
    (d / "out" / "a.txt").write_text(text)
    mark_stage_done(d, key, ["out"])
    return d


def test_publish_then_fetch_links_and_checks_the_seal(tmp_path):
    store = StageStore(tmp_path / ".stages")
    src = finished_stage(tmp_path / "run1" / "gen", "k1")
    assert store.publish("generate", "k1", src) is not None
    assert store.publish("generate", "k1", src) is None  # once per key
    dst = tmp_path / "run2" / "gen"
    marker = store.fetch("generate", "k1", dst)
    assert marker["input_hash"] == "k1"
    assert (dst / "out" / "a.txt").stat().st_ino == (src / "out" / "a.txt").stat().st_ino
    assert store.fetch("generate", "nope", tmp_path / "x") is None
    # an entry damaged by an edit is moved away and never served
    entry = store.entry("generate", "k1")
    os.unlink(entry / "out" / "a.txt")  # unlink: the run folders keep their own links intact
    (entry / "out" / "a.txt").write_text("tampered")
    assert not store.has("generate", "k1") and not entry.exists()
    assert list(entry.parent.glob(".damaged-*"))
    assert store.fetch("generate", "k1", tmp_path / "run3" / "gen") is None
    assert [p.name for p in store.unreferenced(tmp_path)] == [p.name for p in entry.parent.glob(".damaged-*")]


def _compute_once(root: str, run: str, counter: str, hold_s: float) -> None:
    """One 'run' of a stage through StageRunner with the shared store: computing appends to ``counter``."""
    run_dir = Path(root) / run
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = StageRunner(run_dir, Manifest(run_dir / "manifest.json"),
                         stages=StageStore(Path(root) / ".stages"))

    def fn(out: Path) -> dict:
        with open(counter, "a") as fh:
            fh.write(f"{run}\n")
        time.sleep(hold_s)
        (out / "out").mkdir(exist_ok=True)
        (out / "out" / "a.txt").write_text("the result")
        return {"n": 1}

    runner.run("generate", run_dir / "gen", {"x": 1}, fn, ["out"])


def test_two_runs_racing_on_one_key_compute_it_once(tmp_path):
    counter = tmp_path / "computed.txt"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_compute_once, args=(str(tmp_path), f"r{i}", str(counter), 1.5)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(counter.read_text().splitlines()) == 1
    for i in range(2):
        assert (tmp_path / f"r{i}" / "gen" / "out" / "a.txt").read_text() == "the result"
    stages = [json.loads((tmp_path / f"r{i}" / "manifest.json").read_text())["stages"]["gen"] for i in range(2)]
    assert sorted(bool(s.get("reused_from")) for s in stages) == [False, True]


def test_a_dead_holder_is_taken_over(tmp_path):
    counter = tmp_path / "computed.txt"
    ctx = multiprocessing.get_context("spawn")
    first = ctx.Process(target=_compute_once, args=(str(tmp_path), "dead", str(counter), 600))
    first.start()
    deadline = time.monotonic() + 60
    while not counter.exists():  # it holds the key and is computing
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)
    first.join()
    _compute_once(str(tmp_path), "next", str(counter), 0)  # would wait forever if the lock outlived its holder
    assert counter.read_text().splitlines() == ["dead", "next"]
    assert (tmp_path / "next" / "gen" / "out" / "a.txt").read_text() == "the result"


def test_runner_without_a_store_and_the_recipe_switch(tmp_path):
    from limo_rl.config import load_recipe

    assert load_recipe(None, []).run.share_stages is True
    assert load_recipe(None, ["run.share_stages=false"]).run.share_stages is False
    run_dir = tmp_path / "solo"
    runner = StageRunner(run_dir, Manifest(run_dir / "manifest.json"))

    def fn(out: Path) -> dict:
        (out / "out").mkdir()
        (out / "out" / "a.txt").write_text("x")
        return {}

    marker = runner.run("generate", run_dir / "gen", {"x": 1}, fn, ["out"])
    assert runner.ran == ["gen"] and not (tmp_path / ".stages").exists()
    assert marker["input_hash"] == hash_obj({"kind": "generate", "x": 1})  # content, not the folder


def test_clean_store_removes_only_entries_no_run_refers_to(tmp_path):
    import subprocess
    import sys

    store = StageStore(tmp_path / ".stages")
    kept = finished_stage(tmp_path / "run1" / "gen", "k1")
    store.publish("generate", "k1", kept)
    gone = finished_stage(tmp_path / "deleted-run" / "gen", "k2")
    store.publish("generate", "k2", gone)
    import shutil

    shutil.rmtree(tmp_path / "deleted-run")
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "clean", "--store", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert store.has("generate", "k1") and not store.entry("generate", "k2").exists()
    assert "removed 1 entry" in res.stdout
