"""What the select stages depend on (their cache inputs): the round's SFT set and the control sets
(:mod:`limo_rl.select.controls`) built from a finished round."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.config import Recipe
from limo_rl.run.hashing import hash_file
from limo_rl.run.stagecache import outputs_key
from limo_rl.select.controls import PROBLEM_CONTROLS, WORLD_CONTROLS

CONTROLS_VERSION = 1  # part of every control set's key: a change to how sets are built rebuilds them


def cache_inputs(recipe: Recipe, chains_dir: Path, verdicts_path: Path, seed: int,
                 tokenizer: str | None = None) -> dict[str, Any]:
    """The section, the prompt the conversations are built with, the sealed chains and verdicts, the seed;
    with ``tokenizer`` (the fingerprint of the student whose tokenizer training uses), the length rule:
    that tokenizer and ``train.max_length``."""
    inputs = {"select": recipe.select.model_dump(), "system_prompt": recipe.generate.system_prompt,
              "verdicts": outputs_key(verdicts_path.parent), "chains": outputs_key(chains_dir.parent),
              "seed": seed}
    if tokenizer is not None:  # the length rule: the training tokenizer and its limit
        inputs["length"] = {"tokenizer": tokenizer, "max_length": recipe.train.max_length}
    return inputs


def control_cache_inputs(recipe: Recipe, name: str, sft_files: Sequence[Path], problems_path: Path,
                         chains_dir: Path, verdicts_path: Path, seed: int) -> dict[str, Any]:
    """A control set's inputs, all content keys (the runs of one output folder share it through the stage
    store): the loop's SFT files and pool; the round's chains and verdicts for ``own_incorrect``; the world
    that writes the perturbed procedure for ``format_only``, the gold controls and the problem-set arms; the
    round's verdicts (its pass rates) for the problem-set arms; the difficulty window for ``window``."""
    inputs: dict[str, Any] = {"control": name, "version": CONTROLS_VERSION, "sft": [hash_file(f) for f in sft_files],
                              "problems": hash_file(problems_path), "system_prompt": recipe.generate.system_prompt,
                              "seed": seed}
    if name == "own_incorrect":
        inputs.update(chains=outputs_key(chains_dir.parent), verdicts=outputs_key(verdicts_path.parent))
    if name in PROBLEM_CONTROLS:
        inputs["verdicts"] = outputs_key(verdicts_path.parent)
    if name == "window":
        inputs["window"] = recipe.select.difficulty.model_dump()
    if name in WORLD_CONTROLS:
        inputs["world"] = {"source": recipe.pool.source, "format": recipe.pool.format, "toy": recipe.toy.model_dump()}
    return inputs
