"""The real TRL SFTConfig, built from the recipe under the installed transformers/TRL (both venvs).

vLLM pins an older transformers than the main venv gets; an argument that only newer releases
accept (``activation_checkpointing``) broke every train stage in the vLLM environment. This test
runs in the main suite and in ``make test-vllm`` (marker ``vllm``), so both pinned sets are covered.
"""

from __future__ import annotations

import os

import pytest

from limo_rl.config import TrainConfig
from limo_rl.train.runner import build_sft_config, weights_dtype

pytestmark = pytest.mark.vllm  # runs under make test-vllm too; it needs no vLLM itself


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_sft_config_builds_under_the_installed_versions(tmp_path, strategy, monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "")  # undone after the test: build_sft_config sets it for FSDP
    cfg = TrainConfig(gradient_checkpointing=True, strategy=strategy, per_device_batch_size=2).model_dump(mode="json")
    args = build_sft_config(cfg, tmp_path, seed=3, batching="padding_free", has_val=True)
    if strategy == "fsdp":  # FSDP checkpoints activations itself (no second all-gather per layer)
        assert args.gradient_checkpointing is False and args.fsdp_config["activation_checkpointing"] is True
        assert os.environ.get("ACCELERATE_USE_FSDP") == "true"  # cpu_ram_efficient_loading takes effect
        assert args.fsdp_config["cpu_ram_efficient_loading"] is True
    else:
        assert args.gradient_checkpointing is True
    assert args.save_total_limit == 2  # default: a 32B ZeRO-3 checkpoint with optimizer state is ~0.5 TB
    assert args.assistant_only_loss is True and args.padding_free is True
    assert args.per_device_train_batch_size == 2 and args.seed == 3
    assert args.output_dir == str(tmp_path / "checkpoints")


def test_bf16_keeps_fp32_master_weights_unless_zero3():
    base = TrainConfig(bf16=True).model_dump(mode="json")
    assert weights_dtype(base) == "float32"  # DDP: bf16 autocast over fp32 weights
    assert weights_dtype({**base, "strategy": "fsdp"}) == "float32"
    assert weights_dtype({**base, "strategy": "deepspeed_zero3"}) == "bfloat16"  # ZeRO-3 keeps fp32 itself
    assert weights_dtype({**base, "bf16": False}) == "float32"
