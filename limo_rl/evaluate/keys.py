"""What the evaluate stage depends on (its cache inputs), and what each benchmark's samples alone depend on
(its carry: kept when only grading or statistics change).

The stage's inputs: the evaluated section (:meth:`~limo_rl.config.EvaluateConfig.key_dict`), each
benchmark's resolved protocol and file content, the generate section without the teacher's sampling
(``model``, ``n``, ``temperature``, ``top_p``, ``max_new_tokens``: the protocol decides those), the verify
section, the model, the seed and, when a benchmark is generated, the world settings.
"""

from __future__ import annotations

from typing import Any

from limo_rl.config import Recipe
from limo_rl.data.keys import world_inputs
from limo_rl.evaluate.presets import protocol_summary
from limo_rl.run.hashing import content_key

TEACHER_SAMPLING = {"model", "n", "temperature", "top_p", "max_new_tokens"}  # the protocol's, not the teacher's


def cache_inputs(recipe: Recipe, model_fingerprint: str, seed: int) -> dict[str, Any]:
    ecfg = recipe.evaluate.evaluated()  # evaluate.confirm = false: the dev benchmarks only
    return {"evaluate": ecfg.key_dict(), "protocol": protocol_summary(ecfg),
            "files": {b: content_key(p) for b, p in ecfg.paths.items()},
            "generate": recipe.generate.model_dump(exclude=TEACHER_SAMPLING), "verify": recipe.verify.model_dump(),
            "model": model_fingerprint, "seed": seed, **world_inputs(recipe)}


def cache_carry(recipe: Recipe, model_fingerprint: str, seed: int) -> dict[str, Any]:
    """``<benchmark>/generate`` and ``<benchmark>/verify`` -> what that benchmark's samples depend on."""
    ecfg = recipe.evaluate.evaluated()
    gen = recipe.generate.model_dump(exclude=TEACHER_SAMPLING)
    files = {b: content_key(p) for b, p in ecfg.paths.items()}
    protocols = protocol_summary(ecfg)
    world = world_inputs(recipe)
    # A benchmark's samples depend on the model, the engine, its sampling protocol, its problems and the
    # seed, not on grading or statistics (verify.*, evaluate.k, bootstrap_samples, ci_level): reuse them.
    samples = {b: {"model": model_fingerprint, "generate": gen, "file": files.get(b), "limit": ecfg.limit,
                   "seed": ecfg.seed if ecfg.seed is not None else seed, **world,
                   "protocol": {k: v for k, v in protocols[b].items() if k != "ks"}} for b in ecfg.benchmarks}
    # grades ride along: the harness re-keys them by chains, gold and verify config and regrades on a change
    return {f"{b}/{part}": samples[b] for b in ecfg.benchmarks for part in ("generate", "verify")}
