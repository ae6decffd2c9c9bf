"""The comparison report of a run: ``report.md``, ``report.json``, ``report.png`` and the headline figures.

Everything is read back from the run directory (metrics.json of each evaluation, the
verdicts and SFT sets of each round: :mod:`limo_rl.loop.report_data`), so ``limo-rl report RUN_DIR`` rebuilds the report of
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
from limo_rl.loop.report_data import (
    DataStats,
    OutputStats,
    Score,
    collect_data_stats,
    collect_output_stats,
    collect_scores,
    mean_of,
)
from limo_rl.run.artifacts import atomic_write_json, atomic_write_text
from limo_rl.run.layout import RunLayout

log = logging.getLogger(__name__)
ALPHA, POWER = 0.05, 0.8  # the report's decision rule (limo_rl.evaluate.paired)


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
                return mean_of(vals)
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
    out = RunLayout(run_dir).report_png
    tmp = run_dir / f".{out.name}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out


def run_status(run_dir: Path) -> str:
    """``finished``, or what the manifest says of a run that has not finished (failed, stopped, killed)."""
    import json

    try:
        m = json.loads(RunLayout(run_dir).manifest_path.read_bytes())
    except (OSError, ValueError):
        return "no readable manifest"
    status = m.get("status") if isinstance(m, dict) and m.get("ended_at") else None
    return str(status) if status else "started and not ended: running, or killed"


def write_report(run_dir: str | Path, tracker: Any = None) -> dict[str, float]:
    """(Re)build ``report.md``, ``report.json`` and ``report.png`` of a run; returns (and logs) the headline figures."""
    import yaml

    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    scores, data = collect_scores(run_dir), collect_data_stats(run_dir)
    cfg_path = layout.config_path
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
    atomic_write_json(layout.report_json, doc)
    confirmed = bool(((recipe or {}).get("evaluate") or {}).get("confirm", True))
    verdicts = [*render_verdicts(results, training, alpha=ALPHA, power=POWER, primary=primary, unmatched=unmatched,
                                 confirmed=confirmed),
                *render_touched(touched), *render_curve(curve)]
    if status != "finished":
        verdicts.insert(0, f"> **Run not finished** ({status}): these figures cover only the stages done so far.\n")
    atomic_write_text(layout.report_md, render_markdown(run_dir, scores, data, recipe, outputs, verdicts))
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
