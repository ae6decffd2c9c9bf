"""The comparison report of a run: ``report.md``, ``report.json``, ``report.png`` and the headline figures.

Everything is read back from the run directory (metrics.json of each evaluation, the
verdicts and SFT sets of each round), so ``limo-rl report RUN_DIR`` rebuilds the report of
any finished or interrupted run, and several runs can be compared side by side.
The report opens with the verdicts of the paired comparisons between arms
(:mod:`limo_rl.loop.comparisons`) and what each arm trained on; ``report.json`` holds the same
figures for tools. Accuracy per arm is the evaluation's primary metric, ``pass@1[avg of n]``,
with its bootstrap CI; with several seeds the table shows the mean and the spread across seeds.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.loop.comparisons import (
    arm_training,
    build_comparisons,
    collect_samples,
    curve_rows,
    render_curve,
    render_touched,
    render_verdicts,
    report_doc,
    touched_benchmarks,
)
from limo_rl.loop.headline import SCORE_FIELDS, track_report
from limo_rl.run.artifacts import atomic_write_json, atomic_write_text, read_jsonl
from limo_rl.run.layout import (
    CHAINS,
    METRICS,
    SFT,
    VERDICTS,
    RunLayout,
    iter_verdict_figures,
    read_eval_metrics,
    read_verdict_figures,
)

log = logging.getLogger(__name__)
ALPHA, POWER = 0.05, 0.8  # the report's decision rule (limo_rl.evaluate.paired)


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
            path = ed.path / METRICS
            if not path.is_file():
                continue
            for bench, res in read_eval_metrics(path).items():
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


def _parse_ref(ref: str) -> tuple[str, int] | None:
    """``<round>/<problem_id>/<sample_index>`` (problem ids may hold '/')."""
    try:
        _, rest = ref.split("/", 1)
        pid, idx = rest.rsplit("/", 1)
        return pid, int(idx)
    except ValueError:
        return None


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def collect_data_stats(run_dir: Path) -> list[DataStats]:
    out = []
    layout = RunLayout(Path(run_dir))
    for seed in layout.seeds():
        for rnd in layout.rounds(seed):
            rd = layout.round_dir(seed, rnd)
            sft_path = rd / "select" / SFT
            ver_path = next((p for p in (rd / "verify" / VERDICTS, rd / "verify" / "verdicts.jsonl") if p.exists()),
                            None)  # a run graded before verdict shards kept one file
            if not sft_path.is_file() or ver_path is None:
                continue
            refs = [_parse_ref(r.get("chain_ref", "")) for r in read_jsonl(sft_path)]
            refs = [r for r in refs if r is not None]
            wanted, picked, density_sum, n_verdicts = set(refs), {}, 0.0, 0
            tokens, mean_tokens = _chain_tokens(rd / "generate" / CHAINS, wanted)
            for v in iter_verdict_figures(ver_path):  # streaming: one row at a time, the selected ones kept
                density_sum += v.verification_density
                n_verdicts += 1
                if (v.problem_id, v.sample_index) in wanted:
                    picked[(v.problem_id, v.sample_index)] = v.verification_density
            out.append(DataStats(
                seed, "loop", rnd, len(refs),
                _mean([picked[r] for r in refs if r in picked]),
                density_sum / n_verdicts if n_verdicts else None,
                _mean([tokens[r] for r in refs if r in tokens]),
                mean_tokens,
            ))
        static = layout.static_dir(seed) / "data" / SFT
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
                    _mean([r.verification_density for r in rows]),
                    _mean([float(any(k not in ("hollow", "false") for k in ks)) for ks in kinds]),
                    _mean([float("hollow" in ks) for ks in kinds]),
                    _mean(cons),
                    _mean([float("false" in ks) for ks in kinds]),
                    _mean([float(r.caught > 0) for r in rows if r.caught is not None]),
                ))
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _cell(group: list[Score]) -> str:
    if len(group) == 1:
        s = group[0]
        ci = f" [{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]" if s.ci_low is not None else ""
        return f"{_fmt(s.value)}{ci}"
    vals = [s.value for s in group]
    return f"{_fmt(statistics.mean(vals))} ± {_fmt(statistics.stdev(vals))} (min {_fmt(min(vals))}, max {_fmt(max(vals))})"


ARM_ORDER = {"base": 0, "teacher": 1, "loop": 2, "static": 3}


def _band(group: list[Score]) -> tuple[float, float, float]:
    """(value, low, high) for a plot: one seed -> its bootstrap CI; several -> mean ± 1.96 standard errors."""
    vals = [s.value for s in group]
    m = statistics.mean(vals)
    if len(group) > 1:
        half = 1.96 * statistics.stdev(vals) / len(vals) ** 0.5
        return m, m - half, m + half
    s = group[0]
    return m, s.ci_low if s.ci_low is not None else m, s.ci_high if s.ci_high is not None else m


def _groups(scores: list[Score]) -> dict[tuple[str, int | None, str, str], list[Score]]:
    groups: dict[tuple[str, int | None, str, str], list[Score]] = defaultdict(list)
    for s in scores:
        groups[(s.arm, s.round, s.benchmark, s.metric)].append(s)
    return dict(sorted(groups.items(), key=lambda kv: (ARM_ORDER.get(kv[0][0], 9), kv[0][1] or 0, kv[0][2])))


def score_rows(scores: Sequence[Score]) -> list[dict[str, Any]]:
    """``report.json``'s flat ``scores`` list: one row per arm, round, seed and benchmark (fractions)."""
    return [{k: getattr(s, k) for k in SCORE_FIELDS} for s in scores]


