"""The planner: shapes from config.json, hand-computed memory figures, and every Qwen-scale recipe fitting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limo_rl.config import load_recipe
from limo_rl.loop.models import KNOWN_CONFIGS, ModelInfoError, model_shape
from limo_rl.loop.plan import (
    GIB,
    Assumptions,
    decode_tokens_per_s,
    eval_hours,
    max_num_seqs,
    plan_recipe,
    render,
    shortfalls,
    train_memory_gib,
    vllm_engine,
)

REPO = Path(__file__).resolve().parents[2]
QWEN_SCALE = sorted((REPO / "recipes" / "limo").glob("*.yaml"))


def test_params_of_qwen_configs_by_hand():
    q7 = model_shape("Qwen/Qwen2.5-7B-Instruct")
    # embed 152064*3584; layer: q,o 2*3584^2 + k,v 2*3584*512 + biases 3584+1024 + mlp 3*3584*18944 + norms 2*3584
    layer = 2 * 3584**2 + 2 * 3584 * 512 + 3584 + 1024 + 3 * 3584 * 18944 + 2 * 3584
    assert q7.layer_params == layer == 233_057_792
    assert q7.params == 2 * 152064 * 3584 + 28 * layer + 3584 == 7_615_616_512  # untied lm_head
    assert q7.source.startswith("known table") and q7.max_position_embeddings == 32768
    q15 = model_shape("Qwen/Qwen2.5-1.5B-Instruct")
    assert q15.params == 1_543_714_304  # tied embeddings: counted once
    assert model_shape("Qwen/Qwen2.5-32B-Instruct").kv_bytes_per_token == 2 * 64 * 8 * 128 * 2


def test_local_config_json_wins_and_errors_are_named(tmp_path):
    cfg = dict(KNOWN_CONFIGS["Qwen/Qwen2.5-7B-Instruct"], max_position_embeddings=4096)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m = model_shape(str(tmp_path))
    assert m.max_position_embeddings == 4096 and "config.json at" in m.source
    with pytest.raises(ModelInfoError, match="not in the planner's table"):
        model_shape("someone/Unknown-13B")
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    with pytest.raises(ModelInfoError, match="missing or bad"):
        model_shape(str(tmp_path))


def test_training_memory_by_hand():
    q7 = model_shape("Qwen/Qwen2.5-7B-Instruct")
    m = train_memory_gib(q7, world=8, strategy="deepspeed_zero3", max_length=16384, checkpointing=True)
    assert m["states"] == pytest.approx(16 * 7_615_616_512 / 8 / GIB)  # 14.18 GiB
    assert m["working"] == pytest.approx(4 * 152064 * 3584 / GIB)  # two gathered embedding-sized modules
    acts = 28 * 16384 * 3584 * 2 + 16384 * 2 * (7 * 3584 + 2 * 512 + 4 * 18944)  # layer inputs + one layer
    assert m["activations"] == pytest.approx(acts / GIB)  # 6.17 GiB
    assert m["logits"] == pytest.approx(2 * 4 * 4096 * 32768 / GIB)  # TRL's fused LM head: two fp32 tiles, 1 GiB
    assert m["total"] == pytest.approx(49.59 - 23.203125 + 1.0, abs=0.01)
    off = train_memory_gib(q7, world=8, strategy="deepspeed_zero3", max_length=16384, offload=True)
    assert off["states"] == pytest.approx(m["states"] / 4) and off["host_per_rank"] == pytest.approx(
        12 * 7_615_616_512 / 8 / GIB)
    ddp = train_memory_gib(q7, world=8, strategy="ddp", max_length=16384)
    assert ddp["states"] == pytest.approx(16 * 7_615_616_512 / GIB) and ddp["working"] == 0


def test_32b_zero3_at_16k_needs_32_gpus_or_offload():
    r = load_recipe(REPO / "recipes" / "limo" / "static_817.yaml")
    assert plan_recipe(r).fits
    eight = load_recipe(REPO / "recipes" / "limo" / "static_817.yaml", ["train.num_workers=8"])
    plan = plan_recipe(eight)
    assert not plan.fits
    assert any("would fit with optimizer offload" in p for p in plan.problems)
    assert plan.figures["train_memory"]["total"] > 80 > plan.figures["train_memory_offload"]["total"]


def test_named_failures_context_tp_disk_time():
    base = REPO / "recipes" / "limo" / "qwen7b_one_node.yaml"
    probs = plan_recipe(load_recipe(base, ["generate.vllm.tensor_parallel_size=16"])).problems
    assert any("tensor_parallel_size = 16 > hardware.gpus_per_node = 8" in p for p in probs)
    probs = plan_recipe(load_recipe(base, ["evaluate.max_new_tokens=32768"])).problems
    assert any("evaluate.max_new_tokens = 32768" in p and "18432" in p for p in probs)
    probs = plan_recipe(load_recipe(base, ["generate.vllm.max_model_len=65536"])).problems
    assert any("exceeds Qwen/Qwen2.5-7B-Instruct's context 32768" in p for p in probs)
    probs = plan_recipe(load_recipe(base, ["train.save_total_limit=null", "hardware.disk_gib=1500"])).problems
    assert any(p.startswith("disk:") for p in probs)
    probs = plan_recipe(load_recipe(base, ["pool.limit=500000"])).problems
    assert any(p.startswith("time:") for p in probs)


def test_kv_room_by_hand():
    q32 = model_shape("Qwen/Qwen2.5-32B-Instruct")
    e = vllm_engine(q32, tp=4, util=0.9, gpu_mem_gib=80, max_model_len=32768)
    weights = 2 * q32.params / 4 / GIB
    assert e["weights_gib"] == pytest.approx(weights)
    assert e["kv_room_gib"] == pytest.approx(72 - weights - 2)
    assert e["full_sequences"] == pytest.approx(e["kv_room_gib"] * GIB / (262144 / 4 * 32768))
    assert vllm_engine(q32, tp=1, util=0.9, gpu_mem_gib=40, max_model_len=32768)["full_sequences"] == 0


@pytest.mark.parametrize("path", QWEN_SCALE, ids=lambda p: p.name)
def test_every_qwen_scale_recipe_fits_its_hardware(path):
    r = load_recipe(path)
    plan = plan_recipe(r)
    assert plan.fits, render(plan, r)
    hours = plan.figures["hours"]["total"]
    assert 0 < hours <= r.hardware.max_hours
    assert "time: ~" in render(plan, r)


def test_cpu_quickstart_needs_no_gpu():
    r = load_recipe(REPO / "recipes" / "quickstart.yaml")
    plan = plan_recipe(r)
    assert plan.fits
    assert shortfalls(plan.stages, {"CPU": 2, "GPU": 0}) == []
    assert shortfalls(plan.stages, {"CPU": 1, "GPU": 0})


def test_live_cluster_shortfalls_per_node():
    plan = plan_recipe(load_recipe(REPO / "recipes" / "limo" / "qwen7b_one_node.yaml"))
    assert shortfalls(plan.stages, {"CPU": 200, "GPU": 8}, 80, [8]) == []
    short = shortfalls(plan.stages, {"CPU": 200, "GPU": 4}, 80, [4])
    assert any(s.startswith("generate: needs 8 GPU(s)") for s in short)
    r32 = plan_recipe(load_recipe(REPO / "recipes" / "limo" / "static_817.yaml"))
    short = shortfalls(r32.stages, {"CPU": 500, "GPU": 64}, 80, [2] * 32)  # 64 GPUs, but 2 per node
    assert any("one unit needs 4 GPUs on one node" in s for s in short)


def test_plan_takes_several_recipes(capsys):
    from limo_rl.cli import main

    repo = Path(__file__).resolve().parents[2]
    a, b = repo / "recipes/limo/qwen1.5b_one_node.yaml", repo / "recipes/limo/qwen7b_one_node.yaml"
    assert main(["plan", str(a), str(b), "run.name=x"]) == 0
    out = capsys.readouterr().out
    assert out.index(f"== {a}") < out.index(f"== {b}") and out.count("fits: every check passed") == 2


def test_logits_are_tiles_not_full_vocab_rows():
    """TRL >= 1.16 never builds full logits: the figure stops growing at one 4096-token tile (~22 GiB less at 16k)."""
    q7 = model_shape("Qwen/Qwen2.5-7B-Instruct")
    at = {n: train_memory_gib(q7, world=8, strategy="deepspeed_zero3", max_length=n)["logits"]
          for n in (1024, 4096, 16384)}
    assert at[1024] == pytest.approx(2 * 4 * 1024 * 32768 / GIB) and at[4096] == at[16384] == 1.0
    assert 10 * 16384 * 152064 / GIB - at[16384] > 22


def test_checkpoint_writes_count_in_training_time():
    r = load_recipe(REPO / "recipes" / "limo" / "qwen7b_one_node.yaml")
    slow, fast = plan_recipe(r, Assumptions(checkpoint_gib_per_s=0.5)), plan_recipe(r)
    q7 = model_shape("Qwen/Qwen2.5-7B-Instruct")
    trainings = r.loop.rounds + 1  # the loop arm and the static arm, one seed
    written = trainings * (r.train.epochs * 14 * q7.params + 2 * q7.params) / GIB  # a checkpoint each epoch + model
    assert fast.figures["hours"]["checkpoints"] == pytest.approx(written / 1.0 / 3600)
    assert slow.figures["hours"]["train"] - fast.figures["hours"]["train"] == pytest.approx(written / 3600)
    assert "checkpoint(s) of 99 GiB" in render(fast, r)


def test_disk_counts_the_checkpoint_written_during_rotation():
    base = REPO / "recipes" / "limo" / "qwen7b_one_node.yaml"
    ckpt = 14 * model_shape("Qwen/Qwen2.5-7B-Instruct").params / GIB
    two = plan_recipe(load_recipe(base, ["train.save_total_limit=2"])).figures["disk_gib"]["checkpoints"]
    assert two == pytest.approx(2 * 2 * ckpt + ckpt)  # 2 trainings x 2 kept, +1 while the running one rotates
    every = plan_recipe(load_recipe(base, ["train.save_total_limit=null"])).figures["disk_gib"]["checkpoints"]
    assert every == pytest.approx(2 * 10 * ckpt)  # nothing rotates: no extra


def test_vllm_batch_cap_follows_the_gpu():
    assert max_num_seqs("h100-80gb") == max_num_seqs("h200-141gb") == 1024
    assert max_num_seqs("a100-80gb") == max_num_seqs("l40s-48gb") == max_num_seqs("a100-40gb") == 256
    q15 = model_shape("Qwen/Qwen2.5-1.5B-Instruct")  # small KV: the cap, not the KV room, sets the batch
    eng = vllm_engine(q15, tp=1, util=0.9, gpu_mem_gib=80, max_model_len=32768)
    assert eng["kv_tokens"] / 1024 > 1024
    kw = {"tp": 1, "mean_context": 1024, "bandwidth": 3.35e12, "efficiency": 0.5}
    step = (2 * q15.params + 1024 * 1024 * q15.kv_bytes_per_token) / (3.35e12 * 0.5)
    assert decode_tokens_per_s(q15, eng, max_seqs=1024, **kw) == pytest.approx(1024 / step)  # batch 1024, by hand
    assert decode_tokens_per_s(q15, eng, max_seqs=1024, **kw) > decode_tokens_per_s(q15, eng, max_seqs=256, **kw)


def test_evaluation_hours_follow_the_engines_each_benchmark_reaches():
    """AIME24's 30 x 16 samples: 8 shards, 60-64 samples an engine, decoded at that batch, not at the KV room's."""
    r = load_recipe(REPO / "recipes" / "limo" / "qwen7b_one_node.yaml",
                    ["evaluate.benchmarks=[aime24]", "evaluate.preset=limo"])
    q7 = model_shape("Qwen/Qwen2.5-7B-Instruct")
    eng = vllm_engine(q7, tp=1, util=0.9, gpu_mem_gib=80, max_model_len=18432)
    new = 0.4 * r.evaluate.max_new_tokens
    kw = {"tp": 1, "bandwidth": 3.35e12, "efficiency": 0.5}
    h = eval_hours(q7, eng, r, engines=8, mean_new=new, cap=1024, **kw)
    by_hand = 64 * new / decode_tokens_per_s(q7, eng, mean_context=512 + new / 2, max_seqs=64, **kw) / 3600
    assert h == pytest.approx(by_hand)  # shards of 4 problems: the busiest engine holds 4 x 16 samples
    full = 480 * new / (8 * decode_tokens_per_s(q7, eng, mean_context=512 + new / 2, max_seqs=1024, **kw)) / 3600
    assert h > 1.5 * full  # the old figure: every engine at a full batch
    one = eval_hours(q7, eng, r, engines=1, mean_new=new, cap=1024, **kw)
    assert one > h  # one engine takes all 480 samples


def test_the_static_problems_control_adds_its_generation_once_a_seed():
    base = REPO / "recipes" / "limo" / "qwen7b_one_node.yaml"
    without = plan_recipe(load_recipe(base, ["loop.rounds=2"]))
    with_ctl = plan_recipe(load_recipe(base, ["loop.rounds=2", "loop.controls=[static_problems]",
                                              "loop.static.limit=817"]))
    gen = next(s for s in with_ctl.stages if s.stage == "generate")
    assert "+ 817 static problems" in gen.note
    # the pool twice (two rounds), the static set's 817 once
    pool_tokens = float(next(s for s in without.stages if s.stage == "generate").note.split("= ")[-1].split("e9")[0])
    ratio = float(gen.note.split("= ")[-1].split("e9")[0]) / pool_tokens
    assert ratio == pytest.approx(1 + 817 / (2 * 30_000), abs=0.01)
