"""``limo-rl export RUN --format lighteval``: a run's evaluations in lighteval's results layout.

lighteval writes one ``results/<model name>/results_<time>.json`` per evaluated model, keyed by task
(``suite|task|few-shots``) with ``config_general``, ``results``, ``versions`` and ``config_tasks``;
tools that read lighteval's output (leaderboards, open-r1's tables, ``datasets`` on a results repo)
read these. Here every evaluated arm of every seed (``loop round R``, ``static``, ``base``, ``teacher``)
becomes one such file. Benchmarks carry lighteval's task names (``math500`` -> ``lighteval|math_500|0``)
and the Hub dataset they are (``HuggingFaceH4/MATH-500``, its split and revision) in ``config_tasks``;
benchmarks lighteval does not know keep limo_rl's name under the ``limo_rl`` suite. Metrics keep
limo_rl's exact names (``pass@1[avg of 16]``, ``maj@16``) as fractions; ``<metric>_stderr`` is the
bootstrap interval's half-width over the normal quantile of its level (an approximation of a
standard error, since the interval is a percentile bootstrap).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from statistics import NormalDist
from typing import Any

from limo_rl import __version__
from limo_rl.data.benchmarks import hub_dataset
from limo_rl.run.artifacts import atomic_write_json
from limo_rl.run.layout import RunLayout
from limo_rl.run.readers import EvalMetrics, MetricValue, read_eval_metrics

# limo_rl benchmark -> lighteval task name (the names open-r1's lighteval tasks use)
LIGHTEVAL_TASKS = {"aime24": "aime24", "aime25": "aime25", "math500": "math_500", "gpqa_diamond": "gpqa:diamond",
                   "amc23": "amc23"}
FORMATS = ("lighteval",)


def task_key(benchmark: str) -> str:
    """``lighteval|math_500|0`` for a benchmark lighteval knows, ``limo_rl|toy_eval|0`` otherwise."""
    name = LIGHTEVAL_TASKS.get(benchmark)
    return f"lighteval|{name}|0" if name else f"limo_rl|{benchmark}|0"


def _stderr(m: MetricValue, level: float) -> float | None:
    lo, hi = m.ci_low, m.ci_high
    if lo is None or hi is None:
        return None
    return (hi - lo) / (2 * NormalDist().inv_cdf(0.5 + level / 2))


def lighteval_doc(doc: EvalMetrics, model_name: str) -> dict[str, Any]:
    """One evaluation's ``metrics.json`` in lighteval's results layout."""
    level = float(doc.ci_level or 0.95)
    results: dict[str, dict[str, float]] = {}
    versions: dict[str, int] = {}
    tasks: dict[str, dict[str, Any]] = {}
    for bench, entry in doc.items():
        key = task_key(bench)
        figures: dict[str, float] = {}
        for name, m in entry.metrics.items():
            figures[name] = m.value
            se = _stderr(m, level)
            if se is not None:
                figures[f"{name}_stderr"] = se
        results[key], versions[key] = figures, 1
        hub = hub_dataset(bench) or {}
        proto = entry.protocol
        tasks[key] = {
            "name": key.split("|")[1], "limo_rl_benchmark": bench, "hf_repo": hub.get("id"),
            "hf_subset": hub.get("config") or "default", "hf_revision": hub.get("revision"),
            "evaluation_splits": [hub["split"]] if hub.get("split") else [], "generation_size": proto.get("max_new_tokens"),
            "num_samples": [proto.get("n")], "primary_metric": entry.primary,
            "n_problems": entry.n_problems, "split": entry.split,
        }
    primaries = [r[e.primary] for b, e in doc.items() if (r := results.get(task_key(b))) and e.primary in r]
    if primaries:
        results["all"] = {"primary_mean": sum(primaries) / len(primaries)}
    return {
        "config_general": {"model_name": model_name, "model_path": doc.model, "lighteval_sha": None,
                           "exported_by": f"limo_rl {__version__}", "preset": doc.preset,
                           "seed": doc.seed, "grader": doc.grader,
                           "total_evaluation_time_secondes": doc.wall_s},
        "results": results, "versions": versions, "config_tasks": tasks,
        "summary_tasks": {k: {"effective_few_shots": 0} for k in results if k != "all"},
        "summary_general": {},
    }


def export_lighteval(run_dir: str | Path, out: str | Path) -> list[Path]:
    """One results file per evaluated arm and seed of the run, under ``out/results/<run>/<arm>...``."""
    run_dir, out = Path(run_dir), Path(out)
    layout = RunLayout(run_dir)
    written = []
    for seed in layout.seeds():
        for ed in layout.eval_dirs(seed):
            if not ed.metrics_path.is_file():
                continue
            doc = read_eval_metrics(ed.metrics_path)
            if not doc.benchmarks:
                continue
            label = f"{ed.arm}{'' if ed.round is None else f'-round{ed.round}'}-seed{seed}"
            model_name = f"{run_dir.name}/{label}"
            when = datetime.fromtimestamp(ed.metrics_path.stat().st_mtime, tz=timezone.utc)
            path = out / "results" / run_dir.name / label / f"results_{when:%Y-%m-%dT%H-%M-%S.%f}.json"
            atomic_write_json(path, lighteval_doc(doc, model_name))
            written.append(path)
    return written

