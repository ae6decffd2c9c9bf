"""The one owner of a run directory's layout: every stage folder and file the loop writes and reads.

```
<run>/config.yaml, manifest.json, report.md, report.json, report.png
<run>/pool/problems.jsonl
<run>/seed<S>/loop/round<R>/{generate/chains, verify/verdicts, select/{sft.jsonl,stats.json}, train/model, evaluate}
<run>/seed<S>/static/{data/sft.jsonl, match.json, train/model, evaluate}
<run>/seed<S>/static_curve/n<N>/draw<D>/{match.json, train, evaluate}   (loop.static.curve)
<run>/seed<S>/control/<name>/{data/{sft.jsonl,stats.json}, match.json, train/model, evaluate}   (loop.controls)
<run>/seed<S>/baselines/{base,teacher}/evaluate
<evaluate>/metrics.json, <evaluate>/samples.parquet, <evaluate>/<benchmark>/{generate,verify/verdicts.jsonl}
<train>/train_metrics.json
```

``verify/verdicts/`` holds one verdict shard per chain shard (``shard-*.<tag>.jsonl``, read by
:func:`limo_rl.verify.stage.iter_verdict_rows`); an evaluation grades into one ``verdicts.jsonl`` per benchmark.
Every other module names these folders and files through this one: the driver asks :class:`RunLayout` where
to write (:meth:`RunLayout.stage_dir`), the report, ``hub`` and ``evaluate`` ask it what is there
(:meth:`RunLayout.seeds`, :meth:`RunLayout.rounds`, :meth:`RunLayout.arms`) and read the files back through the
typed readers below (:func:`read_eval_metrics`, :func:`read_train_figures`), not by glob and dict.
(``tests/unit/test_layout_owner.py`` holds every other module to that.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.errors import LimoError

# ---------------------------------------------------------------------------------------- file names
CONFIG = "config.yaml"  # the resolved recipe
MANIFEST = "manifest.json"  # provenance and per-stage status (limo_rl.run.artifacts.Manifest)
REPORT_MD, REPORT_JSON, REPORT_PNG = "report.md", "report.json", "report.png"
POOL_PROBLEMS = "problems.jsonl"
CHAINS = "chains"  # the generate stage: a folder of chain shards
VERDICTS = "verdicts"  # the verify stage: a folder of verdict shards
EVAL_VERDICTS = "verdicts.jsonl"  # an evaluation's grades of one benchmark
SFT = "sft.jsonl"
STAGE_STATS = "stats.json"  # what a stage realised: a selection step by step, a generation, a fixed set
POOL_STATS = "pool_stats.json"  # the pool stage's steps and what each removed
DECONTAMINATION = "decontamination.jsonl"  # each problem a decontamination removed or allowed, and its match
DIFFICULTY = "difficulty.jsonl"  # every problem's pass rate and fate in a selection
MODEL = "model"  # <train>/model: the student (HF format)
CHECKPOINTS = "checkpoints"  # <train>/checkpoints
TRAIN_ROWS = "data"  # <train>/data/{train,validation,dropped_over_length}.jsonl: the rows a training used
METRICS = "metrics.json"
SAMPLES = "samples.parquet"
TRAIN_METRICS = "train_metrics.json"
MATCH = "match.json"

# ---------------------------------------------------------------------------------------- stage folders
POOL, GENERATE, VERIFY, SELECT, TRAIN, EVALUATE = "pool", "generate", "verify", "select", "train", "evaluate"
DATA = "data"  # a fixed SFT set's folder (the static arm's, a control's): a select-like stage
STAGE_FOLDERS = (GENERATE, VERIFY, SELECT, TRAIN, EVALUATE, DATA)
LOOP, STATIC, CONTROL, BASELINES, STATIC_CURVE = "loop", "static", "control", "baselines", "static_curve"
BASELINE_ARMS = ("base", "teacher")
_SEED, _ROUND = re.compile(r"seed(\d+)"), re.compile(r"round(\d+)")


def stage_dir(arm_dir: str | Path, stage: str) -> Path:
    """``<arm>/<stage>``: a stage folder of an arm folder (``stage`` one of :data:`STAGE_FOLDERS`)."""
    if stage not in STAGE_FOLDERS:
        raise ValueError(f"{stage!r} is no stage folder (one of {', '.join(STAGE_FOLDERS)})")
    return Path(arm_dir) / stage


def sft_file(label: str, arm_dir: str | Path) -> Path | None:
    """The SFT set an arm (by its :meth:`RunLayout.arms` label) trained on: a loop round's selection, the
    static arm's or a control's data; None for an arm without one (baselines, curve points)."""
    if loop_round(label) is not None:
        return stage_dir(arm_dir, SELECT) / SFT
    if label == STATIC or label.startswith(f"{CONTROL}/"):
        return stage_dir(arm_dir, DATA) / SFT
    return None


def arm_of(scope: str) -> tuple[str, int | None]:
    """A tracker scope's arm and round: ``loop/round2/seed0`` -> (loop, 2), ``baseline/base/seed0`` -> (base,
    None), ``static/n10/draw0/seed0`` -> (static/n10/draw0, None)."""
    parts = [p for p in scope.split("/") if not _SEED.fullmatch(p)]
    rnd = next((int(m.group(1)) for p in parts if (m := _ROUND.fullmatch(p))), None)
    parts = [p for p in parts if not _ROUND.fullmatch(p)]
    if parts[:1] == ["baseline"]:
        parts = parts[1:]
    return "/".join(parts), rnd


def scope_of(arm: str, seed: int, rnd: int | None = None) -> str:
    """Tracker namespace of one arm (and round) of a seed: ``loop/round1/seed0``, ``static/seed0``."""
    return f"{arm}/round{rnd}/seed{seed}" if rnd is not None else f"{arm}/seed{seed}"


def loop_arm(rnd: int) -> str:
    """The arm label of a loop round: ``loop/round<R>``."""
    return f"{LOOP}/round{rnd}"


def loop_round(label: str) -> int | None:
    """The round of a loop arm label (``loop/round2`` -> 2), None for any other arm."""
    m = re.fullmatch(rf"{LOOP}/round(\d+)", label)
    return int(m.group(1)) if m else None


def stage_key_parts(key: str) -> tuple[list[str], str | None, str | None]:
    """A stage's key (its folder in the run, ``seed0/loop/round1/generate``) -> (its arm's folders without seed,
    round and ``baselines``, round, seed): ``(["loop"], "1", "0")``."""
    parts = key.split("/")[:-1]
    seed = next((p[4:] for p in parts if p.startswith("seed") and p[4:].isdigit()), None)
    rnd = next((p[5:] for p in parts if p.startswith("round") and p[5:].isdigit()), None)
    arm = [p for p in parts if not (p.startswith("seed") or p.startswith("round") or p == BASELINES)]
    return arm, rnd, seed


def curve_arm(size: int, draw: int) -> str:
    """The arm label of one data-size curve point: ``static/n<N>/draw<D>``."""
    return f"{STATIC}/n{size}/draw{draw}"


@dataclass(frozen=True)
class EvalDir:
    """One evaluation of a seed: its arm (loop, static, base, teacher), round (loop arm only) and folder."""

    arm: str
    round: int | None
    path: Path

    def benchmark_verdicts(self) -> list[tuple[str, Path]]:
        """(benchmark, verdicts file) of each benchmark evaluated here, by name."""
        return [(p.parent.parent.name, p) for p in sorted(self.path.glob(f"*/{VERIFY}/{EVAL_VERDICTS}"))]

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS


def bench_stage_dir(eval_dir: str | Path, benchmark: str, stage: str) -> Path:
    """``<evaluate>/<benchmark>/<generate|verify>``: an evaluation's own generate and verify folders."""
    if stage not in (GENERATE, VERIFY):
        raise ValueError(f"an evaluation has no {stage!r} folder per benchmark")
    return Path(eval_dir) / benchmark / stage


