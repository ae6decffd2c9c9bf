"""``limo-rl run``: rounds and arms of one recipe, every stage cached, one comparison report.

Per seed:

* **loop arm**, rounds r = 1..R: teacher_r generates k chains per pool problem -> verify ->
  select (difficulty window + ranking + budget) -> train student_r -> evaluate. The recipe
  picks the next teacher (the student, or the fixed teacher), what a student starts from
  (the base model each round as in ReST-EM, or the previous student) and whether the SFT
  data of each round is fresh or accumulates;
* **static arm**: the same base model, trained with the same config on a fixed set (the
  LIMO 817, or any set named in ``loop.static``), evaluated under the same protocol;
* **baselines**: the base model and the first teacher, evaluated under the same protocol.

The driver only calls stages: every algorithmic choice lives in its stage package. Each
stage is cached by the hash of its config and inputs (:mod:`limo_rl.loop.cache`), so a
finished recipe reruns as a no-op, a changed selection weight reruns selection and what
follows but not generation, and a killed run resumes at the stage (and shard) it reached.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.artifacts import RunDir, atomic_write_jsonl, hash_file, hash_obj, read_jsonl, read_stage_marker
from limo_rl.config import Recipe, preflight
from limo_rl.data.benchmarks import is_generated_benchmark
from limo_rl.data.io import read_problems
from limo_rl.data.pool import build_pool
from limo_rl.data.sources import LOADED
from limo_rl.data.static import load_static_set
from limo_rl.evaluate import protocol_summary, run_evaluation
from limo_rl.generate import read_chains, run_generation
from limo_rl.hub.cards import PARQUET
from limo_rl.loop.cache import STAGE_ORDER, StageRunner, StopAfter
from limo_rl.loop.layout import CHAINS, METRICS, MODEL, POOL_PROBLEMS, SFT, VERDICTS, RunLayout
from limo_rl.loop.report import accuracy_lines, write_report
from limo_rl.loop.share import chains_table, provenance, sft_card, student_card
from limo_rl.progress import attach_log_dir, close_display, display, is_quiet
from limo_rl.raysession import ray_initialized, start_ray
from limo_rl.resolve import ModelRef
from limo_rl.resolve import resolve_model as _resolve
from limo_rl.select import run_selection
from limo_rl.tracking import Tracker, make_tracker
from limo_rl.train import run_training
from limo_rl.types import SFTExample
from limo_rl.verify import grade_chains, read_verdicts

log = logging.getLogger(__name__)


def resolve_model(uri: str, recipe: Recipe, engine: str = "hf", label: str = "model") -> ModelRef:
    """A recipe's model name through the one resolver (:mod:`limo_rl.resolve`), under its world settings."""
    return _resolve(uri, toy_cfg=recipe.toy, output_dir=recipe.run.output_dir, engine=engine, label=label)


