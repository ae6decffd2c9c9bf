"""The one owner of a run directory's layout: every stage folder and file the loop writes and reads.

```
<run>/config.yaml, manifest.json, report.md, report.png
<run>/pool/problems.jsonl
<run>/seed<S>/loop/round<R>/{generate/chains, verify/verdicts, select/sft.jsonl, train/model, evaluate}
<run>/seed<S>/static/{data/sft.jsonl, match.json, train/model, evaluate}
<run>/seed<S>/static_curve/n<N>/draw<D>/{match.json, train, evaluate}   (loop.static.curve)
<run>/seed<S>/control/<name>/{data/sft.jsonl, match.json, train/model, evaluate}   (loop.controls)
<run>/seed<S>/baselines/{base,teacher}/evaluate
<evaluate>/metrics.json, <evaluate>/samples.parquet, <evaluate>/<benchmark>/verify/verdicts.jsonl
<train>/train_metrics.json
```

``verify/verdicts/`` holds one verdict shard per chain shard (``shard-*.<tag>.jsonl``, see
:mod:`limo_rl.verify.stage`); an evaluation grades into one ``verdicts.jsonl`` per benchmark.
The driver asks :class:`RunLayout` where to write; the report asks it what is there and reads the
files back through the typed readers below (:func:`read_eval_metrics`), not by glob and dict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.errors import LimoError

POOL_PROBLEMS = "problems.jsonl"
CHAINS = "chains"
VERDICTS = "verdicts"  # the verify stage: a folder of verdict shards
EVAL_VERDICTS = "verdicts.jsonl"  # an evaluation's grades of one benchmark
SFT = "sft.jsonl"
MODEL = "model"
METRICS = "metrics.json"
SAMPLES = "samples.parquet"
TRAIN_METRICS = "train_metrics.json"
MATCH = "match.json"
BASELINES = ("base", "teacher")


def arm_of(scope: str) -> tuple[str, int | None]:
    """A tracker scope's arm and round: ``loop/round2/seed0`` -> (loop, 2), ``baseline/base/seed0`` -> (base,
    None), ``static/n10/draw0/seed0`` -> (static/n10/draw0, None)."""
    parts = [p for p in scope.split("/") if not re.fullmatch(r"seed\d+", p)]
    rnd = next((int(p[len("round"):]) for p in parts if re.fullmatch(r"round\d+", p)), None)
    parts = [p for p in parts if not re.fullmatch(r"round\d+", p)]
    if parts[:1] == ["baseline"]:
        parts = parts[1:]
    return "/".join(parts), rnd


@dataclass(frozen=True)
class EvalDir:
    """One evaluation of a seed: its arm (loop, static, base, teacher), round (loop arm only) and folder."""

    arm: str
    round: int | None
    path: Path

    def benchmark_verdicts(self) -> list[tuple[str, Path]]:
        """(benchmark, verdicts file) of each benchmark evaluated here, by name."""
        return [(p.parent.parent.name, p) for p in sorted(self.path.glob(f"*/verify/{EVAL_VERDICTS}"))]


@dataclass(frozen=True)
class RunLayout:
    root: Path

    # ------------------------------------------------------------------ where things go
    @property
    def pool_dir(self) -> Path:
        return self.root / "pool"

    def seed_dir(self, seed: int) -> Path:
        return self.root / f"seed{seed}"

    def round_dir(self, seed: int, rnd: int) -> Path:
        return self.seed_dir(seed) / "loop" / f"round{rnd}"

    def static_dir(self, seed: int) -> Path:
        return self.seed_dir(seed) / "static"

    def baseline_eval_dir(self, seed: int, which: str) -> Path:
        return self.seed_dir(seed) / "baselines" / which / "evaluate"

    def curve_dir(self, seed: int, size: int, draw: int) -> Path:
        return self.seed_dir(seed) / "static_curve" / f"n{size}" / f"draw{draw}"

    def control_dir(self, seed: int, name: str) -> Path:
        return self.seed_dir(seed) / "control" / name

    def controls(self, seed: int) -> list[str]:
        return sorted(d.name for d in (self.seed_dir(seed) / "control").glob("*") if d.is_dir())

    # ------------------------------------------------------------------ what is there
    def seeds(self) -> list[int]:
        found = (re.fullmatch(r"seed(\d+)", d.name) for d in self.root.glob("seed*") if d.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def rounds(self, seed: int) -> list[int]:
        found = (re.fullmatch(r"round(\d+)", d.name) for d in (self.seed_dir(seed) / "loop").glob("round*"))
        return sorted(int(m.group(1)) for m in found if m)

    def arms(self, seed: int) -> list[tuple[str, Path]]:
        """(label, folder) of every arm of a seed: ``loop/round<R>``, ``static``, ``base``, ``teacher``,
        ``control/<name>``, ``static/n<N>/draw<D>`` (data-size curve); labels as the report's comparisons name them."""
        out = [(f"loop/round{r}", self.round_dir(seed, r)) for r in self.rounds(seed)]
        for label, d in (("static", self.static_dir(seed)),
                         *((b, self.seed_dir(seed) / "baselines" / b) for b in BASELINES)):
            if d.is_dir():
                out.append((label, d))
        out += [(f"control/{c}", self.control_dir(seed, c)) for c in self.controls(seed)]
        curve = self.seed_dir(seed) / "static_curve"
        sizes = sorted((int(n.name[1:]), n) for n in curve.glob("n*") if n.is_dir() and n.name[1:].isdigit())
        for _, n in sizes:
            for draw in sorted(n.glob("draw*"), key=lambda p: p.name):
                out.append((f"static/{n.name}/{draw.name}", draw))
        return out

    def eval_dirs(self, seed: int) -> list[EvalDir]:
        out = [EvalDir("loop", r, self.round_dir(seed, r) / "evaluate") for r in self.rounds(seed)
               if (self.round_dir(seed, r) / "evaluate").is_dir()]
        for arm, d in (("static", self.static_dir(seed) / "evaluate"),
                       *((b, self.baseline_eval_dir(seed, b)) for b in BASELINES)):
            if d.is_dir():
                out.append(EvalDir(arm, None, d))
        out += [EvalDir(f"control/{c}", None, self.control_dir(seed, c) / "evaluate") for c in self.controls(seed)
                if (self.control_dir(seed, c) / "evaluate").is_dir()]
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

    @property
    def primary_value(self) -> MetricValue | None:
        return self.metrics.get(self.primary) if self.primary else None


