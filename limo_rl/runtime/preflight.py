"""Checks that depend on this machine (is vLLM installed, is an API key set), on the recipe's hardware, and
on the model's context window as its local config.json states.

Kept apart from the recipe (:mod:`limo_rl.config`, pydantic and yaml only) so a Qwen-scale recipe still
validates on a laptop; run before any compute by the loop driver and the ad hoc commands. The checks
against the Ray cluster's nodes, from each stage's own resource bundles, are the loop's
(:func:`limo_rl.loop.preflight.cluster_preflight`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from typing import Any

from limo_rl.config.schema import Recipe
from limo_rl.context_window import model_window, read_model_config, window_problems
from limo_rl.errors import RecipeError


def context_problems(recipe: Recipe, stages: Iterable[str]) -> list[str]:
    """max_model_len and max_new_tokens against each generating model's window (models found locally)."""
    stages = set(stages)
    checks = []
    if "generate" in stages:
        checks.append(("generate", recipe.generate.model, recipe.generate.max_new_tokens))
    if "evaluate" in stages:  # the students are fine-tunes of train.model: the same window
        checks.append(("evaluate", recipe.train.model, recipe.evaluate.max_new_tokens))
    max_model_len = recipe.generate.vllm.max_model_len if recipe.generate.engine == "vllm" else None
    out: list[str] = []
    for where, model, max_new in checks:
        config = read_model_config(model)
        window = model_window(config) if config else None
        for line in window_problems(where, model, window, max_model_len, max_new):
            if line not in out:
                out.append(line)
    return out


def sft_args_problems(sft_args: dict[str, Any]) -> list[str]:
    """``train.sft_args`` against the installed TRL: every name a field of its ``SFTConfig``, and a value of the
    field's type where that type is a plain one (bool, int, float, str, optionally None)."""
    if not sft_args:
        return []
    import dataclasses
    import difflib
    import typing

    try:
        import trl
        from trl import SFTConfig
    except ImportError:
        return ["train.sft_args needs TRL installed (pip install trl)"]
    fields = {f.name: f for f in dataclasses.fields(SFTConfig)}
    try:
        hints = typing.get_type_hints(SFTConfig)
    except Exception:  # an annotation this Python cannot evaluate: names are still checked
        hints = {}
    out = []
    for key, value in sft_args.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            out.append(f"train.sft_args.{key}: not a field of SFTConfig in the installed TRL {trl.__version__}"
                       + (f"; did you mean {close[0]}?" if close else ""))
            continue
        kinds = _plain_types(hints.get(key))
        if kinds and not _fits(value, kinds):
            out.append(f"train.sft_args.{key} = {value!r}: SFTConfig expects {' or '.join(k.__name__ for k in kinds)}")
    return out


def _plain_types(hint: Any) -> tuple[type, ...]:
    """(bool, int, float, str, NoneType) members of a type hint, or () when it holds anything else."""
    import types
    import typing

    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    plain = (bool, int, float, str, type(None))
    return tuple(members) if members and all(m in plain for m in members) else ()


def _fits(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def preflight(recipe: Recipe, stages: Iterable[str] = ("generate", "train", "evaluate")) -> None:
    """Checks that depend on this machine, run before any compute. Raises RecipeError."""
    problems = []
    stages = set(stages)
    if {"generate", "evaluate"} & stages and recipe.generate.engine == "vllm":
        if importlib.util.find_spec("vllm") is None:
            problems.append(
                "generate.engine = 'vllm' but vLLM is not installed: pip install -e '.[vllm]' "
                "(with a CUDA build of torch), make install-vllm (CPU, in .venv-vllm), or use generate.engine=hf"
            )
    if {"generate", "evaluate"} & stages and recipe.generate.engine == "openai":
        env = recipe.generate.openai.api_key_env
        if env and env not in os.environ and not recipe.generate.openai.base_url.startswith(("http://127.", "http://localhost")):
            problems.append(f"generate.openai.api_key_env = {env!r}: the environment variable {env} is not set")
    # GPUs are counted on the Ray cluster's nodes (limo_rl.loop.preflight.cluster_preflight, run by the loop once Ray
    # is up), never with the driver's own CUDA: under `ray job submit` the driver runs on a head without GPUs.
    # Here: the recipe against the hardware it names.
    hw = recipe.hardware
    if {"generate", "evaluate"} & stages and recipe.generate.engine == "vllm" and hw.gpus_per_node:
        tp = recipe.generate.vllm.tensor_parallel_size
        if tp > hw.gpus_per_node:
            problems.append(f"generate.vllm.tensor_parallel_size = {tp} > hardware.gpus_per_node = "
                            f"{hw.gpus_per_node}: a vLLM engine runs on one node")
    if "train" in stages and recipe.train.use_gpu and hw.gpus_per_node and \
            recipe.train.num_workers > hw.nodes * hw.gpus_per_node:
        problems.append(f"train.num_workers = {recipe.train.num_workers} > the {hw.nodes * hw.gpus_per_node} GPUs "
                        "named under hardware")
    problems += context_problems(recipe, stages)
    if "train" in stages:
        problems += sft_args_problems(recipe.train.sft_args)
    if "train" in stages and (recipe.train.use_gpu or recipe.train.strategy != "ddp"):
        if recipe.train.strategy == "deepspeed_zero3" and importlib.util.find_spec("deepspeed") is None:
            problems.append("train.strategy = 'deepspeed_zero3' needs DeepSpeed: pip install -e '.[deepspeed]'")
    if problems:
        raise RecipeError("this machine cannot run the recipe:\n" + "\n".join(f"  - {p}" for p in problems))