def headline(scores: list[Score]) -> dict[str, float]:
    """Names a sweep can optimize: ``<arm>/<benchmark>/pass@1`` (loop: its last round), mean over seeds."""
    out: dict[str, float] = {}
    last = max((s.round for s in scores if s.arm == "loop"), default=None)
    for (arm, rnd, bench, _), group in _groups(scores).items():
        if arm == "loop" and rnd != last:
            continue
        out[f"{arm}/{bench}/pass@1"] = statistics.mean(s.value for s in group)
    return out


def render_markdown(run_dir: Path, scores: list[Score], data: list[DataStats], recipe: dict[str, Any] | None,
                    outputs: Sequence[OutputStats] = (), verdicts: Sequence[str] = ()) -> str:
    seeds = sorted({s.seed for s in scores}) or sorted({d.seed for d in data})
    lines = [f"# limo_rl report: {run_dir.name}", "", *verdicts]
    if recipe:
        sel, lp = recipe.get("select", {}), recipe.get("loop", {})
        diff = sel.get("difficulty", {})
        lines += [
            f"- seeds: {seeds}; rounds: {lp.get('rounds')}; next teacher: {lp.get('next_teacher')}; "
            f"student from: {lp.get('student_init')}; data: {lp.get('data')}",
            f"- selection: `{sel.get('strategy')}`, budget {sel.get('budget')}, {sel.get('per_problem')} per problem, "
            f"pass-rate window [{diff.get('min_pass_rate')}, {diff.get('max_pass_rate')}]"
            + (f", solved {diff.get('min_correct')}-{diff.get('max_correct')} times" if diff.get("min_correct") is not None
               or diff.get("max_correct") is not None else ""),
            f"- static arm: `{lp.get('static', {}).get('source')}`, matched to the loop by: "
            f"{lp.get('static', {}).get('match', 'none')}", "",
        ]
    lines += ["## Accuracy", "",
              "Primary metric per benchmark (pass@1 averaged over n samples per problem) with its 95% bootstrap CI"
              + ("; across seeds: mean ± sd (min, max)." if len(seeds) > 1 else "."), "",
              "| arm | round | benchmark | metric | value |", "|---|---|---|---|---|"]
    for (arm, rnd, bench, metric), group in _groups(scores).items():
        shown = f"{bench} (dev)" if group[0].split == "dev" else bench
        lines.append(f"| {arm} | {rnd if rnd is not None else '-'} | {shown} | `{metric}` | {_cell(group)} |")
    lines += ["", "## Data each student saw", "",
              "| arm | round | seed | SFT size | verification density (selected / all) | tokens (selected / all) |",
              "|---|---|---|---|---|---|"]
    for d in sorted(data, key=lambda d: (ARM_ORDER.get(d.arm, 9), d.round or 0, d.seed)):
        lines.append(
            f"| {d.arm} | {d.round if d.round is not None else '-'} | {d.seed} | {d.sft_size} | "
            f"{_fmt(d.density_selected, 2)} / {_fmt(d.density_all, 2)} | {_fmt(d.tokens_selected, 1)} / "
            f"{_fmt(d.tokens_all, 1)} |"
        )
    lines += ["", "Verification density: true verification steps (backed by work that holds) per 1,000 tokens "
              "(limo_rl.verify).", ""]
    if outputs:
        lines += ["## How each model reasons on the benchmarks", "",
                  "| arm | round | benchmark | verification density | true checks | false checks | "
                  "hollow checks | caught | arithmetic consistency |", "|---|---|---|---|---|---|---|---|---|"]
        groups: dict[tuple[str, int | None, str], list[OutputStats]] = defaultdict(list)
        for o in outputs:
            groups[(o.arm, o.round, o.benchmark)].append(o)
        for (arm, rnd, bench), g in sorted(groups.items(), key=lambda kv: (ARM_ORDER.get(kv[0][0], 9),
                                                                              kv[0][1] or 0, kv[0][2])):
            def avg(field: str, g=g) -> float | None:
                vals = [getattr(o, field) for o in g if getattr(o, field) is not None]
                return _mean(vals)
            lines.append(f"| {arm} | {rnd if rnd is not None else '-'} | {bench} | {_fmt(avg('density'), 2)} | "
                         f"{_fmt(avg('real_check_rate'))} | {_fmt(avg('false_rate'))} | {_fmt(avg('hollow_rate'))} | "
                         f"{_fmt(avg('caught_rate'))} | {_fmt(avg('consistency'))} |")
        lines += ["", "Means over the evaluated chains (and over seeds). True / false / hollow checks: share of "
                  "chains with at least one check whose arithmetic holds / asserts a false equality / computes "
                  "nothing. Caught: share of chains where a check found a false step and a corrected step redid "
                  "it (limo_rl.verify.process).", ""]
    lines += ["![report](report.png)", ""]
    return "\n".join(lines)