class RunFileError(LimoError):
    """A run file a reader cannot read (one line naming the file, exit 2)."""


def read_eval_metrics(path: str | Path) -> dict[str, BenchmarkResult]:
    """``metrics.json`` of an evaluation (limo_rl.evaluate.harness) -> benchmark -> its results."""
    try:
        doc: dict[str, Any] = json.loads(Path(path).read_bytes())
        out = {}
        for bench, entry in (doc.get("benchmarks") or {}).items():
            metrics = {name: MetricValue(float(m["value"]), m.get("ci_low"), m.get("ci_high"))
                       for name, m in (entry.get("metrics") or {}).items()
                       if isinstance(m, dict) and isinstance(m.get("value"), (int, float))}
            out[bench] = BenchmarkResult(entry.get("primary"), metrics, str(entry.get("split") or "test"))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # truncated, not JSON, wrong shapes
        raise RunFileError(f"{path}: damaged ({type(exc).__name__}: {str(exc)[:120]}); `limo-rl run` on this "
                           "recipe sets it aside and evaluates again") from None
    return out


@dataclass(frozen=True)
class VerdictFigures:
    """What the report reads from a verdict row: the verification figures of one chain.

    Lenient where the report always was (a row without figures counts as zero density, no steps),
    so a run graded by an older verifier still reports.
    """

    problem_id: str
    sample_index: int
    verification_density: float
    step_kinds: tuple[str, ...]
    arithmetic_consistency: float | None
    caught: float | None = None  # errors found by a check and redone (None: graded before the count existed)


def iter_verdict_figures(path: str | Path) -> Iterator[VerdictFigures]:
    """Rows of a verdicts file or a folder of verdict shards, one at a time (a run's pool can be large)."""
    path = Path(path)
    for f in (sorted(path.glob("shard-*.jsonl")) if path.is_dir() else [path]):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                yield VerdictFigures(
                    str(r["problem_id"]), int(r["sample_index"]), float(r.get("verification_density") or 0.0),
                    tuple(str(s.get("kind")) for s in r.get("verification_steps") or []),
                    r.get("arithmetic_consistency"), (r.get("quality") or {}).get("caught"))


def read_verdict_figures(path: str | Path) -> dict[tuple[str, int], VerdictFigures]:
    """A verdicts file or shard folder (verify stage, or an evaluation's) keyed by (problem_id, sample_index)."""
    return {(v.problem_id, v.sample_index): v for v in iter_verdict_figures(path)}


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


def read_train_figures(train_dir: str | Path) -> TrainFigures:
    path = Path(train_dir) / TRAIN_METRICS
    if not path.is_file():
        return TrainFigures()
    m = json.loads(path.read_text())
    return TrainFigures(int(m.get("n_train") or 0), int(m.get("n_validation") or 0), int(m.get("global_step") or 0),
                        m.get("epoch"), int(m.get("train_tokens") or 0), m.get("n_dropped_over_length"),
                        m.get("select_checkpoint"), True)


def read_json(path: str | Path) -> dict[str, Any] | None:
    """A small JSON record (select stats, match.json), or None when absent."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None
