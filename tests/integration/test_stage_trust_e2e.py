"""Issue 15 through the real CLI: tampered outputs are redone, edited inputs rerun what depends on them,
changed inputs keep the old folder, one writer per run folder, no orphan after a SIGKILL.

One tiny run up to selection (real Ray generation with the toy teacher, real grading) is shared by the
tests of this module, which then damage or change it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from limo_rl.run.artifacts import STAGE_MARKER
from limo_rl.runtime.procs import pid_alive
from tests.integration.ray_head import kill_session
from tests.integration.tiny_recipe import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="lrt-", dir="/tmp")  # a private cluster per invocation
    env["OMP_NUM_THREADS"] = "1"
    env.setdefault("RAY_raylet_start_wait_time_s", "120")  # a loaded 2-core machine starts Ray slowly
    return env


def limo(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "limo_rl.cli", "-q", *args], cwd=REPO, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def recipe_args(root: Path, name: str, *extra: str) -> list[str]:
    return ["recipes/quickstart.yaml", f"run.output_dir={root}", f"run.name={name}", *TINY_OVERRIDES, *extra]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trust-runs")


@pytest.fixture(scope="module")
def selected(root) -> Path:
    res = limo("select", *recipe_args(root, "a"))
    assert res.returncode == 0, res.stderr[-5000:]
    return root / "a"


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_tampered_verdicts_are_regraded_not_reused(selected, root):
    """Case 1: every verdict set to correct=true; the rerun regrades and selects what it did before."""
    rd = selected / "seed0/loop/round1"
    sft_before = (rd / "select/sft.jsonl").read_text()
    vdir = rd / "verify/verdicts"  # one verdict shard per chain shard

    def read_rows() -> list[dict]:
        return [json.loads(line) for f in sorted(vdir.glob("shard-*.jsonl"))
                for line in f.read_text().splitlines() if line.strip()]

    rows = read_rows()
    assert rows and not all(r["correct"] for r in rows), "the fixture run needs some wrong chains"
    for f in sorted(vdir.glob("shard-*.jsonl")):
        tampered = [{**json.loads(line), "correct": True} for line in f.read_text().splitlines() if line.strip()]
        f.write_text("".join(json.dumps(r) + "\n" for r in tampered))
    res = limo("select", *recipe_args(root, "a"))
    assert res.returncode == 0, res.stderr[-3000:]
    regraded = read_rows()
    assert [r["correct"] for r in regraded] == [r["correct"] for r in rows]
    assert (rd / "select/sft.jsonl").read_text() == sft_before
    reasons = [e["reason"] for e in manifest(selected)["set_aside"] if e["stage"].endswith("verify")]
    assert reasons and "verdicts/shard-" in reasons[-1] and "modified" in reasons[-1]


def test_edited_pool_file_reruns_the_pool(root):
    """Case 2: the pool source is keyed by content; editing a gold answer in place reruns the pool stage."""
    src = root / "pool.jsonl"
    src.write_text("".join(json.dumps({"id": f"p{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)})
                           + "\n" for i in range(5)))
    args = recipe_args(root, "pool-edit", f"pool.source={src}", "pool.format=jsonl", "pool.decontaminate.enabled=false",
                       "pool.dedup.near_threshold=null")
    assert limo("pool", *args).returncode == 0
    problems = root / "pool-edit/pool/problems.jsonl"
    assert '"answer": "8"' in problems.read_text().replace('"answer":"8"', '"answer": "8"')
    src.write_text(src.read_text().replace('"answer": "8"', '"answer": "999999"'))
    res = limo("pool", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "999999" in problems.read_text()


def test_changed_temperature_keeps_old_chains(selected, root):
    """Case 3: generate.temperature=0.9 sets the old chains aside (listed, kept), then generates anew."""
    chains = selected / "seed0/loop/round1/generate/chains"
    before = sorted(p.name for p in chains.glob("*.parquet"))
    res = limo("generate", *recipe_args(root, "a", "generate.temperature=0.9"))
    assert res.returncode == 0, res.stderr[-3000:]
    entries = [e for e in manifest(selected)["set_aside"] if e["stage"] == "seed0/loop/round1/generate"]
    kept = Path(entries[-1]["path"])
    assert sorted(p.name for p in (kept / "chains").glob("*.parquet")) == before
    assert sorted(p.name for p in chains.glob("*.parquet")) != before


def test_second_writer_fails_with_the_holder_named(root):
    """Case 4: while one `limo-rl run` writes a run folder, another command on it exits 2 naming the holder."""
    args = recipe_args(root, "locked", "run.share_stages=false")  # it must compute, not fetch run a's stages
    proc = subprocess.Popen([sys.executable, "-m", "limo_rl.cli", "-q", "run", *args], cwd=REPO, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (root / "locked" / "manifest.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        res = limo("train", *args, "select.budget=5")
        assert res.returncode == 2
        assert res.stderr.startswith("limo-rl: error:") and f"pid {proc.pid}" in res.stderr
        assert "Traceback" not in res.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kill_session(proc.pid)


def test_killed_driver_leaves_no_process_behind(root):
    """Case 6: SIGKILL of the driver alone (not its group) during generation: its Ray cluster is gone
    within seconds, and the next run of the same folder starts normally."""
    args = recipe_args(root, "killed", "run.share_stages=false")  # it must generate, not fetch run a's chains
    run = root / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "limo_rl.cli", "-q", "generate", *args], cwd=REPO,
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not (run / ".ray-cluster.json").exists() or not list(run.glob("seed0/loop/round1/generate/chains/*")):
            assert proc.poll() is None, "the command ended before it started Ray"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        record = json.loads((run / ".ray-cluster.json").read_text())
        assert record["processes"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        alive = record["processes"]
        while time.monotonic() - t0 < 15:
            alive = [p for p in record["processes"] if pid_alive(p["pid"], p["start_ticks"])]
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, f"still running {time.monotonic() - t0:.1f}s after the driver died: {alive}"
    finally:
        kill_session(proc.pid)
    res = limo("generate", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (run / "seed0/loop/round1/generate" / STAGE_MARKER).exists()
