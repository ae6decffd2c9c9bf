"""Control arms (``loop.controls``): the loop's last round with one factor taken away, as arms of the run.

For each named control (:mod:`limo_rl.select.controls` builds the sets and says what each removes;
``static_problems`` samples its own chains, :mod:`limo_rl.loop.static_problems`) and
each seed: build its SFT set from the last loop round's chains, verdicts and SFT set (a stage whose
inputs are all content keys, so the runs of one output folder share it through the stage store), then
train it with the loop's trainer, train config and initial model, evaluate it under the same protocol,
and leave it to the report, which compares it with that round (a paired verdict per benchmark,
:mod:`limo_rl.loop.comparisons`). ``control/<name>/match.json`` records the realised match: target and
realised examples, how many come from the loop's own problems, any shortfall.

Orchestration only: the stages are the seed's (:class:`limo_rl.loop.arms.SeedRun`); the control set's key is
select's (:func:`limo_rl.select.control_cache_inputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.config import Recipe
from limo_rl.config.schema import STATIC_PROBLEMS
from limo_rl.resolve import ModelRef, generated_source
from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl
from limo_rl.run.layout import CHAINS, MATCH, SFT, STAGE_STATS, VERDICTS, stage_dir
from limo_rl.run.readers import read_json
from limo_rl.select import control_cache_inputs
from limo_rl.select.controls import (
    WORLD_CONTROLS,
    ControlWriter,
    FormatWriter,
    control_set_from_round,
)

log = logging.getLogger(__name__)
MISMATCH = 0.10


def format_writer(recipe: Recipe) -> FormatWriter | None:
    """The world's writer of the right procedure on perturbed operands, when the pool's world has one."""
    source = generated_source(recipe.pool.source, recipe.pool.format)
    return source.format_chain if source is not None else None


def world_writer(recipe: Recipe) -> ControlWriter | None:
    """The world's writer of control chains (gold controls, problem-set arms), when the pool's world has one."""
    source = generated_source(recipe.pool.source, recipe.pool.format)
    return source.control_chain if source is not None else None


def control_problem(recipe: Recipe) -> str | None:
    """Why the recipe's controls cannot be built (checked before any stage), or None."""
    if "format_only" in recipe.loop.controls and format_writer(recipe) is None:
        return (f"loop.controls names format_only, but pool.source = {recipe.pool.source!r} is no world that "
                "writes the right procedure on perturbed operands (the toy world does); use own_incorrect or "
                "terse_correct")
    need = [c for c in recipe.loop.controls if c in WORLD_CONTROLS and c != "format_only"]
    if need and world_writer(recipe) is None:
        return (f"loop.controls names {', '.join(need)}, but pool.source = {recipe.pool.source!r} is no world that "
                "writes their chains (the toy world does); use own_incorrect or terse_correct")
    return None


def control_arms(run: Any, problems_path: Path, round_dir: Path, sft_files: Sequence[Path], init: ModelRef) -> None:
    """Every ``loop.controls`` arm of one seed (``run``: a driver ``SeedRun``), against the last loop round
    ``round_dir``, whose student trained on ``sft_files`` from ``init``."""
    for name in run.r.loop.controls:
        if name == STATIC_PROBLEMS:  # sampled, not built from the round's chains: limo_rl.loop.arms runs it
            continue
        d = run.layout.control_dir(run.seed, name)
        sft = control_data(run, name, problems_path, round_dir, sft_files, stage_dir(d, "data"))
        record = {**(read_json(stage_dir(d, "data") / STAGE_STATS) or {}), "loop_round": f"loop/{round_dir.name}"}
        atomic_write_json(d / MATCH, record)
        target, got = record.get("match_target") or 0, record.get("examples") or 0
        if not got:
            log.warning("control/%s: no example could be built (%s); the arm is left out", name, record)
            continue
        if target and abs(target - got) / target > MISMATCH:
            log.warning("control/%s: %d examples for the loop's %d (more than %.0f%% apart): its verdict mixes data "
                        "size with the factor it removes", name, got, target, 100 * MISMATCH)
        label = run.scope(f"control/{name}")
        student = run.train([sft], init, stage_dir(d, "train"), label)
        run.evaluate(student, stage_dir(d, "evaluate"), label)


def control_data(run: Any, name: str, problems_path: Path, round_dir: Path, sft_files: Sequence[Path],
                 d: Path) -> Path:
    """The control set's stage: ``<d>/sft.jsonl`` and ``<d>/stats.json`` (what was realised)."""
    writer = format_writer(run.r) if name == "format_only" else None
    world = world_writer(run.r) if name in WORLD_CONTROLS and name != "format_only" else None
    window = run.r.select.difficulty if name == "window" else None
    chains, verdicts = stage_dir(round_dir, "generate") / CHAINS, stage_dir(round_dir, "verify") / VERDICTS

    def fn(out: Path) -> dict[str, Any]:
        examples, record = control_set_from_round(name, sft_files, problems_path, chains, verdicts,
                                                  run.r.generate.system_prompt, seed=run.seed, format_writer=writer,
                                                  writer=world, window=window)
        atomic_write_jsonl(out / SFT, (e.to_dict() for e in examples))
        atomic_write_json(out / STAGE_STATS, record)
        return {"examples": record["examples"], "match_target": record["match_target"]}

    inputs = control_cache_inputs(run.r, name, sft_files, problems_path, chains, verdicts, run.seed)
    run.runner.run("select", d, inputs, fn, [SFT, STAGE_STATS])
    return d / SFT