class SeedRun:
    """All arms of one seed under ``<run>/seed<S>/``."""

    def __init__(self, recipe: Recipe, runner: StageRunner, run_dir: Path, seed: int, tracker: Tracker):
        self.r, self.runner, self.run_dir, self.seed, self.tracker = recipe, runner, run_dir, seed, tracker
        self.layout = RunLayout(run_dir)

    def scope(self, arm: str, rnd: int | None = None) -> str:
        """Tracker namespace of one arm (and round) of this seed: ``loop/round1/seed0``, ``static/seed0``."""
        return f"{arm}/round{rnd}/seed{self.seed}" if rnd is not None else f"{arm}/seed{self.seed}"

    def provenance(self, stage_dir: Path, rnd: int | None) -> dict[str, Any]:
        return provenance(self.run_dir, self.runner.manifest.data, self.runner.key(stage_dir), self.seed, rnd)

    # ------------------------------------------------------------------ arms
    def run(self) -> None:
        problems_path = self.pool()
        teacher0 = resolve_model(self.r.generate.model, self.r, self.r.generate.engine, "generate.model")
        base = resolve_model(self.r.train.model, self.r, label="train.model")
        self.loop_arm(problems_path, teacher0, base)
        if self.r.loop.static.enabled:
            self.static_arm(base)
        if self.r.loop.baselines:
            self.evaluate(base, self.layout.baseline_eval_dir(self.seed, "base"), self.scope("baseline/base"))
            if teacher0.fingerprint != base.fingerprint:
                self.evaluate(teacher0, self.layout.baseline_eval_dir(self.seed, "teacher"),
                              self.scope("baseline/teacher"))

    def loop_arm(self, problems_path: Path, teacher0: ModelRef, base: ModelRef) -> None:
        teacher, student, sft_files = teacher0, None, []
        for rnd in range(1, self.r.loop.rounds + 1):
            rd = self.layout.round_dir(self.seed, rnd)
            chains_dir = self.generate(problems_path, teacher, rd / "generate", rnd)
            verdicts = self.verify(problems_path, chains_dir, rd / "verify")
            sft = self.select(problems_path, chains_dir, verdicts, rd / "select", teacher, rnd)
            sft_files = [*sft_files, sft] if self.r.loop.data == "accumulate" else [sft]
            init = student if (self.r.loop.student_init == "previous" and student is not None) else base
            student = self.train(sft_files, init, rd / "train", self.scope("loop", rnd))
            self.evaluate(student, rd / "evaluate", self.scope("loop", rnd))
            self.card(student, sft_files, rd / "evaluate", "loop", rnd)
            teacher = student if self.r.loop.next_teacher == "student" else teacher0

    def static_arm(self, base: ModelRef) -> None:
        d = self.layout.static_dir(self.seed)
        sft = self.static_data(d / "data")
        student = self.train([sft], base, d / "train", self.scope("static"))
        self.evaluate(student, d / "evaluate", self.scope("static"))
        self.card(student, [sft], d / "evaluate", "static", None)

    def card(self, student: ModelRef, sft_files: Sequence[Path], eval_dir: Path, arm: str, rnd: int | None) -> None:
        """The student's model card, with this run's evaluation (rewritten on every run: cheap, not hashed)."""
        model_dir = Path(student.path)
        if model_dir.name == MODEL and model_dir.parent.is_relative_to(self.run_dir):
            student_card(model_dir, self.r, self.provenance(model_dir.parent, rnd), sft_files, eval_dir,
                         self.scope(arm, rnd), self.run_dir)

    # ------------------------------------------------------------------ stages
    def pool(self) -> Path:
        d = self.layout.pool_dir
        cfg = self.r
        inputs = {"pool": cfg.pool.model_dump(), "benchmarks": cfg.evaluate.benchmarks, "paths": cfg.evaluate.paths,
                  **self._world_inputs()}
        self.runner.run(
            "pool", d, inputs,
            lambda out: build_pool(cfg.pool, list(cfg.evaluate.benchmarks), dict(cfg.evaluate.paths), out,
                                   toy=cfg.toy).stats,
            [POOL_PROBLEMS],
        )
        return d / POOL_PROBLEMS

    def generate(self, problems_path: Path, teacher: ModelRef, d: Path, rnd: int) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            ensure_ray()
            res = run_generation(
                read_problems(problems_path), self.r.generate, teacher.path, out,
                round=rnd, base_seed=self.seed, teacher_name=teacher.name,
                tracker=self.tracker.scoped(self.scope("loop", rnd)),
            )
            return res.stats

        inputs = {"generate": self.r.generate.model_dump(), "teacher": teacher.fingerprint,
                  "problems": hash_file(problems_path), "round": rnd, "seed": self.seed}
        self.runner.run("generate", d, inputs, fn, [CHAINS])
        return d / CHAINS

    def verify(self, problems_path: Path, chains_dir: Path, d: Path) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            chains = read_chains(chains_dir)
            problems = {p.id: p for p in read_problems(problems_path)}
            verdicts = grade_chains(chains, problems, self.r.verify, out / VERDICTS)
            n = max(len(verdicts), 1)
            return {"chains": len(verdicts), "accuracy": sum(v.correct for v in verdicts) / n,
                    "mean_verification_density": sum(v.verification_density for v in verdicts) / n}

        inputs = {"verify": self.r.verify.model_dump(), "chains": self._marker_hash(chains_dir.parent),
                  "problems": hash_file(problems_path)}
        self.runner.run("verify", d, inputs, fn, [VERDICTS])
        return d / VERDICTS

    def select(self, problems_path: Path, chains_dir: Path, verdicts_path: Path, d: Path, teacher: ModelRef,
               rnd: int) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            chains = read_chains(chains_dir)
            res = run_selection(
                read_problems(problems_path), chains, read_verdicts(verdicts_path),
                self.r.select, self.r.generate.system_prompt, out, seed=self.seed,
            )
            card = sft_card(out, self.r, self.provenance(out, rnd), teacher.name, verdicts_path)
            tracker = self.tracker.scoped(self.scope("loop", rnd))
            chains_table(tracker, verdicts_path, out / SFT, chains, self.seed)
            tracker.log_artifact(f"sft-{self.run_dir.name}-{self.scope('loop', rnd)}", "dataset",
                                 [out / SFT, out / PARQUET, card], {"examples": res.n_selected})
            return {"n_selected": res.n_selected}

        inputs = {"select": self.r.select.model_dump(), "system_prompt": self.r.generate.system_prompt,
                  "verdicts": hash_file(verdicts_path), "chains": self._marker_hash(chains_dir.parent),
                  "seed": self.seed}
        self.runner.run("select", d, inputs, fn, [SFT, "stats.json"])
        return d / SFT

    def static_data(self, d: Path) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            examples = load_static_set(self.r.loop.static, self.r.generate.system_prompt, self.r.toy)
            atomic_write_jsonl(out / SFT, (e.to_dict() for e in examples))
            sft_card(out, self.r, self.provenance(out, None), None, None, static=True)
            return {"n_examples": len(examples)}

        inputs = {"static": self.r.loop.static.model_dump(), "system_prompt": self.r.generate.system_prompt,
                  "toy": self.r.toy.model_dump() if self.r.loop.static.source == "toy" else None}
        self.runner.run("select", d, inputs, fn, [SFT])
        return d / SFT

    def train(self, sft_files: Sequence[Path], init: ModelRef, d: Path, label: str) -> ModelRef:
        examples = [SFTExample.from_dict(row) for f in sft_files for row in read_jsonl(f)]
        if not examples:
            # Nothing passed verification and selection: the student is its initial model, unchanged.
            log.warning("%s: the SFT set is empty (no correct, finished chain was selected); the student "
                        "stays %s untrained. Widen select.difficulty or sample more (generate.n).", label, init.name)
            self.runner.manifest.record_stage(self.runner.key(d), status="skipped", reason="empty SFT set")
            display().stage_done("train", self.runner.key(d), "skipped: empty SFT set")
            return init

        def fn(out: Path) -> dict[str, Any]:
            ensure_ray()
            res = run_training(examples, init.path, self.r.train, out, seed=self.seed,
                               tracker=self.tracker.scoped(label))
            return res.metrics

        inputs = {"train": self.r.train.model_dump(), "init": init.fingerprint, "seed": self.seed,
                  "data": [hash_file(f) for f in sft_files]}
        marker = self.runner.run("train", d, inputs, fn, [MODEL])
        return ModelRef(str(d / MODEL), f"train:{marker['input_hash']}", f"{label}/student")

    def evaluate(self, model: ModelRef, d: Path, label: str) -> dict[str, Any]:
        def fn(out: Path) -> dict[str, Any]:
            ensure_ray()
            res = run_evaluation(model.path, self.r.evaluate, self.r.generate, self.r.verify, out,
                                 seed=self.seed, tracker=self.tracker, label=label, toy=self.r.toy)
            figures = headline_metrics(res.metrics)
            self.tracker.log({f"{label}/{k}": v for k, v in figures.items()})
            return figures

        gen = self.r.generate.model_dump(exclude={"model", "n", "temperature", "top_p", "max_new_tokens"})
        inputs = {"evaluate": self.r.evaluate.model_dump(), "protocol": protocol_summary(self.r.evaluate),
                  "generate": gen, "verify": self.r.verify.model_dump(),
                  "model": model.fingerprint, "seed": self.seed, **self._world_inputs()}
        return self.runner.run("evaluate", d, inputs, fn, [METRICS])

    def _world_inputs(self) -> dict[str, Any]:
        """The world settings generated benchmarks (toy_eval without a file) are made under: part of the
        inputs of the stages that load them, so changing ``toy.difficulty`` re-evaluates. Absent when no
        benchmark is generated, so the cache keys of file-based runs are what they were."""
        ev = self.r.evaluate
        if any(is_generated_benchmark(b) and b not in ev.paths for b in ev.benchmarks):
            return {"world": self.r.toy.model_dump()}
        return {}

    @staticmethod
    def _marker_hash(stage_dir: Path) -> str:
        marker = read_stage_marker(stage_dir) or {}
        return hash_obj(marker.get("outputs") or {})


