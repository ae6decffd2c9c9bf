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
typed readers of :mod:`limo_rl.run.readers` (:func:`~limo_rl.run.readers.read_eval_metrics`,
:func:`~limo_rl.run.readers.read_train_figures`), not by glob and dict.
(``tests/unit/test_layout_owner.py`` holds every other module to that.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