def plot(run_dir: Path, scores: list[Score], data: list[DataStats], outputs: Sequence[OutputStats] = ()) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = sorted({s.benchmark for s in scores})
    if not benches:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    rounds_all = sorted({s.round for s in scores if s.round is not None} | {d.round for d in data if d.round})
    for a in axes[:2]:
        if rounds_all:
            a.set_xticks(rounds_all)
            a.set_xlim(min(rounds_all) - 0.5, max(rounds_all) + 0.5)
    ax = axes[0]
    for i, bench in enumerate(benches):
        color = f"C{i}"
        by_round: dict[int, list[Score]] = defaultdict(list)
        for s in scores:
            if s.arm == "loop" and s.benchmark == bench:
                by_round[s.round or 0].append(s)
        if by_round:
            rounds = sorted(by_round)
            bands = [_band(by_round[r]) for r in rounds]
            means = [b[0] for b in bands]
            errs = [[m - lo for m, lo, _ in bands], [hi - m for m, _, hi in bands]]
            ax.errorbar(rounds, means, yerr=errs, marker="o", color=color, label=f"loop: {bench}", capsize=3)
        controls = sorted({s.arm for s in scores if s.arm.startswith("control/")})  # loop.controls: flat lines
        for arm, style in (("static", "--"), ("base", ":"), ("teacher", "-."), *((c, (0, (1, 1))) for c in controls)):
            group = [s for s in scores if s.arm == arm and s.benchmark == bench]
            if group:
                m, lo, hi = _band(group)
                ax.axhline(m, linestyle=style, color=color, alpha=0.8, label=f"{arm}: {bench}")
                ax.axhspan(lo, hi, color=color, alpha=0.08)
    ax.set_xlabel("round")
    ax.set_ylabel("pass@1 (avg of n)")
    ax.set_title("Accuracy by round, 95% CI (static arm and baselines as lines and bands)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax = axes[1]
    loop = [d for d in data if d.arm == "loop"]
    if loop:
        for key, label, style in (("density_selected", "selected chains", "o-"), ("density_all", "all chains", "s--")):
            by_round = defaultdict(list)
            for d in loop:
                if getattr(d, key) is not None:
                    by_round[d.round].append(getattr(d, key))
            rounds = sorted(by_round)
            ax.plot(rounds, [statistics.mean(by_round[r]) for r in rounds], style, label=label)
        ax.legend(fontsize=8)
    ax.set_xlabel("round")
    ax.set_ylabel("verification steps / 1k tokens")
    ax.set_title("Verification density of the SFT data")
    ax = axes[2]
    groups: dict[str, list[float]] = defaultdict(list)
    for o in outputs:
        if o.real_check_rate is not None:
            groups[o.arm if o.round is None else f"{o.arm} r{o.round}"].append(o.real_check_rate)
    if groups:
        names = sorted(groups, key=lambda n: (ARM_ORDER.get(n.split()[0], 9), n))
        ax.bar(names, [statistics.mean(groups[n]) for n in names],
               yerr=[statistics.stdev(groups[n]) if len(groups[n]) > 1 else 0.0 for n in names], capsize=3)
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=25 if len(names) > 4 else 0, labelsize=7 if len(names) > 4 else 10)
    ax.set_ylabel("share of outputs")
    ax.set_title("Benchmark outputs with a real self-check")
    fig.tight_layout()
    out = run_dir / "report.png"
    tmp = run_dir / ".report.png.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out


