"""Everything about a recipe's inputs that can be known before the first stage, checked before it.

The machine checks (is vLLM installed, an API key) are :mod:`limo_rl.runtime.preflight`; here are the
checks against the Ray cluster's nodes, from each stage's own resource bundles (:func:`cluster_preflight`),
and the checks that look at the recipe's *names*: model names (through :func:`limo_rl.resolve.model_problem`,
without building anything), local data files,
sampling settings the chosen engine cannot honour, and whether the run folder can be written. Each
used to fail late (after generation or training, as a traceback); now all problems are reported at
once, each naming its key, as one :class:`~limo_rl.config.RecipeError` (exit code 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from limo_rl.config import Recipe
from limo_rl.errors import RecipeError
from limo_rl.evaluate import resources as evaluate_resources
from limo_rl.evaluate.presets import resolve_protocol
from limo_rl.generate import pool as generate_pool
from limo_rl.loop.controls import control_problem
from limo_rl.resolve import generated_source, model_problem
from limo_rl.run.artifacts import writable_problem
from limo_rl.run.objectstore import is_object_store_uri, work_root
from limo_rl.runtime.cluster import Bundle, ClusterError, Node, bundle_problems, cluster_nodes
from limo_rl.runtime.raysession import ensure_ray
from limo_rl.train import launcher as train_launcher

DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


def _data_problem(key: str, source: str, fmt: str = "auto") -> str | None:
    looks_file = fmt in ("jsonl", "parquet") or source.endswith(DATA_SUFFIXES) or source.startswith(("/", ".", "~"))
    if generated_source(source, fmt) is not None or not looks_file:
        return None
    path = Path(source).expanduser()
    if not path.is_file():
        return f"{key} = {source!r}: file not found"
    return None


def check_inputs(recipe: Recipe, stages: Iterable[str]) -> None:
    """Raise RecipeError listing every input problem of the stages that will run (before any of them runs)."""
    stages = set(stages)
    r = recipe
    problems: list[str] = []
    uses_teacher = "generate" in stages
    uses_base = bool({"train", "evaluate"} & stages)
    if uses_teacher and r.generate.engine != "openai":
        problems.append(model_problem(r.generate.model, engine=r.generate.engine, label="generate.model"))
    if uses_base:
        problems.append(model_problem(r.train.model, label="train.model"))
    if "pool" in stages:
        problems.append(_data_problem("pool.source", r.pool.source, r.pool.format))
    if "evaluate" in stages or "pool" in stages:
        for bench, path in r.evaluate.paths.items():
            if not Path(path).expanduser().is_file():
                problems.append(f"evaluate.paths.{bench} = {path!r}: file not found")
    if "train" in stages:
        if r.train.validation_file and not Path(r.train.validation_file).expanduser().is_file():
            problems.append(f"train.validation_file = {r.train.validation_file!r}: file not found")
        if r.loop.static.enabled:
            problems.append(_data_problem("loop.static.source", r.loop.static.source, r.loop.static.format))
        problems.append(control_problem(r))
    if r.generate.engine == "hf":
        # transformers refuses num_return_sequences > 1 without sampling ("greedy methods ... do not support")
        if uses_teacher and r.generate.n > 1 and r.generate.temperature == 0:
            problems.append(f"generate.n = {r.generate.n} with generate.temperature = 0: the hf engine cannot "
                            "draw several greedy samples (they would be identical); set a temperature or n=1")
        if "evaluate" in stages:
            # the protocol's own warning about identical greedy samples would repeat the error made here
            presets_log = logging.getLogger(resolve_protocol.__module__)
            was_disabled, presets_log.disabled = presets_log.disabled, True
            try:
                protocols = [(bench, resolve_protocol(r.evaluate, bench)) for bench in r.evaluate.benchmarks]
            finally:
                presets_log.disabled = was_disabled
            for bench, proto in protocols:
                if proto.n > 1 and proto.temperature == 0:
                    problems.append(f"evaluate.n = {proto.n} with evaluate.temperature = 0 ({bench}): the hf engine "
                                    "cannot draw several greedy samples; set evaluate.temperature or evaluate.n=1")
    if is_object_store_uri(r.run.output_dir):  # the store is checked when the run takes its lease
        problems.append(writable_problem(work_root(), folder=True))
    else:
        out = Path(r.run.output_dir) / r.run.name
        problems.append(writable_problem(out, folder=True) if not out.exists() or out.is_dir()
                        else f"run.output_dir/run.name = {out}: exists and is not a folder")
    problems = [p for p in problems if p]
    if problems:
        raise RecipeError("the recipe's inputs cannot run (checked before any stage):\n"
                          + "\n".join(f"  - {p}" for p in dict.fromkeys(problems)))


def stage_bundles(recipe: Recipe, stage: str) -> list[Bundle]:
    """The GPU bundles ``stage`` of ``recipe`` asks Ray for: the stage's own (from the recipe alone, never from
    what is up now); none for a stage on CPUs or without actors."""
    gpus_per_node = recipe.hardware.gpus_per_node
    if stage == "generate":
        return generate_pool.stage_bundles(recipe.generate, gpus_per_node)
    if stage == "evaluate":
        return evaluate_resources.stage_bundles(recipe.generate, gpus_per_node)
    if stage == "train":
        return train_launcher.stage_bundles(recipe.train)
    return []


def cluster_problems(recipe: Recipe, stages: Sequence[str],
                     nodes_fn: Callable[[], list[Node]] | None = None) -> list[str]:
    """GPU checks for ``stages`` against the cluster's nodes; skipped for what an autoscaler may still add."""
    wanted = [(s, b) for s in ("generate", "evaluate", "train") if s in stages if (b := stage_bundles(recipe, s))]
    if not wanted or recipe.hardware.wait_for_nodes_s > 0:  # the stages wait for the autoscaler when they start
        return []
    return bundle_problems(wanted, (nodes_fn or cluster_nodes)())


def cluster_preflight(recipe: Recipe, stages: Sequence[str]) -> None:
    """GPU checks on the Ray cluster's nodes (never the driver's CUDA), before any compute.

    Only for recipes whose stages ask for GPUs: Ray is started or joined here, under the command's
    session (:class:`limo_rl.runtime.raysession.RaySession`, which ends it). With
    ``hardware.wait_for_nodes_s`` > 0 the stages wait for an autoscaler when they start instead
    (:func:`limo_rl.runtime.cluster.wait_for_resources`).
    """
    if not any(stage_bundles(recipe, s) for s in stages):
        return
    ensure_ray()
    problems = cluster_problems(recipe, stages)
    if problems:
        raise ClusterError("the Ray cluster cannot run the recipe:\n" + "\n".join(f"  - {p}" for p in problems))
