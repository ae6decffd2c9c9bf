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


def test_trl_names_and_sft_args_pass_through(tmp_path):
    """TRL's names for the keys that mirror SFTConfig are accepted; other SFTConfig fields pass through,
    checked against the installed TRL before any compute."""
    from limo_rl.config import RecipeError, load_recipe
    from limo_rl.runtime.preflight import preflight, sft_args_problems

    r = load_recipe(None, ["train.num_train_epochs=5", "train.per_device_train_batch_size=4",
                           "train.lr_scheduler_type=linear", "train.sft_args={optim: adafactor, neftune_noise_alpha: 5}"])
    assert (r.train.epochs, r.train.per_device_batch_size, r.train.lr_scheduler) == (5, 4, "linear")
    y = tmp_path / "r.yaml"
    y.write_text("train:\n  num_train_epochs: 2\n  epochs: 3\n")
    with pytest.raises(RecipeError, match="train.num_train_epochs .TRL's name. and train.epochs are the same"):
        load_recipe(y)
    with pytest.raises(RecipeError, match="learning_rate .set train.learning_rate."):
        load_recipe(None, ["train.sft_args={learning_rate: 0.1}"])
    args = build_sft_config(r.train.model_dump(mode="json"), tmp_path, seed=0, batching="padded", has_val=False)
    assert args.optim == "adafactor" and args.neftune_noise_alpha == 5 and args.num_train_epochs == 5
    assert sft_args_problems(r.train.sft_args) == []
    bad = sft_args_problems({"optm": "adafactor", "dataset_num_proc": "four"})
    assert bad[0].startswith("train.sft_args.optm: not a field of SFTConfig") and "did you mean optim?" in bad[0]
    assert bad[1].startswith("train.sft_args.dataset_num_proc = 'four': SFTConfig expects int")
    with pytest.raises(RecipeError, match="optm"):
        preflight(load_recipe(None, ["train.sft_args={optm: adafactor}"]), ["train"])
    # an empty pass-through leaves the training cache key as it was before the key existed
    assert "sft_args" not in load_recipe(None).train.key_dict() and "sft_args" in r.train.key_dict()


def test_process_group_timeout_reaches_torch_and_stays_out_of_the_keys(tmp_path):
    """train.process_group_timeout_s (default 3,600 s, torch's is 1,800 s) is accelerate's ddp_timeout; it is
    neither in the training's cache key nor in a recipe's {hash} at its default."""
    from limo_rl.config import load_recipe

    cfg = TrainConfig(process_group_timeout_s=7200).model_dump(mode="json")
    args = build_sft_config(cfg, tmp_path, seed=0, batching="padded", has_val=False)
    assert args.ddp_timeout == 7200
    assert build_sft_config(TrainConfig().model_dump(mode="json"), tmp_path, seed=0, batching="padded",
                            has_val=False).ddp_timeout == 3600
    r = load_recipe(None, ["train.process_group_timeout_s=7200"])
    assert r.train.key_dict() == load_recipe(None).train.key_dict()
    assert load_recipe(None, ["run.name=x-{hash}"]).run.name == load_recipe(
        None, ["run.name=x-{hash}", "train.process_group_timeout_s=3600"]).run.name
