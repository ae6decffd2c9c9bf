"""The report's headline where people look: the console, ``runs show``, ``limo-rl report`` and W&B.

``report.md`` opens with the paired verdicts (:mod:`limo_rl.loop.comparisons`); the same verdicts
end the console of ``limo-rl run`` and are printed by ``limo-rl runs show`` and ``limo-rl report``,
all through one formatter (:func:`verdict_table`), read back from ``report.json`` so every surface
shows the figures the report holds (nothing is recomputed). W&B gets them as a table
(``report/verdicts``), as summary keys per comparison (``verdict/<a>-vs-<b>/<benchmark>/diff``,
``ci_low``, ``ci_high``, ``p``, ``p_adjusted``) and, per benchmark, one chart of accuracy by round
(the loop's rounds as a line; static, base and teacher as flat lines).

Values are fractions, as in the accuracy table (0.168 is 16.8 points).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from limo_rl.run.layout import REPORT_JSON

SCORE_FIELDS = ("arm", "round", "seed", "benchmark", "metric", "value", "ci_low", "ci_high", "split")
VERDICT_COLUMNS = ("a", "b", "benchmark", "metric", "n_problems", "difference", "ci_low", "ci_high", "test",
                   "p_value", "p_adjusted", "mde", "mde_adjusted", "verdict")


def read_report(run_dir: str | Path) -> dict[str, Any] | None:
    """A run's ``report.json``, or None when there is none yet (or it cannot be read)."""
    try:
        doc = json.loads((Path(run_dir) / REPORT_JSON).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _signed(x: Any) -> str:
    return f"{x:+.3f}" if isinstance(x, (int, float)) else "-"


def verdict_table(comparisons: Sequence[Mapping[str, Any]]) -> list[str]:
    """The compact verdict table as aligned plain text: A, B, benchmark, difference [95% CI], verdict."""
    if not comparisons:
        return []
    rows = [("A", "B", "benchmark", "A - B [95% CI]", "verdict")]
    for c in comparisons:
        rows.append((str(c.get("a")), str(c.get("b")), str(c.get("benchmark")),
                     f"{_signed(c.get('difference'))} [{_signed(c.get('ci_low'))}, {_signed(c.get('ci_high'))}]",
                     str(c.get("verdict") or "-")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]


def verdict_lines(run_dir: str | Path) -> list[str]:
    """The verdict table of a run's ``report.json`` (empty without a report or without comparisons)."""
    doc = read_report(run_dir) or {}
    return verdict_table(doc.get("comparisons") or [])


def comparison_key(c: Mapping[str, Any]) -> str:
    """``verdict/loop_round2-vs-static/toy_eval``: one W&B name per comparison."""
    def part(x: Any) -> str:
        return str(x).replace("/", "_")
    return f"verdict/{part(c.get('a'))}-vs-{part(c.get('b'))}/{c.get('benchmark')}"


def comparison_summary(comparisons: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """W&B summary keys per comparison: diff, ci_low, ci_high, p and p_adjusted."""
    out: dict[str, float] = {}
    for c in comparisons:
        key = comparison_key(c)
        for name, field in (("diff", "difference"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                            ("p", "p_value"), ("p_adjusted", "p_adjusted")):
            if isinstance(c.get(field), (int, float)):
                out[f"{key}/{name}"] = float(c[field])
    return out


def accuracy_by_round(scores: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[int], dict[str, list[float | None]]]]:
    """Per benchmark: the rounds and, per arm, its accuracy at each (mean over seeds). The loop has one
    point per round; an arm without rounds (static, base, teacher) is a flat line over them."""
    by: dict[str, dict[tuple[str, int | None], list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in scores:
        by[s["benchmark"]][(s["arm"], s["round"])].append(float(s["value"]))
    out = {}
    for bench, cells in sorted(by.items()):
        rounds = sorted({r for _, r in cells if r is not None}) or [0]
        series: dict[str, list[float | None]] = {}
        for arm in sorted({a for a, _ in cells}, key=lambda a: (a != "loop", a)):
            flat = cells.get((arm, None))
            series[arm] = [_mean(cells[(arm, r)]) if (arm, r) in cells else (_mean(flat) if flat else None)
                           for r in rounds]
        out[bench] = (rounds, series)
    return out


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def track_report(tracker: Any, scores: Sequence[Mapping[str, Any]], comparisons: Sequence[Mapping[str, Any]],
                 headline: Mapping[str, float]) -> None:
    """The report's figures in W&B: headline and per-comparison summary keys, the verdict and accuracy
    tables, and one accuracy-by-round chart per benchmark."""
    summary = {**headline, **comparison_summary(comparisons)}
    tracker.log(dict(headline))
    tracker.summary(summary)
    tracker.log_table("report/verdicts", VERDICT_COLUMNS, [[c.get(k) for k in VERDICT_COLUMNS] for c in comparisons])
    tracker.log_table("report/accuracy", SCORE_FIELDS, [[s.get(k) for k in SCORE_FIELDS] for s in scores])
    for bench, (rounds, series) in accuracy_by_round(scores).items():
        tracker.log_series(f"report/accuracy_by_round/{bench}", rounds, series, x_name="round",
                           title=f"{bench}: accuracy by round")
