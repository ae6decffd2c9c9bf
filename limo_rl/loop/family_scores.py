"""Every arm of every run of a family, scored over its seeds: the table a finding reads first.

For each run, arm and benchmark: ``pass@1[avg of n]`` per seed (the mean over problems of each problem's
mean correctness), their mean, the seed-to-seed SD and a t interval over seeds (with one seed, none). The
verdicts live in the paired comparisons (:mod:`limo_rl.loop.family`); this table is descriptive: it says
where each arm landed and how much seeds move it, on each base a family runs.

Pure: standard library and the t quantile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from limo_rl.evaluate.tdist import t_quantile


def seed_scores(by_seed: Mapping[int, Mapping[str, Sequence[float]]]) -> dict[int, float]:
    """seed -> pass@1[avg of n] on one benchmark."""
    out = {}
    for s, problems in sorted(by_seed.items()):
        if problems:
            out[s] = sum(sum(map(float, v)) / len(v) for v in problems.values() if v) / len(problems)
    return out


def arm_scores(members: Sequence[Any], level: float = 0.95) -> list[dict[str, Any]]:
    """One row per (run, arm, benchmark) of the family's members (``Member``: name, arms)."""
    rows = []
    for m in members:
        for arm in sorted(m.arms):
            benches = sorted({b for by in m.arms[arm].by_seed.values() for b in by})
            for bench in benches:
                per = seed_scores({s: by[bench] for s, by in m.arms[arm].by_seed.items() if bench in by})
                vals = list(per.values())
                mean = sum(vals) / len(vals)
                sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
                half = t_quantile(0.5 + level / 2, len(vals) - 1) * sd / math.sqrt(len(vals)) if sd else None
                rows.append({"run": m.name, "arm": arm, "benchmark": bench, "n_seeds": len(vals), "mean": mean,
                             "seed_sd": sd, "ci_low": None if half is None else mean - half,
                             "ci_high": None if half is None else mean + half, "by_seed": per})
    return rows


def render(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """compare.md's table: runs as columns, arms as rows, one table per benchmark."""
    lines: list[str] = []
    for bench in sorted({r["benchmark"] for r in rows}):
        mine = [r for r in rows if r["benchmark"] == bench]
        runs = list(dict.fromkeys(r["run"] for r in mine))
        arms = list(dict.fromkeys(r["arm"] for r in sorted(mine, key=lambda r: r["arm"])))
        cell = {(r["run"], r["arm"]): r for r in mine}
        lines += [f"**{bench}**: pass@1 mean over seeds [95% t interval over seeds] (seed SD)", "",
                  "| arm | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
        for arm in arms:
            cells = []
            for run in runs:
                r = cell.get((run, arm))
                if r is None:
                    cells.append("-")
                elif r["ci_low"] is None:
                    cells.append(f"{r['mean']:.3f} (1 seed)")
                else:
                    cells.append(f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] ({r['seed_sd']:.3f})")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines
