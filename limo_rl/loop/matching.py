"""Matching the static arm to the loop (``loop.static.match``), so a comparison isolates data choice.

On the quickstart the loop student trained on 156 examples for 20 optimizer steps and the static
student on 776 for 98: "loop vs static" then mixes which chains with how many. The options:

* ``none``: the whole static set (the LIMO comparison as published);
* ``size``: a seeded random draw of the static set at the loop's realised SFT size (its last
  round, after every cut), same epochs, so both arms see as many examples as often;
* ``steps``: the whole static set, trained for the loop's number of optimizer steps.

The record of what was done (target, realised size, seed) lands in ``static/match.json`` and in
the train stage's cache key, and the report shows it beside each arm.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from limo_rl.run.layout import RunLayout
from limo_rl.run.readers import read_train_figures
from limo_rl.types import SFTExample

log = logging.getLogger(__name__)


def loop_realised(layout: RunLayout, seed: int) -> dict[str, Any] | None:
    """``{"round", "examples", "steps"}`` of the loop's last trained round (None before any loop round trained)."""
    for rnd in reversed(layout.rounds(seed)):
        t = read_train_figures(layout.stage_dir(seed, "loop", rnd, "train"))
        if t.trained:
            return {"round": rnd, "examples": t.examples, "steps": t.steps}
    return None


def seeded_subsample(examples: Sequence[SFTExample], n: int, seed: int) -> list[SFTExample]:
    """``n`` examples drawn without replacement by ``seed``, kept in file order."""
    if n >= len(examples):
        return list(examples)
    picked = set(random.Random(f"limo-rl/static-match/{seed}/{n}").sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in picked]


def match_static(examples: Sequence[SFTExample], recipe: Any, layout: RunLayout, seed: int,
                 ) -> tuple[list[SFTExample], Any, dict[str, Any]]:
    """(examples, train config, record) of the static arm under ``recipe.loop.static.match``."""
    rule = recipe.loop.static.match
    cfg = recipe.train
    record: dict[str, Any] = {"match": rule, "available": len(examples)}
    if rule == "none":
        return list(examples), cfg, {**record, "examples": len(examples)}
    loop = loop_realised(layout, seed)
    if loop is None:
        log.warning("loop.static.match = %s but no loop round was trained: the static arm trains unmatched", rule)
        return list(examples), cfg, {**record, "examples": len(examples), "unmatched": "no trained loop round"}
    draw_seed = recipe.loop.static.match_seed if recipe.loop.static.match_seed is not None else seed
    if rule == "size":
        target = loop["examples"]
        out = seeded_subsample(examples, target, draw_seed)
        if target > len(examples):
            log.warning("the loop trained on %d examples, more than the static set's %d: the static arm keeps all",
                        target, len(examples))
        return out, cfg, {**record, "examples": len(out), "match_target": target, "draw_seed": draw_seed,
                          "loop_round": loop["round"]}
    target = max(1, loop["steps"])
    return list(examples), cfg.model_copy(update={"max_steps": target}), {
        **record, "examples": len(examples), "match_target": target, "loop_round": loop["round"]}
