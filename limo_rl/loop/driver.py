"""``limo-rl run``: rounds and arms of one recipe, every stage cached, one comparison report.

Per seed:

* **loop arm**, rounds r = 1..R: teacher_r generates k chains per pool problem -> verify ->
  select (difficulty window + ranking + budget) -> train student_r -> evaluate. The recipe
  picks the next teacher (the student, or the fixed teacher), what a student starts from
  (the base model each round as in ReST-EM, or the previous student) and whether the SFT
  data of each round is fresh or accumulates;
* **static arm**: the same base model, trained with the same config on a fixed set (the
  LIMO 817, or any set named in ``loop.static``; all of it, no hold-out), evaluated under the
  same protocol. The set is checked against every evaluated benchmark before any compute
  (a match stops the run unless allowed). ``loop.static.match`` matches it to the loop's last
  round: ``size`` trains on a seeded draw of the loop's realised number of examples, ``steps``
  for the loop's number of optimizer steps;
* **baselines**: the base model and the first teacher, evaluated under the same protocol.

The driver only calls stages: every algorithmic choice lives in its stage package. Each
stage is cached by the hash of its config and inputs (:mod:`limo_rl.loop.cache`), so a
finished recipe reruns as a no-op, a changed selection weight reruns selection and what
follows but not generation, and a killed run resumes at the stage (and shard) it reached.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.config import Recipe
from limo_rl.console.progress import attach_log_dir, close_display, display, is_quiet
from limo_rl.console.redact import register_env_secrets
from limo_rl.console.tracking import Tracker, make_tracker
from limo_rl.data.benchmarks import is_generated_benchmark
from limo_rl.data.decontam import require_clean
from limo_rl.data.io import iter_problems, read_problems
from limo_rl.data.pool import build_pool, load_benchmarks
from limo_rl.data.sources import LOADED
from limo_rl.data.static import load_static
from limo_rl.evaluate import protocol_summary, run_evaluation
from limo_rl.generate import run_generation
from limo_rl.hub.cards import PARQUET
from limo_rl.loop.cache import STAGE_ORDER, StageRunner, StopAfter
from limo_rl.loop.controls import control_arms
from limo_rl.loop.headline import verdict_lines
from limo_rl.loop.matching import match_static, seeded_subsample
from limo_rl.loop.preflight import check_inputs, cluster_preflight, stage_bundles
from limo_rl.loop.report import accuracy_lines, write_report
from limo_rl.loop.share import (
    chains_table,
    provenance,
    select_figures,
    sft_card,
    student_card,
    verify_figures,
)
from limo_rl.resolve import ModelRef, generated_settings, world_settings
from limo_rl.resolve import resolve_model as _resolve
from limo_rl.run.artifacts import (
    atomic_write_json,
    atomic_write_jsonl,
    create_run,
    hash_file,
    hash_obj,
    read_jsonl,
    read_stage_marker,
)
from limo_rl.run.hashing import content_key
from limo_rl.run.layout import (
    CHAINS,
    DECONTAMINATION,
    MATCH,
    METRICS,
    MODEL,
    POOL_PROBLEMS,
    REPORT_MD,
    REPORT_PNG,
    SAMPLES,
    SFT,
    STAGE_STATS,
    VERDICTS,
    RunLayout,
    arm_of,
    curve_arm,
    scope_of,
    stage_dir,
)
from limo_rl.run.lease import StoreLease
from limo_rl.run.lock import run_lock
from limo_rl.run.modelstore import local_model_path
from limo_rl.run.objectstore import RunStore, is_object_store_uri
from limo_rl.run.readers import EvalMetrics
from limo_rl.run.stagestore import StageStore
from limo_rl.runtime.cluster import wait_for_resources
from limo_rl.runtime.preflight import preflight
from limo_rl.runtime.raysession import RaySession, ensure_ray, release_resources
from limo_rl.select.stream import select_from_shards
from limo_rl.train import run_training
from limo_rl.train.length import ChainLength
from limo_rl.types import SFTExample
from limo_rl.verify import grade_shards

log = logging.getLogger(__name__)


def resolve_model(uri: str, recipe: Recipe, engine: str = "hf", label: str = "model") -> ModelRef:
    """A recipe's model name through the one resolver (:mod:`limo_rl.resolve`), under its world settings."""
    return _resolve(uri, world=world_settings(recipe), output_dir=recipe.run.output_dir, engine=engine, label=label)


