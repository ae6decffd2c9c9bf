"""benchmarks/gpu_check.py on CPU with a tiny shape: the same code the GPU run executes, end to end."""

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
    sft = report["sft"]
    assert sft["tokens_per_s"] > 0 and sft["tokens_per_step"] == 4 * 64 and 0 < sft["mfu"] < 1
    assert (tmp_path / "r.json").is_file()
    # MFU arithmetic: 6 N + 12 L d T FLOPs per token over the peak
    shape = mod.TINY
    per_token = 6 * 1000 + 12 * shape["num_hidden_layers"] * shape["hidden_size"] * 64
    assert mod.mfu(shape, 1000, 64, 1e6, 1.0) == pytest.approx(per_token * 1e6 / 1e12)
