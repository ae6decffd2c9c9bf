"""The stages of one seed: pool, generate, verify, select, the static set, train and evaluate, each cached.

Orchestration only: what a stage does is its package's, and so is what it depends on: each call takes the
stage's cache inputs from that package (``limo_rl.generate.cache_inputs`` and the same for every stage,
:mod:`limo_rl.data.keys` for the pool and the static set) and hands them to the run's stage runner
(:class:`limo_rl.loop.cache.StageRunner`), which reruns a stage only when they changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.config import Recipe
from limo_rl.console.progress import display
from limo_rl.console.tracking import Tracker
from limo_rl.data.decontam import require_clean
from limo_rl.data.io import iter_problems, read_problems
from limo_rl.data.keys import pool_cache_inputs, static_benchmarks, static_cache_inputs
from limo_rl.data.pool import build_pool, load_benchmarks
from limo_rl.data.static import load_static
from limo_rl.evaluate import cache_carry as evaluate_carry
from limo_rl.evaluate import cache_inputs as evaluate_inputs
from limo_rl.evaluate import run_evaluation
from limo_rl.generate import cache_inputs as generate_inputs
from limo_rl.generate import run_generation
from limo_rl.hub.cards import PARQUET
from limo_rl.loop.cache import StageRunner
from limo_rl.loop.preflight import stage_bundles
from limo_rl.loop.share import chains_table, provenance, select_figures, sft_card, verify_figures
from limo_rl.resolve import ModelRef, world_settings
from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl, read_jsonl
from limo_rl.run.layout import (
    CHAINS,
    DECONTAMINATION,
    METRICS,
    MODEL,
    POOL_PROBLEMS,
    SAMPLES,
    SFT,
    STAGE_STATS,
    VERDICTS,
    RunLayout,
    arm_of,
    scope_of,
)
from limo_rl.run.modelstore import local_model_path
from limo_rl.run.readers import EvalMetrics
from limo_rl.runtime.cluster import wait_for_resources
from limo_rl.runtime.raysession import ensure_ray, release_resources
from limo_rl.select import cache_inputs as select_inputs
from limo_rl.select.stream import select_from_shards
from limo_rl.train import cache_inputs as train_inputs
from limo_rl.train import run_training
from limo_rl.train.length import ChainLength
from limo_rl.types import SFTExample
from limo_rl.verify import cache_inputs as verify_inputs
from limo_rl.verify import grade_shards

log = logging.getLogger(__name__)


class SeedStages:
    """The stages of one seed under ``<run>/seed<S>/``: each asks its own package what it depends on (its
    ``cache_inputs``) and runs through the run's stage runner (:mod:`limo_rl.loop.cache`)."""

    def __init__(self, recipe: Recipe, runner: StageRunner, run_dir: Path, seed: int, tracker: Tracker):
        self.r, self.runner, self.run_dir, self.seed, self.tracker = recipe, runner, run_dir, seed, tracker
        self.layout = RunLayout(run_dir)

    def scope(self, arm: str, rnd: int | None = None) -> str:
        """Tracker namespace of one arm (and round) of this seed: ``loop/round1/seed0``, ``static/seed0``."""
        return scope_of(arm, self.seed, rnd)

    def provenance(self, stage_dir: Path, rnd: int | None) -> dict[str, Any]:
        return provenance(self.run_dir, self.runner.manifest.data, self.runner.key(stage_dir), self.seed, rnd)

    # ------------------------------------------------------------------ stages
    def pool(self) -> Path:
        d = self.layout.pool_dir
        cfg = self.r
        benchmarks = cfg.evaluate.all_benchmarks()  # test and dev: nothing trained on may overlap either
        self.runner.run(
            "pool", d, pool_cache_inputs(cfg),
            lambda out: build_pool(cfg.pool, benchmarks, dict(cfg.evaluate.paths), out, world_settings(cfg)).stats,
            [POOL_PROBLEMS],
        )
        return d / POOL_PROBLEMS

    def generate(self, problems_path: Path, teacher: ModelRef, d: Path, rnd: int) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            ensure_ray()
            store = self.runner.store  # an object-store run commits each shard as it lands: resume at the shard
            res = run_generation(
                read_problems(problems_path), self.r.generate, teacher.path, out,
                round=rnd, base_seed=self.seed, teacher_name=teacher.name,
                tracker=self.tracker.scoped(self.scope("loop", rnd)),
                wait_s=self.r.hardware.wait_for_nodes_s, start_timeout_s=self.r.hardware.actor_start_timeout_s,
                on_shard=(lambda shard: store.commit_part(out, shard)) if store is not None else None,
                model_id=teacher.fingerprint,  # not its path: a toy model's is node-local on an object-store run
                gpus_per_node=self.r.hardware.gpus_per_node,
            )
            return res.stats

        inputs = generate_inputs(self.r, teacher.fingerprint, problems_path, rnd, self.seed)
        self.runner.run("generate", d, inputs, fn, [CHAINS])
        return d / CHAINS

    def verify(self, problems_path: Path, chains_dir: Path, d: Path, rnd: int) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            golds = _gold_answers(problems_path)  # answers only: the questions stay on disk
            summary = grade_shards(chains_dir, golds, self.r.verify, out / VERDICTS)
            self.tracker.scoped(self.scope("loop", rnd)).log(verify_figures(summary))
            return summary

        self.runner.run("verify", d, verify_inputs(self.r, chains_dir, problems_path), fn, [VERDICTS])
        return d / VERDICTS

    def select(self, problems_path: Path, chains_dir: Path, verdicts_path: Path, d: Path, teacher: ModelRef,
               rnd: int, student: ModelRef | None = None) -> Path:
        """Select the round's SFT set; with ``student`` (whose tokenizer training uses), only chains whose
        rendered conversation fits ``train.max_length``, so the next-best chain stands in for a long one."""
        def fn(out: Path) -> dict[str, Any]:
            fits = None
            if student is not None:
                length = ChainLength.for_model(local_model_path(student.path), self.r.generate.system_prompt,
                                               self.r.train.max_length)
                length.add_problems(iter_problems(problems_path))
                fits = length.fits
            res = select_from_shards(problems_path, chains_dir, verdicts_path, self.r.select,
                                     self.r.generate.system_prompt, out, seed=self.seed, fits=fits)
            card = sft_card(out, self.r, self.provenance(out, rnd), teacher.name, verdicts_path)
            tracker = self.tracker.scoped(self.scope("loop", rnd))
            tracker.log(select_figures(res.stats))
            chains_table(tracker, verdicts_path, out / SFT, chains_dir, self.seed, problems_path)
            tracker.log_artifact(f"sft-{self.run_dir.name}-{self.scope('loop', rnd)}", "dataset",
                                 [out / SFT, out / PARQUET, card], {"examples": res.n_selected})
            return {"n_selected": res.n_selected}

        inputs = select_inputs(self.r, chains_dir, verdicts_path, self.seed,
                               student.fingerprint if student is not None else None)
        self.runner.run("select", d, inputs, fn, [SFT, STAGE_STATS])
        return d / SFT

    def static_data(self, d: Path) -> Path:
        dc, ev = self.r.pool.decontaminate, self.r.evaluate
        names = static_benchmarks(self.r)

        def fn(out: Path) -> dict[str, Any]:
            problems, examples = load_static(self.r.loop.static, self.r.generate.system_prompt, world_settings(self.r))
            rows: list[dict[str, Any]] = []
            if dc.enabled:
                rows = require_clean(f"static set {self.r.loop.static.source}", problems,
                                     load_benchmarks(names, dict(ev.paths), world_settings(self.r)), n=dc.ngram,
                                     ignore_common=dc.ignore_common, fields=dc.fields,
                                     allow=self.r.loop.static.allow_contaminated)
            atomic_write_jsonl(out / DECONTAMINATION, rows)
            atomic_write_jsonl(out / SFT, (e.to_dict() for e in examples))
            sft_card(out, self.r, self.provenance(out, None), None, None, static=True)
            stats = {"available": len(examples), "decontaminated_against": names if dc.enabled else [],
                     "ngram": dc.ngram, "fields": list(dc.fields), "allowed_matches": len(rows)}
            atomic_write_json(out / STAGE_STATS, stats)
            return {"n_examples": len(examples), "allowed_matches": len(rows)}

        # a data-preparation stage like the pool: it runs before any compute and never ends `limo-rl select`
        self.runner.run("pool", d, static_cache_inputs(self.r), fn, [SFT])
        return d / SFT

    def train(self, sft_files: Sequence[Path], init: ModelRef, d: Path, label: str, *,
              examples: Sequence[SFTExample] | None = None, cfg: Any = None,
              extra_inputs: dict[str, Any] | None = None) -> ModelRef:
        """Train ``init`` on the examples of ``sft_files`` (or the given subset ``examples`` of them)."""
        cfg = cfg or self.r.train
        if examples is None:
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
            store = self.runner.store
            try:
                if bundles := stage_bundles(self.r, "train"):  # Ray Train would wait for missing GPUs forever
                    wait_for_resources(bundles, what=f"train ({len(bundles)} GPU workers)",
                                       wait_s=self.r.hardware.wait_for_nodes_s)
                    ensure_ray()  # nodes the autoscaler added must see the run folder too
                res = run_training(examples, init, cfg, out, seed=self.seed,
                                   tracker=self.tracker.scoped(label),
                                   store_uri=store.uri_of(out) if store is not None else None)
            finally:
                release_resources()  # the autoscaler may take the training nodes back
            return res.metrics

        inputs = train_inputs(cfg, init.fingerprint, self.seed, sft_files, extra_inputs)
        marker = self.runner.run("train", d, inputs, fn, [MODEL])
        # an object-store run names the student by its URI: any node loads it from its own cache by content
        path = self.runner.store.uri_of(d / MODEL) if self.runner.store is not None else str(d / MODEL)
        return ModelRef(path, f"train:{marker['input_hash']}", f"{label}/student")

    def evaluate(self, model: ModelRef, d: Path, label: str) -> dict[str, Any]:
        def fn(out: Path) -> dict[str, Any]:
            ensure_ray()
            arm, rnd = arm_of(label)
            res = run_evaluation(model.path, ecfg, self.r.generate, self.r.verify, out,
                                 seed=self.seed, tracker=self.tracker, label=label, world=world_settings(self.r), arm=arm, rnd=rnd,
                                 hardware=self.r.hardware)
            figures = EvalMetrics.from_doc(res.metrics).headline()
            self.tracker.log({f"{label}/{k}": v for k, v in figures.items()})
            return figures

        ecfg = self.r.evaluate.evaluated()  # evaluate.confirm = false: the dev benchmarks only
        inputs = evaluate_inputs(self.r, model.fingerprint, self.seed)
        carry = evaluate_carry(self.r, model.fingerprint, self.seed)  # a benchmark's samples, kept on a regrade
        outputs = [METRICS, SAMPLES, *ecfg.benchmarks]
        return self.runner.run("evaluate", d, inputs, fn, outputs, carry=carry)


def _gold_answers(problems_path: Path) -> dict[str, str]:
    """Problem id -> gold answer, streaming the problems file (the verify stage needs nothing else)."""
    return {p.id: p.answer for p in iter_problems(problems_path)}
