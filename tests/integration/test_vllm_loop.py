"""The quickstart loop end to end with generate.engine=vllm, in the vLLM environment.

Generation and evaluation run on vLLM's CPU build inside Ray actors; training runs TRL SFT on Ray
Train in the same environment (the one whose transformers pin once broke SFTConfig). The static
arm and the baselines are off: they add engine starts, not code paths.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from limo_rl.generate import read_chains
from limo_rl.run.artifacts import read_jsonl
from tests.integration.test_loop_e2e import limo
from tests.integration.tiny_recipe import TINY_OVERRIDES
from tests.integration.vllm_helpers import needs_vllm

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
needs_vllm()


@pytest.mark.timeout(2400)  # 2 engine starts plus training: minutes on a quiet 2-core box, far more on a busy one
def test_quickstart_loop_on_vllm(tmp_path):
    # One actor per pool: one engine start per model (teacher, student) instead of two each; several
    # actors sharing shards are covered on the HF engine (test_generate_ray), vLLM in an actor by test_vllm_ray.
    args = ["recipes/quickstart.yaml", f"run.output_dir={tmp_path}", "run.name=v", *TINY_OVERRIDES,
            "generate.engine=vllm", "generate.num_actors=1", "loop.static.enabled=false", "loop.baselines=false"]
    t0 = time.monotonic()
    res = limo("run", *args, timeout=2300)
    wall = time.monotonic() - t0
    assert res.returncode == 0, res.stderr[-5000:]
    run = Path(tmp_path) / "v"
    rd = run / "seed0/loop/round1"
    chains = read_chains(rd / "generate/chains")
    assert len(chains) == 24 * 2 and {c.engine for c in chains} == {"vllm"}
    stats = json.loads((rd / "generate/stats.json").read_text())
    assert stats["engine"] == "vllm" and stats["engine_version"].startswith("vllm vllm==")
    sft = read_jsonl(rd / "select/sft.jsonl")
    assert sft and all(e["messages"][-1]["role"] == "assistant" for e in sft)
    train = json.loads(next((rd / "train").rglob("train_metrics.json")).read_text())
    assert train["global_step"] > 0 and train["train_loss"] > 0 and "trl.SFTTrainer" in train["trainer"]
    samples = pq.read_table(next((rd / "evaluate").rglob("samples.parquet"))).to_pylist()
    assert len(samples) == 16 and {s["engine"] for s in samples} == {"vllm"}
    print(f"quickstart (tiny overrides) with generate.engine=vllm: {wall:.0f} s wall")