def run_status(run_dir: Path) -> str:
    """``finished``, or what the manifest says of a run that has not finished (failed, stopped, killed)."""
    import json

    try:
        m = json.loads((run_dir / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return "no readable manifest"
    status = m.get("status") if isinstance(m, dict) and m.get("ended_at") else None
    return str(status) if status else "started and not ended: running, or killed"


def write_report(run_dir: str | Path, tracker: Any = None) -> dict[str, float]:
    """(Re)build ``report.md``, ``report.json`` and ``report.png`` of a run; returns (and logs) the headline figures."""
    import yaml

    run_dir = Path(run_dir)
    scores, data = collect_scores(run_dir), collect_data_stats(run_dir)
    cfg_path = run_dir / "config.yaml"
    recipe = yaml.safe_load(cfg_path.read_text()) if cfg_path.is_file() else None
    outputs = collect_output_stats(run_dir)
    dev = list(((recipe or {}).get("evaluate") or {}).get("dev_benchmarks") or [])
    primary = list(((recipe or {}).get("compare") or {}).get("primary") or [])
    results, unmatched = build_comparisons(run_dir, dev_benchmarks=dev, primary=primary, alpha=ALPHA, power=POWER)
    if unmatched:
        log.warning("compare.primary %s: no comparison of this run is one of them (a run's contrast is 'A vs B' "
                    "with arm labels such as loop/round2 and static)", unmatched)
    training = arm_training(run_dir)
    curve = curve_rows(collect_samples(run_dir))
    flat = score_rows(scores)
    status = run_status(run_dir)
    touched = touched_benchmarks(run_dir)
    doc = {**report_doc(results, training, alpha=ALPHA, power=POWER, primary=primary, unmatched=unmatched),
           "scores": flat, "data_size_curve": curve, "benchmarks_touched": touched, "run_status": status}
    atomic_write_json(run_dir / "report.json", doc)
    confirmed = bool(((recipe or {}).get("evaluate") or {}).get("confirm", True))
    verdicts = [*render_verdicts(results, training, alpha=ALPHA, power=POWER, primary=primary, unmatched=unmatched,
                                 confirmed=confirmed),
                *render_touched(touched), *render_curve(curve)]
    if status != "finished":
        verdicts.insert(0, f"> **Run not finished** ({status}): these figures cover only the stages done so far.\n")
    atomic_write_text(run_dir / "report.md", render_markdown(run_dir, scores, data, recipe, outputs, verdicts))
    png = plot(run_dir, scores, data, outputs)
    summary = headline(scores)
    if tracker is not None:
        track_report(tracker, flat, doc["comparisons"], summary)
        if png is not None:
            tracker.log_image("report", png)
        tracker.log_table("report/data", ["arm", "round", "seed", "sft_size", "density_selected", "density_all",
                                          "tokens_selected", "tokens_all"],
                          [[d.arm, d.round, d.seed, d.sft_size, d.density_selected, d.density_all,
                            d.tokens_selected, d.tokens_all] for d in data])
    return summary


def accuracy_lines(run_dir: str | Path) -> list[str]:
    """The accuracy table of ``report.md`` as aligned plain text, for the end of ``limo-rl run``."""
    groups = _groups(collect_scores(Path(run_dir)))
    if not groups:
        return ["no evaluation results yet"]
    rows = [("arm", "round", "benchmark", "metric", "value [95% CI]")]
    rows += [(arm, str(rnd) if rnd is not None else "-", bench, metric, _cell(group))
             for (arm, rnd, bench, metric), group in groups.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]


def compare_runs(run_dirs: Sequence[str | Path]) -> str:
    """A side-by-side table of several runs' primary metrics (mean over seeds)."""
    per_run = {Path(d).name: {k: statistics.mean(s.value for s in g) for k, g in _groups(collect_scores(Path(d))).items()}
               for d in run_dirs}
    keys = sorted({k for v in per_run.values() for k in v}, key=lambda k: (ARM_ORDER.get(k[0], 9), k[1] or 0, k[2]))
    names = list(per_run)
    lines = ["| arm | round | benchmark | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for k in keys:
        cells = " | ".join(_fmt(per_run[n].get(k)) for n in names)
        lines.append(f"| {k[0]} | {k[1] if k[1] is not None else '-'} | {k[2]} | {cells} |")
    return "\n".join(lines) + "\n"
