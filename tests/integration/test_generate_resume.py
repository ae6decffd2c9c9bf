"""Kill the ad hoc `limo-rl generate` process mid-stage (SIGKILL), rerun, and check nothing is lost or doubled."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from limo_rl.config import GenerateConfig
from limo_rl.data.io import write_problems
from limo_rl.generate import read_chains, run_generation
from limo_rl.types import Problem

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
N_PROBLEMS, N, MAX_NEW = 8, 2, 48


def _wait_for_shards(chains: Path, k: int, proc: subprocess.Popen, timeout: float) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(chains.glob("shard-*.parquet"))
        if len(files) >= k:
            return files
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout and proc.poll() is not None else ""
    raise AssertionError(f"no {k} shard(s) within {timeout}s (exit {proc.poll()}): {out[-2000:]}")


def test_sigkill_mid_stage_then_resume(ray_cluster, tiny_model_dir, tmp_path):
    problems = [Problem(id=f"p{i:02d}", question=f"Compute {i} * {i + 3}.", answer=str(i * (i + 3)))
                for i in range(N_PROBLEMS)]
    pfile = write_problems(tmp_path / "problems.jsonl", problems)
    out = tmp_path / "gen"
    ray_tmp = tempfile.mkdtemp(prefix="lrg-", dir="/tmp")  # its own cluster, never ours
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=ray_tmp, OMP_NUM_THREADS="1", LIMO_RL_QUIET="1")
    cmd = [sys.executable, "-m", "limo_rl.cli", "-q", "generate", "--problems", str(pfile),
           "--model", str(tiny_model_dir), "--engine", "hf", "--n", str(N), "--out", str(out),
           "--max-new-tokens", str(MAX_NEW), "--shard-size", "1", "--batch-size", "1", "--num-actors", "1",
           "--temperature", "1.0", "--seed", "5"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        first = _wait_for_shards(out / "chains", 2, proc, timeout=150)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI process and the Ray cluster it started
        proc.wait(timeout=30)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "chains").glob("shard-*.parquet")}
    assert 2 <= len(kept) < N_PROBLEMS, "the kill must land mid-stage"
    assert {p.name for p in first} <= set(kept)

    cfg = GenerateConfig(n=N, max_new_tokens=MAX_NEW, shard_size=1, batch_size=1, num_actors=2, temperature=1.0)
    res = run_generation(problems, cfg, str(tiny_model_dir), out, base_seed=5, teacher_name=str(tiny_model_dir))
    assert res.stats["shards_skipped"] == len(kept)
    assert res.stats["shards_generated"] == N_PROBLEMS - len(kept)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "chains").glob("shard-*.parquet")}
    assert {name: after[name] for name in kept} == kept, "finished shards must not be regenerated"
    chains = read_chains(out / "chains")
    pairs = [(c.problem_id, c.sample_index) for c in chains]
    assert pairs == [(p.id, j) for p in problems for j in range(N)]  # none missing, none doubled
    from limo_rl.run.produced import is_record

    # no temp leftovers (the hidden producer records beside the shards are not temps)
    assert not [p for p in (out / "chains").glob(".shard-*") if not is_record(p)]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["chains"] == N_PROBLEMS * N
