"""Checks that depend on this machine (is vLLM installed, is an API key set, is there a GPU).

Kept apart from the schema so a Qwen-scale recipe still validates on a laptop; run before any
compute by the loop driver and the ad hoc commands.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable

from limo_rl.config.schema import Recipe
from limo_rl.errors import RecipeError


def preflight(recipe: Recipe, stages: Iterable[str] = ("generate", "train", "evaluate")) -> None:
    """Checks that depend on this machine, run before any compute. Raises RecipeError."""
    problems = []
    stages = set(stages)
    if {"generate", "evaluate"} & stages and recipe.generate.engine == "vllm":
        if importlib.util.find_spec("vllm") is None:
            problems.append(
                "generate.engine = 'vllm' but vLLM is not installed: pip install -e '.[vllm]' "
                "(with a CUDA build of torch), or use generate.engine=hf"
            )
    if {"generate", "evaluate"} & stages and recipe.generate.engine == "openai":
        env = recipe.generate.openai.api_key_env
        if env and env not in os.environ and not recipe.generate.openai.base_url.startswith(("http://127.", "http://localhost")):
            problems.append(f"generate.openai.api_key_env = {env!r}: the environment variable {env} is not set")
    if "train" in stages and (recipe.train.use_gpu or recipe.train.strategy != "ddp"):
        try:
            import torch

            if recipe.train.use_gpu and not torch.cuda.is_available():
                problems.append("train.use_gpu = true but no CUDA device is visible")
        except ImportError:  # pragma: no cover - torch is a hard dependency
            pass
        if recipe.train.strategy == "deepspeed_zero3" and importlib.util.find_spec("deepspeed") is None:
            problems.append("train.strategy = 'deepspeed_zero3' needs DeepSpeed: pip install -e '.[deepspeed]'")
    if problems:
        raise RecipeError("this machine cannot run the recipe:\n" + "\n".join(f"  - {p}" for p in problems))
