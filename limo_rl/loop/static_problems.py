"""The ``static_problems`` control arm: the static set's problems, with chains from the loop's own teacher.

The loop and the static arm differ in two things at once: *which problems* (the loop's pool, kept by its
pass-rate window; the static set's curated ones) and *whose chains* (the loop teacher's verified samples;
the static set's gold solutions). This arm crosses them: the last loop round's teacher samples the static
set's problems (``generate.n`` each, the loop's settings), the verifier grades them and the loop's own
selection (``select``, its window and per-problem cap) picks from them, with the budget set to the loop
round's SFT size, so the arm is matched to it in examples. Then

* ``loop/roundR vs control/static_problems``: problem choice, chain source fixed (the teacher's chains);
* ``static vs control/static_problems``: chain source, problems fixed (the static set's).

It needs no world: any static set and any teacher, so it is the real-scale control for problem choice.
``control/static_problems/`` holds ``problems.jsonl`` (the static problems, rewritten each run), then the
usual ``generate/``, ``verify/``, ``data/`` (the selection: ``sft.jsonl``, ``stats.json``), ``train/``,
``evaluate/`` and ``match.json``. The stages go through the seed's stage runner under their own keys (the
problems file's content is in generation's key, the budget in selection's).

Orchestration only: the stages are the seed's (:class:`limo_rl.loop.stages.SeedStages`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.config.schema import STATIC_PROBLEMS
from limo_rl.data.static import load_static
from limo_rl.loop.stages import SeedStages
from limo_rl.resolve import ModelRef, world_settings
from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl, read_jsonl
from limo_rl.run.layout import (
    DATA,
    EVALUATE,
    GENERATE,
    MATCH,
    POOL_PROBLEMS,
    STAGE_STATS,
    TRAIN,
    VERIFY,
    stage_dir,
)
from limo_rl.run.readers import read_json

log = logging.getLogger(__name__)
NAME = STATIC_PROBLEMS


class _ArmStages(SeedStages):
    """The seed's stages under this arm's recipe (the budget matched) and tracker scope."""

    def scope(self, arm: str, rnd: int | None = None) -> str:
        return super().scope(f"control/{NAME}" if arm == "loop" else arm, None if arm == "loop" else rnd)


def static_problems_arm(run: Any, round_dir: Path, rnd: int, teacher: ModelRef, sft_files: Sequence[Path],
                        init: ModelRef) -> None:
    """The arm for one seed (``run``: the driver's ``SeedRun``): the last round ``rnd`` (``round_dir``) was
    sampled from ``teacher`` and its student trained on ``sft_files`` from ``init``."""
    target = sum(1 for f in sft_files for _ in read_jsonl(f))
    recipe = run.r.model_copy(deep=True)
    recipe.select.budget = target
    stages = _ArmStages(recipe, run.runner, run.run_dir, run.seed, run.tracker)
    d = run.layout.control_dir(run.seed, NAME)
    problems, _ = load_static(run.r.loop.static, run.r.generate.system_prompt, world_settings(run.r))
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_jsonl(d / POOL_PROBLEMS, (p.to_dict() for p in problems))
    problems_path = d / POOL_PROBLEMS
    chains = stages.generate(problems_path, teacher, stage_dir(d, GENERATE), rnd)
    verdicts = stages.verify(problems_path, chains, stage_dir(d, VERIFY), rnd)
    sft = stages.select(problems_path, chains, verdicts, stage_dir(d, DATA), teacher, rnd, student=init)
    stats = read_json(stage_dir(d, DATA) / STAGE_STATS) or {}
    got = int(stats.get("selected") or 0)
    record: dict[str, Any] = {"match": "size", "match_target": target, "examples": got,
                              "static_problems": len(problems), "teacher": teacher.name,
                              "loop_round": f"loop/{round_dir.name}", "shortfall": max(0, target - got)}
    atomic_write_json(d / MATCH, record)
    if not got:
        log.warning("control/%s: the teacher solved none of the static set's problems inside the window; the arm "
                    "is left out", NAME)
        return
    if got < target:
        log.warning("control/%s: %d examples for the loop's %d: the static problems' supply of selected chains is "
                    "smaller; its verdict mixes data size with problem choice", NAME, got, target)
    label = run.scope(f"control/{NAME}")
    student = stages.train([sft], init, stage_dir(d, TRAIN), label)
    stages.evaluate(student, stage_dir(d, EVALUATE), label)
