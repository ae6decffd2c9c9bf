"""The arms of one seed (:class:`SeedRun`): the loop's rounds, the control arms, the static arm and its
data-size curve, and the baselines, each a sequence of stage calls (:class:`limo_rl.loop.stages.SeedStages`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from limo_rl.config import Recipe
from limo_rl.loop.controls import control_arms
from limo_rl.loop.matching import match_static, seeded_subsample
from limo_rl.loop.share import student_card
from limo_rl.loop.stages import SeedStages
from limo_rl.loop.static_problems import NAME as STATIC_PROBLEMS
from limo_rl.loop.static_problems import static_problems_arm
from limo_rl.resolve import ModelRef, world_settings
from limo_rl.resolve import resolve_model as _resolve
from limo_rl.run.artifacts import atomic_write_json, read_jsonl
from limo_rl.run.layout import MATCH, MODEL, curve_arm, stage_dir
from limo_rl.types import SFTExample

log = logging.getLogger(__name__)


def resolve_model(uri: str, recipe: Recipe, engine: str = "hf", label: str = "model") -> ModelRef:
    """A recipe's model name through the one resolver (:mod:`limo_rl.resolve`), under its world settings."""
    return _resolve(uri, world=world_settings(recipe), output_dir=recipe.run.output_dir, engine=engine, label=label)


class SeedRun(SeedStages):
    """All arms of one seed under ``<run>/seed<S>/``."""

    # ------------------------------------------------------------------ arms
    def run(self) -> None:
        problems_path = self.pool()
        static = self.layout.static_dir(self.seed)
        static_sft = self.static_data(stage_dir(static, "data")) if self.r.loop.static.enabled else None  # before compute
        teacher0 = resolve_model(self.r.generate.model, self.r, self.r.generate.engine, "generate.model")
        base = resolve_model(self.r.train.model, self.r, label="train.model")
        self.loop_arm(problems_path, teacher0, base)
        if self.r.loop.controls:  # control arms against the last round (limo_rl.loop.controls)
            control_arms(self, problems_path, *self.last_round)
        if STATIC_PROBLEMS in self.r.loop.controls and self.r.loop.rounds:  # sampled on the static set's problems
            rd, sft_files, init = self.last_round
            static_problems_arm(self, rd, self.r.loop.rounds, self.last_teacher, sft_files, init)
        if static_sft is not None:
            self.static_arm(base, static_sft)
        if self.r.loop.baselines:
            self.evaluate(base, self.layout.baseline_eval_dir(self.seed, "base"), self.scope("baseline/base"))
            if teacher0.fingerprint != base.fingerprint:
                self.evaluate(teacher0, self.layout.baseline_eval_dir(self.seed, "teacher"),
                              self.scope("baseline/teacher"))

    def loop_arm(self, problems_path: Path, teacher0: ModelRef, base: ModelRef) -> None:
        teacher, student, sft_files = teacher0, None, []
        for rnd in range(1, self.r.loop.rounds + 1):
            rd = self.layout.round_dir(self.seed, rnd)
            chains_dir = self.generate(problems_path, teacher, stage_dir(rd, "generate"), rnd)
            verdicts = self.verify(problems_path, chains_dir, stage_dir(rd, "verify"), rnd)
            sft = self.select(problems_path, chains_dir, verdicts, stage_dir(rd, "select"), teacher, rnd, student=base)
            sft_files = [*sft_files, sft] if self.r.loop.data == "accumulate" else [sft]
            init = student if (self.r.loop.student_init == "previous" and student is not None) else base
            student = self.train(sft_files, init, stage_dir(rd, "train"), self.scope("loop", rnd))
            self.evaluate(student, stage_dir(rd, "evaluate"), self.scope("loop", rnd))
            self.card(student, sft_files, stage_dir(rd, "evaluate"), "loop", rnd)
            self.last_round, self.last_teacher = (rd, sft_files, init), teacher
            teacher = student if self.r.loop.next_teacher == "student" else teacher0

    def static_arm(self, base: ModelRef, sft: Path) -> None:
        d = self.layout.static_dir(self.seed)
        examples = [SFTExample.from_dict(row) for row in read_jsonl(sft)]
        examples, cfg, record = match_static(examples, self.r, self.layout, self.seed)  # loop.static.match
        atomic_write_json(d / MATCH, record)
        student = self.train([sft], base, stage_dir(d, "train"), self.scope("static"), examples=examples, cfg=cfg,
                             extra_inputs={"match": record})
        self.evaluate(student, stage_dir(d, "evaluate"), self.scope("static"))
        self.card(student, [sft], stage_dir(d, "evaluate"), "static", None)
        self.static_curve(base, sft)

    def static_curve(self, base: ModelRef, sft: Path) -> None:
        """The data-size curve: the static arm at ``loop.static.curve`` sizes, ``curve_draws`` seeded draws each."""
        st = self.r.loop.static
        if not st.curve:
            return
        full = [SFTExample.from_dict(row) for row in read_jsonl(sft)]
        for size in st.curve:
            for draw in range(st.curve_draws):
                d = self.layout.curve_dir(self.seed, size, draw)
                seed = (st.match_seed if st.match_seed is not None else self.seed) * 1000 + draw
                examples = seeded_subsample(full, size, seed)
                atomic_write_json(d / MATCH, {"match": "curve", "available": len(full),
                                                     "examples": len(examples), "match_target": size,
                                                     "draw_seed": seed})
                student = self.train([sft], base, stage_dir(d, "train"), self.scope(curve_arm(size, draw)),
                                     examples=examples, extra_inputs={"curve": {"size": size, "seed": seed}})
                self.evaluate(student, stage_dir(d, "evaluate"), self.scope(curve_arm(size, draw)))

    def card(self, student: ModelRef, sft_files: Sequence[Path], eval_dir: Path, arm: str, rnd: int | None) -> None:
        """The student's model card, with this run's evaluation (rewritten on every run: cheap, not hashed)."""
        store = self.runner.store
        stored = store is not None and store.contains(student.path)
        model_dir = store.local_of(student.path) if stored else Path(student.path)
        if model_dir.name == MODEL and model_dir.parent.is_relative_to(self.run_dir):
            card = student_card(model_dir, self.r, self.provenance(model_dir.parent, rnd), sft_files, eval_dir,
                                self.scope(arm, rnd), self.run_dir)
            if card is not None:
                self.runner.push(card)
