"""What the data stages depend on: the cache inputs of the pool stage and of the static arm's set.

Pure functions of the recipe (local files named in it are keyed by content,
:func:`limo_rl.run.hashing.content_key`); the loop passes them to its stage runner as they are, so a
key is decided here, next to the code that reads those settings, never in the orchestrator.
"""

from __future__ import annotations

from typing import Any

from limo_rl.config import Recipe
from limo_rl.data.benchmarks import is_generated_benchmark
from limo_rl.resolve import generated_settings
from limo_rl.run.hashing import content_key


def world_inputs(recipe: Recipe) -> dict[str, Any]:
    """The world settings generated benchmarks (toy_eval without a file) are made under: part of the
    inputs of the stages that load them, so changing ``toy.difficulty`` re-evaluates. Absent when no
    benchmark is generated, so the cache keys of file-based runs are what they were."""
    ev = recipe.evaluate
    if any(is_generated_benchmark(b) and b not in ev.paths for b in ev.all_benchmarks()):
        return {"world": recipe.toy.model_dump()}
    return {}


def pool_cache_inputs(recipe: Recipe) -> dict[str, Any]:
    """The pool stage's inputs: its section, and every benchmark (test and dev) it is decontaminated against."""
    cfg = recipe
    benchmarks = cfg.evaluate.all_benchmarks()  # test and dev: nothing trained on may overlap either
    return {"pool": cfg.pool.model_dump(), "benchmarks": benchmarks, "paths": cfg.evaluate.paths,
            "content": {"source": content_key(cfg.pool.source),
                        "paths": {b: content_key(p) for b, p in cfg.evaluate.paths.items()}},
            **world_inputs(recipe)}


def static_benchmarks(recipe: Recipe) -> list[str]:
    """The benchmarks the static set is checked against: every evaluated one and the pool's own list."""
    dc, ev = recipe.pool.decontaminate, recipe.evaluate
    return sorted(set(ev.all_benchmarks()) | set(dc.benchmarks or []))


def static_cache_inputs(recipe: Recipe) -> dict[str, Any]:
    """The static set's stage: its source and limit (not how the arm is matched or the curve drawn, which
    only subsample it), the prompt its conversations are built with, and the decontamination it passed."""
    dc, ev = recipe.pool.decontaminate, recipe.evaluate
    names = static_benchmarks(recipe)
    return {"static": recipe.loop.static.model_dump(exclude={"match", "match_seed", "curve", "curve_draws"}),
            "system_prompt": recipe.generate.system_prompt,
            "content": content_key(recipe.loop.static.source),
            "toy": generated_settings(recipe, recipe.loop.static.source, recipe.loop.static.format),
            "decontaminate": dc.model_dump() if dc.enabled else None, "benchmarks": names,
            "paths": {k: v for k, v in ev.paths.items() if k in names},
            "path_content": {k: content_key(v) for k, v in ev.paths.items() if k in names},
            **world_inputs(recipe)}
