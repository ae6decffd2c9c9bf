"""Atomic writes, hashes, stage markers and resume decisions, seeds, manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from limo_rl.config import load_recipe
from limo_rl.run import artifacts as A


def test_atomic_write_replaces(tmp_path):
    p = tmp_path / "f.json"
    A.atomic_write_json(p, {"a": 1})
    A.atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [q.name for q in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_crash_keeps_old_file(tmp_path):
    """A writer killed mid-write (os._exit inside the write) leaves the old file intact."""
    p = tmp_path / "data.txt"
    p.write_text("old contents")
    code = textwrap.dedent(
        f"""
        import os
        from limo_rl.run import artifacts
        class Boom:
            def __iter__(self):
                yield {{"x": 1}}
                os._exit(9)
        artifacts.atomic_write_jsonl({str(p)!r}, Boom())
        """
    )
    res = subprocess.run([sys.executable, "-c", code])
    assert res.returncode == 9
    assert p.read_text() == "old contents"


def test_atomic_write_exception_keeps_old_and_cleans_tmp(tmp_path, monkeypatch):
    p = tmp_path / "x.bin"
    p.write_bytes(b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        A.atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x.bin"]


def test_atomic_output_dir_swap_and_failure(tmp_path):
    target = tmp_path / "model"
    with A.atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "w.bin").write_bytes(b"1")
    assert (target / "w.bin").read_bytes() == b"1"
    with pytest.raises(RuntimeError):
        with A.atomic_output(target) as tmp:
            tmp.mkdir()
            (tmp / "w.bin").write_bytes(b"2")
            raise RuntimeError("crash")
    assert (target / "w.bin").read_bytes() == b"1"
    with A.atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "w.bin").write_bytes(b"3")
    assert (target / "w.bin").read_bytes() == b"3"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["model"]


def test_hash_path_file_and_dir(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_text("1")
    h1 = A.hash_path(d)
    (d / A.STAGE_MARKER).write_text("{}")
    (d / ".hidden").write_text("x")
    assert A.hash_path(d) == h1
    (d / "a").write_text("2")
    assert A.hash_path(d) != h1
    assert A.hash_obj({"b": 1, "a": 2}) == A.hash_obj({"a": 2, "b": 1})


def test_stage_decision_lifecycle(tmp_path):
    st = tmp_path / "stage"
    st.mkdir()
    assert A.stage_decision(st, "h1") == A.StageDecision(True, "not done yet")
    (st / "out.jsonl").write_text("row\n")
    A.mark_stage_done(st, "h1", ["out.jsonl"])
    assert not A.stage_decision(st, "h1").run
    d = A.stage_decision(st, "h2")
    assert d.run and "changed" in d.reason
    (st / "out.jsonl").write_text("tampered\n")
    d = A.stage_decision(st, "h1")
    assert d.run and "modified" in d.reason
    (st / "out.jsonl").unlink()
    d = A.stage_decision(st, "h1")
    assert d.run and "missing" in d.reason
    (st / A.STAGE_MARKER).write_text("{garbage")
    assert A.stage_decision(st, "h1").run
    A.clear_stage_marker(st)
    assert A.read_stage_marker(st) is None


def test_derive_seed_is_stable_and_distinct():
    s = A.derive_seed(0, 1, "p1", 0)
    assert s == A.derive_seed(0, 1, "p1", 0)
    assert 0 <= s < 2**31
    others = {A.derive_seed(1, 1, "p1", 0), A.derive_seed(0, 2, "p1", 0), A.derive_seed(0, 1, "p2", 0),
              A.derive_seed(0, 1, "p1", 1)}
    assert s not in others and len(others) == 4
    # fixed value: the derivation must not change silently between versions (it keys resumable shards)
    assert A.derive_seed(0, 0, "", 0) == A.derive_seed(0, 0, "", 0) == 0x7FFFFFFF & int.from_bytes(
        __import__("hashlib").sha256(b"0\x1f0\x1f\x1f0").digest()[:4], "big"
    )


def test_run_dir_writes_config_and_manifest(tmp_path):
    recipe = load_recipe(None, [f"run.output_dir={tmp_path}", "run.name=t1", "run.seed=7"])
    rd, m = A.create_run(recipe, ["limo-rl", "run", "x.yaml"])
    assert rd.path == tmp_path / "t1"
    assert load_recipe(rd.config_path) == recipe
    data = json.loads(rd.manifest_path.read_text())
    assert data["command"] == ["limo-rl", "run", "x.yaml"]
    assert data["seeds"]["seed"] == 7
    for pkg in ("torch", "transformers", "trl", "ray", "datasets", "sympy", "math-verify"):
        assert data["packages"][pkg], pkg
    assert "vllm" in data["packages"]
    assert set(data["git"]) == {"commit", "dirty"}
    assert data["python"] and data["platform"] and data["started_at"]
    m.record_stage("round1/generate", status="done", input_hash="abc", outputs={"x": "h"}, seconds=1.5)
    m.finish()
    data = json.loads(rd.manifest_path.read_text())
    assert data["stages"]["round1/generate"]["status"] == "done" and data["status"] == "finished"
    # reopening keeps stage history and appends an invocation
    A.create_run(recipe, ["limo-rl", "run", "again"])
    data = json.loads(rd.manifest_path.read_text())
    assert "round1/generate" in data["stages"] and len(data["invocations"]) == 2


def test_manifest_never_contains_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "sk-secret-123")
    recipe = load_recipe(None, [f"run.output_dir={tmp_path}", "tracking.mode=online"])
    rd, _ = A.create_run(recipe, ["limo-rl"])
    assert "sk-secret-123" not in rd.manifest_path.read_text()
    assert "sk-secret-123" not in rd.config_path.read_text()


def test_large_files_hash_in_full(tmp_path):
    """Issue 15 case 1: a change between the old 4 MiB samples of a large file is seen (every byte is hashed)."""
    big = tmp_path / "w.bin"
    size = 9 << 20
    big.write_bytes(b"a" * size)
    h = A.hash_file(big)
    with open(big, "r+b") as fh:  # edit one byte at 6 MiB, outside start/middle/end samples, same size
        fh.seek(6 << 20)
        fh.write(b"b")
    assert A.hash_file(big) != h
    big.write_bytes(b"a" * (size - 1))  # a truncated file too
    assert A.hash_file(big) != h