class SeedRun:
    """All arms of one seed under ``<run>/seed<S>/``."""

    def __init__(self, recipe: Recipe, runner: StageRunner, run_dir: Path, seed: int, tracker: Tracker):
        self.r, self.runner, self.run_dir, self.seed, self.tracker = recipe, runner, run_dir, seed, tracker
        self.layout = RunLayout(run_dir)

    def scope(self, arm: str, rnd: int | None = None) -> str:
        """Tracker namespace of one arm (and round) of this seed: ``loop/round1/seed0``, ``static/seed0``."""
        return scope_of(arm, self.seed, rnd)

    def provenance(self, stage_dir: Path, rnd: int | None) -> dict[str, Any]:
        return provenance(self.run_dir, self.runner.manifest.data, self.runner.key(stage_dir), self.seed, rnd)

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
            self.last_round = (rd, sft_files, init)
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

    # ------------------------------------------------------------------ stages
    def pool(self) -> Path:
        d = self.layout.pool_dir
        cfg = self.r
        benchmarks = cfg.evaluate.all_benchmarks()  # test and dev: nothing trained on may overlap either
        inputs = {"pool": cfg.pool.model_dump(), "benchmarks": benchmarks, "paths": cfg.evaluate.paths,
                  "content": {"source": content_key(cfg.pool.source),
                              "paths": {b: content_key(p) for b, p in cfg.evaluate.paths.items()}},
                  **self._world_inputs()}
        self.runner.run(
            "pool", d, inputs,
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

        inputs = {"generate": self.r.generate.model_dump(), "teacher": teacher.fingerprint,
                  "problems": hash_file(problems_path), "round": rnd, "seed": self.seed}
        self.runner.run("generate", d, inputs, fn, [CHAINS])
        return d / CHAINS

    def verify(self, problems_path: Path, chains_dir: Path, d: Path, rnd: int) -> Path:
        def fn(out: Path) -> dict[str, Any]:
            golds = _gold_answers(problems_path)  # answers only: the questions stay on disk
            summary = grade_shards(chains_dir, golds, self.r.verify, out / VERDICTS)
            self.tracker.scoped(self.scope("loop", rnd)).log(verify_figures(summary))
            return summary

        inputs = {"verify": self.r.verify.model_dump(), "chains": self._marker_hash(chains_dir.parent),
                  "problems": hash_file(problems_path)}
        self.runner.run("verify", d, inputs, fn, [VERDICTS])
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

        inputs = {"select": self.r.select.model_dump(), "system_prompt": self.r.generate.system_prompt,
                  "verdicts": self._marker_hash(verdicts_path.parent), "chains": self._marker_hash(chains_dir.parent),
                  "seed": self.seed}
        if student is not None:  # the length rule: the training tokenizer and its limit
            inputs["length"] = {"tokenizer": student.fingerprint, "max_length": self.r.train.max_length}
        self.runner.run("select", d, inputs, fn, [SFT, STAGE_STATS])
        return d / SFT

    def static_data(self, d: Path) -> Path:
        dc, ev = self.r.pool.decontaminate, self.r.evaluate
        names = sorted(set(ev.all_benchmarks()) | set(dc.benchmarks or []))

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

        inputs = {"static": self.r.loop.static.model_dump(exclude={"match", "match_seed", "curve", "curve_draws"}),
                  "system_prompt": self.r.generate.system_prompt,
                  "content": content_key(self.r.loop.static.source),
                  "toy": generated_settings(self.r, self.r.loop.static.source, self.r.loop.static.format),
                  "decontaminate": dc.model_dump() if dc.enabled else None, "benchmarks": names,
                  "paths": {k: v for k, v in ev.paths.items() if k in names},
                  "path_content": {k: content_key(v) for k, v in ev.paths.items() if k in names},
                  **self._world_inputs()}
        # a data-preparation stage like the pool: it runs before any compute and never ends `limo-rl select`
        self.runner.run("pool", d, inputs, fn, [SFT])
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

        inputs = {"train": cfg.key_dict(), "init": init.fingerprint, "seed": self.seed,
                  "data": [hash_file(f) for f in sft_files],
                  "validation": content_key(cfg.validation_file) if cfg.validation_file else None,
                  **(extra_inputs or {})}
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

        gen = self.r.generate.model_dump(exclude={"model", "n", "temperature", "top_p", "max_new_tokens"})
        ecfg = self.r.evaluate.evaluated()  # evaluate.confirm = false: the dev benchmarks only
        files = {b: content_key(p) for b, p in ecfg.paths.items()}
        protocols = protocol_summary(ecfg)
        world = self._world_inputs()
        inputs = {"evaluate": ecfg.key_dict(), "protocol": protocols, "files": files,
                  "generate": gen, "verify": self.r.verify.model_dump(),
                  "model": model.fingerprint, "seed": self.seed, **world}
        # A benchmark's samples depend on the model, the engine, its sampling protocol, its problems and the
        # seed, not on grading or statistics (verify.*, evaluate.k, bootstrap_samples, ci_level): reuse them.
        samples = {b: {"model": model.fingerprint, "generate": gen, "file": files.get(b), "limit": ecfg.limit,
                       "seed": ecfg.seed if ecfg.seed is not None else self.seed, **world,
                       "protocol": {k: v for k, v in protocols[b].items() if k != "ks"}} for b in ecfg.benchmarks}
        # grades ride along: the harness re-keys them by chains, gold and verify config and regrades on a change
        carry = {f"{b}/{part}": samples[b] for b in ecfg.benchmarks for part in ("generate", "verify")}
        outputs = [METRICS, SAMPLES, *ecfg.benchmarks]
        return self.runner.run("evaluate", d, inputs, fn, outputs, carry=carry)

    def _world_inputs(self) -> dict[str, Any]:
        """The world settings generated benchmarks (toy_eval without a file) are made under: part of the
        inputs of the stages that load them, so changing ``toy.difficulty`` re-evaluates. Absent when no
        benchmark is generated, so the cache keys of file-based runs are what they were."""
        ev = self.r.evaluate
        if any(is_generated_benchmark(b) and b not in ev.paths for b in ev.all_benchmarks()):
            return {"world": self.r.toy.model_dump()}
        return {}

    @staticmethod
    def _marker_hash(stage_dir: Path) -> str:
        marker = read_stage_marker(stage_dir) or {}
        return hash_obj(marker.get("outputs") or {})


def _gold_answers(problems_path: Path) -> dict[str, str]:
    """Problem id -> gold answer, streaming the problems file (the verify stage needs nothing else)."""
    return {p.id: p.answer for p in iter_problems(problems_path)}


def stages_for(stop_after: str | None) -> list[str]:
    return list(STAGE_ORDER if stop_after is None else STAGE_ORDER[: STAGE_ORDER.index(stop_after) + 1])


def run_recipe(
    recipe: Recipe, argv: Sequence[str] | None = None, *, stop_after: str | None = None,
    from_stage: str | None = None,
) -> int:
    """Run a recipe (or, with ``stop_after``, the first round of its loop arm up to that stage)."""
    preflight(recipe, stages_for(stop_after))
    check_inputs(recipe, stages_for(stop_after))
    with RaySession() as session:  # Ray started for the run ends with it; a session found up is left as is
        cluster_preflight(recipe, stages_for(stop_after))  # may start Ray: GPU recipes check the nodes first
        argv = list(argv) if argv is not None else sys.argv
        store = open_store(recipe)
        run_path = store.local if store is not None else Path(recipe.run.output_dir) / recipe.run.name
        # one writer per run folder (and, for an object-store run, one driver per run: the store's lease)
        lease = StoreLease(store, argv).held() if store is not None else contextlib.nullcontext()
        with run_lock(run_path, argv), lease:
            if store is not None:
                store.pull()  # the committed state: a fresh machine resumes where the store says
            return _run_locked(recipe, argv, stop_after, from_stage, session, run_path, store)


def open_store(recipe: Recipe) -> RunStore | None:
    """The run's object store (``run.output_dir: s3://...``), or None for a local (or shared) run folder."""
    out = recipe.run.output_dir
    return RunStore(f"{out}/{recipe.run.name}") if is_object_store_uri(out) else None


def _run_locked(recipe: Recipe, argv: list[str], stop_after: str | None, from_stage: str | None,
                session: RaySession, run_path: Path, store: RunStore | None) -> int:
    session.bind(run_path)  # ends the cluster a killed earlier driver of this run left
    register_env_secrets([recipe.generate.openai.api_key_env])  # scrubbed from the manifest and errors
    run_dir, manifest = create_run(recipe, argv, run_path)
    if store is not None:
        store.push_file(run_dir.config_path)
        store.push_file(manifest.path)
    logs = attach_log_dir(run_dir.path / "logs").parent
    seeds = recipe.run.all_seeds()
    display().line(f"limo-rl run {recipe.run.name}: {recipe.loop.rounds} round(s) x {len(seeds)} seed(s) -> "
                   f"{run_dir.path}  (logs: {logs})")
    tracker = make_tracker(recipe.tracking, run_dir.path, recipe.to_dict(), name=recipe.run.name)
    stages = StageStore.of_output_dir(recipe.run.output_dir) if store is None and recipe.run.share_stages else None
    runner = StageRunner(run_dir.path, manifest, from_stage=from_stage, stop_after=stop_after, store=store,
                         stages=stages)
    status = "failed"
    try:
        for seed in seeds:
            SeedRun(recipe, runner, run_dir.path, seed, tracker).run()
        status = "finished"
    except StopAfter as stop:
        status = f"stopped after {stop}"
    finally:
        manifest.data.setdefault("data_revisions", {}).update(LOADED)  # Hub datasets at the commit loaded
        try:
            manifest.finish(status)
        except OSError as exc:  # a full disk must not hide why the run failed (the stage's record is written)
            if status != "failed":
                raise
            log.error("could not record the run's end in %s: %s", manifest.path, exc)
        runner.push(manifest.path)
        session.close()  # no autoscaler request outlives the run; Ray started for it ends (a crash included)
        if status == "failed":
            close_display()
    if status == "finished" and (runner.ran or not run_dir.report_md.exists()):
        summary = write_report(run_dir.path, tracker=tracker)
        manifest.data["headline"] = summary
        manifest.save()
        for path in (run_dir.report_md, run_dir.report_png, run_dir.manifest_path):
            runner.push(path)
        tracker.log_artifact(f"report-{recipe.run.name}", "report", [run_dir.report_md, run_dir.report_png], summary)
    tracker.finish()  # before the result: the run's last lines are its own
    close_display()
    _print_result(run_dir.path, runner, status, tracker.location())
    return 0


def _print_result(run_dir: Path, runner: StageRunner, status: str, wandb_at: str | None = None) -> None:
    """The run's result on stdout: the accuracy table, the verdict table, then where the W&B run, the report
    and its figure are."""
    out = display()
    if not is_quiet():
        shared = f" ({len(runner.reused)} from the stage store)" if runner.reused else ""
        work = (f"ran {len(runner.ran)} stage(s), reused {len(runner.skipped)}{shared}" if runner.ran else
                f"nothing to do, every stage is done with the same inputs ({len(runner.skipped)} reused{shared})")
        out.line(f"\n{run_dir}: {status}; {work}", err=False)
        if status == "finished":
            out.line("", err=False)
            for line in accuracy_lines(run_dir):
                out.line(line, err=False)
            out.line("", err=False)
            verdicts = verdict_lines(run_dir)
            for line in verdicts:
                out.line(line, err=False)
            if verdicts:
                out.line("", err=False)
        if wandb_at:
            out.line(f"{'W&B':<11} {wandb_at}", err=False)
    for name in (REPORT_MD, REPORT_PNG):
        if (run_dir / name).is_file():
            out.line(f"{name:<11} {run_dir / name}" if not is_quiet() else str(run_dir / name), err=False)
