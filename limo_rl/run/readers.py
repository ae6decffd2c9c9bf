"""Typed readers of the run files other stages wrote, beside the names of :mod:`limo_rl.run.layout`: an
evaluation's ``metrics.json`` (:class:`EvalMetrics`, the one reader of that document, from a file or in memory),
its per-sample correctness, a training's ``train_metrics.json``, small JSON records. Verdict files have their own
reader in :mod:`limo_rl.verify.stage` (the stage that writes them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.errors import LimoError
from limo_rl.run.layout import METRICS, SAMPLES, TRAIN_METRICS


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