@dataclass(frozen=True)
class RunLayout:
    """``<output_dir>/<run name>/``: where every stage of every arm goes, and what is there."""

    path: Path

    # ------------------------------------------------------------------ run-level files
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_png(self) -> Path:
        return self.path / REPORT_PNG

    def is_run(self) -> bool:
        """A limo-rl run folder: it has its resolved recipe."""
        return self.config_path.is_file()

    # ------------------------------------------------------------------ where things go
    @property
    def pool_dir(self) -> Path:
        return self.path / POOL

    @property
    def pool_problems(self) -> Path:
        return self.pool_dir / POOL_PROBLEMS

    def seed_dir(self, seed: int) -> Path:
        return self.path / f"seed{seed}"

    def round_dir(self, seed: int, rnd: int) -> Path:
        return self.seed_dir(seed) / LOOP / f"round{rnd}"

    def static_dir(self, seed: int) -> Path:
        return self.seed_dir(seed) / STATIC

    def baseline_dir(self, seed: int, which: str) -> Path:
        return self.seed_dir(seed) / BASELINES / which

    def baseline_eval_dir(self, seed: int, which: str) -> Path:
        return self.baseline_dir(seed, which) / EVALUATE

    def curve_dir(self, seed: int, size: int, draw: int) -> Path:
        return self.seed_dir(seed) / STATIC_CURVE / f"n{size}" / f"draw{draw}"

    def control_dir(self, seed: int, name: str) -> Path:
        return self.seed_dir(seed) / CONTROL / name

    def arm_dir(self, seed: int, arm: str, rnd: int | None = None) -> Path:
        """An arm's folder: ``loop`` (with its round), ``static``, ``base``, ``teacher``, ``control/<name>``."""
        if arm == LOOP:
            if rnd is None:
                raise ValueError("the loop arm's folder needs a round")
            return self.round_dir(seed, rnd)
        if arm == STATIC:
            return self.static_dir(seed)
        if arm in BASELINE_ARMS:
            return self.baseline_dir(seed, arm)
        if arm.startswith(f"{CONTROL}/"):
            return self.control_dir(seed, arm[len(CONTROL) + 1:])
        raise ValueError(f"no arm {arm!r} (loop, static, base, teacher or control/<name>)")

    def stage_dir(self, seed: int, arm: str, rnd: int | None, stage: str) -> Path:
        """``stage_dir(0, "loop", 2, "generate")`` -> ``<run>/seed0/loop/round2/generate``."""
        return stage_dir(self.arm_dir(seed, arm, rnd), stage)

    def controls(self, seed: int) -> list[str]:
        return sorted(d.name for d in (self.seed_dir(seed) / CONTROL).glob("*") if d.is_dir())

    # ------------------------------------------------------------------ what is there
    def seeds(self) -> list[int]:
        found = (_SEED.fullmatch(d.name) for d in self.path.glob("seed*") if d.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def seed_dirs(self) -> Iterator[tuple[int, Path]]:
        """(seed, folder) of every seed present, by seed."""
        for seed in self.seeds():
            yield seed, self.seed_dir(seed)

    def rounds(self, seed: int) -> list[int]:
        found = (_ROUND.fullmatch(d.name) for d in (self.seed_dir(seed) / LOOP).glob("round*"))
        return sorted(int(m.group(1)) for m in found if m)

    def arms(self, seed: int) -> list[tuple[str, Path]]:
        """(label, folder) of every arm of a seed: ``loop/round<R>``, ``static``, ``base``, ``teacher``,
        ``control/<name>``, ``static/n<N>/draw<D>`` (data-size curve); labels as the report's comparisons name them."""
        out = [(loop_arm(r), self.round_dir(seed, r)) for r in self.rounds(seed)]
        for label, d in ((STATIC, self.static_dir(seed)), *((b, self.baseline_dir(seed, b)) for b in BASELINE_ARMS)):
            if d.is_dir():
                out.append((label, d))
        out += [(f"{CONTROL}/{c}", self.control_dir(seed, c)) for c in self.controls(seed)]
        curve = self.seed_dir(seed) / STATIC_CURVE
        sizes = sorted((int(n.name[1:]), n) for n in curve.glob("n*") if n.is_dir() and n.name[1:].isdigit())
        for _, n in sizes:
            for draw in sorted(n.glob("draw*"), key=lambda p: p.name):
                out.append((f"{STATIC}/{n.name}/{draw.name}", draw))  # curve_arm(N, D)
        return out

    def eval_dirs(self, seed: int) -> list[EvalDir]:
        out = [EvalDir(LOOP, r, self.round_dir(seed, r) / EVALUATE) for r in self.rounds(seed)
               if (self.round_dir(seed, r) / EVALUATE).is_dir()]
        for arm, d in ((STATIC, self.static_dir(seed) / EVALUATE),
                       *((b, self.baseline_eval_dir(seed, b)) for b in BASELINE_ARMS)):
            if d.is_dir():
                out.append(EvalDir(arm, None, d))
        out += [EvalDir(f"{CONTROL}/{c}", None, self.control_dir(seed, c) / EVALUATE) for c in self.controls(seed)
                if (self.control_dir(seed, c) / EVALUATE).is_dir()]
        return out


# ---------------------------------------------------------------------------------------- typed readers
@dataclass(frozen=True)
class MetricValue:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class BenchmarkResult:
    """One benchmark of an evaluation's metrics.json: its primary metric's name and every metric."""

    primary: str | None
    metrics: dict[str, MetricValue]
    split: str = "test"  # "dev": evaluated for choices (evaluate.dev_benchmarks), never in the verdicts
    n_problems: Any = None
    n_samples: Any = None
    skipped: tuple[str, ...] = ()
    protocol: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primary_value(self) -> MetricValue | None:
        return self.metrics.get(self.primary) if self.primary else None


@dataclass(frozen=True)
class EvalMetrics:
    """An evaluation's ``metrics.json`` (written by :mod:`limo_rl.evaluate.harness`), typed: the one reader
    of that document, whether read from a file (:func:`read_eval_metrics`) or handed over in memory."""

    benchmarks: dict[str, BenchmarkResult]
    model: str = ""
    label: str = ""
    preset: Any = None
    seed: Any = None
    grader: Any = None
    ci_level: float | None = None
    wall_s: float | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> EvalMetrics:
        """The document as the harness writes it; a metric without a numeric value is left out."""
        out = {}
        for bench, entry in (doc.get("benchmarks") or {}).items():
            metrics = {name: MetricValue(float(m["value"]), m.get("ci_low"), m.get("ci_high"))
                       for name, m in (entry.get("metrics") or {}).items()
                       if isinstance(m, dict) and isinstance(m.get("value"), (int, float))}
            out[bench] = BenchmarkResult(entry.get("primary"), metrics, str(entry.get("split") or "test"),
                                         entry.get("n_problems"), entry.get("n_samples"),
                                         tuple(entry.get("skipped") or ()), dict(entry.get("protocol") or {}))
        return cls(out, str(doc.get("model") or ""), str(doc.get("label") or ""), doc.get("preset"),
                   doc.get("seed"), doc.get("grader"), doc.get("ci_level"), doc.get("wall_s"))

    def items(self) -> Iterator[tuple[str, BenchmarkResult]]:
        return iter(self.benchmarks.items())

    def headline(self) -> dict[str, float]:
        """``<benchmark>/<primary metric>`` -> value."""
        return {f"{bench}/{r.primary}": v.value for bench, r in self.items() if (v := r.primary_value) is not None}


class RunFileError(LimoError):
    """A run file a reader cannot read (one line naming the file, exit 2)."""


def read_eval_metrics(path: str | Path) -> EvalMetrics:
    """``metrics.json`` of an evaluation (or the evaluation folder holding it) -> its typed figures."""
    path = Path(path)
    path = path / METRICS if path.is_dir() else path
    try:
        return EvalMetrics.from_doc(json.loads(path.read_bytes()))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # truncated, not JSON, wrong shapes
        raise RunFileError(f"{path}: damaged ({type(exc).__name__}: {str(exc)[:120]}); `limo-rl run` on this "
                           "recipe sets it aside and evaluates again") from None


def read_samples(eval_dir: str | Path) -> dict[str, dict[str, list[float]]]:
    """An evaluation's per-sample correctness: benchmark -> problem id -> 0/1 per sample (sample order)."""
    import pyarrow.parquet as pq

    path = Path(eval_dir) / SAMPLES
    if not path.is_file():
        return {}
    rows = pq.read_table(path, columns=["benchmark", "problem_id", "sample_index", "correct"]).to_pylist()
    out: dict[str, dict[str, list[float]]] = {}
    for r in sorted(rows, key=lambda r: (r["benchmark"], r["problem_id"], r["sample_index"])):
        out.setdefault(r["benchmark"], {}).setdefault(r["problem_id"], []).append(1.0 if r["correct"] else 0.0)
    return out


@dataclass(frozen=True)
class TrainFigures:
    """What an arm trained on, from its train stage's ``train_metrics.json`` (zeros when it never trained)."""

    examples: int = 0
    validation_examples: int = 0
    steps: int = 0
    epochs: float | None = None
    tokens: int = 0
    dropped_over_length: int | None = None
    checkpoint: str | None = None
    trained: bool = False


def read_train_metrics(train_dir: str | Path) -> dict[str, Any] | None:
    """A train stage's ``train_metrics.json`` as written, or None when it never trained."""
    return read_json(Path(train_dir) / TRAIN_METRICS)


def read_train_figures(train_dir: str | Path) -> TrainFigures:
    m = read_train_metrics(train_dir)
    if m is None:
        return TrainFigures()
    return TrainFigures(int(m.get("n_train") or 0), int(m.get("n_validation") or 0), int(m.get("global_step") or 0),
                        m.get("epoch"), int(m.get("train_tokens") or 0), m.get("n_dropped_over_length"),
                        m.get("select_checkpoint"), True)


def read_json(path: str | Path) -> dict[str, Any] | None:
    """A small JSON record (select stats, match.json), or None when absent."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None
