"""The one owner of a run directory's layout: every stage folder and file the loop writes and reads.

```
<run>/config.yaml, manifest.json, report.md, report.png
<run>/pool/problems.jsonl
<run>/seed<S>/loop/round<R>/{generate/chains, verify/verdicts.jsonl, select/sft.jsonl, train/model, evaluate}
<run>/seed<S>/static/{data/sft.jsonl, train/model, evaluate}
<run>/seed<S>/baselines/{base,teacher}/evaluate
<evaluate>/metrics.json, <evaluate>/<benchmark>/verify/verdicts.jsonl
```

The driver asks :class:`RunLayout` where to write; the report asks it what is there and reads the
files back through the typed readers below (:func:`read_eval_metrics`), not by glob and dict.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.artifacts import read_jsonl

POOL_PROBLEMS = "problems.jsonl"
CHAINS = "chains"
VERDICTS = "verdicts.jsonl"
SFT = "sft.jsonl"
MODEL = "model"
METRICS = "metrics.json"
BASELINES = ("base", "teacher")


@dataclass(frozen=True)
class EvalDir:
    """One evaluation of a seed: its arm (loop, static, base, teacher), round (loop arm only) and folder."""

    arm: str
    round: int | None
    path: Path

    def benchmark_verdicts(self) -> list[tuple[str, Path]]:
        """(benchmark, verdicts file) of each benchmark evaluated here, by name."""
        return [(p.parent.parent.name, p) for p in sorted(self.path.glob(f"*/verify/{VERDICTS}"))]


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

    # ------------------------------------------------------------------ what is there
    def seeds(self) -> list[int]:
        found = (re.fullmatch(r"seed(\d+)", d.name) for d in self.root.glob("seed*") if d.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def rounds(self, seed: int) -> list[int]:
        found = (re.fullmatch(r"round(\d+)", d.name) for d in (self.seed_dir(seed) / "loop").glob("round*"))
        return sorted(int(m.group(1)) for m in found if m)

    def eval_dirs(self, seed: int) -> list[EvalDir]:
        out = [EvalDir("loop", r, self.round_dir(seed, r) / "evaluate") for r in self.rounds(seed)
               if (self.round_dir(seed, r) / "evaluate").is_dir()]
        for arm, d in (("static", self.static_dir(seed) / "evaluate"),
                       *((b, self.baseline_eval_dir(seed, b)) for b in BASELINES)):
            if d.is_dir():
                out.append(EvalDir(arm, None, d))
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

    @property
    def primary_value(self) -> MetricValue | None:
        return self.metrics.get(self.primary) if self.primary else None


def read_eval_metrics(path: str | Path) -> dict[str, BenchmarkResult]:
    """``metrics.json`` of an evaluation (limo_rl.evaluate.harness) -> benchmark -> its results."""
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    out = {}
    for bench, entry in (doc.get("benchmarks") or {}).items():
        metrics = {name: MetricValue(float(m["value"]), m.get("ci_low"), m.get("ci_high"))
                   for name, m in (entry.get("metrics") or {}).items()
                   if isinstance(m, dict) and isinstance(m.get("value"), (int, float))}
        out[bench] = BenchmarkResult(entry.get("primary"), metrics)
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


def read_verdict_figures(path: str | Path) -> dict[tuple[str, int], VerdictFigures]:
    """A verdicts.jsonl (verify stage, or an evaluation's) keyed by (problem_id, sample_index)."""
    out = {}
    for r in read_jsonl(path):
        key = (str(r["problem_id"]), int(r["sample_index"]))
        out[key] = VerdictFigures(
            key[0], key[1], float(r.get("verification_density") or 0.0),
            tuple(str(s.get("kind")) for s in r.get("verification_steps") or []), r.get("arithmetic_consistency"))
    return out
