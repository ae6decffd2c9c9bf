"""An object-store run collects its workers' logs into the store after every stage it computes, a failed one
included (the upload itself: tests/integration/test_worker_logs_store.py)."""

from __future__ import annotations

import pytest

import limo_rl.loop.cache as cache
from limo_rl.run.artifacts import Manifest


class _Store:
    uri = "s3://bucket/runs/r"

    def commit_stage(self, stage_dir):
        return 0

    def uncommit_stage(self, stage_dir):
        pass

    def push_file(self, path):
        pass


def test_worker_logs_are_collected_after_each_stage_failed_or_not(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cache, "upload_worker_logs", lambda uri: calls.append(uri) or 0)
    runner = cache.StageRunner(tmp_path, Manifest(tmp_path / "manifest.json"), store=_Store())

    def ok(d):
        (d / "out.txt").write_text("x")
        return {}

    def fails(d):
        raise RuntimeError("an engine died")

    runner.run("select", tmp_path / "a", {"a": 1}, ok, ["out.txt"])
    with pytest.raises(RuntimeError, match="engine died"):
        runner.run("generate", tmp_path / "b", {"b": 1}, fails, ["chains"])
    assert calls == [_Store.uri, _Store.uri]
    runner.run("select", tmp_path / "a", {"a": 1}, ok, ["out.txt"])  # done already: nothing ran, nothing to collect
    assert len(calls) == 2
    cache.StageRunner(tmp_path / "local", Manifest(tmp_path / "local" / "m.json")).run(
        "select", tmp_path / "local" / "a", {"a": 1}, ok, ["out.txt"])  # a local run folder holds the logs itself
    assert len(calls) == 2
