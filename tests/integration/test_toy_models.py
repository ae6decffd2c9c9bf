"""Toy models for real: the SFT loop's loss mask, bootstrap determinism, toy:// caching, the CLI.

Bootstraps here take a handful of steps on a small corpus (seconds), never the full recipe.
"""

from __future__ import annotations

import json
import os

import pytest

from limo_rl.config import ToyConfig
from limo_rl.run.artifacts import hash_file
from limo_rl.toy.bootstrap import INFO_FILE, bootstrap_teacher, resolve_toy_model, toy_model_key
from limo_rl.toy.chains import corpus_examples
from limo_rl.toy.problems import eval_problems, make_problems

pytestmark = pytest.mark.slow

TINY = ToyConfig(seed=3, bootstrap_steps=4, continue_steps=2, corpus_size=48, difficulty=1)


def test_loss_mask_covers_the_reply_and_end_of_turn_only(tiny_model_dir):
    from limo_rl.toy.lm import encode_example
    from limo_rl.toy.model import load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    ex = corpus_examples(make_problems(1, seed=0), seed=0)[0]
    ids, labels = encode_example(tok, ex)
    assert len(ids) == len(labels)
    trained = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
    assert tok.decode(trained) == ex.messages[-1]["content"] + "<|im_end|>"
    prompt = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab == -100])
    assert prompt.endswith("<|im_start|>assistant\n") and ex.messages[1]["content"] in prompt
    # the same ids the chat template gives for the whole conversation
    full = tok.apply_chat_template([dict(m) for m in ex.messages], tokenize=False)
    assert tok(full, add_special_tokens=False)["input_ids"][: len(ids)] == ids


def test_sft_lowers_the_loss_deterministically(tiny_model_dir, tmp_path):
    from limo_rl.toy.lm import sft

    exs = corpus_examples(make_problems(32, seed=1, difficulty=1), seed=1)
    _, _, a = sft(tiny_model_dir, exs, tmp_path / "a", steps=6, batch_size=8, learning_rate=3e-3, warmup_steps=1)
    _, _, b = sft(tiny_model_dir, exs, tmp_path / "b", steps=6, batch_size=8, learning_rate=3e-3, warmup_steps=1)
    assert a.final_loss == b.final_loss
    assert hash_file(tmp_path / "a" / "model.safetensors") == hash_file(tmp_path / "b" / "model.safetensors")
    _, _, longer = sft(tiny_model_dir, exs, tmp_path / "c", steps=20, batch_size=8, learning_rate=3e-3,
                       warmup_steps=1, save=False)
    assert longer.final_loss < a.final_loss


def test_toy_models_resolve_once_and_are_deterministic(tmp_path):
    cache = tmp_path / "cache"
    teacher = resolve_toy_model("toy://teacher", cache, TINY, eval_n=8)
    assert teacher.name == toy_model_key("teacher", TINY)
    info = json.loads((teacher / INFO_FILE).read_text())
    assert info["kind"] == "toy-teacher" and info["steps"] == TINY.bootstrap_steps + TINY.continue_steps
    assert [(ph["phase"], ph["steps"]) for ph in info["phases"]] == [("pretrain", 4), ("continue", 2)]
    # scored on toy_dev, as many of the 8 as the tiny world's dev side has at difficulty 1
    assert 0.0 <= info["toy_dev_pass@1"] <= 1.0 and 0 < info["toy_dev_n"] <= 8
    weights = teacher / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert resolve_toy_model("toy://teacher", cache, TINY) == teacher
    assert weights.stat().st_mtime_ns == stamp  # cached, not rebuilt

    base = resolve_toy_model("toy://base", cache, TINY)
    assert base != teacher and hash_file(base / "model.safetensors") == hash_file(weights)
    assert json.loads((base / INFO_FILE).read_text())["kind"] == "toy-base"

    # same seed, fresh build elsewhere: identical weights; another seed: different ones
    again = tmp_path / "again"
    bootstrap_teacher(again, TINY, eval_n=0)
    assert hash_file(again / "model.safetensors") == hash_file(weights)
    assert toy_model_key("teacher", TINY.model_copy(update={"seed": 4})) != teacher.name
    bootstrap_teacher(tmp_path / "other", TINY.model_copy(update={"seed": 4}), eval_n=0)
    assert hash_file(tmp_path / "other" / "model.safetensors") != hash_file(weights)
    assert not [p for p in os.listdir(cache) if ".tmp-" in p]
    # phase 2 alone, from phase 1's output: the same teacher as the whole bootstrap
    phase1 = tmp_path / "phase1"
    bootstrap_teacher(phase1, TINY.model_copy(update={"continue_steps": 0}), eval_n=0)
    resumed = tmp_path / "resumed"
    assert bootstrap_teacher(resumed, TINY, eval_n=0, pretrained=phase1)["phases"][0]["reused"] == str(phase1)
    assert hash_file(resumed / "model.safetensors") == hash_file(weights)

    # the teacher is an ordinary HF model that answers through the chat template
    from transformers import AutoModelForCausalLM

    from limo_rl.toy.model import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(str(teacher))
    tok = load_tokenizer(teacher)
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")

    with pytest.raises(ValueError, match="toy://teacher"):
        resolve_toy_model("toy://oracle", cache, TINY)
    assert resolve_toy_model("some/hf-model", cache, TINY) == type(teacher)("some/hf-model")


def test_toy_cli(tmp_path, capsys):
    from limo_rl.cli import main
    from limo_rl.data.io import read_problems

    assert main(["-q", "toy", "problems", "--n", "7", "--out", str(tmp_path / "p.jsonl")]) == 0
    problems = read_problems(tmp_path / "p.jsonl")
    assert len(problems) == 7 and problems == make_problems(7)
    assert main(["-q", "toy", "problems", "--n", "5", "--eval", "--out", str(tmp_path / "e.jsonl")]) == 0
    evals = read_problems(tmp_path / "e.jsonl")
    assert all(p.source == "toy_eval" for p in evals) and evals == eval_problems(5)
    assert main(["-q", "toy", "problems", "--n", "5", "--dev", "--out", str(tmp_path / "d.jsonl")]) == 0
    assert all(p.source == "toy_dev" for p in read_problems(tmp_path / "d.jsonl"))
    assert main(["-q", "toy", "problems", "--n", "5000", "--dev", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "distinct 'add' problems exist on the dev side" in capsys.readouterr().err

    assert main(["-q", "toy", "gold", "--n", "9", "--out", str(tmp_path / "g.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert len(rows) == 9 and rows[0]["messages"][-1]["role"] == "assistant"

    out = tmp_path / "rand"
    assert main(["-q", "toy", "make-model", "--random", "--out", str(out)]) == 0
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert main(["-q", "toy", "make-model", "--random", "--out", str(out)]) == 2  # not empty, no --force
    assert "not empty" in capsys.readouterr().err
    assert main(["-q", "toy", "problems", "--n", "0", "--out", str(tmp_path / "x.jsonl")]) == 2
