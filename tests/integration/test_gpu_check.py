"""benchmarks/gpu_check.py on CPU with a tiny shape: the same code the GPU run executes, end to end (the
device install path, a venv over a torch-only interpreter fed by .whl/, is checked by hand: see the script)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_gpu_check_tiny_on_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    report = mod.main(["--tiny", "--out", str(tmp_path / "r.json")])
    assert report["shape"] == "tiny" and report["parameters"] > 0
    hf = report["hf_engine"]
    assert hf["chains"] == 16 and 0 < hf["tokens"] <= 16 * 16 and hf["tokens_per_s"] > 0
    assert hf["temperature"] == 0.7 and hf["top_p"] == 0.95  # LIMO's sampling
    sft = report["sft"]  # limo_rl's own trainer: assistant-only loss, one max_length row a step, then save_model
    assert sft["tokens_per_s"] > 0 and sft["tokens_per_step"] == 64 and 0 < sft["mfu"] < 1
    assert sft["assistant_only_loss"] and sft["save_model_s"] >= 0
    assert sft["planner"]["memory_gib"]["total"] > 0 and sft["planner"]["tokens_per_s"] > 0
    assert "not measured" in report["vllm"]
    assert (tmp_path / "r.json").is_file()
    # MFU arithmetic: 6 N + 6 L d T FLOPs per token (causal attention) over the peak
    shape = mod.TINY
    per_token = 6 * 1000 + 6 * shape["num_hidden_layers"] * shape["hidden_size"] * 64
    assert mod.mfu(shape, 1000, 64, 1e6, 1.0) == pytest.approx(per_token * 1e6 / 1e12)
