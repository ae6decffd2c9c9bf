"""The pure resource planner."""

from __future__ import annotations

from pathlib import Path

from limo_rl.config import load_recipe
from limo_rl.loop.plan import params_from_name, plan_recipe, render, shortfalls

REPO = Path(__file__).resolve().parents[2]


def test_params_from_name():
    assert params_from_name("Qwen/Qwen2.5-32B-Instruct") == 32e9
    assert params_from_name("Qwen/Qwen2.5-1.5B-Instruct") == 1.5e9
    assert params_from_name("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") == 7e9
    assert params_from_name("toy://teacher") is None
    assert params_from_name("Qwen/Qwen2.5-Math-7B") == 7e9


def test_plan_for_limo_loop_recipe():
    r = load_recipe(REPO / "recipes" / "limo" / "loop_r1_distill_teacher.yaml")
    plans = {p.stage: p for p in plan_recipe(r)}
    assert plans["generate"].gpus == 2 * 4  # 2 actors x TP 4
    assert abs(plans["generate"].mem_per_gpu_gib - 32e9 * 2 / 4 / 1024**3) < 1e-6
    assert plans["train"].gpus == 32
    assert abs(plans["train"].mem_per_gpu_gib - 32e9 * 16 / 32 / 1024**3) < 1e-6
    text = render(list(plans.values()))
    assert "generate" in text and "TP=4" in text


def test_shortfalls_name_stage_and_need():
    r = load_recipe(REPO / "recipes" / "limo" / "qwen7b_one_node.yaml")
    plans = plan_recipe(r)
    assert shortfalls(plans, {"CPU": 200, "GPU": 8}, gpu_mem_gib=80) == []
    short = shortfalls(plans, {"CPU": 200, "GPU": 4}, gpu_mem_gib=80)
    assert any(s.startswith("generate: needs 8 GPU(s)") for s in short)
    assert any(s.startswith("train: needs 8 GPU(s)") for s in short)
    big = load_recipe(REPO / "recipes" / "limo" / "qwen7b_one_node.yaml", ["train.num_workers=1"])
    assert any("GiB per GPU" in s for s in shortfalls(plan_recipe(big), {"CPU": 64, "GPU": 8}, gpu_mem_gib=80))


def test_cpu_quickstart_needs_no_gpu():
    r = load_recipe(REPO / "recipes" / "quickstart.yaml")
    assert shortfalls(plan_recipe(r), {"CPU": 2, "GPU": 0}) == []
    assert shortfalls(plan_recipe(r), {"CPU": 1, "GPU": 0})
