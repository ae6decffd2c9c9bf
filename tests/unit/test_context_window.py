"""Context windows checked before compute: max_model_len and max_new_tokens against the model's positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limo_rl.config import RecipeError, load_recipe
from limo_rl.context_window import (
    ContextLengthError,
    check_prompt_fits,
    model_window,
    read_model_config,
    window_problems,
)
from limo_rl.runtime.preflight import preflight

REPO = Path(__file__).resolve().parents[2]


def model_dir(tmp_path: Path, **config) -> str:
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2", **config}))
    return str(d)


def test_model_window_reads_positions_and_rope_scaling():
    assert model_window({"max_position_embeddings": 32768}) == 32768
    yarn = {"max_position_embeddings": 32768,
            "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}
    assert model_window(yarn) == 131072
    assert model_window({"text_config": {"max_position_embeddings": 4096}}) == 4096
    assert model_window({"hidden_size": 8}) is None


def test_window_problems():
    assert window_problems("generate", "m", 32768, 32768, 30720) == []
    over = window_problems("generate", "m", 32768, 34816, 30720)
    assert len(over) == 1 and "max_model_len = 34816 exceeds the 32768" in over[0]
    full = window_problems("evaluate", "m", 32768, None, 32768)
    assert len(full) == 1 and "evaluate.max_new_tokens = 32768" in full[0]
    assert window_problems("generate", "m", None, None, 10**6) == []  # unknown window: not checked here


def test_check_prompt_fits_names_the_problem():
    check_prompt_fits("p1", 100, 900, 1000)
    with pytest.raises(ContextLengthError, match=r"problem 'p2': prompt of 101 tokens \+ max_new_tokens 900 = 1001 exceeds the model's 1000-token"):
        check_prompt_fits("p2", 101, 900, 1000)


def test_preflight_rejects_a_recipe_beyond_the_window(tmp_path):
    model = model_dir(tmp_path, max_position_embeddings=32768)
    old = [f"generate.model={model}", f"train.model={model}", "generate.vllm.max_model_len=34816",
           "generate.max_new_tokens=32768", "evaluate.max_new_tokens=32768"]
    recipe = load_recipe(REPO / "recipes/limo/base.yaml", old)
    with pytest.raises(RecipeError) as err:
        preflight(recipe, stages=("generate", "evaluate"))
    text = str(err.value)
    assert "max_model_len = 34816 exceeds the 32768 positions" in text
    assert "evaluate.max_new_tokens = 32768" in text


def test_shipped_limo_recipes_fit_a_32k_model(tmp_path):
    model = model_dir(tmp_path, max_position_embeddings=32768)
    for name in ("base.yaml", "static_817.yaml", "qwen7b_one_node.yaml", "qwen1.5b_one_node.yaml"):
        recipe = load_recipe(REPO / "recipes/limo" / name, [f"generate.model={model}", f"train.model={model}"])
        from limo_rl.runtime.preflight import context_problems

        assert context_problems(recipe, ("generate", "evaluate")) == [], name


def test_read_model_config(tmp_path):
    assert read_model_config(model_dir(tmp_path, max_position_embeddings=77))["max_position_embeddings"] == 77
    assert read_model_config("toy://teacher") is None
    assert read_model_config(str(tmp_path / "missing")) is None


def test_overflow_records_and_a_huge_prompt_is_never_tokenized():
    """Issue 25 item 5 / issue 31 item 9: every prompt beyond the window is named (the driver drops and counts
    them); a prompt longer than window x the longest token cannot fit and is not handed to the tokenizer."""
    from types import SimpleNamespace

    from limo_rl.context_window import count_prompt_tokens, overflow, overflow_message, prompt_overflows

    assert overflow("p", 100, 900, 1000) is None
    rec = overflow("p", 101, 900, 1000)
    assert rec == {"problem_id": "p", "prompt_tokens": 101, "max_new_tokens": 900, "limit": 1000}
    assert "lower max_new_tokens to 899" in overflow_message(rec)
    assert overflow_message(overflow("q", 1000, 8, 1000)) == "problem 'q': prompt of 1000 tokens alone fills the " \
        "model's 1000-token context"

    def refuse(text):
        raise AssertionError("tokenized a prompt that cannot fit")

    assert count_prompt_tokens("x" * 10_000_001, refuse, 1000, 16) == 625_001  # ceil(chars / longest token)
    assert count_prompt_tokens("a b c", str.split, 1000, 16) == 3  # fits the bound: counted exactly
    reqs = [SimpleNamespace(problem_id=pid, messages=q, sampling=SimpleNamespace(max_new_tokens=8))
            for pid, q in (("short", "two words"), ("long", "w " * 20), ("huge", "z" * 10**6))]
    over = prompt_overflows(reqs, lambda r: r.messages, str.split, limit=16, max_token_chars=8)
    assert [(r["problem_id"], r["prompt_tokens"]) for r in over] == [("long", 20), ("huge", 125_000)]
    assert "at_least" not in over[0] and over[1]["at_least"] and over[1]["chars"] == 10**6
    assert "prompt of at least 125000 tokens (1000000 characters)" in overflow_message(over[1])
    assert prompt_overflows(reqs, lambda r: r.messages, str.split, limit=None) == []  # unknown window
