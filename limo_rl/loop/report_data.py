"""What the report reads back from a run directory: accuracy per arm, the data each student saw, how each model
reasons on the benchmarks. Every file is found through :class:`limo_rl.run.layout.RunLayout` and read through
its typed readers (``metrics.json``) or the verify stage's (verdicts); rendering is :mod:`limo_rl.loop.report`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from limo_rl.run.artifacts import read_jsonl
from limo_rl.run.layout import CHAINS, EVAL_VERDICTS, SFT, VERDICTS, RunLayout, stage_dir
from limo_rl.run.readers import read_eval_metrics
from limo_rl.types import ChainRef
from limo_rl.verify.stage import iter_verdict_figures, read_verdict_figures


@dataclass(frozen=True)
class Score:
    seed: int
    arm: str  # loop | static | base | teacher
    round: int | None
    benchmark: str
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    split: str = "test"  # "dev": a benchmark for choices (sweeps), never judged in the verdicts


@dataclass(frozen=True)
class DataStats:
    seed: int
    arm: str
    round: int | None
    sft_size: int
    density_selected: float | None
    density_all: float | None
    tokens_selected: float | None
    tokens_all: float | None


def collect_scores(run_dir: Path) -> list[Score]:
    scores = []
    layout = RunLayout(Path(run_dir))
    for seed in layout.seeds():
        for ed in layout.eval_dirs(seed):
            if not ed.metrics_path.is_file():
                continue
            for bench, res in read_eval_metrics(ed.metrics_path).items():
                m = res.primary_value
                if m is None:
                    continue
                scores.append(Score(seed, ed.arm, ed.round, bench, res.primary or "", m.value, m.ci_low, m.ci_high,
                                    res.split))
    return scores


def _chain_tokens(chains_dir: Path, wanted: set[tuple[str, int]]) -> tuple[dict[tuple[str, int], int], float | None]:
    """(token counts of the ``wanted`` chains, mean over all chains), one shard at a time."""
    import pyarrow.parquet as pq

    out: dict[tuple[str, int], int] = {}
    total = n = 0
    for shard in sorted(chains_dir.glob("*.parquet")):
        t = pq.read_table(shard, columns=["problem_id", "sample_index", "n_tokens"]).to_pydict()
        for p, i, k in zip(t["problem_id"], t["sample_index"], t["n_tokens"], strict=True):
            total, n = total + int(k), n + 1
            if (p, int(i)) in wanted:
                out[(p, int(i))] = int(k)
    return out, (total / n if n else None)


def mean_of(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def collect_data_stats(run_dir: Path) -> list[DataStats]:
    out = []
    layout = RunLayout(Path(run_dir))
    for seed in layout.seeds():
        for rnd in layout.rounds(seed):
            rd = layout.round_dir(seed, rnd)
            sft_path = stage_dir(rd, "select") / SFT
            verify = stage_dir(rd, "verify")
            ver_path = next((p for p in (verify / VERDICTS, verify / EVAL_VERDICTS) if p.exists()),
                            None)  # a run graded before verdict shards kept one file
            if not sft_path.is_file() or ver_path is None:
                continue
            refs = [ref.key for r in read_jsonl(sft_path) if (ref := ChainRef.parse(r.get("chain_ref", ""))) is not None]
            wanted, picked, density_sum, n_verdicts = set(refs), {}, 0.0, 0
            tokens, mean_tokens = _chain_tokens(stage_dir(rd, "generate") / CHAINS, wanted)
            for v in iter_verdict_figures(ver_path):  # streaming: one row at a time, the selected ones kept
                density_sum += v.verification_density
                n_verdicts += 1
                if (v.problem_id, v.sample_index) in wanted:
                    picked[(v.problem_id, v.sample_index)] = v.verification_density
            out.append(DataStats(
                seed, "loop", rnd, len(refs),
                mean_of([picked[r] for r in refs if r in picked]),
                density_sum / n_verdicts if n_verdicts else None,
                mean_of([tokens[r] for r in refs if r in tokens]),
                mean_tokens,
            ))
        static = stage_dir(layout.static_dir(seed), "data") / SFT
        if static.is_file():
            out.append(DataStats(seed, "static", None, len(read_jsonl(static)), None, None, None, None))
    return out


@dataclass(frozen=True)
class OutputStats:
    """How the evaluated model reasons: verification in its benchmark outputs (limo_rl.verify's verdicts)."""

    seed: int
    arm: str
    round: int | None
    benchmark: str
    chains: int
    density: float | None  # counted (real) verification steps per 1k tokens
    real_check_rate: float | None  # share of chains with at least one true check (what it asserts holds)
    hollow_rate: float | None  # share of chains with a check phrase and no work behind it
    consistency: float | None  # mean share of true numeric equalities
    false_rate: float | None = None  # share of chains with a check whose own arithmetic is false
    caught_rate: float | None = None  # share of chains that caught an error with a check and redid the step


def collect_output_stats(run_dir: Path) -> list[OutputStats]:
    out = []
    layout = RunLayout(Path(run_dir))
    for seed in layout.seeds():
        for ed in layout.eval_dirs(seed):
            for bench, ver in ed.benchmark_verdicts():
                rows = list(read_verdict_figures(ver).values())
                kinds = [r.step_kinds for r in rows]
                cons = [r.arithmetic_consistency for r in rows if r.arithmetic_consistency is not None]
                out.append(OutputStats(
                    seed, ed.arm, ed.round, bench, len(rows),
                    mean_of([r.verification_density for r in rows]),
                    mean_of([float(any(k not in ("hollow", "false") for k in ks)) for ks in kinds]),
                    mean_of([float("hollow" in ks) for ks in kinds]),
                    mean_of(cons),
                    mean_of([float("false" in ks) for ks in kinds]),
                    mean_of([float(r.caught > 0) for r in rows if r.caught is not None]),
                ))
    return out
