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
from limo_rl.data.static import load_static_set
from limo_rl.evaluate import protocol_summary, run_evaluation
from limo_rl.generate import read_chains, run_generation
from limo_rl.loop.cache import STAGE_ORDER, StageRunner, StopAfter
from limo_rl.loop.layout import CHAINS, METRICS, MODEL, POOL_PROBLEMS, SFT, VERDICTS, RunLayout
from limo_rl.loop.report import write_report
from limo_rl.raysession import ray_initialized, start_ray
from limo_rl.resolve import ModelRef
from limo_rl.resolve import resolve_model as _resolve
from limo_rl.select import run_selection
from limo_rl.storage import check_shared_storage
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

    # ------------------------------------------------------------------ arms
    def run(self) -> None:
        problems_path = self.pool()
        teacher0 = resolve_model(self.r.generate.model, self.r, self.r.generate.engine, "generate.model")
        base = resolve_model(self.r.train.model, self.r, label="train.model")
        self.loop_arm(problems_path, teacher0, base)
        if self.r.loop.static.enabled:
            self.static_arm(base)
        if self.r.loop.baselines:
            self.evaluate(base, self.layout.baseline_eval_dir(self.seed, "base"), "baseline/base")
            if teacher0.fingerprint != base.fingerprint:
                self.evaluate(teacher0, self.layout.baseline_eval_dir(self.seed, "teacher"), "baseline/teacher")

    def loop_arm(self, problems_path: Path, teacher0: ModelRef, base: ModelRef) -> None:
        teacher, student, sft_files = teacher0, None, []
        for rnd in range(1, self.r.loop.rounds + 1):
            rd = self.layout.round_dir(self.seed, rnd)
            chains_dir = self.generate(problems_path, teacher, rd / "generate", rnd)
            verdicts = self.verify(problems_path, chains_dir, rd / "verify")
            sft = self.select(problems_path, chains_dir, verdicts, rd / "select")
            sft_files = [*sft_files, sft] if self.r.loop.data == "accumulate" else [sft]
            init = student if (self.r.loop.student_init == "previous" and student is not None) else base
            student = self.train(sft_files, init, rd / "train", f"loop/round{rnd}")
            self.evaluate(student, rd / "evaluate", f"loop/round{rnd}")
            teacher = student if self.r.loop.next_teacher == "student" else teacher0

    def static_arm(self, base: ModelRef) -> None:
        d = self.layout.static_dir(self.seed)
        sft = self.static_data(d / "data")
        student = self.train([sft], base, d / "train", "static")
        self.evaluate(student, d / "evaluate", "static")

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
            ensure_ray(self.run_dir)
            res = run_generation(
                read_problems(problems_path), self.r.generate, teacher.path, out,
                round=rnd, base_seed=self.seed, teacher_name=teacher.name, tracker=self.tracker,
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

    def select(self, problems_path: Path, chains_dir: Path, verdicts_path: Path, d: Path) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            res = run_selection(
                read_problems(problems_path), read_chains(chains_dir), read_verdicts(verdicts_path),
                self.r.select, self.r.generate.system_prompt, out, seed=self.seed,
            )
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
            return init

        def fn(out: Path) -> dict[str, Any]:
            ensure_ray(self.run_dir)
            res = run_training(examples, init.path, self.r.train, out, seed=self.seed, tracker=self.tracker)
            return res.metrics

        inputs = {"train": self.r.train.model_dump(), "init": init.fingerprint, "seed": self.seed,
                  "data": [hash_file(f) for f in sft_files]}
        marker = self.runner.run("train", d, inputs, fn, [MODEL])
        return ModelRef(str(d / MODEL), f"train:{marker['input_hash']}", f"{label}/student")

    def evaluate(self, model: ModelRef, d: Path, label: str) -> dict[str, Any]:
        def fn(out: Path) -> dict[str, Any]:
            ensure_ray(self.run_dir)
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
    tracker = make_tracker(recipe.tracking, run_dir.path, recipe.to_dict(), name=recipe.run.name)
    runner = StageRunner(run_dir.path, manifest, from_stage=from_stage, stop_after=stop_after)
    ray_was_up = ray_initialized()
    _storage_checked.clear()  # a new session (or cluster) is checked again
    status = "failed"
    try:
        for seed in recipe.run.all_seeds():
            SeedRun(recipe, runner, run_dir.path, seed, tracker).run()
        status = "finished"
    except StopAfter as stop:
        status = f"stopped after {stop}"
    finally:
        manifest.finish(status)
        if not ray_was_up and ray_initialized():
            import ray  # lazily: only a run that started Ray gets here

            ray.shutdown()
    if status == "finished" and (runner.ran or not (run_dir.path / "report.md").exists()):
        summary = write_report(run_dir.path, tracker=tracker)
        manifest.data["headline"] = summary
        manifest.save()
    tracker.finish()
    if runner.ran:
        print(f"{run_dir.path}: ran {len(runner.ran)} stage(s), reused {len(runner.skipped)}; {status}",
              file=sys.stderr)
    else:
        print(f"{run_dir.path}: nothing to do, every stage is done with the same inputs "
              f"({len(runner.skipped)} reused)", file=sys.stderr)
    return 0


_storage_checked: set[str] = set()


def ensure_ray(run_dir: Path) -> None:
    """One Ray session for the whole run, started when a stage first needs it (a stage that found no
    session would start and stop its own, ~12 s each); :func:`run_recipe` shuts it down at the end.
    The first time, on a multi-node cluster, every node must see the run folder (:mod:`limo_rl.storage`)."""
    start_ray()
    if str(run_dir) not in _storage_checked:
        check_shared_storage(run_dir)
        _storage_checked.add(str(run_dir))