def headline_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """``<benchmark>/<primary metric>`` -> value, from an evaluation's metrics.json."""
    out = {}
    for bench, entry in (metrics.get("benchmarks") or {}).items():
        primary = entry.get("primary")
        value = (entry.get("metrics") or {}).get(primary, {}).get("value")
        if primary and value is not None:
            out[f"{bench}/{primary}"] = value
    return out


def stages_for(stop_after: str | None) -> list[str]:
    return list(STAGE_ORDER if stop_after is None else STAGE_ORDER[: STAGE_ORDER.index(stop_after) + 1])


def run_recipe(
    recipe: Recipe, argv: Sequence[str] | None = None, *, stop_after: str | None = None,
    from_stage: str | None = None,
) -> int:
    """Run a recipe (or, with ``stop_after``, the first round of its loop arm up to that stage)."""
    preflight(recipe, stages_for(stop_after))
    run_dir, manifest = RunDir.create(recipe, list(argv) if argv is not None else sys.argv)
    logs = attach_log_dir(run_dir.path / "logs").parent
    seeds = recipe.run.all_seeds()
    display().line(f"limo-rl run {recipe.run.name}: {recipe.loop.rounds} round(s) x {len(seeds)} seed(s) -> "
                   f"{run_dir.path}  (logs: {logs})")
    tracker = make_tracker(recipe.tracking, run_dir.path, recipe.to_dict(), name=recipe.run.name)
    runner = StageRunner(run_dir.path, manifest, from_stage=from_stage, stop_after=stop_after)
    ray_was_up = ray_initialized()
    status = "failed"
    try:
        for seed in seeds:
            SeedRun(recipe, runner, run_dir.path, seed, tracker).run()
        status = "finished"
    except StopAfter as stop:
        status = f"stopped after {stop}"
    finally:
        manifest.data.setdefault("data_revisions", {}).update(LOADED)  # Hub datasets at the commit loaded
        manifest.finish(status)
        if not ray_was_up and ray_initialized():
            import ray  # lazily: only a run that started Ray gets here

            ray.shutdown()
        if status == "failed":
            close_display()
    if status == "finished" and (runner.ran or not (run_dir.path / "report.md").exists()):
        summary = write_report(run_dir.path, tracker=tracker)
        manifest.data["headline"] = summary
        manifest.save()
        tracker.log_artifact(f"report-{recipe.run.name}", "report",
                             [run_dir.path / "report.md", run_dir.path / "report.png"], summary)
    tracker.finish()  # before the result: the run's last lines are its own
    close_display()
    _print_result(run_dir.path, runner, status)
    return 0


def _print_result(run_dir: Path, runner: StageRunner, status: str) -> None:
    """The run's result on stdout: the accuracy table, then where the report and its figure are."""
    out = display()
    if not is_quiet():
        work = (f"ran {len(runner.ran)} stage(s), reused {len(runner.skipped)}" if runner.ran else
                f"nothing to do, every stage is done with the same inputs ({len(runner.skipped)} reused)")
        out.line(f"\n{run_dir}: {status}; {work}", err=False)
        if status == "finished":
            out.line("", err=False)
            for line in accuracy_lines(run_dir):
                out.line(line, err=False)
            out.line("", err=False)
    for name in ("report.md", "report.png"):
        if (run_dir / name).is_file():
            out.line(f"{name:<11} {run_dir / name}" if not is_quiet() else str(run_dir / name), err=False)


def ensure_ray() -> None:
    """One Ray session for the whole run, started when a stage first needs it (a stage that found no
    session would start and stop its own, ~12 s each); :func:`run_recipe` shuts it down at the end."""
    start_ray()
