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

The driver only calls stages: every algorithmic choice lives in its stage package, and so does what
the stage depends on (its ``cache_inputs``). Each stage is cached by the hash of those inputs
(:mod:`limo_rl.loop.cache`), so a finished recipe reruns as a no-op, a changed selection weight reruns
selection and what follows but not generation, and a killed run resumes at the stage (and shard) it reached.

Here: the run (lock, lease, manifest, tracker, report, result); one seed's arms are
:mod:`limo_rl.loop.arms`, its stage calls :mod:`limo_rl.loop.stages`, the run's Ray session
:class:`limo_rl.runtime.raysession.RaySession`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from limo_rl.config import Recipe
from limo_rl.console.progress import attach_log_dir, close_display, display, is_quiet
from limo_rl.console.redact import register_env_secrets
from limo_rl.console.tracking import make_tracker
from limo_rl.data.sources import LOADED
from limo_rl.loop.arms import SeedRun
from limo_rl.loop.cache import STAGE_ORDER, StageRunner, StopAfter
from limo_rl.loop.headline import verdict_lines
from limo_rl.loop.preflight import check_inputs, cluster_preflight
from limo_rl.loop.report import accuracy_lines, write_report
from limo_rl.run.artifacts import create_run
from limo_rl.run.layout import REPORT_MD, REPORT_PNG
from limo_rl.run.lease import StoreLease
from limo_rl.run.lock import run_lock
from limo_rl.run.objectstore import RunStore, is_object_store_uri
from limo_rl.run.stagestore import StageStore
from limo_rl.runtime.preflight import preflight
from limo_rl.runtime.raysession import RaySession

log = logging.getLogger(__name__)


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
